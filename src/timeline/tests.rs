//! The handout's Figure 1, run by the real core on the test harness, its trace rendered by
//! the real JSON renderer: the golden figure, the checker on clean and seeded traces, and
//! the reader on bad input.

fn opts(layout: Layout) -> svg::Options {
    svg::Options {
        layout,
        resends: false,
        deferrals: false,
        resource: false,
    }
}

use super::trace::{self, Name};
use super::*;
use crate::lab1::events::{LabLine, MutexListening};
use crate::lab1::harness::Group;
use crate::lab1::ra::{Key, Party, State};
use crate::lab1::wire::PeerId;
use crate::output::{json_line, Line};

/// Wall clock of the trace's start (any fixed value: the trace is compared with the file).
const EPOCH_US: u64 = 1_795_766_400_000_000;

/// Renders what the group logged since `*done`, at virtual time `g.now`.
fn take(g: &Group, done: &mut usize, out: &mut String) {
    for (k, (me, logged)) in g.log.iter().enumerate().skip(*done) {
        let mut l = Line::new();
        // Distinct, increasing timestamps: the group's events are in one global order.
        let ts = EPOCH_US + g.now.0 * 1000 + k as u64;
        json_line(
            &mut l,
            &LabLine {
                me: *me,
                logged: *logged,
            },
            g.now.0,
            ts,
        )
        .unwrap();
        out.push_str(l.as_str());
    }
    *done = g.log.len();
}

fn p(j: u16) -> Party {
    Party::Process(PeerId(j))
}

/// LAB1-SPEC §3's Figure 1, with each CS left after 1 s (the harness's CS time).
pub(crate) fn figure1_trace() -> String {
    let mut out = String::new();
    for id in 1..=3u16 {
        let mut l = Line::new();
        let addr = format!("127.0.0.1:{}", 10001 + id).parse().unwrap();
        let start = MutexListening {
            id: PeerId(id),
            n: 3,
            addr,
            resource: "127.0.0.1:10001",
            cs_time: std::time::Duration::from_secs(1),
            auto: false,
        };
        json_line(&mut l, &start, 0, EPOCH_US).unwrap();
        out.push_str(l.as_str());
    }
    let mut g = Group::new(3);
    let mut done = 0;
    let mut step = |g: &mut Group, f: &dyn Fn(&mut Group)| {
        f(g);
        take(g, &mut done, &mut out);
    };
    let leave = |g: &mut Group| {
        g.advance(1000);
        g.ack_resource();
        g.advance(0);
        g.ack_resource();
    };
    step(&mut g, &|g| g.key(1, Key::Internal));
    step(&mut g, &|g| g.key(1, Key::Request));
    for (from, to) in [(1, 2), (1, 3), (2, 1), (3, 1)] {
        step(&mut g, &|g| {
            g.deliver_first(p(from), p(to));
        });
    }
    step(&mut g, &|g| g.key(1, Key::Internal));
    step(&mut g, &leave);
    step(&mut g, &|g| g.key(2, Key::Request));
    for (from, to) in [(2, 1), (2, 3), (1, 2), (3, 2)] {
        step(&mut g, &|g| {
            g.deliver_first(p(from), p(to));
        });
    }
    step(&mut g, &|g| g.key(2, Key::Internal));
    step(&mut g, &leave);
    step(&mut g, &|g| g.key(3, Key::Request));
    for (from, to) in [(3, 1), (3, 2), (1, 3), (2, 3)] {
        step(&mut g, &|g| {
            g.deliver_first(p(from), p(to));
        });
    }
    step(&mut g, &|g| g.key(3, Key::Internal));
    assert_eq!((g.p(3).clock(), g.p(3).state()), (13, State::Held));
    step(&mut g, &leave);
    assert!(g.faults.is_empty());
    out
}

fn docs(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(name)
}

/// docs/figure1.jsonl is what the real core logs for Figure 1, and docs/figure1.svg is its
/// figure (`PEERLAB_BLESS=1` rewrites both).
#[test]
fn timeline_figure1_files_are_current() {
    let trace = figure1_trace();
    let svg = svg::render(
        &load(vec![("figure1.jsonl".into(), trace.clone())]).unwrap(),
        opts(Layout::Lamport),
    );
    if std::env::var_os("PEERLAB_BLESS").is_some() {
        std::fs::create_dir_all(docs("")).unwrap();
        std::fs::write(docs("figure1.jsonl"), &trace).unwrap();
        std::fs::write(docs("figure1.svg"), &svg).unwrap();
    }
    let stale = "out of date: run PEERLAB_BLESS=1 cargo test --lib timeline";
    assert_eq!(
        std::fs::read_to_string(docs("figure1.jsonl")).expect(stale),
        trace,
        "{stale}"
    );
    assert_eq!(
        std::fs::read_to_string(docs("figure1.svg")).expect(stale),
        svg,
        "{stale}"
    );
}

/// A parsed SVG's facts: per process row (by y), the clock labels; the arrows by class and
/// label; the CS bars' labels per row.
pub(crate) struct Facts {
    pub(crate) rows: Vec<(String, i64)>,
    pub(crate) clocks: Vec<Vec<u64>>,
    /// (classes, label, x1, y1, x2, y2)
    pub(crate) arrows: Vec<(String, String, i64, i64, i64, i64)>,
    /// (row, label, x, width)
    pub(crate) bars: Vec<(usize, String, i64, i64)>,
}

pub(crate) fn facts(svg: &str) -> Facts {
    let doc = roxmltree::Document::parse(svg).expect("well-formed XML");
    let num =
        |n: roxmltree::Node<'_, '_>, a: &str| -> i64 { n.attribute(a).unwrap().parse().unwrap() };
    let mut rows = Vec::new();
    for n in doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("proc"))
    {
        rows.push((n.text().unwrap().to_string(), num(n, "y") - 5));
    }
    let row_of = |y: i64| rows.iter().position(|r| r.1 == y).expect("a row's y");
    let mut clocks = vec![Vec::new(); rows.len()];
    for g in doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("ev"))
    {
        let shape = g
            .children()
            .find(|c| c.has_tag_name("circle") || c.has_tag_name("rect") || c.has_tag_name("line"))
            .unwrap();
        let y = num(
            shape,
            if shape.has_tag_name("circle") {
                "cy"
            } else if shape.has_tag_name("rect") {
                "y"
            } else {
                "y1"
            },
        );
        let y = match shape.tag_name().name() {
            "rect" => y + 4,
            "line" => y + 9,
            _ => y,
        };
        assert!(
            g.children().any(|c| c.has_tag_name("title")),
            "every event has a title"
        );
        if let Some(t) = g.children().find(|c| c.attribute("class") == Some("clk")) {
            clocks[row_of(y)].push(t.text().unwrap().parse().unwrap());
        }
    }
    let mut arrows = Vec::new();
    for g in doc
        .descendants()
        .filter(|n| n.attribute("class").is_some_and(|c| c.starts_with("msg")))
    {
        assert!(
            g.children().any(|c| c.has_tag_name("title")),
            "every arrow has a title"
        );
        let l = g.children().find(|c| c.has_tag_name("line")).unwrap();
        let label = g
            .children()
            .find(|c| c.has_tag_name("text"))
            .unwrap()
            .text()
            .unwrap()
            .to_string();
        let class = format!(
            "{} {}",
            g.attribute("class").unwrap(),
            l.attribute("class").unwrap()
        );
        arrows.push((
            class,
            label,
            num(l, "x1"),
            num(l, "y1"),
            num(l, "x2"),
            num(l, "y2"),
        ));
    }
    let mut bars = Vec::new();
    for g in doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("csbar"))
    {
        let r = g.children().find(|c| c.has_tag_name("rect")).unwrap();
        // Its label is drawn apart, over everything, with the same hover text.
        let title = |g: roxmltree::Node<'_, '_>| {
            g.children()
                .find(|c| c.has_tag_name("title"))
                .and_then(|t| t.text().map(str::to_string))
        };
        let label = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("cslbl"))
            .find(|l| title(*l) == title(g))
            .and_then(|l| l.children().find(|c| c.has_tag_name("text")))
            .and_then(|t| t.text())
            .unwrap()
            .to_string();
        bars.push((row_of(num(r, "y") + 5), label, num(r, "x"), num(r, "width")));
    }
    Facts {
        rows,
        clocks,
        arrows,
        bars,
    }
}

#[test]
fn timeline_golden_figure1() {
    let tr = load(vec![("f".into(), figure1_trace())]).unwrap();
    let f = facts(&svg::render(&tr, opts(Layout::Lamport)));
    let names: Vec<&str> = f.rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(names, ["P1", "P2", "P3"]);
    // Exactly the handout's clocks, event by event.
    assert_eq!(f.clocks[0], [1, 2, 4, 5, 6, 7, 8]);
    assert_eq!(f.clocks[1], [3, 4, 8, 9, 10, 11]);
    assert_eq!(f.clocks[2], [3, 5, 6, 9, 12, 13]);
    let labels = |kind: &str| {
        let mut v: Vec<&str> = f
            .arrows
            .iter()
            .filter(|a| a.0.contains(kind))
            .map(|a| a.1.as_str())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        labels("request"),
        ["REQ(T=2)", "REQ(T=2)", "REQ(T=4)", "REQ(T=4)", "REQ(T=6)", "REQ(T=6)"]
    );
    assert_eq!(labels("reply"), ["REPLY"; 6]);
    for a in &f.arrows {
        assert!(!a.0.contains("dash") && !a.0.contains("lost"), "{a:?}");
        assert!(
            a.4 > a.2,
            "x by Lamport clock: every arrow runs forward: {a:?}"
        );
    }
    let bars: Vec<(usize, &str)> = f.bars.iter().map(|b| (b.0, b.1.as_str())).collect();
    assert_eq!(bars, [(0, "CS T=2"), (1, "CS T=4"), (2, "CS T=6")]);
    // Each CS ends before the next begins.
    assert!(f.bars[0].2 + f.bars[0].3 < f.bars[1].2 && f.bars[1].2 + f.bars[1].3 < f.bars[2].2);
    // Same facts to wall-clock scale.
    let r = facts(&svg::render(&tr, opts(Layout::Real)));
    assert_eq!(r.clocks, f.clocks);
    assert_eq!(r.arrows.len(), 12);
    assert!(r.arrows.iter().all(|a| a.4 > a.2));
}

#[test]
fn timeline_check_passes_figure1_and_catches_seeded_faults() {
    let good = figure1_trace();
    let tr = load(vec![("f".into(), good.clone())]).unwrap();
    assert_eq!(check::check(&tr).shown, Vec::<String>::new());
    assert_eq!(check::check(&tr).unchecked, Vec::<String>::new());

    // A REPLY send that ticks: P2's answer to T=2 sent with clock 4 instead of 3.
    let reply = r#""id":2,"clock":3,"state":"RELEASED","kind":"REPLY""#;
    assert_eq!(good.matches(reply).count(), 1);
    let bad = good.replace(
        reply,
        r#""id":2,"clock":4,"state":"RELEASED","kind":"REPLY""#,
    );
    let v = check::check(&load(vec![("f".into(), bad)]).unwrap()).shown;
    // Named with the events involved (and its consequences at the receiver and after).
    assert!(
        v.iter().any(|m| m
            .starts_with("Lamport: sending a REPLY never ticks: expected clock 3, found 4")
            && m.contains("P2 sent REPLY(T=2) to P1, clock 4 (f:")),
        "{v:#?}"
    );

    // Two inside at once: P1 leaves its CS only after P2 entered.
    let lines: Vec<&str> = good.lines().collect();
    let ts_of = |pred: &dyn Fn(&str) -> bool| {
        let l = lines.iter().find(|l| pred(l)).unwrap();
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        (l.to_string(), v["ts_us"].as_u64().unwrap())
    };
    let (p1_left, t1) = ts_of(&|l| l.contains(r#""event":"left""#) && l.contains(r#""id":1,"#));
    let (_, t2) = ts_of(&|l| l.contains(r#""event":"entered""#) && l.contains(r#""id":2,"#));
    // P1's `left` and everything it logs after, later by the same time (its clock keeps
    // going forward: a life whose wall clock goes back is not used to blame).
    let shift = t2 + 5 - t1;
    let mut after = false;
    let bad: String = good
        .lines()
        .map(|l| {
            after |= l == p1_left;
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let mine = v["id"].as_u64() == Some(1) && after;
            match (mine, v["ts_us"].as_u64()) {
                (true, Some(t)) => {
                    l.replace(
                        &format!("\"ts_us\":{t}"),
                        &format!("\"ts_us\":{}", t + shift),
                    ) + "\n"
                }
                _ => format!("{l}\n"),
            }
        })
        .collect();
    let v = check::check(&load(vec![("f".into(), bad)]).unwrap()).shown;
    assert_eq!(v.len(), 1, "{v:#?}");
    assert!(
        v[0].starts_with("mutual exclusion: P2 entered while P1 was inside"),
        "{v:#?}"
    );
    assert!(
        v[0].contains("P1 left the CS (T=2)") && v[0].contains("P2 entered the CS (T=4)"),
        "{v:#?}"
    );

    // Out of (T, id) order: P2's entry claims T=1.
    let (p2_in, _) = ts_of(&|l| l.contains(r#""event":"entered""#) && l.contains(r#""id":2,"#));
    let bad = good.replace(&p2_in, &p2_in.replace("\"t\":4", "\"t\":1"));
    let v = check::check(&load(vec![("f".into(), bad)]).unwrap()).shown;
    assert!(
        v.iter()
            .any(|m| m.starts_with("order: P2 entered with (T=1, id=2) after (T=2, id=1)")),
        "{v:#?}"
    );
}

#[test]
fn timeline_shiviz_vector_clocks() {
    let tr = load(vec![("f".into(), figure1_trace())]).unwrap();
    let log = shiviz::render(&tr);
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len() % 2, 0);
    let mut own = std::collections::BTreeMap::new();
    let mut last_p1 = serde_json::Value::Null;
    for pair in lines.chunks(2) {
        assert!(!pair[0].is_empty());
        let (host, clock) = pair[1].split_once(' ').unwrap();
        let v: serde_json::Value = serde_json::from_str(clock).unwrap();
        // The own entry starts at 1 and rises by 1 per event.
        let n = own.entry(host.to_string()).or_insert(0u64);
        *n += 1;
        assert_eq!(v[host].as_u64(), Some(*n), "{pair:?}");
        if host == "P1" {
            last_p1 = v;
        }
    }
    assert_eq!(own.len(), 3);
    // P1's last event, P3's REQUEST (T=6): 8 events of its own, P2's up to its REQUEST (T=4),
    // P3's up to its request.
    assert_eq!(last_p1, serde_json::json!({"P1": 8, "P2": 2, "P3": 3}));
}

#[test]
fn timeline_bad_input_is_skipped_and_counted_never_a_panic() {
    let good = figure1_trace();
    // CRLF, a `docker compose logs` prefix, text lines, cut lines, foreign JSON, the counter
    // peer's and the resource's events.
    let mut mixed: String = good.lines().map(|l| format!("p1  | {l}\r\n")).collect();
    mixed.push_str("[clock=4 HELD] Entrei na CS (T=2, waited 2ms)\r\n");
    mixed.push_str("listening on 127.0.0.2:10002, 2 peers, sending every 1s\n");
    mixed.push_str(&good.lines().nth(5).unwrap()[..40]);
    mixed.push('\n');
    mixed.push_str("{\"level\":\"info\",\"msg\":\"hello\"}\n{\"event\":\"deploy\",\"id\":1}\n");
    mixed.push_str("{\"event\":\"received\",\"t_ms\":1,\"ts_us\":2,\"from\":\"p2:10003\",\"counter\":1,\"seq\":\"in_order\"}\n");
    mixed.push_str("{\"event\":\"resource_enter\",\"id\":1,\"t\":2}\n{\"event\":\"sent\",\"id\":1,\"clock\":2}\n");
    let tr = load(vec![("mixed".into(), mixed)]).unwrap();
    assert_eq!(
        tr.evs.len(),
        load(vec![("g".into(), good.clone())]).unwrap().evs.len()
    );
    let s = &tr.skipped;
    assert_eq!(
        (s.text, s.bad, s.counter, s.other, s.foreign, s.incomplete),
        (2, 1, 1, 1, 2, 1),
        "{s:?}"
    );
    assert_eq!(tr.skipped.notes().len(), 6);

    let e = load(vec![]).unwrap_err();
    assert!(e.contains("empty"), "{e}");
    let e = load(vec![("e".into(), String::new())]).unwrap_err();
    assert!(e.contains("empty"), "{e}");
    let counter = "{\"event\":\"listening\",\"t_ms\":0,\"ts_us\":1,\"addr\":\"127.0.0.2:10002\"}\nReceived 0 from x\n";
    let e = load(vec![("c".into(), counter.into())]).unwrap_err();
    assert!(
        e.contains("no Lab 1 events") && e.contains("counter peer") && e.contains("not JSON"),
        "{e}"
    );

    // Every prefix of every line, and a restart in the middle: read and drawn, no panic.
    for l in good.lines() {
        for cut in 0..l.len() {
            let tr = trace::read(vec![("x".into(), l[..cut].to_string())], 1);
            if !tr.evs.is_empty() {
                svg::render(&tr, opts(Layout::Real));
                shiviz::render(&tr);
                check::check(&tr);
            }
        }
    }
    // The run again an hour later, in the same file: every process restarted.
    let later = good.replace("\"ts_us\":17957664", "\"ts_us\":17957700");
    let twice = format!("{good}{later}");
    let tr = load(vec![("r".into(), twice)]).unwrap();
    assert_eq!(tr.rows.len(), 6, "a new mutex_listening is a new life");
    // The same run given twice (a process's stdout and its trace file) is read once.
    let tr2 = load(vec![("a".into(), good.clone()), ("b".into(), good.clone())]).unwrap();
    assert_eq!(
        (tr2.rows.len(), tr2.evs.len(), tr2.skipped.repeated),
        (3, 58, 58)
    );
    // Or in part: stdout from the middle on, or a trace file cut short and the whole stdout.
    let lines: Vec<&str> = good.lines().collect();
    let tail: String = lines[30..].iter().map(|l| format!("{l}\n")).collect();
    let head: String = lines[..30].iter().map(|l| format!("{l}\n")).collect();
    for (a, b) in [
        (good.clone(), tail.clone()),
        (head.clone(), good.clone()),
        (tail, head),
    ] {
        let tr3 = load(vec![("a".into(), a), ("b".into(), b)]).unwrap();
        assert_eq!((tr3.rows.len(), tr3.evs.len()), (3, 58));
        let r = check::check(&tr3);
        assert!(r.shown.is_empty() && r.unchecked.is_empty(), "{r:?}");
    }
    assert_eq!(tr.rows[1].label(), "P1#2");
    svg::render(&tr, opts(Layout::Lamport));
    shiviz::render(&tr);
    check::check(&tr);
    assert!(tr.evs.iter().any(|e| e.name == Name::Entered));
}

/// docs/timeline.md's example of the trace format (for students' own programs) is read as
/// documented.
#[test]
fn timeline_readme_example_trace() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/timeline.md")).unwrap();
    let example: String = readme
        .lines()
        .filter(|l| l.starts_with("{\"event\":") && l.contains("\"ts_us\":17957664"))
        .map(|l| format!("{l}\n"))
        .collect();
    let tr = load(vec![("readme".into(), example)]).unwrap();
    assert_eq!(
        (tr.evs.len(), tr.skipped.clone(), tr.rows.len()),
        (5, Default::default(), 2)
    );
    let arrows = model::match_messages(&tr);
    assert_eq!(arrows.len(), 2);
    assert!(arrows.iter().all(|a| a.recv.is_some() && !a.dashed));
    assert_eq!(check::check(&tr).shown, Vec::<String>::new());
    assert_eq!(check::check(&tr).unchecked, Vec::<String>::new());
}

/// Hostile numbers (clocks, times and ids at their limits, a time going backwards) are drawn
/// and checked without overflow.
#[test]
fn timeline_extreme_values_do_not_overflow() {
    let max = u64::MAX;
    let text = format!(
        "{{\"event\":\"requested\",\"ts_us\":{max},\"id\":65535,\"clock\":{max},\"t\":{max}}}\n\
         {{\"event\":\"sent\",\"ts_us\":{max},\"id\":65535,\"clock\":{max},\"kind\":\"REQUEST\",\"to\":1,\"t\":{max}}}\n\
         {{\"event\":\"request\",\"ts_us\":0,\"id\":1,\"clock\":{max},\"from\":65535,\"t\":{max},\"answer\":\"replied\"}}\n\
         {{\"event\":\"sent\",\"ts_us\":0,\"id\":1,\"clock\":{max},\"kind\":\"REPLY\",\"to\":65535,\"t\":{max}}}\n\
         {{\"event\":\"reply\",\"ts_us\":1,\"id\":65535,\"clock\":{max},\"from\":1,\"t\":{max}}}\n\
         {{\"event\":\"entered\",\"ts_us\":1,\"id\":65535,\"clock\":{max},\"t\":{max}}}\n\
         {{\"event\":\"internal\",\"ts_us\":2,\"id\":1,\"clock\":0}}\n\
         {{\"event\":\"internal\",\"id\":70000,\"clock\":1}}\n"
    );
    let tr = load(vec![("x".into(), text)]).unwrap();
    assert_eq!(tr.skipped.incomplete, 1, "an id beyond u16");
    for layout in [Layout::Lamport, Layout::Real] {
        roxmltree::Document::parse(&svg::render(&tr, opts(layout))).unwrap();
    }
    shiviz::render(&tr);
    // A clock that goes back without a new start is a fault, not a restart.
    assert!(
        check::check(&tr).shown.iter().any(|v| v.contains("x:7")),
        "{:?}",
        check::check(&tr)
    );
    assert_eq!(tr.rows.len(), 2, "P1 (one life), P65535");
}

/// One arrow per message: a REQUEST sent three times (the first lost, the second late) is
/// drawn as its first copy, crossed, with `×3`, and the third, which counted; a REPLY sent
/// twice (the copy an answer to the late REQUEST) as one arrow with `×2`. With `--resends`,
/// all five, the copies dashed.
#[test]
fn timeline_one_arrow_per_message_counts_its_copies() {
    let l = |s: &str| format!("{s}\n");
    let mut t = String::new();
    for line in [
        r#"{"event":"mutex_listening","id":1,"clock":0,"ts_us":1}"#,
        r#"{"event":"mutex_listening","id":2,"clock":0,"ts_us":1}"#,
        r#"{"event":"requested","id":1,"clock":1,"t":1,"ts_us":10}"#,
        r#"{"event":"sent","id":1,"clock":1,"kind":"REQUEST","to":2,"t":1,"resend":false,"ts_us":11}"#,
        r#"{"event":"sent","id":1,"clock":1,"kind":"REQUEST","to":2,"t":1,"resend":true,"ts_us":20}"#,
        r#"{"event":"sent","id":1,"clock":1,"kind":"REQUEST","to":2,"t":1,"resend":true,"ts_us":30}"#,
        r#"{"event":"request","id":2,"clock":2,"from":1,"t":1,"answer":"replied","ts_us":31}"#,
        r#"{"event":"sent","id":2,"clock":2,"kind":"REPLY","to":1,"t":1,"resend":false,"ts_us":32}"#,
        r#"{"event":"reply","id":1,"clock":3,"from":2,"t":1,"ts_us":33}"#,
        r#"{"event":"stale","id":2,"clock":2,"kind":"REQUEST","from":1,"t":1,"ts_us":34}"#,
        r#"{"event":"sent","id":2,"clock":2,"kind":"REPLY","to":1,"t":1,"resend":true,"ts_us":35}"#,
        r#"{"event":"stale","id":1,"clock":3,"kind":"REPLY","from":2,"t":1,"ts_us":36}"#,
    ] {
        t.push_str(&l(line));
    }
    let tr = load(vec![("t".into(), t)]).unwrap();
    let arrows = model::match_messages(&tr);
    assert_eq!(arrows.len(), 5);
    let shown = model::shown(&tr, &arrows, false);
    let view: Vec<(u32, bool, bool)> = shown
        .iter()
        .map(|s| {
            (
                s.copies,
                s.arrow.recv.is_none(),
                tr.evs[s.arrow.send].resend,
            )
        })
        .collect();
    // The first REQUEST (lost, ×3), the third (received); the first REPLY (received, ×2).
    assert_eq!(
        view,
        [(3, true, false), (0, false, true), (2, false, false)]
    );
    // Of the REQUEST's copies the first was lost, the third counted, the second came late (the
    // duplicate P2 answered with its REPLY again).
    assert_eq!((shown[0].lost, shown[0].dups), (1, 1));
    assert_eq!((shown[2].lost, shown[2].dups), (0, 1));
    let svg = svg::render(&tr, opts(Layout::Lamport));
    assert!(
        svg.contains(">REQ(T=1) ×3<") && svg.contains(">REPLY ×2<"),
        "{svg}"
    );
    assert!(!svg.contains("dash\""), "no copy dashed by default");
    let every = svg::render(
        &tr,
        svg::Options {
            resends: true,
            ..opts(Layout::Lamport)
        },
    );
    assert_eq!(every.matches("<g class=\"msg").count(), 5);
    // Two copies of the REQUEST, and the legend's sample.
    assert_eq!(every.matches("class=\"req dash\"").count(), 3);
    assert_eq!(every.matches("class=\"rep dash\"").count(), 1);
    assert!(!every.contains(" ×"), "no count where every copy is drawn");
}
