//! A checked reader over the bytes a client sent, shared by the responders that parse them.
//! Each protocol's own encodings (AMQP short strings, MQTT variable byte integers, MySQL
//! length-encoded integers) are small extension traits in that protocol's module.

/// Reads from a byte slice; every read is checked against its end and gives `None` past it, so
/// that no client, however broken, can make a responder panic.
pub(crate) struct Cursor<'a>(pub(crate) &'a [u8]);

impl<'a> Cursor<'a> {
    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    /// Network order (AMQP, MQTT, PostgreSQL).
    pub(crate) fn u16_be(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    /// Network order (AMQP, MQTT, PostgreSQL).
    pub(crate) fn u32_be(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    /// Little-endian (MySQL).
    pub(crate) fn u32_le(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    /// A NUL-terminated string, without its NUL (MySQL, PostgreSQL).
    pub(crate) fn cstr(&mut self) -> Option<&'a [u8]> {
        let end = self.0.iter().position(|b| *b == 0)?;
        let s = &self.0[..end];
        self.0 = &self.0[end + 1..];
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::Cursor;

    #[test]
    fn reads_in_order_and_stops_at_the_end() {
        let mut c = Cursor(&[1, 0, 2, 0, 0, 0, 3, 4, 0, 0, 0, b'h', b'i', 0, 9]);
        assert_eq!(c.u8(), Some(1));
        assert_eq!(c.u16_be(), Some(2));
        assert_eq!(c.u32_be(), Some(3));
        assert_eq!(c.u32_le(), Some(4));
        assert_eq!(c.cstr(), Some(&b"hi"[..]));
        // One byte left: every wider read fails and leaves it there.
        assert_eq!(c.u16_be(), None);
        assert_eq!(c.u32_le(), None);
        assert_eq!(c.take(2), None);
        assert_eq!(c.cstr(), None, "no NUL: no string");
        assert_eq!(c.u8(), Some(9));
        assert_eq!(c.u8(), None);
        assert_eq!(c.take(usize::MAX), None);
    }
}
