//! An Ignition-like gateway on loopback: each port of the Ignition profile plus an offset.
//!
//! 8088 serves `/StatusPing` in HTTP; 8043 the same over TLS; 8060 is a TLS port demanding a
//! client certificate, like the Gateway Network. OPC UA (4840, 4096) and Modbus (502) are held
//! open by stand-ins until their testbed servers arrive. The databases (3306, 5432, 1433, 1521)
//! are optional in the profile and not served here.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::net::TcpListener;

use crate::http::GatewayState;
use crate::pki::Pki;
use crate::{Server, hostile, http};

/// The offset `portproof testbed` and `portproof demo` use by default: 8088 becomes 28088.
pub const DEFAULT_OFFSET: u16 = 20000;

/// One port the gateway serves.
#[derive(Debug)]
pub struct Port {
    /// Ignition's own port number (before the offset).
    pub base: u16,
    /// What is served there.
    pub role: &'static str,
    /// The server.
    pub server: Server,
}

/// A running gateway; dropping it stops every port.
#[derive(Debug)]
pub struct Gateway {
    /// The address every port is bound on.
    pub ip: IpAddr,
    /// The offset added to Ignition's port numbers.
    pub offset: u16,
    /// The ports served.
    pub ports: Vec<Port>,
    /// The state `/StatusPing` reports on 8088 and 8043.
    pub state: GatewayState,
    /// The PKI of the TLS ports: trust `pki.ca` to verify them.
    pub pki: Pki,
}

/// The ports served and what each is, before the offset.
pub const LAYOUT: &[(u16, &str)] = &[
    (8088, "HTTP /StatusPing"),
    (8043, "HTTPS /StatusPing"),
    (8060, "Gateway Network TLS (client certificate required)"),
    (4840, "OPC UA (open port stand-in)"),
    (4096, "OPC UA discovery (open port stand-in)"),
    (502, "Modbus TCP (open port stand-in)"),
];

impl Gateway {
    /// Starts every port at `base + offset` on 127.0.0.1. Fails, naming the port, when one is
    /// taken or the offset pushes it past 65535.
    pub async fn start(offset: u16) -> std::io::Result<Gateway> {
        Self::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), offset).await
    }

    /// Like [`Gateway::start`] on a chosen loopback address.
    pub async fn start_on(ip: IpAddr, offset: u16) -> std::io::Result<Gateway> {
        let pki = Pki::new();
        let state = GatewayState::new("RUNNING");
        let mut ports = Vec::new();
        for &(base, role) in LAYOUT {
            let port = base.checked_add(offset).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("port {base} + offset {offset} is past 65535"),
                )
            })?;
            let listener = TcpListener::bind(SocketAddr::new(ip, port)).await.map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot bind {ip}:{port} for Ignition's {base} ({role}): {e}"))
            })?;
            let server = match base {
                8088 => http::serve(listener, state.clone()),
                8043 => http::serve_tls(listener, state.clone(), pki.server_config()),
                8060 => hostile::tls_server(listener, pki.mtls_server_config()),
                _ => hostile::holder(listener),
            };
            ports.push(Port { base, role, server });
        }
        Ok(Gateway { ip, offset, ports, state, pki })
    }

    /// The port serving Ignition's `base` port.
    pub fn port(&self, base: u16) -> Option<u16> {
        self.ports.iter().find(|p| p.base == base).map(|p| p.server.port())
    }
}
