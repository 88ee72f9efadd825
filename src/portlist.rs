//! A product's ports as one neutral list, for the commands that act on ports rather than probe
//! them (`portproof firewall`, `portproof ports`).
//!
//! A [`PortEntry`] says what a port is for (check name, role, feature), which way it is used
//! (inbound, outbound, local only), its transport and number, and where the number came from.
//! It is built from the profile model ([`profile::port_model`]: features selected, offset rules
//! and configuration files applied) in one function, [`entries`]: the commands read entries,
//! never the manifest.

use std::path::Path;

use serde::Serialize;

use crate::manifest::{Manifest, Overrides};
use crate::profile;

pub use crate::manifest::Direction;
pub use crate::profile::Transport;

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

/// What the command line says about the ports to list, besides the profile's name.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Added to every port that moves with the offset.
    pub offset: Option<i32>,
    /// The features turned on.
    pub with: Vec<String>,
    /// Every feature on.
    pub all: bool,
    /// The product's configuration files (`FILE` or `NAME=FILE`).
    pub config: Vec<String>,
}

/// Reads the profile `name` (`portproof profiles`), or the manifest file `name` when it is a
/// path (it names a `.yaml`/`.yml` file or holds a `/`), and lists the ports the profile's
/// model selects: its features as `sel` turns them on, its offset rules and configuration
/// files applied. Errors name the file, line and field, as `portproof run` does.
pub fn load(name: &str, sel: &Selection) -> Result<Listing, String> {
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
    let mut o = Overrides { offset: sel.offset, with: sel.with.clone(), all: sel.all, ..Overrides::default() };
    for c in &sel.config {
        o.config.push(profile::read_config(&m, c)?);
    }
    let model = profile::port_model(&m, &src, &origin, &o).map_err(|e| e.to_string())?;
    let shown = Path::new(name).file_stem().map_or(name.to_owned(), |s| s.to_string_lossy().into_owned());
    let product = m.product.clone().or_else(|| m.description.clone()).unwrap_or_else(|| shown.clone());
    Ok(Listing {
        name: if is_path { shown } else { name.to_owned() },
        document: m.source.clone(),
        entries: entries(&model),
        product,
        offset: sel.offset,
    })
}

/// The one conversion from the profile model to port entries: the checks the selection turns
/// on, except those whose port must be closed (`expect: closed`, a port set to 0): nothing is
/// opened or expected to be held for them.
pub fn entries(model: &[profile::PortEntry]) -> Vec<PortEntry> {
    model
        .iter()
        .filter(|e| e.selected && e.closed.is_none())
        .map(|e| PortEntry {
            product: e.product.clone(),
            name: e.check.clone(),
            role: e.role.clone(),
            feature: e.feature.clone(),
            direction: e.direction,
            transport: e.transport,
            port: e.port,
            source: Some(e.port_from.clone()).filter(|f| f != "default"),
            note: e.note.clone(),
        })
        .collect()
}

/// The entries for one machine: `role` (every entry when the profile has no roles, or only
/// one). A role the profile does not have is an error naming the ones it has. Features are the
/// model's to select ([`load`]).
pub fn select(entries: &[PortEntry], role: Option<&str>) -> Result<Vec<PortEntry>, String> {
    let roles = distinct(entries.iter().filter_map(|e| e.role.as_deref()));
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
    Ok(entries.iter().filter(|e| role.is_none_or(|r| e.role.as_deref() == Some(r))).cloned().collect())
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

    fn sel(offset: Option<i32>, with: &[&str]) -> Selection {
        Selection { offset, with: with.iter().map(|w| (*w).to_owned()).collect(), ..Selection::default() }
    }

    #[test]
    fn a_profile_lists_the_checks_its_features_turn_on_with_role_and_transport() {
        let l = load("ignition", &sel(None, &[])).unwrap();
        assert_eq!(l.product, "Inductive Automation Ignition 8.3 gateway");
        let names: Vec<&str> = l.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["Gateway HTTP", "Gateway HTTPS"], "features are off unless asked for");
        let http = &l.entries[0];
        assert_eq!((http.name.as_str(), http.port, http.transport), ("Gateway HTTP", 8088, Transport::Tcp));
        assert_eq!((http.direction, http.role.as_deref()), (Direction::Inbound, Some("gateway")));
        let l = load("ignition", &sel(None, &["gan", "opcua", "postgres"])).unwrap();
        let ports: Vec<(u16, Option<&str>)> = l.entries.iter().map(|e| (e.port, e.role.as_deref())).collect();
        assert!(ports.contains(&(8060, Some("gateway"))) && ports.contains(&(4840, Some("gateway"))));
        assert!(ports.contains(&(5432, Some("database"))), "{ports:?}");
        // TLS ports are TCP to a firewall.
        assert!(l.entries.iter().all(|e| e.transport == Transport::Tcp));
        let all = load("ignition", &Selection { all: true, ..Selection::default() }).unwrap();
        assert!(all.entries.len() > l.entries.len());
    }

    #[test]
    fn local_only_ports_keep_their_direction() {
        let l = load("pads4", &sel(None, &[])).unwrap();
        let broker = l.entries.iter().find(|e| e.port == 5672).expect("the local broker");
        assert_eq!(broker.direction, Direction::LocalOnly);
    }

    #[test]
    fn an_offset_moves_every_port_and_says_so() {
        let l = load("wso2-mb", &sel(Some(100), &[])).unwrap();
        assert_eq!(l.entries[0].port, 9543);
        assert!(l.entries[0].source.as_deref().is_some_and(|s| s.starts_with("9443 +100")), "{:?}", l.entries[0]);
        let e = load("ignition", &sel(Some(60000), &[])).unwrap_err();
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
        let l = load(path.to_str().unwrap(), &sel(None, &[])).unwrap();
        assert_eq!((l.name.as_str(), l.product.as_str()), ("time", "Clock"));
        assert_eq!((l.entries[0].port, l.entries[0].transport), (123, Transport::Udp));
    }

    #[test]
    fn unknown_names_roles_and_features_are_refused_with_what_exists() {
        assert!(load("nope", &sel(None, &[])).unwrap_err().contains("ignition, pads4, wso2-mb"));
        let e = load("ignition", &sel(None, &["frobnicate"])).unwrap_err();
        assert!(e.contains("frobnicate") && e.contains("opcua"), "{e}");
        let mut v = vec![entry("A", 1, Transport::Tcp, Direction::Inbound)];
        assert!(select(&v, Some("gateway")).unwrap_err().contains("its roles: none"));
        v.push(PortEntry { role: Some("gateway".into()), ..entry("B", 2, Transport::Tcp, Direction::Inbound) });
        v.push(PortEntry { role: Some("database".into()), ..entry("C", 3, Transport::Tcp, Direction::Inbound) });
        assert!(select(&v, None).unwrap_err().contains("gateway, database"));
        let names = |s: Vec<PortEntry>| s.into_iter().map(|e| e.name).collect::<Vec<_>>();
        assert_eq!(names(select(&v, Some("gateway")).unwrap()), ["B"]);
        assert_eq!(names(select(&v, Some("database")).unwrap()), ["C"]);
    }
}
