//! portproof proves that each network port speaks the protocol it should, and says why when
//! it does not. This crate is the application: manifests and profiles say what to check, the
//! runner runs the probes of `portproof-probes`, and the reports tell the result.

pub mod cli;
pub mod codes;
pub mod completions;
pub mod firewall;
pub mod identify;
pub mod man;
pub mod manifest;
pub mod portlist;
pub mod ports;
pub mod probe_args;
pub mod profile;
pub mod report;
pub mod runner;
