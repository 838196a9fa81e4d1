//! The image build without the image: `Dockerfile.alpine`'s cargo step, and what it ships.
//!
//! `rust:1.95.0-alpine` cannot be pulled everywhere these tests run, so its build is simulated
//! by its mechanism. The build context is what a fresh clone has (tracked files) less what
//! `.dockerignore` leaves out; the build stage's `COPY` lines take their sources from it into
//! a scratch folder (a missing source fails, as in Docker), and its `RUN` step runs there with
//! a clean environment. Two ways:
//!
//! - As a musl host runs it. On Alpine the host triple is `<arch>-unknown-linux-musl`: target
//!   and host are one triple, and a `[target.<that triple>]` setting or a `--target`-less
//!   build reaches the host's build scripts and proc-macros too. The same situation is made on
//!   this host's own triple: every `unknown-linux-musl` in the step and in the copied cargo
//!   config becomes this host's. A test of the test runs the step, config and ignore file of
//!   before (no `--target`, a non-PIC relocation model for the musl triple), which broke every
//!   online build: it must fail, at a proc-macro.
//! - As written, for this machine's musl target: that runs build.rs's link (rust-lld, the
//!   hot-symbol list), and its binary must be a static PIE (ASLR for its own code too).
//!
//! And the list of hot symbols: made by the toolchain the image pins, and not stale.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const MUSL: &str = "x86_64-unknown-linux-musl";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// `rustc -vV`'s `host:` and `release:` lines.
fn rustc_host_and_release() -> (String, String) {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("run rustc -vV");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap_or_else(|| panic!("no {k} line in rustc -vV:\n{text}"))
            .to_string()
    };
    (line("host: "), line("release: "))
}

/// The build stage of a Dockerfile: its image, the sources its `COPY`s take from the build
/// context, and its `RUN cargo ...` step (continuation lines joined, spaces collapsed).
#[derive(Debug)]
struct BuildStage {
    from: String,
    copies: Vec<String>,
    step: String,
}

fn build_stage(dockerfile: &str) -> BuildStage {
    // One instruction a line: continuation lines joined, comments dropped.
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        if line.trim_start().starts_with('#') || (current.is_empty() && line.trim().is_empty()) {
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
    let mut stage = instructions.iter().skip_while(|i| !i.starts_with("FROM "));
    let from = stage.next().expect("a FROM line")["FROM ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let mut copies = Vec::new();
    let mut step = None;
    for i in stage.take_while(|i| !i.starts_with("FROM ")) {
        let (op, args) = i.split_once(' ').unwrap_or((i, ""));
        match op {
            "COPY" => {
                let words: Vec<&str> = args.split_whitespace().collect();
                assert!(!words[0].starts_with("--"), "a COPY with options: {i}");
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
            "RUN" if args.trim_start().starts_with("apk ") => {} // the image's packages
            "RUN" => {
                assert!(step.is_none(), "two build steps: the simulation runs one");
                step = Some(args.split_whitespace().collect::<Vec<_>>().join(" "));
            }
            "WORKDIR" => {}
            // The image's environment would reach the build: the simulation has none of it.
            _ => panic!("an instruction the simulation does not model: {i}"),
        }
    }
    BuildStage {
        from,
        copies,
        step: step.expect("a RUN step in the build stage"),
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

/// What a fresh clone has: every tracked file (path -> bytes), with `changed` files in place of
/// (or beside) the tracked ones.
fn fresh_clone(changed: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
    let out = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(repo())
        .output()
        .expect("run git ls-files");
    assert!(
        out.status.success(),
        "git ls-files failed: not a git checkout?"
    );
    let mut files = BTreeMap::new();
    for f in String::from_utf8(out.stdout).unwrap().split('\0') {
        if let Ok(bytes) = std::fs::read(repo().join(f)) {
            files.insert(f.to_string(), bytes); // (a file deleted in the work tree is not)
        }
    }
    for (path, text) in changed {
        files.insert(path.to_string(), text.as_bytes().to_vec());
    }
    files
}

/// Whether `.dockerignore` (its patterns in order, the last match deciding, `!` re-including)
/// leaves `path` in the build context. Patterns are `*`, or paths (a folder holds what is
/// under it); anything else fails the test rather than be matched wrongly.
fn in_context(dockerignore: &str, path: &str) -> bool {
    let mut keep = true;
    for line in dockerignore.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (include, pattern) = match line.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, line),
        };
        let pattern = pattern.trim_start_matches("./").trim_end_matches('/');
        assert!(
            pattern == "*" || !pattern.contains(['*', '?', '[']),
            ".dockerignore pattern {line:?}: the simulation knows `*` and plain paths"
        );
        if pattern == "*" || path == pattern || path.starts_with(&format!("{pattern}/")) {
            keep = include;
        }
    }
    keep
}

/// How the step runs: as a musl host sees it (on this host's own triple), or as written.
#[derive(Clone, Copy, PartialEq)]
enum Triple {
    OfThisHost,
    AsWritten,
}

/// What a simulated image build left: whether it worked, what it printed, and the binary the
/// image would get.
struct Built {
    ok: bool,
    log: String,
    binary: PathBuf,
    _dir: Scratch,
}

/// Runs the build stage of `Dockerfile.alpine` as it is in a fresh clone with `changed` files.
fn simulate(name: &str, changed: &[(&str, &str)], triple: Triple) -> Built {
    let context = fresh_clone(changed);
    let text =
        |p: &str| String::from_utf8_lossy(context.get(p).map_or(&[][..], |v| v)).into_owned();
    let stage = build_stage(&text("Dockerfile.alpine"));
    let ignore = text(".dockerignore");
    let (host, _) = rustc_host_and_release();
    let host_env = host.split_once('-').expect("a triple").1; // unknown-linux-gnu
    let swap = |s: &str| match triple {
        Triple::OfThisHost => s.replace("unknown-linux-musl", host_env),
        Triple::AsWritten => s.to_string(),
    };

    let dir = Scratch::new(name);
    let work = dir.0.join("src"); // the image's WORKDIR
    for source in &stage.copies {
        let mut n = 0;
        for (path, bytes) in &context {
            if path != source && !path.starts_with(&format!("{source}/")) {
                continue;
            }
            if !in_context(&ignore, path) {
                continue;
            }
            let dest = work.join(path);
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            let is_cargo_config = path.starts_with(".cargo/config");
            if is_cargo_config {
                std::fs::write(&dest, swap(&String::from_utf8_lossy(bytes))).unwrap();
            } else {
                std::fs::write(&dest, bytes).unwrap();
            }
            n += 1;
        }
        assert!(
            n > 0,
            "COPY {source}: not in the build context (a fresh clone less .dockerignore)"
        );
    }
    // Cargo reads the config of every folder above the project too: none may be there.
    for above in dir.0.ancestors() {
        for f in ["config", "config.toml"] {
            let c = above.join(".cargo").join(f);
            assert!(
                !c.exists(),
                "{} would reach the simulated build",
                c.display()
            );
        }
    }

    // The image's root folder, where the step copies the binary.
    let root = dir.0.join("image-root");
    std::fs::create_dir_all(&root).unwrap();
    let step = swap(&stage.step).replace(" /process", &format!(" {}/process", root.display()));
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &step]).current_dir(&work).env_clear();
    // The image's environment has a toolchain and nothing else of this test's (no RUSTFLAGS,
    // CARGO_TARGET_DIR, RUSTUP_TOOLCHAIN, linker or profile settings).
    for k in ["PATH", "HOME", "RUSTUP_HOME", "CARGO_HOME"] {
        if let Some(v) = std::env::var_os(k) {
            cmd.env(k, v);
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

fn assert_runs_help(built: &Built) {
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

#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): release builds of the image step, with the image's Rust and the musl target"
)]
fn the_image_builds_cargo_step_works_where_host_and_target_are_one_triple() {
    let built = simulate("image-build", &[], Triple::OfThisHost);
    assert!(built.ok, "Dockerfile.alpine's step failed:\n{}", built.log);
    assert_runs_help(&built);
}

/// The test of the test: the Dockerfile step, cargo config and .dockerignore of before this
/// change, as tracked files of the clone. On Alpine the config's non-PIC relocation model
/// reached serde_derive and argh_derive, which then could not be linked as shared objects.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): release builds of the image step, with the image's Rust and the musl target"
)]
fn the_old_step_and_config_fail_as_they_did_on_alpine() {
    const OLD_CONFIG: &str = "[target.x86_64-unknown-linux-musl]\n\
                              rustflags = [\"-C\", \"relocation-model=static\"]\n";
    let today = read("Dockerfile.alpine");
    let old_dockerfile: String = today
        .lines()
        .filter(|l| !l.starts_with(" && "))
        .map(|l| match l {
            l if l.starts_with("RUN ") && !l.starts_with("RUN apk") => {
                "RUN cargo build --release --locked --bin process \\\n && cp target/release/process /process\n"
                    .to_string()
            }
            l if l.starts_with("COPY src ") => format!("COPY .cargo ./.cargo\n{l}\n"),
            l => format!("{l}\n"),
        })
        .collect();
    assert!(build_stage(&old_dockerfile)
        .step
        .starts_with("cargo build --release --locked --bin process &&"));
    let old_ignore = format!("{}!.cargo\n", read(".dockerignore"));
    let built = simulate(
        "image-build-old",
        &[
            ("Dockerfile.alpine", &old_dockerfile),
            (".cargo/config.toml", OLD_CONFIG),
            (".dockerignore", &old_ignore),
        ],
        Triple::OfThisHost,
    );
    assert!(
        !built.ok,
        "the old step built: the simulation no longer shows the fault\n{}",
        built.log
    );
    assert!(
        built.log.contains("recompile with -fPIC")
            && (built.log.contains("could not compile `serde_derive`")
                || built.log.contains("could not compile `argh_derive`")),
        "the old step failed, but not at linking a proc-macro without PIC:\n{}",
        built.log
    );
}

/// The step as written, for this machine's musl target: build.rs links it with the hot-symbol
/// list (which the image must therefore copy), and the binary is a static PIE.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): release builds of the image step, with the image's Rust and the musl target"
)]
fn the_image_builds_step_makes_a_static_pie() {
    let built = simulate("image-build-musl", &[], Triple::AsWritten);
    assert!(built.ok, "Dockerfile.alpine's step failed (is the target installed? `rustup target add {MUSL}`):\n{}", built.log);
    assert_runs_help(&built);
    let elf = std::fs::read(&built.binary).unwrap();
    assert_static_pie(&elf, &built.binary);
    assert_packed_relocations(&elf, &built.binary);
}

/// The image's tag names the Rust it builds with, to the patch release: hot-symbols.txt's names
/// carry that toolchain's hashes (another release renames every one, and the link then
/// silently loses the layout). The README says which.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): release builds of the image step, with the image's Rust and the musl target"
)]
fn the_image_builds_with_the_toolchain_of_the_hot_symbol_list() {
    let stage = build_stage(&read("Dockerfile.alpine"));
    let version = stage
        .from
        .strip_prefix("rust:")
        .and_then(|t| t.strip_suffix("-alpine"))
        .unwrap_or_else(|| panic!("the build stage is not rust:X.Y.Z-alpine: {}", stage.from));
    assert!(
        version.split('.').count() == 3 && version.split('.').all(|p| p.parse::<u32>().is_ok()),
        "the image's Rust is not pinned to a release: {}",
        stage.from
    );
    assert_eq!(
        list_toolchain(),
        version,
        "Dockerfile.alpine builds with Rust {version}, hot-symbols.txt was made with another: \
         pin the image to the list's release, or make the list again with the image's"
    );
    let readme = read("README.md");
    assert!(
        readme.contains(&format!("`{}`", stage.from))
            && readme.contains(&format!("Rust {version}")),
        "the README must name the image's Rust ({}, Rust {version})",
        stage.from
    );
}

/// The rustc release named in hot-symbols.txt's first line.
fn list_toolchain() -> String {
    read("hot-symbols.txt")
        .lines()
        .next()
        .and_then(|l| l.split("rustc ").nth(1))
        .map(|v| {
            v.trim_end_matches(|c: char| !c.is_ascii_digit())
                .to_string()
        })
        .expect("hot-symbols.txt's first line names the rustc that made it")
}

/// The binary the offline path ships (Dockerfile.prebuilt takes exactly this file, built by
/// the README's `cargo build --release --target x86_64-unknown-linux-musl`): a static PIE.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): release builds of the image step, with the image's Rust and the musl target"
)]
fn the_offline_binary_is_a_static_pie() {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            MUSL,
            "--bin",
            "process",
        ])
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
    assert_static_pie(&elf, &path);
    assert_packed_relocations(&elf, &path);
}

/// build.rs links with `-z pack-relative-relocs`: the relative relocations a static PIE applies
/// at start are a DT_RELR bitmap (musl 1.2.4+ applies it), not 24-byte RELA entries that every
/// process reads at start (32 KiB of them before, resident in each).
fn assert_packed_relocations(elf: &[u8], path: &Path) {
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap());
    const PT_DYNAMIC: u32 = 2;
    const DT_RELASZ: u64 = 8;
    const DT_RELR: u64 = 36;
    let phoff = u64_at(32) as usize;
    let (phentsize, phnum) = (u16_at(54) as usize, u16_at(56) as usize);
    let dynamic = (0..phnum)
        .map(|k| phoff + k * phentsize)
        .find(|&h| u32_at(h) == PT_DYNAMIC)
        .unwrap_or_else(|| panic!("{}: no PT_DYNAMIC (not a static PIE)", path.display()));
    let (off, size) = (u64_at(dynamic + 8) as usize, u64_at(dynamic + 32) as usize);
    let tags: Vec<(u64, u64)> = (off..off + size)
        .step_by(16)
        .map(|e| (u64_at(e), u64_at(e + 8)))
        .take_while(|&(t, _)| t != 0)
        .collect();
    let rela = tags.iter().find(|t| t.0 == DT_RELASZ).map_or(0, |t| t.1);
    assert!(
        tags.iter().any(|t| t.0 == DT_RELR) && rela < 1024,
        "{}: relocations not packed (DT_RELR missing, or {rela} bytes of RELA): is build.rs's \
         -z pack-relative-relocs still passed to rust-lld?",
        path.display()
    );
}

/// ET_DYN (position-independent) and no PT_INTERP program header (static): 64-bit,
/// little-endian ELF, the musl target's.
fn assert_static_pie(elf: &[u8], path: &Path) {
    assert!(
        elf.len() > 64 && &elf[..4] == b"\x7fELF" && elf[4] == 2 && elf[5] == 1,
        "{}: not a 64-bit little-endian ELF",
        path.display()
    );
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap());
    const ET_DYN: u16 = 3;
    const PT_INTERP: u32 = 3;
    let phoff = u64_at(32) as usize;
    let (phentsize, phnum) = (u16_at(54) as usize, u16_at(56) as usize);
    let interp = (0..phnum).any(|k| u32_at(phoff + k * phentsize) == PT_INTERP);
    assert_eq!(
        u16_at(16),
        ET_DYN,
        "{}: not ET_DYN (a position-independent executable)",
        path.display()
    );
    assert!(
        !interp,
        "{}: has a program interpreter (not static)",
        path.display()
    );
}

/// hot-symbols.txt cannot go stale silently: `scripts/bench/hot-symbols.sh --check` builds the
/// binary with its symbols and fails under 90% of the list's names found, saying how to make
/// it again. Names carry the toolchain's hashes, so it runs with the list's Rust. Its own test:
/// a list with as many names no binary has as real ones fails it.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): release builds of the image step, with the image's Rust and the musl target"
)]
fn the_hot_symbol_list_is_not_stale() {
    let (_, release) = rustc_host_and_release();
    let made_with = list_toolchain();
    assert_eq!(
        release, made_with,
        "hot-symbols.txt was made with Rust {made_with} (the image's): its names can only be \
         checked with that toolchain (`rustup toolchain install {made_with}`, then \
         `cargo +{made_with} test --test image_build`)"
    );
    let check = |list: Option<&Path>| {
        let mut cmd = Command::new("bash");
        cmd.args(["scripts/bench/hot-symbols.sh", "--check"])
            .current_dir(repo());
        if let Some(l) = list {
            cmd.env("HOT_SYMBOLS", l);
        }
        let out = cmd.output().expect("run scripts/bench/hot-symbols.sh");
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
    let real = read("hot-symbols.txt");
    let mut fake = real.clone();
    for k in 0..real.lines().count() {
        fake.push_str(&format!("_RNvCs0000000000_7peerlab{k}gone\n"));
    }
    std::fs::write(&list, fake).unwrap();
    let (ok, text) = check(Some(&list));
    assert!(
        !ok && text.contains("scripts/bench/hot-symbols.sh"),
        "a stale list passed:\n{text}"
    );
}
