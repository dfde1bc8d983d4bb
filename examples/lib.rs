//! Holder crate for the examples of `cdc-core` (see `tail.rs`).
