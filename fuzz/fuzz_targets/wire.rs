//! Every parser that sees network bytes: the counter, Lab 1 messages (with a round trip for
//! what parses), and the escaping used to print them. None may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerlab::output::escape::{push_json_str, push_text};
use peerlab::output::Line;
use peerlab::lab1::wire::Msg;
use peerlab::values::decimal::parse_counter;

fuzz_target!(|data: &[u8]| {
    let _ = parse_counter(data);
    if let Ok(m) = Msg::decode(data) {
        let again = Msg::decode(m.encode().as_bytes()).expect("what decodes re-encodes");
        assert_eq!(again, m);
    }
    let shown = &data[..data.len().min(peerlab::values::limits::SHOW_MAX)];
    let mut l = Line::new();
    let _ = push_text(&mut l, shown);
    l.clear();
    let _ = push_json_str(&mut l, shown);
});
