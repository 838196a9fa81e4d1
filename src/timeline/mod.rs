//! `process timeline`: the report's space-time figure drawn from the JSON traces of a real
//! run (`process mutex --json` or `--trace FILE`), a ShiViz log of it, or a check of the
//! lab's claims on it. Off the message path: this module allocates freely, but stays small
//! (it ships in the same static binary).
//!
//! Layout: `json` (a tolerant reader of flat JSON objects), `trace` (lines to events,
//! by process life), `model` (sends matched to receives, events grouped into points),
//! `place` (where texts go: no text on another), `svg`, `shiviz`, `check`.

mod check;
mod json;
mod model;
mod place;
mod shiviz;
mod sort;
mod svg;
mod trace;

use std::io::{Read, Write};

pub use svg::{Layout, Options, MAX_WIDTH};

/// What to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The figure.
    Svg,
    /// A ShiViz log.
    Shiviz,
}

/// One run to read: a directory of traces, or the files given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Run {
    /// As the verdict names it: the directory, or the files.
    pub(crate) name: String,
    /// Its files (`-` is stdin).
    pub(crate) files: Vec<String>,
}

/// How deep `--check` looks for runs under a directory that holds no trace itself
/// (`class/group/student/`).
const MAX_DEPTH: u32 = 4;
/// The most process lines a figure draws, and lives a ShiViz log holds: past that a figure
/// helps nobody (`--check` takes any number).
pub(crate) const MAX_LANES: usize = 100;
pub(crate) const MAX_HOSTS: usize = 1000;
/// The most events a figure draws: a longer run is a figure of dozens of bands that nobody
/// reads (and tens of megabytes of SVG).
pub(crate) const MAX_DRAWN: usize = 20_000;

/// The runs in `inputs`: each directory with `*.jsonl` or `*.log` files is a run; one without
/// any, each of its subdirectories that has (a class's directory of runs); the files and `-`
/// given directly are one run together.
pub(crate) fn runs(inputs: &[String]) -> Result<Vec<Run>, String> {
    let mut out: Vec<Run> = Vec::new();
    let mut loose: Option<usize> = None;
    for name in inputs {
        let stdin = name == "-" || name == "/dev/stdin";
        if !stdin && std::fs::metadata(name).is_ok_and(|m| m.is_dir()) {
            let before = out.len();
            find_runs(name, 0, &mut out)?;
            if out.len() == before {
                return Err(format!("directory {name} has no *.jsonl or *.log file"));
            }
            continue;
        }
        match loose {
            Some(k) => out[k].files.push(name.clone()),
            None => {
                loose = Some(out.len());
                out.push(Run {
                    name: String::new(),
                    files: vec![name.clone()],
                });
            }
        }
    }
    if let Some(k) = loose {
        let f = &out[k].files;
        out[k].name = if f.len() == 1 {
            f[0].clone()
        } else {
            format!("{} and {} more file(s)", f[0], f.len() - 1)
        };
    }
    Ok(out)
}

/// The runs in directory `dir`: itself if it has trace files, else its subdirectories'.
fn find_runs(dir: &str, depth: u32, out: &mut Vec<Run>) -> Result<(), String> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("cannot read directory {dir}: {e}"))?;
    let base = dir.trim_end_matches('/');
    let base = if base.is_empty() { "/" } else { base };
    let mut files = Vec::new();
    let mut subdirs = Vec::new();
    for e in rd.flatten() {
        let Ok(n) = e.file_name().into_string() else {
            continue;
        };
        let full = format!("{base}/{n}");
        let Ok(m) = std::fs::metadata(&full) else {
            continue;
        };
        if n.ends_with(".jsonl") || n.ends_with(".log") {
            // Regular files only (links followed): a FIFO would wait for a writer for
            // ever, a device or a loop has no trace.
            if m.is_file() {
                files.push(full);
            } else {
                eprintln!(
                    "process timeline: skipped {}: not a regular file",
                    trace::visible(&full)
                );
            }
        } else if m.is_dir() && !n.starts_with('.') {
            subdirs.push(full);
        }
    }
    if !files.is_empty() {
        sort_names(&mut files);
        out.push(Run {
            name: base.to_string(),
            files,
        });
    } else if depth < MAX_DEPTH {
        sort_names(&mut subdirs);
        for d in subdirs {
            find_runs(&d, depth + 1, out)?;
        }
    }
    Ok(())
}

/// By name.
fn sort_names(v: &mut Vec<String>) {
    let mut order: Vec<usize> = (0..v.len()).collect();
    sort::sort_with(&mut order, &|a, b| (&v[a], a) < (&v[b], b));
    let sorted: Vec<String> = order.iter().map(|&k| v[k].clone()).collect();
    *v = sorted;
}

/// Reads a run's files: `-` is stdin. Bytes that are not UTF-8 are replaced, not fatal.
pub(crate) fn read_inputs(files: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for path in files {
        let stdin = path == "-" || path == "/dev/stdin";
        let mut b = Vec::new();
        // stdin as a plain file, as the driver does (std's buffered `Stdin` would cost
        // 2 KB of binary); a pipe, a socket or a file.
        let file = if stdin {
            use std::os::fd::AsFd;
            std::io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .map(std::fs::File::from)
        } else {
            std::fs::File::open(path)
        };
        let read = file.and_then(|mut f| f.read_to_end(&mut b).map(drop));
        read.map_err(|e| format!("cannot read {}: {e}", trace::visible(path)))?;
        let name = if stdin { "stdin" } else { path };
        let text = match String::from_utf8(b) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        out.push((name.to_string(), text));
    }
    Ok(out)
}

/// Reads the inputs into a trace, or says why there is nothing to draw.
pub(crate) fn load(inputs: Vec<(String, String)>) -> Result<trace::Trace, String> {
    let tr = trace::read(inputs);
    if tr.evs.is_empty() {
        let mut m = if tr.lines == 0 {
            "the input is empty: no Lab 1 events".to_string()
        } else {
            format!("no Lab 1 events in the input ({} line(s) read)", tr.lines)
        };
        for n in tr.skipped.notes() {
            m.push_str("; ");
            m.push_str(&n);
        }
        m.push_str(
            ". Traces come from `process mutex --json` or `process mutex --trace FILE` (one JSON object per line).",
        );
        return Err(m);
    }
    Ok(tr)
}

/// Exit statuses of `--check`: the rules hold, a rule is broken, not everything could be
/// checked (2 is a usage error, as for every mode).
pub(crate) const HOLD: u8 = 0;
pub(crate) const BROKEN: u8 = 1;
pub(crate) const NOT_WHOLE: u8 = 3;

/// The verdict of `--check` on one trace: the report, and the exit status it stands for.
fn verdict(tr: &trace::Trace) -> (check::Report, u8) {
    let r = check::check(tr);
    let status = if r.count > 0 {
        BROKEN
    } else if !r.unchecked.is_empty() {
        NOT_WHOLE
    } else {
        HOLD
    };
    (r, status)
}

/// `--check` of one run, in full: every violation shown (up to [`check::SHOWN`]), what was not
/// checked, a verdict line.
fn check_one(tr: &trace::Trace) -> (String, u8) {
    let (r, status) = verdict(tr);
    let mut s = String::new();
    for m in &r.shown {
        s.push_str(m);
        s.push('\n');
    }
    if r.count > r.shown.len() as u64 {
        s.push_str(&format!(
            "... and {} more violation(s): the first {} are shown\n",
            r.count - r.shown.len() as u64,
            r.shown.len()
        ));
    }
    for m in &r.unchecked {
        s.push_str("not checked: ");
        s.push_str(m);
        s.push('\n');
    }
    let what = match status {
        HOLD => "the Lamport rules, mutual exclusion and (T, id) order hold".to_string(),
        BROKEN => format!("{} violation(s)", r.count),
        _ => format!(
            "no violation in what could be checked, but {} thing(s) could not be checked (above): the rules are not shown to hold",
            r.unchecked.len()
        ),
    };
    s.push_str(&format!(
        "checked {} events of {} process life(s): {what}\n",
        tr.evs.len(),
        tr.rows.len()
    ));
    (s, status)
}

/// `--check` of many runs (a class's): one verdict line per run, then a count; the status is
/// [`BROKEN`] if any run broke a rule, else [`NOT_WHOLE`] if any could not be read or checked
/// whole, else [`HOLD`].
fn check_many(runs: &[Run]) -> (String, u8) {
    let (mut hold, mut broke, mut partly) = (0, 0, 0);
    let mut s = String::new();
    for run in runs {
        let name = trace::visible(&run.name);
        let line = match read_inputs(&run.files).and_then(load) {
            Err(m) => {
                partly += 1;
                format!("{name}: cannot check: {m}")
            }
            Ok(tr) => {
                let (r, status) = verdict(&tr);
                let size = format!("{} events, {} process life(s)", tr.evs.len(), tr.rows.len());
                match status {
                    HOLD => {
                        hold += 1;
                        format!("{name}: hold ({size})")
                    }
                    BROKEN => {
                        broke += 1;
                        format!(
                            "{name}: {} violation(s) ({size}); first: {}",
                            r.count,
                            r.headline()
                        )
                    }
                    _ => {
                        partly += 1;
                        format!(
                            "{name}: not checked whole ({size}): {}{}",
                            r.headline(),
                            if r.unchecked.len() > 1 {
                                format!(" (and {} more)", r.unchecked.len() - 1)
                            } else {
                                String::new()
                            }
                        )
                    }
                }
            }
        };
        s.push_str(&line);
        s.push('\n');
    }
    s.push_str(&format!(
        "{} run(s): {hold} hold, {broke} broke a rule, {partly} could not be checked whole\n",
        runs.len()
    ));
    let status = if broke > 0 {
        BROKEN
    } else if partly > 0 {
        NOT_WHOLE
    } else {
        HOLD
    };
    (s, status)
}

/// Why a figure or a ShiViz log of this trace would help nobody, if it would not.
fn too_big(tr: &trace::Trace, opts: Options, format: Format) -> Option<String> {
    let lives = tr.rows.len() + usize::from(opts.resource && format == Format::Svg);
    let drawn = if format == Format::Svg && lives <= MAX_LANES {
        svg::drawn_count(tr, opts)
    } else {
        0
    };
    match format {
        Format::Svg if lives > MAX_LANES => Some(format!(
            "{} process lives: a figure of more than {MAX_LANES} lines helps nobody; `--check` checks any number, or draw the traces of a few processes",
            tr.rows.len()
        )),
        Format::Svg if drawn > MAX_DRAWN => Some(format!(
            "{drawn} events to draw: a figure of more than {MAX_DRAWN} is dozens of bands that nobody reads; `--check` checks the whole run, or draw a part of it (the lines of a time span: each trace line has its ts_us)"
        )),
        Format::Shiviz if lives > MAX_HOSTS => Some(format!(
            "{} process lives: a ShiViz log of more than {MAX_HOSTS} hosts helps nobody; `--check` checks any number",
            tr.rows.len()
        )),
        _ => None,
    }
}

/// `process timeline`: returns the exit status: 0 fine; 1 an error; with `--check`, 0 the
/// rules hold, 1 a rule is broken, 3 not everything could be checked (an input that cannot be
/// read included).
pub fn run(
    inputs: &[String],
    output: Option<&str>,
    opts: Options,
    format: Format,
    check_only: bool,
) -> u8 {
    let fail = |m: &str| {
        eprintln!("process timeline: {m}");
        1
    };
    let runs = match runs(inputs) {
        Ok(r) => r,
        Err(m) if check_only => {
            fail(&format!("cannot check: {m}"));
            return NOT_WHOLE;
        }
        Err(m) => return fail(&m),
    };
    let (text, status) = if check_only && runs.len() > 1 {
        check_many(&runs)
    } else {
        if runs.len() > 1 {
            let names: Vec<String> = runs.iter().take(4).map(|r| trace::visible(&r.name)).collect();
            return fail(&format!(
                "{} runs given ({}{}): a figure draws one run; `--check` checks many",
                runs.len(),
                names.join(", "),
                if runs.len() > 4 { ", ..." } else { "" }
            ));
        }
        let files: Vec<String> = runs.into_iter().flat_map(|r| r.files).collect();
        let tr = match read_inputs(&files).and_then(load) {
            Ok(t) => t,
            Err(m) if check_only => {
                fail(&format!("cannot check: {m}"));
                return NOT_WHOLE;
            }
            Err(m) => return fail(&m),
        };
        for n in tr.skipped.notes() {
            eprintln!("process timeline: note: {n}");
        }
        if check_only {
            check_one(&tr)
        } else {
            if opts.layout == Layout::Real && !tr.has_ts() {
                return fail("--x real needs ts_us (wall clock) in every event");
            }
            if let Some(m) = too_big(&tr, opts, format) {
                return fail(&m);
            }
            match format {
                Format::Svg => (svg::render(&tr, opts), 0),
                Format::Shiviz => (shiviz::render(&tr), 0),
            }
        }
    };
    let written = match output {
        None | Some("-") => {
            let mut o = std::io::stdout().lock();
            o.write_all(text.as_bytes()).and_then(|()| o.flush())
        }
        Some(path) => std::fs::write(path, text.as_bytes()),
    };
    match written {
        Ok(()) => status,
        Err(e) => fail(&format!("cannot write {}: {e}", output.unwrap_or("stdout"))),
    }
}

#[cfg(test)]
mod tests;
