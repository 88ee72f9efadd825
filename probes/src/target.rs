//! What to probe: the address and every probe's settings.
//!
//! The option sections are the same types the manifest deserializes, so a manifest, the
//! command line and the JSON Schema can never disagree about a probe's settings.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One port to probe, with every setting a probe may need.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Deadline for one attempt of the probe, all phases together.
    pub timeout: Duration,
    /// Whether the protocol runs directly on TCP or inside TLS.
    pub over: Over,
    /// TLS settings, used when `over` is `tls` (and by redirects to `https`).
    pub tls: TlsOptions,
    /// Settings of the `http` probe.
    pub http: Option<HttpOptions>,
    /// Credentials for probes that log in (`amqp`, `mqtt`, ...); without them those probes
    /// stop at what the protocol shows anonymously.
    pub login: Option<Login>,
    /// Settings of the `amqp` probe.
    pub amqp: Option<AmqpOptions>,
    /// Settings of the `mqtt` probe.
    pub mqtt: Option<MqttOptions>,
    /// Settings of the `postgres` probe.
    pub postgres: Option<PostgresOptions>,
    /// Settings of the `mysql` probe.
    pub mysql: Option<MysqlOptions>,
    /// Settings of the `mssql` probe.
    pub mssql: Option<MssqlOptions>,
    /// Settings of the `modbus` probe.
    pub modbus: Option<ModbusOptions>,
    /// Settings of the `oracle` probe.
    pub oracle: Option<OracleOptions>,
    /// Settings of the `opcua` probe.
    pub opcua: Option<OpcuaOptions>,
}

impl Target {
    /// A target with default settings: plain TCP, 5 s deadline.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Target {
            host: host.into(),
            port,
            timeout: Duration::from_secs(5),
            over: Over::Tcp,
            tls: TlsOptions::default(),
            http: None,
            login: None,
            amqp: None,
            mqtt: None,
            postgres: None,
            mysql: None,
            mssql: None,
            modbus: None,
            oracle: None,
            opcua: None,
        }
    }

    /// The level a probe that logs in requires by default: a password source asks for a
    /// login (`healthy`); a user name alone only says whom to identify as (`speaks`).
    pub fn login_require(&self) -> crate::Level {
        if self.login.as_ref().is_some_and(Login::has_password) { crate::Level::Healthy } else { crate::Level::Speaks }
    }

    /// The checks of a database probe that negotiates TLS inside its own protocol: the password
    /// source must be readable, `over: tls` is refused with `message` (the port's TLS is not
    /// outside the protocol), and the TLS settings must load.
    pub fn validate_in_band_tls(&self, message: &str) -> Result<(), crate::Failure> {
        if let Some(login) = &self.login {
            login.password()?;
        }
        if self.over == Over::Tls {
            return Err(crate::Failure::config(message));
        }
        crate::tls::validate(&self.tls)
    }

    /// `host:port`, with brackets around an IPv6 address.
    pub fn authority(&self) -> String {
        authority(&self.host, self.port)
    }

    /// The names of the option sections this target carries, to check they fit the probe.
    pub fn sections(&self) -> Vec<&'static str> {
        let mut s = Vec::new();
        if self.http.is_some() {
            s.push("http");
        }
        if self.amqp.is_some() {
            s.push("amqp");
        }
        if self.mqtt.is_some() {
            s.push("mqtt");
        }
        if self.postgres.is_some() {
            s.push("postgres");
        }
        if self.mysql.is_some() {
            s.push("mysql");
        }
        if self.mssql.is_some() {
            s.push("mssql");
        }
        if self.modbus.is_some() {
            s.push("modbus");
        }
        if self.oracle.is_some() {
            s.push("oracle");
        }
        if self.opcua.is_some() {
            s.push("opcua");
        }
        s
    }
}

/// `host:port`, with brackets around an IPv6 address.
pub fn authority(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// The layer a protocol runs over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Over {
    /// Directly on TCP.
    #[default]
    Tcp,
    /// Inside a TLS session (HTTPS, AMQPS, MQTTS, ...).
    Tls,
    /// In UDP datagrams (NTP, WS-Discovery, the SQL Server Browser).
    Udp,
}

impl fmt::Display for Over {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Over::Tcp => "tcp",
            Over::Tls => "tls",
            Over::Udp => "udp",
        })
    }
}

/// TLS client settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsOptions {
    /// Server name sent in SNI and verified against the certificate; defaults to the host
    /// when it is a name (an IP address is verified against the certificate's IP SANs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// PEM file of CA certificates to trust instead of the system store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    /// PEM certificate chain presented when the server asks for a client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
    /// Go on when the server certificate does not verify; what verification found is still
    /// reported as a warning.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// What the `tls` probe expects of client authentication (mutual TLS). Without a client
    /// identity, `required` passes when the server demands a certificate and fails when it
    /// lets anyone in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_auth: Option<ClientAuth>,
    /// The `tls` probe also lists every TLS version and cipher suite the server accepts, in its
    /// order (a few dozen short connections, at most 4 at once).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scan: bool,
    /// ALPN protocols the `tls` probe offers (`h2`, `http/1.1`, ...); the one the server picks
    /// is in the facts, and a server that accepts none fails with `tls.alpn`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alpn: Vec<String>,
    /// Warn (`tls.cert_expiring`) when a certificate has fewer days left than this; default 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_warning_days: Option<u32>,
}

impl TlsOptions {
    /// The expiry warning threshold in days.
    pub fn expiry_warning_days(&self) -> u32 {
        self.expiry_warning_days.unwrap_or(crate::tls::cert::EXPIRY_WARNING_DAYS)
    }
}

/// Whether a server should ask clients for a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// The server demands a certificate and refuses clients without one (Ignition's 8060).
    Required,
    /// The server asks for a certificate but lets clients in without one.
    Optional,
    /// The server does not ask.
    None,
}

impl fmt::Display for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            ClientAuth::Required => "required",
            ClientAuth::Optional => "optional",
            ClientAuth::None => "none",
        })
    }
}

fn default_method() -> String {
    "GET".into()
}
fn default_path() -> String {
    "/".into()
}
fn default_true() -> bool {
    true
}
fn default_max_body() -> u64 {
    1 << 20
}
fn is_default_method(m: &str) -> bool {
    m == "GET"
}
fn is_default_path(p: &str) -> bool {
    p == "/"
}
fn is_true(b: &bool) -> bool {
    *b
}
fn is_default_max_body(n: &u64) -> bool {
    *n == default_max_body()
}

/// Settings of the `http` probe: the request and what a healthy answer looks like.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpOptions {
    /// Request method.
    #[serde(default = "default_method", skip_serializing_if = "is_default_method")]
    pub method: String,
    /// Request path with its query, starting with `/` (Ignition: `/StatusPing`).
    #[serde(default = "default_path", skip_serializing_if = "is_default_path")]
    pub path: String,
    /// Extra request headers (`Host` here overrides the default).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Healthy status codes: numbers or classes like `"2xx"`. Default: any 2xx.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Vec<StatusPattern>>,
    /// Text the body must contain to be healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// Regular expression the body must match to be healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_regex: Option<String>,
    /// A JSON field of the body that must hold a given value to be healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<JsonCheck>,
    /// Follow redirects that stay on the same host (any port or scheme); a redirect to
    /// another host is recorded and never followed.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub follow_redirects: bool,
    /// Most body bytes read; the rest is left unread and a `http.body_truncated` warning is given.
    #[serde(default = "default_max_body", skip_serializing_if = "is_default_max_body")]
    pub max_body: u64,
    /// JSON fields of the body copied into the facts, as `fact name: /json/pointer`, whether
    /// or not the check passes (a version, a cluster name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, String>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            method: default_method(),
            path: default_path(),
            headers: BTreeMap::new(),
            status: None,
            body_contains: None,
            body_regex: None,
            json: None,
            follow_redirects: true,
            max_body: default_max_body(),
            facts: BTreeMap::new(),
        }
    }
}

impl HttpOptions {
    /// Whether any health criterion was stated; if so a check requires `healthy` by default.
    pub fn has_criteria(&self) -> bool {
        self.status.is_some() || self.body_contains.is_some() || self.body_regex.is_some() || self.json.is_some()
    }
}

/// A JSON field that must hold a value: Ignition's `/StatusPing` answers `{"state":"RUNNING"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonCheck {
    /// JSON Pointer (RFC 6901) to the field, like `/state`; a bare name means a top-level field.
    pub pointer: String,
    /// The value the field must hold. Any other value is `http.unhealthy_state`.
    pub equals: serde_json::Value,
}

impl JsonCheck {
    /// The pointer in RFC 6901 form.
    pub fn rfc6901(&self) -> Cow<'_, str> {
        if self.pointer.is_empty() || self.pointer.starts_with('/') {
            Cow::Borrowed(&self.pointer)
        } else {
            Cow::Owned(format!("/{}", self.pointer))
        }
    }
}

/// A status code, or a class of them (`2xx`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusPattern {
    /// Exactly this code.
    Code(u16),
    /// Any code whose first digit is this (1 to 5).
    Class(u8),
}

impl StatusPattern {
    /// Whether `status` fits this pattern.
    pub fn matches(self, status: u16) -> bool {
        match self {
            StatusPattern::Code(c) => c == status,
            StatusPattern::Class(c) => status / 100 == u16::from(c),
        }
    }
}

impl fmt::Display for StatusPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusPattern::Code(c) => write!(f, "{c}"),
            StatusPattern::Class(c) => write!(f, "{c}xx"),
        }
    }
}

impl std::str::FromStr for StatusPattern {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad = || format!("bad status {s:?}: expected a code from 100 to 599 or a class like \"2xx\"");
        if let Some(first) = s.strip_suffix("xx").or_else(|| s.strip_suffix("XX")) {
            return match first.parse::<u8>() {
                Ok(c @ 1..=5) => Ok(StatusPattern::Class(c)),
                _ => Err(bad()),
            };
        }
        match s.parse::<u16>() {
            Ok(c @ 100..=599) => Ok(StatusPattern::Code(c)),
            _ => Err(bad()),
        }
    }
}

impl Serialize for StatusPattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            StatusPattern::Code(c) => s.serialize_u16(*c),
            StatusPattern::Class(_) => s.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for StatusPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = StatusPattern;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a status code (200) or a class (\"2xx\")")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<StatusPattern, E> {
                v.to_string().parse().map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<StatusPattern, E> {
                v.to_string().parse().map_err(E::custom)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<StatusPattern, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for StatusPattern {
    fn schema_name() -> Cow<'static, str> {
        "StatusPattern".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A status code (200) or a class of codes (\"2xx\").",
            "oneOf": [
                { "type": "integer", "minimum": 100, "maximum": 599 },
                { "type": "string", "pattern": "^[1-5]([0-9]{2}|xx|XX)$" }
            ]
        })
    }
}

/// A user name and where its password comes from. The password itself is never written in a
/// manifest, a report or a log: it is read from the environment or a file when the probe runs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// The user name.
    pub user: String,
    /// Name of the environment variable that holds the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// File whose content is the password (one trailing newline is dropped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("user", &self.user)
            .field("password_env", &self.password_env)
            .field("password_file", &self.password_file)
            .finish()
    }
}

/// A password read for one probe run. `Debug` does not show it, so it cannot leak through a
/// stray `{:?}` into a report or a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The password, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Login {
    /// Whether a password is given at all; a user name alone only says whom to identify as.
    pub fn has_password(&self) -> bool {
        self.password_env.is_some() || self.password_file.is_some()
    }

    /// Reads the password: from `password_env`, from `password_file`, or empty when neither is
    /// given (MariaDB's root on a fresh install, a broker's user without a password).
    pub fn password(&self) -> Result<Secret, crate::Failure> {
        match (&self.password_env, &self.password_file) {
            (Some(_), Some(_)) => Err(crate::Failure::config("login: give password_env or password_file, not both")),
            (Some(var), None) => match std::env::var(var) {
                Ok(v) => Ok(Secret(v)),
                Err(std::env::VarError::NotPresent) => Err(crate::Failure::config(format!(
                    "login.password_env: the environment variable {var} is not set"
                ))),
                Err(std::env::VarError::NotUnicode(_)) => Err(crate::Failure::config(format!(
                    "login.password_env: the environment variable {var} is not valid UTF-8"
                ))),
            },
            (None, Some(path)) => match std::fs::read_to_string(path) {
                Ok(mut v) => {
                    if v.ends_with('\n') {
                        v.pop();
                        if v.ends_with('\r') {
                            v.pop();
                        }
                    }
                    Ok(Secret(v))
                }
                Err(e) => {
                    Err(crate::Failure::config(format!("login.password_file: cannot read {}: {e}", path.display())))
                }
            },
            (None, None) => Ok(Secret(String::new())),
        }
    }
}

/// Settings of the `amqp` probe (AMQP 0-9-1: RabbitMQ and its peers).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AmqpOptions {
    /// Virtual host opened after login; default `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vhost: Option<String>,
    /// A queue that must exist (checked with a passive declare, which never creates it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
}

impl AmqpOptions {
    /// The virtual host to open.
    pub fn vhost(&self) -> &str {
        self.vhost.as_deref().unwrap_or("/")
    }
}

/// An MQTT protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum MqttVersion {
    /// MQTT 3.1.1 (protocol level 4).
    #[serde(rename = "3.1.1")]
    V311,
    /// MQTT 5.0 (protocol level 5).
    #[serde(rename = "5")]
    V5,
}

impl fmt::Display for MqttVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            MqttVersion::V311 => "3.1.1",
            MqttVersion::V5 => "5",
        })
    }
}

impl std::str::FromStr for MqttVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "5" | "5.0" => Ok(MqttVersion::V5),
            "3.1.1" | "4" => Ok(MqttVersion::V311),
            other => Err(format!("unknown MQTT version {other:?}: expected 5 or 3.1.1")),
        }
    }
}

/// Settings of the `mqtt` probe.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MqttOptions {
    /// Speak only this version; by default MQTT 5 first, then 3.1.1 when the broker refuses 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<MqttVersion>,
    /// After CONNACK, subscribe to a probe topic, publish to it and require the message back
    /// (healthy means the broker routes messages, not only accepts logins).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub roundtrip: bool,
    /// Topic of the round trip; default `portproof/probe/<client id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
}

/// Whether a database probe asks for TLS (libpq's sslmode, MySQL's ssl-mode: the modes a probe
/// needs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SslMode {
    /// Never send SSLRequest.
    Disable,
    /// Ask for TLS; go on in plain text when the server answers N (the default).
    Prefer,
    /// Ask for TLS; a server that answers N fails with `postgres.ssl_refused`.
    Require,
}

/// Settings of the `postgres` probe.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresOptions {
    /// Database named in the StartupMessage; default: the user name, as libpq does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// TLS: `disable`, `prefer` (default) or `require`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sslmode: Option<SslMode>,
}

/// Settings of the `mysql` probe.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MysqlOptions {
    /// Database opened by the login; default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// TLS: `disable`, `prefer` (default: switch when the server offers it) or `require`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sslmode: Option<SslMode>,
}

/// How the `mssql` probe asks for encryption, named as Microsoft's drivers name it (`Encrypt=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MssqlEncrypt {
    /// No TLS at all (ENCRYPT_NOT_SUP): the only mode in which a password may cross without TLS.
    Disable,
    /// TLS for the login at least, the whole session if the server forces it (the default;
    /// drivers' `Encrypt=Optional`/`false`).
    Optional,
    /// TLS for the whole session, failing when the server has none (`Encrypt=Mandatory`/`true`).
    Mandatory,
    /// TDS 8.0: TLS before any TDS, ALPN `tds/8.0` (`Encrypt=Strict`, SQL Server 2022).
    Strict,
}

/// Settings of the `mssql` probe.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MssqlOptions {
    /// Named instance the port should belong to (PRELOGIN says whether it does); default: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Database opened by the login; default: the login's default database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Encryption: `optional` (default), `mandatory`, `strict` or `disable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypt: Option<MssqlEncrypt>,
    /// Also ask the SQL Server Browser (UDP 1434) for the host's instances and their ports.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub browser: bool,
    /// The Browser's UDP port, where a NAT or firewall maps it elsewhere; default 1434.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser_port: Option<u16>,
}

/// Which Modbus data table a register read addresses (Modbus Application Protocol §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RegisterKind {
    /// Holding registers, function 0x03 (read/write on the device; only read here).
    Holding,
    /// Input registers, function 0x04 (read-only).
    Input,
    /// Coils, function 0x01 (single bits; only read here).
    Coil,
    /// Discrete inputs, function 0x02 (read-only single bits).
    Discrete,
}

impl fmt::Display for RegisterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            RegisterKind::Holding => "holding",
            RegisterKind::Input => "input",
            RegisterKind::Coil => "coil",
            RegisterKind::Discrete => "discrete",
        })
    }
}

/// Settings of the `modbus` probe. It only ever reads: Read Device Identification, then one
/// register or bit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModbusOptions {
    /// Unit (slave) id addressed: default 1; 255 (or 0) for a device behind a gateway that
    /// routes by unit id, or the id the gateway maps to the device. A stated unit is a health
    /// criterion: gateways and servers may answer device identification for any unit id, so
    /// a register (address `register`, default 0) is read and must come back from this unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<u8>,
    /// Protocol address (0-based) of a register that must be readable for `healthy`, read
    /// after the device identification. Without it, a device identification suffices, and a
    /// device that refuses it is asked for address 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register: Option<u16>,
    /// The table `register` is in: `holding` (0x03), `input` (0x04), `coil` (0x01) or
    /// `discrete` (0x02). Default: holding, then input when the holding read is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<RegisterKind>,
}

impl ModbusOptions {
    /// The unit id addressed.
    pub fn unit(&self) -> u8 {
        self.unit.unwrap_or(1)
    }
    /// Whether a register read is asked for: a stated register, table or unit, each a health
    /// criterion (a unit because only a register read proves it is there).
    pub fn has_criteria(&self) -> bool {
        self.register.is_some() || self.kind.is_some() || self.unit.is_some()
    }
}

/// Settings of the `oracle` probe: the service the listener must know (one of the two, not
/// both; without either the probe identifies the listener only), and whether a REDIRECT may
/// take the probe to another host.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OracleOptions {
    /// Service name to ask the listener for (SERVICE_NAME in the connect descriptor, as
    /// `host:1521/ORCLPDB1` names it); an ACCEPT makes the check healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// SID to ask for instead (SID in the connect descriptor, the pre-service-name style).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Follow a REDIRECT to an address other than the checked host's own (a dispatcher or
    /// another node elsewhere). Off by default: the listener chooses the address, so following
    /// it would let whoever answers on the port point the probe at any host. Even with this on,
    /// the probe never follows to loopback, unspecified, link-local, multicast or broadcast
    /// addresses unless the checked host is one of the same kind.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub follow_redirects: bool,
}

/// Settings of the `opcua` probe.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpcuaOptions {
    /// The endpoint URL named in the Hello and in GetEndpoints: a path (`/discovery`) appended
    /// to `opc.tcp://<host>:<port>`, or a whole `opc.tcp://` URL (servers that check the host
    /// name in it want the name they were configured with). Default `opc.tcp://<host>:<port>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// Days before the server certificate's expiry from which it draws `opcua.cert_expiring`;
    /// default 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_warning_days: Option<u32>,
    /// After discovery, read `Server_ServerStatus` over an anonymous session on a
    /// SecurityPolicy None endpoint (the only read the probe makes): `healthy` then means the
    /// server state is `Running`, and its BuildInfo names product, manufacturer and version.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_status: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_patterns_parse_and_match() {
        let p: StatusPattern = "2xx".parse().unwrap();
        assert!(p.matches(204) && !p.matches(301));
        let p: StatusPattern = "404".parse().unwrap();
        assert!(p.matches(404) && !p.matches(405));
        assert!("6xx".parse::<StatusPattern>().is_err());
        assert!("99".parse::<StatusPattern>().is_err());
        assert!("abc".parse::<StatusPattern>().unwrap_err().contains("2xx"));
        let v: Vec<StatusPattern> = serde_json::from_str(r#"[200, "3xx"]"#).unwrap();
        assert_eq!(v, [StatusPattern::Code(200), StatusPattern::Class(3)]);
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"[200,"3xx"]"#);
    }

    #[test]
    fn json_pointer_accepts_a_bare_field_name() {
        let j = JsonCheck { pointer: "state".into(), equals: "RUNNING".into() };
        assert_eq!(j.rfc6901(), "/state");
        let j = JsonCheck { pointer: "/a/b".into(), equals: 1.into() };
        assert_eq!(j.rfc6901(), "/a/b");
    }

    #[test]
    fn authority_brackets_ipv6() {
        assert_eq!(authority("::1", 80), "[::1]:80");
        assert_eq!(authority("gw.example", 8088), "gw.example:8088");
    }

    #[test]
    fn criteria_are_what_raises_the_default_requirement() {
        assert!(!HttpOptions::default().has_criteria());
        let o = HttpOptions { body_contains: Some("ok".into()), ..Default::default() };
        assert!(o.has_criteria());
    }
}
