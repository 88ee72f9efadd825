//! NTP responders for what no real server here produces on demand: Kiss-o'-Death packets,
//! replies with a wrong origin timestamp, replies from another port, a clock far off, and an
//! ntpd-like answer to a mode-6 READVAR. The packets are written here from RFC 5905 §7.3 and
//! RFC 9327 §2, not with the probe's codec.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;

use crate::Server;

/// How a responder answers a client request (mode 3).
#[derive(Clone, Debug, PartialEq)]
pub enum NtpMode {
    /// A synchronised server: leap 0, this stratum and reference id, its clock `offset`
    /// seconds ahead of this machine's (negative: behind).
    Synced {
        /// Stratum (1-15 is synchronised).
        stratum: u8,
        /// Reference id bytes.
        refid: [u8; 4],
        /// Seconds the server's clock is ahead.
        offset: f64,
    },
    /// A Kiss-o'-Death: stratum 0, the kiss code in the reference id.
    Kiss(&'static [u8; 4]),
    /// A reply whose origin timestamp is not the request's transmit timestamp, every time.
    WrongOrigin,
    /// First a reply with a wrong origin, then a correct one (stratum 2).
    WrongThenRight,
    /// A correct reply, but from another port than the one asked.
    OtherPort,
    /// A correct reply (stratum 2, refid 10.0.0.1), and a READVAR answer naming ntpsec.
    Ntpsec,
}

fn now_ntp(shift: f64) -> u64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let t = d.as_secs_f64() + shift + 2_208_988_800.0;
    let secs = t.floor();
    ((secs as u64 & 0xffff_ffff) << 32) | (((t - secs) * 4_294_967_296.0) as u64 & 0xffff_ffff)
}

fn reply(req: &[u8], leap: u8, stratum: u8, refid: [u8; 4], offset: f64, origin: Option<u64>) -> Vec<u8> {
    let mut p = vec![0u8; 48];
    p[0] = (leap << 6) | (4 << 3) | 4;
    p[1] = stratum;
    p[2] = 6;
    p[3] = (-20i8) as u8;
    p[4..8].copy_from_slice(&0x0000_0100u32.to_be_bytes());
    p[8..12].copy_from_slice(&0x0000_0200u32.to_be_bytes());
    p[12..16].copy_from_slice(&refid);
    let now = now_ntp(offset);
    p[16..24].copy_from_slice(&now.to_be_bytes());
    match origin {
        Some(o) => p[24..32].copy_from_slice(&o.to_be_bytes()),
        None => p[24..32].copy_from_slice(&req[40..48]),
    }
    p[32..40].copy_from_slice(&now.to_be_bytes());
    p[40..48].copy_from_slice(&now_ntp(offset).to_be_bytes());
    p
}

/// A READVAR answer (mode 6, response bit, opcode 2) echoing `req`'s sequence number.
fn readvar_answer(req: &[u8]) -> Vec<u8> {
    let data = br#"version="ntpd ntpsec-1.2.2 2023-05-26T23:04:00Z", processor="x86_64", system="Linux/6.1.0", leap=0, stratum=2"#;
    let mut p = vec![0x16, 0x82, req[2], req[3], 0x06, 0x18, 0, 0, 0, 0];
    p.extend_from_slice(&(data.len() as u16).to_be_bytes());
    p.extend_from_slice(data);
    p
}

/// Serves `mode` on an ephemeral loopback UDP port.
pub async fn serve(mode: NtpMode) -> std::io::Result<Server> {
    let sock = UdpSocket::bind("127.0.0.1:0").await?;
    let other = UdpSocket::bind("127.0.0.1:0").await?;
    let addr = sock.local_addr()?;
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let req = &buf[..n];
            let mode6 = n >= 12 && req[0] & 7 == 6;
            if mode6 {
                if mode == NtpMode::Ntpsec {
                    let _ = sock.send_to(&readvar_answer(req), from).await;
                }
                continue;
            }
            if n < 48 || req[0] & 7 != 3 {
                continue;
            }
            let out = match &mode {
                NtpMode::Synced { stratum, refid, offset } => vec![reply(req, 0, *stratum, *refid, *offset, None)],
                NtpMode::Kiss(code) => vec![reply(req, 3, 0, **code, 0.0, None)],
                NtpMode::WrongOrigin => vec![reply(req, 0, 2, [10, 0, 0, 1], 0.0, Some(0xdead_beef))],
                NtpMode::WrongThenRight => vec![
                    reply(req, 0, 2, [10, 0, 0, 1], 0.0, Some(0xdead_beef)),
                    reply(req, 0, 2, [10, 0, 0, 1], 0.0, None),
                ],
                NtpMode::OtherPort => {
                    let _ = other.send_to(&reply(req, 0, 2, [10, 0, 0, 1], 0.0, None), from).await;
                    vec![]
                }
                NtpMode::Ntpsec => vec![reply(req, 0, 2, [10, 0, 0, 1], 0.0, None)],
            };
            for p in out {
                let _ = sock.send_to(&p, from).await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    Ok(Server::new(addr, task))
}
