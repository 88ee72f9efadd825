//! The `ntp` probe's failure and warning codes: the one place they are named, so that results,
//! `portproof codes` and `portproof explain` say the same thing.

crate::codes! {
    /// No NTP reply to our request came back before the deadline.
    NO_RESPONSE = failure "ntp.no_response" at Unreachable {
        about: "no NTP reply to this request came back within the deadline: a reply must be mode 4 (server) and echo the request's transmit timestamp as its origin timestamp; datagrams that are not are ignored, and the message counts them",
        hint: "nothing answered as an NTP server: check that the service runs and listens on this UDP port, that it serves clients at all (chrony needs an allow line, ntpd a restrict that permits queries), and that no firewall drops UDP",
        spec: "RFC 5905 §8",
    }
    /// The server answered with a Kiss-o'-Death packet.
    KISS = failure family "ntp.kiss" at Speaks {
        about: "the server answered with a Kiss-o'-Death packet (stratum 0; the reference id is the kiss code, lowercased in the name: ntp.kiss.deny, ntp.kiss.rstr, ntp.kiss.rate, ntp.kiss.init, ...). It proves NTP, but the server refuses to give this client the time",
        hint: "the server refuses this client the time; the message names the kiss code and what to do about it",
        spec: "RFC 5905 §7.4",
    }
    /// The server says it is not synchronised.
    UNSYNCHRONISED = failure "ntp.unsynchronised" at Speaks {
        about: "the server answers NTP but says its clock is not synchronised: leap indicator 3 (alarm), or a stratum outside 1 to 15 (16 is unsynchronised); clients will not take the time from it",
        hint: "the server has no usable time source: check its upstream servers or reference clock (chronyc sources, ntpq -p), or, for an isolated network, give it a local reference (chrony: local stratum 8; ntpd: tos orphan)",
        spec: "RFC 5905 §7.3",
    }
    /// The server's clock is further from ours than the check allows.
    OFFSET = failure "ntp.offset" at Speaks {
        about: "the server is synchronised, but the clock offset computed from the four timestamps is larger than ntp.max_offset (default 1 s): the server's time and this machine's differ that much",
        hint: "one of the two clocks is wrong: compare both with a trusted source; if this machine is the one off, fix its own time first; raise ntp.max_offset if the tolerance is too tight",
        spec: "RFC 5905 §8",
    }
}
