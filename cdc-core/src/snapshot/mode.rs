//! [`SnapshotMode`]: when the collector snapshots (`CDC_SNAPSHOT_MODE` in the service), named as
//! Debezium's MySQL connector names its `snapshot.mode` values
//! (<https://debezium.io/documentation/reference/stable/connectors/mysql.html#mysql-property-snapshot-mode>).

use std::fmt;
use std::str::FromStr;

/// When the initial snapshot runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapshotMode {
    /// Snapshot the captured tables when there is no checkpoint, then stream (the default
    /// for a new deployment).
    #[default]
    Initial,
    /// Never snapshot: stream from the checkpoint or the start position.
    Never,
    /// As `Initial`, and also snapshot again (instead of stopping) when the checkpoint's
    /// binlog position has been purged from the server.
    WhenNeeded,
    /// Snapshot when there is no checkpoint (or finish one under way), then stop.
    InitialOnly,
}

impl SnapshotMode {
    /// True for the modes that snapshot when nothing is stored.
    pub fn snapshots(self) -> bool {
        self != SnapshotMode::Never
    }

    /// The configuration text (`initial`, `never`, `when_needed`, `initial_only`).
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotMode::Initial => "initial",
            SnapshotMode::Never => "never",
            SnapshotMode::WhenNeeded => "when_needed",
            SnapshotMode::InitialOnly => "initial_only",
        }
    }
}

impl fmt::Display for SnapshotMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A snapshot mode that is none of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid snapshot mode `{0}`: expected initial, never, when_needed or initial_only")]
pub struct ParseSnapshotModeError(pub String);

impl FromStr for SnapshotMode {
    type Err = ParseSnapshotModeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "initial" => Ok(SnapshotMode::Initial),
            "never" | "no_data" => Ok(SnapshotMode::Never),
            "when_needed" => Ok(SnapshotMode::WhenNeeded),
            "initial_only" => Ok(SnapshotMode::InitialOnly),
            _ => Err(ParseSnapshotModeError(s.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_print() {
        for m in [SnapshotMode::Initial, SnapshotMode::Never, SnapshotMode::WhenNeeded, SnapshotMode::InitialOnly] {
            assert_eq!(m.as_str().parse::<SnapshotMode>().unwrap(), m);
        }
        assert_eq!(" INITIAL ".parse::<SnapshotMode>().unwrap(), SnapshotMode::Initial);
        assert!("always".parse::<SnapshotMode>().is_err());
    }
}
