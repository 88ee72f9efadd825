//! Integration tests of the `portproof` binary: one test binary, a module per area.
//!
//! In-process testbeds run on a shared background runtime while the binary runs as a real
//! subprocess against them; `nginx`, `brokers`, `databases` and `industrial` tests use the real
//! daemons started by `testbeds/scripts/` and skip (or fail, under `PORTPROOF_REQUIRE_REAL=1`)
//! without them.

mod harness;

mod brokers;
mod cli;
mod databases;
mod errors;
mod firewall;
mod http;
mod identify;
mod industrial;
mod ldap;
mod messaging;
mod modbus;
mod mssql;
mod nginx;
mod opcua;
mod oracle;
mod ports;
mod profiles;
mod reports;
mod rmi;
mod spec_written;
mod stated;
mod thrift;
mod tls;
mod udp;
mod websocket;
