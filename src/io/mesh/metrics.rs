//! What the mesh exports for `--metrics`: its lookups and, per peer, whether it is up and
//! what was sent to it.

use crate::io::mesh::peer::{Link, PeerState};
use crate::io::mesh::Mesh;
use crate::metrics::expo::{Expo, Kind, Label, OrEmpty, Value};

impl Mesh {
    /// Writes the mesh's metrics.
    pub(crate) fn write_metrics(&self, e: &mut Expo<'_>) {
        let (lookups, failures) = (self.lookups, self.lookup_failures);
        e.single(
            "peerlab_dns_lookups_total",
            Kind::Counter,
            "Name lookups started (peers' names and --discover groups).",
            Value::Count(lookups),
        );
        e.single(
            "peerlab_dns_lookup_failures_total",
            Kind::Counter,
            "Lookups that gave no usable address.",
            Value::Count(failures),
        );
        let ig = self.dns_ignored();
        let n = u64::from;
        e.counts(
            "peerlab_dns_answers_ignored_total",
            "DNS answers ignored, by reason: from an address not asked, a wrong id, another question, malformed.",
            "reason",
            &[
                ("source", n(ig.source)),
                ("id", n(ig.id)),
                ("question", n(ig.question)),
                ("malformed", n(ig.malformed)),
            ],
        );
        e.single(
            "peerlab_peers",
            Kind::Gauge,
            "Rows in the peer table (named and discovered, left ones included).",
            Value::Count(self.len() as u64),
        );
        type Pick = fn(&PeerState) -> Value;
        let families: [(&str, Kind, &str, Pick); 3] = [
            (
                "peerlab_peer_up",
                Kind::Gauge,
                "1 if the peer is up (sends to it meet no error, or it was heard), else 0.",
                |st| Value::from(st.link == Link::Up),
            ),
            (
                "peerlab_peer_datagrams_sent_total",
                Kind::Counter,
                "Datagrams sent to the peer.",
                |st| Value::Count(st.sent),
            ),
            (
                "peerlab_peer_socket_errors_total",
                Kind::Counter,
                "Send and receive errors on the peer's socket (an ICMP port unreachable: nobody listens).",
                |st| Value::Count(st.errors),
            ),
        ];
        for (name, kind, help, pick) in families {
            e.family(name, kind, help);
            for i in 0..self.len() {
                let st = self.peer(i);
                let labels: [Label<'_>; 2] = [("peer", &st.name()), ("address", &OrEmpty(st.addr))];
                e.sample_of(i, name, &labels, pick(st));
            }
        }
    }
}
