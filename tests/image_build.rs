//! The image build without the image: `Dockerfile.alpine`'s cargo step, and what it ships.
//!
//! `rust:1.95-alpine` cannot be pulled everywhere these tests run, so its build is simulated
//! by its mechanism. On Alpine the host triple is `x86_64-unknown-linux-musl`: the target and
//! the host are one triple, and a `[target.<that triple>]` setting or a `--target`-less build
//! reaches the host's build scripts and proc-macros too. Here the same situation is made on
//! this host's own triple: the files the Dockerfile copies are put in a fresh directory, every
//! `x86_64-unknown-linux-musl` in its cargo step and in its cargo config becomes this host's
//! triple, and the step is run as the Dockerfile writes it. A test of the test runs the line
//! and config of before (no `--target`, a non-PIC relocation model for the musl triple), which
//! broke every online build: it must fail.
//!
//! Then the binary the image ships: a static PIE (ASLR for its own code too), made by the
//! toolchain that src/layout/hot-symbols.txt was made with, whose names it still defines.

use std::path::{Path, PathBuf};
use std::process::Command;

const MUSL: &str = "x86_64-unknown-linux-musl";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// `rustc -vV`'s `host:` line.
fn host_triple() -> String {
    let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("-vV")
        .output()
        .expect("run rustc -vV");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .unwrap_or_else(|| panic!("no host line in rustc -vV:\n{text}"))
        .to_string()
}

/// The build stage of a Dockerfile: its image, the sources its `COPY`s take (the build
/// context's paths, never a `--from`), and its `RUN cargo ...` command (continuation lines
/// joined).
#[derive(Debug)]
struct BuildStage {
    from: String,
    copies: Vec<String>,
    cargo_step: String,
}

fn build_stage(dockerfile: &str) -> BuildStage {
    // Join continuation lines first, so that one instruction is one line.
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        if current.is_empty() && (line.trim_start().starts_with('#') || line.trim().is_empty()) {
            continue;
        }
        match line.trim_end().strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                instructions.push(std::mem::take(&mut current));
            }
        }
    }
    let stage: Vec<&String> = instructions
        .iter()
        .skip_while(|i| !i.starts_with("FROM "))
        .enumerate()
        .take_while(|(k, i)| *k == 0 || !i.starts_with("FROM "))
        .map(|(_, i)| i)
        .collect();
    let from = stage.first().expect("a FROM line")["FROM ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let mut copies = Vec::new();
    for i in &stage {
        if let Some(args) = i.strip_prefix("COPY ") {
            let words: Vec<&str> = args.split_whitespace().collect();
            assert!(
                !words[0].starts_with("--"),
                "a COPY with options in the build stage: {i}"
            );
            let (dest, sources) = words.split_last().expect("COPY with no arguments");
            for source in sources {
                // Copied to the same path under WORKDIR, so the context's layout is kept.
                assert!(
                    *dest == "./" || dest.trim_start_matches("./") == *source,
                    "a COPY that moves {source} to {dest}: the simulation keeps paths as they are"
                );
                copies.push(source.to_string());
            }
        }
    }
    let cargo_step = stage
        .iter()
        .find_map(|i| i.strip_prefix("RUN ").filter(|r| r.trim_start().starts_with("cargo ")))
        .expect("a `RUN cargo ...` line in the build stage")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    BuildStage {
        from,
        copies,
        cargo_step,
    }
}

/// A directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("peerlab-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The tracked files of the repository under `source` (a file or a folder), copied into `to`:
/// what a fresh clone has there, not what this work tree has built.
fn copy_tracked(source: &str, to: &Path) {
    let out = Command::new("git")
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--"])
        .arg(source)
        .current_dir(repo())
        .output()
        .expect("run git ls-files");
    assert!(out.status.success(), "git ls-files {source} failed: not a git checkout?");
    let files = String::from_utf8(out.stdout).unwrap();
    let mut n = 0;
    for f in files.split('\0').filter(|f| !f.is_empty()) {
        let from = repo().join(f);
        if !from.is_file() {
            continue; // deleted in the work tree
        }
        let dest = to.join(f);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&from, &dest).unwrap_or_else(|e| panic!("copy {f}: {e}"));
        n += 1;
    }
    assert!(n > 0, "the Dockerfile copies {source}, which the repository does not have");
}

/// What a simulated image build left: whether it worked, what it printed, and the binary the
/// image would get.
struct Built {
    ok: bool,
    log: String,
    binary: PathBuf,
    _dir: Scratch,
}

/// Runs `dockerfile`'s cargo step as a musl host runs it, on this host's triple: the build
/// context is what its COPY lines take from this repository, plus `extra` files (path,
/// contents) as if they were tracked; then every musl triple in the step and in the cargo
/// config is this host's.
fn simulate(name: &str, dockerfile: &str, extra: &[(&str, &str)]) -> Built {
    let stage = build_stage(dockerfile);
    let host = host_triple();
    let dir = Scratch::new(name);
    let src = dir.0.join("src");
    std::fs::create_dir_all(&src).unwrap();
    for c in &stage.copies {
        let given: Vec<_> = extra.iter().filter(|(p, _)| Path::new(p).starts_with(c)).collect();
        if given.is_empty() {
            copy_tracked(c, &src);
        }
        for (path, text) in given {
            let dest = src.join(path);
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::write(&dest, text.replace(MUSL, &host)).unwrap();
        }
    }
    // The image's root folder, where the step copies the binary.
    let root = dir.0.join("image-root");
    std::fs::create_dir_all(&root).unwrap();
    let step = stage
        .cargo_step
        .replace(MUSL, &host)
        .replace(" /process", &format!(" {}/process", root.display()));
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &step]).current_dir(&src);
    // Nothing of this build's own environment may reach it: the image build has none.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.contains("RUSTFLAGS") || k == "CARGO_TARGET_DIR" || k.starts_with("CARGO_BUILD_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd.output().expect("run sh");
    let log = format!(
        "$ {step}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Built {
        ok: out.status.success(),
        log,
        binary: root.join("process"),
        _dir: dir,
    }
}

#[test]
fn the_image_builds_cargo_step_works_where_host_and_target_are_one_triple() {
    let built = simulate("image-build", &read("Dockerfile.alpine"), &[]);
    assert!(built.ok, "Dockerfile.alpine's cargo step failed:\n{}", built.log);
    let help = Command::new(&built.binary)
        .arg("--help")
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}\n{}", built.binary.display(), built.log));
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.status.success() && text.starts_with("Usage: process"),
        "the built binary's --help:\n{text}{}",
        String::from_utf8_lossy(&help.stderr)
    );
}

/// The test of the test: the Dockerfile's cargo step and cargo config up to this change. On
/// Alpine the config's non-PIC relocation model reached serde_derive and argh_derive, which
/// then could not be linked as shared objects.
#[test]
fn the_old_step_and_config_fail_as_they_did_on_alpine() {
    const OLD_CONFIG: &str = "[target.x86_64-unknown-linux-musl]\n\
                              rustflags = [\"-C\", \"relocation-model=static\"]\n";
    // Today's Dockerfile with the old RUN line, and the old COPY of the config.
    let today = read("Dockerfile.alpine");
    let old_step = "cargo build --release --locked --bin process && cp target/release/process /process";
    let old = today
        .lines()
        .map(|l| match l {
            l if l.starts_with("RUN cargo ") => format!("RUN {old_step}"),
            l if l.starts_with(" && cp ") => String::new(),
            l if l.starts_with("COPY src ") => format!("COPY .cargo ./.cargo\n{l}"),
            l => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(build_stage(&old).cargo_step, old_step, "the old line was not put in");
    let built = simulate("image-build-old", &old, &[(".cargo/config.toml", OLD_CONFIG)]);
    assert!(!built.ok, "the old step built: the simulation no longer shows the fault\n{}", built.log);
    assert!(
        built.log.contains("recompile with -fPIC") || built.log.contains("relocation R_X86_64"),
        "the old step failed, but not at linking a proc-macro without PIC:\n{}",
        built.log
    );
}

/// The image's tag names the Rust it builds with; src/layout/hot-symbols.txt's names carry a
/// toolchain's hashes, so the image must build with that toolchain, and the README says it.
#[test]
fn the_image_builds_with_the_toolchain_of_the_hot_symbol_list() {
    let stage = build_stage(&read("Dockerfile.alpine"));
    let version = stage
        .from
        .strip_prefix("rust:")
        .and_then(|t| t.strip_suffix("-alpine"))
        .unwrap_or_else(|| panic!("the build stage is not rust:X.Y-alpine: {}", stage.from));
    assert!(
        version.split('.').count() >= 2 && version.split('.').all(|p| p.parse::<u32>().is_ok()),
        "the image's Rust is not pinned to a version: {}",
        stage.from
    );
    let list = read("src/layout/hot-symbols.txt");
    let made_with = list
        .lines()
        .next()
        .and_then(|l| l.split("rustc ").nth(1))
        .map(|v| v.trim_end_matches(|c: char| !c.is_ascii_digit()))
        .expect("hot-symbols.txt's first line names the rustc that made it");
    assert!(
        made_with == version || made_with.starts_with(&format!("{version}.")),
        "Dockerfile.alpine builds with Rust {version}, hot-symbols.txt was made with rustc {made_with}: \
         pin the image to that release or run scripts/hot-symbols.sh with the image's"
    );
    let readme = read("README.md");
    assert!(
        readme.contains(&format!("`{}`", stage.from)) && readme.contains(&format!("Rust {version}")),
        "the README must name the image's Rust ({}, Rust {version})",
        stage.from
    );
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// The binary the image ships, as the offline path builds it (Dockerfile.prebuilt takes
/// exactly this file): a static PIE, so its own code is at a random address too.
#[test]
fn the_shipped_binary_is_a_static_pie() {
    let out = cargo()
        .args(["build", "--release", "--locked", "--target", MUSL, "--bin", "process"])
        .current_dir(repo())
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "building the musl binary failed (is the target installed? `rustup target add {MUSL}`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let target = std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into());
    let path = repo().join(target).join(MUSL).join("release/process");
    let elf = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let (kind, interp) = elf_kind_and_interpreter(&elf);
    assert_eq!(kind, 3, "{}: not ET_DYN (a position-independent executable)", path.display());
    assert!(!interp, "{}: has a program interpreter (not static)", path.display());
}

/// The ELF header's e_type and whether a PT_INTERP program header is present (64-bit,
/// little-endian: the musl target's).
fn elf_kind_and_interpreter(elf: &[u8]) -> (u16, bool) {
    assert!(elf.len() > 64 && &elf[..4] == b"\x7fELF" && elf[4] == 2 && elf[5] == 1, "not a 64-bit LE ELF");
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap());
    let phoff = u64_at(32) as usize;
    let (phentsize, phnum) = (u16_at(54) as usize, u16_at(56) as usize);
    const PT_INTERP: u32 = 3;
    let interp = (0..phnum).any(|k| u32_at(phoff + k * phentsize) == PT_INTERP);
    (u16_at(16), interp)
}

/// src/layout/hot-symbols.txt cannot go stale silently: `scripts/hot-symbols.sh --check`
/// builds the binary with its symbols and fails under 90% of the list's names found, saying
/// how to make it again. Its test: a list of names no binary has fails it.
#[test]
fn the_hot_symbol_list_is_not_stale() {
    let check = |list: Option<&Path>| {
        let mut cmd = Command::new("bash");
        cmd.args(["scripts/hot-symbols.sh", "--check"]).current_dir(repo());
        if let Some(l) = list {
            cmd.env("HOT_SYMBOLS", l);
        }
        let out = cmd.output().expect("run scripts/hot-symbols.sh");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, text) = check(None);
    assert!(ok, "{text}");
    println!("{}", text.trim());

    let stale = Scratch::new("hot-symbols-stale");
    let list = stale.0.join("hot-symbols.txt");
    let mut fake = read("src/layout/hot-symbols.txt");
    for k in 0..100 {
        fake.push_str(&format!("_RNvCs0000000000_7peerlab{k}gone\n"));
    }
    std::fs::write(&list, fake).unwrap();
    let (ok, text) = check(Some(&list));
    assert!(!ok && text.contains("scripts/hot-symbols.sh"), "a stale list passed:\n{text}");
}
