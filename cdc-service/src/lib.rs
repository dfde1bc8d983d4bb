//! The `cdc-collector` service: configuration ([`config`]), the monitoring HTTP endpoints
//! ([`http`]), the collector's lifecycle ([`service`]) and the command line with its
//! subcommands `run`, `validate`, `healthcheck` and `tail` ([`cli`]). `main.rs` only calls
//! [`cli::main`]; everything lives here so tests can call it.

pub mod cli;
pub mod config;
pub mod http;
pub mod resnapshot;
pub mod service;
