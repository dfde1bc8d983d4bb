//! Schema history (placeholder header; see below).

pub(crate) mod column;
pub mod ddl;
pub mod history;
pub(crate) mod lexer;
pub mod model;
#[cfg(test)]
mod tests;
