//! Shared test support: the real MariaDB ([`mariadb`]: the servers named by `CDC_TEST_MARIADB`
//! / `CDC_TEST_MARIADB_MINIMAL` / `CDC_TEST_MARIADB_NOLOG`, started by `scripts/test-mariadb`
//! when unset), the workload generator and the verifier that compares a topic's events with the
//! database ([`verify`]), and the setup the in-process pipeline tests share ([`pipeline`]).
pub mod mariadb;
pub mod pipeline;
pub mod pydatahub;
pub mod verify;
pub mod workload;
