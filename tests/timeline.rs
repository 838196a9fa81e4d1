//! `process timeline` on traces of real runs: the course's three report scenarios (LAB1-SPEC
//! §6) run as real processes on loopback, written with `--trace` while stdout keeps its text;
//! their figures parsed as XML; one figure rendered by a real browser (headless Chromium);
//! a run with 20% of datagrams dropped by iptables; the `docker logs` form of the input
//! (CRLF, prefixes, interleaved processes) on stdin; and bad input.

mod util;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use util::{addrs, Proc};

const BIN: &str = env!("CARGO_BIN_EXE_process");

/// A fresh directory under target/ for one test's traces and figures (kept as artifacts).
fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("timeline")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A resource and three processes on 127.0.`net`.x, each writing its trace to `d/pN.jsonl`.
struct Lab {
    resource: Proc,
    ps: Vec<Proc>,
}

impl Lab {
    fn start(net: u8, d: &Path) -> Lab {
        let res = format!("127.0.{net}.1:10001");
        let resource =
            Proc::start_listening_cmd("shared", BIN, &["shared-resource", "--listen", &res]);
        let all = addrs(net, 3);
        let ps = (1..=3)
            .map(|id| {
                let id_s = id.to_string();
                let trace = d.join(format!("p{id}.jsonl"));
                let trace = trace.to_str().unwrap();
                let mut a = vec!["mutex", "--resource", &res, "--cs-time", "700ms"];
                a.extend(["--trace", trace, &id_s]);
                a.extend(all.iter().map(String::as_str));
                Proc::start_piped(&format!("p{id}"), BIN, &a)
            })
            .collect();
        // Everyone known to the resource before anyone types: until then a process defers
        // every REQUEST (docs/lab1.md, restarts), which is not what these figures are about.
        for id in 1..=3 {
            let trace = d.join(format!("p{id}.jsonl"));
            util::eventually(util::PATIENCE, || {
                let t = std::fs::read_to_string(&trace).ok()?;
                t.contains(r#""of":"HELLO""#).then_some(())
            })
            .expect("the resource acknowledges each HELLO");
        }
        Lab { resource, ps }
    }

    fn p(&mut self, id: usize) -> &mut Proc {
        &mut self.ps[id - 1]
    }

    /// Stops everyone (so every trace is complete) and checks stdout kept the text form.
    fn stop(mut self) {
        for p in &mut self.ps {
            assert!(p.term().1.success());
            assert!(
                p.lines().iter().all(|l| !l.starts_with('{')),
                "{}: --trace must leave stdout as text: {:?}",
                p.label,
                p.lines()
            );
        }
        self.resource.term();
    }
}

/// Runs `process timeline ARGS`; returns (status, stdout, stderr).
fn timeline(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut c = Command::new(BIN)
        .arg("timeline")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = stdin.unwrap_or("").to_string();
    let mut w = c.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = w.write_all(input.as_bytes());
    });
    let out = c.wait_with_output().unwrap();
    writer.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        err,
    )
}

/// An arrow: (classes, label, from row, to row, x1, x2).
type Arrow = (String, String, String, String, i64, i64);

/// What a figure shows.
#[derive(Debug)]
struct Figure {
    width: i64,
    height: i64,
    rows: Vec<(String, i64)>,
    arrows: Vec<Arrow>,
    /// (row label, bar label, x from, x to)
    bars: Vec<(String, String, i64, i64)>,
    /// (row label, x) of each deferred REQUEST.
    deferred: Vec<(String, i64)>,
}

impl Figure {
    fn parse(svg: &str) -> Figure {
        let doc = roxmltree::Document::parse(svg).expect("the figure is well-formed XML");
        let num = |n: roxmltree::Node<'_, '_>, a: &str| -> i64 {
            n.attribute(a).unwrap().parse().unwrap()
        };
        let root = doc.root_element();
        // Every band draws every line again: the first band's y of each.
        let mut rows: Vec<(String, i64)> = Vec::new();
        let mut all_rows: Vec<(String, i64)> = Vec::new();
        for n in doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("proc"))
        {
            let r = (n.text().unwrap().to_string(), num(n, "y") - 5);
            if !rows.iter().any(|x| x.0 == r.0) {
                rows.push(r.clone());
            }
            all_rows.push(r);
        }
        // An arrow ends short of the line it reaches (7 px, more for a shallow one): the
        // nearest line within 20 px.
        let row = |y: i64| {
            all_rows
                .iter()
                .filter(|r| (r.1 - y).abs() <= 20)
                .min_by_key(|r| (r.1 - y).abs())
                .map_or_else(|| format!("y={y}"), |r| r.0.clone())
        };
        let class = |n: &roxmltree::Node<'_, '_>| n.attribute("class").unwrap_or("").to_string();
        let title_of = |n: &roxmltree::Node<'_, '_>| {
            n.children()
                .find(|c| c.has_tag_name("title"))
                .and_then(|t| t.text())
                .map(str::to_string)
        };
        let mut arrows = Vec::new();
        let mut bars = Vec::new();
        let mut deferred = Vec::new();
        let mut bar_label = Vec::new();
        for g in doc.descendants().filter(|n| n.has_tag_name("g")) {
            let c = class(&g);
            let title = title_of(&g);
            if c.starts_with("msg") {
                assert!(title.is_some(), "an arrow without hover text");
                // Its pieces (one per band it crosses), not the line to a label put aside.
                let ls: Vec<_> = g
                    .children()
                    .filter(|c| c.has_tag_name("line") && class(c) != "lead")
                    .collect();
                let (first, last) = (ls[0], ls[ls.len() - 1]);
                let t = g.children().find(|c| c.has_tag_name("text"));
                arrows.push((
                    format!("{c} {}", class(&first)),
                    t.and_then(|t| t.text()).unwrap_or("").to_string(),
                    row(num(first, "y1")),
                    row(num(last, "y2")),
                    num(first, "x1"),
                    num(last, "x2"),
                ));
            } else if c == "csbar" {
                let rs: Vec<_> = g.children().filter(|c| c.has_tag_name("rect")).collect();
                let (first, last) = (rs[0], rs[rs.len() - 1]);
                bars.push((
                    row(num(first, "y") + 5),
                    title.unwrap(),
                    num(first, "x"),
                    num(last, "x") + num(last, "width"),
                ));
            } else if c == "cslbl" {
                let t = g.children().find(|c| c.has_tag_name("text")).unwrap();
                bar_label.push((title.unwrap(), t.text().unwrap().to_string()));
            } else if c == "ev" {
                assert!(title.is_some(), "an event without hover text");
                if let Some(d) = g.children().find(|c| c.attribute("class") == Some("def")) {
                    deferred.push((row(num(d, "cy")), num(d, "cx")));
                }
            }
        }
        // A bar's label is drawn apart (over everything), with the same hover text.
        for b in &mut bars {
            b.1 = bar_label
                .iter()
                .find(|l| l.0 == b.1)
                .map(|l| l.1.clone())
                .expect("every CS bar has its label");
        }
        Figure {
            width: num(root, "width"),
            height: num(root, "height"),
            rows,
            arrows,
            bars,
            deferred,
        }
    }

    /// Arrows labelled `label` from row `from` to row `to`.
    fn arrows(&self, label: &str, from: &str, to: &str) -> Vec<&Arrow> {
        self.arrows
            .iter()
            .filter(|a| a.2 == from && a.3 == to)
            .filter(|a| a.1 == label || a.1.starts_with(&format!("{label} ×")))
            .collect()
    }

    fn bar_labels(&self) -> Vec<(String, String)> {
        self.bars
            .iter()
            .map(|b| (b.0.clone(), b.1.clone()))
            .collect()
    }
}

/// The figure of the traces in `d`, in both layouts, checked clean; writes them as
/// `NAME.svg` and `NAME-real.svg` beside the traces.
fn figures(d: &Path, name: &str) -> (Figure, Figure) {
    let ds = d.to_str().unwrap();
    let (code, out, err) = timeline(&["--check", ds], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("hold"), "{out}");
    let mut figs = Vec::new();
    for (x, file) in [
        ("lamport", format!("{name}.svg")),
        ("real", format!("{name}-real.svg")),
    ] {
        let path = d.join(&file);
        let (code, _, err) = timeline(&["--x", x, ds, "-o", path.to_str().unwrap()], None);
        assert_eq!(code, 0, "{err}");
        figs.push(Figure::parse(&std::fs::read_to_string(&path).unwrap()));
    }
    let real = figs.pop().unwrap();
    let lamport = figs.pop().unwrap();
    for f in [&lamport, &real] {
        let rows: Vec<&str> = f.rows.iter().map(|r| r.0.as_str()).collect();
        // A restarted process has a second line (P2#2) after its first.
        let first_lives: Vec<&str> = rows.iter().copied().filter(|r| !r.contains('#')).collect();
        assert_eq!(first_lives, ["P1", "P2", "P3"], "{rows:?}");
    }
    (lamport, real)
}

#[test]
fn scenario_1_figure_one_uses_the_cs_then_another() {
    let d = dir("scenario1");
    let mut lab = Lab::start(70, &d);
    lab.p(1).type_line("x");
    lab.p(1).wait_for(|l| l.contains("RELEASED] released"));
    lab.p(2).type_line("x");
    lab.p(2).wait_for(|l| l.contains("RELEASED] released"));
    lab.stop();
    let (f, real) = figures(&d, "scenario1");
    for f in [&f, &real] {
        let bars = f.bar_labels();
        assert_eq!(
            bars,
            [
                ("P1".into(), "CS T=1".into()),
                ("P2".into(), "CS T=3".into())
            ]
        );
        for (to, req) in [("P2", 1), ("P3", 1)] {
            assert!(
                !f.arrows(&format!("REQ(T={req})"), "P1", to).is_empty(),
                "{f:#?}"
            );
            assert!(!f.arrows("REPLY", to, "P1").is_empty(), "{f:#?}");
        }
        for to in ["P1", "P3"] {
            assert!(!f.arrows("REQ(T=3)", "P2", to).is_empty(), "{f:#?}");
            assert!(!f.arrows("REPLY", to, "P2").is_empty(), "{f:#?}");
        }
        // P1's stay ends before P2's begins.
        assert!(f.bars[0].3 < f.bars[1].2, "{f:#?}");
        assert!(f.deferred.is_empty());
    }
}

#[test]
fn scenario_2_figure_the_deferred_reply_leaves_after_the_holder_left() {
    let d = dir("scenario2");
    let mut lab = Lab::start(71, &d);
    lab.p(1).type_line("x");
    lab.p(1).wait_for(|l| l.contains("HELD] Entrei na CS"));
    lab.p(2).type_line("x");
    lab.p(1)
        .wait_for(|l| l.contains("HELD] REQUEST from 2 (T=") && l.ends_with("deferred"));
    lab.p(2).wait_for(|l| l.contains("RELEASED] released"));
    lab.stop();
    let (f, real) = figures(&d, "scenario2");
    for f in [&f, &real] {
        assert_eq!(f.bar_labels()[0], ("P1".into(), "CS T=1".into()), "{f:#?}");
        assert_eq!(f.bar_labels()[1].0, "P2");
        // P1 got P2's REQUEST inside its CS and deferred it...
        let (row, at) = f.deferred[0].clone();
        assert_eq!(row, "P1");
        let p1_bar = &f.bars[0];
        assert!(p1_bar.2 < at && at < p1_bar.3, "{f:#?}");
        // ... and its REPLY leaves only once it has left, later than the REQUEST arrived.
        let reply: Vec<_> = f
            .arrows("REPLY", "P1", "P2")
            .into_iter()
            .filter(|a| !a.0.contains("dash"))
            .collect();
        let last = reply.iter().map(|a| a.4).max().unwrap();
        assert!(last >= p1_bar.3 && last > at, "{f:#?}");
        // P2 entered after it.
        assert!(f.bars[1].2 > last, "{f:#?}");
    }
}

#[test]
fn scenario_3_figure_the_earlier_timestamp_wins() {
    // Both must ask before the other's REQUEST arrives: typed at two processes at once, that
    // is a race on loopback, so the run is repeated until it happened (as a student would).
    let d = dir("scenario3");
    let concurrent = (0..5).any(|_| {
        let d = dir("scenario3");
        let mut lab = Lab::start(72, &d);
        for _ in 0..3 {
            lab.p(2).type_line("2");
        }
        lab.p(2)
            .wait_for(|l| l.starts_with("[clock=3 RELEASED] internal event"));
        lab.p(3).type_line("x");
        lab.p(2).type_line("x");
        lab.p(2).wait_for(|l| l.contains("RELEASED] released"));
        lab.p(3).wait_for(|l| l.contains("RELEASED] released"));
        let hit = lab
            .p(3)
            .count(|l| l.contains("WANTED] REQUEST from 2 (T=4): deferred"))
            == 1;
        lab.stop();
        hit
    });
    assert!(concurrent, "5 runs without concurrent requests");
    let (f, real) = figures(&d, "scenario3");
    for f in [&f, &real] {
        let bars = f.bar_labels();
        assert_eq!(bars.len(), 2, "{f:#?}");
        // P3 (T=1) before P2 (T=4), though 3 > 2; P3 deferred P2's REQUEST.
        let p3 = f.bars.iter().find(|b| b.0 == "P3").unwrap();
        let p2 = f.bars.iter().find(|b| b.0 == "P2").unwrap();
        assert_eq!((p3.1.as_str(), p2.1.as_str()), ("CS T=1", "CS T=4"));
        assert!(p3.3 < p2.2, "{f:#?}");
        assert!(f.deferred.iter().any(|d| d.0 == "P3"), "{f:#?}");
        assert!(!f.arrows("REQ(T=4)", "P2", "P3").is_empty());
        // Internal events on P2 are drawn as such.
    }
    let svg = std::fs::read_to_string(d.join("scenario3.svg")).unwrap();
    assert_eq!(
        svg.matches("<rect class=\"int\"").count(),
        3 + 1,
        "3 on P2, 1 in the legend"
    );
}

/// A real browser renders a figure: headless Chromium (Debian's `chromium`) screenshots the
/// figure of Figure 1's trace at the figure's own size. The PNG is kept under
/// target/tmp/timeline/browser/ as an artifact.
/// A process killed inside the CS and started again with the same `--trace` path: the file
/// is appended to, so the figure has both lives (`P2` and `P2#2`, each with its CS bar), and
/// `--check` holds (a restarted process's first entry is exempt from the order, as in the
/// resource). When the file was replaced at start, the first life vanished from the figure.
#[test]
fn a_restart_with_the_same_trace_path_keeps_both_lives() {
    let d = dir("restart");
    let net = 74;
    let mut lab = Lab::start(net, &d);
    lab.p(2).type_line("x");
    lab.p(2).wait_for(|l| l.contains("HELD] Entrei na CS"));
    lab.p(2).kill9();
    let res = format!("127.0.{net}.1:10001");
    let all = addrs(net, 3);
    let trace = d.join("p2.jsonl");
    let mut a = vec!["mutex", "--resource", &res, "--cs-time", "700ms"];
    a.extend(["--trace", trace.to_str().unwrap(), "2"]);
    a.extend(all.iter().map(String::as_str));
    lab.ps[1] = Proc::start_piped("p2 again", BIN, &a);
    lab.p(2).wait_for(|l| l.contains(" listening on "));
    lab.p(1).type_line("x");
    lab.p(1).wait_for(|l| l.contains("HELD] Sai da CS"));
    lab.p(1).wait_for(|l| l.contains("RELEASED] released"));
    lab.p(2).type_line("x");
    // Its own CS, not the `released` of its rejoining (a REQUEST that came before the
    // resource's ACK of its HELLO was deferred, then answered: CI once stopped the lab there).
    lab.p(2).wait_for(|l| l.contains("HELD] Sai da CS"));
    lab.p(2).wait_for(|l| l.contains("RELEASED] released"));
    lab.stop();
    let (code, out, err) = timeline(&["--check", d.to_str().unwrap()], None);
    assert_eq!(code, 0, "{out}{err}");
    let (f, _) = figures(&d, "restart");
    let rows: Vec<&str> = f.rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(rows, ["P1", "P2", "P2#2", "P3"], "{f:#?}");
    let bars: Vec<String> = f.bar_labels().into_iter().map(|b| b.0).collect();
    for p in ["P1", "P2", "P2#2"] {
        assert!(bars.iter().any(|b| b == p), "{p} has no CS bar: {bars:?}");
    }
}

/// A directory of traces may hold things that are not files: a FIFO named `*.jsonl` (which
/// would wait for a writer for ever) is skipped with a note, and the rest is read.
#[test]
fn a_fifo_in_a_trace_directory_is_skipped() {
    let d = dir("fifo");
    let figure1 = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/figure1.jsonl");
    std::fs::copy(&figure1, d.join("figure1.jsonl")).unwrap();
    let fifo = d.join("fifo.jsonl");
    let ok = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    // Drawn without it (a note); checked, it is said and the run is not checked whole.
    let (code, _, err) = timeline(&[d.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("fifo.jsonl is not a regular file: not read"),
        "{err}"
    );
    let (code, out, err) = timeline(&["--check", d.to_str().unwrap()], None);
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        out.contains("not checked: ") && out.contains("fifo.jsonl is not a regular file"),
        "{out}"
    );
}

fn chromium() -> &'static str {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect(
            "no chromium found: this test needs a real browser (scripts/setup/setup-tools.sh installs \
             Debian's chromium; .ci/run calls it)",
        )
}

/// What `scripts/timeline/overlaps.sh` measured in Chromium, per figure: (path, overlaps,
/// the width of `REQ(T=1)` at 11 px, smallest font size, width attribute, the report).
fn overlaps(figures: &[PathBuf]) -> Vec<(String, u32, f64, f64, i64, String)> {
    chromium();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/timeline/overlaps.sh");
    let out = Command::new(script).args(figures).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut res = Vec::new();
    for part in text.split("== ").skip(1) {
        let field = |k: &str| -> String {
            part.lines()
                .find_map(|l| l.strip_prefix(k))
                .unwrap_or_else(|| panic!("no {k} in {part}"))
                .split_whitespace()
                .next()
                .unwrap()
                .to_string()
        };
        let smallest = part
            .lines()
            .find_map(|l| l.split("SMALLEST ").nth(1))
            .and_then(|v| v.split_whitespace().next())
            .unwrap()
            .parse()
            .unwrap();
        res.push((
            part.lines().next().unwrap().to_string(),
            field("OVERLAPS ").parse().unwrap(),
            field("PROBE ").parse().unwrap(),
            smallest,
            field("WIDTH ").parse().unwrap(),
            part.to_string(),
        ));
    }
    assert_eq!(res.len(), figures.len(), "{text}");
    res
}

/// The three processes' traces `p1.jsonl`..`p3.jsonl` in `dir` (under `sub`), as arguments.
fn traces_in(dir: &Path, sub: &str) -> Vec<String> {
    (1..=3)
        .map(|i| {
            dir.join(format!("{sub}p{i}.jsonl"))
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// Wall clocks at their limits (0, 1, 2^63 - 1, 2^64 - 1).
const TICKS_EXTREME: &str = r#"{"event": "mutex_listening", "ts_us": 0, "id": 1}
{"event": "internal", "ts_us": 1, "id": 1, "clock": 1}
{"event": "internal", "ts_us": 9223372036854775807, "id": 1, "clock": 2}
{"event": "mutex_listening", "ts_us": 0, "id": 2}
{"event": "internal", "ts_us": 18446744073709551615, "id": 2, "clock": 1}
"#;

/// One trace's `ts_us` written in seconds, the other's in microseconds.
const TICKS_MIXED_UNITS: &str = r#"{"event":"internal","ts_us":1795766400,"id":1,"clock":1}
{"event":"internal","ts_us":1795766400000000,"id":2,"clock":1}
"#;

/// Every figure in docs/ (Figure 1, the three scenarios and the recorded interactive run, in
/// both layouts, and that run with every option), laid out by a real browser with the font
/// the figure names first (DejaVu Sans): no text meets another text, a marker, an arrowhead
/// or a CS bar or runs off the figure, no arrowhead meets a CS bar (also with clocks of 16
/// digits and wall clocks at their limits); every text is at least 11 px and every figure at
/// most 1,600 px wide. And the check can fail: a clock label copied onto another is found.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs Chromium"
)]
fn no_label_meets_another_box_in_a_real_browser() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut figs = vec![docs.join("figure1.svg")];
    for n in 1..=3 {
        let d = docs.join(format!("scenario{n}"));
        figs.push(d.join(format!("scenario{n}.svg")));
        figs.push(d.join(format!("scenario{n}-real.svg")));
    }
    let inter = docs.join("interactive");
    figs.push(inter.join("interactive.svg"));
    figs.push(inter.join("interactive-real.svg"));
    // The same run with every copy, the deferrals and the resource's lane; and the run
    // recorded before DEFERRED existed (most of its arrows resends), drawn with --resends.
    let d = dir("overlaps");
    let traces: Vec<String> = traces_in(&inter, "");
    let before: Vec<String> = traces_in(&inter, "before/");
    for (name, x, extra, input) in [
        ("all.svg", "lamport", true, &traces),
        ("all-real.svg", "real", true, &traces),
        ("before.svg", "lamport", false, &before),
        ("before-resends.svg", "lamport", true, &before),
        ("before-resends-real.svg", "real", true, &before),
    ] {
        let out = d.join(name);
        let mut args = vec!["--x", x, "-o", out.to_str().unwrap()];
        if extra {
            args.extend(["--resends", "--deferrals", "--resource"]);
        }
        args.extend(input.iter().map(String::as_str));
        let (code, _, err) = timeline(&args, None);
        assert_eq!(code, 0, "{err}");
        figs.push(out);
    }
    // Hostile: the same session with every clock and T near 2^52 (labels of 16 digits), and
    // wall clocks at their limits or mixing seconds with microseconds (a handful of ticks,
    // not millions: an attack once made a 455 MB figure of them).
    for (name, x) in [("huge.svg", "lamport"), ("huge-real.svg", "real")] {
        let huge = d.join("huge");
        std::fs::create_dir_all(&huge).unwrap();
        for (i, t) in traces.iter().enumerate() {
            let text = std::fs::read_to_string(t).unwrap();
            let mut out = String::new();
            for line in text.lines() {
                let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
                for k in ["clock", "t"] {
                    if let Some(n) = v[k].as_u64() {
                        v[k] = (n + 4_503_599_627_370_000).into();
                    }
                }
                out.push_str(&v.to_string());
                out.push('\n');
            }
            std::fs::write(huge.join(format!("p{}.jsonl", i + 1)), out).unwrap();
        }
        let out = d.join(name);
        let args = [
            "--x",
            x,
            "--deferrals",
            "-o",
            out.to_str().unwrap(),
            huge.to_str().unwrap(),
        ];
        let (code, _, err) = timeline(&args, None);
        assert_eq!(code, 0, "{err}");
        figs.push(out);
    }
    for (name, trace) in [
        ("ticks-extreme.svg", TICKS_EXTREME),
        ("ticks-mixed-units.svg", TICKS_MIXED_UNITS),
    ] {
        let out = d.join(name);
        let (code, _, err) = timeline(
            &["--x", "real", "-o", out.to_str().unwrap(), "-"],
            Some(trace),
        );
        assert_eq!(code, 0, "{err}");
        let svg = std::fs::read_to_string(&out).unwrap();
        assert!(svg.len() < 20_000, "{name}: {} bytes", svg.len());
        figs.push(out);
    }
    // The negative control: Figure 1 with its first clock label drawn twice, 4 px apart.
    let f1 = std::fs::read_to_string(docs.join("figure1.svg")).unwrap();
    let i = f1.find("<text class=\"clk\"").unwrap();
    let j = i + f1[i..].find("</text>").unwrap() + 7;
    let (x0, y0) = {
        let t = &f1[i..j];
        let num = |k: &str| -> i64 {
            let a = t.find(k).unwrap() + k.len();
            t[a..].split('"').next().unwrap().parse().unwrap()
        };
        (num(" x=\""), num(" y=\""))
    };
    let copy = format!(
        "<text class=\"clk\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">88</text>",
        x0 + 3,
        y0 + 2
    );
    let bad = d.join("figure1-overlapping.svg");
    std::fs::write(&bad, f1.replacen("</svg>", &format!("{copy}</svg>"), 1)).unwrap();
    figs.push(bad.clone());
    let res = overlaps(&figs);
    let (last, rest) = res.split_last().unwrap();
    assert!(
        last.1 >= 1,
        "the check must catch a label on another: {}",
        last.5
    );
    for (path, n, probe, smallest, width, report) in rest {
        println!("{path}: {n} overlaps, width {width}");
        assert_eq!(*n, 0, "{report}");
        // DejaVu Sans: REQ(T=1) at 11 px is 54.8 px wide (Liberation Sans: 45.8).
        assert!(
            (54.0..56.0).contains(probe),
            "not laid out in DejaVu Sans: {report}"
        );
        assert!(*smallest >= 11.0, "{report}");
        assert!(*width <= 1600, "{report}");
    }
}

/// The wall-clock axis of the recorded interactive run: ticks at one regular step, each
/// label once, in order.
#[test]
fn the_time_axis_has_regular_ticks_each_label_once() {
    let inter = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/interactive");
    let svg = std::fs::read_to_string(inter.join("interactive-real.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let axis = doc
        .descendants()
        .find(|n| n.attribute("class") == Some("axis"))
        .unwrap();
    let ms: Vec<u64> = axis
        .children()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|t| t.text())
        .filter(|t| *t != "time")
        .map(|t| {
            let v = t.trim_start_matches('+').trim_end_matches('s');
            let (s, f) = v.split_once('.').unwrap_or((v, ""));
            let f = format!("{f:0<3}");
            s.parse::<u64>().unwrap() * 1000 + f.parse::<u64>().unwrap()
        })
        .collect();
    assert!(ms.len() >= 5, "{ms:?}");
    assert_eq!(ms[0], 0);
    let step = ms[1] - ms[0];
    assert!(step > 0);
    for w in ms.windows(2) {
        assert_eq!(w[1] - w[0], step, "irregular ticks: {ms:?}");
    }
}

/// By default one arrow per message, `×N` on it when N copies were sent; `--deferrals` draws
/// each deferral acknowledged from the deferrer to the requester, `--resource` a lane with one
/// use per CS entry.
#[test]
fn one_arrow_per_message_and_the_options_draw_the_rest() {
    let inter = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/interactive");
    let traces: Vec<String> = traces_in(&inter, "before/");
    let draw = |extra: &[&str]| {
        let mut args: Vec<&str> = extra.to_vec();
        args.extend(traces.iter().map(String::as_str));
        let (code, svg, err) = timeline(&args, None);
        assert_eq!(code, 0, "{err}");
        Figure::parse(&svg)
    };
    let plain = draw(&[]);
    let all = draw(&["--resends"]);
    assert!(
        plain.arrows.iter().all(|a| !a.0.contains("dash")),
        "{plain:#?}"
    );
    let counted = plain.arrows.iter().filter(|a| a.1.contains(" ×")).count();
    let dashed = all.arrows.iter().filter(|a| a.0.contains("dash")).count();
    assert!(
        counted > 0 && dashed > 0,
        "{counted} counted, {dashed} dashed"
    );
    // Each ×N stands for N copies, all of which --resends draws.
    let counts: Vec<usize> = plain
        .arrows
        .iter()
        .filter_map(|a| a.1.split(" ×").nth(1).map(|n| n.parse().unwrap()))
        .collect();
    assert!(counts.iter().all(|&n| n >= 2), "{counts:?}");
    let in_counts: usize = counts.iter().sum();
    assert!(
        all.arrows.len() >= in_counts,
        "{} < {in_counts}",
        all.arrows.len()
    );
    println!(
        "before DEFERRED: {} arrows by default, {} with --resends",
        plain.arrows.len(),
        all.arrows.len()
    );

    let now: Vec<String> = traces_in(&inter, "");
    let mut args = vec!["--deferrals", "--resource"];
    args.extend(now.iter().map(String::as_str));
    let (code, svg, err) = timeline(&args, None);
    assert_eq!(code, 0, "{err}");
    let f = Figure::parse(&svg);
    let deferrals: Vec<&Arrow> = f
        .arrows
        .iter()
        .filter(|a| a.0.contains("deferral"))
        .collect();
    assert!(!deferrals.is_empty(), "{f:#?}");
    assert!(
        deferrals.iter().all(|a| a.1 == "DEFERRED" && a.2 != a.3),
        "{deferrals:#?}"
    );
    // Every deferred REQUEST drawn has its acknowledgement drawn.
    assert_eq!(deferrals.len(), f.deferred.len(), "{f:#?}");
    assert!(f.rows.iter().any(|r| r.0 == "resource"), "{:?}", f.rows);
    let to_lane = f.arrows.iter().filter(|a| a.0.contains("resource")).count();
    assert_eq!(
        to_lane,
        2 * f.bars.len(),
        "an ENTER and an EXIT per CS entry"
    );
    assert_eq!(svg.matches("<rect class=\"use\"").count(), f.bars.len());
}

#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs Chromium"
)]
fn a_real_browser_renders_a_figure() {
    let chromium = chromium();
    let d = dir("browser");
    let figure1 = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/figure1.jsonl");
    let svg = d.join("figure1.svg");
    let (code, _, err) = timeline(
        &[figure1.to_str().unwrap(), "-o", svg.to_str().unwrap()],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let f = Figure::parse(&std::fs::read_to_string(&svg).unwrap());
    let png = d.join("figure1.png");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            &format!("--user-data-dir={}", d.join("profile").display()),
            &format!("--screenshot={}", png.display()),
            &format!("--window-size={},{}", f.width, f.height),
        ])
        .arg(format!("file://{}", svg.display()))
        .output()
        .unwrap();
    assert!(
        png.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(
        (i64::from(info.width), i64::from(info.height)),
        (f.width, f.height)
    );
    let bytes = &buf[..info.buffer_size()];
    let channels = info.line_size / info.width as usize;
    // Dark pixels: the lines, dots, bars and text. A blank page has none.
    let dark = bytes
        .chunks(channels)
        .filter(|p| p[..3].iter().all(|&c| c < 100))
        .count();
    let total = (info.width * info.height) as usize;
    assert!(dark * 200 > total, "{dark} dark pixels of {total}: blank?");
    assert!(
        dark * 3 < total,
        "{dark} dark pixels of {total}: not a white figure?"
    );
    println!(
        "rendered {} ({}x{}, {dark} dark pixels)",
        png.display(),
        info.width,
        info.height
    );
}

/// 20% of all datagrams dropped by iptables (in a network namespace, so nothing else is
/// touched; deleted with it): one arrow per message with `×N` for its copies (every copy,
/// dashed, with `--resends`), and lost messages end in a cross.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs root (network namespaces, iptables)"
)]
fn with_20_percent_loss_copies_are_counted_and_losses_crossed() {
    let d = dir("loss");
    let ns = util::Netns::new("timeline");
    ns.drop_randomly("0.2", &[]);
    let mut resource = ns.start(
        "shared",
        &["shared-resource", "--listen", "127.0.0.1:10001"],
    );
    resource.wait_for(|l| l.starts_with("shared resource listening"));
    let all = ["127.0.0.2:10002", "127.0.0.3:10003", "127.0.0.4:10004"];
    let mut ps: Vec<Proc> = (1..=3)
        .map(|id| {
            let id_s = id.to_string();
            let trace = d.join(format!("p{id}.jsonl"));
            let mut a = vec![
                "mutex",
                "--cs-time",
                "100ms",
                "--auto",
                "300ms",
                "--seed",
                &id_s,
            ];
            a.extend(["--trace", trace.to_str().unwrap(), &id_s]);
            a.extend(all);
            ns.start(&format!("p{id}"), &a)
        })
        .collect();
    // Until enough happened (not a timing claim: a generous bound for a busy machine).
    let enough = util::eventually(Duration::from_secs(60), || {
        let entries: usize = ps
            .iter()
            .map(|p| p.count(|l| l.contains("Entrei na CS")))
            .sum();
        (entries >= 12 && ns.dropped() >= 10).then_some(())
    });
    for p in &mut ps {
        p.term();
    }
    resource.term();
    assert!(enough.is_some(), "too little happened in 60 s");
    let (f, _) = figures(&d, "loss");
    // By default one arrow per message, its copies counted; every copy with --resends.
    let counted = f.arrows.iter().filter(|a| a.1.contains(" ×")).count();
    let lost = f.arrows.iter().filter(|a| a.0.contains("lost")).count();
    assert!(
        f.arrows.iter().all(|a| !a.0.contains("dash")),
        "{:#?}",
        f.arrows
    );
    assert!(counted > 0, "{:#?}", f.arrows);
    let (code, svg, err) = timeline(&["--resends", d.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    let every = Figure::parse(&svg);
    let dashed = every.arrows.iter().filter(|a| a.0.contains("dash")).count();
    let every_lost = every.arrows.iter().filter(|a| a.0.contains("lost")).count();
    assert!(
        dashed > 0 && every.arrows.len() > f.arrows.len(),
        "{dashed} dashed"
    );
    // A lost first copy stays drawn (crossed); lost resends only with --resends.
    assert!(
        every_lost > 0 && lost <= every_lost,
        "{lost} lost, {every_lost} with --resends"
    );
    println!(
        "{} arrows, {dashed} dashed, {lost} lost, {} CS bars",
        f.arrows.len(),
        f.bars.len()
    );
}

/// The `docker compose logs` form: the processes' lines interleaved, CRLF (a tty), the
/// human lines of the resource and notices among them, read from stdin.
#[test]
fn docker_logs_on_stdin_and_bad_input() {
    let figure1 =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/figure1.jsonl"))
            .unwrap();
    let mut mixed = String::from("shared resource listening on 0.0.0.0:10001\r\n");
    for (k, l) in figure1.lines().enumerate() {
        mixed.push_str(l);
        mixed.push_str("\r\n");
        if k % 7 == 0 {
            mixed.push_str("[clock=1 RELEASED] internal event\r\n");
        }
    }
    mixed.push_str(r#"{"event":"sent","t_ms":1,"id":1,"clo"#);
    let (code, svg, err) = timeline(&["-"], Some(&mixed));
    assert_eq!(code, 0, "{err}");
    let f = Figure::parse(&svg);
    assert_eq!(f.rows.len(), 3);
    assert_eq!(f.bars.len(), 3);
    assert!(
        err.contains("note: skipped 10 line(s) that are not JSON"),
        "{err}"
    );
    assert!(
        err.contains("note: skipped 1 truncated or malformed JSON line"),
        "{err}"
    );

    // --check on a trace edited to tick on a REPLY send: the violation, status 1.
    let reply = r#""id":2,"clock":3,"state":"RELEASED","kind":"REPLY""#;
    let ticked = figure1.replace(
        reply,
        r#""id":2,"clock":4,"state":"RELEASED","kind":"REPLY""#,
    );
    let (code, out, _) = timeline(&["--check", "-"], Some(&ticked));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("sending a REPLY never ticks: expected clock 3, found 4"),
        "{out}"
    );
    assert!(out.contains("violation(s)"), "{out}");

    // Empty input, foreign JSON, the counter peer's log: a clear error, status 1.
    let (code, _, err) = timeline(&["-"], Some(""));
    assert_eq!(code, 1);
    assert!(err.contains("the input is empty"), "{err}");
    let (code, _, err) = timeline(&["-"], Some("{\"level\":\"info\"}\n[1,2]\n"));
    assert_eq!(code, 1);
    assert!(err.contains("no Lab 1 events"), "{err}");
    let mut peer = Proc::start(
        "peer",
        &[
            "--json",
            "--interval",
            "100ms",
            "127.0.73.2:10002",
            "127.0.73.3:10003",
        ],
    );
    peer.wait_for(|l| l.contains("\"event\":\"peer_down\""));
    peer.term();
    let log = peer.lines().join("\n");
    let (code, _, err) = timeline(&["-"], Some(&log));
    assert_eq!(code, 1);
    assert!(
        err.contains("no Lab 1 events") && err.contains("counter peer"),
        "{err}"
    );
    // Files that do not exist, a directory without traces, a bad option: clear errors.
    let (code, _, err) = timeline(&["/nonexistent/p1.log"], None);
    assert_eq!(code, 1);
    assert!(err.contains("cannot read /nonexistent/p1.log"), "{err}");
    let empty = dir("empty");
    let (code, _, err) = timeline(&[empty.to_str().unwrap()], None);
    assert_eq!(code, 1);
    assert!(err.contains("no *.jsonl or *.log file"), "{err}");
    let (code, _, err) = timeline(&["--x", "sideways", "-"], None);
    assert_eq!(code, 2);
    assert!(err.contains("--x is lamport or real"), "{err}");
    let (code, _, err) = timeline(&[], None);
    assert_eq!(code, 2);
    assert!(err.contains("- for stdin"), "{err}");
    // --trace to a file that cannot be opened: a usage error.
    let out = Command::new(BIN)
        .args([
            "mutex",
            "--trace",
            "/nonexistent/dir/p1.jsonl",
            "1",
            ":10002",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("--trace `/nonexistent/dir/p1.jsonl`: cannot open"));
}

/// ShiViz's format from a real run's traces.
#[test]
fn shiviz_log_of_figure1() {
    let figure1 = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/figure1.jsonl");
    let (code, out, err) = timeline(&["--format", "shiviz", figure1.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len() % 2, 0);
    for pair in lines.chunks(2) {
        let (host, clock) = pair[1].split_once(' ').unwrap();
        assert!(["P1", "P2", "P3"].contains(&host), "{pair:?}");
        let v: serde_json::Value = serde_json::from_str(clock).unwrap();
        assert!(v[host].as_u64().unwrap() >= 1);
    }
}

/// The figures in docs/ are the tool's current output for the traces beside them
/// (`scripts/lab/scenarios.sh N docs/scenarioN` remakes a scenario, run again;
/// `PEERLAB_BLESS=1` redraws the figures from the traces there; Figure 1 is checked by the
/// unit tests).
#[test]
fn the_scenario_figures_in_docs_are_current() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    for n in 1..=4 {
        let (d, name) = match n {
            4 => (docs.join("interactive"), "interactive".to_string()),
            _ => (docs.join(format!("scenario{n}")), format!("scenario{n}")),
        };
        let traces: Vec<String> = (1..=3)
            .map(|id| d.join(format!("p{id}.jsonl")).to_str().unwrap().to_string())
            .collect();
        for (x, file) in [
            ("lamport", format!("{name}.svg")),
            ("real", format!("{name}-real.svg")),
        ] {
            let mut args = vec!["--x", x];
            args.extend(traces.iter().map(String::as_str));
            let (code, svg, err) = timeline(&args, None);
            assert_eq!(code, 0, "{err}");
            if std::env::var_os("PEERLAB_BLESS").is_some() {
                std::fs::write(d.join(&file), &svg).unwrap();
            }
            let committed = std::fs::read_to_string(d.join(&file)).unwrap();
            assert!(svg == committed, "{} is out of date: PEERLAB_BLESS=1 cargo test --test timeline the_scenario_figures redraws it", d.join(&file).display());
        }
    }
}

/// The fixtures (tests/fixtures/timeline, one run per directory, each a case a checker can
/// get wrong: README.md there says which): `--check` on their directory gives one verdict line
/// per run, as in verdicts.txt (`PEERLAB_BLESS=1` rewrites it), status 1 (some broke a rule);
/// each run alone gets the status of its verdict: 0 hold, 1 broken, 3 not checked whole.
#[test]
fn check_gives_each_fixture_its_verdict() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let check = |args: &[&str]| {
        let out = Command::new(BIN)
            .current_dir(root)
            .arg("timeline")
            .arg("--check")
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!err.contains("panicked"), "{err}");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.code().unwrap_or(-1), text, err)
    };
    let (code, out, err) = check(&["tests/fixtures/timeline"]);
    let golden = root.join("tests/fixtures/timeline/verdicts.txt");
    if std::env::var_os("PEERLAB_BLESS").is_some() {
        std::fs::write(&golden, &out).unwrap();
    }
    assert_eq!(
        out,
        std::fs::read_to_string(&golden).unwrap(),
        "verdicts changed (PEERLAB_BLESS=1 rewrites them); stderr: {err}"
    );
    assert_eq!(code, 1, "{out}");
    // The verdict each case must get.
    let want = [
        ("hold", 0),
        ("restart-own-file", 0),
        ("hostile-characters", 0),
        ("same-id-two-files", 1),
        ("two-inside", 1),
        ("causal-cycle", 1),
        ("receive-equals-send", 1),
        ("one-life-in-two-files", 0),
        ("stdout-and-trace-in-part", 0),
        ("restart-line-last-in-file", 0),
        ("reply-copies-reordered", 0),
        ("request-never-made", 1),
        ("inside-when-it-stopped", 3),
        ("inside-at-trace-end", 3),
        ("stdout-and-trace-copies", 0),
        ("left-line-lost", 3),
        ("asked-twice", 3),
        ("left-before-entered", 3),
        ("left-without-entered", 3),
        ("receive-never-sent", 3),
        ("wall-clock-back-at-restart", 3),
        ("entered-bad-clock", 3),
        ("entered-string-id", 3),
        ("no-wall-clock", 3),
        ("one-trace", 3),
        ("cut-line", 3),
    ];
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), want.len() + 1, "{out}");
    for (name, status) in want {
        let run = format!("tests/fixtures/timeline/{name}");
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("{run}: ")))
            .unwrap_or_else(|| panic!("no verdict for {run}: {out}"));
        let verdict = &line[run.len() + 2..];
        let says = if verdict.starts_with("hold (") {
            0
        } else if verdict.contains(" violation(s) (") {
            1
        } else {
            assert!(verdict.starts_with("not checked whole ("), "{line}");
            3
        };
        assert_eq!(says, status, "{line}");
        let (code, alone, err) = check(&[&run]);
        assert_eq!(code, status, "{run}: {alone}{err}");
        let last = alone.lines().last().unwrap_or("");
        match status {
            0 => assert!(last.ends_with("and (T, id) order hold"), "{alone}"),
            1 => assert!(last.ends_with(" violation(s)"), "{alone}"),
            _ => assert!(
                last.contains("could not be checked") && alone.contains("\nnot checked: ")
                    || alone.starts_with("not checked: "),
                "{alone}"
            ),
        }
    }
    assert_eq!(
        lines.last(),
        Some(&"26 run(s): 8 hold, 5 broke a rule, 13 could not be checked whole")
    );
    // Two processes with one id: both the shared id and the overlap are named.
    let (_, same, _) = check(&["tests/fixtures/timeline/same-id-two-files"]);
    assert!(same.contains("two processes with id 1"), "{same}");
    assert!(
        same.contains("mutual exclusion: P1#2 entered while P1 was inside"),
        "{same}"
    );
    // A class: the fixtures given as directories one by one give the same lines.
    let dirs: Vec<String> = want
        .iter()
        .map(|(n, _)| format!("tests/fixtures/timeline/{n}"))
        .collect();
    let args: Vec<&str> = dirs.iter().map(String::as_str).collect();
    let (code, each, err) = check(&args);
    assert_eq!(code, 1, "{err}");
    for l in each.lines().take(want.len()) {
        assert!(lines.contains(&l), "{l}");
    }
    // A run that could not be read at all is said, and its status is "not checked whole".
    let (code, _, err) = check(&["/nonexistent/run"]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("cannot check: cannot read /nonexistent/run"),
        "{err}"
    );
}

/// A process restarted with its own `--trace` file (recorded for real: killed with -9 inside
/// its CS, started again with `--trace p2-again.jsonl`): its lives are ordered by when they
/// started, not by the files' names or order, so the verdict is the same in any order and
/// there is no overlap (the resource, in shared.txt, saw none).
#[test]
fn lives_are_ordered_by_time_whatever_the_order_of_the_files() {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/timeline/restart-own-file");
    let f = |n: &str| d.join(n).to_str().unwrap().to_string();
    let shared = std::fs::read_to_string(d.join("shared.txt")).unwrap();
    assert!(
        shared.contains("0 violations") && shared.contains("1 restarts (1 inside the CS)"),
        "{shared}"
    );
    let orders = [
        ["p1.jsonl", "p2.jsonl", "p2-again.jsonl", "p3.jsonl"],
        ["p2-again.jsonl", "p3.jsonl", "p2.jsonl", "p1.jsonl"],
        ["p3.jsonl", "p2-again.jsonl", "p1.jsonl", "p2.jsonl"],
    ];
    let mut seen = Vec::new();
    for o in orders {
        let files: Vec<String> = o.iter().map(|n| f(n)).collect();
        let mut args = vec!["--check"];
        args.extend(files.iter().map(String::as_str));
        let (code, out, err) = timeline(&args, None);
        assert_eq!(code, 0, "{o:?}: {out}{err}");
        assert!(out.ends_with("of 4 process life(s): the Lamport rules, mutual exclusion and (T, id) order hold\n"), "{out}");
        // The figure: P2's first life is the one in p2.jsonl, whatever the order.
        let (code, svg, err) =
            timeline(&files.iter().map(String::as_str).collect::<Vec<_>>(), None);
        assert_eq!(code, 0, "{err}");
        let at = |s: &str| svg.find(s).unwrap_or_else(|| panic!("no {s}"));
        assert!(
            at("(p2.jsonl:") < at("(p2-again.jsonl:"),
            "P2's lives out of order"
        );
        seen.push(svg);
    }
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "the figure depends on the files' order"
    );
    // P2 was killed inside its CS: its bar ends where its next life starts (to scale), not at
    // the end of the figure, where it would look like everyone else's CS overlaps it.
    let ds = d.to_str().unwrap();
    let (code, svg, err) = timeline(&["--x", "real", "--resource", ds], None);
    assert_eq!(code, 0, "{err}");
    let fig = Figure::parse(&svg);
    let killed: Vec<&str> = svg
        .split("<g class=\"")
        .filter(|g| g.contains("killed inside, it held the CS until it started again"))
        .filter(|g| g.contains("<rect"))
        .collect();
    assert_eq!(killed.len(), 2, "the CS bar and the resource's use");
    for g in killed {
        let num = |k: &str| -> i64 {
            let v = &g[g.find(&format!(" {k}=\"")).unwrap() + k.len() + 3..];
            v[..v.find('"').unwrap()].parse().unwrap()
        };
        assert!(num("x") + num("width") < fig.width - 200, "{g}");
    }
    // Drawn without a process's trace: said.
    let (code, _, err) = timeline(&[&f("p1.jsonl"), &f("p3.jsonl")], None);
    assert_eq!(code, 0);
    assert!(err.contains("note: no trace of P2"), "{err}");
}

/// Whether a character must not reach a figure or a terminal as itself (the list of
/// docs/timeline.md: what XML 1.0 forbids, C0 and C1 controls, bidi controls, line and
/// paragraph separators, zero-width characters, noncharacters).
fn hidden(c: char) -> bool {
    let u = c as u32;
    (u < 0x20 && c != '\n')
        || (0x7f..=0x9f).contains(&u)
        || matches!(
            u,
            0xad | 0x034f
                | 0x061c
                | 0x115f
                | 0x1160
                | 0x17b4
                | 0x17b5
                | 0x180b..=0x180f
                | 0x200b..=0x200f
                | 0x2028..=0x202e
                | 0x2060..=0x206f
                | 0x3164
                | 0xfe00..=0xfe0f
                | 0xfeff
                | 0xffa0
                | 0xfff9..=0xfffb
                | 0xe0000..=0xe0fff
        )
        || (0xfdd0..=0xfdef).contains(&u)
        || u & 0xfffe == 0xfffe
}

/// Raw U+FFFE, U+FFFF, bidi controls, line separators and terminal escapes in every line
/// of a trace and in a file's name: the figure stays well-formed XML (every such character
/// shown as its code), and neither it, the ShiViz log nor `--check`'s report (raw lines
/// included) carries one.
#[test]
fn no_character_of_a_trace_reaches_a_figure_or_a_terminal_as_itself() {
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/timeline/hostile-characters");
    let d = dir("hostile-characters");
    std::fs::copy(src.join("p1.jsonl"), d.join("p1.jsonl")).unwrap();
    let odd = d.join("p2\u{fffe}\u{202e}x\u{2028}\u{ad}\u{e0041}\t.jsonl");
    std::fs::copy(src.join("p2.jsonl"), &odd).unwrap();
    let raw = std::fs::read_to_string(d.join("p1.jsonl")).unwrap();
    assert!(raw.contains('\u{fffe}') && raw.contains('\u{1b}') && raw.contains('\u{202e}'));
    let ds = d.to_str().unwrap();
    let clean = |what: &str, s: &str| {
        let bad: Vec<String> = s
            .chars()
            .filter(|&c| hidden(c))
            .map(|c| format!("U+{:04X}", c as u32))
            .collect();
        assert!(bad.is_empty(), "{what} carries {bad:?}");
    };
    for x in ["lamport", "real"] {
        let (code, svg, err) = timeline(
            &["--x", x, "--resends", "--deferrals", "--resource", ds],
            None,
        );
        assert_eq!(code, 0, "{err}");
        clean("the figure", &svg);
        clean("stderr", &err);
        roxmltree::Document::parse(&svg).expect("well-formed XML");
        assert!(svg.contains("\\u{fffe}") && svg.contains("\\u{202e}") && svg.contains("\\u{1b}"));
        assert!(
            svg.contains("p2\\u{fffe}\\u{202e}x\\u{2028}\\u{ad}\\u{e0041}\\u{9}.jsonl:"),
            "the file's name, shown"
        );
    }
    let (code, log, _) = timeline(&["--format", "shiviz", ds], None);
    assert_eq!(code, 0);
    clean("the ShiViz log", &log);
    // A violation, so that the report shows the raw lines.
    std::fs::write(
        d.join("p1.jsonl"),
        raw.replace(r#""clock":3,"t":1,"note""#, r#""clock":4,"t":1,"note""#),
    )
    .unwrap();
    let (code, out, err) = timeline(&["--check", ds], None);
    assert_eq!(code, 1, "{out}");
    clean("the report", &out);
    clean("stderr", &err);
    assert!(
        out.contains("\\u{1b}[31m") && out.contains("\\u{202e}evil"),
        "{out}"
    );
    // What is typed is shown safely too: an option's value, an unknown argument, -o's path.
    for args in [
        vec!["--x", "\u{1b}[31m\u{202e}"],
        vec!["--bogus\u{1b}[1m"],
        vec!["-o", "/nonexistent/\u{1b}[31m", ds],
    ] {
        let (code, _, err) = timeline(&args, None);
        assert!(code == 1 || code == 2, "{args:?}");
        clean("an error", &err);
        assert!(err.contains("\\u{1b}"), "{err}");
    }
}

/// Inputs built to be expensive (scripts/timeline/traces.py): 2,000 processes inside at once,
/// 10,000 process lines, one REQUEST sent 40,000 times, a valid 5 MB run. Each mode runs
/// within 1 GiB of address space (`prlimit --as`; the quadratic version took 1.35 GB on the
/// first), a report prints the first violations and counts the rest, and what would help
/// nobody as a figure or a ShiViz log is refused with a message.
#[test]
fn hostile_inputs_cost_little_and_reports_are_bounded() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let d = dir("hostile-inputs");
    for (kind, n) in [
        ("never-leave", "2000"),
        ("lanes", "10000"),
        ("resends", "40000"),
        ("run", "5"),
    ] {
        let out = Command::new("python3")
            .arg(root.join("scripts/timeline/traces.py"))
            .args([kind, n])
            .arg(d.join(kind))
            .output()
            .expect("python3 runs scripts/timeline/traces.py");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let run = |args: &[&str]| {
        let out = Command::new("prlimit")
            .arg(format!("--as={}", 1u64 << 30))
            .arg(BIN)
            .arg("timeline")
            .args(args)
            .output()
            .expect("prlimit (util-linux) runs");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !err.contains("panicked") && !err.contains("memory allocation"),
            "{err}"
        );
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            err,
        )
    };
    let p = |k: &str| d.join(k).to_str().unwrap().to_string();
    // Everyone inside at once: 1,999 entries while another was inside; 20 shown.
    let (code, out, _) = run(&["--check", &p("never-leave")]);
    assert_eq!(code, 1);
    assert!(out.len() < 64 << 10, "{} bytes of report", out.len());
    assert_eq!(
        out.matches("\nmutual exclusion: ").count() + usize::from(out.starts_with("mutual")),
        20
    );
    assert!(
        out.contains("... and 1979 more violation(s): the first 20 are shown"),
        "{out}"
    );
    assert!(
        out.ends_with("checked 6000 events of 2000 process life(s): 1999 violation(s)\n"),
        "{out}"
    );
    for (what, dirname) in [("figure", "never-leave"), ("figure", "lanes")] {
        let (code, out, err) = run(&[&p(dirname)]);
        assert_eq!((code, out.len()), (1, 0), "{what}");
        assert!(
            err.contains("process lives: a figure of more than 100 lines helps nobody"),
            "{err}"
        );
    }
    let (code, _, err) = run(&["--format", "shiviz", &p("lanes")]);
    assert_eq!(code, 1);
    assert!(
        err.contains("a ShiViz log of more than 100 hosts helps nobody"),
        "{err}"
    );
    let (code, out, _) = run(&["--check", &p("lanes")]);
    assert_eq!(code, 0, "{out}");
    // 40,000 copies: the rules hold, the figure is one arrow each way with its count.
    let (code, out, _) = run(&["--check", &p("resends")]);
    assert_eq!(code, 0, "{out}");
    let (code, svg, err) = run(&[&p("resends")]);
    assert_eq!(code, 0, "{err}");
    assert!(svg.contains("×40000"), "the copies counted");
    assert!(svg.len() < 64 << 10, "{} bytes of figure", svg.len());
    let (code, log, _) = run(&["--format", "shiviz", &p("resends")]);
    assert_eq!(code, 0);
    assert!(log.lines().count() > 80_000);
    // A valid 5 MB run: it holds; its figure (25,000 events) is refused with a way out.
    let (code, out, _) = run(&["--check", &p("run")]);
    assert_eq!(code, 0, "{out}");
    let (code, _, err) = run(&[&p("run")]);
    assert_eq!(code, 1);
    assert!(
        err.contains("events to draw (of 38597 read): a figure of more than 20000"),
        "{err}"
    );
    let (code, _, _) = run(&["--format", "shiviz", &p("run"), "-o", &p("run.shiviz")]);
    assert_eq!(code, 0);
}

/// A class's directory as a teacher gives it: every run gets a line, whatever its shape: one
/// with nothing to read, one of `*.json` files, a run's subdirectory (a run of its own), a
/// run seven levels down (said, not looked into), a trace whose name is not UTF-8 (read), an
/// entry that is not a file (said). Mixing runs' directories and files, and `-o` onto a trace,
/// are refused.
#[test]
fn a_class_directory_gives_every_run_a_line() {
    use std::os::unix::ffi::OsStrExt;
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/timeline");
    let d = dir("class");
    let put = |run: &str, from: &str| {
        let to = d.join(run);
        std::fs::create_dir_all(&to).unwrap();
        for e in std::fs::read_dir(fx.join(from)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    };
    put("alice", "hold");
    put("bob", "two-inside");
    std::fs::create_dir_all(d.join("carol")).unwrap();
    std::fs::create_dir_all(d.join("dave")).unwrap();
    std::fs::write(d.join("dave/p1.json"), "{}\n").unwrap();
    put("eve", "hold");
    put("eve/old", "two-inside");
    put("frank/a/b/c/d/e/f", "two-inside");
    put("gina", "hold");
    let bad = std::ffi::OsStr::from_bytes(b"p2\xff.jsonl");
    std::fs::rename(d.join("gina/p2.jsonl"), d.join("gina").join(bad)).unwrap();
    std::fs::create_dir_all(d.join("gina/p3.jsonl")).unwrap();
    let ds = d.to_str().unwrap();
    let (code, out, err) = timeline(&["--check", ds], None);
    assert_eq!(code, 1, "{out}{err}");
    let line = |run: &str| {
        let p = format!("{ds}/{run}: ");
        out.lines()
            .find(|l| l.starts_with(&p))
            .unwrap_or_else(|| panic!("no line for {run}: {out}"))
            .to_string()
    };
    assert!(line("alice").contains(": hold ("), "{out}");
    assert!(line("bob").contains(" violation(s) ("), "{out}");
    assert!(
        line("carol").contains("cannot check: no *.jsonl or *.log file"),
        "{out}"
    );
    assert!(
        line("dave").contains("cannot check: no *.jsonl or *.log file"),
        "{out}"
    );
    assert!(line("eve").contains(": hold ("), "{out}");
    assert!(line("eve/old").contains(" violation(s) ("), "{out}");
    assert!(line("frank/a/b/c/d/e").contains("not looked into"), "{out}");
    let gina = line("gina");
    assert!(
        gina.contains("not checked whole (15 events, 2 process life(s))")
            && gina.contains("p3.jsonl is not a regular file"),
        "{gina}"
    );
    assert!(
        out.ends_with("8 run(s): 2 hold, 2 broke a rule, 4 could not be checked whole\n"),
        "{out}"
    );
    // Directories and files at once: which is the run? Refused.
    let alice_p1 = format!("{ds}/alice/p1.jsonl");
    let (code, _, err) = timeline(&["--check", &format!("{ds}/bob"), &alice_p1], None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not both"), "{err}");
    // -o onto one of the traces read: refused, the trace kept.
    let before = std::fs::read(&alice_p1).unwrap();
    let (code, _, err) = timeline(&[&format!("{ds}/alice"), "-o", &alice_p1], None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is a trace (read now"), "{err}");
    assert_eq!(std::fs::read(&alice_p1).unwrap(), before);
    // Nor onto a trace not given (a file forgotten on the command line).
    let (code, _, err) = timeline(&[&alice_p1, "-o", &format!("{ds}/alice/p2.jsonl")], None);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = timeline(&["--check", "--format", "shiviz", &alice_p1], None);
    assert_eq!(code, 2, "{err}");
}
