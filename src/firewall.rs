//! `portproof firewall`: the inbound rules a product's document asks for, written for the
//! firewall that will load them (Windows `netsh advfirewall`, an `nft -f` file, `ufw`,
//! `firewall-cmd`), so the output is run as it is.
//!
//! The rules are for one machine: a profile's role (`--role`; the gateway, its database
//! server, ...), with the features turned on (`--with`, `--all`) and the ports its
//! configuration files set (`--config`), all as the profile model resolves them. Only inbound
//! ports are opened: an outbound port is one this machine connects to elsewhere, a local-only
//! port must stay closed to other machines, and a port the profile says must be closed (a
//! configuration file sets it to 0) is not opened. Those, and the ports of features that are
//! off, are named in the header's comment lines so that their absence reads as intended. Every text that reaches a rule (product and check names, the
//! profile's notes) goes through the escaping of that syntax: the product's name is data, and a
//! quote in it must not end a string early or run a command.

use std::fmt::Write as _;

use crate::portlist::{Direction, LeftOut, Listing, PortEntry, Selected, Transport, Why};

/// The firewall the rules are written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Os {
    /// Windows Defender Firewall: `netsh advfirewall firewall add rule` lines (a batch file).
    Windows,
    /// nftables: a complete `nft -f` file with its own table.
    Nftables,
    /// Uncomplicated Firewall: `ufw allow PORT/PROTO comment '...'` lines.
    Ufw,
    /// firewalld: `firewall-cmd --permanent` lines defining one service for the product.
    Firewalld,
}

/// One inbound rule: a port and transport, and every check that needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// TCP or UDP.
    pub transport: Transport,
    /// The port, after any offset.
    pub port: u16,
    /// The checks that use it, in the profile's order.
    pub names: Vec<String>,
    /// Their notes and port sources, for the comment above the rule.
    pub notes: Vec<String>,
}

/// What to open, and what is deliberately not opened.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The product, as the profile names it.
    pub product: String,
    /// The profile's (or manifest's) name, for the table or service name.
    pub name: String,
    /// The vendor document, when the profile names it.
    pub document: Option<String>,
    /// The offset applied to the ports.
    pub offset: Option<i32>,
    /// The machine's role and what it is, when the profile has roles.
    pub role: Option<(String, String)>,
    /// Whether the profile declares several roles: the role is then part of the table's or
    /// service's name, so that two roles' rules loaded on one machine do not replace each other.
    pub several_roles: bool,
    /// The features turned on.
    pub features_on: Vec<String>,
    /// The inbound rules, one per port and transport.
    pub rules: Vec<Rule>,
    /// Outbound and local-only entries: not opened inbound.
    pub left_closed: Vec<PortEntry>,
    /// The role's ports not listed: their features off, or closed.
    pub left_out: Vec<LeftOut>,
}

/// Groups the inbound entries into one rule per port and transport (two checks on one port
/// need one rule), and sets the others aside.
pub fn plan(listing: &Listing, selected: &Selected) -> Plan {
    let mut rules: Vec<Rule> = Vec::new();
    let mut left_closed = Vec::new();
    for e in &selected.entries {
        if e.direction != Direction::Inbound {
            left_closed.push(e.clone());
            continue;
        }
        let i = match rules.iter().position(|r| r.port == e.port && r.transport == e.transport) {
            Some(i) => i,
            None => {
                rules.push(Rule { transport: e.transport, port: e.port, names: Vec::new(), notes: Vec::new() });
                rules.len() - 1
            }
        };
        let r = &mut rules[i];
        if !r.names.contains(&e.name) {
            r.names.push(e.name.clone());
        }
        for n in [&e.note, &e.source].into_iter().flatten() {
            if !r.notes.contains(n) {
                r.notes.push(n.clone());
            }
        }
    }
    Plan {
        product: listing.product.clone(),
        name: listing.name.clone(),
        document: listing.document.clone(),
        offset: listing.offset,
        role: selected.role.clone(),
        several_roles: selected.several_roles,
        // The features on that this machine's ports belong to (listed, or closed): another
        // role's are not this file's to name.
        features_on: listing
            .features_on
            .iter()
            .filter(|f| {
                let of = |e: &PortEntry| e.feature.as_deref() == Some(f.as_str());
                selected.entries.iter().any(of) || selected.left_out.iter().any(|l| of(&l.entry))
            })
            .cloned()
            .collect(),
        rules,
        left_closed,
        left_out: selected.left_out.clone(),
    }
}

impl Plan {
    /// The name a table or service is made from: the profile's, and the role's where the
    /// profile has several.
    fn ident_source(&self) -> String {
        match &self.role {
            Some((r, _)) if self.several_roles => format!("{} {r}", self.name),
            _ => self.name.clone(),
        }
    }

    /// Whether a rule opens `port` over `transport`.
    fn opens(&self, port: u16, transport: Transport) -> bool {
        self.rules.iter().any(|r| r.port == port && r.transport == transport)
    }
}

/// The rules for `os`, as a file that firewall's tool reads as it is.
pub fn render(plan: &Plan, os: Os) -> String {
    match os {
        Os::Windows => windows(plan),
        Os::Nftables => nftables(plan),
        Os::Ufw => ufw(plan),
        Os::Firewalld => firewalld(plan),
    }
}

/// The header every format starts with, as plain sentences (each renderer makes them comments):
/// what the rules are for, and every port of the role that is not opened, with why.
fn header(plan: &Plan) -> Vec<String> {
    let offset = match plan.offset {
        Some(o) if o != 0 => format!(", its ports {o:+}"),
        _ => String::new(),
    };
    let mut lines =
        vec![format!("Inbound firewall rules for {}: portproof profile {}{offset}.", plan.product, plan.name)];
    if let Some(d) = &plan.document {
        lines.push(format!("Ports from: {d}."));
    }
    if let Some((role, about)) = plan.role.as_ref().filter(|_| plan.several_roles) {
        let about = if about.is_empty() { String::new() } else { format!(": {about}") };
        lines.push(format!("For the {role} machine{about}. Each role's machine has its own rules (--role)."));
    }
    let off: Vec<&LeftOut> = plan.left_out.iter().filter(|l| l.why == Why::FeatureOff).collect();
    if !plan.features_on.is_empty() || !off.is_empty() {
        let on = if plan.features_on.is_empty() { "none".to_owned() } else { plan.features_on.join(", ") };
        lines.push(format!("Features on: {on}."));
    }
    if !off.is_empty() {
        // Grouped by feature: `gan 8060/tcp; opcua 4840/tcp, 4096/tcp`.
        let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
        for l in off {
            let f = l.entry.feature.as_deref().unwrap_or("?");
            let port = format!("{}/{}", l.entry.port, l.entry.transport);
            match groups.iter_mut().find(|(g, _)| *g == f) {
                Some((_, ports)) if !ports.contains(&port) => ports.push(port),
                Some(_) => {}
                None => groups.push((f, vec![port])),
            }
        }
        let list: Vec<String> = groups.iter().map(|(f, ports)| format!("{f} {}", ports.join(", "))).collect();
        lines.push(format!("Ports of features not on (--with F or --all adds them): {}.", list.join("; ")));
    }
    for l in &plan.left_out {
        if let Why::Closed(why) = &l.why {
            let also = if plan.opens(l.entry.port, l.entry.transport) {
                " (another check here needs the port, so a rule below opens it)"
            } else {
                ""
            };
            lines.push(format!(
                "Not opened, it must be closed: {}/{} {}: {why}{also}.",
                l.entry.port, l.entry.transport, l.entry.name
            ));
        }
    }
    let named = |d: Direction| -> Vec<String> {
        plan.left_closed
            .iter()
            .filter(|e| e.direction == d)
            .map(|e| format!("{}/{} {}", e.port, e.transport, e.name))
            .collect()
    };
    let (local, outbound) = (named(Direction::LocalOnly), named(Direction::Outbound));
    if !local.is_empty() {
        lines.push(format!(
            "Never opened inbound, used on this machine only (keep them bound to loopback; portproof ports shows where they are): {}.",
            local.join(", ")
        ));
    }
    if !outbound.is_empty() {
        lines.push(format!(
            "Never opened inbound, outbound (this machine connects to them elsewhere): {}.",
            outbound.join(", ")
        ));
    }
    if local.is_empty() && outbound.is_empty() {
        lines.push("None of these ports is outbound or local-only.".into());
    }
    if plan.rules.is_empty() {
        lines.push("Nothing to open inbound.".into());
    }
    lines
}

/// A rule's name: the product, the checks, the port.
fn rule_name(plan: &Plan, r: &Rule, proto: &str) -> String {
    format!("{} - {} ({}/{proto})", plan.product, r.names.join(" + "), r.port)
}

/// The comment above a rule: what uses the port and why.
fn rule_comment(r: &Rule) -> String {
    if r.notes.is_empty() { r.names.join(" + ") } else { format!("{}: {}", r.names.join(" + "), r.notes.join("; ")) }
}

/// Text made one line: control characters (a newline would end a comment or a command) become
/// spaces, runs of spaces one.
pub fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_control() || c.is_whitespace()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Text for a batch file: `%` is doubled (cmd expands `%VAR%` even inside quotes and REM) and
/// `^` doubled (a trailing one would join the next line to a REM).
fn batch_text(s: &str) -> String {
    one_line(s).replace('%', "%%").replace('^', "^^")
}

/// A value inside netsh's double quotes: cmd has no escape for `"` there, so it becomes `'`.
fn netsh_quoted(s: &str) -> String {
    format!("\"{}\"", batch_text(s).replace('"', "'"))
}

fn windows(plan: &Plan) -> String {
    let mut out = String::new();
    for l in header(plan) {
        let _ = writeln!(out, "REM {}", batch_text(&l));
    }
    let _ = writeln!(out, "REM Run as Administrator: save as a .bat file, or type each line into an elevated prompt.");
    for r in &plan.rules {
        let proto = match r.transport {
            Transport::Tcp => "TCP",
            Transport::Udp => "UDP",
        };
        let _ = writeln!(out, "\nREM {}", batch_text(&rule_comment(r)));
        let _ = writeln!(
            out,
            "netsh advfirewall firewall add rule name={} dir=in action=allow protocol={proto} localport={}",
            netsh_quoted(&rule_name(plan, r, proto)),
            r.port
        );
    }
    out
}

/// The most bytes nftables keeps in a rule's comment (`NFTNL_UDATA_COMMENT_MAXLEN`); a longer
/// one makes `nft` refuse the whole file.
const NFT_COMMENT_MAX: usize = 128;

/// A string for nft's double quotes: it has no escape for `"`, which becomes `'`; cut to what
/// nftables keeps, on a character boundary.
fn nft_quoted(s: &str) -> String {
    let mut t = one_line(s).replace('"', "'");
    if t.len() > NFT_COMMENT_MAX {
        let mut end = NFT_COMMENT_MAX - '…'.len_utf8();
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        t.truncate(end);
        t.push('…');
    }
    format!("\"{t}\"")
}

/// A name for a table or service: lower-case letters, digits and `sep`, whatever the profile's
/// name holds.
fn ident(name: &str, sep: char) -> String {
    let mut s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { sep }).collect();
    while s.contains(&format!("{sep}{sep}")) {
        s = s.replace(&format!("{sep}{sep}"), &sep.to_string());
    }
    // A name of nothing but punctuation still needs a table or service name.
    let s = s.trim_matches(sep);
    if s.is_empty() { "product".to_owned() } else { s.to_owned() }
}

fn nftables(plan: &Plan) -> String {
    let table = format!("portproof_{}", ident(&plan.ident_source(), '_'));
    let mut out = String::from("#!/usr/sbin/nft -f\n");
    for l in header(plan) {
        let _ = writeln!(out, "# {}", one_line(&l));
    }
    let _ = writeln!(out, "# Check with nft -c -f FILE, load with nft -f FILE; loading it again replaces the table.");
    let _ = writeln!(out, "# nftables runs every base chain of the input hook: an accept here does not undo a drop");
    let _ = writeln!(out, "# in another table. Where this host's own table drops by default, open the ports there:");
    for t in [Transport::Tcp, Transport::Udp] {
        let ports: Vec<String> = plan.rules.iter().filter(|r| r.transport == t).map(|r| r.port.to_string()).collect();
        if !ports.is_empty() {
            let _ = writeln!(out, "#   nft add rule inet filter input {t} dport {{ {} }} accept", ports.join(", "));
        }
    }
    // Declared, then deleted, then defined: the file loads the same whether or not the table
    // exists (nft 1.0.6 has no `destroy`).
    let _ = writeln!(out, "\ntable inet {table}\ndelete table inet {table}\n\ntable inet {table} {{");
    let _ = writeln!(out, "\tchain input {{\n\t\ttype filter hook input priority filter; policy accept;");
    for r in &plan.rules {
        let _ = writeln!(out, "\t\t# {}", one_line(&rule_comment(r)));
        let _ = writeln!(
            out,
            "\t\t{} dport {} accept comment {}",
            r.transport,
            r.port,
            nft_quoted(&rule_name(plan, r, r.transport.as_str()))
        );
    }
    out.push_str("\t}\n}\n");
    out
}

/// A POSIX shell word in single quotes: `'` becomes `'\''`.
fn sh_quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn ufw(plan: &Plan) -> String {
    let mut out = String::new();
    for l in header(plan) {
        let _ = writeln!(out, "# {}", one_line(&l));
    }
    let _ =
        writeln!(out, "# Run as root (ufw --dry-run shows what a line would change); they apply once ufw is enabled.");
    for r in &plan.rules {
        let _ = writeln!(out, "\n# {}", one_line(&rule_comment(r)));
        // ufw refuses a comment holding `'` ("Invalid syntax"), so it becomes a typographic one.
        let comment = one_line(&rule_name(plan, r, r.transport.as_str())).replace('\'', "\u{2019}");
        let _ = writeln!(out, "ufw allow {}/{} comment {}", r.port, r.transport, sh_quoted(&comment));
    }
    out
}

fn firewalld(plan: &Plan) -> String {
    let service = format!("portproof-{}", ident(&plan.ident_source(), '-'));
    let mut out = String::new();
    for l in header(plan) {
        let _ = writeln!(out, "# {}", one_line(&l));
    }
    let _ = writeln!(out, "# Run as root. One service, {service}, holds the ports, added to the default zone.");
    let _ = writeln!(out, "# To make it again: firewall-cmd --permanent --delete-service={service}");
    let fc = "firewall-cmd --permanent";
    let _ = writeln!(out, "\n{fc} --new-service={service}");
    let _ = writeln!(out, "{fc} --service={service} --set-short={}", sh_quoted(&one_line(&plan.product)));
    let names: Vec<String> =
        plan.rules.iter().map(|r| format!("{} {}/{}", r.names.join(" + "), r.port, r.transport)).collect();
    let role = match &plan.role {
        Some((r, _)) if plan.several_roles => format!(", role {r}"),
        _ => String::new(),
    };
    let description =
        format!("Inbound ports of {} (portproof profile {}{role}): {}", plan.product, plan.name, names.join(", "));
    let _ = writeln!(out, "{fc} --service={service} --set-description={}", sh_quoted(&one_line(&description)));
    for r in &plan.rules {
        let _ = writeln!(out, "# {}", one_line(&rule_comment(r)));
        let _ = writeln!(out, "{fc} --service={service} --add-port={}/{}", r.port, r.transport);
    }
    let _ = writeln!(out, "{fc} --add-service={service}");
    let _ = writeln!(out, "firewall-cmd --reload");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portlist::tests::{entry, listing, selected};

    fn sample(product: &str) -> Plan {
        let listing = Listing { document: Some("Acme ports".into()), ..listing("acme", product) };
        let mut web = entry("Web", 8088, Transport::Tcp, Direction::Inbound);
        web.note = Some("the web port".into());
        let mut web_tls = entry("Web TLS check", 8088, Transport::Tcp, Direction::Inbound);
        web_tls.note = Some("the web port".into());
        let entries = vec![
            web,
            web_tls,
            entry("Time", 123, Transport::Udp, Direction::Inbound),
            entry("Broker", 5672, Transport::Tcp, Direction::LocalOnly),
            entry("Activation", 4525, Transport::Tcp, Direction::Outbound),
        ];
        plan(&listing, &selected(entries))
    }

    #[test]
    fn one_rule_per_port_and_transport_and_only_inbound() {
        let p = sample("Acme");
        let ports: Vec<(u16, Transport)> = p.rules.iter().map(|r| (r.port, r.transport)).collect();
        assert_eq!(ports, [(8088, Transport::Tcp), (123, Transport::Udp)]);
        assert_eq!(p.rules[0].names, ["Web", "Web TLS check"]);
        assert_eq!(p.rules[0].notes, ["the web port"]);
        let left: Vec<&str> = p.left_closed.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(left, ["Broker", "Activation"]);
    }

    #[test]
    fn windows_lines_are_the_documents_form() {
        let out = render(&sample("Acme"), Os::Windows);
        assert!(out.contains(
            "netsh advfirewall firewall add rule name=\"Acme - Web + Web TLS check (8088/TCP)\" dir=in action=allow protocol=TCP localport=8088\n"
        ), "{out}");
        assert!(out.contains("protocol=UDP localport=123\n"), "{out}");
        assert!(out.contains("REM Never opened inbound, used on this machine only (keep them bound to loopback; portproof ports shows where they are): 5672/tcp Broker.\n"), "{out}");
        assert!(
            out.contains(
                "REM Never opened inbound, outbound (this machine connects to them elsewhere): 4525/tcp Activation.\n"
            ),
            "{out}"
        );
        assert!(!out.contains("None of these ports"), "{out}");
        assert!(!out.contains("localport=5672") && !out.contains("localport=4525"));
        // Every line is a REM, a blank line or a rule: nothing cmd would run by mistake.
        assert!(out.lines().all(|l| l.is_empty() || l.starts_with("REM ") || l.starts_with("netsh ")), "{out}");
    }

    const HOSTILE: &str = "Evil \"Corp\" 'x' %PATH% ^ $(reboot) `id` ; & | \\ é\nsecond line";

    #[test]
    fn hostile_names_cannot_end_a_string_or_a_line() {
        let p = sample(HOSTILE);
        let win = render(&p, Os::Windows);
        for l in win.lines().filter(|l| l.starts_with("netsh ")) {
            // Exactly the two quotes netsh's name needs, and cmd's variables left unexpanded.
            assert_eq!(l.matches('"').count(), 2, "{l}");
            assert!(l.contains("%%PATH%%") && l.contains("'Corp'"), "{l}");
        }
        assert!(win.lines().all(|l| l.is_empty() || l.starts_with("REM ") || l.starts_with("netsh ")), "{win}");
        let nft = render(&p, Os::Nftables);
        for l in nft.lines().filter(|l| l.contains(" dport ") && !l.trim_start().starts_with('#')) {
            assert_eq!(l.matches('"').count(), 2, "{l}");
        }
        assert!(nft.lines().all(|l| !l.starts_with("second")), "{nft}");
        let ufw = render(&p, Os::Ufw);
        for l in ufw.lines().filter(|l| l.starts_with("ufw ")) {
            // One single-quoted word: ufw refuses a ' inside its comment.
            assert_eq!(l.matches('\'').count(), 2, "{l}");
            assert!(l.contains("\u{2019}x\u{2019}") && l.contains("$(reboot)"), "{l}");
        }
        let fwd = render(&p, Os::Firewalld);
        assert!(
            fwd.contains("--set-short='Evil \"Corp\" '\\''x'\\'' %PATH% ^ $(reboot) `id` ; & | \\ é second line'"),
            "{fwd}"
        );
        for out in [&win, &nft, &ufw, &fwd] {
            assert!(out.lines().all(|l| l.is_empty() || !l.starts_with("second")), "{out}");
        }
    }

    #[test]
    fn nft_comments_are_cut_to_what_nftables_keeps() {
        let long = "é".repeat(100);
        let q = nft_quoted(&long);
        assert!(q.len() - 2 <= NFT_COMMENT_MAX && q.ends_with("…\""), "{q}");
        assert_eq!(nft_quoted("a \"b\"\nc"), "\"a 'b' c\"");
    }

    #[test]
    fn nftables_file_has_its_own_table_and_the_lines_for_a_table_of_ones_own() {
        let out = render(&sample("Acme"), Os::Nftables);
        assert!(out.starts_with("#!/usr/sbin/nft -f\n"));
        assert!(out.contains("\ntable inet portproof_acme\ndelete table inet portproof_acme\n"), "{out}");
        assert!(out.contains("\t\ttcp dport 8088 accept comment \"Acme - Web + Web TLS check (8088/tcp)\"\n"), "{out}");
        assert!(out.contains("\t\tudp dport 123 accept comment \"Acme - Time (123/udp)\"\n"), "{out}");
        assert!(out.contains("#   nft add rule inet filter input tcp dport { 8088 } accept\n"), "{out}");
        assert_eq!(ident("WSO2 MB..x", '_'), "wso2_mb_x");
        assert_eq!(ident("\"'?", '-'), "product");
    }

    #[test]
    fn ufw_and_firewalld_lines() {
        let p = sample("Acme");
        let ufw = render(&p, Os::Ufw);
        assert!(ufw.contains("\nufw allow 8088/tcp comment 'Acme - Web + Web TLS check (8088/tcp)'\n"), "{ufw}");
        assert!(ufw.contains("\nufw allow 123/udp comment 'Acme - Time (123/udp)'\n"), "{ufw}");
        let fwd = render(&p, Os::Firewalld);
        for l in [
            "firewall-cmd --permanent --new-service=portproof-acme",
            "firewall-cmd --permanent --service=portproof-acme --add-port=8088/tcp",
            "firewall-cmd --permanent --service=portproof-acme --add-port=123/udp",
            "firewall-cmd --permanent --add-service=portproof-acme",
        ] {
            assert!(fwd.lines().any(|x| x == l), "{l} in {fwd}");
        }
        assert!(
            !fwd.contains("--add-port=5672") && fwd.contains("Never opened inbound, used on this machine only"),
            "{fwd}"
        );
    }

    #[test]
    fn an_empty_plan_says_so_and_is_still_a_valid_file() {
        let p = plan(&listing("x", "X"), &selected(vec![entry("Out", 1, Transport::Tcp, Direction::Outbound)]));
        for os in [Os::Windows, Os::Nftables, Os::Ufw, Os::Firewalld] {
            let out = render(&p, os);
            assert!(out.contains("Nothing to open inbound."), "{out}");
            assert!(out.contains("outbound (this machine connects to them elsewhere): 1/tcp Out."), "{out}");
        }
    }

    /// A profile of two roles, the database's features off but one, and a port set to 0.
    fn two_roles() -> (Listing, Vec<PortEntry>, Vec<LeftOut>) {
        let mut l = listing("acme", "Acme");
        l.roles = [("gateway", "the gateway"), ("database", "its database server")]
            .map(|(r, w)| (r.to_owned(), w.to_owned()))
            .into();
        l.features_on = vec!["pg".into()];
        let on = |name: &str, port, role: &str, feature: Option<&str>| PortEntry {
            role: Some(role.into()),
            feature: feature.map(Into::into),
            ..entry(name, port, Transport::Tcp, Direction::Inbound)
        };
        let entries = vec![on("Web", 8088, "gateway", None), on("PostgreSQL", 5432, "database", Some("pg"))];
        let left_out = vec![
            LeftOut { entry: on("MySQL", 3306, "database", Some("my")), why: Why::FeatureOff },
            LeftOut {
                entry: on("Metro", 8060, "gateway", Some("gan")),
                why: Why::Closed("metro in g.xml:3 is 0".into()),
            },
            LeftOut { entry: on("UA", 4840, "gateway", Some("ua")), why: Why::FeatureOff },
            LeftOut { entry: on("UA discovery", 4096, "gateway", Some("ua")), why: Why::FeatureOff },
        ];
        (l, entries, left_out)
    }

    #[test]
    fn rules_are_per_role_and_name_what_is_left_out_and_why() {
        let (mut l, entries, left_out) = two_roles();
        l.entries = entries;
        l.left_out = left_out;
        let db = plan(&l, &crate::portlist::select(&l, Some("database")).unwrap());
        let ports: Vec<u16> = db.rules.iter().map(|r| r.port).collect();
        assert_eq!(ports, [5432], "only the database machine's ports");
        let out = render(&db, Os::Nftables);
        for line in [
            "# For the database machine: its database server. Each role's machine has its own rules (--role).\n",
            "# Features on: pg.\n",
            "# Ports of features not on (--with F or --all adds them): my 3306/tcp.\n",
            "# None of these ports is outbound or local-only.\n",
            // Two roles' tables on one machine must not replace each other.
            "\ntable inet portproof_acme_database {\n",
        ] {
            assert!(out.contains(line), "{line} in {out}");
        }
        assert!(!out.contains("8060") && !out.contains("4840"), "the gateway's ports are not the database's: {out}");
        let gw = plan(&l, &crate::portlist::select(&l, Some("gateway")).unwrap());
        let out = render(&gw, Os::Firewalld);
        for line in [
            "# Ports of features not on (--with F or --all adds them): ua 4840/tcp, 4096/tcp.\n",
            "# Not opened, it must be closed: 8060/tcp Metro: metro in g.xml:3 is 0.\n",
            "firewall-cmd --permanent --new-service=portproof-acme-gateway\n",
            "(portproof profile acme, role gateway): Web 8088/tcp'\n",
        ] {
            assert!(out.contains(line), "{line} in {out}");
        }
        assert!(!out.contains("--add-port=8060"), "{out}");
    }

    #[test]
    fn a_closed_port_another_check_needs_is_said_to_be_opened() {
        let (mut l, entries, _) = two_roles();
        l.entries = entries;
        l.left_out = vec![LeftOut {
            entry: PortEntry {
                role: Some("gateway".into()),
                ..entry("Old web", 8088, Transport::Tcp, Direction::Inbound)
            },
            why: Why::Closed("expect: closed".into()),
        }];
        let out = render(&plan(&l, &crate::portlist::select(&l, Some("gateway")).unwrap()), Os::Ufw);
        assert!(out.contains("# Not opened, it must be closed: 8088/tcp Old web: expect: closed (another check here needs the port, so a rule below opens it).\n"), "{out}");
        assert!(out.contains("\nufw allow 8088/tcp "), "{out}");
    }

    #[test]
    fn a_profile_of_one_role_keeps_its_plain_names() {
        let mut l = listing("solo", "Solo");
        l.roles = [("server".to_owned(), "the server".to_owned())].into();
        l.entries =
            vec![PortEntry { role: Some("server".into()), ..entry("A", 1, Transport::Tcp, Direction::Inbound) }];
        let p = plan(&l, &crate::portlist::select(&l, None).unwrap());
        let out = render(&p, Os::Nftables);
        assert!(out.contains("\ntable inet portproof_solo {\n") && !out.contains("For the server machine"), "{out}");
        assert!(!out.contains("Features on"), "a profile of no features says nothing of them: {out}");
    }
}
