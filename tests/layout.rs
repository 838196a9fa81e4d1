//! The house's rule, checked on every `cargo test`: imports point only downward. It reads
//! every file under `src/`, maps it to its module, collects every path it names (`crate::…`,
//! `super::…`, `self::…`, a child module's name, and from the binary `peerlab::…`; in `use`
//! items and inline in code alike), resolves each to the longest module prefix that exists,
//! and fails on a circle between files or between systems (the top-level modules), and on
//! any import of the command line (`cli`) but the binary's `main.rs`. Test code (`#[cfg(test)]`
//! items and the files they declare) may point anywhere and is not read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A module path: the crate (`lib` or `bin`) and its segments.
type Module = Vec<String>;

fn name(m: &Module) -> String {
    if m.len() == 1 {
        format!("{}: (root)", m[0])
    } else {
        format!("{}: {}", m[0], m[1..].join("::"))
    }
}

/// The source with comments, string and char literals blanked (so a doc link or a message
/// names no module), and `#[cfg(test)]` items cut out.
fn code_of(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if b[i] == b'"'
            || (b[i] == b'r' && (b[i..].starts_with(b"r\"") || b[i..].starts_with(b"r#")))
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            // A string (raw or not): skipped to its end.
            if b[i] == b'r' {
                let mut hashes = 0;
                i += 1;
                while b[i] == b'#' {
                    hashes += 1;
                    i += 1;
                }
                i += 1; // the quote
                let end: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                while i < b.len() && !b[i..].starts_with(&end) {
                    i += 1;
                }
                i += end.len();
            } else {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            out.push_str("\"\"");
        } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 2] == b'\'' || (b[i + 1] == b'\\')) {
            // A char literal ('a', '\n', '\u{..}'); a lifetime is left alone.
            i += 1;
            while i < b.len() && b[i] != b'\'' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else {
            let c = src[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    cut_test_items(&out)
}

/// Cuts each item under `#[cfg(test)]` (up to its `;` or its closing brace).
fn cut_test_items(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at + "#[cfg(test)]".len()..];
        let b = item.as_bytes();
        let mut depth = 0usize;
        let mut end = b.len();
        for (j, &c) in b.iter().enumerate() {
            match c {
                b'{' => depth += 1,
                // The end of what holds a test-only field or statement.
                b'}' if depth == 0 => {
                    end = j;
                    break;
                }
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = j + 1;
                        break;
                    }
                }
                b';' | b',' if depth == 0 => {
                    end = j + 1;
                    break;
                }
                _ => {}
            }
        }
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// `mod x;` declarations outside test code (the files a module owns).
fn declared_mods(code: &str) -> Vec<String> {
    let mut mods = Vec::new();
    let words: Vec<&str> = code
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ';' || c == '{'))
        .filter(|w| !w.is_empty())
        .collect();
    for w in words.windows(2) {
        if w[0] == "mod" {
            if let Some(n) = w[1].strip_suffix(';') {
                mods.push(n.to_string());
            }
        }
    }
    mods
}

/// Every path the code names from a start word (`crate`, `super`, `self`, `peerlab` or a
/// child module), with `use` trees expanded: `a::{b::C, d}` gives `a::b::C` and `a::d`.
fn paths(code: &str, starts: &BTreeSet<String>) -> Vec<Vec<String>> {
    let b = code.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut found = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if ident(b[i]) && (i == 0 || !(ident(b[i - 1]) || b[i - 1] == b':')) {
            let mut j = i;
            while j < b.len() && ident(b[j]) {
                j += 1;
            }
            let word = &code[i..j];
            if starts.contains(word) && code[j..].starts_with("::") {
                let mut pre = vec![word.to_string()];
                tree(code, j, &mut pre, &mut found);
            }
            i = j;
        } else {
            i += 1;
        }
    }
    found
}

/// Reads `::seg::seg…` or `::{…}` from `at`, pushing each whole path onto `found`.
fn tree(code: &str, mut at: usize, pre: &mut Vec<String>, found: &mut Vec<Vec<String>>) -> usize {
    let b = code.as_bytes();
    let skip_ws = |mut k: usize| {
        while k < b.len() && b[k].is_ascii_whitespace() {
            k += 1;
        }
        k
    };
    let depth = pre.len();
    loop {
        at = skip_ws(at);
        if !code[at..].starts_with("::") {
            break;
        }
        at = skip_ws(at + 2);
        if at < b.len() && b[at] == b'{' {
            let depth = pre.len();
            at += 1;
            loop {
                at = skip_ws(at);
                if at >= b.len() || b[at] == b'}' {
                    at += 1;
                    break;
                }
                let s = at;
                while at < b.len() && (b[at].is_ascii_alphanumeric() || b[at] == b'_') {
                    at += 1;
                }
                pre.push(code[s..at].to_string());
                at = tree(code, at, pre, found);
                pre.truncate(depth);
                at = skip_ws(at);
                // `as x`, then a comma.
                while at < b.len() && b[at] != b',' && b[at] != b'}' {
                    at += 1;
                }
                if at < b.len() && b[at] == b',' {
                    at += 1;
                }
            }
            return at;
        }
        let s = at;
        while at < b.len() && (b[at].is_ascii_alphanumeric() || b[at] == b'_') {
            at += 1;
        }
        if s == at {
            break;
        }
        pre.push(code[s..at].to_string());
    }
    found.push(pre.clone());
    pre.truncate(depth);
    at
}

/// The result: the module graph's arrows at both granularities, or what is wrong.
fn check(files: &BTreeMap<String, String>) -> Result<(), String> {
    // Modules from the two crate roots, following `mod` declarations outside test code.
    let mut modules: BTreeMap<Module, String> = BTreeMap::new();
    let mut todo: Vec<(Module, String)> = Vec::new();
    for (krate, root) in [("lib", "src/lib.rs"), ("bin", "src/main.rs")] {
        if files.contains_key(root) {
            todo.push((vec![krate.to_string()], root.to_string()));
        }
    }
    while let Some((m, path)) = todo.pop() {
        let code = code_of(&files[&path]);
        let dir = if m.len() == 1 || path.ends_with("/mod.rs") {
            Path::new(&path).parent().unwrap().to_path_buf()
        } else {
            Path::new(&path).with_extension("")
        };
        for child in declared_mods(&code) {
            let a = dir
                .join(format!("{child}.rs"))
                .to_string_lossy()
                .into_owned();
            let b = dir
                .join(&child)
                .join("mod.rs")
                .to_string_lossy()
                .into_owned();
            let file = [a, b].into_iter().find(|f| files.contains_key(f));
            let Some(file) = file else {
                return Err(format!("{}: `mod {child};` has no file", path));
            };
            let mut cm = m.clone();
            cm.push(child);
            todo.push((cm, file));
        }
        modules.insert(m, code);
    }
    // Starting words of each module's paths: the roots, and its child modules' names.
    let starts_of = |m: &Module| {
        let mut starts: BTreeSet<String> = ["crate", "super", "self", "peerlab"]
            .into_iter()
            .map(String::from)
            .collect();
        starts.extend(
            modules
                .keys()
                .filter(|c| c.len() == m.len() + 1 && c.starts_with(m))
                .map(|c| c[m.len()].clone()),
        );
        starts
    };
    // The absolute path that `p`, written in `m`, names.
    let absolute = |m: &Module, p: &[String]| -> Module {
        let mut abs: Module = match p[0].as_str() {
            "crate" => vec![m[0].clone()],
            "peerlab" => vec!["lib".to_string()],
            "self" => m.clone(),
            "super" => m[..m.len().saturating_sub(1).max(1)].to_vec(),
            child => {
                let mut c = m.clone();
                c.push(child.to_string());
                c
            }
        };
        let mut rest = &p[1..];
        while p[0] == "super" && rest.first().map(String::as_str) == Some("super") {
            abs.truncate(abs.len().saturating_sub(1).max(1));
            rest = &rest[1..];
        }
        abs.extend(rest.iter().filter(|s| *s != "self").cloned());
        abs
    };
    // Re-exports (`pub use`, `pub(crate) use`): a module's face, not an arrow of its own; a
    // path through one is followed to where the name is defined.
    let mut faces: BTreeMap<(Module, String), Module> = BTreeMap::new();
    let mut bodies: BTreeMap<Module, String> = BTreeMap::new();
    for (m, code) in &modules {
        let mut body = String::new();
        let mut rest = code.as_str();
        while let Some(at) = find_reexport(rest) {
            body.push_str(&rest[..at]);
            let end = at + rest[at..].find(';').map_or(rest.len() - at, |e| e + 1);
            for p in paths(&rest[at..end], &starts_of(m)) {
                let abs = absolute(m, &p);
                faces.insert((m.clone(), abs[abs.len() - 1].clone()), abs);
            }
            rest = &rest[end..];
        }
        body.push_str(rest);
        bodies.insert(m.clone(), body);
    }
    let resolve = |mut abs: Module| -> Option<Module> {
        for _ in 0..8 {
            let n = (1..=abs.len())
                .rev()
                .find(|&n| modules.contains_key(&abs[..n]))?;
            match faces.get(&(abs[..n].to_vec(), abs.get(n).cloned().unwrap_or_default())) {
                Some(to) if n < abs.len() => {
                    let mut next = to.clone();
                    next.extend(abs[n + 1..].iter().cloned());
                    abs = next;
                }
                _ => return Some(abs[..n].to_vec()),
            }
        }
        None
    };

    // Arrows between modules (files).
    let mut arrows: BTreeMap<Module, BTreeMap<Module, Vec<String>>> = BTreeMap::new();
    for (m, code) in &bodies {
        for p in paths(code, &starts_of(m)) {
            let Some(target) = resolve(absolute(m, &p)) else {
                continue;
            };
            if target.len() == 1 || &target == m {
                continue;
            }
            arrows
                .entry(m.clone())
                .or_default()
                .entry(target)
                .or_default()
                .push(p.join("::"));
        }
    }

    let mut wrong = Vec::new();
    // Nothing but the binary's root imports the command line.
    let cli: Module = vec!["bin".to_string(), "cli".to_string()];
    for (from, to) in &arrows {
        for (target, names) in to {
            if target.starts_with(&cli) && !from.starts_with(&cli) && from.len() != 1 {
                wrong.push(format!(
                    "{} imports the command line ({}): only main.rs may",
                    name(from),
                    names.join(", ")
                ));
            }
        }
    }
    // Circles between files.
    let graph: BTreeMap<Module, BTreeSet<Module>> = arrows
        .iter()
        .map(|(f, t)| (f.clone(), t.keys().cloned().collect()))
        .collect();
    for c in circles(&graph) {
        wrong.push(format!("a circle between files: {}", describe(&c, &arrows)));
    }
    // Circles between systems (the top-level modules).
    let system = |m: &Module| m[..m.len().min(2)].to_vec();
    let mut sys: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    let mut sys_names: BTreeMap<Module, BTreeMap<Module, Vec<String>>> = BTreeMap::new();
    for (f, t) in &arrows {
        for (target, names) in t {
            let (a, b) = (system(f), system(target));
            if a != b {
                sys.entry(a.clone()).or_default().insert(b.clone());
                sys_names
                    .entry(a)
                    .or_default()
                    .entry(b)
                    .or_default()
                    .push(format!("{} -> {}", name(f), names.join(", ")));
            }
        }
    }
    for c in circles(&sys) {
        wrong.push(format!(
            "a circle between systems: {}",
            describe(&c, &sys_names)
        ));
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join("\n"))
    }
}

/// Where a `pub use` or `pub(…) use` starts in `code`.
fn find_reexport(code: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = code[from..].find("pub") {
        let at = from + at;
        let after = code[at + 3..].trim_start();
        let after = match after.strip_prefix('(') {
            Some(a) => a[a.find(')')? + 1..].trim_start(),
            None => after,
        };
        let word_start = at == 0 || !code.as_bytes()[at - 1].is_ascii_alphanumeric();
        if word_start && after.starts_with("use ") {
            return Some(at);
        }
        from = at + 3;
    }
    None
}

/// Each group of modules that reach one another (a circle).
fn circles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    // Simple and small: a module is in a circle with every module it reaches that reaches it.
    let reach = |from: &Module| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(m) = todo.pop() {
            for n in graph.get(&m).into_iter().flatten() {
                if seen.insert(n.clone()) {
                    todo.push(n.clone());
                }
            }
        }
        seen
    };
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for m in graph.keys() {
        if done.contains(m) {
            continue;
        }
        let r = reach(m);
        if !r.contains(m) {
            continue;
        }
        let group: Vec<Module> = r.iter().filter(|n| reach(n).contains(m)).cloned().collect();
        done.extend(group.iter().cloned());
        out.push(group);
    }
    out
}

fn describe(group: &[Module], arrows: &BTreeMap<Module, BTreeMap<Module, Vec<String>>>) -> String {
    let mut s = group.iter().map(name).collect::<Vec<_>>().join(", ");
    s.push_str(" (");
    let mut ties = Vec::new();
    for a in group {
        for b in group {
            if let Some(names) = arrows.get(a).and_then(|t| t.get(b)) {
                ties.push(format!("{} -> {}: {}", name(a), name(b), names.join(", ")));
            }
        }
    }
    s.push_str(&ties.join("; "));
    s.push(')');
    s
}

fn read_tree(dir: &Path, files: &mut BTreeMap<String, String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            read_tree(&p, files);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let rel = p.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap();
            files.insert(
                rel.to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            );
        }
    }
}

#[test]
fn imports_point_only_downward() {
    let mut files = BTreeMap::new();
    read_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    if let Err(e) = check(&files) {
        panic!("the house's rule is broken:\n{e}");
    }
}

#[test]
fn src_has_at_most_12_entries() {
    let n = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
        .unwrap()
        .count();
    assert!(
        n <= 12,
        "src/ has {n} entries: at most 12, a folder per system"
    );
}

fn fake(files: &[(&str, &str)]) -> BTreeMap<String, String> {
    files
        .iter()
        .map(|(p, s)| (p.to_string(), s.to_string()))
        .collect()
}

/// The test of the test: a circle, inline paths, `use` trees and `super::` are all seen.
#[test]
fn the_checker_finds_circles_and_imports_of_the_command_line() {
    let fine = fake(&[
        ("src/lib.rs", "pub mod a;\npub mod b;\n"),
        ("src/a/mod.rs", "mod x;\nuse crate::b::B;\n"),
        ("src/a/x.rs", "fn f() { super::super::b::g(); }\n"),
        ("src/b.rs", "pub struct B;\n/// crate::a::X in a comment\nconst S: &str = \"crate::a\";\n#[cfg(test)]\nmod tests { use crate::a::x; }\n"),
        ("src/main.rs", "mod cli;\nuse crate::cli::Args;\nuse peerlab::a;\n"),
        ("src/cli.rs", "use peerlab::b::B;\n"),
    ]);
    assert_eq!(check(&fine), Ok(()));

    // An inline path, no `use`: b -> a, and a -> b.
    let mut circle = fine.clone();
    circle.insert(
        "src/b.rs".into(),
        "pub struct B;\nfn g() -> crate::a::A { todo!() }\n".into(),
    );
    let e = check(&circle).unwrap_err();
    assert!(
        e.contains("a circle between files") && e.contains("lib: b -> lib: a"),
        "{e}"
    );
    assert!(e.contains("a circle between systems"), "{e}");

    // A `use` tree through `super` from a child: a::x -> b -> a::x.
    let mut deep = fine.clone();
    deep.insert("src/b.rs".into(), "use crate::{a::{x::Y as _}};\n".into());
    let e = check(&deep).unwrap_err();
    assert!(e.contains("lib: a::x") && e.contains("lib: b"), "{e}");

    // The library cannot name the binary's modules; a module of the binary importing the
    // command line is refused.
    let mut up = fine.clone();
    up.insert("src/main.rs".into(), "mod cli;\nmod modes;\n".into());
    up.insert("src/modes.rs".into(), "use crate::cli::Args;\n".into());
    let e = check(&up).unwrap_err();
    assert!(e.contains("bin: modes imports the command line"), "{e}");
}
