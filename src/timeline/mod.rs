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
use std::path::{Path, PathBuf};

pub use svg::{Layout, Options, MAX_WIDTH};
pub use trace::visible;

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
    /// As the verdict names it: the directory, or the files (shown safely).
    pub(crate) name: String,
    /// Its files (`-` is stdin).
    pub(crate) files: Vec<PathBuf>,
    /// What could not be read of it (an entry that is not a regular file, a directory too
    /// deep): a check of it is then not whole.
    pub(crate) problems: Vec<String>,
}

/// How deep `--check` looks for runs under a directory (`class/group/student/run/`); deeper
/// directories are said, not skipped silently.
const MAX_DEPTH: u32 = 6;
/// The most process lines a figure draws: past that a figure helps nobody (`--check` takes
/// any number).
pub(crate) const MAX_LANES: usize = 100;
/// The most lives a ShiViz log holds (ShiViz draws one column per host).
pub(crate) const MAX_HOSTS: usize = 100;
/// The most events a figure draws: a longer run is a figure of dozens of bands that nobody
/// reads (and tens of megabytes of SVG).
pub(crate) const MAX_DRAWN: usize = 20_000;
/// The most bytes of traces read for one run: a larger input (or `/dev/zero`) is refused, not
/// read until memory runs out.
pub(crate) const MAX_INPUT: u64 = 512 << 20;

fn shown(p: &Path) -> String {
    trace::visible(&p.to_string_lossy())
}

/// The runs in `inputs`: each directory with `*.jsonl` or `*.log` files is a run (with
/// `nested`, as `--check` reads a class, its subdirectories too are looked into for runs of
/// their own); one without any, each of its subdirectories that has; the files and `-` given
/// directly are one run together. `--check` takes directories or one run's files, not both.
pub(crate) fn runs(inputs: &[String], nested: bool) -> Result<Vec<Run>, (u8, String)> {
    let mut out: Vec<Run> = Vec::new();
    let mut loose: Vec<PathBuf> = Vec::new();
    let mut dirs = 0;
    for name in inputs {
        let stdin = name == "-" || name == "/dev/stdin";
        let p = PathBuf::from(name);
        if !stdin && std::fs::metadata(&p).is_ok_and(|m| m.is_dir()) {
            dirs += 1;
            let before = out.len();
            find_runs(&p, 0, nested, &mut out);
            if out.len() == before || (!nested && out[before..].iter().all(|r| r.files.is_empty()))
            {
                return Err((
                    1,
                    format!("directory {} has no *.jsonl or *.log file", shown(&p)),
                ));
            }
            continue;
        }
        loose.push(p);
    }
    if nested && dirs > 0 && !loose.is_empty() {
        return Err((2, format!(
            "{} is a file and {dirs} argument(s) are directories: --check takes runs' directories, or one run's files, not both",
            shown(&loose[0])
        )));
    }
    // A directory given twice (or inside another given) is one run.
    let mut seen: Vec<String> = Vec::new();
    out.retain(|r| {
        let new = r.files.is_empty() || !seen.contains(&r.name);
        seen.push(r.name.clone());
        new
    });
    if !loose.is_empty() {
        let name = if loose.len() == 1 {
            shown(&loose[0])
        } else {
            format!("{} and {} more file(s)", shown(&loose[0]), loose.len() - 1)
        };
        out.push(Run {
            name,
            files: loose,
            problems: Vec::new(),
        });
    }
    Ok(out)
}

/// The runs in directory `dir`: itself if it has trace files, and (if it has none, or with
/// `nested`) its subdirectories' runs. A directory with neither is a run with nothing to read.
fn find_runs(dir: &Path, depth: u32, nested: bool, out: &mut Vec<Run>) {
    let name = shown(dir);
    let mut run = Run {
        name: name.clone(),
        files: Vec::new(),
        problems: Vec::new(),
    };
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            run.problems
                .push(format!("cannot read directory {name}: {e}"));
            out.push(run);
            return;
        }
    };
    let mut subdirs = Vec::new();
    for e in rd {
        let Ok(e) = e else { continue };
        let n = e.file_name();
        let b = n.as_encoded_bytes();
        let path = dir.join(&n);
        let trace = b.ends_with(b".jsonl") || b.ends_with(b".log");
        // A directory is looked into only if it is one, not a link to one (a link to `..` or
        // to `/` would loop or wander).
        let real_dir = e.file_type().is_ok_and(|t| t.is_dir());
        match std::fs::metadata(&path) {
            // Regular files only (links followed): a FIFO would wait for a writer for ever,
            // a device or a loop has no trace; each is said.
            Ok(m) if trace && m.is_file() => run.files.push(path),
            Ok(_) if trace => run
                .problems
                .push(format!("{} is not a regular file: not read", shown(&path))),
            Err(err) if trace => run
                .problems
                .push(format!("cannot read {}: {err}", shown(&path))),
            Ok(m) if m.is_dir() && real_dir && !b.starts_with(b".") => subdirs.push(path),
            _ => {}
        }
    }
    sort_paths(&mut run.files);
    sort_paths(&mut subdirs);
    let has_files = !run.files.is_empty();
    let before = out.len();
    if has_files || !run.problems.is_empty() {
        out.push(run);
    }
    if has_files && !nested {
        return;
    }
    if depth >= MAX_DEPTH {
        if !subdirs.is_empty() {
            out.push(Run {
                name: name.clone(),
                files: Vec::new(),
                problems: vec![format!(
                    "{} subdirector(ies) of {name} not looked into: runs are looked for {MAX_DEPTH} levels down",
                    subdirs.len()
                )],
            });
        }
        return;
    }
    for d in &subdirs {
        find_runs(d, depth + 1, nested, out);
    }
    if out.len() == before && depth <= 1 {
        // Nothing to read here nor below: said as a run of its own (a student's directory
        // left empty; deeper, a directory of something else: not said).
        out.push(Run {
            name,
            files: Vec::new(),
            problems: vec!["no *.jsonl or *.log file".into()],
        });
    }
}

/// By name.
fn sort_paths(v: &mut Vec<PathBuf>) {
    let mut order: Vec<usize> = (0..v.len()).collect();
    sort::sort_with(&mut order, &|a, b| (&v[a], a) < (&v[b], b));
    let sorted: Vec<PathBuf> = order.iter().map(|&k| v[k].clone()).collect();
    *v = sorted;
}

/// Reads a run's files: `-` is stdin. Bytes that are not UTF-8 are replaced, not fatal. At most
/// [`MAX_INPUT`] bytes in all.
pub(crate) fn read_inputs(files: &[PathBuf]) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut left = MAX_INPUT;
    for path in files {
        let stdin = path.as_os_str() == "-" || path.as_os_str() == "/dev/stdin";
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
        let name = if stdin {
            "stdin".to_string()
        } else {
            path.to_string_lossy().into_owned()
        };
        let read = file.and_then(|f| f.take(left + 1).read_to_end(&mut b).map(drop));
        read.map_err(|e| format!("cannot read {}: {e}", trace::visible(&name)))?;
        if b.len() as u64 > left {
            return Err(format!(
                "the traces of this run are over {} MiB (at {}): not read; split the run",
                MAX_INPUT >> 20,
                trace::visible(&name)
            ));
        }
        left -= b.len() as u64;
        let text = match String::from_utf8(b) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        out.push((name, text));
    }
    Ok(out)
}

/// Reads the inputs into a trace, or says why there is nothing to draw.
pub(crate) fn load(inputs: Vec<(String, String)>) -> Result<trace::Trace, String> {
    // What reading will need, asked for first: too little memory is a message, not an abort.
    let lines: usize = inputs
        .iter()
        .map(|(_, t)| t.bytes().filter(|&b| b == b'\n').count() + 1)
        .sum();
    let need = lines.saturating_mul(std::mem::size_of::<trace::Ev>() + 48);
    if Vec::<u8>::new().try_reserve_exact(need).is_err() {
        return Err(format!(
            "not enough memory to read {lines} lines (about {} MiB): split the run",
            need >> 20
        ));
    }
    let tr = trace::read(inputs, lines);
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
/// `problems`: what could not be read of the run.
fn verdict(tr: &trace::Trace, problems: &[String]) -> (check::Report, u8) {
    let mut r = check::check(tr);
    r.unchecked.splice(0..0, problems.iter().cloned());
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
fn check_one(tr: &trace::Trace, problems: &[String]) -> (String, u8) {
    let (r, status) = verdict(tr, problems);
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
        let name = &run.name;
        let read = if run.files.is_empty() {
            Err(run.problems.join("; "))
        } else {
            read_inputs(&run.files).and_then(load)
        };
        let line = match read {
            Err(m) => {
                partly += 1;
                format!("{name}: cannot check: {m}")
            }
            Ok(tr) => {
                let (r, status) = verdict(&tr, &run.problems);
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
            "{drawn} events to draw (of {} read): a figure of more than {MAX_DRAWN} is dozens of bands that nobody reads; `--check` checks the whole run; draw a shorter run (a few seconds of --auto)",
            tr.evs.len()
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
    let runs = match runs(inputs, check_only) {
        Ok(r) => r,
        Err((2, m)) => {
            fail(&m);
            return 2;
        }
        Err((_, m)) if check_only => {
            fail(&format!("cannot check: {m}"));
            return NOT_WHOLE;
        }
        Err((_, m)) => return fail(&m),
    };
    // A figure or a log written over one of its own traces would lose it.
    if let Some(o) = output.filter(|&o| o != "-") {
        use std::os::unix::fs::MetadataExt;
        if let Ok(out) = std::fs::metadata(o) {
            let same = |p: &PathBuf| {
                std::fs::metadata(p).is_ok_and(|m| m.dev() == out.dev() && m.ino() == out.ino())
            };
            let trace_named = o.ends_with(".jsonl") || o.ends_with(".log");
            if trace_named || runs.iter().flat_map(|r| &r.files).any(same) {
                eprintln!(
                    "process timeline: -o {} is a trace (read now, or named as traces are): not written over; write the figure to a .svg",
                    trace::visible(o)
                );
                return 2;
            }
        }
    }
    let (text, status) = if check_only && runs.len() > 1 {
        check_many(&runs)
    } else {
        if runs.len() > 1 {
            let names: Vec<String> = runs.iter().take(4).map(|r| r.name.clone()).collect();
            return fail(&format!(
                "{} runs given ({}{}): a figure draws one run; `--check` checks many",
                runs.len(),
                names.join(", "),
                if runs.len() > 4 { ", ..." } else { "" }
            ));
        }
        let problems: Vec<String> = runs.iter().flat_map(|r| r.problems.clone()).collect();
        let files: Vec<PathBuf> = runs.into_iter().flat_map(|r| r.files).collect();
        let read = if files.is_empty() {
            Err(problems.join("; "))
        } else {
            read_inputs(&files).and_then(load)
        };
        let tr = match read {
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
            check_one(&tr, &problems)
        } else {
            for p in &problems {
                eprintln!("process timeline: note: {p}");
            }
            // A process that messages name but whose trace is missing: the figure lacks it.
            let mut r = check::Report::default();
            check::missing_processes(&tr, &mut r);
            for m in &r.unchecked {
                eprintln!("process timeline: note: {m}");
            }
            if opts.layout == Layout::Real && !tr.has_ts() {
                return fail("--x real needs ts_us (wall clock) in every event");
            }
            if let Some(m) = too_big(&tr, opts, format) {
                return fail(&m);
            }
            let drawn = match format {
                Format::Svg => svg::draw(&tr, opts, svg::MAX_BANDS),
                Format::Shiviz => shiviz::draw(&tr, shiviz::MAX_LOG),
            };
            match drawn {
                Ok(text) => (text, 0),
                Err(m) => return fail(&m),
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
        Err(e) => fail(&format!(
            "cannot write {}: {e}",
            trace::visible(output.unwrap_or("stdout"))
        )),
    }
}

#[cfg(test)]
mod tests;
