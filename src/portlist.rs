//! A product's ports as one neutral list, for the commands that act on ports rather than probe
//! them (`portproof firewall`, `portproof ports`).
//!
//! A [`PortEntry`] says what a port is for (check name, role, feature), which way it is used
//! (inbound, outbound, local only), its transport and number, and where the number came from.
//! It is built from the profile model ([`profile::port_model`]: features selected, offset rules
//! and configuration files applied) in one function, [`entries`]: the commands read entries,
//! never the manifest.

use std::collections::BTreeMap;
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
    /// The roles the profile declares, with what each is (empty for a manifest without
    /// roles).
    pub roles: BTreeMap<String, String>,
    /// The features the selection turned on, in name order.
    pub features_on: Vec<String>,
    /// The ports, in manifest order.
    pub entries: Vec<PortEntry>,
    /// The profile's ports that are not in `entries`, and why: the commands name them so that
    /// their absence reads as intended, not as forgotten.
    pub left_out: Vec<LeftOut>,
}

/// A port of the profile that the selection does not list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LeftOut {
    /// The port, as it would be listed.
    #[serde(flatten)]
    pub entry: PortEntry,
    /// Why it is not listed.
    pub why: Why,
}

/// Why a port of the profile is not listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Why {
    /// Its feature (the entry's `feature`) is not turned on (`--with`, `--all`).
    FeatureOff,
    /// The port must be closed (`expect: closed`, a configuration file setting it to 0): the
    /// text says why, as the profile model does.
    Closed(String),
}

/// The ports for one machine, from [`select`].
#[derive(Clone, Debug)]
pub struct Selected {
    /// The role whose machine these are (the one asked for, or the only one of the ports),
    /// with what it is; `None` for a profile without roles.
    pub role: Option<(String, String)>,
    /// Whether the profile declares more than one role, so that the role must be named
    /// wherever rules of several roles could meet (a table's or service's name).
    pub several_roles: bool,
    /// The ports listed, in manifest order.
    pub entries: Vec<PortEntry>,
    /// The role's ports that are not listed, and why.
    pub left_out: Vec<LeftOut>,
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
    let mut features_on: Vec<String> = model.iter().filter(|e| e.selected).filter_map(|e| e.feature.clone()).collect();
    features_on.sort();
    features_on.dedup();
    let shown = Path::new(name).file_stem().map_or(name.to_owned(), |s| s.to_string_lossy().into_owned());
    let product = m.product.clone().or_else(|| m.description.clone()).unwrap_or_else(|| shown.clone());
    Ok(Listing {
        name: if is_path { shown } else { name.to_owned() },
        document: m.source.clone(),
        entries: entries(&model),
        left_out: left_out(&model),
        roles: m.roles.clone(),
        features_on,
        product,
        offset: sel.offset,
    })
}

/// The one conversion from the profile model to port entries: the checks the selection turns
/// on, except those whose port must be closed (`expect: closed`, a port set to 0): nothing is
/// opened or expected to be held for them.
pub fn entries(model: &[profile::PortEntry]) -> Vec<PortEntry> {
    model.iter().filter(|e| e.selected && e.closed.is_none()).map(entry_of).collect()
}

/// The model's checks that [`entries`] leaves out: those of a feature not turned on, and those
/// whose port must be closed.
pub fn left_out(model: &[profile::PortEntry]) -> Vec<LeftOut> {
    model
        .iter()
        .filter_map(|e| {
            let why = match (&e.closed, e.selected) {
                (_, false) => Why::FeatureOff,
                (Some(c), true) => Why::Closed(c.clone()),
                (None, true) => return None,
            };
            Some(LeftOut { entry: entry_of(e), why })
        })
        .collect()
}

fn entry_of(e: &profile::PortEntry) -> PortEntry {
    PortEntry {
        product: e.product.clone(),
        name: e.check.clone(),
        role: e.role.clone(),
        feature: e.feature.clone(),
        direction: e.direction,
        transport: e.transport,
        port: e.port,
        source: Some(e.port_from.clone()).filter(|f| f != "default"),
        note: e.note.clone(),
    }
}

/// The ports for one machine: `role`, or, when none is given, the one role the listed ports
/// are on (every port when the profile has no roles). A role the profile does not declare is an
/// error naming the ones it has; so is no `--role` when the listed ports are on several
/// machines. A declared role with no port listed (its features off) is no error: its rules are
/// empty, and what was left out says why. Features are the model's to select ([`load`]).
pub fn select(listing: &Listing, role: Option<&str>) -> Result<Selected, String> {
    let declared: Vec<&str> = listing.roles.keys().map(String::as_str).collect();
    let listed = distinct(listing.entries.iter().filter_map(|e| e.role.as_deref()));
    let list = |v: &[&str]| if v.is_empty() { "none".to_owned() } else { v.join(", ") };
    let role = match role {
        Some(r) if !declared.contains(&r) && !listed.contains(&r) => {
            return Err(format!("--role {r}: the profile has no such role (its roles: {})", list(&declared)));
        }
        Some(r) => Some(r),
        None if listed.len() > 1 => {
            return Err(format!("the profile's ports are on several machines: give --role ({})", list(&listed)));
        }
        None => listed.first().copied(),
    };
    let mine = |e: &PortEntry| role.is_none_or(|r| e.role.as_deref() == Some(r));
    Ok(Selected {
        role: role.map(|r| (r.to_owned(), listing.roles.get(r).cloned().unwrap_or_default())),
        several_roles: listing.roles.len() > 1,
        entries: listing.entries.iter().filter(|e| mine(e)).cloned().collect(),
        left_out: listing.left_out.iter().filter(|l| mine(&l.entry)).cloned().collect(),
    })
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

    /// A listing of no roles or features for the renderers' tests.
    pub(crate) fn listing(name: &str, product: &str) -> Listing {
        Listing {
            name: name.into(),
            product: product.into(),
            document: None,
            offset: None,
            roles: BTreeMap::new(),
            features_on: Vec::new(),
            entries: Vec::new(),
            left_out: Vec::new(),
        }
    }

    /// What [`select`] gives for `entries` with no role.
    pub(crate) fn selected(entries: Vec<PortEntry>) -> Selected {
        Selected { role: None, several_roles: false, entries, left_out: Vec::new() }
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
        assert!(all.left_out.is_empty(), "{:?}", all.left_out);
    }

    #[test]
    fn what_is_not_listed_is_kept_with_the_reason() {
        let l = load("ignition", &sel(None, &["opcua"])).unwrap();
        assert_eq!(l.features_on, ["opcua"]);
        let off: Vec<(&str, &Why)> = l.left_out.iter().map(|o| (o.entry.name.as_str(), &o.why)).collect();
        assert!(off.contains(&("Gateway Network (Metro)", &Why::FeatureOff)), "{off:?}");
        assert!(!off.iter().any(|(n, _)| n.starts_with("OPC UA")), "opcua is on: {off:?}");
        // A port its configuration file sets to 0 is closed: not listed, and said why.
        let dir = tempfile::tempdir().unwrap();
        let xml = dir.path().join("gateway.xml");
        std::fs::write(&xml, "<properties>\n<entry key=\"gateway.metroSSLPort\">0</entry>\n</properties>\n").unwrap();
        let s =
            Selection { with: vec!["gan".into()], config: vec![xml.to_str().unwrap().into()], ..Selection::default() };
        let l = load("ignition", &s).unwrap();
        assert!(l.entries.iter().all(|e| e.port != 8060), "{:?}", l.entries);
        let metro = l.left_out.iter().find(|o| o.entry.name == "Gateway Network (Metro)").unwrap();
        assert!(matches!(&metro.why, Why::Closed(w) if w.contains("gateway.xml:2 is 0")), "{metro:?}");
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
        let listing = |roles: &[(&str, &str)], entries: Vec<PortEntry>| Listing {
            name: "acme".into(),
            product: "Acme".into(),
            document: None,
            offset: None,
            roles: roles.iter().map(|(r, w)| ((*r).to_owned(), (*w).to_owned())).collect(),
            features_on: Vec::new(),
            entries,
            left_out: Vec::new(),
        };
        let l = listing(&[], vec![entry("A", 1, Transport::Tcp, Direction::Inbound)]);
        assert!(select(&l, Some("gateway")).unwrap_err().contains("its roles: none"));
        assert_eq!(select(&l, None).unwrap().role, None);
        let roles = [("gateway", "the gateway"), ("database", "its database"), ("backup", "a backup")];
        let l = listing(
            &roles,
            vec![
                PortEntry { role: Some("gateway".into()), ..entry("B", 2, Transport::Tcp, Direction::Inbound) },
                PortEntry { role: Some("database".into()), ..entry("C", 3, Transport::Tcp, Direction::Inbound) },
            ],
        );
        assert!(select(&l, None).unwrap_err().contains("give --role (gateway, database)"));
        assert!(select(&l, Some("nope")).unwrap_err().contains("its roles: backup, database, gateway"));
        let names = |s: Selected| s.entries.into_iter().map(|e| e.name).collect::<Vec<_>>();
        assert_eq!(names(select(&l, Some("gateway")).unwrap()), ["B"]);
        let db = select(&l, Some("database")).unwrap();
        assert_eq!((db.role.clone(), db.several_roles), (Some(("database".into(), "its database".into())), true));
        assert_eq!(names(db), ["C"]);
        // A declared role with nothing listed is empty, not an error: its features are off.
        assert!(select(&l, Some("backup")).unwrap().entries.is_empty());
    }
}
