//! Bytes from the network (and names from the command line) never reach a terminal raw.
//!
//! Text form (`Esc`, [`push_text`]): printable UTF-8 as is; `\n`, `\r`, `\t`, `\\`, `\"`;
//! other control characters as `\x1b`; every format character (Unicode category Cf: bidi
//! controls, soft hyphen, zero-width and invisible characters, tags) and the line/paragraph
//! separators as `\u{202e}`; bytes that are not UTF-8 as `\xff`. A cut through a multibyte
//! character (at [`SHOW_MAX`](crate::values::limits::SHOW_MAX)) is never shown as bad bytes: the cut
//! moves back to the character's start.
//!
//! JSON form ([`push_json_str`]): the inside of a JSON string that decodes to the original
//! text: control and format characters as `\uXXXX` (so the raw line is safe on a terminal
//! too); a byte that is not UTF-8, which JSON cannot carry, as the four characters `\xff`.

use super::line::{Line, LineFull};

/// Characters shown escaped though Rust does not call them control characters: Unicode's
/// format characters (category Cf), the line and paragraph separators, and every
/// Default_Ignorable_Code_Point (variation selectors, Hangul fillers, tags and the reserved
/// ranges around them): all of them move, hide or change text without being seen.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x00ad | 0x034f | 0x0600..=0x0605 | 0x061c | 0x06dd | 0x070f | 0x0890..=0x0891
        | 0x08e2 | 0x115f..=0x1160 | 0x17b4..=0x17b5 | 0x180b..=0x180f | 0x200b..=0x200f
        | 0x2028..=0x202e | 0x2060..=0x206f | 0x3164 | 0xfe00..=0xfe0f | 0xfeff | 0xffa0
        | 0xfff0..=0xfffb | 0x110bd | 0x110cd | 0x13430..=0x1343f | 0x1bca0..=0x1bca3
        | 0x1d173..=0x1d17a | 0xe0000..=0xe0fff)
}

/// `bytes` cut to at most `max` bytes, never inside a UTF-8 character.
pub(crate) fn cut(bytes: &[u8], max: usize) -> &[u8] {
    if bytes.len() <= max {
        return bytes;
    }
    let mut end = max;
    // Back up over continuation bytes (at most 3) to the start of a character, if the bytes
    // there are a valid character that the cut would split.
    let start = (max.saturating_sub(3)..max)
        .rev()
        .find(|&i| bytes[i] & 0xc0 != 0x80)
        .unwrap_or(max);
    if start < max {
        let lead = bytes[start];
        let len = match lead {
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => 1,
        };
        if start + len > max
            && core::str::from_utf8(&bytes[start..(start + len).min(bytes.len())]).is_ok()
        {
            end = start;
        }
    }
    &bytes[..end]
}

/// Appends `bytes` in the text form.
pub fn push_text(l: &mut Line, bytes: &[u8]) -> Result<(), LineFull> {
    write_text(l, bytes).map_err(|_| LineFull)
}

/// Appends `bytes` in the JSON form (without the quotes).
pub fn push_json_str(l: &mut Line, bytes: &[u8]) -> Result<(), LineFull> {
    for chunk in bytes.utf8_chunks() {
        let text = chunk.valid();
        let mut run = 0;
        for (i, c) in text.char_indices() {
            let esc: &str = match c {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                c if c.is_control() || is_invisible(c) => "",
                _ => continue,
            };
            l.push_str(&text[run..i])?;
            run = i + c.len_utf8();
            if esc.is_empty() {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    l.push_fmt(format_args!("\\u{u:04x}"))?;
                }
            } else {
                l.push_str(esc)?;
            }
        }
        l.push_str(&text[run..])?;
        for b in chunk.invalid() {
            l.push_fmt(format_args!("\\\\x{b:02x}"))?;
        }
    }
    Ok(())
}

/// The text form into any `fmt::Write`.
fn write_text(w: &mut impl core::fmt::Write, bytes: &[u8]) -> core::fmt::Result {
    for chunk in bytes.utf8_chunks() {
        let text = chunk.valid();
        // Printable runs (the usual case: whole names) are written at once.
        let mut run = 0;
        for (i, c) in text.char_indices() {
            let esc: &str = match c {
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                '\\' => "\\\\",
                '"' => "\\\"",
                c if c.is_control() || is_invisible(c) => "",
                _ => continue,
            };
            w.write_str(&text[run..i])?;
            run = i + c.len_utf8();
            if !esc.is_empty() {
                w.write_str(esc)?;
            } else if (c as u32) < 0x80 {
                write!(w, "\\x{:02x}", c as u32)?;
            } else {
                write!(w, "\\u{{{:x}}}", c as u32)?;
            }
        }
        w.write_str(&text[run..])?;
        for b in chunk.invalid() {
            write!(w, "\\x{b:02x}")?;
        }
    }
    Ok(())
}

/// Bytes shown in the text form, in `format_args!`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Esc<'a>(pub(crate) &'a [u8]);

impl core::fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write_text(f, self.0)
    }
}

/// A name from the command line, escaped if it holds anything a terminal would act on.
pub(crate) fn push_name(l: &mut Line, name: &str) -> Result<(), LineFull> {
    if name.chars().any(|c| c.is_control() || is_invisible(c)) {
        push_text(l, name.as_bytes())
    } else {
        l.push_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(bytes: &[u8]) -> String {
        Esc(bytes).to_string()
    }

    fn json(bytes: &[u8]) -> String {
        let mut l = Line::new();
        push_json_str(&mut l, bytes).unwrap();
        l.as_str().to_string()
    }

    #[test]
    fn escapes_what_a_terminal_would_act_on() {
        assert_eq!(esc(b"hello"), "hello");
        assert_eq!(esc(b"\x1b[2J\x07"), "\\x1b[2J\\x07");
        assert_eq!(esc(b"a\nb\tc\r"), "a\\nb\\tc\\r");
        assert_eq!(esc(b"\xff\xfeok"), "\\xff\\xfeok");
        assert_eq!(esc("é ü".as_bytes()), "é ü");
        assert_eq!(esc("\u{202e}evil".as_bytes()), "\\u{202e}evil");
        assert_eq!(esc("\u{9b}".as_bytes()), "\\u{9b}");
        assert_eq!(esc(b"\x7f"), "\\x7f");
        assert_eq!(esc(b"say \"hi\" \\"), "say \\\"hi\\\" \\\\");
    }

    /// Every control (Cc) and format (Cf) character, every bidi control and every
    /// default-ignorable code point is escaped in both forms, checked here whole.
    #[test]
    fn whole_categories_are_escaped() {
        let mut n = 0;
        for c in (0..=0x10ffffu32).filter_map(char::from_u32) {
            if !(c.is_control() || is_invisible(c)) {
                continue;
            }
            n += 1;
            let s = c.to_string();
            let t = esc(s.as_bytes());
            assert!(t.starts_with('\\') && !t.contains(c), "{c:?} -> {t}");
            let j = json(s.as_bytes());
            assert!(j.starts_with('\\') && !j.contains(c), "{c:?} -> {j}");
        }
        // 65 Cc, then Cf (Unicode 16), U+2028/9 and the default-ignorable code points.
        assert_eq!(n, 65 + 4208);
        for c in [
            '\u{061c}',
            '\u{00ad}',
            '\u{180e}',
            '\u{206a}',
            '\u{206f}',
            '\u{fff9}',
            '\u{fffb}',
            '\u{e0001}',
            '\u{e007f}',
            '\u{2066}',
            '\u{2069}',
            '\u{200e}',
        ] {
            assert!(is_invisible(c), "{c:?}");
        }
        assert!(!is_invisible('a') && !is_invisible('é') && !is_invisible('😀'));
    }

    #[test]
    fn json_strings_decode_to_the_original_text() {
        for input in [
            "\x1b[31mred",
            "q\"uote\\",
            "\0\n",
            "peerlab:bye\n",
            "\u{202e}x",
            "😀\u{e0041}",
        ] {
            let line = format!("\"{}\"", json(input.as_bytes()));
            let back: String = serde_json::from_str(&line).unwrap();
            assert_eq!(back, input, "{line}");
            assert!(
                !line.chars().any(|c| c.is_control() || is_invisible(c)),
                "{line:?}"
            );
        }
        // A byte JSON cannot carry is shown as the text \xNN.
        let back: String = serde_json::from_str(&format!("\"{}\"", json(b"a\xffb"))).unwrap();
        assert_eq!(back, "a\\xffb");
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        let s = "ab😀cd".as_bytes(); // the emoji is bytes 2..6
        assert_eq!(cut(s, 3), b"ab");
        assert_eq!(cut(s, 5), b"ab");
        assert_eq!(cut(s, 6), "ab😀".as_bytes());
        assert_eq!(cut(s, 100), s);
        // Bad bytes are cut where asked (there is no character to keep whole).
        assert_eq!(cut(b"\xff\xff\xff\xff", 2), b"\xff\xff");
        assert_eq!(
            esc(cut(
                &[b'x'; 199]
                    .iter()
                    .chain("😀".as_bytes())
                    .copied()
                    .collect::<Vec<_>>(),
                200
            )),
            "x".repeat(199)
        );
    }
}
