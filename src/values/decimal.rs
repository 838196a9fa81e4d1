//! The peer's wire format: the counter as plain decimal ASCII (`0`, `1`, `2`, ...), exactly
//! what the handout's Go program sends, so both run in one mesh. A trailing newline (what
//! `echo 7 | nc -u` sends) is accepted. Parsing never panics: anything else is a
//! [`WireError`] and the datagram is shown escaped and counted as foreign.

use core::fmt;

/// Longest encoded counter: `u64::MAX` has 20 digits.
pub(crate) const COUNTER_MAX: usize = 20;

/// An encoded counter, ready to send: the digits sit at the end of a fixed array.
#[derive(Debug, Clone, Copy)]
pub struct CounterBuf {
    digits: [u8; COUNTER_MAX],
    start: usize,
}

impl core::ops::Deref for CounterBuf {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        &self.digits[self.start..]
    }
}

/// Why a datagram is not a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// No bytes at all (or only a newline).
    Empty,
    /// A byte that is not an ASCII digit.
    NotDecimal,
    /// More than `u64::MAX`.
    Overflow,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WireError::Empty => "empty",
            WireError::NotDecimal => "not a counter",
            WireError::Overflow => "counter too large",
        })
    }
}

impl std::error::Error for WireError {}

/// Writes `n` in decimal into a fixed buffer.
#[must_use]
pub fn encode_counter(mut n: u64) -> CounterBuf {
    let mut digits = [0u8; COUNTER_MAX];
    let mut start = COUNTER_MAX;
    // 32-bit division is much cheaper: take the fast path for the usual small numbers.
    if let Ok(mut m) = u32::try_from(n) {
        loop {
            start -= 1;
            digits[start] = b'0' + (m % 10) as u8;
            m /= 10;
            if m == 0 {
                return CounterBuf { digits, start };
            }
        }
    }
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    CounterBuf { digits, start }
}

/// Reads a counter: ASCII digits, optionally followed by `\n` or `\r\n`.
pub fn parse_counter(bytes: &[u8]) -> Result<u64, WireError> {
    // Slice patterns, not `strip_suffix`: this runs for every datagram, and at the size
    // optimisation level the library call cost more than the digits.
    let mut bytes = bytes;
    if let [rest @ .., b'\n'] = bytes {
        bytes = rest;
    }
    if let [rest @ .., b'\r'] = bytes {
        bytes = rest;
    }
    if bytes.is_empty() {
        return Err(WireError::Empty);
    }
    let mut n: u64 = 0;
    if bytes.len() <= 19 {
        // 19 digits cannot overflow (u64::MAX has 20): the usual counter needs no checks.
        for &b in bytes {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return Err(WireError::NotDecimal);
            }
            n = n * 10 + u64::from(d);
        }
        return Ok(n);
    }
    for &b in bytes {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return Err(WireError::NotDecimal);
        }
        match n.checked_mul(10).and_then(|n| n.checked_add(u64::from(d))) {
            Some(m) => n = m,
            None => return Err(WireError::Overflow),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for n in [0, 1, 9, 10, 99, 100, 12345, u64::MAX - 1, u64::MAX] {
            let buf = encode_counter(n);
            assert_eq!(parse_counter(&buf), Ok(n), "{n}");
        }
        assert_eq!(&encode_counter(0)[..], b"0");
        assert_eq!(&encode_counter(1234)[..], b"1234");
    }

    #[test]
    fn accepts_what_nc_sends() {
        assert_eq!(parse_counter(b"7\n"), Ok(7));
        assert_eq!(parse_counter(b"7\r\n"), Ok(7));
        assert_eq!(parse_counter(b"007"), Ok(7));
    }

    #[test]
    fn rejects_everything_else() {
        assert_eq!(parse_counter(b""), Err(WireError::Empty));
        assert_eq!(parse_counter(b"\n"), Err(WireError::Empty));
        assert_eq!(parse_counter(b" 7"), Err(WireError::NotDecimal));
        assert_eq!(parse_counter(b"-1"), Err(WireError::NotDecimal));
        assert_eq!(parse_counter(b"7\n\n"), Err(WireError::NotDecimal));
        assert_eq!(parse_counter(b"\x1b[2J"), Err(WireError::NotDecimal));
        assert_eq!(parse_counter(b"\xff\xfe"), Err(WireError::NotDecimal));
        assert_eq!(
            parse_counter(b"18446744073709551616"),
            Err(WireError::Overflow)
        );
        assert_eq!(
            parse_counter(b"99999999999999999999999"),
            Err(WireError::Overflow)
        );
    }
}
