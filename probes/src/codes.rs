//! Failure and warning codes, each defined once in the table of the module that produces it.
//!
//! A code is a stable dotted name that users match on (in CI, alerts and scripts), so it must
//! not drift: a probe builds its failures from the [`Code`] values of its own table (made by
//! [`codes!`](crate::codes)), never from a string, and `portproof codes` / `portproof explain`
//! read the same tables. A code whose last part varies with what the server said (an OPC UA
//! status, an AMQP reply code) is a *family*: one entry, `opcua.err.<status>`, and the suffix
//! is added where the failure is made. Codes of the shape `<phase>.timeout` are *phased*: one
//! entry for every phase, the prefix chosen by the phase the probe was in.

use std::fmt;

use crate::{Failure, Level, Phase};

/// Whether a code names why a check stopped or a problem seen at the level it reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Why the next level of the ladder was not reached.
    Failure,
    /// Reached the level, but something is wrong.
    Warning,
}

/// How a code's name is spelled in results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Exactly the name.
    Exact,
    /// The name, a dot and a part that varies (`amqp.closed.404`).
    Family,
    /// The phase's code prefix, a dot and the name (`request.timeout`, `tcp.timeout`).
    Phased,
}

/// One code: its name and everything a person needs to act on it.
#[derive(Debug)]
pub struct Code {
    /// The stable name (for a family, the part before the varying suffix; for a phased code,
    /// the part after the phase).
    pub name: &'static str,
    /// Failure or warning.
    pub kind: Kind,
    /// How results spell it.
    pub shape: Shape,
    /// The level a check is typically left at when this failure ends it (`open` for a port
    /// that answered something else); for a warning, the level it is seen at.
    pub level: Level,
    /// What the code means, in one sentence.
    pub about: &'static str,
    /// What to do about it: the default hint of failures made from this code.
    pub hint: &'static str,
    /// Where the rule comes from (an RFC section, a vendor document), or "".
    pub spec: &'static str,
}

impl Code {
    /// How the code is written in results: `amqp.closed.<code>` for a family, `<phase>.timeout`
    /// for a phased code.
    pub fn display_name(&self) -> String {
        match self.shape {
            Shape::Exact => self.name.to_owned(),
            Shape::Family => format!("{}.<detail>", self.name),
            Shape::Phased => format!("<phase>.{}", self.name),
        }
    }

    /// Whether a result's code string is this code.
    pub fn matches(&self, code: &str) -> bool {
        match self.shape {
            Shape::Exact => code == self.name,
            Shape::Family => {
                code.strip_prefix(self.name).and_then(|r| r.strip_prefix('.')).is_some_and(|r| !r.is_empty())
            }
            Shape::Phased => code.split_once('.').is_some_and(|(prefix, rest)| {
                rest == self.name && Phase::ALL.iter().any(|p| p.code_prefix() == prefix)
            }),
        }
    }

    /// A failure of this (exact) code, with the table's hint.
    pub fn failure(&'static self, phase: Phase, message: impl Into<String>) -> Failure {
        debug_assert!(self.shape == Shape::Exact, "{} needs its detail or phase", self.name);
        self.make(self.name.to_owned(), phase, message)
    }

    /// A failure of this family, `name.detail`.
    pub fn failure_with(&'static self, detail: impl fmt::Display, phase: Phase, message: impl Into<String>) -> Failure {
        debug_assert!(self.shape == Shape::Family, "{} is not a family", self.name);
        self.make(format!("{}.{detail}", self.name), phase, message)
    }

    /// A failure of this phased code in `phase`: `request.timeout`, `tcp.timeout`.
    pub fn failure_in(&'static self, phase: Phase, message: impl Into<String>) -> Failure {
        debug_assert!(self.shape == Shape::Phased, "{} is not phased", self.name);
        self.make(format!("{}.{}", phase.code_prefix(), self.name), phase, message)
    }

    fn make(&'static self, code: String, phase: Phase, message: impl Into<String>) -> Failure {
        let mut f = Failure::raw(code, phase, message.into());
        if !self.hint.is_empty() {
            f.hint = Some(self.hint.to_owned());
        }
        f
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_name())
    }
}

impl PartialEq<Code> for str {
    fn eq(&self, c: &Code) -> bool {
        c.matches(self)
    }
}

impl PartialEq<Code> for String {
    fn eq(&self, c: &Code) -> bool {
        c.matches(self)
    }
}

/// What [`Failure::new`] and [`crate::ProbeCx::warn`] take as a code: a table entry, never a
/// string, so that every code a probe can produce is in a table.
pub trait IntoCode {
    /// The code as results spell it, and the table's hint.
    fn into_code(self) -> (String, Option<&'static str>);
}

impl IntoCode for &'static Code {
    fn into_code(self) -> (String, Option<&'static str>) {
        debug_assert!(self.shape == Shape::Exact, "{} needs its detail or phase", self.name);
        (self.name.to_owned(), Some(self.hint).filter(|h| !h.is_empty()))
    }
}

/// Defines a module's codes: one `pub static` per code and `pub static CODES`, the table.
///
/// ```ignore
/// portproof_probes::codes! {
///     /// The port answered, but not with AMQP.
///     NOT_AMQP = failure "amqp.not_amqp" at Open {
///         about: "the port answered, but not with AMQP's protocol header",
///         hint: "check the port: AMQP is usually 5672",
///         spec: "AMQP 0-9-1 §4.2.2",
///     }
/// }
/// ```
/// `failure`/`warning` is the kind; `family` or `phased` after it changes the shape.
#[macro_export]
macro_rules! codes {
    (@shape) => { $crate::codes::Shape::Exact };
    (@shape family) => { $crate::codes::Shape::Family };
    (@shape phased) => { $crate::codes::Shape::Phased };
    (@kind failure) => { $crate::codes::Kind::Failure };
    (@kind warning) => { $crate::codes::Kind::Warning };
    ($(
        $(#[$meta:meta])*
        $id:ident = $kind:ident $($shape:ident)? $name:literal at $level:ident {
            about: $about:expr,
            hint: $hint:expr,
            spec: $spec:expr $(,)?
        }
    )*) => {
        $(
            $(#[$meta])*
            pub static $id: $crate::codes::Code = $crate::codes::Code {
                name: $name,
                kind: $crate::codes!(@kind $kind),
                shape: $crate::codes!(@shape $($shape)?),
                level: $crate::Level::$level,
                about: $about,
                hint: $hint,
                spec: $spec,
            };
        )*
        /// Every code this module defines, in the order written.
        pub static CODES: &[&$crate::codes::Code] = &[$(&$id),*];
    };
}

/// The codes no single probe owns: resolving, connecting, reading, the runner.
pub mod core {
    crate::codes! {
        /// The name did not resolve.
        DNS_FAILED = failure "dns.failed" at Unreachable {
            about: "the host name did not resolve to any address",
            hint: "check the host name for typos, and that this machine's DNS or /etc/hosts knows it",
            spec: "",
        }
        /// Nothing listens.
        TCP_REFUSED = failure "tcp.refused" at Unreachable {
            about: "the host answered the connection attempt with a reset: nothing listens on the port",
            hint: "nothing listens on that port: is the service running and bound to this address (not only to localhost)?",
            spec: "RFC 9293 §3.10.7.1",
        }
        /// No route.
        TCP_UNREACHABLE = failure "tcp.unreachable" at Unreachable {
            about: "there is no route to the host (ICMP host or network unreachable)",
            hint: "no route to the host: check the address, routing and VPN",
            spec: "",
        }
        /// Reset.
        TCP_RESET = failure "tcp.reset" at Open {
            about: "the peer reset the connection",
            hint: "the service dropped the connection: check its logs and access rules",
            spec: "",
        }
        /// Refused by this machine.
        TCP_DENIED = failure "tcp.denied" at Unreachable {
            about: "the local system refused to make the connection",
            hint: "the local system refused the connection (firewall rule on this machine?)",
            spec: "",
        }
        /// Another connect error.
        TCP_ERROR = failure "tcp.error" at Unreachable {
            about: "the connection failed for a reason the operating system reported",
            hint: "the connection failed for a reason the system reported above",
            spec: "",
        }
        /// A UDP datagram drew an ICMP port unreachable.
        UDP_REFUSED = failure "udp.refused" at Unreachable {
            about: "the host answered the datagram with ICMP port unreachable: nothing listens on that UDP port",
            hint: "nothing listens on that UDP port: is the service running and bound to this address?",
            spec: "RFC 1122 §4.1.3.1",
        }
        /// A UDP datagram drew an ICMP host or network unreachable.
        UDP_UNREACHABLE = failure "udp.unreachable" at Unreachable {
            about: "the datagram drew an ICMP host or network unreachable: there is no route to the host",
            hint: "no route to the host: check the address, routing and VPN",
            spec: "RFC 1122 §3.2.2.1",
        }
        /// The UDP socket could not be made or used.
        UDP_ERROR = failure "udp.error" at Unreachable {
            about: "the UDP socket could not be opened or the datagram could not be sent",
            hint: "the local system refused the datagram; check the address family and local firewall",
            spec: "",
        }
        /// The deadline passed.
        TIMEOUT = failure phased "timeout" at Unreachable {
            about: "the deadline passed during this phase (tcp.timeout: while connecting)",
            hint: "the service did not answer in time: it may be overloaded, filtered, or another protocol; raise --timeout if it is known to be slow",
            spec: "",
        }
        /// The peer sent more than the read limit.
        OVERSIZED = failure phased "oversized" at Open {
            about: "the peer sent more than the most a probe reads from one connection",
            hint: "the peer sends without end; it is not the expected service or it is broken",
            spec: "",
        }
        /// The peer closed the connection.
        CLOSED = failure phased "closed" at Open {
            about: "the peer closed the connection during this phase",
            hint: "the service hung up: it may not speak this protocol, or its access rules refused this client",
            spec: "",
        }
        /// Another read error.
        ERROR = failure phased "error" at Open {
            about: "reading from or writing to the peer failed",
            hint: "the connection failed mid-exchange; the message gives the system's reason",
            spec: "",
        }
        /// A setting is wrong.
        CONFIG_INVALID = failure "config.invalid" at Unreachable {
            about: "a setting of the check is wrong, found before any network traffic",
            hint: "fix the setting the message names",
            spec: "",
        }
        /// Ctrl-C.
        RUN_INTERRUPTED = failure "run.interrupted" at Unreachable {
            about: "the run was interrupted before this check finished",
            hint: "run again without interrupting",
            spec: "",
        }
        /// A probe panicked.
        RUN_PANIC = failure "run.panic" at Unreachable {
            about: "the probe panicked: a bug in portproof, not in the service",
            hint: "please report it with the command line and PORTPROOF_LOG=debug output",
            spec: "",
        }
        /// Something answered on a port that must be closed.
        CLOSED_ANSWERED = failure "closed.answered" at Open {
            about: "the port must be closed from here (expect: closed, a local-only port checked from another host, or a port the product's configuration sets to 0), and something answered",
            hint: "close the port or bind the service to loopback only; the message names what answered",
            spec: "",
        }
        /// Another protocol answered.
        PROTO_MISMATCH = failure "proto.mismatch" at Open {
            about: "the port answered in another protocol than the one expected (`identified` names it)",
            hint: "the port runs another service; check the port number, or expect what it speaks",
            spec: "",
        }
        /// No password was given.
        AUTH_NO_CREDENTIALS = failure "auth.no_credentials" at Speaks {
            about: "the protocol was confirmed, but the check gives no login, so health could not be proven",
            hint: "give login: with user and password_env or password_file to check the login too",
            spec: "",
        }
        /// The server refused the login.
        AUTH_REJECTED = failure "auth.rejected" at Speaks {
            about: "the server refused the login",
            hint: "check the user name and password, and the server's access rules for this client",
            spec: "",
        }
        /// The probe kept a password from crossing in clear text.
        AUTH_CLEARTEXT_REFUSED = failure "auth.cleartext_refused" at Speaks {
            about: "a login was asked for, but its password would cross to an address other than loopback without TLS, and the check does not allow that",
            hint: "check the TLS port of the service (over: tls), or say the path is trusted with login.cleartext: allow (--cleartext allow)",
            spec: "RFC 4616 §6; RFC 7617 §4",
        }
        /// The login did not finish in time.
        AUTH_TIMEOUT = failure "auth.timeout" at Speaks {
            about: "the login did not finish within the deadline",
            hint: "the service stalled after the handshake; check its load and logs",
            spec: "",
        }
    }
}

/// Every code table in the tree: the core's and each registered probe's.
pub fn all() -> Vec<&'static Code> {
    let mut out: Vec<&'static Code> = core::CODES.to_vec();
    for p in crate::registry() {
        for c in p.codes() {
            if !out.iter().any(|o| std::ptr::eq(*o, *c)) {
                out.push(c);
            }
        }
    }
    out
}

/// The table entry a result's code string belongs to.
pub fn lookup(code: &str) -> Option<&'static Code> {
    let all = all();
    all.iter().copied().find(|c| c.shape == Shape::Exact && c.name == code).or_else(|| {
        // The longest family or phased name that fits, so `amqp.closed.404` finds `amqp.closed`.
        all.iter().copied().filter(|c| c.matches(code)).max_by_key(|c| c.name.len())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_match_what_results_spell() {
        assert!(core::TCP_REFUSED.matches("tcp.refused"));
        assert!(!core::TCP_REFUSED.matches("tcp.refused.x"));
        assert!(core::TIMEOUT.matches("request.timeout") && core::TIMEOUT.matches("tcp.timeout"));
        assert!(!core::TIMEOUT.matches("bogus.timeout"));
        let f = core::TIMEOUT.failure_in(Phase::Connect, "x");
        assert_eq!(f.code, "tcp.timeout");
        assert_eq!(f.hint.as_deref(), Some(core::TIMEOUT.hint));
        assert!(*"tcp.timeout" == core::TIMEOUT);
    }

    #[test]
    fn every_code_is_defined_once_with_words() {
        let all = all();
        for (i, a) in all.iter().enumerate() {
            assert!(!a.about.is_empty() && !a.hint.is_empty(), "{} needs about and hint", a.name);
            assert!(
                a.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'),
                "{}",
                a.name
            );
            for b in &all[i + 1..] {
                assert!(!(a.name == b.name && a.shape == b.shape), "{} is defined twice", a.name);
            }
        }
        assert!(lookup("tcp.refused").is_some());
        assert!(lookup("no.such_code").is_none());
    }
}
