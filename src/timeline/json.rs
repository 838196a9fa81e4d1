//! A tolerant reader for the flat JSON objects of a trace: strings (with escapes), numbers,
//! booleans and null; nested arrays and objects are skipped. Hand-written so that the binary
//! carries no JSON library (the renderer ships in the same half-megabyte image).

/// A field's value. Integers that fit a `u64` are kept; anything else is only known to exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Val {
    /// A string, unescaped.
    Str(String),
    /// A non-negative integer.
    Num(u64),
    /// `true` or `false`.
    Bool(bool),
    /// A negative or fractional number, null, an array or an object.
    Other,
}

/// Why a line is not one JSON object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Bad {
    /// The line ends inside the object.
    Truncated,
    /// Anything else: a stray byte, text after the object.
    Malformed,
}

/// The fields of the object that is the whole of `s` (surrounding spaces allowed).
pub(super) fn parse_object(s: &str) -> Result<Vec<(String, Val)>, Bad> {
    let mut p = P {
        b: s.as_bytes(),
        i: 0,
    };
    p.ws();
    p.eat(b'{')?;
    let mut fields = Vec::new();
    p.ws();
    if p.peek()? == b'}' {
        p.i += 1;
    } else {
        loop {
            p.ws();
            let k = p.string()?;
            p.ws();
            p.eat(b':')?;
            p.ws();
            let v = p.value(0)?;
            fields.push((k, v));
            p.ws();
            match p.next()? {
                b',' => {}
                b'}' => break,
                _ => return Err(Bad::Malformed),
            }
        }
    }
    p.ws();
    if p.i == p.b.len() {
        Ok(fields)
    } else {
        Err(Bad::Malformed)
    }
}

struct P<'a> {
    b: &'a [u8],
    i: usize,
}

impl P<'_> {
    fn peek(&self) -> Result<u8, Bad> {
        self.b.get(self.i).copied().ok_or(Bad::Truncated)
    }
    fn next(&mut self) -> Result<u8, Bad> {
        let c = self.peek()?;
        self.i += 1;
        Ok(c)
    }
    fn eat(&mut self, c: u8) -> Result<(), Bad> {
        if self.next()? == c {
            Ok(())
        } else {
            Err(Bad::Malformed)
        }
    }
    fn ws(&mut self) {
        while self.b.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }
    fn word(&mut self, w: &[u8]) -> Result<(), Bad> {
        for &c in w {
            self.eat(c)?;
        }
        Ok(())
    }

    /// A value; nesting deeper than a few levels is refused (no deep recursion on input).
    fn value(&mut self, depth: u8) -> Result<Val, Bad> {
        match self.peek()? {
            b'"' => self.string().map(Val::Str),
            b't' => self.word(b"true").map(|()| Val::Bool(true)),
            b'f' => self.word(b"false").map(|()| Val::Bool(false)),
            b'n' => self.word(b"null").map(|()| Val::Other),
            c @ (b'[' | b'{') if depth < 16 => {
                let close = if c == b'[' { b']' } else { b'}' };
                self.i += 1;
                self.ws();
                if self.peek()? == close {
                    self.i += 1;
                    return Ok(Val::Other);
                }
                loop {
                    self.ws();
                    if c == b'{' {
                        self.string()?;
                        self.ws();
                        self.eat(b':')?;
                        self.ws();
                    }
                    self.value(depth + 1)?;
                    self.ws();
                    match self.next()? {
                        b',' => {}
                        x if x == close => return Ok(Val::Other),
                        _ => return Err(Bad::Malformed),
                    }
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                while self
                    .b
                    .get(self.i)
                    .is_some_and(|c| matches!(c, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                {
                    self.i += 1;
                }
                let n = &self.b[start..self.i];
                Ok(std::str::from_utf8(n)
                    .ok()
                    .and_then(|n| n.parse().ok())
                    .map_or(Val::Other, Val::Num))
            }
            _ => Err(Bad::Malformed),
        }
    }

    fn string(&mut self) -> Result<String, Bad> {
        self.eat(b'"')?;
        let mut out = String::new();
        loop {
            let start = self.i;
            while !matches!(self.peek()?, b'"' | b'\\') {
                self.i += 1;
            }
            // The input is a &str and we stop only at ASCII bytes: always a char boundary.
            out.push_str(std::str::from_utf8(&self.b[start..self.i]).map_err(|_| Bad::Malformed)?);
            if self.next()? == b'"' {
                return Ok(out);
            }
            let c = match self.next()? {
                b'n' => '\n',
                b't' => '\t',
                b'r' => '\r',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'u' => {
                    let hi = self.hex4()?;
                    let cp = if (0xd800..0xdc00).contains(&hi)
                        && self.b.get(self.i..self.i + 2) == Some(b"\\u")
                    {
                        self.i += 2;
                        let lo = self.hex4()?;
                        0x10000 + ((hi - 0xd800) << 10) + lo.wrapping_sub(0xdc00)
                    } else {
                        hi
                    };
                    char::from_u32(cp).unwrap_or('\u{fffd}')
                }
                c @ (b'"' | b'\\' | b'/') => char::from(c),
                _ => return Err(Bad::Malformed),
            };
            out.push(c);
        }
    }

    fn hex4(&mut self) -> Result<u32, Bad> {
        let mut v = 0;
        for _ in 0..4 {
            let d = char::from(self.next()?)
                .to_digit(16)
                .ok_or(Bad::Malformed)?;
            v = v * 16 + d;
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_objects_escapes_and_nesting() {
        let f = parse_object(
            r#" {"event":"sent","a\"b":"x\u00e9\n\ud83d\ude00","n":12,"neg":-1,"f":1.5,"t":true,"z":null,"arr":[1,[2,{"q":"}"}]],"o":{}} "#,
        )
        .unwrap();
        assert_eq!(f[0], ("event".into(), Val::Str("sent".into())));
        assert_eq!(f[1], ("a\"b".into(), Val::Str("xé\n😀".into())));
        assert_eq!(f[2].1, Val::Num(12));
        assert_eq!(f[3].1, Val::Other);
        assert_eq!(f[4].1, Val::Other);
        assert_eq!(f[5].1, Val::Bool(true));
        assert_eq!(f[6].1, Val::Other);
        assert_eq!(f.len(), 9);
        assert_eq!(parse_object("{}"), Ok(vec![]));
    }

    #[test]
    fn truncated_and_malformed() {
        for s in [
            r#"{"event":"sent","id":1"#,
            r#"{"event":"se"#,
            "{",
            "",
            r#"{"a":"\u12"#,
        ] {
            assert_eq!(parse_object(s), Err(Bad::Truncated), "{s}");
        }
        for s in [
            r#"{"a":1} x"#,
            r#"{"a" 1}"#,
            r#"{a:1}"#,
            "[1]",
            r#"{"a":tru}"#,
            r#"{"a":"\q"}"#,
        ] {
            assert_eq!(parse_object(s), Err(Bad::Malformed), "{s}");
        }
        // Deep nesting is refused, not recursed into.
        let deep = format!(r#"{{"a":{}{}}}"#, "[".repeat(100), "]".repeat(100));
        assert!(parse_object(&deep).is_err());
    }
}
