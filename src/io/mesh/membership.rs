//! Discovery's group membership, without I/O: what one lookup of a `--discover` group changes
//! in the peer table. Given the table (named peers first, then the members found so far), the
//! lookup's addresses, the own addresses and the table's capacity, [`Membership::decide`] says
//! which addresses join (and their names' numbers), which members are found again (and join
//! again if they had no socket), which are missing and which leave, which addresses no peer
//! can have and which found no room. The mesh applies the decision: it opens and closes the
//! sockets and emits the events, in the decision's order.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::io::mesh::events::Unusable;
use crate::values::addr::AddrSpec;
use crate::values::limits::{LEAVE_AFTER_MISSES, MAX_NAME};

/// A slot of the peer table as the membership sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Member {
    /// Where it is (`None`: a named peer whose name has not resolved yet).
    pub(crate) addr: Option<SocketAddr>,
    /// The group that found it (`None`: a named peer).
    pub(crate) group: Option<usize>,
    /// It left its group (no socket; its slot is the first a full table gives away).
    pub(crate) left: bool,
    /// When it left: the one that left first gives its slot first.
    pub(crate) left_at: Option<Instant>,
    /// Lookups of its group in a row without its address.
    pub(crate) missing: u8,
    /// It has a connected socket.
    pub(crate) connected: bool,
}

/// One lookup of group `group` that gave addresses (a name that is gone gives none).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lookup<'a> {
    /// The group's index.
    pub(crate) group: usize,
    /// The group's port: every member is on it.
    pub(crate) port: u16,
    /// The addresses, as the resolver gave them.
    pub(crate) addrs: &'a [IpAddr],
    /// Addresses the resolver did not keep (beyond its limit): left out too.
    pub(crate) not_kept: usize,
    /// Members the group found so far (the next one is `#found + 1`).
    pub(crate) found: usize,
}

/// One change to the table, in the order the mesh applies them (and says them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Member `i` is in the lookup again: none missing any more. `connect`: it has no socket
    /// (it had left, `again`, or none could be connected when it was found): connect one,
    /// and it joins (again).
    Found {
        i: usize,
        addr: SocketAddr,
        connect: bool,
        again: bool,
    },
    /// A new address: a new member named `#n` of the group, in slot `i`, a new slot at the
    /// table's end or (`reuse`) the slot of the member that left first.
    Join {
        i: usize,
        addr: SocketAddr,
        n: usize,
        reuse: bool,
    },
    /// Member `i` is not in this lookup: `lookups` in a row now.
    Missing { i: usize, lookups: u8 },
    /// Member `i` has been missing from [`LEAVE_AFTER_MISSES`] lookups in a row: it leaves.
    Leave { i: usize, lookups: u8 },
}

/// What one lookup changes: [`Change`]s and what was left out.
#[derive(Debug, Default)]
pub(crate) struct Decision {
    /// The changes, in order: the lookup's addresses in its order, then the missing members
    /// in the table's order.
    pub(crate) changes: Vec<Change>,
    /// The group's members found so far, this lookup's included.
    pub(crate) found: usize,
    /// Addresses of the lookup no peer can have.
    pub(crate) unusable: usize,
    /// The first of them, and why.
    pub(crate) first_unusable: Option<(IpAddr, Unusable)>,
    /// New addresses left out: the table had no room, or the resolver did not keep them.
    pub(crate) left_out: usize,
    /// The first address the table had no room for.
    pub(crate) first_left_out: Option<SocketAddr>,
}

/// The decision of a group's membership for a table of a fixed size.
#[derive(Debug)]
pub(crate) struct Membership {
    /// Named peers: the table's first slots, never members.
    statics: usize,
    /// Room in the table.
    capacity: usize,
    /// The own socket is IPv6.
    v6: bool,
    /// The table as this lookup changes it, and whether each slot was in the lookup
    /// (allocated by the first lookup, then reused).
    table: Vec<(Member, bool)>,
    /// The latest decision (its room reused).
    pub(crate) decision: Decision,
}

impl Membership {
    /// For a table whose first `statics` slots are named peers, with room for `capacity`, on
    /// an IPv6 socket if `v6`.
    pub(crate) fn new(statics: usize, capacity: usize, v6: bool) -> Self {
        Membership {
            statics,
            capacity,
            v6,
            table: Vec::new(),
            decision: Decision::default(),
        }
    }

    /// Decides what `lookup` changes in the table `members` (every slot, in order), into
    /// [`Membership::decision`]. `is_own` tells this process's own addresses, never a peer's.
    ///
    /// A change whose socket cannot be connected is the mesh's to say; the decision takes it
    /// as connected (a member found again is not given away in the same lookup).
    pub(crate) fn decide(
        &mut self,
        lookup: &Lookup<'_>,
        members: impl IntoIterator<Item = Member>,
        is_own: impl Fn(SocketAddr) -> bool,
    ) -> &Decision {
        let g = lookup.group;
        let table = &mut self.table;
        table.clear();
        table.extend(members.into_iter().map(|m| (m, false)));
        let d = &mut self.decision;
        d.changes.clear();
        d.found = lookup.found;
        d.unusable = 0;
        d.first_unusable = None;
        d.left_out = lookup.not_kept;
        d.first_left_out = None;
        for &ip in lookup.addrs {
            // `::ffff:127.0.0.1` is 127.0.0.1 (and on an IPv6 socket, of the other family).
            let ip = ip.to_canonical();
            // No peer can be at these (0.0.0.0 would be this very process), and only the own
            // address family can be reached from the own socket.
            if let Some(why) = unusable_why(ip, self.v6) {
                d.unusable += 1;
                d.first_unusable.get_or_insert((ip, why));
                continue;
            }
            let addr = SocketAddr::new(ip, lookup.port);
            if let Some(i) = table.iter().position(|(m, _)| m.addr == Some(addr)) {
                let (m, seen) = &mut table[i];
                if m.group != Some(g) {
                    continue; // a named peer, or another group's: already a peer
                }
                *seen = true;
                m.missing = 0;
                let connect = !m.connected;
                d.changes.push(Change::Found {
                    i,
                    addr,
                    connect,
                    again: m.left,
                });
                if connect {
                    m.connected = true;
                    m.left = false;
                }
                continue;
            }
            if is_own(addr) {
                continue;
            }
            // The table is full: the slot of the member that left first, if any, else none.
            let full = table.len() >= self.capacity;
            let reuse = if full {
                (self.statics..table.len())
                    .filter(|&i| table[i].0.left)
                    .min_by_key(|&i| table[i].0.left_at)
            } else {
                None
            };
            if full && reuse.is_none() {
                d.left_out += 1;
                d.first_left_out.get_or_insert(addr);
                continue;
            }
            d.found += 1;
            let new = Member {
                addr: Some(addr),
                group: Some(g),
                left: false,
                left_at: None,
                missing: 0,
                connected: true,
            };
            let i = match reuse {
                Some(i) => {
                    table[i] = (new, true);
                    i
                }
                None => {
                    table.push((new, true));
                    table.len() - 1
                }
            };
            d.changes.push(Change::Join {
                i,
                addr,
                n: d.found,
                reuse: reuse.is_some(),
            });
        }
        for (i, (m, seen)) in table.iter().enumerate().skip(self.statics) {
            if m.group != Some(g) || *seen || m.left {
                continue;
            }
            let lookups = m.missing.saturating_add(1);
            d.changes.push(if lookups < LEAVE_AFTER_MISSES {
                Change::Missing { i, lookups }
            } else {
                Change::Leave { i, lookups }
            });
        }
        &self.decision
    }
}

/// Why no peer can be at `ip` for a socket of the family `v6` says, if so.
/// (Callers pass [`IpAddr::to_canonical`] addresses: `::ffff:a.b.c.d` is the IPv4 address.)
pub(crate) fn unusable_why(ip: IpAddr, v6: bool) -> Option<Unusable> {
    let bad = match ip {
        // 0.0.0.0/8 is "this network" (0.0.0.0 would be this very process), 240.0.0.0/4 is
        // reserved: nothing answers there.
        IpAddr::V4(a) => {
            a.octets()[0] == 0 || a.is_multicast() || a.is_broadcast() || a.octets()[0] >= 240
        }
        // A link-local address needs a scope (an interface), which DNS cannot give.
        IpAddr::V6(a) => {
            a.is_unspecified() || a.is_multicast() || (a.segments()[0] & 0xffc0) == 0xfe80
        }
    };
    if bad {
        Some(Unusable::NotUnicast)
    } else if ip.is_ipv6() != v6 {
        Some(Unusable::OtherFamily)
    } else {
        None
    }
}

/// What a group's members are called before their `#n`: the group's host, shortened to its
/// first label (`peer` for `peer.lab.svc.cluster.local`, and for Swarm's `tasks.peer`), unless
/// an IP address or another group's would read the same (then the whole host).
pub(crate) fn short_name(spec: &AddrSpec, all: &[AddrSpec]) -> heapless::String<MAX_NAME> {
    fn short(host: &str) -> &str {
        if spec_is_ip(host) {
            return host;
        }
        let h = host.strip_prefix("tasks.").unwrap_or(host);
        h.split('.')
            .next()
            .filter(|l| !l.is_empty())
            .unwrap_or(host)
    }
    fn spec_is_ip(host: &str) -> bool {
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok()
    }
    // Two groups on one host (`peer:20002`, `peer:20003`): their members are told apart by
    // the whole argument (`peer:20002#1`).
    if all
        .iter()
        .any(|o| o.port != spec.port && o.host().eq_ignore_ascii_case(spec.host()))
    {
        return heapless::String::try_from(spec.text.as_str()).unwrap_or_default();
    }
    let mine = short(spec.host());
    let clash = all
        .iter()
        .any(|o| o.host() != spec.host() && short(o.host()).eq_ignore_ascii_case(mine));
    let name = if clash { spec.host() } else { mine };
    // Cannot fail: a host is at most MAX_NAME bytes.
    heapless::String::try_from(name).unwrap_or_default()
}

/// Member `n`'s name in a group whose members are called `short`: `short#n` (`#n` alone if
/// that is too long).
pub(crate) fn member_name(short: &str, n: usize) -> heapless::String<MAX_NAME> {
    let mut name = heapless::String::new();
    if core::fmt::write(&mut name, format_args!("{short}#{n}")).is_err() {
        name.clear();
        let _ = core::fmt::write(&mut name, format_args!("#{n}"));
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::addr::parse_spec;
    use std::time::Duration;

    const G: usize = 0;
    const PORT: u16 = 10002;

    fn addr(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), PORT)
    }

    fn named(ip: &str) -> Member {
        Member {
            addr: Some(addr(ip)),
            group: None,
            left: false,
            left_at: None,
            missing: 0,
            connected: true,
        }
    }

    fn member(ip: &str, group: usize) -> Member {
        Member {
            group: Some(group),
            ..named(ip)
        }
    }

    fn left(ip: &str, at: Instant) -> Member {
        Member {
            left: true,
            left_at: Some(at),
            connected: false,
            missing: LEAVE_AFTER_MISSES,
            ..member(ip, G)
        }
    }

    /// `table`'s changes by a lookup of group 0 giving `ips`, on 127.0.0.2:PORT.
    fn decide(
        statics: usize,
        capacity: usize,
        table: &[Member],
        ips: &[&str],
        found: usize,
    ) -> Decision {
        let addrs: Vec<IpAddr> = ips.iter().map(|ip| ip.parse().unwrap()).collect();
        let lookup = Lookup {
            group: G,
            port: PORT,
            addrs: &addrs,
            not_kept: 0,
            found,
        };
        let mut m = Membership::new(statics, capacity, false);
        m.decide(&lookup, table.iter().copied(), |a| a == addr("127.0.0.2"));
        std::mem::take(&mut m.decision)
    }

    #[test]
    fn new_addresses_join_numbered_in_order_but_the_own() {
        let d = decide(0, 8, &[], &["127.0.0.3", "127.0.0.2", "127.0.0.4"], 5);
        assert_eq!(
            d.changes,
            [
                Change::Join {
                    i: 0,
                    addr: addr("127.0.0.3"),
                    n: 6,
                    reuse: false
                },
                Change::Join {
                    i: 1,
                    addr: addr("127.0.0.4"),
                    n: 7,
                    reuse: false
                },
            ]
        );
        assert_eq!(d.found, 7);
        assert_eq!((d.unusable, d.left_out), (0, 0));
    }

    #[test]
    fn an_address_twice_in_one_lookup_joins_once() {
        let d = decide(0, 8, &[], &["127.0.0.3", "::ffff:127.0.0.3"], 0);
        assert_eq!(d.found, 1);
        assert!(
            matches!(
                d.changes[..],
                [
                    Change::Join { i: 0, .. },
                    Change::Found {
                        i: 0,
                        connect: false,
                        again: false,
                        ..
                    }
                ]
            ),
            "{:?}",
            d.changes
        );
    }

    #[test]
    fn a_named_peers_or_another_groups_address_is_no_new_member() {
        let table = [named("127.0.0.3"), member("127.0.0.4", 1)];
        let d = decide(1, 8, &table, &["127.0.0.3", "127.0.0.4"], 0);
        assert!(d.changes.is_empty(), "{:?}", d.changes);
        assert_eq!(d.found, 0);
    }

    #[test]
    fn a_member_missing_from_two_lookups_in_a_row_leaves() {
        let mut m = member("127.0.0.3", G);
        let d = decide(0, 8, &[m], &[], 1);
        assert_eq!(d.changes, [Change::Missing { i: 0, lookups: 1 }]);
        m.missing = 1;
        let d = decide(0, 8, &[m], &[], 1);
        assert_eq!(d.changes, [Change::Leave { i: 0, lookups: 2 }]);
        // Found again in between: the count starts over.
        let d = decide(0, 8, &[m], &["127.0.0.3"], 1);
        assert_eq!(
            d.changes,
            [Change::Found {
                i: 0,
                addr: addr("127.0.0.3"),
                connect: false,
                again: false
            }]
        );
        // A member that left is missing no more; another group's is not this one's.
        let d = decide(
            0,
            8,
            &[left("127.0.0.3", Instant::now()), member("127.0.0.4", 1)],
            &[],
            1,
        );
        assert!(d.changes.is_empty(), "{:?}", d.changes);
    }

    #[test]
    fn a_member_that_left_joins_again_and_one_without_a_socket_is_connected() {
        let t = Instant::now();
        let unconnected = Member {
            connected: false,
            ..member("127.0.0.4", G)
        };
        let d = decide(
            0,
            8,
            &[left("127.0.0.3", t), unconnected],
            &["127.0.0.3", "127.0.0.4"],
            2,
        );
        assert_eq!(
            d.changes,
            [
                Change::Found {
                    i: 0,
                    addr: addr("127.0.0.3"),
                    connect: true,
                    again: true
                },
                Change::Found {
                    i: 1,
                    addr: addr("127.0.0.4"),
                    connect: true,
                    again: false
                },
            ]
        );
        assert_eq!(d.found, 2, "no new name");
    }

    #[test]
    fn a_full_table_gives_the_slot_of_the_first_to_leave_then_leaves_out() {
        let t = Instant::now();
        let table = [
            named("127.0.0.9"),
            left("127.0.0.3", t + Duration::from_secs(2)),
            left("127.0.0.4", t + Duration::from_secs(1)),
            member("127.0.0.5", G),
        ];
        let d = decide(
            1,
            4,
            &table,
            &["127.0.0.5", "127.0.0.6", "127.0.0.7", "127.0.0.8"],
            3,
        );
        assert_eq!(
            d.changes,
            [
                Change::Found {
                    i: 3,
                    addr: addr("127.0.0.5"),
                    connect: false,
                    again: false
                },
                Change::Join {
                    i: 2,
                    addr: addr("127.0.0.6"),
                    n: 4,
                    reuse: true
                },
                Change::Join {
                    i: 1,
                    addr: addr("127.0.0.7"),
                    n: 5,
                    reuse: true
                },
            ]
        );
        assert_eq!(d.left_out, 1);
        assert_eq!(d.first_left_out, Some(addr("127.0.0.8")));
    }

    #[test]
    fn what_the_resolver_did_not_keep_is_left_out_too() {
        let addrs = ["127.0.0.3".parse().unwrap()];
        let lookup = Lookup {
            group: G,
            port: PORT,
            addrs: &addrs,
            not_kept: 44,
            found: 0,
        };
        let mut m = Membership::new(0, 0, false);
        let d = m.decide(&lookup, [], |_| false);
        assert_eq!(d.left_out, 45);
        assert_eq!(d.first_left_out, Some(addr("127.0.0.3")));
        assert!(d.changes.is_empty());
    }

    #[test]
    fn addresses_no_peer_can_have_are_counted_with_the_first() {
        let d = decide(0, 8, &[], &["0.0.0.0", "::1", "224.0.0.1", "127.0.0.3"], 0);
        assert_eq!(d.unusable, 3);
        assert_eq!(
            d.first_unusable,
            Some(("0.0.0.0".parse().unwrap(), Unusable::NotUnicast))
        );
        assert_eq!(d.found, 1);
    }

    #[test]
    fn addresses_no_peer_can_have() {
        let why = |ip: &str, v6| unusable_why(ip.parse().unwrap(), v6);
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert_eq!(why(ip, false), Some(Unusable::NotUnicast), "{ip}");
        }
        for ip in ["::", "ff02::1", "fe80::1"] {
            assert_eq!(why(ip, true), Some(Unusable::NotUnicast), "{ip}");
        }
        assert_eq!(why("::1", false), Some(Unusable::OtherFamily));
        assert_eq!(why("10.0.0.1", true), Some(Unusable::OtherFamily));
        assert_eq!(why("10.0.0.1", false), None);
        assert_eq!(why("127.0.0.3", false), None);
    }

    #[test]
    fn group_members_have_short_names() {
        let specs: Vec<AddrSpec> = [
            "peer.lab.svc.cluster.local:10002",
            "tasks.web:7",
            "10.0.0.5:1",
        ]
        .iter()
        .map(|s| parse_spec(s).unwrap())
        .collect();
        let names: Vec<_> = specs.iter().map(|s| short_name(s, &specs)).collect();
        assert_eq!(names, ["peer", "web", "10.0.0.5"]);
        // Two groups that would read the same keep their whole host.
        let specs: Vec<AddrSpec> = ["peer:10002", "tasks.peer:10003"]
            .iter()
            .map(|s| parse_spec(s).unwrap())
            .collect();
        let names: Vec<_> = specs.iter().map(|s| short_name(s, &specs)).collect();
        assert_eq!(names, ["peer", "tasks.peer"]);
        assert_eq!(member_name("peer", 3), "peer#3");
        let long = "x".repeat(MAX_NAME);
        assert_eq!(member_name(&long, 12), "#12");
    }

    #[test]
    fn two_groups_on_one_host_have_members_with_different_names() {
        let specs: Vec<AddrSpec> = ["peer:20002", "peer:20003", "other.x:20002"]
            .iter()
            .map(|s| parse_spec(s).unwrap())
            .collect();
        let names: Vec<_> = specs.iter().map(|s| short_name(s, &specs)).collect();
        assert_eq!(names, ["peer:20002", "peer:20003", "other"]);
    }
}
