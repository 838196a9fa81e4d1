//! The one JSON writer: an object of one line, its fields appended in order. Strings are
//! always escaped ([`push_json_str`]); keys are the program's own `snake_case` words.

use std::net::SocketAddr;

use super::escape::push_json_str;
use super::line::{Line, LineFull};

/// An object being written into a [`Line`]; [`Obj::end`] closes it.
#[derive(Debug)]
pub struct Obj<'l> {
    l: &'l mut Line,
}

impl<'l> Obj<'l> {
    /// Opens `{"event":"<event>"` in `l`.
    pub(crate) fn open(l: &'l mut Line, event: &str) -> Result<Obj<'l>, LineFull> {
        l.push_str("{\"event\":\"")?;
        push_json_str(l, event.as_bytes())?;
        l.push('"')?;
        Ok(Obj { l })
    }

    fn key(&mut self, key: &str) -> Result<&mut Line, LineFull> {
        debug_assert!(key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit()));
        self.l.push_str(",\"")?;
        self.l.push_str(key)?;
        self.l.push_str("\":")?;
        Ok(self.l)
    }

    /// `"key":123`.
    pub(crate) fn num(&mut self, key: &str, v: u64) -> Result<&mut Self, LineFull> {
        self.key(key)?.push_num(v)?;
        Ok(self)
    }

    /// `"key":123` or `"key":null`.
    pub(crate) fn opt_num(&mut self, key: &str, v: Option<u64>) -> Result<&mut Self, LineFull> {
        match v {
            Some(v) => self.num(key, v),
            None => self.null(key),
        }
    }

    /// `"key":true`.
    pub(crate) fn bool(&mut self, key: &str, v: bool) -> Result<&mut Self, LineFull> {
        self.key(key)?.push_str(if v { "true" } else { "false" })?;
        Ok(self)
    }

    /// `"key":null`.
    pub(crate) fn null(&mut self, key: &str) -> Result<&mut Self, LineFull> {
        self.key(key)?.push_str("null")?;
        Ok(self)
    }

    /// `"key":"text"`, escaped.
    pub(crate) fn str(&mut self, key: &str, v: &str) -> Result<&mut Self, LineFull> {
        self.bytes(key, v.as_bytes())
    }

    /// `"key":"text"` or `"key":null`.
    pub(crate) fn opt_str(&mut self, key: &str, v: Option<&str>) -> Result<&mut Self, LineFull> {
        match v {
            Some(v) => self.str(key, v),
            None => self.null(key),
        }
    }

    /// `"key":"..."`: bytes (from the network) as an escaped string.
    pub(crate) fn bytes(&mut self, key: &str, v: &[u8]) -> Result<&mut Self, LineFull> {
        let l = self.key(key)?;
        l.push('"')?;
        push_json_str(l, v)?;
        l.push('"')?;
        Ok(self)
    }

    /// `"key":"what Display shows"`, escaped (slow path: formats into a scratch buffer).
    pub(crate) fn display(
        &mut self,
        key: &str,
        v: &dyn core::fmt::Display,
    ) -> Result<&mut Self, LineFull> {
        // A longer text is cut at the last character that fits (not at the last piece that
        // did: a notice's long literal tail vanished whole): it is a message of ours or of the
        // OS, not data.
        struct Cut(heapless::String<640>);
        impl core::fmt::Write for Cut {
            fn write_str(&mut self, s: &str) -> core::fmt::Result {
                for c in s.chars() {
                    self.0.push(c).map_err(|_| core::fmt::Error)?;
                }
                Ok(())
            }
        }
        let mut tmp = Cut(heapless::String::new());
        let _ = core::fmt::write(&mut tmp, format_args!("{v}"));
        self.bytes(key, tmp.0.as_bytes())
    }

    /// `"key":[1,2,3]`.
    pub(crate) fn nums(
        &mut self,
        key: &str,
        v: impl Iterator<Item = u64>,
    ) -> Result<&mut Self, LineFull> {
        let l = self.key(key)?;
        l.push('[')?;
        for (i, n) in v.enumerate() {
            if i > 0 {
                l.push(',')?;
            }
            l.push_num(n)?;
        }
        l.push(']')?;
        Ok(self)
    }

    /// `"key":[2,"held"]`: numbers (`Ok`) and words (`Err`: ASCII, as on the wire).
    pub(crate) fn mixed(
        &mut self,
        key: &str,
        v: impl Iterator<Item = Result<u64, &'static str>>,
    ) -> Result<&mut Self, LineFull> {
        let l = self.key(key)?;
        l.push('[')?;
        for (i, x) in v.enumerate() {
            if i > 0 {
                l.push(',')?;
            }
            match x {
                Ok(n) => l.push_num(n)?,
                Err(w) => {
                    l.push('"')?;
                    l.push_str(w)?;
                    l.push('"')?;
                }
            }
        }
        l.push(']')?;
        Ok(self)
    }

    /// `"key":"1.2.3.4:5"` or `"key":null`.
    pub(crate) fn addr(&mut self, key: &str, v: Option<SocketAddr>) -> Result<&mut Self, LineFull> {
        match v {
            Some(a) => {
                let l = self.key(key)?;
                l.push('"')?;
                l.push_addr(a)?;
                l.push('"')?;
                Ok(self)
            }
            None => self.null(key),
        }
    }

    /// Closes the object and the line.
    pub(crate) fn end(self) -> Result<(), LineFull> {
        self.l.push_str("}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_valid_json_whatever_the_strings_hold() {
        let mut l = Line::new();
        let mut o = Obj::open(&mut l, "test").unwrap();
        o.num("n", u64::MAX)
            .unwrap()
            .str("s", "q\"\\\n\u{202e}")
            .unwrap()
            .bytes("b", b"\xff\x1b")
            .unwrap()
            .addr("a", Some("[::1]:7".parse().unwrap()))
            .unwrap()
            .addr("none", None)
            .unwrap()
            .bool("yes", true)
            .unwrap()
            .display("d", &format_args!("x\"y"))
            .unwrap();
        o.end().unwrap();
        let v: serde_json::Value = serde_json::from_str(l.as_str()).unwrap();
        assert_eq!(v["event"], "test");
        assert_eq!(v["n"], u64::MAX);
        assert_eq!(v["s"], "q\"\\\n\u{202e}");
        assert_eq!(v["b"], "\\xff\u{1b}");
        assert_eq!(v["a"], "[::1]:7");
        assert!(v["none"].is_null());
        assert_eq!(v["yes"], true);
        assert_eq!(v["d"], "x\"y");
        // A long text with a long literal piece after a short one is cut at 640 characters,
        // not before the long piece.
        let mut l = Line::new();
        let mut o = Obj::open(&mut l, "test").unwrap();
        let tail = "t".repeat(700);
        o.display("d", &format_args!("{}{tail}", "head ")).unwrap();
        o.end().unwrap();
        let v: serde_json::Value = serde_json::from_str(l.as_str()).unwrap();
        assert_eq!(v["d"].as_str().unwrap().len(), 640);
    }
}
