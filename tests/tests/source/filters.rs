//! Table selection against the real MariaDB: by schema, by table name, by `db.table`, by
//! regular expression; an invalid expression is a configuration error.

use std::collections::BTreeSet;
use std::time::Duration;

use cdc_core::position::StartPosition;
use cdc_core::source::{BinlogSource, SourceError};
use cdc_core::status::Status;
use cdc_tests::mariadb::{collect_events, exec, server, start_source};

async fn captured(tables: &[&str], schemas: Option<Vec<String>>) -> (BTreeSet<String>, String, String) {
    let srv = server().await;
    let db1 = srv.fresh_schema("filt").await;
    let db2 = srv.fresh_schema("filt").await;
    let mut cfg = srv.source_config("filters");
    cfg.tables = tables.iter().map(|t| t.replace("$DB1", &db1).replace("$DB2", &db2)).collect();
    cfg.schemas =
        schemas.unwrap_or_else(|| vec![db1.clone(), db2.clone()]).iter().map(|s| s.replace("$DB1", &db1)).collect();
    let mut src = start_source(cfg, StartPosition::Latest).await;
    let mut c = srv.admin_conn().await;
    for db in [&db1, &db2] {
        for t in ["orders_1", "orders_22", "orders_x", "users"] {
            exec(
                &mut c,
                &[
                    &format!("CREATE TABLE `{db}`.`{t}` (id INT PRIMARY KEY)"),
                    &format!("INSERT INTO `{db}`.`{t}` VALUES (1)"),
                ],
            )
            .await;
        }
    }
    // A marker row the source always captures ends the collection.
    exec(
        &mut c,
        &[
            &format!("CREATE TABLE `{db1}`.`zz_end` (id INT PRIMARY KEY)"),
            &format!("INSERT INTO `{db1}`.`zz_end` VALUES (1)"),
        ],
    )
    .await;
    let mut seen = BTreeSet::new();
    loop {
        let evs = collect_events(&mut src.rx, 1, Duration::from_secs(20)).await;
        assert!(!evs.is_empty(), "marker row not seen; got {seen:?}");
        let e = &evs[0];
        if &*e.source.table == "zz_end" {
            break;
        }
        let which = if *e.source.db == *db1 { "db1" } else { "db2" };
        seen.insert(format!("{which}.{}", e.source.table));
    }
    src.stop().await.unwrap();
    (seen, db1, db2)
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_list_selects_schemas() {
    let (seen, _, _) = captured(&[], Some(vec!["$DB1".into()])).await;
    assert_eq!(seen, set(&["db1.orders_1", "db1.orders_22", "db1.orders_x", "db1.users"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_qualified_names_and_regexes_select_tables() {
    let (seen, _, _) = captured(&["users", "$DB2.orders_x", "orders_\\d+", "zz_end"], None).await;
    assert_eq!(
        seen,
        set(&[
            "db1.orders_1",
            "db1.orders_22",
            "db1.users",
            "db2.orders_1",
            "db2.orders_22",
            "db2.orders_x",
            "db2.users"
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_regex_is_a_configuration_error() {
    let srv = server().await;
    let mut cfg = srv.source_config("badre");
    cfg.tables = vec!["orders_(".into()];
    let source = BinlogSource::new(cfg.clone(), Status::new());
    let cp = source.resolve_start(&StartPosition::Latest).await.unwrap();
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    let err = source.run(cp, tx, tokio_util::sync::CancellationToken::new()).await.unwrap_err();
    assert!(matches!(err, SourceError::Config(_)), "{err:?}");
    assert!(err.to_string().contains("orders_("), "{err}");
}
