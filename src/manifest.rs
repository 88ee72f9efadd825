//! YAML manifests: which ports to check, with what probe, and what counts as passing.
//!
//! ```yaml
//! defaults: { host: gw.example, timeout: 5s }
//! checks:
//!   - name: Gateway HTTP
//!     port: 8088
//!     expect: http
//!     http: { path: /StatusPing, json: { pointer: /state, equals: RUNNING } }
//! ```
//!
//! Every error names the file, the line and the field. Checks are validated while they are
//! deserialized, so the YAML parser's own position and path come with each error; the few
//! checks that need the command line (a missing host, an offset past 65535) find the line of
//! their check again with [`locate_check`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use portproof_probes::{Level, Login, Options, Over, Probe, Target, TlsOptions};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A parsed manifest.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The product a profile describes (profiles only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// What this manifest checks, in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where the port list comes from (a vendor document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Settings every check inherits unless it sets its own.
    #[serde(default)]
    pub defaults: Defaults,
    /// The machines the checks belong to, by name (`gateway`, `database`), with what each is:
    /// `--host ROLE=HOST[,HOST...]` places each on its hosts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub roles: BTreeMap<String, String>,
    /// Named groups of checks that are off unless `--with NAME` (or `--all`) turns them on
    /// ("if using OPC UA"), with what each is.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub features: BTreeMap<String, String>,
    /// Groups of checks of which one passing is enough ("either HTTP or HTTPS required").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub any_of: Vec<AnyOf>,
    /// The product's own configuration files `--config FILE` reads ports from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<ConfigSource>,
    /// The checks, reported in this order.
    pub checks: Vec<CheckSpec>,
}

/// A group of checks of which at least one must pass on each host: the others' failures are
/// reported but do not fail the run.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnyOf {
    /// A name for the report (`web`).
    pub name: String,
    /// The names of the checks in the group.
    pub checks: Vec<String>,
    /// Why one is enough, for people (the vendor document's words).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One kind of product configuration file, and which of its keys set which checks' ports.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigSource {
    /// The file's name as the product writes it (`gateway.xml`): `--config PATH` picks this
    /// entry by the path's file name, or `--config NAME=PATH` by this name.
    pub file: String,
    /// How the file is written.
    pub format: ConfigFormat,
    /// Where the product keeps it, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Key → the checks whose port it sets. A key the file sets to 0 turns the port off: those
    /// checks then expect it closed. Keys are the format's own: an entry key (`gateway.port`),
    /// a dotted TOML key (`server.offset`), a property name, or an XML path
    /// (`Server/Service/Connector[@scheme='https']/@port`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ports: BTreeMap<String, Vec<String>>,
    /// The key that holds the port offset added to every port that moves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<String>,
}

/// How a configuration file is written; each is read by its own parser, so a bad file is
/// reported at its line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ConfigFormat {
    /// Java properties as XML: `<entry key="gateway.port">8088</entry>`.
    XmlEntries,
    /// Any XML, keys being element paths from the root with local names
    /// (`Server/Ports/Offset`), optional `[@attr='value']` filters, and a last `@attr` for an
    /// attribute's value.
    Xml,
    /// TOML, keys being dotted paths (`server.offset`).
    Toml,
    /// Java `.properties`: `key=value` lines.
    Properties,
}

impl fmt::Display for ConfigFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigFormat::XmlEntries => "xml-entries",
            ConfigFormat::Xml => "xml",
            ConfigFormat::Toml => "toml",
            ConfigFormat::Properties => "properties",
        })
    }
}

/// Which way a port's traffic crosses the firewall of the machine its check's role names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Other machines connect to it: it is opened inbound on the role's machine.
    #[default]
    Inbound,
    /// The product connects out to it, on the machine the role names (a vendor's server).
    Outbound,
    /// Only the role's own machine uses it ("used locally only"): checked from that machine
    /// (a loopback host) it must speak; from anywhere else it must be closed.
    LocalOnly,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::LocalOnly => "local-only",
        })
    }
}

/// Whether a check's port moves with the product's port offset (`--offset`, or the offset
/// its configuration file sets).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OffsetRule {
    /// The port is its number plus the offset.
    #[default]
    Moves,
    /// The product's document says this port does not move with the offset.
    Fixed,
}

/// `expect:` of a check that must find its port closed, whatever would speak there.
pub const CLOSED: &str = "closed";

/// What `expect:` accepts: every probe name and TLS alias, and `closed`.
fn expect_values() -> Vec<&'static str> {
    let mut v = portproof_probes::expect_names();
    v.push(CLOSED);
    v
}

/// Settings inherited by every check.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Host of checks that name none (`--host` replaces it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Role of checks that name none (one of `roles:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Deadline of one probe attempt, like `5s` or `500ms`.
    #[serde(default, with = "humantime_opt", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
    /// Level a check must reach to pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require: Option<Level>,
    /// TLS settings for checks over TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsOptions>,
}

/// One port to check.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, try_from = "RawCheck", into = "RawCheck")]
#[schemars(with = "RawCheck")]
pub struct CheckSpec {
    raw: RawCheck,
}

/// The fields of a check as written; [`CheckSpec`] is this, validated.
///
/// Besides the fields every check has, a check carries the settings of its probe under the
/// probe's name (`http:`, `amqp:`, ...): each probe owns its section's type, and the sections
/// are read through the registry, so this file names no protocol.
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
#[schemars(title = "Check", transform = add_sections)]
pub struct RawCheck {
    /// A name for people: it heads the line in the report.
    pub name: String,
    /// Host name or IP address; defaults to `defaults.host` or `--host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Port (before `--offset`).
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// The protocol the port must speak: a probe name (`portproof probes`), or a TLS alias
    /// (`https`); or `closed`: nothing may answer (a refused or filtered port passes, and
    /// whatever answers is named).
    #[schemars(extend("enum" = expect_values()))]
    pub expect: String,
    /// The machine the port is on: one of `roles:` (default `defaults.role`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The feature (one of `features:`) the check belongs to: it runs only with `--with`
    /// naming it, or `--all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature: Option<String>,
    /// `inbound` (default), `outbound` or `local-only` (closed when checked from another
    /// machine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// `fixed` for a port that does not move with the product's port offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<OffsetRule>,
    /// Run the protocol directly on TCP, inside TLS, or in UDP datagrams: one of the probe's
    /// transports (`portproof probes`), by default its first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over: Option<Over>,
    /// Level needed to pass: `open`, `speaks` (default) or `healthy` (default when the check
    /// states health criteria).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require: Option<Level>,
    /// Deadline of one probe attempt, like `5s` or `500ms`.
    #[serde(default, with = "humantime_opt", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
    /// A failing optional check is reported but does not fail the run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    /// The probe this port will get once it exists; until then `expect` is a stand-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned: Option<String>,
    /// Free text shown with the result (why the port is there, what uses it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// TLS settings (with `over: tls` or a TLS alias such as `expect: https`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsOptions>,
    /// User and where the password comes from, for probes that log in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<Login>,
    /// The probe sections given, by name (each probe's own settings).
    #[serde(flatten, serialize_with = "ser_sections")]
    #[schemars(skip)]
    pub sections: Vec<(String, Options)>,
}

fn ser_sections<S: serde::Serializer>(v: &[(String, Options)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(v.len()))?;
    for (k, o) in v {
        m.serialize_entry(k, &o.to_json())?;
    }
    m.end()
}

/// Adds every registered probe's section to the check's schema.
fn add_sections(schema: &mut schemars::Schema) {
    if let Some(props) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
        for section in portproof_probes::sections() {
            let mut s = serde_json::to_value(section.schema()).unwrap_or_default();
            if let Some(o) = s.as_object_mut() {
                o.insert("description".into(), format!("Settings of the `{}` probe.", section.name).into());
            }
            props.insert(section.name.to_owned(), s);
        }
    }
    if let Some(o) = schema.as_object_mut() {
        o.insert("additionalProperties".into(), false.into());
    }
}

/// The fields every check has, for `unknown field` errors (the probe sections come after).
const COMMON_FIELDS: &[&str] = &[
    "name",
    "host",
    "port",
    "expect",
    "role",
    "feature",
    "direction",
    "offset",
    "over",
    "require",
    "timeout",
    "optional",
    "planned",
    "note",
    "tls",
    "login",
];

fn field_names() -> &'static [&'static str] {
    static NAMES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| COMMON_FIELDS.iter().copied().chain(portproof_probes::sections().map(|s| s.name)).collect())
}

/// Reads one probe section through its owner's deserializer, in the YAML's own stream, so a
/// mistake inside it keeps its line and field.
struct SectionSeed(&'static portproof_probes::Section);

impl<'de> serde::de::DeserializeSeed<'de> for SectionSeed {
    type Value = Options;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Options, D::Error> {
        // `http: null` and a bare `http:` are the same to YAML: both are refused alike (the
        // one was refused by the section's type, the other read as all defaults).
        struct V(&'static portproof_probes::Section);
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Options;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "the {} probe's settings", self.0.name)
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Options, E> {
                Err(E::custom(format_args!(
                    "{} is empty: give the {} probe's settings under it, or drop the key",
                    self.0.name, self.0.name
                )))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Options, A::Error> {
                let d = serde::de::value::MapAccessDeserializer::new(map);
                let mut erased = <dyn erased_serde::Deserializer>::erase(d);
                self.0.deserialize(&mut erased).map_err(serde::de::Error::custom)
            }
        }
        // Through `deserialize_any`, where the YAML parser gives an error the scalar's own
        // position (an empty value reached `deserialize_option` with none).
        d.deserialize_any(V(self.0))
    }
}

/// Reads a check's key and refuses an unknown one there, so the error points at the key's line.
struct KeySeed;

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed {
    type Value = String;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        // Inside the visitor, so the YAML parser adds the key's own position to the error.
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = String;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<String, E> {
                if field_names().contains(&key) {
                    Ok(key.to_owned())
                } else {
                    Err(E::unknown_field(key, field_names()))
                }
            }
        }
        d.deserialize_identifier(V)
    }
}

impl<'de> Deserialize<'de> for RawCheck {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{Error, MapAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawCheck;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a check: a map with name, port and expect")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawCheck, A::Error> {
                #[derive(Deserialize)]
                struct Timeout(#[serde(with = "humantime_opt")] Option<Duration>);
                let mut c = RawCheck::default();
                // Every key once: a second `require:` must not quietly replace the first.
                let mut seen = std::collections::HashSet::new();
                while let Some(key) = map.next_key_seed(KeySeed)? {
                    if !seen.insert(key.clone()) {
                        return Err(A::Error::custom(format_args!("duplicate field `{key}`")));
                    }
                    match key.as_str() {
                        "name" => c.name = map.next_value()?,
                        "host" => c.host = map.next_value()?,
                        "port" => c.port = map.next_value()?,
                        "expect" => c.expect = map.next_value()?,
                        "role" => c.role = map.next_value()?,
                        "feature" => c.feature = map.next_value()?,
                        "direction" => c.direction = map.next_value()?,
                        "offset" => c.offset = map.next_value()?,
                        "over" => c.over = map.next_value()?,
                        "require" => c.require = map.next_value()?,
                        "timeout" => c.timeout = map.next_value::<Timeout>()?.0,
                        "optional" => c.optional = map.next_value()?,
                        "planned" => c.planned = map.next_value()?,
                        "note" => c.note = map.next_value()?,
                        "tls" => c.tls = map.next_value()?,
                        "login" => c.login = map.next_value()?,
                        other => match portproof_probes::section(other) {
                            Some(section) => {
                                let o = map.next_value_seed(SectionSeed(section))?;
                                c.sections.push((section.name.to_owned(), o));
                            }
                            None => unreachable!("KeySeed refuses unknown fields"),
                        },
                    }
                }
                for required in ["name", "port", "expect"] {
                    if !seen.contains(required) {
                        return Err(A::Error::missing_field(required));
                    }
                }
                Ok(c)
            }
        }
        d.deserialize_map(V)
    }
}

impl TryFrom<RawCheck> for CheckSpec {
    type Error = String;
    fn try_from(raw: RawCheck) -> Result<Self, String> {
        let spec = CheckSpec { raw };
        spec.check_shape().map_err(|e| e.to_string())?;
        Ok(spec)
    }
}

impl From<CheckSpec> for RawCheck {
    fn from(c: CheckSpec) -> RawCheck {
        c.raw
    }
}

impl CheckSpec {
    /// The check as written.
    pub fn raw(&self) -> &RawCheck {
        &self.raw
    }

    /// The probe and whether TLS is on, after `expect` aliases and `over`.
    pub fn probe(&self) -> (&'static dyn Probe, Over) {
        if self.is_closed() {
            return (portproof_probes::baseline(), Over::Tcp);
        }
        let (probe, implied) = portproof_probes::resolve_expect(&self.raw.expect).expect("validated on parse");
        let over = if implied { Over::Tls } else { self.raw.over.unwrap_or_else(|| default_over(probe)) };
        (probe, over)
    }

    /// Whether the check says its port must be closed (`expect: closed`).
    pub fn is_closed(&self) -> bool {
        self.raw.expect == CLOSED
    }

    /// Everything that can be checked from the check alone, before defaults and the command
    /// line; an error names the field at fault, so it can be shown at that field's line.
    fn check_shape(&self) -> Result<(), ShapeError> {
        let r = &self.raw;
        let err = |field: &str, message: String| Err(ShapeError { field: field.to_owned(), message });
        if r.name.trim().is_empty() {
            return err("name", "must not be empty".into());
        }
        if r.port == 0 {
            return err("port", format!("0 is not a port: ports are 1..65535 (check {:?})", r.name));
        }
        if self.is_closed() {
            // Nothing is spoken on a closed port: settings for a protocol would be ignored.
            let ignored = [
                (r.over.is_some_and(|o| o != Over::Tcp), "over"),
                (r.require.is_some(), "require"),
                (r.tls.is_some(), "tls"),
                (r.login.is_some(), "login"),
                (r.planned.is_some(), "planned"),
                (!r.sections.is_empty(), r.sections.first().map_or("", |(n, _)| n.as_str())),
            ];
            if let Some((_, field)) = ignored.iter().find(|(set, _)| *set) {
                return err(
                    field,
                    format!("check {:?} expects its port closed, where {field} means nothing; drop it", r.name),
                );
            }
            if let Some(h) = &r.host {
                check_host(h).map_err(|message| ShapeError { field: "host".into(), message })?;
            }
            return Ok(());
        }
        let Some((probe, implied)) = portproof_probes::resolve_expect(&r.expect) else {
            return err(
                "expect",
                format!("unknown protocol {:?} in check {:?}; known: {}", r.expect, r.name, expect_values().join(", ")),
            );
        };
        if implied && r.over == Some(Over::Tcp) {
            return err(
                "over",
                format!("expect {} runs over tls; over: tcp contradicts it (check {:?})", r.expect, r.name),
            );
        }
        let over = if implied { Over::Tls } else { r.over.unwrap_or_else(|| default_over(probe)) };
        if !probe.transports().contains(&over) {
            let can: Vec<String> = probe.transports().iter().map(ToString::to_string).collect();
            return err(
                "over",
                format!("the {} probe runs over {}, not {over} (check {:?})", probe.name(), can.join(" or "), r.name),
            );
        }
        if let Some(tls) = r.tls.as_ref().filter(|_| !probe.about().tls_expectations) {
            let stated: Vec<&str> =
                [(tls.client_auth.is_some(), "client_auth"), (!tls.alpn.is_empty(), "alpn"), (tls.scan, "scan")]
                    .into_iter()
                    .filter_map(|(set, name)| set.then_some(name))
                    .collect();
            if !stated.is_empty() {
                let checker = portproof_probes::registry()
                    .iter()
                    .find(|p| p.about().tls_expectations)
                    .map_or("tls", |p| p.name());
                return err(
                    "tls",
                    format!(
                        "check {:?}: tls.{} is what the {checker} probe checks, and the {} probe would ignore it; add a check with expect: {checker} on this port for it",
                        r.name,
                        stated.join(", tls."),
                        probe.name()
                    ),
                );
            }
        }
        if r.tls.is_some() && over != Over::Tls && !probe.tls_in_band() {
            return err(
                "tls",
                format!(
                    "check {:?} runs over {over}, where tls: settings are not used; run it over TLS (over: tls, or a TLS alias such as {}) or drop tls:",
                    r.name,
                    portproof_probes::registry()
                        .iter()
                        .filter_map(|p| p.tls_alias())
                        .map(|a| format!("expect: {a}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        if let Some(p) = &r.planned
            && portproof_probes::resolve_expect(p).is_some_and(|(pl, _)| pl.name() == probe.name())
        {
            return err("planned", format!("{p:?} is already the probe in use; drop planned (check {:?})", r.name));
        }
        for (section, _) in &r.sections {
            if probe.options().is_none_or(|own| own.name != section) {
                return err(
                    section,
                    format!("settings for the {section} probe, but check {:?} expects {}", r.name, r.expect),
                );
            }
        }
        if r.login.is_some() && !probe.logs_in() {
            return err(
                "login",
                format!("the {} probe does not log in; drop login: from check {:?}", probe.name(), r.name),
            );
        }
        if let Some(req) = r.require
            && req > probe.best_level()
        {
            return err(
                "require",
                format!(
                    "{req} is beyond what the {} probe can prove (at best {}) in check {:?}",
                    probe.name(),
                    probe.best_level(),
                    r.name
                ),
            );
        }
        if let Some(h) = &r.host {
            check_host(h).map_err(|message| ShapeError { field: "host".into(), message })?;
        }
        Ok(())
    }
}

/// What is wrong with a check, and the field at fault.
#[derive(Debug)]
struct ShapeError {
    field: String,
    message: String,
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A host as a check or `--host` gives it: a name or an address, nothing more. A port or
/// brackets written into it would otherwise reach the resolver and come back as `dns.failed`,
/// blaming the network for a typo.
pub fn check_host(h: &str) -> Result<(), String> {
    if h.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if let Some(inner) = h.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
        return Err(format!("{h:?}: write an IPv6 address without brackets ({inner})"));
    }
    if h.contains("://") || h.contains('/') {
        return Err(format!("{h:?} is a URL or path, not a host name or address"));
    }
    if h.contains(':') && h.parse::<std::net::Ipv6Addr>().is_err() {
        return Err(format!(
            "{h:?} is not a host name or address (a port goes in port:, an IPv6 address without brackets)"
        ));
    }
    if h.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{h:?} holds spaces or control characters"));
    }
    Ok(())
}

/// The transport of a check that names none: its probe's first (a UDP probe's is `udp`).
fn default_over(probe: &dyn Probe) -> Over {
    probe.transports().first().copied().unwrap_or_default()
}

mod humantime_opt {
    use std::time::Duration;

    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&portproof_probes::humanize(*d)),
            None => s.serialize_none(),
        }
    }

    /// Parses inside the visitor, so the YAML parser reports the scalar's own line.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Option<Duration>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration like 5s or 500ms")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
                super::parse_duration(s).map(Some).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Self::Value, E> {
                Err(E::custom(format!("bad duration {n}: give a unit, like {n}s or {n}ms")))
            }
        }
        d.deserialize_any(V)
    }
}

/// The longest deadline or wait accepted: longer is a typo, and would overflow clocks.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Parses `5s`, `500ms`, `1m30s`; zero is refused, since it would time out every check.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("bad duration {s:?}: {e} (write it like 5s or 500ms)"))?;
    if d.is_zero() {
        return Err(format!("bad duration {s:?}: must be more than zero"));
    }
    if d > MAX_DURATION {
        return Err(format!("bad duration {s:?}: at most 24h"));
    }
    Ok(d)
}

/// A manifest problem, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// The file (or `<profile NAME>`).
    pub origin: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong, starting with the field's path (`checks[2].port: ...`).
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.origin, self.message),
            (Some(l), None) => write!(f, "{}:{l}: {}", self.origin, self.message),
            _ => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

impl std::error::Error for ManifestError {}

impl Manifest {
    /// A manifest of one check, as the command line describes it (`portproof check`).
    pub fn one(check: CheckSpec) -> Manifest {
        Manifest {
            product: None,
            description: None,
            source: None,
            defaults: Defaults::default(),
            roles: BTreeMap::new(),
            features: BTreeMap::new(),
            any_of: Vec::new(),
            config: Vec::new(),
            checks: vec![check],
        }
    }

    /// Reads and parses a manifest file.
    pub fn load(path: &Path) -> Result<(Manifest, String), ManifestError> {
        let origin = path.display().to_string();
        let src = std::fs::read_to_string(path).map_err(|e| ManifestError {
            origin: origin.clone(),
            line: None,
            column: None,
            message: format!("cannot read: {e}"),
        })?;
        let m = Manifest::parse(&src, &origin)?;
        Ok((m, src))
    }

    /// Parses manifest text; `origin` names it in errors.
    ///
    /// The checks are read as written first and validated after, one by one: validated while
    /// deserializing, an error in any check surfaced at the list's own position (the first
    /// check's line, path `checks`); here it is found at the offending key of its own check.
    pub fn parse(src: &str, origin: &str) -> Result<Manifest, ManifestError> {
        /// [`Manifest`] before its checks are validated.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Doc {
            #[serde(default)]
            product: Option<String>,
            #[serde(default)]
            description: Option<String>,
            #[serde(default)]
            source: Option<String>,
            #[serde(default)]
            defaults: Defaults,
            #[serde(default)]
            roles: BTreeMap<String, String>,
            #[serde(default)]
            features: BTreeMap<String, String>,
            #[serde(default)]
            any_of: Vec<AnyOf>,
            #[serde(default)]
            config: Vec<ConfigSource>,
            checks: Vec<RawCheck>,
        }
        let doc: Doc = yaml_serde::from_str(src).map_err(|e| {
            // A probe section's error crosses an erased deserializer as text: its own position,
            // the innermost, is the one that points at the mistake.
            let text = e.to_string();
            let inner = first_location(&text);
            let loc = e.location();
            ManifestError {
                origin: origin.to_owned(),
                line: inner.map(|l| l.0).or(loc.as_ref().map(|l| l.line())),
                column: inner.map(|l| l.1).or(loc.as_ref().map(|l| l.column())),
                message: collapse_paths(&strip_location(&text)),
            }
        })?;
        if doc.checks.is_empty() {
            return Err(ManifestError {
                origin: origin.to_owned(),
                line: None,
                column: None,
                message: "checks: the manifest has no checks".into(),
            });
        }
        if let Some(h) = &doc.defaults.host {
            check_host(h).map_err(|e| ManifestError {
                origin: origin.to_owned(),
                line: None,
                column: None,
                message: format!("defaults.host: {e}"),
            })?;
        }
        let mut checks = Vec::with_capacity(doc.checks.len());
        for (i, raw) in doc.checks.into_iter().enumerate() {
            let spec = CheckSpec { raw };
            if let Err(e) = spec.check_shape() {
                return Err(at_field(src, origin, i, &e.field, e.message));
            }
            checks.push(spec);
        }
        let m = Manifest {
            product: doc.product,
            description: doc.description,
            source: doc.source,
            defaults: doc.defaults,
            roles: doc.roles,
            features: doc.features,
            any_of: doc.any_of,
            config: doc.config,
            checks,
        };
        m.check_model(src, origin)?;
        Ok(m)
    }

    /// Every name the model's parts use is declared: each check's role and feature, the
    /// checks `any_of` and `config` name.
    fn check_model(&self, src: &str, origin: &str) -> Result<(), ManifestError> {
        let list = |names: &mut dyn Iterator<Item = &String>| names.cloned().collect::<Vec<_>>().join(", ");
        let names: std::collections::HashSet<&str> = self.checks.iter().map(|c| c.raw().name.as_str()).collect();
        if let Some(role) = &self.defaults.role
            && !self.roles.contains_key(role)
        {
            return Err(at_text(
                src,
                origin,
                &format!("role: {role}"),
                format!("defaults.role: {role:?} is not one of roles: ({})", list(&mut self.roles.keys())),
            ));
        }
        for (i, c) in self.checks.iter().enumerate() {
            let r = c.raw();
            match (&r.role, self.roles.is_empty()) {
                (Some(role), true) => {
                    return Err(at_field(
                        src,
                        origin,
                        i,
                        "role",
                        format!("{role:?}: the manifest declares no roles; add it under roles:"),
                    ));
                }
                (Some(role), false) if !self.roles.contains_key(role) => {
                    return Err(at_field(
                        src,
                        origin,
                        i,
                        "role",
                        format!("{role:?} is not one of roles: ({})", list(&mut self.roles.keys())),
                    ));
                }
                (None, false) if self.defaults.role.is_none() => {
                    return Err(at_field(
                        src,
                        origin,
                        i,
                        "role",
                        format!(
                            "check {:?} names no role, and the manifest declares roles ({}): give role: or defaults.role",
                            r.name,
                            list(&mut self.roles.keys())
                        ),
                    ));
                }
                _ => {}
            }
            if let Some(f) = &r.feature
                && !self.features.contains_key(f)
            {
                let known = if self.features.is_empty() {
                    "the manifest declares no features; add it under features:".to_owned()
                } else {
                    format!("it is not one of features: ({})", list(&mut self.features.keys()))
                };
                return Err(at_field(src, origin, i, "feature", format!("{f:?}: {known}")));
            }
        }
        let mut grouped = std::collections::HashMap::new();
        for (g, group) in self.any_of.iter().enumerate() {
            if group.checks.len() < 2 {
                return Err(at_text(
                    src,
                    origin,
                    &group.name,
                    format!("any_of[{g}].checks: a group of one is a plain check; name two or more"),
                ));
            }
            for name in &group.checks {
                let at = |message: String| at_text(src, origin, name, format!("any_of[{g}].checks: {message}"));
                if !names.contains(name.as_str()) {
                    return Err(at(format!("{name:?} is not the name of a check")));
                }
                if let Some(other) = grouped.insert(name.clone(), group.name.clone()) {
                    return Err(at(format!("{name:?} is already in any_of group {other:?}")));
                }
                let check = self.checks.iter().find(|c| &c.raw().name == name).expect("name checked");
                if check.raw().optional {
                    return Err(at(format!(
                        "{name:?} is optional; a member of an any_of group is required unless another member passes"
                    )));
                }
                if check.is_closed() {
                    return Err(at(format!("{name:?} expects its port closed; it cannot stand in for the others")));
                }
            }
        }
        let mut files = std::collections::HashSet::new();
        for (k, source) in self.config.iter().enumerate() {
            if !files.insert(source.file.to_ascii_lowercase()) {
                return Err(at_text(
                    src,
                    origin,
                    &source.file,
                    format!("config[{k}].file: {:?} is given twice", source.file),
                ));
            }
            for (key, checks) in &source.ports {
                for name in checks {
                    if !names.contains(name.as_str()) {
                        return Err(at_text(
                            src,
                            origin,
                            name,
                            format!("config[{k}].ports.{key}: {name:?} is not the name of a check"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// An error about a top-level section, at the first line that holds `needle` (the name at
/// fault), or without a line when none does.
fn at_text(src: &str, origin: &str, needle: &str, message: String) -> ManifestError {
    let loc = src.lines().enumerate().find_map(|(i, l)| l.find(needle).map(|c| (i + 1, c + 1)));
    ManifestError { origin: origin.to_owned(), line: loc.map(|l| l.0), column: loc.map(|l| l.1), message }
}

/// An error about field `field` of check `index`: at that key's line and column (the check's
/// own when it does not name the field), with the path `checks[index].field`.
fn at_field(src: &str, origin: &str, index: usize, field: &str, message: String) -> ManifestError {
    let loc = locate_field(src, index, Some(field)).or_else(|| locate_field(src, index, None));
    ManifestError {
        origin: origin.to_owned(),
        line: loc.map(|l| l.0),
        column: loc.map(|l| l.1),
        message: format!("checks[{index}].{field}: {message}"),
    }
}

/// The first " at line L column C" of a message.
fn first_location(msg: &str) -> Option<(usize, usize)> {
    let i = msg.find(" at line ")?;
    let rest = &msg[i + " at line ".len()..];
    let n = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let line = rest[..n].parse().ok()?;
    let after = rest[n..].strip_prefix(" column ")?;
    let m = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    Some((line, after[..m].parse().ok()?))
}

/// `checks[0]: checks[0].http: unknown field` → `checks[0].http: unknown field`: the paths an
/// error gathers on its way out, each contained in the next.
fn collapse_paths(msg: &str) -> String {
    let parts: Vec<&str> = msg.split(": ").collect();
    let mut i = 0;
    while i + 1 < parts.len() && !parts[i].contains(' ') && parts[i + 1].starts_with(parts[i]) {
        i += 1;
    }
    parts[i..].join(": ")
}

/// yaml_serde puts " at line L column C" into its messages; we print the position in front.
fn strip_location(msg: &str) -> String {
    let stripped = strip_one_location(msg);
    if stripped != msg && stripped.contains(" at line ") { strip_location(&stripped) } else { stripped }
}

fn strip_one_location(msg: &str) -> String {
    let Some(i) = msg.find(" at line ") else { return msg.to_owned() };
    let rest = &msg[i + " at line ".len()..];
    let digits = |s: &str| s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let n = digits(rest);
    let Some(after) = rest[n..].strip_prefix(" column ") else { return msg.to_owned() };
    let m = digits(after);
    format!("{}{}", &msg[..i], &after[m..])
}

/// The line and column where check `index` starts in `src`.
pub fn locate_check(src: &str, index: usize) -> Option<(usize, usize)> {
    locate_field(src, index, None)
}

/// The line and column of key `field` in check `index` (or of the check itself, for `None`),
/// found by parsing again and stopping there: the YAML parser then reports that event's own
/// position. `None` when the check does not write the field.
pub fn locate_field(src: &str, index: usize, field: Option<&str>) -> Option<(usize, usize)> {
    use serde::de::{self, IgnoredAny, MapAccess, Visitor};
    use std::cell::{Cell, RefCell};

    thread_local! {
        static SEEN: Cell<usize> = const { Cell::new(0) };
        static WANTED: Cell<usize> = const { Cell::new(0) };
        static FIELD: RefCell<Option<String>> = const { RefCell::new(None) };
    }
    const MARK: &str = "portproof-locate-check";

    /// A key of the wanted check: stops the parse at the wanted one.
    struct Key;
    impl<'de> Deserialize<'de> for Key {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl Visitor<'_> for V {
                type Value = Key;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a field name")
                }
                fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                    if FIELD.with(|f| f.borrow().as_deref() == Some(key)) { Err(E::custom(MARK)) } else { Ok(Key) }
                }
            }
            d.deserialize_identifier(V)
        }
    }

    struct Marker;
    impl<'de> Deserialize<'de> for Marker {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Marker;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a check")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Marker, A::Error> {
                    let i = SEEN.with(|s| {
                        let i = s.get();
                        s.set(i + 1);
                        i
                    });
                    if i != WANTED.with(Cell::get) {
                        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                        return Ok(Marker);
                    }
                    if FIELD.with(|f| f.borrow().is_none()) {
                        return Err(de::Error::custom(MARK));
                    }
                    while map.next_entry::<Key, IgnoredAny>()?.is_some() {}
                    Ok(Marker)
                }
            }
            d.deserialize_map(V)
        }
    }
    #[derive(Deserialize)]
    struct Doc {
        #[allow(dead_code)]
        checks: Vec<Marker>,
    }

    SEEN.with(|s| s.set(0));
    WANTED.with(|w| w.set(index));
    FIELD.with(|f| *f.borrow_mut() = field.map(str::to_owned));
    let err = yaml_serde::from_str::<Doc>(src).err()?;
    if !err.to_string().contains(MARK) {
        return None;
    }
    err.location().map(|l| (l.line(), l.column()))
}

/// Settings from the command line that apply to a whole manifest.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// Replaces `defaults.host`: the host of every role `role_hosts` does not place (a bare
    /// `--host H`).
    pub host: Option<String>,
    /// Hosts of roles (`--host ROLE=HOST[,HOST...]`): the role's checks run on each.
    pub role_hosts: Vec<(String, Vec<String>)>,
    /// Added to every port that moves (WSO2's port offset, a testbed's shifted ports).
    pub offset: Option<i32>,
    /// The features turned on (`--with`).
    pub with: Vec<String>,
    /// Every feature on (`--all`).
    pub all: bool,
    /// What the product's own configuration files (`--config`) set.
    pub config: Vec<ConfigValues>,
    /// Replaces every check's deadline.
    pub timeout: Option<Duration>,
    /// CA file for TLS checks that name none (a private CA that signs every port of a site).
    pub ca: Option<std::path::PathBuf>,
    /// The folder the manifest's relative file names (`tls.ca`, `login.password_file`) are
    /// in: the manifest file's own; `None` for embedded profiles and the command line.
    pub base: Option<std::path::PathBuf>,
}

/// What one configuration file set, read by [`crate::profile::read_config`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigValues {
    /// Check name → the port the file sets for it and where (`gateway.port in gateway.xml:4`).
    pub ports: Vec<(String, u16, String)>,
    /// The port offset the file sets, and where.
    pub offset: Option<(i32, String)>,
}

/// A check ready to run: its target, probe and pass mark.
#[derive(Clone, Debug)]
pub struct Check {
    /// The name from the manifest (with ` @ HOST` when its role is on several hosts).
    pub name: String,
    /// Where and how to probe.
    pub target: Target,
    /// The probe.
    pub probe: &'static dyn Probe,
    /// What the manifest said in `expect`.
    pub expect: String,
    /// Level needed to pass.
    pub require: Level,
    /// A failing optional check does not fail the run.
    pub optional: bool,
    /// The probe this port will get once it exists.
    pub planned: Option<String>,
    /// Free text from the manifest.
    pub note: Option<String>,
    /// The role whose machine the port is on.
    pub role: Option<String>,
    /// The feature that turned the check on.
    pub feature: Option<String>,
    /// How the port crosses its machine's firewall.
    pub direction: Direction,
    /// Where the port number came from: `default`, `8088 +100 (--offset)`, `gateway.port in
    /// gateway.xml:4`.
    pub port_from: String,
    /// Set when the check passes only if nothing answers: why it must be closed.
    pub closed: Option<String>,
    /// The any_of group the check is in: another member passing on the same host covers it.
    pub any_of: Option<String>,
}

/// The default deadline of one probe attempt.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// One check of a manifest with the model applied (features, offset, configuration files),
/// before it is placed on hosts: what `profile --list`, `firewall` and `ports` read.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// Its index in `checks:`.
    pub index: usize,
    /// Whether the features asked for turn it on.
    pub selected: bool,
    /// Its role (the check's, else `defaults.role`).
    pub role: Option<String>,
    /// Its port, after the offset and configuration files.
    pub port: u16,
    /// Where the port number came from.
    pub port_from: String,
    /// Why it must be closed wherever it is checked from (`expect: closed`, a port set to 0),
    /// if it must.
    pub closed: Option<String>,
    /// Its any_of group.
    pub any_of: Option<String>,
}

/// Whether `host` is this machine's loopback (`127.0.0.0/8`, `::1`, `localhost`). Names are
/// not resolved: a name that happens to point at loopback counts as another machine, so a
/// local-only port there is held to the stricter rule.
pub fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.');
    // `::ffff:127.0.0.1` is IPv4's loopback written as IPv6: the same machine.
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.to_canonical().is_loopback())
}

fn usage(origin: &str, message: String) -> ManifestError {
    ManifestError { origin: origin.to_owned(), line: None, column: None, message }
}

/// Applies features, the offset and configuration files to every check (no hosts yet).
pub fn resolve(m: &Manifest, src: &str, origin: &str, o: &Overrides) -> Result<Vec<Resolved>, ManifestError> {
    for f in &o.with {
        if !m.features.contains_key(f) {
            let known = if m.features.is_empty() {
                "it declares no features".to_owned()
            } else {
                format!("its features are: {}", m.features.keys().cloned().collect::<Vec<_>>().join(", "))
            };
            return Err(usage(origin, format!("--with {f}: no such feature; {known}")));
        }
    }
    // The command line's offset wins over a file's: it is what this run was asked for.
    let offset = match (o.offset, o.config.iter().find_map(|c| c.offset.clone())) {
        (Some(n), _) => Some((n, "--offset".to_owned())),
        (None, Some((n, from))) => Some((n, from)),
        (None, None) => None,
    };
    let group_of = |name: &str| m.any_of.iter().find(|g| g.checks.iter().any(|c| c == name)).map(|g| g.name.clone());
    let mut out = Vec::with_capacity(m.checks.len());
    for (i, spec) in m.checks.iter().enumerate() {
        let r = spec.raw();
        let selected = r.feature.as_ref().is_none_or(|f| o.all || o.with.contains(f));
        let set = o.config.iter().flat_map(|c| &c.ports).find(|(name, _, _)| *name == r.name);
        let moved = |port: u16| -> Result<(u16, String), ManifestError> {
            match (&offset, r.offset.unwrap_or_default()) {
                (Some((n, from)), OffsetRule::Moves) => {
                    let p = u16::try_from(i32::from(port) + n).ok().filter(|p| *p != 0).ok_or_else(|| {
                        at_field(
                            src,
                            origin,
                            i,
                            "port",
                            format!("{port} with offset {n} ({from}) is outside 1..65535 (check {:?})", r.name),
                        )
                    })?;
                    Ok((p, format!("{port} {n:+} ({from})")))
                }
                (Some(_), OffsetRule::Fixed) => Ok((port, "fixed: does not move with the offset".to_owned())),
                (None, _) => Ok((port, "default".to_owned())),
            }
        };
        let mut closed = spec.is_closed().then(|| "expect: closed".to_owned());
        let (port, port_from) = match set {
            Some((_, 0, from)) => {
                let (p, _) = moved(r.port)?;
                closed = Some(format!("{from} is 0: the product does not listen there"));
                (p, format!("{from} = 0 (off); checked closed at {p}"))
            }
            Some((_, p, from)) => (*p, from.clone()),
            None => moved(r.port)?,
        };
        let any_of = if closed.is_some() { None } else { group_of(&r.name) };
        out.push(Resolved {
            index: i,
            selected,
            role: r.role.clone().or_else(|| m.defaults.role.clone()),
            port,
            port_from,
            closed,
            any_of,
        });
    }
    Ok(out)
}

/// The hosts of `role` from the command line, the bare `--host`, or `defaults.host`.
fn role_hosts<'a>(m: &'a Manifest, o: &'a Overrides, role: Option<&str>) -> Option<Vec<String>> {
    if let Some(role) = role
        && let Some((_, hosts)) = o.role_hosts.iter().find(|(r, _)| r == role)
    {
        return Some(hosts.clone());
    }
    o.host.clone().or_else(|| m.defaults.host.clone()).map(|h| vec![h])
}

/// Applies defaults and the command line to every check, and validates each target.
pub fn plan(m: &Manifest, src: &str, origin: &str, o: &Overrides) -> Result<Vec<Check>, ManifestError> {
    for (role, hosts) in &o.role_hosts {
        if !m.roles.contains_key(role) {
            let known = if m.roles.is_empty() {
                "it declares no roles: give a bare --host HOST".to_owned()
            } else {
                format!("its roles are: {}", m.roles.keys().cloned().collect::<Vec<_>>().join(", "))
            };
            return Err(usage(origin, format!("--host {role}=...: no such role; {known}")));
        }
        for h in hosts {
            check_host(h).map_err(|e| usage(origin, format!("--host {role}={h}: {e}")))?;
        }
    }
    let resolved = resolve(m, src, origin, o)?;
    let mut out = Vec::with_capacity(m.checks.len());
    let mut names = std::collections::HashSet::new();
    for (res, spec) in resolved.iter().zip(&m.checks) {
        let i = res.index;
        // The key at fault when the check writes it, else the check's own line.
        let at = |field: &str, message: String| at_field(src, origin, i, field, message);
        let r = spec.raw();
        if !names.insert(r.name.clone()) {
            return Err(at("name", format!("{:?} is used by an earlier check; names must be unique", r.name)));
        }
        if !res.selected {
            continue;
        }
        let hosts = match &r.host {
            Some(h) => vec![h.clone()],
            None => role_hosts(m, o, res.role.as_deref()).ok_or_else(|| match &res.role {
                Some(role) => at(
                    "role",
                    format!(
                        "role {role:?} has no host (check {:?}): give --host {role}=HOST, or a bare --host for every role",
                        r.name
                    ),
                ),
                None => at("host", format!("check {:?} has no host; give host:, defaults.host, or --host", r.name)),
            })?,
        };
        for host in &hosts {
            let mut check = plan_one(m, spec, res, host, o, &at)?;
            if hosts.len() > 1 {
                check.name = format!("{} @ {host}", check.name);
            }
            out.push(check);
        }
    }
    Ok(out)
}

/// One check on one host.
fn plan_one(
    m: &Manifest,
    spec: &CheckSpec,
    res: &Resolved,
    host: &str,
    o: &Overrides,
    at: &dyn Fn(&str, String) -> ManifestError,
) -> Result<Check, ManifestError> {
    let r = spec.raw();
    let direction = r.direction.unwrap_or_default();
    let closed = res.closed.clone().or_else(|| {
        (direction == Direction::LocalOnly && !is_loopback(host))
            .then(|| format!("local-only, and {host} is not this machine's loopback"))
    });
    let (probe, over) = spec.probe();
    let mut target = Target::new(host, res.port);
    target.over = over;
    target.timeout = o.timeout.or(r.timeout).or(m.defaults.timeout).unwrap_or(DEFAULT_TIMEOUT);
    target.tls = r.tls.clone().or_else(|| m.defaults.tls.clone()).unwrap_or_default();
    // Files the manifest names are where the manifest is, wherever portproof runs from.
    if let Some(base) = &o.base {
        for file in [&mut target.tls.ca, &mut target.tls.client_cert, &mut target.tls.client_key] {
            if let Some(f) = file.as_mut().filter(|f| f.is_relative()) {
                *f = base.join(&*f);
            }
        }
    }
    if target.tls.ca.is_none() {
        target.tls.ca = o.ca.clone();
    }
    target.login = r.login.clone();
    if let (Some(base), Some(login)) = (&o.base, target.login.as_mut())
        && let Some(f) = login.password_file.as_mut().filter(|f| f.is_relative())
    {
        *f = base.join(&*f);
    }
    target.options = r.sections.first().map(|(_, o)| o.clone());
    if spec.is_closed() && target.options.is_none() {
        portproof_probes::listen_patiently(&mut target);
    }
    if let Err(f) = probe.validate(&target) {
        // The probe says what is wrong, not where: its own section is the likeliest place,
        // then the check's TLS and login settings.
        let transport = r.over.filter(|_| f.message.contains("over:")).map(|_| "over");
        let field = transport
            .or(r.sections.first().map(|(name, _)| name.as_str()))
            .or(r.tls.as_ref().map(|_| "tls"))
            .or(r.login.as_ref().map(|_| "login"))
            .unwrap_or("expect");
        return Err(at(field, format!("{} (check {:?})", f.message, r.name)));
    }
    // A check's own `require` is held to what its probe can prove (an error below); the
    // manifest-wide default applies as far as each probe can go.
    let require = r
        .require
        .or(m.defaults.require.map(|d| d.min(probe.best_level())))
        .unwrap_or_else(|| probe.default_require(&target));
    if require > probe.best_level() {
        return Err(at(
            "require",
            format!("{require} is beyond what the {} probe can prove (at best {})", probe.name(), probe.best_level()),
        ));
    }
    Ok(Check {
        name: r.name.clone(),
        target,
        probe,
        expect: r.expect.clone(),
        require,
        // A port that must be closed and answers is a finding, "optional" or not: the
        // optional word was about whether the service is in use.
        optional: r.optional && closed.is_none(),
        planned: r.planned.clone(),
        note: r.note.clone(),
        role: res.role.clone(),
        feature: r.feature.clone(),
        direction,
        port_from: res.port_from.clone(),
        any_of: if closed.is_some() { None } else { res.any_of.clone() },
        closed,
    })
}

/// The JSON Schema of manifests, for editors (`portproof schema manifest`).
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Manifest)).expect("schema serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_every_spelling_of_this_machine() {
        for h in ["127.0.0.1", "127.9.9.9", "::1", "[::1]", "::ffff:127.0.0.1", "localhost", "LOCALHOST."] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["192.0.2.2", "::ffff:192.0.2.2", "gateway.example", "0.0.0.0"] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    const GOOD: &str = "\
defaults:
  host: 10.0.0.5
  timeout: 2s
checks:
  - name: Gateway HTTP
    port: 8088
    expect: http
    http:
      path: /StatusPing
      json: { pointer: /state, equals: RUNNING }
  - name: Gateway HTTPS
    port: 8043
    expect: https
    tls: { insecure: true }
  - name: Metro
    host: 10.0.0.6
    port: 8060
    expect: tcp
    planned: tls
    optional: true
";

    fn err(src: &str) -> ManifestError {
        Manifest::parse(src, "m.yaml").unwrap_err()
    }

    #[test]
    fn a_good_manifest_plans_every_check() {
        let m = Manifest::parse(GOOD, "m.yaml").unwrap();
        let checks = plan(&m, GOOD, "m.yaml", &Overrides::default()).unwrap();
        assert_eq!(checks.len(), 3);
        assert_eq!(checks[0].target.host, "10.0.0.5");
        assert_eq!(checks[0].target.timeout, Duration::from_secs(2));
        assert_eq!(checks[0].require, Level::Healthy, "a stated criterion raises the default");
        assert_eq!(checks[1].target.over, Over::Tls);
        assert_eq!(checks[1].probe.name(), "http");
        assert_eq!(checks[1].require, Level::Speaks);
        assert_eq!(checks[2].target.host, "10.0.0.6");
        assert_eq!(checks[2].require, Level::Open, "tcp can prove no more");
        assert!(checks[2].optional);
    }

    #[test]
    fn host_and_offset_come_from_the_command_line() {
        let m = Manifest::parse(GOOD, "m.yaml").unwrap();
        let o = Overrides { host: Some("gw".into()), offset: Some(20000), ..Default::default() };
        let checks = plan(&m, GOOD, "m.yaml", &o).unwrap();
        assert_eq!((checks[0].target.host.as_str(), checks[0].target.port), ("gw", 28088));
        assert_eq!(checks[2].target.host, "10.0.0.6", "an explicit host is kept");
        let o = Overrides { offset: Some(60000), ..Default::default() };
        let e = plan(&m, GOOD, "m.yaml", &o).unwrap_err();
        assert_eq!(e.line, Some(6), "at the port key: {e}");
        assert!(e.message.contains("checks[0].port") && e.message.contains("60000"), "{e}");
    }

    #[test]
    fn a_missing_host_names_the_line_of_its_check() {
        let src = "checks:\n  - name: a\n    host: h\n    port: 1\n    expect: tcp\n  - name: b\n    port: 2\n    expect: tcp\n";
        let m = Manifest::parse(src, "m.yaml").unwrap();
        let e = plan(&m, src, "m.yaml", &Overrides::default()).unwrap_err();
        assert_eq!(e.line, Some(6), "{e}");
        assert!(e.message.contains("checks[1].host"), "{e}");
        assert!(e.to_string().starts_with("m.yaml:6:"), "{e}");
    }

    #[test]
    fn bad_input_names_file_line_and_field() {
        let cases: &[(&str, usize, &str)] = &[
            ("checks:\n  - name: a\n    port: 70000\n    expect: tcp\n", 3, "port"),
            ("checks:\n  - name: a\n    port: 80\n    expect: gopher\n", 4, "gopher"),
            ("checks:\n  - name: a\n    port: 80\n    expect: tcp\n    prot: 1\n", 5, "prot"),
            ("checks:\n  - name: a\n    port: 80\n    expect: http\n    http: { pathh: / }\n", 5, "pathh"),
            ("checks:\n  - name: a\n    port: 80\n    expect: http\n    timeout: soon\n", 5, "soon"),
            ("checks:\n  - name: a\n    port: 80\n    expect: http\n    timeout: 5\n", 5, "5s"),
            ("checks:\n  - name: a\n    port: 80\n    expect: tcp\n    require: healthy\n", 5, "checks[0].require"),
            ("checks:\n  - name: a\n    port: 80\n    expect: tcp\n    http: { path: / }\n", 5, "checks[0].http"),
            ("checks:\n  - name: a\n    port: 80\n    expect: http\n    http: { status: [700] }\n", 5, "700"),
            ("defaults: { host: h }\nchecks:\n  - name: a\n    port: 0\n    expect: tcp\n", 4, "checks[0].port"),
            ("checks:\n  - name: a\n    port: 80\n    expect: tcp\n  -: [\n", 5, "while parsing"),
            (
                "checks:\n  - name: a\n    port: 80\n    expect: http\n    require: healthy\n    require: open\n",
                2,
                "duplicate field `require`",
            ),
        ];
        for (src, line, needle) in cases {
            let e = err(src);
            assert_eq!(e.origin, "m.yaml");
            assert_eq!(e.line, Some(*line), "{src}\n=> {e}");
            assert!(e.message.contains(needle), "{src}\n=> {e}");
        }
    }

    #[test]
    fn positions_are_moved_out_of_messages() {
        assert_eq!(strip_location("x: bad at line 3 column 7"), "x: bad");
        assert_eq!(
            strip_location("did not find '-' at line 5 column 3, while parsing"),
            "did not find '-', while parsing"
        );
        assert_eq!(strip_location("at line unknown"), "at line unknown");
    }

    #[test]
    fn an_empty_manifest_is_refused() {
        assert!(err("checks: []\n").message.contains("no checks"));
        assert!(err("defaults: {}\n").message.contains("checks"));
    }

    #[test]
    fn probe_validation_errors_name_the_check() {
        let src = "checks:\n  - name: a\n    host: h\n    port: 80\n    expect: http\n    http: { body_regex: '(' }\n";
        let m = Manifest::parse(src, "m.yaml").unwrap();
        let e = plan(&m, src, "m.yaml", &Overrides::default()).unwrap_err();
        assert_eq!((e.line, e.column), (Some(6), Some(5)), "at the probe's section: {e}");
        assert!(e.message.contains("checks[0].http") && e.message.contains("body_regex"), "{e}");
    }

    #[test]
    fn a_default_requirement_stops_at_what_each_probe_can_prove() {
        let src = "defaults: {host: h, require: healthy}\nchecks:\n  - {name: a, port: 1, expect: tcp}\n  - {name: b, port: 2, expect: http}\n";
        let m = Manifest::parse(src, "m.yaml").unwrap();
        let checks = plan(&m, src, "m.yaml", &Overrides::default()).unwrap();
        assert_eq!((checks[0].require, checks[1].require), (Level::Open, Level::Healthy));
    }

    #[test]
    fn a_transport_the_probe_does_not_list_is_refused() {
        // Nothing runs HTTP over UDP: silently running it over TCP would report a pass for a
        // transport that was never tried.
        let e = err("checks:\n  - name: a\n    host: h\n    port: 80\n    expect: http\n    over: udp\n");
        assert_eq!(e.line, Some(6), "{e}");
        assert!(
            e.message.contains("checks[0].over:") && e.message.contains("udp") && e.message.contains("tcp or tls"),
            "{e}"
        );
        let src = "checks:\n  - {name: a, host: h, port: 80, expect: http}\n";
        let m = Manifest::parse(src, "m.yaml").unwrap();
        let checks = plan(&m, src, "m.yaml", &Overrides::default()).unwrap();
        assert_eq!(checks[0].target.over, Over::Tcp, "the probe's first transport");
    }

    #[test]
    fn durations_are_bounded() {
        assert!(parse_duration("25h").unwrap_err().contains("24h"));
        assert!(parse_duration("0s").is_err());
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
    }

    #[test]
    fn duplicate_names_are_refused() {
        let src =
            "defaults: {host: h}\nchecks:\n  - {name: a, port: 1, expect: tcp}\n  - {name: a, port: 2, expect: tcp}\n";
        let m = Manifest::parse(src, "m.yaml").unwrap();
        let e = plan(&m, src, "m.yaml", &Overrides::default()).unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
    }

    #[test]
    fn the_schema_names_every_field_and_probe() {
        let s = schema().to_string();
        for needle in [
            "\"checks\"",
            "\"expect\"",
            "\"json\"",
            "\"pointer\"",
            "\"https\"",
            "\"tcp\"",
            "\"client_cert\"",
            "\"planned\"",
        ] {
            assert!(s.contains(needle), "schema lacks {needle}");
        }
    }

    #[test]
    fn the_model_refuses_names_it_does_not_declare() {
        let cases: &[(&str, Option<usize>, &str)] = &[
            ("checks:\n  - {name: a, port: 1, expect: tcp, feature: x}\n", Some(2), "declares no features"),
            (
                "features: {y: why}\nchecks:\n  - name: a\n    port: 1\n    expect: tcp\n    feature: x\n",
                Some(6),
                "not one of features: (y)",
            ),
            ("checks:\n  - {name: a, port: 1, expect: tcp, role: db}\n", Some(2), "declares no roles"),
            ("roles: {db: d, gw: g}\nchecks:\n  - {name: a, port: 1, expect: tcp}\n", Some(3), "names no role"),
            (
                "roles: {gw: g}\ndefaults: {role: db}\nchecks:\n  - {name: a, port: 1, expect: tcp}\n",
                Some(2),
                "defaults.role",
            ),
            (
                "any_of:\n  - {name: web, checks: [a, nope]}\nchecks:\n  - {name: a, port: 1, expect: tcp}\n",
                Some(2),
                "\"nope\" is not the name of a check",
            ),
            (
                "any_of:\n  - {name: web, checks: [a, b]}\nchecks:\n  - {name: a, port: 1, expect: tcp}\n  - {name: b, port: 2, expect: tcp, optional: true}\n",
                Some(2),
                "is optional",
            ),
            (
                "any_of:\n  - {name: web, checks: [a]}\nchecks:\n  - {name: a, port: 1, expect: tcp}\n",
                Some(2),
                "group of one",
            ),
            (
                "config:\n  - {file: g.xml, format: xml-entries, ports: {p: [zz]}}\nchecks:\n  - {name: a, port: 1, expect: tcp}\n",
                Some(2),
                "\"zz\" is not the name of a check",
            ),
            ("config:\n  - {file: g.xml, format: ini}\nchecks:\n  - {name: a, port: 1, expect: tcp}\n", Some(2), "ini"),
            ("checks:\n  - {name: a, port: 1, expect: tcp, direction: sideways}\n", Some(2), "sideways"),
            ("checks:\n  - name: a\n    port: 1\n    expect: closed\n    require: open\n", Some(5), "closed"),
            ("checks:\n  - name: a\n    port: 80\n    expect: closed\n    http: { path: / }\n", Some(5), "closed"),
        ];
        for (src, line, needle) in cases {
            let e = err(src);
            assert_eq!(e.line, *line, "{src}\n=> {e}");
            assert!(e.message.contains(needle), "{src}\n=> {e}");
        }
    }

    #[test]
    fn expect_closed_listens_with_the_connect_only_probe() {
        let src = "checks:\n  - {name: shut, host: 10.0.0.1, port: 23, expect: closed}\n";
        let m = Manifest::parse(src, "m.yaml").unwrap();
        let c = &plan(&m, src, "m.yaml", &Overrides::default()).unwrap()[0];
        assert_eq!(c.probe.name(), portproof_probes::baseline().name());
        assert_eq!(c.closed.as_deref(), Some("expect: closed"));
        assert_eq!(c.any_of, None);
    }

    #[test]
    fn a_manifest_round_trips_through_yaml() {
        let m = Manifest::parse(GOOD, "m.yaml").unwrap();
        let again = yaml_serde::to_string(&m).unwrap();
        let m2 = Manifest::parse(&again, "again").unwrap();
        assert_eq!(m2.checks.len(), 3);
        assert_eq!(m2.defaults.timeout, Some(Duration::from_secs(2)));
    }
}
