//! Schema history (placeholder header; see below).

pub(crate) mod column;
pub(crate) mod lexer;
pub mod model;
