//! In-process servers for every protocol and failure mode portproof checks.
//!
//! Tests and `portproof demo` start these on loopback; each later protocol adds its server here.
//! Nothing here depends on the probes: a testbed is a peer, and must not share the code it tests.

pub mod amqp;
mod bytes;
mod conn;
pub mod cql;
pub mod gateway;
pub mod hadoop_ipc;
pub mod hazelcast;
pub mod hostile;
pub mod http;
pub mod ignite;
pub mod modbus;
pub mod mqtt;
pub mod mssql;
pub mod mysql;
pub mod ntp;
pub mod opcua;
pub mod oracle;
pub mod pki;
pub mod postgres;
pub mod tally;
pub mod thrift;
pub mod ws_discovery;

/// The TLS library of the testbed servers, for callers that build their configurations.
pub use rustls;

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A running server task; dropping it stops the server.
#[derive(Debug)]
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    /// Wraps a spawned accept loop listening on `addr`.
    pub fn new(addr: SocketAddr, task: JoinHandle<()>) -> Self {
        Server { addr, task }
    }
    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds an ephemeral loopback port.
pub async fn bind_any() -> std::io::Result<TcpListener> {
    TcpListener::bind("127.0.0.1:0").await
}

/// Serves on an ephemeral loopback port and connects a client to it: how the responders' own
/// tests talk to them.
#[cfg(test)]
pub(crate) async fn serve_and_connect(serve: impl FnOnce(TcpListener) -> Server) -> (Server, tokio::net::TcpStream) {
    let server = serve(bind_any().await.expect("bind loopback"));
    let client = tokio::net::TcpStream::connect(server.addr).await.expect("connect to the responder");
    (server, client)
}

/// Removes `<tmp>/<prefix><pid>` folders whose process is gone (Linux: no `/proc/<pid>`).
/// A demo or testbed interrupted by Ctrl-C, or an OPC UA testbed's PKI (see `opcua`), leaves
/// its folder: the next run clears those of processes that ended.
pub fn sweep_stale(tmp: &std::path::Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(tmp) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(prefix)).and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id()
            && std::path::Path::new("/proc/self").exists()
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

#[cfg(test)]
mod sweep_tests {
    #[test]
    fn only_folders_of_ended_processes_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let me = std::process::id();
        // PID 4194304 is above Linux's pid_max limit: never a running process.
        for name in
            [format!("pp-x-{me}"), "pp-x-4194304".to_owned(), "pp-x-notapid".to_owned(), "other-4194304".to_owned()]
        {
            std::fs::create_dir(tmp.path().join(name)).unwrap();
        }
        super::sweep_stale(tmp.path(), "pp-x-");
        let mut left: Vec<String> =
            std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        let mut want = vec![format!("pp-x-{me}"), "pp-x-notapid".to_owned(), "other-4194304".to_owned()];
        want.sort();
        assert_eq!(left, want);
    }
}
