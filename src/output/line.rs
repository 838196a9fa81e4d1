//! [`Line`]: one output line, built in a fixed buffer before it is written with a single
//! `write_all`, and the allocation-free number and address formatting of the per-datagram
//! path.

use core::fmt::Write as _;
use std::net::SocketAddr;

use crate::values::limits::LINE_MAX;

/// One output line, built before it is written: a fixed buffer of `LINE_MAX` bytes that
/// only ever holds whole `&str`s and `char`s, so it is always UTF-8. (Not `heapless::String`,
/// whose `push_str` copies byte by byte: this is the per-datagram path, and a `memcpy` makes
/// the whole line twice as fast.)
#[derive(Debug, Clone)]
pub struct Line {
    buf: [u8; LINE_MAX],
    len: usize,
}

impl Default for Line {
    fn default() -> Self {
        Line::new()
    }
}

impl Line {
    /// An empty line.
    pub const fn new() -> Line {
        Line {
            buf: [0; LINE_MAX],
            len: 0,
        }
    }

    /// Appends `s`, or leaves the line as it was if it does not fit.
    pub(crate) fn push_str(&mut self, s: &str) -> Result<(), LineFull> {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(LineFull)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }

    /// Appends ASCII (digits, dots, colons: numbers and addresses) without re-checking it:
    /// the per-datagram path prints six numbers per line.
    fn push_digits(&mut self, digits: &[u8]) -> Result<(), LineFull> {
        debug_assert!(digits.is_ascii());
        let end = self.len + digits.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(LineFull)?
            .copy_from_slice(digits);
        self.len = end;
        Ok(())
    }

    /// Appends one character.
    pub(crate) fn push(&mut self, c: char) -> Result<(), LineFull> {
        self.push_str(c.encode_utf8(&mut [0; 4]))
    }

    /// Appends a number, without `core::fmt` (this is the per-datagram path).
    pub(crate) fn push_num(&mut self, n: u64) -> Result<(), LineFull> {
        self.push_digits(&crate::values::decimal::encode_counter(n))
    }

    /// Appends an address as `Display` shows it; IPv4 (the common case) without `core::fmt`.
    pub(crate) fn push_addr(&mut self, addr: SocketAddr) -> Result<(), LineFull> {
        let SocketAddr::V4(a) = addr else {
            return write!(self, "{addr}").map_err(|_| LineFull);
        };
        // At most "255.255.255.255:65535": 21 bytes, built in place.
        let mut b = [0u8; 21];
        let mut n = 0;
        for (i, o) in a.ip().octets().into_iter().enumerate() {
            if i > 0 {
                b[n] = b'.';
                n += 1;
            }
            n += small_digits(u32::from(o), &mut b[n..]);
        }
        b[n] = b':';
        n += 1;
        n += small_digits(u32::from(a.port()), &mut b[n..]);
        self.push_digits(&b[..n])
    }

    /// Appends formatted text (slow path: `core::fmt`).
    pub(crate) fn push_fmt(&mut self, args: core::fmt::Arguments<'_>) -> Result<(), LineFull> {
        self.write_fmt(args).map_err(|_| LineFull)
    }

    /// The bytes so far (valid UTF-8).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The line as text.
    pub(crate) fn as_str(&self) -> &str {
        // Cannot fail: only `&str`s and `char`s are ever pushed, whole.
        core::str::from_utf8(self.as_bytes()).expect("a Line holds whole UTF-8 pieces")
    }

    /// Bytes so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Nothing pushed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Empties the line.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl core::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.push_str(s).map_err(|_| core::fmt::Error)
    }
}

/// A line did not fit in [`Line`]: a bug in `LINE_MAX`, reported instead of cutting the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineFull;

impl core::fmt::Display for LineFull {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("output line too long")
    }
}

impl std::error::Error for LineFull {}

/// Writes `v` (at most 65535) in decimal at the start of `out`; returns the length.
fn small_digits(v: u32, out: &mut [u8]) -> usize {
    let mut tmp = [0u8; 5];
    let mut i = 5;
    let mut v = v;
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let len = 5 - i;
    out[..len].copy_from_slice(&tmp[i..]);
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_formatting_matches_display() {
        for a in [
            "0.0.0.0:1",
            "255.255.255.255:65535",
            "172.18.0.3:10003",
            "[::1]:7",
            "[fe80::1]:10002",
        ] {
            let addr: SocketAddr = a.parse().unwrap();
            let mut l = Line::new();
            l.push_addr(addr).unwrap();
            assert_eq!(l.as_str(), addr.to_string());
        }
        for n in [0, 7, 10, 12345, u64::MAX] {
            let mut l = Line::new();
            l.push_num(n).unwrap();
            assert_eq!(l.as_str(), n.to_string());
        }
    }

    #[test]
    fn a_line_never_overflows() {
        let mut l = Line::new();
        let big = "x".repeat(LINE_MAX + 1);
        assert_eq!(l.push_str(&big), Err(LineFull));
        assert!(l.is_empty(), "a piece that does not fit is not cut in");
    }
}
