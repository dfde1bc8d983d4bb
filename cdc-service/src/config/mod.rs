//! Service configuration: read from the environment and an optional TOML file, validated in one
//! pass so that every wrong or missing setting is reported at once, by name.
//!
//! Precedence is **environment over file over defaults**. The layering is done by figment
//! (module `layer`): the file (`CDC_CONFIG_FILE` or `--config`, keys are the variable
//! names in lower case, e.g. `database_host = "db"`) is merged under a provider holding the
//! environment variables, taken verbatim as strings.
//!
//! Every key is described once, in [`keys`]: default, accepted values (range and unit, or
//! words), help. Each section reads its keys through that table and problems are collected into
//! [`ConfigErrors`]; nothing stops at the first error. Secrets (`DATABASE_PASSWORD`,
//! `DATAHUB_ACCESS_KEY`, `DATAHUB_SECURITY_TOKEN`) are held in [`Secret`](cdc_core::secret::Secret)
//! and never echoed, not even in error messages.
//!
//! | module | job |
//! |---|---|
//! | [`keys`] | the table of keys; the README's configuration table |
//! | `error` | [`ConfigError`], [`ConfigErrors`] |
//! | `layer` | figment layering to raw strings; [`unknown_env_keys`] |
//! | `fields` | reading one key through its table entry, recording problems |
//! | `database` | [`DatabaseSettings`] (source) |
//! | `datahub` | [`DataHubSettings`] (sink) |
//! | `runtime` | [`ServiceConfig`]: the sections plus [`RetrySettings`], [`LogFormat`] and the other service-wide settings |
//! | `load` | [`Purpose`], [`PartialConfig`], [`load`], [`load_from`], [`load_partial_from`] |

mod database;
mod datahub;
mod error;
mod fields;
pub mod keys;
mod layer;
mod load;
mod runtime;
#[cfg(test)]
mod tests;

pub use database::{default_server_id, DatabaseSettings, DEFAULT_SERVER_ID_BASE};
pub use datahub::DataHubSettings;
pub use error::{ConfigError, ConfigErrors};
pub use keys::{Key, DEFAULT_DATABASE_PORT, KEYS};
pub use layer::{unknown_env_keys, CONFIG_FILE_ENV};
pub use load::{load, load_from, load_partial_from, monitoring_port_from, PartialConfig, Purpose};
pub use runtime::{LogFormat, RetrySettings, ServiceConfig};
