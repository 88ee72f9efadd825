//! The codes of the `hadoop-ipc` probe.

crate::codes! {
    /// The answer is not Hadoop IPC's.
    MALFORMED = failure "hadoop_ipc.malformed" at Open {
        about: "the answer to the `hrpc` connection header is not a Hadoop IPC response (an RpcResponseHeaderProto, or the fatal answer of Hadoop 1)",
        hint: "the port speaks something other than Hadoop IPC: check the port (a NameNode's is 8020, 9000 or 54310)",
        spec: "Hadoop IPC: org.apache.hadoop.ipc.Server (connection header), RpcHeader.proto (RpcResponseHeaderProto)",
    }
    /// Nothing came back.
    NO_RESPONSE = failure "hadoop_ipc.no_response" at Open {
        about: "the port closed the connection on the `hrpc` header without the version-mismatch answer every Hadoop IPC server sends",
        hint: "not a Hadoop IPC port, or one behind TLS or a proxy that drops unknown clients: check the port",
        spec: "Hadoop IPC: Server.setupBadVersionResponse",
    }
    /// A Hadoop IPC server that answered with something other than the version mismatch.
    FATAL = failure family "hadoop_ipc.fatal" at Speaks {
        about: "the server answered the connection header with a fatal RPC error other than the version mismatch; the suffix is its RpcErrorCodeProto name",
        hint: "the server is Hadoop IPC but refused the connection for the reason its message gives (a security setting, an unsupported serialization)",
        spec: "RpcHeader.proto: RpcResponseHeaderProto.RpcErrorCodeProto",
    }
}
