//! TDS 7.x carries the TLS handshake inside PRELOGIN packets ([MS-TDS] 3.2.5.2, "Sent
//! TLS/SSL Negotiation Packet State"): every flight of handshake records travels as the body of
//! a 0x12 packet. [`PreloginTls`] is the byte stream the TLS engine sees: what it writes is
//! wrapped into packets at each flush, what it reads is the concatenated packet bodies.
//!
//! Only the handshake is wrapped: after it, records flow bare on TCP, and [`PreloginTls::set_bare`]
//! turns the wrapping off for the login connection's LOGIN7 and what follows.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::wire::{self, HEADER_LEN};

/// Wraps a stream for the length of a TLS handshake inside PRELOGIN packets.
#[derive(Debug)]
pub struct PreloginTls<S> {
    inner: S,
    /// What the engine wrote since the last flush.
    out: Vec<u8>,
    /// Packets built from `out`, not yet written to `inner`, and how far they got.
    pending: Vec<u8>,
    written: usize,
    /// The header being read, and how much of it has come.
    head: [u8; HEADER_LEN],
    head_got: usize,
    /// Bytes left in the body of the packet being read.
    body_left: usize,
    /// After the handshake: records pass bare, in both directions.
    bare: bool,
}

impl<S> PreloginTls<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        PreloginTls {
            inner,
            out: Vec::new(),
            pending: Vec::new(),
            written: 0,
            head: [0; HEADER_LEN],
            head_got: 0,
            body_left: 0,
            bare: false,
        }
    }

    /// Ends the wrapping: TDS 7.x sends the records after the handshake straight on TCP.
    pub fn set_bare(&mut self) {
        self.bare = true;
    }
}

/// The body of one packet at most: the default packet size of 4096 bytes, header included.
const CHUNK: usize = 4096 - HEADER_LEN;

impl<S: AsyncRead + AsyncWrite + Unpin> PreloginTls<S> {
    /// Writes out every packet built so far.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.pending.is_empty() && !self.out.is_empty() {
            let out = std::mem::take(&mut self.out);
            let chunks: Vec<&[u8]> = out.chunks(CHUNK).collect();
            for (i, chunk) in chunks.iter().enumerate() {
                let mut p = wire::packet(wire::PRELOGIN, chunk);
                if i + 1 < chunks.len() {
                    p[1] = 0; // not the end of the message yet
                }
                self.pending.extend_from_slice(&p);
            }
            self.written = 0;
        }
        while self.written < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for PreloginTls<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // A flight the engine forgot to flush must reach the server before its answer can come.
        ready!(this.poll_drain(cx))?;
        if this.bare && this.body_left == 0 && this.head_got == 0 {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        while this.body_left == 0 {
            while this.head_got < HEADER_LEN {
                let mut rb = ReadBuf::new(&mut this.head[this.head_got..]);
                ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
                let n = rb.filled().len();
                if n == 0 {
                    // End of stream: between packets it is a clean end, inside a header not.
                    if this.head_got == 0 {
                        return Poll::Ready(Ok(()));
                    }
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection inside a TDS packet header",
                    )));
                }
                this.head_got += n;
            }
            this.head_got = 0;
            let h = wire::header(&this.head).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.0))?;
            this.body_left = h.body_len();
        }
        let want = buf.remaining().min(this.body_left);
        let mut rb = ReadBuf::new(buf.initialize_unfilled_to(want));
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
        let n = rb.filled().len();
        if n == 0 {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection inside a TDS packet",
            )));
        }
        this.body_left -= n;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for PreloginTls<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        // Buffered until the flush, which ends a flight: one packet per flight, as drivers send.
        let this = self.get_mut();
        if this.bare && this.out.is_empty() && this.pending.is_empty() {
            return Pin::new(&mut this.inner).poll_write(cx, data);
        }
        if this.out.len() > wire::MAX_PACKET * 4 {
            return Poll::Ready(Err(io::Error::other("the TLS engine wrote more than a handshake needs")));
        }
        this.out.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn writes_become_one_packet_per_flush_and_reads_join_bodies() {
        let (a, mut b) = tokio::io::duplex(1 << 16);
        let mut w = PreloginTls::new(a);
        w.write_all(b"hello ").await.unwrap();
        w.write_all(b"world").await.unwrap();
        w.flush().await.unwrap();
        let mut got = [0u8; 19];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got[..4], &[0x12, 0x01, 0x00, 19]);
        assert_eq!(&got[8..], b"hello world");
        // Two packets from the server read as one stream.
        b.write_all(&wire::packet(0x12, b"abc")).await.unwrap();
        b.write_all(&wire::packet(0x12, b"def")).await.unwrap();
        let mut six = [0u8; 6];
        w.read_exact(&mut six).await.unwrap();
        assert_eq!(&six, b"abcdef");
    }

    #[tokio::test]
    async fn a_large_flight_is_split_and_only_the_last_packet_ends_the_message() {
        let (a, mut b) = tokio::io::duplex(1 << 16);
        let mut w = PreloginTls::new(a);
        w.write_all(&vec![7u8; CHUNK + 10]).await.unwrap();
        w.flush().await.unwrap();
        let mut first = vec![0u8; 4096];
        b.read_exact(&mut first).await.unwrap();
        assert_eq!(first[1], 0, "not the end of the message");
        let mut second = vec![0u8; 18];
        b.read_exact(&mut second).await.unwrap();
        assert_eq!((second[1], second[3]), (1, 18));
    }

    #[tokio::test]
    async fn a_lying_header_is_an_error() {
        let (a, mut b) = tokio::io::duplex(1 << 16);
        let mut w = PreloginTls::new(a);
        b.write_all(&[0x12, 0x01, 0x00, 0x02, 0, 0, 1, 0]).await.unwrap();
        let mut one = [0u8; 1];
        assert_eq!(w.read(&mut one).await.unwrap_err().kind(), io::ErrorKind::InvalidData);
    }
}
