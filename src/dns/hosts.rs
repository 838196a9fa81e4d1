//! `/etc/hosts`: addresses for names and aliases, looked at before any nameserver (the
//! `files dns` order of glibc's default `nsswitch.conf`, and musl's only order). Every line that
//! names the host counts (a name listed with several addresses gets them all, in file order).

use std::net::IpAddr;

use super::{sysfile, Addrs, Family};

/// Reads `/etc/hosts` (bounded, never blocking: see [`sysfile`]) and adds to `out` the
/// addresses it gives `name` in `family`. Returns whether it gave any: then no nameserver is
/// asked (as glibc: a name listed only with an IPv4 address, asked for IPv6, goes on to DNS).
pub(super) fn lookup_file(name: &str, family: Family, out: &mut Addrs) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let mut found = false;
    sysfile::for_each_line(sysfile::Which::Hosts, |line| {
        found |= lookup_line(line, name, family, out);
    });
    found
}

/// [`lookup_file`] on a file's text.
#[cfg(test)]
fn lookup(text: &str, name: &str, family: Family, out: &mut Addrs) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let mut found = false;
    for line in text.lines() {
        found |= lookup_line(line.as_bytes(), name, family, out);
    }
    found
}

/// One line: whether it names `name` (without a trailing dot) with an address of `family`.
/// Worked on bytes, the names compared by length first: this runs on every line of the file
/// for every lookup, inside the loop.
fn lookup_line(line: &[u8], name: &str, family: Family, out: &mut Addrs) -> bool {
    let line = line.split(|&b| b == b'#').next().unwrap_or(&[]);
    let mut words = line
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty());
    let Some(addr) = words.next() else {
        return false;
    };
    let name = name.as_bytes();
    let named = words.any(|w| {
        let mut w = w;
        while let [rest @ .., b'.'] = w {
            w = rest;
        }
        w.len() == name.len() && w.eq_ignore_ascii_case(name)
    });
    if !named {
        return false;
    }
    // A zone (`fe80::1%lo`) is not supported: the line is skipped.
    match core::str::from_utf8(addr).map(str::parse::<IpAddr>) {
        Ok(Ok(ip)) if family.wants(ip) => {
            out.push(ip);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTS: &str = "127.0.0.1\tlocalhost\n\
        ::1 localhost ip6-localhost ip6-loopback\n\
        # 10.0.0.9 p2\n\
        172.18.0.3 p2 p2.lab  # the second peer\n\
        172.18.0.4 P3 alias3\n\
        172.18.0.5 p3\n\
        not-an-address p4\n\
        fd00::5 p3.\n";

    fn find(name: &str, family: Family) -> (bool, Vec<String>) {
        let mut out = Addrs::with_capacity(8);
        let named = lookup(HOSTS, name, family, &mut out);
        (
            named,
            out.as_slice().iter().map(|a| a.to_string()).collect(),
        )
    }

    #[test]
    fn names_aliases_and_every_line() {
        assert_eq!(find("p2", Family::Any), (true, vec!["172.18.0.3".into()]));
        assert_eq!(
            find("p2.lab", Family::Any),
            (true, vec!["172.18.0.3".into()])
        );
        assert_eq!(find("alias3", Family::V4).1, ["172.18.0.4"]);
        assert_eq!(
            find("p3", Family::Any).1,
            ["172.18.0.4", "172.18.0.5", "fd00::5"],
            "case-insensitive, every line, trailing dots"
        );
        assert_eq!(find("p3.", Family::V6).1, ["fd00::5"]);
        assert_eq!(find("localhost", Family::Any).1, ["127.0.0.1", "::1"]);
    }

    #[test]
    fn comments_and_bad_lines_name_nothing() {
        assert_eq!(find("p4", Family::Any), (false, vec![]));
        assert_eq!(find("the", Family::Any), (false, vec![]));
        assert_eq!(find("p", Family::Any), (false, vec![]));
        // Named, but not in this family: DNS is asked, as glibc does.
        assert_eq!(find("p2", Family::V6), (false, vec![]));
    }
}
