//! Server prechecks against the real MariaDB: the project's server passes; a user without
//! replication privileges gets one message naming every missing grant.

use cdc_core::source::{BinlogSource, SourceError};
use cdc_core::status::Status;
use cdc_tests::mariadb::{exec, server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_server_passes_the_precheck() {
    let srv = server().await;
    BinlogSource::new(srv.source_config("pre"), Status::new()).precheck().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_replication_grants_is_told_what_to_grant() {
    let srv = server().await;
    let user = format!("norepl_{:06x}", rand::random::<u32>() & 0xff_ffff);
    let mut c = srv.admin_conn().await;
    for host in ["127.0.0.1", "localhost"] {
        exec(&mut c, &[&format!("CREATE USER '{user}'@'{host}' IDENTIFIED BY 'pw'")]).await;
    }
    let mut cfg = srv.source_config("pre");
    cfg.user = user.clone();
    cfg.password = cdc_core::secret::Secret::new("pw");
    let err = BinlogSource::new(cfg, Status::new()).precheck().await.unwrap_err();
    let SourceError::Precheck(problems) = &err else { panic!("expected Precheck, got {err:?}") };
    assert_eq!(problems.0.len(), 3, "one problem per missing grant: {problems}");
    let msg = problems.to_string();
    assert!(msg.contains("REPLICATION SLAVE"), "{msg}");
    assert!(msg.contains("REPLICATION CLIENT"), "{msg}");
    assert!(msg.contains("SELECT"), "{msg}");
    assert!(msg.contains(&user), "names the user: {msg}");
    assert!(!msg.contains("binlog_format"), "the server's settings are fine: {msg}");
    for host in ["127.0.0.1", "localhost"] {
        exec(&mut c, &[&format!("DROP USER '{user}'@'{host}'")]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_a_connection_error_without_the_password() {
    let srv = server().await;
    let mut cfg = srv.source_config("pre");
    cfg.password = cdc_core::secret::Secret::new("definitely-wrong-pw");
    let err = BinlogSource::new(cfg.clone(), Status::new()).precheck().await.unwrap_err();
    assert!(matches!(err, SourceError::Connection { .. }), "{err:?}");
    assert!(!err.to_string().contains("definitely-wrong-pw"));
    assert!(!format!("{cfg:?}").contains("definitely-wrong-pw"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_server_kind_the_server_contradicts_is_a_problem_with_its_fix() {
    let srv = server().await;
    let mut cfg = srv.source_config("pre");
    cfg.server_kind = cdc_core::source::ServerKind::OceanBase;
    let err = BinlogSource::new(cfg.clone(), Status::new()).precheck().await.unwrap_err();
    let SourceError::Precheck(problems) = &err else { panic!("expected Precheck, got {err:?}") };
    let text = problems.to_string();
    assert!(text.contains("oceanbase (the server says it is mariadb)"), "{text}");
    assert!(text.contains("declare mariadb"), "says what to do: {text}");
    cfg.server_kind = cdc_core::source::ServerKind::MariaDb;
    BinlogSource::new(cfg, Status::new()).precheck().await.expect("the right kind passes");
}
