//! The server precheck: can this server serve row-based CDC to this user? Every problem is
//! collected (not only the first) as a [`PrecheckProblem`] with the fix, so one run of
//! `validate` lists all of them.
//!
//! Settings checked (MySQL manual 17.1.6.4 "Binary Logging Options and Variables"; MariaDB KB
//! "Replication and Binary Log System Variables"): `log_bin=ON`, `binlog_format=ROW`,
//! `binlog_row_image=FULL`, MariaDB `log_bin_compress=OFF` (compressed rows events are not
//! decoded), MySQL `binlog_row_value_options` without `PARTIAL_JSON`; and the user's global
//! grants REPLICATION SLAVE, REPLICATION CLIENT (MariaDB: BINLOG MONITOR) and SELECT.
//!
//! On an OceanBase server (declared or detected) it also logs, as warnings, the captured columns
//! the binlog service's value faults can corrupt undetectably (see `oceanbase_values`;
//! [`super::BinlogSource::value_warnings`] returns them).

use mysql_async::prelude::*;

use super::config::SourceConfig;
use super::error::{PrecheckProblem, PrecheckProblems, SourceError};
use super::oceanbase_values;
use super::server::{self, Flavor, ServerKind};

fn is_on(v: &str) -> bool {
    v == "1" || v.eq_ignore_ascii_case("ON")
}

/// Connects and checks the server (see the module docs).
///
/// Errors: [`SourceError::Connection`] when the server cannot be reached or the login fails;
/// [`SourceError::Precheck`] with every problem found.
pub(crate) async fn precheck(config: &SourceConfig) -> Result<(), SourceError> {
    let mut conn = server::connect(config).await?;
    let kind = server::server_kind(&mut conn).await?;
    let flavor = kind.flavor();
    let q = |e| SourceError::connection("reading server variables", e);
    let mut problems = Vec::new();
    if config.server_kind != ServerKind::Auto && config.server_kind != kind {
        problems.push(PrecheckProblem::new(
            "declared server kind",
            format!("{} (the server says it is {})", config.server_kind.as_str(), kind.as_str()),
            kind.as_str(),
            format!("point the collector at a {} server, or declare {}", config.server_kind.as_str(), kind.as_str()),
        ));
    }
    let (log_bin, format, image): (Option<String>, Option<String>, Option<String>) = conn
        .query_first("SELECT @@GLOBAL.log_bin, @@GLOBAL.binlog_format, @@GLOBAL.binlog_row_image")
        .await
        .map_err(q)?
        .unwrap_or_default();
    let log_bin = log_bin.unwrap_or_default();
    if !is_on(&log_bin) {
        problems.push(PrecheckProblem::new(
            "log_bin",
            format!("{log_bin:?} (binary logging off)"),
            "ON",
            "start the server with --log-bin",
        ));
    }
    let format = format.unwrap_or_default();
    if !format.eq_ignore_ascii_case("ROW") {
        problems.push(PrecheckProblem::new("binlog_format", format, "ROW", "set binlog_format=ROW"));
    }
    let image = image.unwrap_or_default();
    if !image.eq_ignore_ascii_case("FULL") {
        problems.push(PrecheckProblem::new("binlog_row_image", image, "FULL", "set binlog_row_image=FULL"));
    }
    if flavor == Flavor::MariaDb {
        let compress: Option<Option<String>> =
            conn.query_first("SELECT @@GLOBAL.log_bin_compress").await.ok().flatten();
        if let Some(Some(c)) = compress.filter(|c| c.as_deref().is_some_and(is_on)) {
            problems.push(PrecheckProblem::new(
                "log_bin_compress",
                format!("{c} (compressed rows events cannot be decoded)"),
                "OFF",
                "set log_bin_compress=OFF",
            ));
        }
    }
    if flavor == Flavor::MySql {
        let opts: Option<Option<String>> =
            conn.query_first("SELECT @@GLOBAL.binlog_row_value_options").await.ok().flatten();
        if let Some(Some(o)) =
            opts.filter(|o| o.as_deref().is_some_and(|o| o.to_ascii_uppercase().contains("PARTIAL_JSON")))
        {
            problems.push(PrecheckProblem::new(
                "binlog_row_value_options",
                format!("{o} (JSON diffs instead of documents)"),
                "''",
                "set binlog_row_value_options=''",
            ));
        }
    }
    let grants: Vec<String> =
        conn.query("SHOW GRANTS FOR CURRENT_USER()").await.map_err(|e| SourceError::connection("SHOW GRANTS", e))?;
    let global: Vec<String> =
        grants.iter().map(|g| g.to_ascii_uppercase()).filter(|g| g.contains(" ON *.* ")).collect();
    let has = |p: &str| global.iter().any(|g| g.contains("ALL PRIVILEGES") || g.contains(p));
    let who = format!("user {}@{}", config.user, config.host);
    if !has("REPLICATION SLAVE") && !has("REPLICATION REPLICA") {
        problems.push(PrecheckProblem::new(
            "REPLICATION SLAVE",
            format!("not granted to {who}"),
            "granted",
            "GRANT REPLICATION SLAVE ON *.* TO the user",
        ));
    }
    if !has("REPLICATION CLIENT") && !has("BINLOG MONITOR") {
        problems.push(PrecheckProblem::new(
            "REPLICATION CLIENT (MariaDB: BINLOG MONITOR)",
            format!("not granted to {who}"),
            "granted",
            "GRANT REPLICATION CLIENT ON *.* TO the user",
        ));
    }
    if !has("SELECT") {
        problems.push(PrecheckProblem::new(
            "global SELECT (needed to read information_schema and to snapshot tables)",
            format!("not granted to {who}"),
            "granted",
            "GRANT SELECT ON *.* TO the user",
        ));
    }
    if kind == ServerKind::OceanBase || config.server_kind == ServerKind::OceanBase {
        // Not problems: the binlog service's version, which decides some of them, is not visible.
        match oceanbase_values::value_risks(config, &mut conn).await {
            Ok(risks) => {
                for r in &risks {
                    tracing::warn!("OceanBase binlog service value fault: {r}");
                }
            }
            Err(e) => tracing::warn!(
                "the columns at risk of the OceanBase binlog service's value faults were not listed: {e}"
            ),
        }
    }
    let _ = conn.disconnect().await;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(SourceError::Precheck(PrecheckProblems(problems)))
    }
}
