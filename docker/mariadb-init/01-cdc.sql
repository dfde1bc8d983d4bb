-- Runs once, on the first start of the compose MariaDB (docker-entrypoint-initdb.d).
-- The replication user cdc-collector logs in as: REPLICATION SLAVE to stream the binlog,
-- REPLICATION CLIENT (MariaDB: BINLOG MONITOR) for SHOW BINARY LOGS / SHOW MASTER STATUS,
-- SELECT for column names from information_schema (see `cdc-collector validate`).
CREATE USER IF NOT EXISTS 'cdc_repl'@'%' IDENTIFIED BY 'cdc_repl_pw';
GRANT REPLICATION SLAVE, REPLICATION CLIENT, BINLOG MONITOR, SELECT ON *.* TO 'cdc_repl'@'%';

-- A small demo table in the captured schema.
CREATE DATABASE IF NOT EXISTS shop;
CREATE TABLE IF NOT EXISTS shop.orders (
  id BIGINT PRIMARY KEY AUTO_INCREMENT,
  customer VARCHAR(100) NOT NULL,
  amount DECIMAL(12,2) NOT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
);
