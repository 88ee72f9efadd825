//! One machine's count of its clients: proxies in front of several servers (a PLC's Modbus and
//! OPC UA ports) that share one tally of the client connections open at once. A PLC counts its
//! clients, not their protocols; this is how a test sees what such a device would.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::Server;
use crate::conn::accept_each;

#[derive(Debug, Default)]
struct Counts {
    /// A second handle on each client socket still relayed, to ask the kernel whether the
    /// client has ended it.
    open: Vec<(u64, std::net::TcpStream)>,
    next: u64,
    peak: usize,
    total: usize,
}

/// The client connections open at once across every proxy that shares it. Clones share one
/// count.
#[derive(Clone, Debug, Default)]
pub struct Tally(Arc<Mutex<Counts>>);

impl Tally {
    /// The most client connections that were open at once.
    pub fn peak(&self) -> usize {
        self.0.lock().expect("tally lock").peak
    }
    /// How many client connections were accepted in all.
    pub fn total(&self) -> usize {
        self.0.lock().expect("tally lock").total
    }
    /// Counts a new client connection with those whose client has not ended them. A relay task
    /// may not have read an earlier connection's FIN yet when the next one is accepted (a busy
    /// test process); the kernel has, because a client dials anew only after it closed.
    fn opened(&self, watch: std::net::TcpStream) -> u64 {
        let mut c = self.0.lock().expect("tally lock");
        let live = 1 + c.open.iter().filter(|(_, s)| !client_ended(s)).count();
        c.peak = c.peak.max(live);
        c.total += 1;
        let id = c.next;
        c.next += 1;
        c.open.push((id, watch));
        id
    }
    fn closed(&self, id: u64) {
        self.0.lock().expect("tally lock").open.retain(|(i, _)| *i != id);
    }
}

/// Whether the client has ended its side of `s` (its FIN or a reset reached the socket): the
/// kernel's TCP state is anything but established.
fn client_ended(s: &std::net::TcpStream) -> bool {
    use std::os::fd::AsRawFd;
    // struct tcp_info, whose first byte is tcpi_state; the kernel fills what fits.
    let mut info = [0u8; 256];
    let mut len = info.len() as libc::socklen_t;
    // SAFETY: the descriptor is a live socket borrowed for the call, and `len` is the size of
    // the buffer the kernel writes into.
    let rc = unsafe {
        libc::getsockopt(s.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_INFO, info.as_mut_ptr().cast(), &mut len)
    };
    const TCP_ESTABLISHED: u8 = 1;
    rc != 0 || info[0] != TCP_ESTABLISHED
}

/// Accepts on `listener` and relays each connection to `upstream`, counting it in `tally` from
/// accept until the client ends its side (its FIN or reset): what the client holds, not how
/// long the server takes to notice.
pub fn proxy(listener: TcpListener, upstream: SocketAddr, tally: Tally) -> Server {
    accept_each(listener, move |client| relay(client, upstream, tally.clone()))
}

async fn relay(client: TcpStream, upstream: SocketAddr, tally: Tally) {
    let Ok((watch, client)) = client.into_std().and_then(|s| Ok((s.try_clone()?, s))) else { return };
    let Ok(client) = TcpStream::from_std(client) else { return };
    let id = tally.opened(watch);
    let Ok(server) = TcpStream::connect(upstream).await else {
        tally.closed(id);
        return;
    };
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let back = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    });
    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
    tally.closed(id);
    let _ = server_write.shutdown().await;
    let _ = back.await;
}
