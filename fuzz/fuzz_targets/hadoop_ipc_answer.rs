//! Hadoop IPC's fatal answers to the connection header (the protobuf RpcResponseHeaderProto and Hadoop 1's Writable shape), on arbitrary server bytes: every parser of `portproof_probes::hadoop_ipc::wire`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    portproof_probes::hadoop_ipc::wire::fuzz(data);
});
