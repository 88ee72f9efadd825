//! The codes of the `rmi` and `jmx` probes.

crate::codes! {
    /// The server refused the stream protocol.
    PROTOCOL_NOT_SUPPORTED = failure "rmi.protocol_not_supported" at Open {
        about: "the server answered the JRMP header with ProtocolNotSupported: it speaks RMI, but not over a plain stream",
        hint: "an RMI endpoint behind an HTTP tunnel or a multiplexing proxy; the probe speaks the stream protocol",
        spec: "Java RMI specification §10.2.1, §10.3",
    }
    /// Nothing came back to the header.
    NO_RESPONSE = failure "rmi.no_response" at Open {
        about: "the port accepted the connection but closed it without answering the JRMP header",
        hint: "not an RMI port, or one that refuses this client: check the port (the registry is usually 1099)",
        spec: "Java RMI specification §10.2.1",
    }
    /// The answer has the wrong shape.
    MALFORMED = failure "rmi.malformed" at Open {
        about: "the answer does not have the shape JRMP gives it",
        hint: "the port speaks something other than Java RMI: check the port number",
        spec: "Java RMI specification §10.3; Java Object Serialization §6.4",
    }
    /// An RMI server, not a registry.
    NOT_REGISTRY = failure "rmi.not_registry" at Speaks {
        about: "the port speaks JRMP but holds no registry: the registry call met NoSuchObjectException (a JMX or application RMI server port, such as WSO2's 9999)",
        hint: "this is an RMI server port; its registry (the names) is on another port, usually 1099 or the product's JMX registry port",
        spec: "java.rmi.registry.Registry; Java RMI specification §10.3",
    }
    /// The registry call threw.
    CALL_FAILED = failure family "rmi.call_failed" at Speaks {
        about: "the registry's list() call returned an exception, named by its Java class",
        hint: "the registry refused the call: its access rules (a deserialization filter or a security manager) or a proxy in front of it",
        spec: "java.rmi.registry.Registry.list",
    }
    /// jmx: no JMX connector is bound.
    JMX_NOT_BOUND = failure "jmx.not_bound" at Speaks {
        about: "the RMI registry answered, but no `jmxrmi` name (the JMX connector) is bound in it",
        hint: "JMX is not enabled on this JVM, or it registers under another name: start it with com.sun.management.jmxremote.port, or check the port",
        spec: "JMX Remote API, javax.management.remote.rmi (the jmxrmi binding of the platform agent)",
    }
}
