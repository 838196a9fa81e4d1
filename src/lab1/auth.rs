//! Lab 1's optional shared key: every message carries an HMAC-SHA256 tag, so a sender who can
//! forge source addresses but does not know the key can neither forge nor alter a message.
//!
//! With a key, [`Auth::seal`] appends ` at=<us> mac=<64 lowercase hex digits>` to the encoded
//! message (`at`: when it was sealed, microseconds since the UNIX epoch, rising with every
//! message of a sender; microseconds so that even a flood stays on the wall clock), and `Auth::open` takes a datagram only if that tag is right
//! (compared in constant time by `hmac`'s `verify_slice`) and it is not a replay (below); the
//! message text before ` at=` then goes to [`Msg::decode`] as without a key.
//!
//! The tag is computed over the *receiver* and the text with its time, not the text alone:
//!
//! ```text
//! mac = HMAC-SHA256(key, "<receiver>\n<text> at=<us>")    receiver: "resource" or "process <id>"
//! ```
//!
//! The receiver is not sent (each side knows it: a process its own id, the resource that it
//! is the resource), but it is bound: a REPLY that process 2 sent to process 1 cannot be
//! replayed to process 3 (whose incarnation and current T may happen to be the same, e.g.
//! processes started in the same millisecond) to grant it the CS. By hand:
//! `printf 'process 2\nREQUEST 1 5 2 at=1700000000000000' | openssl dgst -sha256 -hmac "$(cat key)"`.
//!
//! **Replays.** A copy of a datagram that was already taken is refused, and so is anything
//! sealed before this process started (a capture replayed to a process or resource that has
//! restarted since), more than `WINDOW_US` ago, or more than `SKEW_US` ahead of this
//! host's clock. `ReplayWindow` remembers the tags it took in a fixed ring; when the ring is
//! full, the entry sealed earliest goes and nothing sealed at or before it is taken any more,
//! so a forgotten tag can never be taken twice. Honest senders never repeat a tag: a resend is
//! sealed again, with a later `at`.
//!
//! Without a key, a datagram that ends in ` mac=` and 64 hex digits is refused with
//! `AuthError::Unexpected` ("has a MAC but this process has no key"), so a setup where only
//! some have the key says so on both sides (the keyed side says "bad or missing MAC").
//!
//! Everything here works in fixed buffers: sealing and opening never allocate.
//!
//! [`Msg::decode`]: crate::lab1::wire::Msg::decode

use core::fmt;
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::wire::{PeerId, MAX_MSG};

/// What precedes the tag on the wire.
pub(crate) const MAC_FIELD: &[u8] = b" mac=";
/// What precedes the time a message was sealed.
pub(crate) const AT_FIELD: &[u8] = b" at=";
/// The tag's length in hex digits (SHA-256: 32 bytes).
pub(crate) const MAC_HEX: usize = 64;
/// Longest sealed message: the longest message, ` at=` and a `u64`, ` mac=` and the tag.
pub(crate) const MAX_SEALED: usize = MAX_MSG + AT_FIELD.len() + 20 + MAC_FIELD.len() + MAC_HEX;

/// How old a sealed message may be when it arrives (microseconds): older ones are refused as
/// replays (or as from a host whose clock is far behind).
pub(crate) const WINDOW_US: u64 = 30_000_000;
/// How far ahead of this host's clock another host's may be (microseconds).
pub(crate) const SKEW_US: u64 = crate::lab1::wire::CLOCK_SKEW.as_micros() as u64;
/// How many tags the replay window remembers (16 bytes each, allocated once with the key).
/// Lab 1 sends a few messages a second per process, so this covers far more than a
/// [`WINDOW_US`] of an honest group; a flood only raises the floor (see [`ReplayWindow`]).
pub(crate) const REMEMBERED: usize = 1024;

/// Longest key file read (a key is a few dozen bytes; this refuses a wrong path such as a
/// disk image before reading it whole).
pub(crate) const MAX_KEY_FILE: u64 = 64 * 1024;

/// Who receives a message: bound into its tag (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum To {
    /// The shared resource.
    Resource,
    /// Process `id`.
    Process(PeerId),
}

/// A sealed message, ready to send: the text, then ` mac=...` when there is a key.
pub(crate) type Sealed = heapless::Vec<u8, MAX_SEALED>;

/// Why a datagram was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthError {
    /// There is a key but the datagram has no ` mac=` field.
    Missing,
    /// The tag is not 64 hex digits, or does not match the key, the receiver and the text.
    Bad,
    /// There is no key but the datagram carries a tag.
    Unexpected,
    /// A copy of a message already taken (a replay, or a network duplicate).
    Replayed,
    /// Sealed before the earliest message this process still remembers (a flood made it
    /// forget): it cannot tell a replay from a late message, so it refuses it.
    Forgotten,
    /// Sealed before this process started: a replay from before a restart (or a sender whose
    /// clock is behind this host's; its next resend is taken).
    BeforeStart,
    /// Sealed more than [`WINDOW_US`] ago or more than [`SKEW_US`] ahead of this host's clock.
    OutsideWindow,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthError::Missing => {
                "bad or missing MAC: none (give every process and the resource the same --key-file)"
            }
            AuthError::Bad => {
                "bad or missing MAC: wrong key, altered or replayed to another receiver"
            }
            AuthError::Unexpected => {
                "has a MAC but this process has no key (give it the same --key-file)"
            }
            AuthError::Replayed => "replayed: a copy of a message already taken",
            AuthError::Forgotten => {
                "replayed or late: sealed before the earliest message this process still remembers"
            }
            AuthError::BeforeStart => {
                "replayed: sealed before this process started (or the sender's clock is behind)"
            }
            AuthError::OutsideWindow => {
                "replayed or clocks apart: sealed over 30 s ago or over 2 s ahead of this host's clock"
            }
        })
    }
}

impl std::error::Error for AuthError {}

/// Why a key could not be read.
#[derive(Debug)]
pub enum KeyError {
    /// The file cannot be read.
    Read(std::io::Error),
    /// The file is empty (or only a newline).
    Empty,
    /// The file is larger than `MAX_KEY_FILE`.
    TooLarge,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Read(e) => write!(f, "cannot be read: {e}"),
            KeyError::Empty => f.write_str("is empty: the key is the file's bytes"),
            KeyError::TooLarge => write!(f, "is larger than {MAX_KEY_FILE} bytes: not a key"),
        }
    }
}

impl std::error::Error for KeyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyError::Read(e) => Some(e),
            _ => None,
        }
    }
}

/// The tags taken recently, to refuse a copy: a fixed table of (`at`, the tag's first 8
/// bytes), and a floor: nothing sealed at or before `floor` is taken (set to the start time,
/// then raised to the `at` of each entry the table forgets). When the table is full, the entry
/// sealed earliest is forgotten (not the one taken earliest: a host whose clock is ahead must
/// not push the floor past what on-time hosts send).
#[derive(Clone)]
pub(crate) struct ReplayWindow {
    ring: Box<[(u64, u64)]>,
    started: u64,
    floor: u64,
}

impl fmt::Debug for ReplayWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayWindow")
            .field("started", &self.started)
            .field("floor", &self.floor)
            .finish_non_exhaustive()
    }
}

impl ReplayWindow {
    /// An empty window for a process that started at `started` (wall-clock microseconds).
    pub(crate) fn new(started: u64) -> ReplayWindow {
        ReplayWindow {
            // (0, 0): free (no honest message is sealed at the epoch).
            ring: vec![(0, 0); REMEMBERED].into_boxed_slice(),
            started,
            // Sealed before the start: meant for an earlier life of this process, if anyone.
            floor: started.saturating_sub(1),
        }
    }

    /// Takes the message sealed at `at` with a tag beginning `tag`, received at `now`
    /// (wall-clock microseconds), unless it is a replay.
    pub(crate) fn take(&mut self, at: u64, tag: u64, now: u64) -> Result<(), AuthError> {
        if at > now.saturating_add(SKEW_US) || at.saturating_add(WINDOW_US) < now {
            return Err(AuthError::OutsideWindow);
        }
        if at <= self.floor {
            return Err(if at < self.started {
                AuthError::BeforeStart
            } else {
                AuthError::Forgotten
            });
        }
        // One pass: a copy, and the entry sealed earliest (free entries have `at` 0).
        let mut earliest = 0;
        for (i, &e) in self.ring.iter().enumerate() {
            if e == (at, tag) {
                return Err(AuthError::Replayed);
            }
            if e.0 < self.ring[earliest].0 {
                earliest = i;
            }
        }
        let (gone, _) = core::mem::replace(&mut self.ring[earliest], (at, tag));
        // A forgotten tag must never be taken again: nothing sealed that early is taken any more.
        self.floor = self.floor.max(gone);
        Ok(())
    }
}

/// The shared key, or none: seals what is sent and opens what is received.
#[derive(Clone, Default)]
pub struct Auth {
    /// HMAC-SHA256 keyed once at start; cloned (no allocation) for every message.
    mac: Option<Hmac<Sha256>>,
    /// With a key: what was taken, to refuse replays.
    window: Option<ReplayWindow>,
    /// The `at` of the last message sealed: the next is later, even in the same millisecond
    /// or if the wall clock steps back.
    last_at: u64,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        f.debug_struct("Auth")
            .field("keyed", &self.is_keyed())
            .finish()
    }
}

impl Auth {
    /// No key: messages go out bare, and a datagram with a tag is refused.
    pub fn none() -> Auth {
        Auth::default()
    }

    /// The key `key` (its bytes as they are), for a process that started at `started`
    /// (wall-clock microseconds: nothing sealed before is taken). An empty key is refused.
    pub fn with_key(key: &[u8], started: u64) -> Result<Auth, KeyError> {
        if key.is_empty() {
            return Err(KeyError::Empty);
        }
        // Cannot fail: HMAC takes keys of any length.
        let mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| KeyError::Empty)?;
        Ok(Auth {
            mac: Some(mac),
            window: Some(ReplayWindow::new(started)),
            last_at: 0,
        })
    }

    /// The key in the file at `path` (a Docker or Kubernetes secret): its bytes, trailing
    /// newlines (`\n`, `\r\n`) trimmed. An empty or unreadable file is refused.
    /// The process starts now (the wall clock is read here).
    pub fn from_file(path: &Path) -> Result<Auth, KeyError> {
        use std::io::Read;
        let file = std::fs::File::open(path).map_err(KeyError::Read)?;
        let mut bytes = Vec::new();
        file.take(MAX_KEY_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(KeyError::Read)?;
        if bytes.len() as u64 > MAX_KEY_FILE {
            return Err(KeyError::TooLarge);
        }
        let mut key = &bytes[..];
        while let Some(k) = key.strip_suffix(b"\n") {
            key = k.strip_suffix(b"\r").unwrap_or(k);
        }
        let auth = Auth::with_key(key, crate::values::time::wall_us());
        // Not left in freed memory longer than needed.
        bytes.iter_mut().for_each(|b| *b = 0);
        auth
    }

    /// Whether there is a key.
    pub fn is_keyed(&self) -> bool {
        self.mac.is_some()
    }

    fn tag(mac: &Hmac<Sha256>, to: To, text: &[u8]) -> Hmac<Sha256> {
        let mut m = mac.clone();
        match to {
            To::Resource => m.update(b"resource"),
            To::Process(id) => {
                m.update(b"process ");
                m.update(&crate::values::decimal::encode_counter(u64::from(id.0)));
            }
        }
        m.update(b"\n");
        m.update(text);
        m
    }

    /// `text` (an encoded message) as it goes to `to` at `now` (wall-clock microseconds): with
    /// a key, followed by ` at=<us> mac=<tag>`.
    #[must_use]
    pub fn seal(&mut self, text: &[u8], to: To, now: u64) -> Sealed {
        let mut out = Sealed::new();
        // An encoded message is at most MAX_MSG bytes, and MAX_SEALED leaves room for the tag.
        let text = &text[..text.len().min(MAX_MSG)];
        let _ = out.extend_from_slice(text);
        if let Some(mac) = &self.mac {
            self.last_at = now.max(self.last_at + 1);
            let _ = out.extend_from_slice(AT_FIELD);
            let _ = out.extend_from_slice(&crate::values::decimal::encode_counter(self.last_at));
            let tag = Self::tag(mac, to, &out).finalize().into_bytes();
            let _ = out.extend_from_slice(MAC_FIELD);
            const HEX: &[u8; 16] = b"0123456789abcdef";
            for b in tag {
                let _ = out.push(HEX[usize::from(b >> 4)]);
                let _ = out.push(HEX[usize::from(b & 15)]);
            }
        }
        out
    }

    /// The message text of a datagram received by `me` at `now` (wall-clock microseconds), once its tag
    /// is checked and it is known not to be a replay (with a key), or the datagram as it is
    /// (without one). A trailing newline (from `nc`) is accepted.
    pub(crate) fn open<'a>(
        &mut self,
        bytes: &'a [u8],
        me: To,
        now: u64,
    ) -> Result<&'a [u8], AuthError> {
        let line = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(mac) = &self.mac else {
            return match split_tag(line) {
                Some((_, hex)) if hex.len() == MAC_HEX && hex.iter().all(u8::is_ascii_hexdigit) => {
                    Err(AuthError::Unexpected)
                }
                _ => Ok(bytes),
            };
        };
        let (text, hex) = split_tag(line).ok_or(AuthError::Missing)?;
        let mut want = [0u8; MAC_HEX / 2];
        if hex.len() != MAC_HEX {
            return Err(AuthError::Bad);
        }
        for (w, pair) in want.iter_mut().zip(hex.chunks_exact(2)) {
            *w = (nibble(pair[0]).ok_or(AuthError::Bad)? << 4)
                | nibble(pair[1]).ok_or(AuthError::Bad)?;
        }
        Self::tag(mac, me, text)
            .verify_slice(&want)
            .map_err(|_| AuthError::Bad)?;
        // A right tag on a text without a time: only a sealer without replay protection.
        let (text, at) = split_field(text, AT_FIELD).ok_or(AuthError::Bad)?;
        let at = crate::values::decimal::parse_counter(at).map_err(|_| AuthError::Bad)?;
        let tag = u64::from_be_bytes([
            want[0], want[1], want[2], want[3], want[4], want[5], want[6], want[7],
        ]);
        if let Some(w) = &mut self.window {
            w.take(at, tag, now)?;
        }
        Ok(text)
    }
}

/// The text before the last ` mac=`, and what follows it.
fn split_tag(line: &[u8]) -> Option<(&[u8], &[u8])> {
    split_field(line, MAC_FIELD)
}

/// The text before the last `field`, and what follows it.
fn split_field<'a>(line: &'a [u8], field: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let at = line.windows(field.len()).rposition(|w| w == field)?;
    Some((&line[..at], &line[at + field.len()..]))
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab1::wire::{Inc, Msg};

    /// A wall-clock time for the tests (2023-11-14), in microseconds.
    const NOW: u64 = 1_700_000_000_000_000;

    fn key(k: &str) -> Auth {
        Auth::with_key(k.as_bytes(), NOW - 1_000_000).unwrap()
    }

    fn msgs() -> Vec<Msg> {
        vec![
            Msg::Request {
                id: PeerId(1),
                inc: Inc(5),
                t: 2,
            },
            Msg::Reply {
                id: PeerId(2),
                inc: Inc(5),
                clock: 3,
                t: 2,
                to: Inc(5),
            },
            Msg::Enter {
                id: PeerId(65535),
                inc: Inc(u64::MAX),
                t: u64::MAX,
                clock: u64::MAX,
                // The longest text, with a fake tag of its own inside.
                text: heapless::String::try_from(
                    format!(" mac={}", "x".repeat(crate::lab1::wire::MAX_TEXT - 5)).as_str(),
                )
                .unwrap(),
            },
        ]
    }

    #[test]
    fn round_trip() {
        let mut a = key("secret");
        for m in msgs() {
            for to in [To::Resource, To::Process(PeerId(2))] {
                let e = m.encode();
                let sealed = a.seal(e.as_bytes(), to, NOW);
                // " at=" and 16 digits, " mac=" and 64.
                assert_eq!(sealed.len(), e.len() + 4 + 16 + 5 + 64);
                let text = key("secret").open(&sealed, to, NOW).unwrap();
                assert_eq!(Msg::decode(text), Ok(m.clone()));
                // What nc sends: a newline after it.
                let mut nl = sealed.to_vec();
                nl.extend_from_slice(b"\r\n");
                assert_eq!(key("secret").open(&nl, to, NOW), Ok(e.as_bytes()));
            }
        }
        // No key: the message goes bare and comes back as it is.
        let e = msgs()[0].encode();
        assert_eq!(
            &Auth::none().seal(e.as_bytes(), To::Resource, NOW)[..],
            e.as_bytes()
        );
        assert_eq!(
            Auth::none().open(e.as_bytes(), To::Resource, NOW),
            Ok(e.as_bytes())
        );
    }

    #[test]
    fn a_copy_is_refused_and_a_resend_is_taken() {
        let mut p = key("secret");
        let mut r = key("secret");
        let to = To::Resource;
        let first = p.seal(b"ENTER 1 5 2 3 Oi", to, NOW);
        assert_eq!(r.open(&first, to, NOW), Ok(&b"ENTER 1 5 2 3 Oi"[..]));
        // The same datagram again (a replay, or the network duplicating it).
        assert_eq!(r.open(&first, to, NOW + 10), Err(AuthError::Replayed));
        // The same text sent again is sealed later (even in the same millisecond): taken.
        let resend = p.seal(b"ENTER 1 5 2 3 Oi", to, NOW);
        assert_ne!(resend, first);
        assert!(r.open(&resend, to, NOW + 10).is_ok());
        assert_eq!(r.open(&resend, to, NOW + 20), Err(AuthError::Replayed));
        // Out of order (an older one arriving after a newer one) is not a replay.
        let older = p.seal(b"EXIT 1 5 2 3", to, NOW + 100);
        let newer = p.seal(b"HELLO 1 5", to, NOW + 200);
        assert!(r.open(&newer, to, NOW + 300).is_ok());
        assert!(r.open(&older, to, NOW + 300).is_ok());
        // The wall clock stepping back does not repeat an `at`.
        let back = p.seal(b"HELLO 1 5", to, NOW - 5_000_000);
        assert!(r.open(&back, to, NOW + 300).is_ok());
    }

    #[test]
    fn old_future_and_before_start_are_refused() {
        let mut p = key("secret");
        let to = To::Process(PeerId(1));
        let m = p.seal(b"HELLO 2 5", to, NOW);
        assert_eq!(
            key("secret").open(&m, to, NOW + WINDOW_US + 1),
            Err(AuthError::OutsideWindow)
        );
        assert!(key("secret").open(&m, to, NOW + WINDOW_US).is_ok());
        assert_eq!(
            key("secret").open(&m, to, NOW - SKEW_US - 1),
            Err(AuthError::OutsideWindow)
        );
        assert!(key("secret").open(&m, to, NOW - SKEW_US).is_ok());
        // A receiver (re)started after the message was sealed: a capture replayed to its new life.
        let mut restarted = Auth::with_key(b"secret", NOW + 1).unwrap();
        assert_eq!(restarted.open(&m, to, NOW + 2), Err(AuthError::BeforeStart));
        let mut same_ms = Auth::with_key(b"secret", NOW).unwrap();
        assert!(same_ms.open(&m, to, NOW).is_ok());
    }

    #[test]
    fn a_forgotten_tag_is_never_taken_again() {
        let mut p = key("secret");
        let mut r = key("secret");
        let to = To::Resource;
        let first = p.seal(b"HELLO 1 5", to, NOW);
        assert!(r.open(&first, to, NOW).is_ok());
        // Fill the ring: the first tag is forgotten, and the floor rises past it.
        for i in 0..REMEMBERED as u64 {
            let m = p.seal(b"HELLO 1 5", to, NOW + 1 + i);
            assert!(r.open(&m, to, NOW + 1 + i).is_ok(), "{i}");
        }
        assert_eq!(r.open(&first, to, NOW + 2_000), Err(AuthError::Forgotten));
        // Opening allocates nothing: the ring is the one made with the key.
        let ring = r.window.as_ref().unwrap().ring.as_ptr();
        let m = p.seal(b"HELLO 1 5", to, NOW + 3_000);
        assert!(r.open(&m, to, NOW + 3_000).is_ok());
        assert_eq!(r.window.as_ref().unwrap().ring.as_ptr(), ring);
        // A right tag on a text without a time (a sealer without replay protection): refused.
        let bare = a_tag_without_time(b"HELLO 1 5", to);
        assert_eq!(r.open(&bare, to, NOW), Err(AuthError::Bad));
    }

    #[test]
    fn a_host_with_a_clock_ahead_does_not_push_out_on_time_senders() {
        let mut fast = key("secret");
        let mut on_time = key("secret");
        let mut r = key("secret");
        let to = To::Process(PeerId(1));
        // More messages than the table holds, a third of them from a host whose clock is 1.5 s
        // ahead (within the allowed skew), the rest on time.
        for i in 0..REMEMBERED as u64 {
            if i % 2 == 0 {
                let m = fast.seal(b"ACK EXIT 1 5 2", to, NOW + 1_500_000 + i);
                assert!(r.open(&m, to, NOW + 2 * i).is_ok(), "{i}");
            }
            let m = on_time.seal(b"REQUEST 2 5 3", to, NOW + 2 * i + 1);
            assert!(r.open(&m, to, NOW + 2 * i + 1).is_ok(), "{i}");
        }
        // The next on-time message is taken: the entries sealed earliest were forgotten (the
        // on-time host's older ones), not the ones taken earliest (a third of them the fast
        // host's, which would have raised the floor 1.5 s into the future). Only a host that
        // seals more messages than the table holds within the skew could push it there.
        let now = NOW + 2 * REMEMBERED as u64;
        let m = on_time.seal(b"REPLY 2 5 3 2 5", to, now);
        assert_eq!(r.open(&m, to, now), Ok(&b"REPLY 2 5 3 2 5"[..]));
        // A flood of seals in one microsecond stays within microseconds of the clock.
        let mut burst = key("secret");
        for _ in 0..10_000 {
            let _ = burst.seal(b"HELLO 1 5", to, NOW);
        }
        assert_eq!(burst.last_at, NOW + 9_999);
    }

    /// `text mac=<its tag>`, as a sealer without ` at=` would write it.
    fn a_tag_without_time(text: &[u8], to: To) -> Vec<u8> {
        let a = key("secret");
        let tag = Auth::tag(a.mac.as_ref().unwrap(), to, text)
            .finalize()
            .into_bytes();
        let mut out = text.to_vec();
        out.extend_from_slice(MAC_FIELD);
        out.extend(tag.iter().flat_map(|b| format!("{b:02x}").into_bytes()));
        out
    }

    #[test]
    fn the_tag_is_hmac_sha256_of_the_receiver_and_the_text() {
        // RFC 4231 test case 2 (key "Jefe"): the primitive is plain HMAC-SHA256.
        let mut a = key("Jefe");
        let m = Auth::tag(a.mac.as_ref().unwrap(), To::Resource, b"");
        let mut plain = a.mac.clone().unwrap();
        plain.update(b"what do ya want for nothing?");
        assert_eq!(plain.finalize().into_bytes()[..4], [0x5b, 0xdc, 0xc1, 0x46]);
        // The receiver comes first: "resource\n" then the text.
        let mut by_hand = a.mac.clone().unwrap();
        by_hand.update(b"resource\n");
        assert_eq!(m.finalize().into_bytes(), by_hand.finalize().into_bytes());
        let sealed = a.seal(b"REQUEST 1 5 2", To::Process(PeerId(2)), NOW);
        let mut by_hand = a.mac.clone().unwrap();
        by_hand.update(b"process 2\nREQUEST 1 5 2 at=1700000000000000");
        let hex: String = by_hand
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            core::str::from_utf8(&sealed).unwrap(),
            format!("REQUEST 1 5 2 at=1700000000000000 mac={hex}")
        );
    }

    #[test]
    fn tampered_byte_is_refused() {
        let mut a = key("secret");
        let sealed = a.seal(msgs()[1].encode().as_bytes(), To::Process(PeerId(1)), NOW);
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            // Flip a bit but stay printable where possible: any change must be refused.
            bad[i] ^= 1;
            let r = a.open(&bad, To::Process(PeerId(1)), NOW);
            assert!(r.is_err(), "byte {i} changed and still taken");
        }
        // Upper-case hex is the same tag.
        let upper: Vec<u8> = sealed.to_ascii_uppercase();
        let (text, _) = split_tag(&sealed).unwrap();
        let mut mixed = text.to_vec();
        mixed.extend_from_slice(&upper[text.len()..]);
        mixed[text.len() + 1..text.len() + 4].copy_from_slice(b"mac");
        let (bare, _) = split_field(text, AT_FIELD).unwrap();
        assert_eq!(a.open(&mixed, To::Process(PeerId(1)), NOW), Ok(bare));
    }

    #[test]
    fn wrong_key_or_receiver_is_refused() {
        let sealed = key("secret").seal(b"REPLY 2 5 3 2 5", To::Process(PeerId(1)), NOW);
        assert_eq!(
            key("secreT").open(&sealed, To::Process(PeerId(1)), NOW),
            Err(AuthError::Bad)
        );
        assert_eq!(
            key("secret").open(&sealed, To::Process(PeerId(3)), NOW),
            Err(AuthError::Bad),
            "a REPLY to process 1 replayed to process 3"
        );
        assert_eq!(
            key("secret").open(&sealed, To::Resource, NOW),
            Err(AuthError::Bad)
        );
    }

    #[test]
    fn missing_truncated_or_unexpected_mac() {
        let mut a = key("secret");
        let to = To::Resource;
        assert_eq!(a.open(b"HELLO 1 5", to, NOW), Err(AuthError::Missing));
        assert_eq!(a.open(b"", to, NOW), Err(AuthError::Missing));
        let sealed = a.seal(b"HELLO 1 5", to, NOW);
        for cut in 1..=MAC_HEX {
            assert_eq!(
                a.open(&sealed[..sealed.len() - cut], to, NOW),
                Err(AuthError::Bad),
                "cut {cut}"
            );
        }
        let mut long = sealed.to_vec();
        long.push(b'0');
        assert_eq!(a.open(&long, to, NOW), Err(AuthError::Bad));
        let mut junk = sealed.to_vec();
        let n = junk.len();
        junk[n - 1] = b'g';
        assert_eq!(a.open(&junk, to, NOW), Err(AuthError::Bad));
        // Without a key, a tagged message is refused with a reason of its own...
        assert_eq!(
            Auth::none().open(&sealed, to, NOW),
            Err(AuthError::Unexpected)
        );
        // ...and text that merely contains "mac=" is not a tag.
        assert_eq!(
            Auth::none().open(b"ENTER 1 5 2 3 mac=hi", to, NOW),
            Ok(&b"ENTER 1 5 2 3 mac=hi"[..])
        );
        assert!(AuthError::Missing
            .to_string()
            .contains("bad or missing MAC"));
        assert!(AuthError::Bad.to_string().contains("bad or missing MAC"));
    }

    #[test]
    fn key_files() {
        let dir = std::env::temp_dir().join(format!("peerlab-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        let mut a = Auth::from_file(&write("nl", b"secret\n")).unwrap();
        let mut b = Auth::from_file(&write("crlf", b"secret\r\n")).unwrap();
        // A file's key knows the wall clock: seal with it.
        let now = crate::values::time::wall_us();
        let sealed = key("secret").seal(b"HELLO 1 5", To::Resource, now);
        assert!(a.open(&sealed, To::Resource, now).is_ok());
        assert!(b.open(&sealed, To::Resource, now).is_ok());
        // A space is part of the key.
        let mut c = Auth::from_file(&write("sp", b"secret \n")).unwrap();
        assert!(c.open(&sealed, To::Resource, now).is_err());
        for empty in [&b""[..], b"\n", b"\r\n\n"] {
            assert!(matches!(
                Auth::from_file(&write("empty", empty)),
                Err(KeyError::Empty)
            ));
        }
        assert!(matches!(
            Auth::from_file(&dir.join("absent")),
            Err(KeyError::Read(_))
        ));
        assert!(matches!(Auth::from_file(&dir), Err(KeyError::Read(_))));
        let big = vec![b'k'; MAX_KEY_FILE as usize + 1];
        assert!(matches!(
            Auth::from_file(&write("big", &big)),
            Err(KeyError::TooLarge)
        ));
        assert!(!format!("{a:?}").contains("secret"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
