//! `/etc/resolv.conf`: the nameservers to ask, the search list and the options that say how
//! long to wait and how often to try, with the defaults glibc and musl use when a line is
//! missing (nameserver 127.0.0.1, ndots 1, timeout 5 s, attempts 2).
//!
//! Lines that cannot be understood are skipped, as the C libraries do: a broken line must not
//! make every peer unresolvable.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::sysfile;

/// Most nameservers used (glibc's and musl's `MAXNS`); further lines are ignored.
pub(crate) const MAX_NAMESERVERS: usize = 3;
/// Most search domains kept (glibc's historical `MAXDNSRCH`).
pub(crate) const MAX_SEARCH: usize = 6;
/// Longest domain name in text form (253 characters, plus a spare for a trailing dot).
pub(crate) const MAX_DOMAIN: usize = 254;

/// A domain name in text form, in a fixed buffer.
pub(crate) type DomainName = heapless::String<MAX_DOMAIN>;

/// What `/etc/resolv.conf` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvConf {
    /// Where queries go, in order (port 53).
    pub nameservers: heapless::Vec<SocketAddr, MAX_NAMESERVERS>,
    /// Domains appended to a name with fewer dots than `ndots` (from `search`, or `domain`).
    pub(crate) search: heapless::Vec<DomainName, MAX_SEARCH>,
    /// A name with at least this many dots is tried as it is first (default 1, at most 15).
    pub(crate) ndots: u8,
    /// How long to wait for one nameserver's answer (default 5 s, at most 30 s).
    pub(crate) timeout: Duration,
    /// How many rounds over the nameservers (default 2, at most 5).
    pub(crate) attempts: u8,
}

impl Default for ResolvConf {
    fn default() -> Self {
        let mut nameservers = heapless::Vec::new();
        // The C libraries' default when no nameserver line is present.
        let _ = nameservers.push(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53));
        ResolvConf {
            nameservers,
            search: heapless::Vec::new(),
            ndots: 1,
            timeout: Duration::from_secs(5),
            attempts: 2,
        }
    }
}

impl ResolvConf {
    /// Reads `/etc/resolv.conf` (bounded, never blocking: see `sysfile`); a missing,
    /// unreadable or not regular file gives the defaults.
    pub(crate) fn load() -> ResolvConf {
        let mut p = Parser::default();
        sysfile::for_each_line(sysfile::Which::ResolvConf, |line| {
            // Comments are cut before the text is taken: a comment need not be UTF-8.
            let line = line
                .split(|&b| b == b'#' || b == b';')
                .next()
                .unwrap_or(&[]);
            if let Ok(line) = core::str::from_utf8(line) {
                p.line(line);
            }
        });
        p.finish()
    }

    /// Parses the file's text.
    pub fn parse(text: &str) -> ResolvConf {
        let mut p = Parser::default();
        for line in text.lines() {
            p.line(line);
        }
        p.finish()
    }

    fn option(&mut self, w: &str) {
        let Some((name, value)) = w.split_once(':') else {
            return;
        };
        let Ok(n) = value.parse::<u32>() else {
            return;
        };
        match name {
            "ndots" => self.ndots = n.min(15) as u8,
            "timeout" => self.timeout = Duration::from_secs(u64::from(n.clamp(1, 30))),
            "attempts" => self.attempts = n.clamp(1, 5) as u8,
            _ => {}
        }
    }
}

/// The file, a line at a time.
#[derive(Default)]
struct Parser {
    c: ResolvConf,
    servers: heapless::Vec<SocketAddr, MAX_NAMESERVERS>,
}

impl Parser {
    fn line(&mut self, line: &str) {
        // `#` and `;` start comments (at the start of a line in the C libraries; a comment
        // after a value is also common and never part of one).
        let line = line.split(['#', ';']).next().unwrap_or("");
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                // An IPv6 address may carry a zone (`fe80::1%eth0`): not supported, skipped.
                if let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) {
                    let _ = self.servers.push(SocketAddr::new(ip, 53));
                }
            }
            // The last `search` or `domain` line wins, as in glibc and musl.
            Some("search") | Some("domain") => {
                self.c.search.clear();
                for w in words {
                    let w = w.trim_end_matches('.');
                    if w.is_empty() {
                        continue;
                    }
                    if let Ok(d) = DomainName::try_from(w) {
                        if self.c.search.push(d).is_err() {
                            break;
                        }
                    }
                }
            }
            Some("options") => {
                for w in words {
                    self.c.option(w);
                }
            }
            _ => {}
        }
    }

    fn finish(mut self) -> ResolvConf {
        if !self.servers.is_empty() {
            self.c.nameservers = self.servers;
        }
        self.c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_as_the_c_libraries() {
        let c = ResolvConf::parse("");
        assert_eq!(c.nameservers.as_slice(), &["127.0.0.1:53".parse().unwrap()]);
        assert!(c.search.is_empty());
        assert_eq!(
            (c.ndots, c.timeout, c.attempts),
            (1, Duration::from_secs(5), 2)
        );
    }

    #[test]
    fn docker_resolv_conf() {
        let c = ResolvConf::parse(
            "# Generated by Docker Engine.\n\
             nameserver 127.0.0.11\n\
             search corp.example.com example.com.\n\
             options edns0 trust-ad ndots:0\n\
             \n\
             # ExtServers: [host(10.0.0.1)]\n",
        );
        assert_eq!(
            c.nameservers.as_slice(),
            &["127.0.0.11:53".parse().unwrap()]
        );
        let s: Vec<&str> = c.search.iter().map(|d| d.as_str()).collect();
        assert_eq!(s, ["corp.example.com", "example.com"]);
        assert_eq!(c.ndots, 0);
    }

    #[test]
    fn kubernetes_resolv_conf_and_limits() {
        let c = ResolvConf::parse(
            "search default.svc.cluster.local svc.cluster.local cluster.local\n\
             nameserver 10.96.0.10\n\
             nameserver ::1\n\
             nameserver fe80::1%eth0\n\
             nameserver not-an-ip\n\
             nameserver 10.0.0.3 ; third\n\
             nameserver 10.0.0.4\n\
             options ndots:5 timeout:99 attempts:0 rotate\n",
        );
        let ns: Vec<String> = c.nameservers.iter().map(|a| a.to_string()).collect();
        assert_eq!(
            ns,
            ["10.96.0.10:53", "[::1]:53", "10.0.0.3:53"],
            "at most 3"
        );
        assert_eq!(c.search.len(), 3);
        assert_eq!(c.ndots, 5);
        assert_eq!(c.timeout, Duration::from_secs(30), "capped as glibc");
        assert_eq!(c.attempts, 1, "at least one");
    }

    #[test]
    fn last_search_or_domain_line_wins() {
        let c = ResolvConf::parse("search a.example b.example\ndomain c.example\n");
        assert_eq!(c.search.len(), 1);
        assert_eq!(c.search[0].as_str(), "c.example");
        let c = ResolvConf::parse("options ndots:2 timeout:1 attempts:3 junk:x\n");
        assert_eq!(
            (c.ndots, c.timeout, c.attempts),
            (2, Duration::from_secs(1), 3)
        );
    }
}
