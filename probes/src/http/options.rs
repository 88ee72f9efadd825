//! Settings of the `http` probe: the request, and what a healthy answer looks like.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::options::{Flag, FlagKind, Section};

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
    /// What the answer's `Location` header must start with, like `https://`: a server set to
    /// force HTTPS (Ignition's `gateway.forceSecureRedirect`) must redirect there. Give it with
    /// `status: [3xx]` and `follow_redirects: false`, so the redirect itself is what is graded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
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
            location: None,
        }
    }
}

impl HttpOptions {
    /// Whether any health criterion was stated; if so a check requires `healthy` by default.
    pub fn has_criteria(&self) -> bool {
        self.status.is_some()
            || self.body_contains.is_some()
            || self.body_regex.is_some()
            || self.json.is_some()
            || self.location.is_some()
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

/// The `http` section and its command-line flags.
pub static SECTION: Section = Section::of::<HttpOptions>("http", FLAGS);

const FLAGS: &[Flag] = &[
    Flag::value("method", "method", "METHOD", "HTTP: request method [default: GET]").custom(method),
    Flag::value("path", "path", "PATH", "HTTP and WebSocket: request path (Ignition: /StatusPing)"),
    Flag::value("header", "headers", "NAME:VALUE", "HTTP and WebSocket: extra request header (repeatable)").short('H').custom(headers).repeatable(),
    Flag::value("status", "status", "CODE", "HTTP: healthy status, a code or a class like 2xx (repeatable)").list(),
    Flag::value("body-contains", "body_contains", "TEXT", "HTTP: text the body must contain"),
    Flag::value("body-regex", "body_regex", "REGEX", "HTTP: regular expression the body must match"),
    Flag::value(
        "json-field",
        "json",
        "POINTER=VALUE",
        "HTTP: JSON field that must hold a value, like state=RUNNING (VALUE is JSON when it parses as JSON, text otherwise)",
    )
    .custom(json_field),
    Flag {
        long: "no-follow",
        short: None,
        key: "follow_redirects",
        kind: FlagKind::SwitchOff,
        value_name: "",
        possible: &[],
        help: "HTTP: do not follow same-host redirects",
        repeat: false,
    },
    Flag::value("max-body", "max_body", "BYTES", "HTTP: most body bytes to read"),
    Flag::value("location", "location", "PREFIX", "HTTP: what the Location header must start with, like https://"),
];

fn method(v: &[String]) -> Result<Vec<(&'static str, serde_json::Value)>, String> {
    let m = v.last().ok_or("needs a value")?;
    Ok(vec![("method", m.to_ascii_uppercase().into())])
}

fn headers(v: &[String]) -> Result<Vec<(&'static str, serde_json::Value)>, String> {
    let mut map = serde_json::Map::new();
    for hv in v {
        let (k, val) = hv.split_once(':').ok_or_else(|| format!("{hv:?}: write NAME:VALUE"))?;
        map.insert(k.trim().to_owned(), val.trim().into());
    }
    Ok(vec![("headers", map.into())])
}

fn json_field(v: &[String]) -> Result<Vec<(&'static str, serde_json::Value)>, String> {
    let j = v.last().ok_or("needs a value")?;
    let (pointer, value) =
        j.split_once('=').ok_or_else(|| format!("{j:?}: write POINTER=VALUE, like state=RUNNING"))?;
    let equals = serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
    Ok(vec![("json", serde_json::json!({ "pointer": pointer, "equals": equals }))])
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
    fn criteria_are_what_raises_the_default_requirement() {
        assert!(!HttpOptions::default().has_criteria());
        let o = HttpOptions { body_contains: Some("ok".into()), ..Default::default() };
        assert!(o.has_criteria());
        let o = HttpOptions { location: Some("https://".into()), ..Default::default() };
        assert!(o.has_criteria(), "a stated Location is a criterion");
    }
}
