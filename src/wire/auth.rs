//! Lab 1's optional shared key: every message carries an HMAC-SHA256 tag, so a sender who can
//! forge source addresses but does not know the key can neither forge nor alter a message.
//!
//! With a key, [`Auth::seal`] appends ` mac=<64 lowercase hex digits>` to the encoded message,
//! and [`Auth::open`] takes a datagram only if that tag is right (compared in constant time by
//! `hmac`'s `verify_slice`); the message text before ` mac=` then goes to [`Msg::decode`] as
//! without a key.
//!
//! The tag is computed over the *receiver* and the text, not the text alone:
//!
//! ```text
//! mac = HMAC-SHA256(key, "<receiver>\n<text>")    receiver: "resource" or "process <id>"
//! ```
//!
//! The receiver is not sent (each side knows it: a process its own id, the resource that it
//! is the resource), but it is bound: a REPLY that process 2 sent to process 1 cannot be
//! replayed to process 3 (whose incarnation and current T may happen to be the same, e.g.
//! processes started in the same millisecond) to grant it the CS. By hand:
//! `printf 'process 2\nREQUEST 1 5 2' | openssl dgst -sha256 -hmac "$(cat key)"`.
//!
//! Without a key, a datagram that ends in ` mac=` and 64 hex digits is refused with
//! [`AuthError::Unexpected`] ("has a MAC but this process has no key"), so a setup where only
//! some have the key says so on both sides (the keyed side says "bad or missing MAC").
//!
//! Everything here works in fixed buffers: sealing and opening never allocate.
//!
//! [`Msg::decode`]: crate::wire::lab::Msg::decode

use core::fmt;
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::lab::{PeerId, MAX_MSG};

/// What precedes the tag on the wire.
pub const MAC_FIELD: &[u8] = b" mac=";
/// The tag's length in hex digits (SHA-256: 32 bytes).
pub const MAC_HEX: usize = 64;
/// Longest sealed message: the longest message, ` mac=` and the tag.
pub const MAX_SEALED: usize = MAX_MSG + MAC_FIELD.len() + MAC_HEX;

/// Longest key file read (a key is a few dozen bytes; this refuses a wrong path such as a
/// disk image before reading it whole).
pub const MAX_KEY_FILE: u64 = 64 * 1024;

/// Who receives a message: bound into its tag (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum To {
    /// The shared resource.
    Resource,
    /// Process `id`.
    Process(PeerId),
}

/// A sealed message, ready to send: the text, then ` mac=...` when there is a key.
pub type Sealed = heapless::Vec<u8, MAX_SEALED>;

/// Why a datagram was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// There is a key but the datagram has no ` mac=` field.
    Missing,
    /// The tag is not 64 hex digits, or does not match the key, the receiver and the text.
    Bad,
    /// There is no key but the datagram carries a tag.
    Unexpected,
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
    /// The file is larger than [`MAX_KEY_FILE`].
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

/// The shared key, or none: seals what is sent and opens what is received.
#[derive(Clone, Default)]
pub struct Auth {
    /// HMAC-SHA256 keyed once at start; cloned (no allocation) for every message.
    mac: Option<Hmac<Sha256>>,
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
        Auth { mac: None }
    }

    /// The key `key` (its bytes as they are). An empty key is refused.
    pub fn with_key(key: &[u8]) -> Result<Auth, KeyError> {
        if key.is_empty() {
            return Err(KeyError::Empty);
        }
        // Cannot fail: HMAC takes keys of any length.
        let mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| KeyError::Empty)?;
        Ok(Auth { mac: Some(mac) })
    }

    /// The key in the file at `path` (a Docker or Kubernetes secret): its bytes, trailing
    /// newlines (`\n`, `\r\n`) trimmed. An empty or unreadable file is refused.
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
        let auth = Auth::with_key(key);
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
                m.update(&crate::wire::encode_counter(u64::from(id.0)));
            }
        }
        m.update(b"\n");
        m.update(text);
        m
    }

    /// `text` (an encoded message) as it goes to `to`: with a key, followed by ` mac=` and
    /// its tag.
    #[must_use]
    pub fn seal(&self, text: &[u8], to: To) -> Sealed {
        let mut out = Sealed::new();
        // An encoded message is at most MAX_MSG bytes, and MAX_SEALED leaves room for the tag.
        let text = &text[..text.len().min(MAX_MSG)];
        let _ = out.extend_from_slice(text);
        if let Some(mac) = &self.mac {
            let tag = Self::tag(mac, to, text).finalize().into_bytes();
            let _ = out.extend_from_slice(MAC_FIELD);
            const HEX: &[u8; 16] = b"0123456789abcdef";
            for b in tag {
                let _ = out.push(HEX[usize::from(b >> 4)]);
                let _ = out.push(HEX[usize::from(b & 15)]);
            }
        }
        out
    }

    /// The message text of a datagram received by `me`, once its tag is checked (with a key),
    /// or the datagram as it is (without one). A trailing newline (from `nc`) is accepted.
    pub fn open<'a>(&self, bytes: &'a [u8], me: To) -> Result<&'a [u8], AuthError> {
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
        Ok(text)
    }
}

/// The text before the last ` mac=`, and what follows it.
fn split_tag(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = line
        .windows(MAC_FIELD.len())
        .rposition(|w| w == MAC_FIELD)?;
    Some((&line[..at], &line[at + MAC_FIELD.len()..]))
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
    use crate::wire::lab::{Inc, Msg};

    fn key(k: &str) -> Auth {
        Auth::with_key(k.as_bytes()).unwrap()
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
                    format!(" mac={}", "x".repeat(crate::wire::lab::MAX_TEXT - 5)).as_str(),
                )
                .unwrap(),
            },
        ]
    }

    #[test]
    fn round_trip() {
        let a = key("secret");
        for m in msgs() {
            for to in [To::Resource, To::Process(PeerId(2))] {
                let e = m.encode();
                let sealed = a.seal(e.as_bytes(), to);
                assert_eq!(sealed.len(), e.len() + 5 + 64);
                let text = a.open(&sealed, to).unwrap();
                assert_eq!(Msg::decode(text), Ok(m.clone()));
                // What nc sends: a newline after it.
                let mut nl = sealed.to_vec();
                nl.extend_from_slice(b"\r\n");
                assert_eq!(a.open(&nl, to), Ok(e.as_bytes()));
            }
        }
        // No key: the message goes bare and comes back as it is.
        let e = msgs()[0].encode();
        assert_eq!(
            &Auth::none().seal(e.as_bytes(), To::Resource)[..],
            e.as_bytes()
        );
        assert_eq!(
            Auth::none().open(e.as_bytes(), To::Resource),
            Ok(e.as_bytes())
        );
    }

    #[test]
    fn the_tag_is_hmac_sha256_of_the_receiver_and_the_text() {
        // RFC 4231 test case 2 (key "Jefe"): the primitive is plain HMAC-SHA256.
        let a = key("Jefe");
        let m = Auth::tag(a.mac.as_ref().unwrap(), To::Resource, b"");
        let mut plain = a.mac.clone().unwrap();
        plain.update(b"what do ya want for nothing?");
        assert_eq!(plain.finalize().into_bytes()[..4], [0x5b, 0xdc, 0xc1, 0x46]);
        // The receiver comes first: "resource\n" then the text.
        let mut by_hand = a.mac.clone().unwrap();
        by_hand.update(b"resource\n");
        assert_eq!(m.finalize().into_bytes(), by_hand.finalize().into_bytes());
        let sealed = a.seal(b"REQUEST 1 5 2", To::Process(PeerId(2)));
        let mut by_hand = a.mac.clone().unwrap();
        by_hand.update(b"process 2\nREQUEST 1 5 2");
        let hex: String = by_hand
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            core::str::from_utf8(&sealed).unwrap(),
            format!("REQUEST 1 5 2 mac={hex}")
        );
    }

    #[test]
    fn tampered_byte_is_refused() {
        let a = key("secret");
        let sealed = a.seal(msgs()[1].encode().as_bytes(), To::Process(PeerId(1)));
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            // Flip a bit but stay printable where possible: any change must be refused.
            bad[i] ^= 1;
            let r = a.open(&bad, To::Process(PeerId(1)));
            assert!(r.is_err(), "byte {i} changed and still taken");
        }
        // Upper-case hex is the same tag.
        let upper: Vec<u8> = sealed.to_ascii_uppercase();
        let (text, _) = split_tag(&sealed).unwrap();
        let mut mixed = text.to_vec();
        mixed.extend_from_slice(&upper[text.len()..]);
        mixed[text.len() + 1..text.len() + 4].copy_from_slice(b"mac");
        assert_eq!(a.open(&mixed, To::Process(PeerId(1))), Ok(text));
    }

    #[test]
    fn wrong_key_or_receiver_is_refused() {
        let sealed = key("secret").seal(b"REPLY 2 5 3 2 5", To::Process(PeerId(1)));
        assert_eq!(
            key("secreT").open(&sealed, To::Process(PeerId(1))),
            Err(AuthError::Bad)
        );
        assert_eq!(
            key("secret").open(&sealed, To::Process(PeerId(3))),
            Err(AuthError::Bad),
            "a REPLY to process 1 replayed to process 3"
        );
        assert_eq!(
            key("secret").open(&sealed, To::Resource),
            Err(AuthError::Bad)
        );
    }

    #[test]
    fn missing_truncated_or_unexpected_mac() {
        let a = key("secret");
        let to = To::Resource;
        assert_eq!(a.open(b"HELLO 1 5", to), Err(AuthError::Missing));
        assert_eq!(a.open(b"", to), Err(AuthError::Missing));
        let sealed = a.seal(b"HELLO 1 5", to);
        for cut in 1..=MAC_HEX {
            assert_eq!(
                a.open(&sealed[..sealed.len() - cut], to),
                Err(AuthError::Bad),
                "cut {cut}"
            );
        }
        let mut long = sealed.to_vec();
        long.push(b'0');
        assert_eq!(a.open(&long, to), Err(AuthError::Bad));
        let mut junk = sealed.to_vec();
        let n = junk.len();
        junk[n - 1] = b'g';
        assert_eq!(a.open(&junk, to), Err(AuthError::Bad));
        // Without a key, a tagged message is refused with a reason of its own...
        assert_eq!(Auth::none().open(&sealed, to), Err(AuthError::Unexpected));
        // ...and text that merely contains "mac=" is not a tag.
        assert_eq!(
            Auth::none().open(b"ENTER 1 5 2 3 mac=hi", to),
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
        let a = Auth::from_file(&write("nl", b"secret\n")).unwrap();
        let b = Auth::from_file(&write("crlf", b"secret\r\n")).unwrap();
        let sealed = key("secret").seal(b"HELLO 1 5", To::Resource);
        assert!(a.open(&sealed, To::Resource).is_ok());
        assert!(b.open(&sealed, To::Resource).is_ok());
        // A space is part of the key.
        let c = Auth::from_file(&write("sp", b"secret \n")).unwrap();
        assert!(c.open(&sealed, To::Resource).is_err());
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
