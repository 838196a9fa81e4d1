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

/// Reads every input: `-` is stdin, a directory is every `*.jsonl` and `*.log` file in it
/// (in name order). Bytes that are not UTF-8 are replaced, not fatal.
pub(crate) fn read_inputs(inputs: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for name in inputs {
        let stdin = name == "-" || name == "/dev/stdin";
        let mut names = Vec::new();
        match std::fs::read_dir(name) {
            Ok(dir) if !stdin => {
                for e in dir.flatten() {
                    if let Ok(n) = e.file_name().into_string() {
                        if n.ends_with(".jsonl") || n.ends_with(".log") {
                            // Regular files only (links followed): a FIFO would wait for a
                            // writer for ever, a device or a loop has no trace.
                            let full = format!("{}/{n}", name.trim_end_matches('/'));
                            if std::fs::metadata(&full).is_ok_and(|m| m.is_file()) {
                                names.push(n);
                            } else {
                                eprintln!("process timeline: skipped {full}: not a regular file");
                            }
                        }
                    }
                }
                if names.is_empty() {
                    return Err(format!("directory {name} has no *.jsonl or *.log file"));
                }
                // By name (insertion: a handful of files).
                for i in 1..names.len() {
                    let mut j = i;
                    while j > 0 && names[j] < names[j - 1] {
                        names.swap(j, j - 1);
                        j -= 1;
                    }
                }
            }
            _ => names.push(String::new()),
        }
        for n in names {
            let path = if n.is_empty() {
                name.clone()
            } else {
                format!("{name}/{n}")
            };
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
                std::fs::File::open(&path)
            };
            let read = file.and_then(|mut f| f.read_to_end(&mut b).map(drop));
            read.map_err(|e| format!("cannot read {path}: {e}"))?;
            // Events are cited as `file:line`: the file's own name is enough.
            let cut = path.bytes().rposition(|b| b == b'/').map_or(0, |i| i + 1);
            let short = if stdin { "stdin" } else { &path[cut..] };
            out.push((short.to_string(), String::from_utf8_lossy(&b).into_owned()));
        }
    }
    Ok(out)
}

/// Reads the inputs into a trace, or says why there is nothing to draw.
pub(crate) fn load(inputs: &[(String, String)]) -> Result<trace::Trace, String> {
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

/// `process timeline`: returns the exit status (0 fine, 1 error or violations).
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
    let tr = match read_inputs(inputs).and_then(|i| load(&i)) {
        Ok(t) => t,
        Err(m) => return fail(&m),
    };
    for n in tr.skipped.notes() {
        eprintln!("process timeline: note: {n}");
    }
    if opts.layout == Layout::Real && !tr.has_ts() {
        return fail("--x real needs ts_us (wall clock) in every event");
    }
    let (text, status) = if check_only {
        let v = check::check(&tr);
        let mut s = String::new();
        for m in &v {
            s.push_str(m);
            s.push('\n');
        }
        s.push_str(&format!(
            "checked {} events of {} process life(s): {}\n",
            tr.evs.len(),
            tr.rows.len(),
            if v.is_empty() {
                "the Lamport rules, mutual exclusion and (T, id) order hold".to_string()
            } else {
                format!("{} violation(s)", v.len())
            }
        ));
        (s, u8::from(!v.is_empty()))
    } else {
        match format {
            Format::Svg => (svg::render(&tr, opts), 0),
            Format::Shiviz => (shiviz::render(&tr), 0),
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
