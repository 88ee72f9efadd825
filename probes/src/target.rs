//! What to probe: the address, the transport and its TLS, the login, and the probe's settings.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::options::Options;

/// One port to probe: the address, the deadline, the transport, TLS, the login, and the
/// settings of the one probe that runs (typed by that probe, see [`crate::options`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP or UDP port.
    pub port: u16,
    /// Deadline for one attempt of the probe, all phases together.
    pub timeout: Duration,
    /// Whether the protocol runs directly on TCP, inside TLS, or over UDP.
    pub over: Over,
    /// TLS settings, used when `over` is `tls` (and by redirects to `https`, and by probes
    /// that switch to TLS inside their protocol).
    pub tls: TlsOptions,
    /// Credentials for probes that log in; without them those probes stop at what the
    /// protocol shows anonymously.
    pub login: Option<Login>,
    /// The probe's own settings (its manifest section), when the check gives any.
    pub options: Option<Options>,
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
            login: None,
            options: None,
        }
    }

    /// The probe's settings when they are a `T` (a probe asks for its own type).
    pub fn options<T: 'static>(&self) -> Option<&T> {
        self.options.as_ref().and_then(Options::get::<T>)
    }

    /// The probe's settings, or `T`'s defaults when the check gives none.
    pub fn options_or_default<T: 'static + Clone + Default>(&self) -> T {
        self.options::<T>().cloned().unwrap_or_default()
    }

    /// Sets the probe's settings.
    pub fn set_options<T: crate::options::ProbeOptions>(&mut self, value: T) {
        self.options = Some(Options::new(value));
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

    /// The one credentials policy of every probe: `Some` refusal when the login's password
    /// would cross in clear text (`encrypted` false: no TLS around it) to an address other
    /// than loopback and the check does not say `login.cleartext: allow`. `peer` is the
    /// address connected to; without one the host is judged (`localhost` or a loopback IP).
    /// The database probes, which can ask for TLS inside their protocol, are stricter still:
    /// they send a password outside TLS, even to loopback, only when the check says so.
    pub fn cleartext_refusal(&self, peer: Option<std::net::IpAddr>, encrypted: bool) -> Option<crate::Failure> {
        let login = self.login.as_ref().filter(|l| l.has_password())?;
        let loopback = match peer {
            Some(ip) => ip.is_loopback(),
            None => self.host == "localhost" || self.host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()),
        };
        if encrypted || loopback || login.allows_cleartext() {
            return None;
        }
        let to = peer.map_or_else(|| self.host.clone(), |ip| ip.to_string());
        Some(crate::Failure::new(
            &crate::codes::core::AUTH_CLEARTEXT_REFUSED,
            crate::Phase::Auth,
            format!("the password of {:?} would cross to {to} in clear text (no TLS); it was not sent", login.user),
        ))
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
    /// Whether the password may cross in clear text (no TLS around it) to an address other
    /// than loopback: `refuse` (the default) or `allow`, for every probe alike.
    #[serde(default, skip_serializing_if = "Cleartext::is_refuse")]
    pub cleartext: Cleartext,
    /// A password given in the check's URL (`http://user:pw@host/`), read from the command
    /// line; a manifest cannot hold one, and it is never serialized.
    #[serde(skip)]
    #[schemars(skip)]
    pub url_password: Option<Secret>,
}

/// Whether a login's password may cross the network in clear text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Cleartext {
    /// Only to a loopback address: on any other path anyone between could read it.
    #[default]
    Refuse,
    /// To any address: the check says the path is trusted (a lab network, a VPN).
    Allow,
}

impl Cleartext {
    /// Whether this is the default, `refuse` (left out of serialized manifests).
    pub fn is_refuse(&self) -> bool {
        *self == Cleartext::Refuse
    }
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("user", &self.user)
            .field("password_env", &self.password_env)
            .field("password_file", &self.password_file)
            .field("cleartext", &self.cleartext)
            .field("url_password", &self.url_password)
            .finish()
    }
}

/// A password read for one probe run. `Debug` does not show it, so it cannot leak through a
/// stray `{:?}` into a report or a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A password read from where the check gives it (a URL's user information).
    pub fn new(password: impl Into<String>) -> Self {
        Secret(password.into())
    }

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
        self.password_env.is_some() || self.password_file.is_some() || self.url_password.is_some()
    }

    /// Whether the check says the password may cross in clear text (`cleartext: allow`).
    pub fn allows_cleartext(&self) -> bool {
        self.cleartext == Cleartext::Allow
    }

    /// Reads the password: from `password_env`, from `password_file`, or empty when neither is
    /// given (MariaDB's root on a fresh install, a broker's user without a password).
    pub fn password(&self) -> Result<Secret, crate::Failure> {
        if let Some(p) = &self.url_password {
            if self.password_env.is_some() || self.password_file.is_some() {
                return Err(crate::Failure::config(
                    "login: the URL carries a password; give no password_env or password_file too",
                ));
            }
            return Ok(p.clone());
        }
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
            (None, Some(path)) => match crate::files::read_small(path, "login.password_file", 64 << 10).and_then(|b| {
                String::from_utf8(b).map_err(|_| format!("login.password_file {} is not UTF-8 text", path.display()))
            }) {
                Ok(mut v) => {
                    if v.ends_with('\n') {
                        v.pop();
                        if v.ends_with('\r') {
                            v.pop();
                        }
                    }
                    Ok(Secret(v))
                }
                Err(e) => Err(crate::Failure::config(e)),
            },
            (None, None) => Ok(Secret(String::new())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_login(host: &str, cleartext: Cleartext) -> Target {
        let mut t = Target::new(host, 5672);
        t.login = Some(Login {
            user: "monitor".into(),
            password_env: Some("PW".into()),
            password_file: None,
            cleartext,
            url_password: None,
        });
        t
    }

    #[test]
    fn a_password_crosses_in_clear_text_only_to_loopback_unless_allowed() {
        let remote: std::net::IpAddr = "192.0.2.9".parse().unwrap();
        let t = with_login("broker.example", Cleartext::Refuse);
        let f = t.cleartext_refusal(Some(remote), false).expect("refused");
        assert!(f.is(&crate::codes::core::AUTH_CLEARTEXT_REFUSED) && f.message.contains("192.0.2.9"), "{f:?}");
        assert!(t.cleartext_refusal(Some(remote), true).is_none(), "inside TLS it may go");
        assert!(t.cleartext_refusal(Some("127.0.0.1".parse().unwrap()), false).is_none());
        assert!(t.cleartext_refusal(Some("::1".parse().unwrap()), false).is_none());
        assert!(t.cleartext_refusal(None, false).is_some(), "a name is not loopback unless it is localhost");
        assert!(with_login("localhost", Cleartext::Refuse).cleartext_refusal(None, false).is_none());
        assert!(with_login("broker.example", Cleartext::Allow).cleartext_refusal(Some(remote), false).is_none());
        // A user name alone carries no secret.
        let mut t = with_login("broker.example", Cleartext::Refuse);
        t.login.as_mut().unwrap().password_env = None;
        assert!(t.cleartext_refusal(Some(remote), false).is_none());
    }

    #[test]
    fn a_url_password_is_the_password_and_never_shown() {
        let mut t = with_login("h", Cleartext::Refuse);
        let login = t.login.as_mut().unwrap();
        login.password_env = None;
        login.url_password = Some(Secret::new("hunter2"));
        assert_eq!(login.password().unwrap().expose(), "hunter2");
        assert!(!format!("{login:?}").contains("hunter2"));
        let json = serde_json::to_string(&*login).unwrap();
        assert!(!json.contains("hunter2") && !json.contains("url_password"), "{json}");
    }

    #[test]
    fn authority_brackets_ipv6() {
        assert_eq!(authority("::1", 80), "[::1]:80");
        assert_eq!(authority("gw.example", 8088), "gw.example:8088");
    }
}
