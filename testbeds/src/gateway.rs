//! A product's site on loopback: each port of a profile plus an offset.
//!
//! Ignition: 8088 serves `/StatusPing` in HTTP; 8043 the same over TLS; 8060 is a TLS port
//! demanding a client certificate, like the Gateway Network. OPC UA (4840, 4096) is
//! async-opcua's server; Modbus (502) is a tokio-modbus device with device identification and
//! registers. MySQL (3306), PostgreSQL (5432), MS SQL (1433, TLS inside PRELOGIN) and the Oracle
//! listener (1521) are minimal responders.
//!
//! PADS4 and WSO2 Message Broker: their web ports, and the in-process AMQP and MQTT responders
//! (plain and over TLS) for the brokers they run.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::net::TcpListener;

use crate::http::GatewayState;
use crate::pki::Pki;
use crate::{Server, amqp, hostile, http, modbus, mqtt, mssql, mysql, opcua, oracle, postgres, thrift};

/// The offset `portproof testbed` and `portproof demo` use by default: 8088 becomes 19088.
/// Every product's ports stay below Linux's ephemeral range with it (see [`offset_fits`]).
pub const DEFAULT_OFFSET: u16 = 11000;

/// Where Linux hands out ephemeral ports (`net.ipv4.ip_local_port_range`, 32768–60999 by
/// default): a testbed port there may be taken by any outgoing connection at any moment.
pub const EPHEMERAL_START: u16 = 32768;

/// Ports that real services on a test or product host hold, which a testbed must never take:
/// RabbitMQ (AMQP, management, Erlang distribution, epmd), Mosquitto, PostgreSQL, MariaDB,
/// Redis, Prometheus and its exporters, and the fixed ports of `testbeds/scripts/`.
pub const NEIGHBOURS: &[u16] = &[
    1883, 3306, 4369, 5432, 5671, 5672, 6379, 9090, 9100, 9115, 15672, 25672, 13306, 14840, 14841, 15020, 15432, 18080,
    18443, 18444, 18445, 18446, 18447, 18448, 18449, 18883, 18884,
];

/// Whether `product`'s site fits at `offset`: every port below [`EPHEMERAL_START`] and none on
/// a [`NEIGHBOURS`] port. Says which port does not, and why.
pub fn offset_fits(product: Product, offset: u16) -> Result<(), String> {
    for &(base, role) in product.layout() {
        let port = u32::from(base) + u32::from(offset);
        if port >= u32::from(EPHEMERAL_START) {
            return Err(format!(
                "{}'s {base} ({role}) + offset {offset} = {port} is in the ephemeral port range (from {EPHEMERAL_START})",
                product.label()
            ));
        }
        if NEIGHBOURS.contains(&(port as u16)) {
            return Err(format!(
                "{}'s {base} ({role}) + offset {offset} = {port} is a port real services hold",
                product.label()
            ));
        }
    }
    Ok(())
}

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
    /// The product imitated.
    pub product: Product,
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

/// A product whose site the testbed imitates, one per embedded profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Product {
    /// Inductive Automation Ignition 8.3 gateway.
    Ignition,
    /// PADS4 digital signage server with its local RabbitMQ.
    Pads4,
    /// WSO2 Message Broker.
    Wso2Mb,
}

impl Product {
    /// Every product, in the order the demo shows them.
    pub const ALL: [Product; 3] = [Product::Ignition, Product::Pads4, Product::Wso2Mb];

    /// The name of its profile (`portproof profile NAME`).
    pub fn profile(self) -> &'static str {
        match self {
            Product::Ignition => "ignition",
            Product::Pads4 => "pads4",
            Product::Wso2Mb => "wso2-mb",
        }
    }

    /// The ports served and what each is, before the offset.
    pub fn layout(self) -> &'static [(u16, &'static str)] {
        match self {
            Product::Ignition => LAYOUT,
            Product::Pads4 => PADS4_LAYOUT,
            Product::Wso2Mb => WSO2_MB_LAYOUT,
        }
    }

    /// The features of its profile (`--with`) whose ports the site serves: the demo turns
    /// these on. Ignition's `require-ssl` is not (its 8088 answers /StatusPing, it does not
    /// redirect) and neither is `redundancy` (one site has no backup gateway); PADS4's UDP
    /// discovery and time, and WSO2's JMX and clustering ports, are not served.
    pub fn features(self) -> &'static [&'static str] {
        match self {
            Product::Ignition => &["gan", "opcua", "modbus", "mysql", "postgres", "mssql", "oracle"],
            Product::Pads4 => &["web", "broker-tls"],
            Product::Wso2Mb => &[],
        }
    }

    /// A short name for reports.
    pub fn label(self) -> &'static str {
        match self {
            Product::Ignition => "Ignition",
            Product::Pads4 => "PADS4",
            Product::Wso2Mb => "WSO2 MB",
        }
    }

    /// Looks a product up by its profile name.
    pub fn from_profile(name: &str) -> Option<Product> {
        Product::ALL.into_iter().find(|p| p.profile() == name)
    }
}

/// PADS4's ports: its own port is held open; RabbitMQ is imitated, with the management API.
pub const PADS4_LAYOUT: &[(u16, &str)] = &[
    (7237, "PADS4 communication (open port stand-in)"),
    (80, "HTML5 viewer HTTP"),
    (443, "HTML5 viewer HTTPS"),
    (5672, "AMQP 0-9-1 responder"),
    (5671, "AMQP 0-9-1 responder over TLS"),
    (15672, "RabbitMQ management API imitation"),
    (15671, "RabbitMQ management API imitation over TLS"),
];

/// WSO2 Message Broker's ports.
pub const WSO2_MB_LAYOUT: &[(u16, &str)] = &[
    (9443, "management console HTTPS"),
    (9763, "management console HTTP"),
    (5672, "AMQP 0-9-1 responder"),
    (8672, "AMQP 0-9-1 responder over TLS"),
    (1883, "MQTT 5 / 3.1.1 responder"),
    (8833, "MQTT responder over TLS"),
    (7611, "Thrift server (unknown-method answers, binary protocol)"),
];

/// The Ignition ports served and what each is, before the offset.
pub const LAYOUT: &[(u16, &str)] = &[
    (8088, "HTTP /StatusPing"),
    (8043, "HTTPS /StatusPing"),
    (8060, "Gateway Network TLS (client certificate required)"),
    (4840, "OPC UA server (async-opcua: None and Basic256Sha256 endpoints)"),
    (4096, "OPC UA discovery (async-opcua: FindServers and GetEndpoints)"),
    (502, "Modbus TCP device (tokio-modbus: device identification, registers)"),
    (3306, "MySQL greeting and login responder"),
    (5432, "PostgreSQL responder with SSL (trust)"),
    (1433, "SQL Server TDS responder (encryption off: TLS inside PRELOGIN for the login)"),
    (1521, "Oracle TNS listener responder (services ORCLPDB1, ORCLCDB)"),
];

impl Gateway {
    /// Starts every port at `base + offset` on 127.0.0.1. Fails, naming the port, when one is
    /// taken or the offset pushes it past 65535.
    pub async fn start(offset: u16) -> std::io::Result<Gateway> {
        Self::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), offset).await
    }

    /// Like [`Gateway::start`] on a chosen loopback address.
    pub async fn start_on(ip: IpAddr, offset: u16) -> std::io::Result<Gateway> {
        Self::start_product(Product::Ignition, ip, offset).await
    }

    /// Starts the site of `product` at `base + offset` on `ip`.
    pub async fn start_product(product: Product, ip: IpAddr, offset: u16) -> std::io::Result<Gateway> {
        let pki = Pki::new();
        let state = GatewayState::new("RUNNING");
        let mut ports = Vec::new();
        for &(base, role) in product.layout() {
            let port = base.checked_add(offset).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("port {base} + offset {offset} is past 65535"),
                )
            })?;
            let listener = TcpListener::bind(SocketAddr::new(ip, port)).await.map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot bind {ip}:{port} for {}'s {base} ({role}): {e}", product.label()),
                )
            })?;
            let broker = || amqp::AmqpMode::Broker(amqp::BrokerConfig::default());
            let mqtt_broker = || mqtt::MqttMode::Broker(mqtt::MqttConfig::default());
            let server = match (product, base) {
                (Product::Ignition, 8088) | (_, 80 | 9763 | 15672) => http::serve(listener, state.clone()),
                (Product::Ignition, 8043) | (_, 443 | 9443 | 15671) => {
                    http::serve_tls(listener, state.clone(), pki.server_config())
                }
                (Product::Ignition, 8060) => hostile::tls_server(listener, pki.mtls_server_config()),
                (_, 5672) => amqp::serve(listener, broker()),
                (_, 5671 | 8672) => amqp::serve_tls(listener, broker(), pki.server_config()),
                (_, 1883) => mqtt::serve(listener, mqtt_broker()),
                (_, 8833) => mqtt::serve_tls(listener, mqtt_broker(), pki.server_config()),
                // The gateway's own account: the probe's password-less "portproof" is refused,
                // as on a real server.
                (Product::Ignition, 3306) => mysql::serve(
                    listener,
                    mysql::MysqlMode::Server(mysql::MysqlConfig { user: "ignition".into(), ..Default::default() }),
                ),
                (Product::Ignition, 502) => modbus::serve(
                    listener,
                    modbus::ModbusMode::Device(modbus::DeviceConfig::default()),
                    modbus::Guard::default(),
                ),
                (Product::Ignition, 5432) => {
                    postgres::serve_ssl(listener, postgres::PgMode::Server(Default::default()), pki.server_config())
                }
                (Product::Ignition, 1433) => mssql::serve(
                    listener,
                    mssql::MssqlMode::Server(mssql::MssqlConfig {
                        tls: Some(pki.server_config()),
                        user: "ignition".into(),
                        ..Default::default()
                    }),
                ),
                (Product::Ignition, 1521) => {
                    oracle::serve(listener, oracle::OracleMode::Listener(oracle::ListenerConfig::default()))
                }
                (Product::Ignition, 4840) => opcua::serve(listener, opcua::OpcuaMode::Server(Default::default())),
                (Product::Ignition, 4096) => opcua::serve(
                    listener,
                    opcua::OpcuaMode::Server(opcua::OpcuaConfig {
                        application_name: "Ignition OPC UA discovery (testbed)".into(),
                        ..Default::default()
                    }),
                ),
                (Product::Wso2Mb, 7611) => thrift::serve(listener),
                _ => hostile::holder(listener),
            };
            ports.push(Port { base, role, server });
        }
        Ok(Gateway { product, ip, offset, ports, state, pki })
    }

    /// The port serving Ignition's `base` port.
    pub fn port(&self, base: u16) -> Option<u16> {
        self.ports.iter().find(|p| p.base == base).map(|p| p.server.port())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_offsets_keep_every_site_off_ephemeral_and_neighbouring_ports() {
        // The demo puts each next product 1000 higher.
        for (i, p) in [Product::Ignition, Product::Pads4, Product::Wso2Mb].into_iter().enumerate() {
            offset_fits(p, DEFAULT_OFFSET + 1000 * i as u16).unwrap();
        }
        assert!(offset_fits(Product::Wso2Mb, 24000).unwrap_err().contains("ephemeral"), "9443 + 24000");
        assert!(offset_fits(Product::Pads4, 20000).unwrap_err().contains("real services"), "5672 + 20000");
        assert!(offset_fits(Product::Ignition, 0).unwrap_err().contains("real services"), "3306 + 0");
    }
}
