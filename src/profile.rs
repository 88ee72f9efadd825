//! The product profiles embedded in the binary: one YAML port catalog per product, written from
//! the vendor's own port documents, in the manifest format.

use crate::manifest::{Manifest, ManifestError};

/// An embedded profile.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    /// The name given to `portproof profile NAME`.
    pub name: &'static str,
    /// The YAML text.
    pub yaml: &'static str,
}

/// Every embedded profile.
pub const PROFILES: &[Profile] = &[
    Profile { name: "ignition", yaml: include_str!("../profiles/ignition.yaml") },
    Profile { name: "pads4", yaml: include_str!("../profiles/pads4.yaml") },
    Profile { name: "wso2-mb", yaml: include_str!("../profiles/wso2-mb.yaml") },
];

impl Profile {
    /// How errors and reports name this profile.
    pub fn origin(&self) -> String {
        format!("<profile {}>", self.name)
    }

    /// Parses the profile.
    pub fn manifest(&self) -> Result<Manifest, ManifestError> {
        Manifest::parse(self.yaml, &self.origin())
    }
}

/// Looks a profile up by name.
pub fn find(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name)
}

/// The names of every profile, for error messages.
pub fn names() -> Vec<&'static str> {
    PROFILES.iter().map(|p| p.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Overrides, plan};

    #[test]
    fn every_profile_parses_and_plans() {
        for p in PROFILES {
            let m = p.manifest().unwrap_or_else(|e| panic!("{e}"));
            assert!(m.product.is_some(), "{} names its product", p.name);
            let o = Overrides { host: Some("127.0.0.1".into()), ..Default::default() };
            let checks = plan(&m, p.yaml, &p.origin(), &o).unwrap_or_else(|e| panic!("{e}"));
            assert!(!checks.is_empty());
        }
    }

    #[test]
    fn messaging_profiles_name_every_tcp_port_of_their_documents() {
        for (name, ports) in [
            ("pads4", &[7237, 80, 443, 5672, 5671, 15672, 15671][..]),
            ("wso2-mb", &[9443, 9763, 5672, 8672, 1883, 8833, 7611]),
        ] {
            let m = find(name).unwrap().manifest().unwrap();
            let have: Vec<u16> = m.checks.iter().map(|c| c.raw().port).collect();
            assert_eq!(have, ports, "{name}");
        }
        let m = find("pads4").unwrap().manifest().unwrap();
        let expects: Vec<&str> = m.checks.iter().map(|c| c.raw().expect.as_str()).collect();
        assert!(expects.contains(&"amqp") && expects.contains(&"amqps") && expects.contains(&"rabbitmq-api"));
    }

    #[test]
    fn ignition_names_every_port_of_its_document() {
        let m = find("ignition").unwrap().manifest().unwrap();
        let ports: Vec<u16> = m.checks.iter().map(|c| c.raw().port).collect();
        for port in [8088, 8043, 8060, 4840, 4096, 502, 3306, 5432, 1433, 1521] {
            assert!(ports.contains(&port), "the Ignition document lists {port}");
        }
        let http = m.checks.iter().find(|c| c.raw().port == 8088).unwrap().raw();
        assert_eq!(http.sections[0].1.to_json()["path"], "/StatusPing");
        assert!(!http.optional, "HTTP is the required web port");
        for c in m.checks.iter().filter(|c| c.raw().expect == "tcp") {
            assert!(c.raw().planned.is_some(), "{} is a tcp stand-in and says for what", c.raw().name);
        }
    }
}
