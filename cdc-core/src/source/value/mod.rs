//! One column value: parse it from a row image and turn it into the contract's
//! [`Value`](crate::event::Value) following the column's [`Kind`](crate::source::column::Kind)
//! (see README.md, "The event contract").
//!
//! Each column's reading rule ([`ValueOp`](crate::source::column::ValueOp)) is chosen once per
//! TABLE_MAP. The common types (integers, FLOAT/DOUBLE, DATE, DATETIME2, TIMESTAMP2, DECIMAL,
//! CHAR/VARCHAR, BLOB/TEXT, ENUM) are read straight from the row bytes into the row's value
//! vector ([`push_fast`]); the others go through mysql_common's `BinlogValue` parser and
//! [`convert`] ([`parse_value_generic`](generic::parse_value_generic)). Both give the same
//! result: the tests (`tests.rs`) compare them on random bytes.
//!
//! | module | owns |
//! |---|---|
//! | `parse` | the entry point [`parse_value`]: YEAR, MEDIUMINT, short TIME2, then fast or generic |
//! | `fast` | the fast path ([`push_fast`], `parse_fast`) and the byte readers it uses |
//! | `decimal` | DECIMAL's binary digit groups to text (`decimal_text`, `push_digits`) |
//! | `generic` | mysql_common's `BinlogValue` parser and [`convert`] to the contract's values |
//! | `json_diff` | JSON partial updates ([`apply_json_diffs`], `parse_path`) |
//! | `helpers` | the small pieces the others share (a leaf): errors, zero dates, text, dates, ENUM |
//!
//! Facts used: the binlog value encodings of the MySQL source (`sql/log_event.cc`,
//! `log_event_print_value`; `mysys/my_time.cc`; `strings/decimal.c`, bin2decimal), as
//! implemented by `mysql_common::binlog::value::BinlogValue`.

mod decimal;
mod fast;
mod generic;
mod helpers;
mod json_diff;
mod parse;
#[cfg(test)]
mod tests;

pub(crate) use fast::push_fast;
pub(crate) use generic::{convert, Parsed};
pub(crate) use helpers::decode_text;
pub(crate) use json_diff::apply_json_diffs;
pub(crate) use parse::parse_value;
