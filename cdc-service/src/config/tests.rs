//! Unit tests of the configuration: defaults, layering (env over file over defaults), every
//! problem reported at once and by name, secrets never shown, the key table read in full and
//! the README's table generated from it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use cdc_core::batch::BatchLimits;
use cdc_core::datahub::config::DEFAULT_MAX_REQUEST_BYTES;
use cdc_core::position::StartPosition;
use cdc_core::retry::RetryPolicy;

use super::database::fnv1a;
use super::keys::{self, DefaultValue, Kind, KEYS};
use super::load::load_recording;
use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn minimal() -> HashMap<String, String> {
    env(&[
        ("DATABASE_HOST", "db.example"),
        ("DATABASE_USERNAME", "cdc_repl"),
        ("DATABASE_PASSWORD", "db-pass-7f3a"),
        ("DATAHUB_ENDPOINT", "http://127.0.0.1:9999"),
        ("DATAHUB_ACCESS_ID", "AKID"),
        ("DATAHUB_ACCESS_KEY", "dh-key-91bc"),
        ("DATAHUB_PROJECT", "proj"),
        ("DATAHUB_TOPIC", "topic"),
        ("HOSTNAME", "collector-0"),
    ])
}

#[test]
fn defaults_apply_when_only_required_keys_are_set() {
    let c = load_from(&minimal(), None, Purpose::Run).unwrap();
    assert_eq!(c.database.port, 2881);
    assert_eq!(c.database.tables, vec!["*"]);
    assert!(c.database.schemas.is_empty());
    assert_eq!(c.database.server_name, "collector-0");
    assert_eq!(c.database.server_id, 5400 + fnv1a("collector-0") % 1000);
    assert!((5400..6400).contains(&c.database.server_id));
    assert_eq!(c.database.heartbeat_ms, 1000);
    assert_eq!(c.retry, RetrySettings { max_attempts: 3, backoff: Duration::from_millis(2000) });
    assert_eq!(c.monitoring_port, 8080);
    assert_eq!(c.log_level, tracing::Level::INFO);
    assert_eq!(c.log_format, LogFormat::Text);
    assert_eq!(c.offset_path, PathBuf::from("./data/offsets.json"));
    assert_eq!(c.start_position, StartPosition::Latest);
    assert_eq!(c.batch, BatchLimits { max_records: 10_000, max_bytes: 1_000_000, linger: Duration::from_millis(100) });
    assert_eq!(c.queue_capacity, 16);
    assert_eq!(c.shutdown_grace, Duration::from_secs(30));
    assert_eq!(c.liveness_timeout, Duration::from_secs(60));
    assert!(c.datahub.as_ref().unwrap().security_token.is_none());
    // The defaults the library owns are the library's.
    assert_eq!(c.batch, BatchLimits::default());
    let core_retry = RetryPolicy::default();
    assert_eq!(
        (c.retry.max_attempts, c.retry.backoff.as_millis() as u64),
        (core_retry.max_attempts, core_retry.backoff_ms)
    );
    assert_eq!(c.queue_capacity, cdc_core::pipeline::PipelineConfig::default().channel_capacity);
    assert_eq!(c.database.heartbeat_ms, cdc_core::source::SourceConfig::new("h", 1, "u", "").heartbeat_ms);
}

#[test]
fn values_parse_lists_levels_and_positions() {
    let mut e = minimal();
    e.extend(env(&[
        ("DATABASE_SCHEMA", "shop, billing ,"),
        ("DATABASE_TABLES", "orders,shop.items,^log_.*$"),
        ("LOG_LEVEL", "debug"),
        ("CDC_LOG_FORMAT", "JSON"),
        ("CDC_START_POSITION", "mysql-bin.000003:1234"),
        ("CDC_SERVER_ID", "77"),
        ("DATAHUB_ENDPOINT", "https://dh-cn-hangzhou.aliyuncs.com/"),
    ]));
    let c = load_from(&e, None, Purpose::Run).unwrap();
    assert_eq!(c.database.schemas, vec!["shop", "billing"]);
    assert_eq!(c.database.tables, vec!["orders", "shop.items", "^log_.*$"]);
    assert_eq!(c.log_level, tracing::Level::DEBUG);
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.start_position, "mysql-bin.000003:1234".parse().unwrap());
    assert_eq!(c.database.server_id, 77);
    let dh = c.datahub.as_ref().unwrap();
    assert_eq!(dh.endpoint, "https://dh-cn-hangzhou.aliyuncs.com");
    let dcfg = dh.datahub_config(&c.retry, &c.batch);
    assert_eq!(dcfg.validate(), Ok(()), "what the config accepts, the producer accepts");
    assert_eq!(dcfg.max_request_bytes, DEFAULT_MAX_REQUEST_BYTES, "a 1 MB row fits whatever the batch byte bound");
    assert_eq!((dcfg.retry.max_attempts, dcfg.retry.backoff_ms), (3, 2000));
    let sc = load_from(&e, None, Purpose::Run).unwrap().source_config();
    assert_eq!((sc.host.as_str(), sc.port, sc.server_id), ("db.example", 2881, 77));
}

#[test]
fn env_overrides_file_which_overrides_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cdc.toml");
    std::fs::write(
        &path,
        "database_port = 3306\nmonitoring_port = 9100\ndatabase_schema = [\"a\", \"b\"]\ncdc_batch_max_records = 500\nlog_level = \"warn\"\n",
    )
    .unwrap();
    let mut e = minimal();
    e.insert("DATABASE_PORT".into(), "3307".into());
    let c = load_from(&e, Some(&path), Purpose::Run).unwrap();
    assert_eq!(c.database.port, 3307, "env wins over file");
    assert_eq!(c.monitoring_port, 9100, "file wins over default");
    assert_eq!(c.database.schemas, vec!["a", "b"]);
    assert_eq!(c.batch.max_records, 500);
    assert_eq!(c.log_level, tracing::Level::WARN);
    assert_eq!(c.batch.max_bytes, 1_000_000, "default when neither sets it");

    // CDC_CONFIG_FILE names the file when no explicit path is given.
    e.insert(CONFIG_FILE_ENV.into(), path.display().to_string());
    assert_eq!(load_from(&e, None, Purpose::Run).unwrap().monitoring_port, 9100);
    assert_eq!(monitoring_port_from(&e, None).unwrap(), 9100);
}

#[test]
fn a_password_is_taken_verbatim_from_the_environment() {
    let mut e = minimal();
    e.insert("DATABASE_PASSWORD".into(), "\"007\"".into());
    let c = load_from(&e, None, Purpose::Run).unwrap();
    assert_eq!(c.database.password.expose(), "\"007\"");
}

#[test]
fn every_bad_field_is_reported_at_once() {
    let e = env(&[
        ("DATABASE_PORT", "abc"),
        ("DATABASE_PASSWORD", "db-pass-7f3a"),
        ("DATAHUB_ENDPOINT", "not a url"),
        ("DATAHUB_ACCESS_KEY", "dh-key-91bc"),
        ("DATAHUB_PROJECT", "a/b"),
        ("DATAHUB_TOPIC", ""),
        ("RETRY_MAX_ATTEMPTS", "0"),
        ("MONITORING_PORT", "70000"),
        ("LOG_LEVEL", "loud"),
        ("CDC_START_POSITION", "somewhere"),
        ("CDC_BATCH_MAX_RECORDS", "20000"),
        ("CDC_QUEUE_CAPACITY", "-1"),
    ]);
    let err = load_from(&e, None, Purpose::Run).unwrap_err();
    let keys: Vec<&str> = err.0.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "DATABASE_HOST",
            "DATABASE_PORT",
            "DATABASE_USERNAME",
            "DATAHUB_ENDPOINT",
            "DATAHUB_ACCESS_ID",
            "DATAHUB_PROJECT",
            "DATAHUB_TOPIC",
            "RETRY_MAX_ATTEMPTS",
            "MONITORING_PORT",
            "LOG_LEVEL",
            "CDC_START_POSITION",
            "CDC_BATCH_MAX_RECORDS",
            "CDC_QUEUE_CAPACITY",
        ]
    );
    let text = err.to_string();
    assert!(text.contains("DATABASE_PORT: `abc` is not a port number (1-65535)"), "{text}");
    assert!(text.contains("DATAHUB_TOPIC: missing"), "{text}");
    assert!(!text.contains("db-pass-7f3a") && !text.contains("dh-key-91bc"), "{text}");
}

#[test]
fn file_problems_are_named_with_their_origin() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cdc.toml");
    std::fs::write(&path, "database_port = 0\nnot_a_key = 1\n").unwrap();
    let err = load_from(&minimal(), Some(&path), Purpose::Run).unwrap_err().to_string();
    assert!(err.contains("unknown key `not_a_key`"), "{err}");
    assert!(
        err.contains(&format!("DATABASE_PORT: `0` is not a port number (1-65535) (from {})", path.display())),
        "{err}"
    );
    let missing = load_from(&minimal(), Some(&dir.path().join("nope.toml")), Purpose::Run).unwrap_err();
    assert_eq!(missing.0[0].key, CONFIG_FILE_ENV);
}

#[test]
fn tail_needs_no_datahub_settings_but_checks_given_ones() {
    let mut e = minimal();
    for k in ["DATAHUB_ENDPOINT", "DATAHUB_ACCESS_ID", "DATAHUB_ACCESS_KEY", "DATAHUB_PROJECT", "DATAHUB_TOPIC"] {
        e.remove(k);
    }
    let c = load_from(&e, None, Purpose::SourceOnly).unwrap();
    assert!(c.datahub.is_none());
    assert!(load_from(&e, None, Purpose::Run).is_err());
    e.insert("DATAHUB_TOPIC".into(), "t".into());
    let err = load_from(&e, None, Purpose::SourceOnly).unwrap_err();
    assert!(err.to_string().contains("DATAHUB_ENDPOINT: missing"), "{err}");
}

#[test]
fn misspelt_variables_are_found() {
    let mut e = minimal();
    e.extend(env(&[
        ("CDC_BATCH_MAX_RECORD", "5"),
        ("DATAHUB_TOPICS", "x"),
        ("CDC_TEST_MARIADB", "h:1"),
        ("PATH", "/bin"),
    ]));
    assert_eq!(unknown_env_keys(&e), ["CDC_BATCH_MAX_RECORD", "DATAHUB_TOPICS"]);
}

#[test]
fn debug_never_shows_secrets() {
    let mut e = minimal();
    e.insert("DATAHUB_SECURITY_TOKEN".into(), "sts-token-55aa".into());
    let c = load_from(&e, None, Purpose::Run).unwrap();
    let dbg = format!("{c:?} {:?}", c.source_config());
    for secret in ["db-pass-7f3a", "dh-key-91bc", "sts-token-55aa"] {
        assert!(!dbg.contains(secret), "{secret} leaked: {dbg}");
    }
    assert!(dbg.contains("***"));
    assert!(dbg.contains("AKID"), "non-secret values stay visible");
}

#[test]
fn every_key_in_the_table_is_read_exactly_once() {
    let (partial, read) = load_recording(&minimal(), None, Purpose::Run);
    assert!(partial.errors.is_empty(), "{}", partial.errors);
    let mut names: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
    let mut read = read;
    names.sort_unstable();
    read.sort_unstable();
    assert_eq!(read, names, "a key in the table is not parsed, or is parsed twice");
}

#[test]
fn every_out_of_range_value_is_refused_by_the_table() {
    // One bad value for every key whose table entry bounds it, all at once.
    let mut e = minimal();
    let mut want = Vec::new();
    for k in KEYS {
        let bad = match &k.kind {
            Kind::Int { max, .. } => format!("{}", max + 1),
            Kind::Port => "0".into(),
            Kind::Choice { .. } => "nonsense".into(),
            Kind::Url => "nonsense".into(),
            Kind::Name { len } => "x".repeat(len.end() + 1),
            Kind::Position => "nonsense".into(),
            Kind::Text | Kind::Secret { .. } | Kind::List | Kind::Path => continue,
        };
        e.insert(k.name.to_owned(), bad);
        want.push(k.name);
    }
    let err = load_from(&e, None, Purpose::Run).unwrap_err();
    let keys: Vec<&str> = err.0.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, want, "{err}");
    for e in &err.0 {
        if let Kind::Int { min, max, .. } = keys::find(&e.key).unwrap().kind {
            assert!(e.message.contains(&format!("in {min}..={max}")), "{e}");
        }
    }
    // The lower bound too.
    let mut e = minimal();
    for k in KEYS {
        if let Kind::Int { min, .. } = k.kind {
            if min > 0 {
                e.insert(k.name.to_owned(), (min - 1).to_string());
            }
        }
    }
    let err = load_from(&e, None, Purpose::Run).unwrap_err();
    let n = KEYS.iter().filter(|k| matches!(k.kind, Kind::Int { min, .. } if min > 0)).count();
    assert_eq!(err.0.len(), n, "{err}");
}

#[test]
fn limits_are_the_librarys() {
    let bytes = keys::CDC_BATCH_MAX_BYTES;
    assert!(matches!(bytes.kind, Kind::Int { max, .. } if max == DEFAULT_MAX_REQUEST_BYTES as u64));
    let records = keys::CDC_BATCH_MAX_RECORDS;
    assert!(
        matches!(records.kind, Kind::Int { max, .. } if max == cdc_core::datahub::config::MAX_RECORDS_PER_REQUEST as u64)
    );
    // The widest values the table accepts, the producer accepts.
    let mut e = minimal();
    e.insert("CDC_BATCH_MAX_RECORDS".into(), "10000".into());
    e.insert("CDC_BATCH_MAX_BYTES".into(), "4000000".into());
    e.insert("DATAHUB_PROJECT".into(), "p".repeat(32));
    e.insert("DATAHUB_TOPIC".into(), "t".repeat(128));
    let c = load_from(&e, None, Purpose::Run).unwrap();
    let dcfg = c.datahub.as_ref().unwrap().datahub_config(&c.retry, &c.batch);
    assert_eq!(dcfg.validate(), Ok(()));
    // And one character more is refused by both.
    e.insert("DATAHUB_PROJECT".into(), "p".repeat(33));
    let err = load_from(&e, None, Purpose::Run).unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    assert!(err.to_string().contains("DATAHUB_PROJECT: `ppp"), "{err}");
}

#[test]
fn required_keys_are_exactly_the_ones_reported_missing() {
    let err = load_from(&env(&[]), None, Purpose::Run).unwrap_err();
    let missing: Vec<&str> = err.0.iter().filter(|e| e.message == "missing").map(|e| e.key.as_str()).collect();
    let required: Vec<&str> = KEYS.iter().filter(|k| k.default == DefaultValue::Required).map(|k| k.name).collect();
    assert_eq!(missing, required);
    assert_eq!(err.0.len(), required.len(), "{err}");
}

/// The README's configuration table is [`keys::markdown_table`]; with `CDC_UPDATE_README=1`
/// this test writes it there instead of failing.
#[test]
fn readme_configuration_table_is_the_generated_one() {
    const BEGIN: &str = "<!-- BEGIN configuration table: generated from cdc-service/src/config/keys.rs -->\n";
    const END: &str = "<!-- END configuration table -->";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme.find(BEGIN).expect("README.md has the BEGIN marker") + BEGIN.len();
    let end = start + readme[start..].find(END).expect("README.md has the END marker");
    let want = keys::markdown_table();
    if readme[start..end] == want {
        return;
    }
    if std::env::var_os("CDC_UPDATE_README").is_some_and(|v| v == "1") {
        std::fs::write(&path, format!("{}{want}{}", &readme[..start], &readme[end..])).unwrap();
        return;
    }
    panic!(
        "README.md's configuration table differs from the key table; run\n  \
         CDC_UPDATE_README=1 cargo test -p cdc-service --lib readme\nor paste:\n{want}"
    );
}

#[test]
fn no_secret_value_is_shown_whatever_else_is_wrong() {
    let mut e = minimal();
    e.extend(env(&[("DATAHUB_TOPIC", "-"), ("CDC_LOG_FORMAT", "xml"), ("DATAHUB_PROJECT", "")]));
    for k in KEYS.iter().filter(|k| k.is_secret()) {
        e.insert(k.name.to_owned(), format!("  s3cret-{}  ", k.name));
    }
    let p = load_partial_from(&e, None, Purpose::Run);
    let keys: Vec<&str> = p.errors.0.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["DATAHUB_PROJECT", "DATAHUB_TOPIC", "CDC_LOG_FORMAT"], "{}", p.errors);
    let shown = format!("{} {:?}", p.errors, p);
    assert!(!shown.contains("s3cret"), "{shown}");
    assert_eq!(p.database.unwrap().password.expose(), "  s3cret-DATABASE_PASSWORD  ", "taken verbatim");
}

#[test]
fn topic_templates_maps_and_creation_settings() {
    use cdc_core::datahub::tuple::Layout;
    use cdc_core::datahub::{FailureMode, RecordKind, TopicCreation};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cdc.toml");
    std::fs::write(&path, "datahub_topic_map = [\"shop.orders = orders_v2\", \"shop.items=items\"]\n").unwrap();
    let mut e = minimal();
    e.extend(env(&[
        ("DATAHUB_TOPIC", "ods_{db}_{table}"),
        ("DATAHUB_CREATE_TOPICS", "TRUE"),
        ("DATAHUB_RECORD_TYPE", "tuple"),
        ("DATAHUB_TUPLE_LAYOUT", "dataworks"),
        ("DATAHUB_SHARD_COUNT", "4"),
        ("DATAHUB_LIFECYCLE_DAYS", "3"),
        ("DATAHUB_FAILURE_HANDLING_MODE", "skip"),
    ]));
    let c = load_from(&e, Some(&path), Purpose::Run).unwrap();
    let dh = c.datahub.as_ref().unwrap();
    assert_eq!(dh.routing.topic_for("shop", "orders"), "orders_v2", "the file's map");
    assert_eq!(dh.routing.topic_for("shop", "order-lines"), "ods_shop_order_lines", "template, made valid");
    assert_eq!(dh.create, Some(TopicCreation { record_type: RecordKind::Tuple, shard_count: 4, lifecycle_days: 3 }));
    assert_eq!(dh.layout, Some(Layout::DataWorks));
    assert_eq!(dh.failure_mode, FailureMode::Skip);
    assert_eq!(dh.dead_letter_topic, "cdc_dead_letter");
    let t = dh.topics_config();
    assert!(t.routing.per_table());
    assert_eq!(
        dh.datahub_config(&c.retry, &c.batch).validate(),
        Ok(()),
        "a template is no topic name for the producer"
    );

    // Defaults: one topic, no creation, detected layout, `fail`.
    let c = load_from(&minimal(), None, Purpose::Run).unwrap();
    let dh = c.datahub.unwrap();
    assert!(!dh.routing.per_table() && dh.create.is_none() && dh.layout.is_none());
    assert_eq!(dh.failure_mode, FailureMode::Fail);

    let mut bad = minimal();
    bad.extend(env(&[
        ("DATAHUB_TOPIC", "ods_{schema}"),
        ("DATAHUB_TOPIC_MAP", "shop.orders=9bad,nodot=x"),
        ("DATAHUB_SHARD_COUNT", "257"),
        ("DATAHUB_LIFECYCLE_DAYS", "8"),
        ("DATAHUB_FAILURE_HANDLING_MODE", "ignore"),
    ]));
    let err = load_from(&bad, None, Purpose::Run).unwrap_err();
    let keys: Vec<&str> = err.0.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "DATAHUB_TOPIC",
            "DATAHUB_TOPIC_MAP",
            "DATAHUB_SHARD_COUNT",
            "DATAHUB_LIFECYCLE_DAYS",
            "DATAHUB_FAILURE_HANDLING_MODE"
        ],
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("`{schema}`") && text.contains("`nodot=x` is not `db.table=topic`"), "{text}");
}
