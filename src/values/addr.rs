//! Addresses as the user writes them: `host:port`, `[v6]:port` or `:port`.

use core::fmt;

use crate::values::limits::MAX_NAME;

/// A `host:port` argument: the text as the user wrote it (shown in every line) and the
/// form handed to the resolver (`:port` becomes `127.0.0.1:port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrSpec {
    /// As written, e.g. `p2:10003` or `:10003`.
    pub text: heapless::String<MAX_NAME>,
    /// The port, parsed (never 0).
    pub port: u16,
}

impl AddrSpec {
    /// Host part for the resolver (`127.0.0.1` for `:port`, brackets kept for IPv6).
    pub fn host(&self) -> &str {
        match self.text.rsplit_once(':') {
            Some(("", _)) | None => "127.0.0.1",
            Some((h, _)) => h,
        }
    }

    /// Whether the host is an IP address (nothing to resolve, nothing worth announcing).
    pub(crate) fn is_literal(&self) -> bool {
        let h = self.host().trim_start_matches('[').trim_end_matches(']');
        h.parse::<std::net::IpAddr>().is_ok()
    }

    /// Whether two specs name the same address as written (`:10002` and `127.0.0.1:10002`,
    /// `[::1]:7` and `[0::1]:7`, names case-insensitively). No lookup: two names for one
    /// host are not recognised.
    pub fn same_as(&self, other: &AddrSpec) -> bool {
        if self.port != other.port {
            return false;
        }
        let ip = |s: &AddrSpec| {
            let h = s.host().trim_start_matches('[').trim_end_matches(']');
            h.parse::<std::net::IpAddr>().ok()
        };
        match (ip(self), ip(other)) {
            (Some(a), Some(b)) => a == b,
            (None, None) => self.host().eq_ignore_ascii_case(other.host()),
            _ => false,
        }
    }

    /// The `host:port` string the resolver takes.
    pub(crate) fn resolver_form(&self) -> heapless::String<{ MAX_NAME + 8 }> {
        let mut s = heapless::String::new();
        // Cannot fail: host is at most MAX_NAME bytes and the port at most 6 more.
        fmt::write(&mut s, format_args!("{}:{}", self.host(), self.port))
            .expect("host:port fits MAX_NAME + 8");
        s
    }
}

/// Parses `host:port`, `[v6]:port` or `:port`.
pub fn parse_spec(s: &str) -> Result<AddrSpec, String> {
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(format!("`{s}` is not host:port (e.g. p2:10003 or :10003)"));
    };
    let port: u16 = match port.parse() {
        Ok(p) if p != 0 => p,
        _ => return Err(format!("`{s}`: the port must be a number from 1 to 65535")),
    };
    // `::1` or `fe80::1:10002` would otherwise read as host `:` (or `fe80:`) and a port: an
    // IPv6 address needs brackets, and a port after them.
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        let hint = if s.parse::<std::net::Ipv6Addr>().is_ok() {
            format!("[{s}]:PORT")
        } else if host.parse::<std::net::Ipv6Addr>().is_ok() {
            format!("[{host}]:{port}")
        } else {
            "[ADDRESS]:PORT".to_string()
        };
        return Err(format!(
            "`{s}`: an IPv6 address needs brackets and a port, e.g. {hint}"
        ));
    }
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    if host.contains(char::is_whitespace) {
        return Err(format!("`{s}`: the host contains a space"));
    }
    check_host(host).map_err(|why| format!("`{s}`: {why}"))?;
    let too_long = || format!("`{s}` is longer than {MAX_NAME} bytes");
    Ok(AddrSpec {
        text: heapless::String::try_from(s).map_err(|_| too_long())?,
        port,
    })
}

/// Checks that `host` can be looked up: an IP address (IPv6 in brackets), or a host name of
/// labels of 1 to 63 letters, digits, hyphens and underscores (Docker and Kubernetes names
/// have them), none starting with a hyphen, at most 253 bytes (a final dot allowed). Anything
/// else never resolves, and `#` would read like a discovered peer's `NAME#n`.
fn check_host(host: &str) -> Result<(), String> {
    if let Some(inner) = host.strip_prefix('[') {
        return match inner.strip_suffix(']') {
            Some(ip) if ip.parse::<std::net::Ipv6Addr>().is_ok() => Ok(()),
            _ => Err(format!("`{host}` is not an IPv6 address in brackets")),
        };
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    // Only digits and dots: an IPv4 address or a mistyped one (`300.0.0.1`, `10.0.0`), never a
    // name (no top-level domain is all digits, RFC 3696 2), which a lookup would fail on later.
    if !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && name.parse::<std::net::Ipv4Addr>().is_err()
    {
        return Err(format!("`{host}` is not an IPv4 address nor a host name"));
    }
    if name.len() > 253 {
        return Err(format!(
            "the host name is {} bytes long, at most 253 are allowed",
            name.len()
        ));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(format!(
                "the host name `{host}` has an empty label (`..`, or a dot at the start)"
            ));
        }
        if label.len() > 63 {
            return Err(format!(
                "the host name `{host}` has a label of {} bytes, at most 63 are allowed",
                label.len()
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return Err(format!(
                "the host name `{host}` contains {c:?}: only letters, digits, hyphens, underscores and dots are allowed"
            ));
        }
        if label.starts_with('-') {
            return Err(format!(
                "the host name `{host}` has a label that starts with a hyphen"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        let s = parse_spec(":10002").unwrap();
        assert_eq!(
            (s.text.as_str(), s.host(), s.port),
            (":10002", "127.0.0.1", 10002)
        );
        assert_eq!(s.resolver_form().as_str(), "127.0.0.1:10002");
        let s = parse_spec("p2:10003").unwrap();
        assert_eq!(s.resolver_form().as_str(), "p2:10003");
        let s = parse_spec("[::1]:7").unwrap();
        assert_eq!(s.resolver_form().as_str(), "[::1]:7");
        for bad in ["p2", "p2:", "p2:0", "p2:65536", "p2:x", " p1:10004", ""] {
            assert!(parse_spec(bad).is_err(), "{bad:?}");
        }
        // A bare IPv6 address is not host `:` and port 1.
        let e = parse_spec("::1").unwrap_err();
        assert!(e.contains("[::1]:PORT"), "{e}");
        let e = parse_spec("::1:10002").unwrap_err();
        assert!(e.contains("brackets"), "{e}");
        assert!(parse_spec("fe80::1").is_err());
        assert!(parse_spec("[::1]:10002").is_ok());
        let same = |a: &str, b: &str| parse_spec(a).unwrap().same_as(&parse_spec(b).unwrap());
        assert!(same(":10002", "127.0.0.1:10002"));
        assert!(same("[::1]:7", "[0::1]:7"));
        assert!(same("P2:7", "p2:7"));
        assert!(!same("p2:7", "p2:8") && !same("p2:7", "p3:7") && !same(":7", "p2:7"));
        assert!(parse_spec(&format!("{}:1", "a".repeat(300))).is_err());
    }

    #[test]
    fn host_names_are_checked_at_start() {
        for good in [
            "p2:1",
            "peer.lab.svc.cluster.local:10002",
            "peer.lab.svc.cluster.local.:10002",
            "project_peer_1:1",
            "tasks.peer:1",
            "a-b:1",
            "10.0.0.5:1",
            "10.0.0.5.:1",
            "p1.10:1",
            "10.p1:1",
            "[::1]:1",
            &format!("{}:1", "a".repeat(63)),
            &format!(
                "{}.{}.{}.{}:1",
                "a".repeat(63),
                "b".repeat(63),
                "c".repeat(63),
                "d".repeat(61)
            ),
        ] {
            assert!(parse_spec(good).is_ok(), "{good}: {:?}", parse_spec(good));
        }
        for (bad, why) in [
            ("peer..x:20002", "empty label"),
            (".peer:1", "empty label"),
            (&format!("{}:20002", "a".repeat(64)), "a label of 64 bytes"),
            ("-peer:20002", "starts with a hyphen"),
            ("x.-peer:20002", "starts with a hyphen"),
            ("pe#er:20002", "contains '#'"),
            ("pé:1", "contains 'é'"),
            ("[foo]:1", "not an IPv6 address"),
            ("300.0.0.1:10002", "not an IPv4 address"),
            ("10.0.0:10002", "not an IPv4 address"),
            ("127.1:10002", "not an IPv4 address"),
            ("1234:10002", "not an IPv4 address"),
            (
                &format!(
                    "{}.{}.{}.{}:1",
                    "a".repeat(63),
                    "b".repeat(63),
                    "c".repeat(63),
                    "d".repeat(62)
                ),
                "254 bytes long",
            ),
        ] {
            let e = parse_spec(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
