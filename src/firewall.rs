//! `portproof firewall`: the inbound rules a product's document asks for, written for the
//! firewall that will load them (Windows `netsh advfirewall`, an `nft -f` file, `ufw`,
//! `firewall-cmd`), so the output is run as it is.
//!
//! Only inbound ports are opened: an outbound port is one this machine connects to elsewhere,
//! and a local-only port must stay closed to other machines; both are named in a comment line so
//! their absence reads as intended. Every text that reaches a rule (product and check names, the
//! profile's notes) goes through the escaping of that syntax: the product's name is data, and a
//! quote in it must not end a string early or run a command.

use std::fmt::Write as _;

use crate::portlist::{Direction, Listing, PortEntry, Transport};

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
    /// The inbound rules, one per port and transport.
    pub rules: Vec<Rule>,
    /// Outbound and local-only entries: not opened inbound.
    pub left_closed: Vec<PortEntry>,
}

/// Groups the inbound entries into one rule per port and transport (two checks on one port
/// need one rule), and sets the others aside.
pub fn plan(listing: &Listing, entries: &[PortEntry]) -> Plan {
    let mut rules: Vec<Rule> = Vec::new();
    let mut left_closed = Vec::new();
    for e in entries {
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
        rules,
        left_closed,
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

/// The header every format starts with, as plain sentences (each renderer makes them comments).
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
    if plan.left_closed.is_empty() {
        lines.push("Outbound and local-only ports are never opened inbound; this profile marks none as such.".into());
    } else {
        let list: Vec<String> = plan
            .left_closed
            .iter()
            .map(|e| format!("{}/{} {} ({})", e.port, e.transport, e.name, e.direction))
            .collect();
        lines.push(format!("Not opened inbound (outbound, or used on this machine only): {}.", list.join(", ")));
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
    let table = format!("portproof_{}", ident(&plan.name, '_'));
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
    let service = format!("portproof-{}", ident(&plan.name, '-'));
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
    let description =
        format!("Inbound ports of {} (portproof profile {}): {}", plan.product, plan.name, names.join(", "));
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
    use crate::portlist::tests::entry;

    fn sample(product: &str) -> Plan {
        let listing = Listing {
            name: "acme".into(),
            product: product.into(),
            document: Some("Acme ports".into()),
            offset: None,
            entries: Vec::new(),
        };
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
        plan(&listing, &entries)
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
        assert!(out.contains("REM Not opened inbound (outbound, or used on this machine only): 5672/tcp Broker (local-only), 4525/tcp Activation (outbound)."), "{out}");
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
        assert!(!fwd.contains("5672") || fwd.contains("Not opened inbound"));
    }

    #[test]
    fn an_empty_plan_says_so_and_is_still_a_valid_file() {
        let listing =
            Listing { name: "x".into(), product: "X".into(), document: None, offset: None, entries: Vec::new() };
        let p = plan(&listing, &[entry("Out", 1, Transport::Tcp, Direction::Outbound)]);
        for os in [Os::Windows, Os::Nftables, Os::Ufw, Os::Firewalld] {
            let out = render(&p, os);
            assert!(out.contains("Nothing to open inbound."), "{out}");
            assert!(out.contains("1/tcp Out (outbound)"), "{out}");
        }
    }
}
