//! Settings of the `websocket` probe: the endpoint's path and the request's extra headers.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::options::{Flag, Section};

fn default_path() -> String {
    "/".into()
}
fn is_default_path(p: &str) -> bool {
    p == "/"
}

/// Settings of the `websocket` probe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebsocketOptions {
    /// The endpoint's path with its query, starting with `/` (default `/`).
    #[serde(default = "default_path", skip_serializing_if = "is_default_path")]
    pub path: String,
    /// Extra request headers: `Authorization` (API Manager wants `Bearer TOKEN`), `Origin`,
    /// `Sec-WebSocket-Protocol`; `Host` here replaces the default. The handshake's own headers
    /// (Upgrade, Connection, Sec-WebSocket-Key, -Version, -Extensions) cannot be replaced.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

impl Default for WebsocketOptions {
    fn default() -> Self {
        WebsocketOptions { path: default_path(), headers: BTreeMap::new() }
    }
}

/// The `websocket` section and its command-line flags.
pub static SECTION: Section = Section::of::<WebsocketOptions>("websocket", FLAGS);

// `--path` and `--header` are the http probe's flags too: one flag, each probe its own key.
const FLAGS: &[Flag] = &[
    Flag::value("path", "path", "PATH", "HTTP and WebSocket: request path (Ignition: /StatusPing)"),
    Flag::value("header", "headers", "NAME:VALUE", "HTTP and WebSocket: extra request header (repeatable)")
        .short('H')
        .custom(headers)
        .repeatable(),
];

fn headers(v: &[String]) -> Result<Vec<(&'static str, serde_json::Value)>, String> {
    let mut map = serde_json::Map::new();
    for hv in v {
        let (k, val) = hv.split_once(':').ok_or_else(|| format!("{hv:?}: write NAME:VALUE"))?;
        map.insert(k.trim().to_owned(), val.trim().into());
    }
    Ok(vec![("headers", map.into())])
}
