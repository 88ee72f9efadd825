//! A product's ports as one neutral list, for the commands that act on ports rather than probe
//! them (`portproof firewall`, `portproof ports`).
//!
//! A [`PortEntry`] says what a port is for (check name, role, feature), which way it is used
//! (inbound, outbound, local only), its transport and number, and where the number came from.
//! It is built from a manifest and its planned checks in one function, [`entries`], so that
//! when profiles learn roles, features, directions and port sources, only that function
//! changes: the commands read entries, never the manifest.

use std::path::Path;

use portproof_probes::Over;
use serde::Serialize;

use crate::manifest::{self, Check, Manifest, Overrides};
use crate::profile;

/// Which way a port is used, as the vendor's document says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Other machines connect to this one on it: a firewall must let it in.
    Inbound,
    /// This machine connects out to it elsewhere: nothing to open inbound here.
    Outbound,
    /// Used on this machine only ("used locally only"): must not be reachable from elsewhere.
    LocalOnly,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::LocalOnly => "local only",
        })
    }
}

/// The transport a port is opened for: TLS runs over TCP, so a firewall sees TCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// TCP (plain, or TLS over it).
    Tcp,
    /// UDP datagrams.
    Udp,
}

impl Transport {
    /// `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One port of a product.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortEntry {
    /// The product, as the profile names it.
    pub product: String,
    /// The check's name (what the port is for).
    pub name: String,
    /// The machine the port is on (`gateway`, `database`, ...); `None`: the product's own.
    pub role: Option<String>,
    /// The feature that needs it (`opcua`, `gan`, ...); `None`: always needed.
    pub feature: Option<String>,
    /// Which way it is used.
    pub direction: Direction,
    /// TCP or UDP.
    pub transport: Transport,
    /// The port, after any offset.
    pub port: u16,
    /// Where the number came from (the profile's default and the offset rule applied, a key
    /// of the product's configuration file); `None`: the profile's number as written.
    pub source: Option<String>,
    /// Why the port is there, from the profile.
    pub note: Option<String>,
}

/// A product's port list and what it came from.
#[derive(Clone, Debug)]
pub struct Listing {
    /// The name the user gave (a profile's, or a manifest's file name).
    pub name: String,
    /// The product (the manifest's `product`, else its description, else its name).
    pub product: String,
    /// The vendor document the ports come from, when the manifest says.
    pub document: Option<String>,
    /// The offset applied, if any.
    pub offset: Option<i32>,
    /// The ports, in manifest order.
    pub entries: Vec<PortEntry>,
}

/// Reads the profile `name` (`portproof profiles`), or the manifest file `name` when it is a
/// path (it names a `.yaml`/`.yml` file or holds a `/`), and lists its ports with `offset`
/// applied. Errors name the file, line and field, as `portproof run` does.
pub fn load(name: &str, offset: Option<i32>) -> Result<Listing, String> {
    let is_path = name.contains('/') || name.ends_with(".yaml") || name.ends_with(".yml");
    let (m, src, origin) = if let Some(p) = profile::find(name).filter(|_| !is_path) {
        (p.manifest().map_err(|e| e.to_string())?, p.yaml.to_owned(), p.origin())
    } else if is_path {
        let (m, src) = Manifest::load(Path::new(name)).map_err(|e| e.to_string())?;
        (m, src, name.to_owned())
    } else {
        return Err(format!(
            "no profile {name:?}; the profiles are: {} (or give a manifest file)",
            profile::names().join(", ")
        ));
    };
    // The host does not matter here: the checks are planned only to get each port's number
    // and transport the way `profile` and `run` would.
    let o = Overrides { host: Some("localhost".into()), offset, ..Overrides::default() };
    let checks = manifest::plan(&m, &src, &origin, &o).map_err(|e| e.to_string())?;
    let shown = Path::new(name).file_stem().map_or(name.to_owned(), |s| s.to_string_lossy().into_owned());
    let product = m.product.clone().or_else(|| m.description.clone()).unwrap_or_else(|| shown.clone());
    Ok(Listing {
        name: if is_path { shown } else { name.to_owned() },
        document: m.source.clone(),
        entries: entries(&m, &checks, &product, offset),
        product,
        offset,
    })
}

/// The one conversion from today's manifest to port entries: every check is the product's
/// own machine's (no role), always needed (no feature), inbound, on its probe's transport
/// (UDP for `over: udp`, else TCP: TLS is TCP to a firewall). `checks` are `m`'s checks as
/// [`manifest::plan`] made them, in the same order.
pub fn entries(m: &Manifest, checks: &[Check], product: &str, offset: Option<i32>) -> Vec<PortEntry> {
    m.checks
        .iter()
        .zip(checks)
        .map(|(spec, check)| PortEntry {
            product: product.to_owned(),
            name: check.name.clone(),
            role: None,
            feature: None,
            direction: Direction::Inbound,
            transport: match check.target.over {
                Over::Udp => Transport::Udp,
                Over::Tcp | Over::Tls => Transport::Tcp,
            },
            port: check.target.port,
            source: offset.filter(|&o| o != 0).map(|o| format!("{} {o:+} (offset)", spec.raw().port)),
            note: check.note.clone(),
        })
        .collect()
}

/// The entries for one machine: `role` (every entry when the profile has no roles, or only
/// one), and the entries of no feature plus those of the features in `with`. A role or
/// feature the profile does not have is an error naming the ones it has.
pub fn select(entries: &[PortEntry], role: Option<&str>, with: &[String]) -> Result<Vec<PortEntry>, String> {
    let roles = distinct(entries.iter().filter_map(|e| e.role.as_deref()));
    let features = distinct(entries.iter().filter_map(|e| e.feature.as_deref()));
    let list = |v: &[&str]| if v.is_empty() { "none".to_owned() } else { v.join(", ") };
    match role {
        Some(r) if !roles.contains(&r) => {
            return Err(format!("--role {r}: the profile has no such role (its roles: {})", list(&roles)));
        }
        None if roles.len() > 1 => {
            return Err(format!("the profile's ports are on several machines: give --role ({})", list(&roles)));
        }
        _ => {}
    }
    for f in with {
        if !features.contains(&f.as_str()) {
            return Err(format!("--with {f}: the profile has no such feature (its features: {})", list(&features)));
        }
    }
    Ok(entries
        .iter()
        .filter(|e| role.is_none_or(|r| e.role.as_deref() == Some(r)))
        .filter(|e| e.feature.as_ref().is_none_or(|f| with.contains(f)))
        .cloned()
        .collect())
}

fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An entry for the renderers' tests.
    pub(crate) fn entry(name: &str, port: u16, transport: Transport, direction: Direction) -> PortEntry {
        PortEntry {
            product: "Acme".into(),
            name: name.into(),
            role: None,
            feature: None,
            direction,
            transport,
            port,
            source: None,
            note: None,
        }
    }

    #[test]
    fn a_profile_lists_every_check_inbound_on_its_transport() {
        let l = load("ignition", None).unwrap();
        assert_eq!(l.product, "Inductive Automation Ignition 8.3 gateway");
        assert_eq!(l.entries.len(), 10);
        let http = &l.entries[0];
        assert_eq!((http.name.as_str(), http.port, http.transport), ("Gateway HTTP", 8088, Transport::Tcp));
        assert_eq!((http.direction, http.role.as_deref(), http.source.as_deref()), (Direction::Inbound, None, None));
        // TLS ports are TCP to a firewall.
        assert!(l.entries.iter().all(|e| e.transport == Transport::Tcp));
    }

    #[test]
    fn an_offset_moves_every_port_and_says_so() {
        let l = load("wso2-mb", Some(100)).unwrap();
        assert_eq!(l.entries[0].port, 9543);
        assert_eq!(l.entries[0].source.as_deref(), Some("9443 +100 (offset)"));
        let e = load("ignition", Some(60000)).unwrap_err();
        assert!(e.contains("outside 1..65535") && e.contains("<profile ignition>"), "{e}");
    }

    #[test]
    fn udp_checks_are_udp_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("time.yaml");
        std::fs::write(
            &path,
            "product: Clock\ndefaults: {host: h}\nchecks:\n  - {name: NTP, port: 123, expect: ntp}\n",
        )
        .unwrap();
        let l = load(path.to_str().unwrap(), None).unwrap();
        assert_eq!((l.name.as_str(), l.product.as_str()), ("time", "Clock"));
        assert_eq!((l.entries[0].port, l.entries[0].transport), (123, Transport::Udp));
    }

    #[test]
    fn unknown_names_roles_and_features_are_refused_with_what_exists() {
        assert!(load("nope", None).unwrap_err().contains("ignition, pads4, wso2-mb"));
        let mut v = vec![entry("A", 1, Transport::Tcp, Direction::Inbound)];
        assert!(select(&v, Some("gateway"), &[]).unwrap_err().contains("its roles: none"));
        assert!(select(&v, None, &["opcua".into()]).unwrap_err().contains("its features: none"));
        v.push(PortEntry {
            role: Some("gateway".into()),
            feature: Some("opcua".into()),
            ..entry("B", 2, Transport::Tcp, Direction::Inbound)
        });
        v.push(PortEntry { role: Some("database".into()), ..entry("C", 3, Transport::Tcp, Direction::Inbound) });
        assert!(select(&v, None, &[]).unwrap_err().contains("gateway, database"));
        let names = |s: Vec<PortEntry>| s.into_iter().map(|e| e.name).collect::<Vec<_>>();
        assert_eq!(names(select(&v, Some("gateway"), &[]).unwrap()), Vec::<String>::new());
        assert_eq!(names(select(&v, Some("gateway"), &["opcua".into()]).unwrap()), ["B"]);
        assert_eq!(names(select(&v, Some("database"), &[]).unwrap()), ["C"]);
    }
}
