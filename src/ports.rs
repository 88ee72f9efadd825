//! `portproof ports`: on this machine, for each port of a product, whether it is free or which
//! process holds it, on which address, and what that means for the product.
//!
//! Read from Linux's `/proc`, as `ss -lptn` does: the socket tables (`/proc/net/tcp`, `tcp6`,
//! `udp`, `udp6`) give each bound socket's address, owner uid and inode; the `fd` folders of
//! `/proc/PID` say which processes hold each inode; `/etc/passwd` names the uid. A TCP port is
//! held by its listeners (a connection that merely uses the number locally does not stop a
//! server from binding it); a UDP port by any socket bound to it. Only this network namespace's
//! sockets are seen, and without root only this user's processes are named (the socket's owner
//! still is). Other systems have no `/proc`: there the command says so rather than guess.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use serde::Serialize;

use crate::portlist::{Direction, LeftOut, Listing, PortEntry, Selected, Transport, Why};

/// How `ports` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for people.
    Table,
    /// One JSON document.
    Json,
}

/// A bound socket, as the kernel's table lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Socket {
    /// TCP or UDP.
    pub transport: Transport,
    /// The local address it is bound to (`0.0.0.0` / `::` for every address).
    pub addr: IpAddr,
    /// The local port.
    pub port: u16,
    /// The kernel's state number (`0A` is a TCP listener).
    pub state: u8,
    /// The uid that owns it.
    pub uid: u32,
    /// The socket's inode, which the holders' `/proc/PID/fd` links name.
    pub inode: u64,
}

/// TCP's LISTEN state in `/proc/net/tcp`.
const TCP_LISTEN: u8 = 0x0A;

impl Socket {
    /// Whether the socket keeps a server from binding its port: a TCP listener, any UDP socket.
    pub fn holds_port(&self) -> bool {
        self.transport == Transport::Udp || self.state == TCP_LISTEN
    }
}

/// Parses one of `/proc/net/{tcp,tcp6,udp,udp6}`. Lines that do not parse are skipped: the
/// kernel's format has only grown columns at the end, which are not read.
pub fn parse_table(text: &str, transport: Transport) -> Vec<Socket> {
    text.lines().skip(1).filter_map(|l| parse_line(l, transport)).collect()
}

fn parse_line(line: &str, transport: Transport) -> Option<Socket> {
    let f: Vec<&str> = line.split_whitespace().collect();
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
    let (local, state, uid, inode) = (f.get(1)?, f.get(3)?, f.get(7)?, f.get(9)?);
    let (addr, port) = local.split_once(':')?;
    Some(Socket {
        transport,
        addr: parse_addr(addr)?,
        port: u16::from_str_radix(port, 16).ok()?,
        state: u8::from_str_radix(state, 16).ok()?,
        uid: uid.parse().ok()?,
        inode: inode.parse().ok()?,
    })
}

/// The kernel prints an address as 32-bit words in the machine's own byte order.
fn parse_addr(hex: &str) -> Option<IpAddr> {
    let words: Option<Vec<[u8; 4]>> = (0..hex.len() / 8)
        .map(|i| u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16).ok().map(u32::to_ne_bytes))
        .collect();
    let bytes: Vec<u8> = words?.concat();
    match (hex.len(), bytes.len()) {
        (8, 4) => Some(IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))),
        (32, 16) => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?))),
        _ => None,
    }
}

/// Who can reach a socket, by the address it is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// `0.0.0.0` or `::`: every address of the machine, so other hosts too (firewall permitting).
    Everywhere,
    /// `127.0.0.0/8` or `::1`: this machine only; invisible to every other host.
    Loopback,
    /// One address of the machine: reachable only through it.
    OneAddress,
}

/// The scope of a bound address (an IPv4-mapped IPv6 address counts as its IPv4 one).
pub fn scope(addr: IpAddr) -> Scope {
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    };
    if addr.is_unspecified() {
        Scope::Everywhere
    } else if addr.is_loopback() {
        Scope::Loopback
    } else {
        Scope::OneAddress
    }
}

/// A process holding a socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Process {
    /// Its pid.
    pub pid: u32,
    /// Its name (`/proc/PID/comm`).
    pub command: String,
    /// Its command line, arguments joined by spaces.
    pub cmdline: String,
}

/// One holder of a port: the socket, and the processes with it open.
#[derive(Clone, Debug, Serialize)]
pub struct Holder {
    /// The address bound.
    pub address: IpAddr,
    /// Who can reach it.
    pub scope: Scope,
    /// The socket owner's uid.
    pub uid: u32,
    /// Its user name, from `/etc/passwd` (the uid when it has none).
    pub user: String,
    /// The processes that have the socket open; empty when none can be seen (another
    /// user's, without root).
    pub processes: Vec<Process>,
}

/// What a port's state means for the product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Nothing holds it.
    Free,
    /// Held by the product (its process was named with `--process`).
    Product,
    /// Held, and whether by the product is not known (no `--process`).
    InUse,
    /// Held by another program than the product: the product cannot bind it.
    Conflict,
    /// A local-only port reachable from other hosts.
    Exposed,
}

impl State {
    /// How the table shows it.
    fn label(self) -> &'static str {
        match self {
            State::Free => "free",
            State::Product => "product",
            State::InUse => "in use",
            State::Conflict => "CONFLICT",
            State::Exposed => "EXPOSED",
        }
    }
}

/// One port of the profile on this machine.
#[derive(Clone, Debug, Serialize)]
pub struct PortState {
    /// The port as the profile describes it.
    #[serde(flatten)]
    pub entry: PortEntry,
    /// What its holders mean for the product.
    pub state: State,
    /// The sockets bound to it, and their processes.
    pub holders: Vec<Holder>,
    /// The verdict in words.
    pub says: String,
}

/// The whole answer of `portproof ports`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The product.
    pub product: String,
    /// The profile (or manifest) name.
    pub profile: String,
    /// The offset applied to the ports.
    pub offset: Option<i32>,
    /// The role whose machine's ports these are, where the profile has several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Where the answer was read: the kernel's tables on this machine.
    pub read_from: &'static str,
    /// Each port.
    pub ports: Vec<PortState>,
    /// The role's ports not surveyed, and why (their features off, or closed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<LeftOut>,
}

impl Report {
    /// Whether any port is in a state that stops the product or breaks its document's rules:
    /// a conflict, or a local-only port others can reach.
    pub fn has_problem(&self) -> bool {
        self.ports.iter().any(|p| matches!(p.state, State::Conflict | State::Exposed))
    }
}

/// What the machine shows: its bound sockets, and the means to name their processes and users.
pub trait Machine {
    /// Every bound socket.
    fn sockets(&self) -> Vec<Socket>;
    /// The processes holding each of `inodes`.
    fn processes(&self, inodes: &HashSet<u64>) -> HashMap<u64, Vec<Process>>;
    /// The user name of `uid`.
    fn user(&self, uid: u32) -> Option<String>;
}

/// This machine, through `/proc` (Linux).
pub struct Proc;

impl Proc {
    /// This machine, when it has the kernel's socket tables to read.
    pub fn here() -> Result<Proc, String> {
        if cfg!(target_os = "linux") && Path::new("/proc/net/tcp").exists() {
            Ok(Proc)
        } else {
            Err(format!(
                "portproof ports reads Linux's /proc (socket tables and process folders), which this {} system does not have; it is built and verified on Linux only",
                std::env::consts::OS
            ))
        }
    }
}

impl Machine for Proc {
    fn sockets(&self) -> Vec<Socket> {
        [("/proc/net/tcp", Transport::Tcp), ("/proc/net/tcp6", Transport::Tcp)]
            .into_iter()
            .chain([("/proc/net/udp", Transport::Udp), ("/proc/net/udp6", Transport::Udp)])
            // A machine without IPv6 has no tcp6 file: nothing bound there.
            .filter_map(|(file, t)| std::fs::read_to_string(file).ok().map(|text| parse_table(&text, t)))
            .flatten()
            .collect()
    }

    fn processes(&self, inodes: &HashSet<u64>) -> HashMap<u64, Vec<Process>> {
        let mut out: HashMap<u64, Vec<Process>> = HashMap::new();
        if inodes.is_empty() {
            return out;
        }
        let Ok(dir) = std::fs::read_dir("/proc") else { return out };
        for pid in dir.flatten().filter_map(|d| d.file_name().to_str()?.parse::<u32>().ok()) {
            // Processes come and go while we read, and another user's fds are closed to us:
            // either way there is nothing to name.
            let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { continue };
            let mut found = HashSet::new();
            for fd in fds.flatten() {
                if let Some(inode) = std::fs::read_link(fd.path()).ok().and_then(|l| socket_inode(&l.to_string_lossy()))
                    && inodes.contains(&inode)
                {
                    found.insert(inode);
                }
            }
            if found.is_empty() {
                continue;
            }
            let read = |f: &str| std::fs::read(format!("/proc/{pid}/{f}")).unwrap_or_default();
            let command = String::from_utf8_lossy(&read("comm")).trim_end().to_owned();
            let cmdline = String::from_utf8_lossy(&read("cmdline"))
                .split('\0')
                .filter(|a| !a.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            let p = Process { pid, command, cmdline };
            for inode in found {
                out.entry(inode).or_default().push(p.clone());
            }
        }
        out
    }

    fn user(&self, uid: u32) -> Option<String> {
        user_in_passwd(&std::fs::read_to_string("/etc/passwd").ok()?, uid)
    }
}

/// `socket:[12345]` → 12345.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
}

/// The name of `uid` in a passwd file's text.
pub fn user_in_passwd(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2].parse() == Ok(uid)).then(|| f[0].to_owned())
    })
}

/// Whether `p` is the product, by one of the names given with `--process` (a word of its name
/// or command line, compared without case).
fn is_product(p: &Process, names: &[String]) -> bool {
    let (command, cmdline) = (p.command.to_lowercase(), p.cmdline.to_lowercase());
    names.iter().map(|n| n.to_lowercase()).any(|n| command == n || cmdline.contains(&n))
}

/// Reads who holds each of the selected ports on `machine`.
pub fn survey(listing: &Listing, selected: &Selected, product_process: &[String], machine: &dyn Machine) -> Report {
    let entries = &selected.entries;
    let sockets: Vec<Socket> = machine.sockets().into_iter().filter(Socket::holds_port).collect();
    let wanted: HashSet<(Transport, u16)> = entries.iter().map(|e| (e.transport, e.port)).collect();
    let inodes: HashSet<u64> =
        sockets.iter().filter(|s| wanted.contains(&(s.transport, s.port))).map(|s| s.inode).collect();
    let procs = machine.processes(&inodes);
    let mut users: HashMap<u32, String> = HashMap::new();
    let ports = entries
        .iter()
        .map(|e| {
            let mut holders: Vec<Holder> = sockets
                .iter()
                .filter(|s| s.transport == e.transport && s.port == e.port)
                .map(|s| Holder {
                    address: s.addr,
                    scope: scope(s.addr),
                    uid: s.uid,
                    user: users
                        .entry(s.uid)
                        .or_insert_with(|| machine.user(s.uid).unwrap_or_else(|| s.uid.to_string()))
                        .clone(),
                    processes: procs.get(&s.inode).cloned().unwrap_or_default(),
                })
                .collect();
            holders.sort_by_key(|h| (h.address.is_ipv6(), h.address));
            let (state, says) = judge(e, &holders, product_process);
            PortState { entry: e.clone(), state, holders, says }
        })
        .collect();
    Report {
        product: listing.product.clone(),
        profile: listing.name.clone(),
        offset: listing.offset,
        role: selected.role.as_ref().filter(|_| selected.several_roles).map(|(r, _)| r.clone()),
        read_from: "/proc (Linux)",
        ports,
        left_out: selected.left_out.clone(),
    }
}

/// Who a holder is, in words: `java (pid 4242, user ignition)`.
fn who(h: &Holder) -> String {
    if h.processes.is_empty() {
        return format!("a process of user {} that portproof cannot see (run as root to name it)", h.user);
    }
    let ps: Vec<String> =
        h.processes.iter().map(|p| format!("{} (pid {}, user {})", p.command, p.pid, h.user)).collect();
    ps.join(", ")
}

/// Where a holder listens, in words.
fn bound(h: &Holder) -> String {
    match h.scope {
        Scope::Everywhere => format!("on {} (every address)", h.address),
        Scope::Loopback => format!("on {} (loopback only: other hosts cannot reach it)", h.address),
        Scope::OneAddress => format!("on {} only", h.address),
    }
}

/// The state of one port and the sentence that says it.
fn judge(e: &PortEntry, holders: &[Holder], product_process: &[String]) -> (State, String) {
    let port = format!("{}/{}", e.port, e.transport);
    if holders.is_empty() {
        let says = match e.direction {
            Direction::Outbound => {
                format!("{port} is free here; it is an outbound port: {} connects to it elsewhere", e.product)
            }
            _ => format!("{port} is free: {} can bind it", e.product),
        };
        return (State::Free, says);
    }
    let list: Vec<String> = holders.iter().map(|h| format!("{} {}", who(h), bound(h))).collect();
    let held = format!("{port} held by {}", list.join("; "));
    let seen: Vec<&Process> = holders.iter().flat_map(|h| &h.processes).collect();
    let others: Vec<&&Process> = seen.iter().filter(|p| !is_product(p, product_process)).collect();
    let unseen = holders.iter().any(|h| h.processes.is_empty());
    let ours = !product_process.is_empty() && !seen.is_empty() && others.is_empty() && !unseen;
    if e.direction == Direction::LocalOnly && holders.iter().any(|h| h.scope != Scope::Loopback) {
        let says = format!(
            "{held}: the document says {} uses it on this machine only, and it is reachable from other hosts; bind it to 127.0.0.1 or block it",
            e.product
        );
        return (State::Exposed, says);
    }
    if e.direction == Direction::Outbound {
        return (State::InUse, format!("{held}; it is an outbound port: {} connects to it elsewhere", e.product));
    }
    if product_process.is_empty() {
        let says = format!(
            "{held}: if that is not {}, its {} cannot start here (--process names the product's process)",
            e.product, e.name
        );
        return (State::InUse, says);
    }
    if !ours && others.is_empty() {
        // Every process seen is the product's, but a socket's holder could not be seen.
        return (State::InUse, format!("{held}: whether that is {} cannot be seen", e.product));
    }
    if !ours {
        let names: Vec<String> = others.iter().map(|p| format!("{} (pid {})", p.command, p.pid)).collect();
        let says = format!(
            "{held}: another program ({}) holds it, so {} cannot start its {} here; stop that program or move the port",
            names.join(", "),
            e.product,
            e.name
        );
        return (State::Conflict, says);
    }
    // Where it is bound is in `held`: loopback only is said there.
    (State::Product, format!("{held}: {}'s own", e.product))
}

/// The report as a table, or as JSON.
pub fn render(r: &Report, format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(r).expect("the report serializes") + "\n",
        Format::Table => table(r),
    }
}

fn table(r: &Report) -> String {
    let offset = match r.offset {
        Some(o) if o != 0 => format!(", ports {o:+}"),
        _ => String::new(),
    };
    let role = r.role.as_ref().map(|x| format!(", role {x}")).unwrap_or_default();
    let mut out =
        format!("{} (profile {}{role}{offset}): who holds each port on this machine\n\n", r.product, r.profile);
    let name_w = r.ports.iter().map(|p| p.entry.name.chars().count()).max().unwrap_or(4).max(4);
    let _ = writeln!(out, "{:<11} {:<name_w$}  {:<8}  HELD BY", "PORT", "NAME", "STATE");
    for p in &r.ports {
        let port = format!("{}/{}", p.entry.port, p.entry.transport);
        let holders: Vec<String> = p
            .holders
            .iter()
            .map(|h| {
                let who = if h.processes.is_empty() {
                    format!("? (user {})", h.user)
                } else {
                    h.processes
                        .iter()
                        .map(|x| format!("{} pid {} ({})", x.command, x.pid, h.user))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                format!("{who} on {}", addr_with_port(h.address, p.entry.port))
            })
            .collect();
        let held = if holders.is_empty() { "-".to_owned() } else { holders.join("; ") };
        let _ = writeln!(out, "{port:<11} {:<name_w$}  {:<8}  {held}", p.entry.name, p.state.label());
    }
    let notes: Vec<&PortState> = r.ports.iter().filter(|p| p.state != State::Free).collect();
    if !notes.is_empty() {
        out.push('\n');
        for p in notes {
            let _ = writeln!(out, "{}", p.says);
        }
    }
    let off: Vec<String> = r
        .left_out
        .iter()
        .filter(|l| l.why == Why::FeatureOff)
        .map(|l| {
            format!(
                "{}/{} {} ({})",
                l.entry.port,
                l.entry.transport,
                l.entry.name,
                l.entry.feature.as_deref().unwrap_or("?")
            )
        })
        .collect();
    if !off.is_empty() {
        let _ = writeln!(out, "\nNot surveyed, their features off (--with F or --all adds them): {}.", off.join(", "));
    }
    for l in &r.left_out {
        if let Why::Closed(why) = &l.why {
            let _ = writeln!(
                out,
                "Not surveyed, it must be closed: {}/{} {}: {why}.",
                l.entry.port, l.entry.transport, l.entry.name
            );
        }
    }
    out
}

fn addr_with_port(a: IpAddr, port: u16) -> String {
    match a {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portlist::tests::{entry, selected};

    /// A captured `/proc/net/tcp6` and `udp` (Debian 12, kernel 6.1): a listener on `::1`, one
    /// on `::ffff:127.0.0.1`, one on `::` and an established connection; UDP on 127.0.0.1 and
    /// 0.0.0.0.
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1111 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   103        0 7093 1 0000000011166e0a 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:8591 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 18961 1 00000000add5d3a3 100 0 0 10 0
   2: 00000000000000000000000000000000:1F98 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 555 1 0000000011166e0a 100 0 0 10 0
   3: 00000000000000000000000001000000:1F98 00000000000000000000000001000000:A1B2 01 00000000:00000000 00:00000000 00000000  1000        0 556 1 0000000011166e0a 100 0 0 10 0
";
    const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
 2544: 0100007F:2B73 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 21333 2 00000000b0da329b 0
   9: 00000000:007B 00000000:0000 07 00000000:00000000 00:00000000 00000000   104        0 900 2 00000000b0da329b 0
";

    #[test]
    fn proc_tables_parse_with_their_addresses() {
        let t = parse_table(TCP6, Transport::Tcp);
        assert_eq!(t.len(), 4);
        assert_eq!((t[0].addr, t[0].port, t[0].uid, t[0].inode), ("::1".parse().unwrap(), 0x1111, 103, 7093));
        assert_eq!(t[1].addr, "::ffff:127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(
            (scope(t[0].addr), scope(t[1].addr), scope(t[2].addr)),
            (Scope::Loopback, Scope::Loopback, Scope::Everywhere)
        );
        assert!(t[2].holds_port() && !t[3].holds_port(), "a connection does not hold its local port");
        let u = parse_table(UDP, Transport::Udp);
        assert_eq!((u[0].addr, u[0].port), (IpAddr::V4(Ipv4Addr::LOCALHOST), 0x2B73));
        assert_eq!((u[1].addr, u[1].port), (IpAddr::V4(Ipv4Addr::UNSPECIFIED), 123));
        assert!(u.iter().all(Socket::holds_port));
        assert_eq!(scope("192.0.2.7".parse().unwrap()), Scope::OneAddress);
        assert!(parse_table("header\ngarbage line\n  0: zz:zz\n", Transport::Tcp).is_empty());
        assert_eq!(socket_inode("socket:[4242]"), Some(4242));
        assert_eq!(socket_inode("pipe:[4242]"), None);
        assert_eq!(
            user_in_passwd("root:x:0:0::/root:/bin/sh\nsvc:x:104:110::/:/bin/false\n", 104).as_deref(),
            Some("svc")
        );
    }

    /// A machine made of the captured tables, with the processes the test says.
    struct Fake(Vec<Socket>, HashMap<u64, Vec<Process>>);

    impl Machine for Fake {
        fn sockets(&self) -> Vec<Socket> {
            self.0.clone()
        }
        fn processes(&self, inodes: &HashSet<u64>) -> HashMap<u64, Vec<Process>> {
            self.1.iter().filter(|(i, _)| inodes.contains(i)).map(|(i, p)| (*i, p.clone())).collect()
        }
        fn user(&self, uid: u32) -> Option<String> {
            (uid == 1000).then(|| "gw".to_owned())
        }
    }

    fn fake() -> Fake {
        let mut s = parse_table(TCP6, Transport::Tcp);
        s.extend(parse_table(UDP, Transport::Udp));
        let java = Process { pid: 4242, command: "java".into(), cmdline: "java -Dignition.home=/opt/ignition".into() };
        let nginx = Process { pid: 77, command: "nginx".into(), cmdline: "nginx: master process".into() };
        Fake(s, HashMap::from([(555, vec![java]), (7093, vec![nginx])]))
    }

    fn listing() -> Listing {
        crate::portlist::tests::listing("acme", "Acme")
    }

    #[test]
    fn each_state_is_named_for_what_it_means() {
        let entries = vec![
            entry("Web", 8088, Transport::Tcp, Direction::Inbound),
            entry("Admin", 0x1111, Transport::Tcp, Direction::Inbound),
            entry("Free", 9, Transport::Tcp, Direction::Inbound),
            entry("Broker", 0x8591, Transport::Tcp, Direction::LocalOnly),
            entry("Time", 123, Transport::Udp, Direction::LocalOnly),
            entry("Database", 0x2B73, Transport::Udp, Direction::Outbound),
        ];
        let r = survey(&listing(), &selected(entries.clone()), &["ignition".into()], &fake());
        let states: Vec<State> = r.ports.iter().map(|p| p.state).collect();
        assert_eq!(states, [State::Product, State::Conflict, State::Free, State::InUse, State::Exposed, State::InUse]);
        let web = &r.ports[0];
        assert_eq!(web.holders[0].processes[0].pid, 4242);
        assert_eq!((web.holders[0].user.as_str(), web.holders[0].scope), ("gw", Scope::Everywhere));
        assert!(web.says.contains("java (pid 4242, user gw) on :: (every address)"), "{}", web.says);
        let admin = &r.ports[1].says;
        assert!(
            admin.contains("another program (nginx (pid 77))") && admin.contains("Acme cannot start its Admin"),
            "{admin}"
        );
        assert!(admin.contains("loopback only: other hosts cannot reach it"), "{admin}");
        // Root's local-only broker on loopback: fine, but no process could be named.
        assert!(r.ports[3].says.contains("cannot see"), "{}", r.ports[3].says);
        assert!(r.ports[4].says.contains("reachable from other hosts"), "{}", r.ports[4].says);
        assert!(r.ports[5].says.contains("outbound port"), "{}", r.ports[5].says);
        assert!(r.has_problem());
        // Without --process, a holder is only "in use": whose it is is not known.
        let r = survey(&listing(), &selected(entries[..1].to_vec()), &[], &fake());
        assert_eq!(r.ports[0].state, State::InUse);
        assert!(
            r.ports[0].says.contains("if that is not Acme, its Web cannot start here") && !r.has_problem(),
            "{}",
            r.ports[0].says
        );
    }

    #[test]
    fn the_product_on_loopback_only_is_said_to_be_invisible() {
        let mut f = fake();
        f.1.insert(7093, vec![Process { pid: 5, command: "java".into(), cmdline: "ignition".into() }]);
        let r = survey(
            &listing(),
            &selected(vec![entry("Admin", 0x1111, Transport::Tcp, Direction::Inbound)]),
            &["java".into()],
            &f,
        );
        assert_eq!(r.ports[0].state, State::Product);
        assert!(
            r.ports[0].says.contains("(loopback only: other hosts cannot reach it): Acme's own"),
            "{}",
            r.ports[0].says
        );
    }

    #[test]
    fn table_and_json_carry_pid_user_and_address() {
        let r = survey(
            &listing(),
            &selected(vec![entry("Web", 8088, Transport::Tcp, Direction::Inbound)]),
            &["java".into()],
            &fake(),
        );
        let t = render(&r, Format::Table);
        assert!(t.contains("8088/tcp") && t.contains("java pid 4242 (gw) on [::]:8088"), "{t}");
        let j: serde_json::Value = serde_json::from_str(&render(&r, Format::Json)).unwrap();
        let h = &j["ports"][0]["holders"][0];
        assert_eq!(
            (h["address"].as_str(), h["scope"].as_str(), h["processes"][0]["pid"].as_u64()),
            (Some("::"), Some("everywhere"), Some(4242))
        );
        assert_eq!((j["ports"][0]["port"].as_u64(), j["ports"][0]["state"].as_str()), (Some(8088), Some("product")));
    }

    #[test]
    fn the_table_names_the_role_and_what_was_not_surveyed() {
        let web = PortEntry { role: Some("gateway".into()), ..entry("Web", 9, Transport::Tcp, Direction::Inbound) };
        let ua = PortEntry { feature: Some("opcua".into()), ..entry("UA", 4840, Transport::Tcp, Direction::Inbound) };
        let metro = entry("Metro", 8060, Transport::Tcp, Direction::Inbound);
        let sel = Selected {
            role: Some(("gateway".into(), "the gateway".into())),
            several_roles: true,
            entries: vec![web],
            left_out: vec![
                LeftOut { entry: ua, why: Why::FeatureOff },
                LeftOut { entry: metro, why: Why::Closed("metro in g.xml:3 is 0".into()) },
            ],
        };
        let r = survey(&listing(), &sel, &[], &fake());
        let t = render(&r, Format::Table);
        assert!(t.starts_with("Acme (profile acme, role gateway): "), "{t}");
        assert!(
            t.contains("\nNot surveyed, their features off (--with F or --all adds them): 4840/tcp UA (opcua).\n"),
            "{t}"
        );
        assert!(t.contains("\nNot surveyed, it must be closed: 8060/tcp Metro: metro in g.xml:3 is 0.\n"), "{t}");
        let j: serde_json::Value = serde_json::from_str(&render(&r, Format::Json)).unwrap();
        assert_eq!((j["role"].as_str(), j["left_out"][0]["why"].as_str()), (Some("gateway"), Some("feature-off")));
    }

    #[test]
    fn this_machine_names_our_own_listener() {
        let Ok(machine) = Proc::here() else { return };
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let entries = vec![
            entry("T", l.local_addr().unwrap().port(), Transport::Tcp, Direction::Inbound),
            entry("U", u.local_addr().unwrap().port(), Transport::Udp, Direction::Inbound),
        ];
        let r = survey(&listing(), &selected(entries), &[], &machine);
        for p in &r.ports {
            assert_eq!(p.holders.len(), 1, "{p:?}");
            let h = &p.holders[0];
            assert_eq!((h.address, h.scope), (IpAddr::V4(Ipv4Addr::LOCALHOST), Scope::Loopback));
            assert!(h.processes.iter().any(|x| x.pid == std::process::id()), "{p:?}");
        }
    }
}
