//! Integration tests of the `portproof` binary: one test binary, a module per area.
//!
//! In-process testbeds run on a shared background runtime while the binary runs as a real
//! subprocess against them; `nginx` tests use the real daemon started by
//! `testbeds/scripts/nginx.sh` and skip (or fail, under `PORTPROOF_REQUIRE_REAL=1`) without it.

mod harness;

mod cli;
mod http;
mod nginx;
mod reports;
mod tls;
