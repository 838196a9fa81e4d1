//! End-to-end tests on a real Docker engine, through the real `docker` and `docker compose`
//! CLIs: the image and both Dockerfiles on a fresh clone, the handout's compose mesh (start
//! order, restart, health, stop time), Lab 1 in compose, and both stacks on a single-node
//! Swarm. They need an engine: without one they fail and say how to get one
//! (`scripts/setup-docker.sh` as root on Debian, or any running Docker with Compose v2).
//!
//! The tests share container names (p1, p2, p3), so they take turns on one lock, and each
//! tears down what it started, even when it fails (guards with `Drop`).

mod util;

use util::eventually;

use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

const IMAGE: &str = "peerlab:latest";
const PROJECT: &str = "peerlab-e2e";
const STACK: &str = "peerlab-e2e-stack";
/// The issue's goals, checked as stated.
const FIRST_MESSAGES_WITHIN: Duration = Duration::from_secs(5);
const DOWN_WITHIN: Duration = Duration::from_secs(2);
/// 600 KiB was the goal until Lab 1's timeline renderer (`process timeline`, 68 KiB) joined the
/// binary: the renderer must be in the image for the containers' figure (README, "Lab report
/// figures", says what it costs and why). No more growth than that.
const MAX_IMAGE_BYTES: u64 = 680 * 1024;

fn engine_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn run(program: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}. {}", HOW_TO_GET_DOCKER))
}

const HOW_TO_GET_DOCKER: &str = "These tests need a Docker engine with Compose v2: \
     on Debian, run `scripts/setup-docker.sh` as root (it installs docker.io and Compose and \
     starts dockerd), or start Docker yourself (https://docs.docker.com/engine/install/).";

/// Runs a command and insists it succeeds.
fn ok(program: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = run(program, args, env);
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({:?}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).replace('\r', "")
}

/// Whether `docker build` can use BuildKit (the CLI needs its buildx plugin for that).
fn buildx() -> bool {
    run("docker", &["buildx", "version"], &[]).status.success()
}

/// The offline image (Dockerfile.prebuilt, no base image), and the classic builder when
/// BuildKit's buildx is missing.
fn build_env() -> Vec<(&'static str, &'static str)> {
    let mut env = vec![("PEERLAB_DOCKERFILE", "Dockerfile.prebuilt")];
    if !buildx() {
        env.push(("DOCKER_BUILDKIT", "0"));
    }
    env
}

/// Where the README's `cargo build --release --target x86_64-unknown-linux-musl` puts the
/// binary (relative to the package, which is where tests run).
fn musl_binary() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into());
    std::path::Path::new(&target).join("x86_64-unknown-linux-musl/release/process")
}

/// Checks the engine once, builds the musl binary and the image once per test run.
fn image() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let info = run("docker", &["info", "--format", "{{.ServerVersion}}"], &[]);
        assert!(
            info.status.success(),
            "No Docker engine is reachable ({}). {HOW_TO_GET_DOCKER}",
            String::from_utf8_lossy(&info.stderr).trim()
        );
        let compose = run("docker", &["compose", "version"], &[]);
        assert!(
            compose.status.success(),
            "`docker compose` (v2) is missing. {HOW_TO_GET_DOCKER}"
        );
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = run(
            &cargo,
            &[
                "build",
                "--release",
                "--locked",
                "--target",
                "x86_64-unknown-linux-musl",
            ],
            &[],
        );
        assert!(
            out.status.success(),
            "building the static binary failed (is the target installed? \
             `rustup target add x86_64-unknown-linux-musl`):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env = build_env();
        let args = ["build", "-f", "Dockerfile.prebuilt", "-t", IMAGE, "."];
        ok("docker", &args, &env);
    });
}

/// `docker compose -p peerlab-e2e ...` on the project's compose file.
fn compose(args: &[&str]) -> String {
    compose_file("docker-compose.yml", PROJECT, args)
}

fn compose_file(file: &str, project: &str, args: &[&str]) -> String {
    let mut a = vec!["compose", "-f", file, "-p", project];
    a.extend_from_slice(args);
    ok("docker", &a, &build_env())
}

/// Brings a compose project (file, name) down when dropped, whatever happened.
struct ComposeProject(&'static str, &'static str);

const MESH: ComposeProject = ComposeProject("docker-compose.yml", PROJECT);

impl Drop for ComposeProject {
    fn drop(&mut self) {
        let args = [
            "compose",
            "-f",
            self.0,
            "-p",
            self.1,
            "down",
            "-t",
            "1",
            "--remove-orphans",
        ];
        let _ = run("docker", &args, &[]);
    }
}

/// Waits until every container is healthy.
fn wait_healthy(containers: &[&str]) {
    let mut states: Vec<String> = Vec::new();
    let healthy = eventually(Duration::from_secs(30), || {
        states = containers
            .iter()
            .map(|c| {
                let f = ["inspect", "-f", "{{.State.Health.Status}}", c];
                ok("docker", &f, &[]).trim().to_string()
            })
            .collect();
        states.iter().all(|s| s == "healthy").then_some(())
    });
    assert!(
        healthy.is_some(),
        "not all healthy: {containers:?} {states:?}"
    );
}

fn logs(service: &str) -> Vec<String> {
    compose(&["logs", "--no-color", "--no-log-prefix", service])
        .lines()
        .map(str::to_string)
        .collect()
}

/// Whether `lines` show at least `n` counters received from `peer` (as written in the args).
fn heard(lines: &[String], peer: &str, n: usize) -> bool {
    let needle = format!(" from {peer} (");
    lines
        .iter()
        .filter(|l| l.starts_with("Received ") && l.contains(&needle))
        .count()
        >= n
}

const PEERS: [(&str, &str); 3] = [("p1", "p1:10002"), ("p2", "p2:10003"), ("p3", "p3:10004")];

/// Waits until every service has heard from both others; returns how long it took.
fn wait_mesh(since: Instant, limit: Duration, logs: impl Fn(&str) -> Vec<String>) -> Duration {
    let left = limit.saturating_sub(since.elapsed());
    let done = eventually(left, || {
        let all = PEERS.iter().all(|(svc, me)| {
            let l = logs(svc);
            PEERS
                .iter()
                .filter(|(_, p)| p != me)
                .all(|(_, p)| heard(&l, p, 1))
        });
        all.then(|| since.elapsed())
    });
    done.unwrap_or_else(|| {
        let dump: Vec<String> = PEERS
            .iter()
            .map(|(s, _)| format!("--- {s}\n{}", logs(s).join("\n")))
            .collect();
        panic!(
            "not every peer heard from both others within {limit:?}:\n{}",
            dump.join("\n")
        );
    })
}

#[test]
fn image_is_small_and_runs_like_the_handout() {
    let _engine = engine_lock();
    image();
    let size: u64 = ok(
        "docker",
        &["image", "inspect", "-f", "{{.Size}}", IMAGE],
        &[],
    )
    .trim()
    .parse()
    .unwrap();
    println!("image size: {size} bytes");
    assert!(
        size <= MAX_IMAGE_BYTES,
        "image is {size} bytes, goal {MAX_IMAGE_BYTES}"
    );
    let cfg = ok(
        "docker",
        &[
            "image",
            "inspect",
            "-f",
            "{{.Config.User}} {{json .Config.Entrypoint}}",
            IMAGE,
        ],
        &[],
    );
    assert_eq!(cfg.trim(), "10001:10001 [\"/process\"]");

    // The handout: `docker run p1 127.0.0.1:10002 127.0.0.1:10003` reports the absent peer.
    let name = "peerlab-e2e-run";
    let _ = run("docker", &["rm", "-f", name], &[]);
    let mut p = util::Proc::start_cmd(
        "docker run",
        "docker",
        &[
            "run",
            "--rm",
            "--name",
            name,
            IMAGE,
            "127.0.0.1:10002",
            "127.0.0.1:10003",
        ],
    );
    p.wait_for(|l| l == "peer 127.0.0.1:10003 down: connection refused");
    let t = Instant::now();
    ok("docker", &["stop", "-t", "10", name], &[]);
    let took = t.elapsed();
    p.wait_exit(util::PATIENCE).expect("docker run ends");
    p.wait_for(|l| l.starts_with("summary after"));
    println!("docker stop: {took:?}");
    assert!(
        took < DOWN_WITHIN,
        "docker stop took {took:?}: PID 1 must stop on SIGTERM"
    );
}

/// A copy of the files git tracks (and untracked ones it does not ignore) of this checkout in
/// a temporary directory: what a fresh clone holds, without `target/`. Removed when dropped.
struct FreshTree(std::path::PathBuf);

impl FreshTree {
    fn new() -> FreshTree {
        let dir = std::env::temp_dir().join(format!("peerlab-fresh-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let tree = FreshTree(dir);
        let files = ok(
            "git",
            &[
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ],
            &[],
        );
        for f in files.split('\0').filter(|f| !f.is_empty()) {
            let from = std::path::Path::new(f);
            if !from.is_file() {
                continue; // deleted in the work tree
            }
            let to = tree.0.join(f);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(from, &to).unwrap_or_else(|e| panic!("copy {f}: {e}"));
        }
        assert!(
            tree.0.join("Dockerfile.alpine").is_file(),
            "not a git checkout?"
        );
        assert!(!tree.0.join("target").exists());
        tree
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for FreshTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Builds in `dir`; returns whether it succeeded and everything it printed.
fn build_in(dir: &str, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new("docker")
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run docker: {e}. {HOW_TO_GET_DOCKER}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The image's user and entry point, as both Dockerfiles set them.
fn assert_image_config(image: &str) {
    let f = "{{.Config.User}} {{json .Config.Entrypoint}}";
    let cfg = ok("docker", &["image", "inspect", "-f", f, image], &[]);
    assert_eq!(cfg.trim(), "10001:10001 [\"/process\"]", "{image}");
}

/// The README's image commands on a fresh clone (the tracked files only, so no `target/`),
/// with the classic builder (`DOCKER_BUILDKIT=0 docker build`) and with BuildKit (`docker
/// build` where the buildx plugin is installed, and always `docker compose build`, whose own
/// BuildKit client needs no plugin).
///
/// - Offline: after the README's `cargo build --release --target x86_64-unknown-linux-musl`
///   (its binary copied in), Dockerfile.prebuilt builds the image with every builder.
/// - Dockerfile.alpine: `rust:1-alpine` cannot be pulled where this suite was written (no
///   registry access), so there the build cannot complete and this test does NOT show that it
///   compiles. It checks that the Dockerfile is sound up to that point: the first and only
///   thing each builder does is fetch `rust:1-alpine`, and the build does not stop at a COPY
///   of a host binary, as the classic builder did while the offline stage lived in this file.
///   Where the pull works, the build must succeed and give an image like the offline one.
#[test]
fn dockerfiles_build_on_a_fresh_clone_with_either_builder() {
    let _engine = engine_lock();
    image(); // also builds the musl binary
    let tree = FreshTree::new();
    let dir = tree.path();
    let tag = "peerlab-e2e-fresh";
    let classic = [("DOCKER_BUILDKIT", "0")];
    let buildkit = [("DOCKER_BUILDKIT", "1")];

    // Dockerfile.alpine, classic builder: the README's first command.
    let (built, out) = build_in(
        dir,
        &["build", "-f", "Dockerfile.alpine", "-t", tag, "."],
        &classic,
    );
    assert!(!out.contains("COPY failed"), "{out}");
    if built {
        assert_image_config(tag);
    } else {
        let last_step = out.lines().rfind(|l| l.starts_with("Step "));
        assert!(
            last_step.is_some_and(|l| l.starts_with("Step 1/") && l.contains("FROM rust:1-alpine")),
            "the classic build of Dockerfile.alpine must fail only at pulling rust:1-alpine:\n{out}"
        );
        println!("Dockerfile.alpine, classic builder: stops at the pull of rust:1-alpine (no registry here)");
    }

    // Dockerfile.alpine, BuildKit (through compose, the README's `docker compose up --build`).
    let compose_build = |env: &[(&str, &str)]| {
        let args = ["compose", "-p", "peerlab-e2e-fresh", "build", "p1"];
        build_in(dir, &args, env)
    };
    let (built, out) = compose_build(&buildkit);
    assert!(
        out.contains("load metadata for docker.io/library/rust:1-alpine"),
        "not BuildKit?\n{out}"
    );
    if built {
        assert_image_config(IMAGE);
    } else {
        assert!(
            !out.contains("failed to compute cache key")
                && out.lines().any(|l| l.contains("ERROR") && l.contains("rust")),
            "the BuildKit build of Dockerfile.alpine must fail only at fetching rust:1-alpine:\n{out}"
        );
        println!("Dockerfile.alpine, BuildKit (compose): stops at fetching rust:1-alpine");
    }

    // The offline path: the host's musl binary, then Dockerfile.prebuilt.
    let bin = tree
        .0
        .join("target/x86_64-unknown-linux-musl/release/process");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::copy(musl_binary(), &bin).expect("copy the musl binary");
    let prebuilt = ["build", "-f", "Dockerfile.prebuilt", "-t", tag, "."];
    let mut builders = vec![("classic", &classic[..])];
    if buildx() {
        builders.push(("BuildKit", &buildkit[..]));
    } else {
        println!("docker build with BuildKit: skipped, the buildx plugin is not installed");
    }
    for (name, env) in builders {
        let _ = run("docker", &["image", "rm", "-f", tag], &[]);
        let (built, out) = build_in(dir, &prebuilt, env);
        assert!(built, "Dockerfile.prebuilt, {name} builder:\n{out}");
        assert_image_config(tag);
        println!("Dockerfile.prebuilt, {name} builder: built");
    }
    let (built, out) = compose_build(&[
        ("DOCKER_BUILDKIT", "1"),
        ("PEERLAB_DOCKERFILE", "Dockerfile.prebuilt"),
    ]);
    assert!(
        built && out.contains("load build definition from Dockerfile.prebuilt"),
        "{out}"
    );
    assert_image_config(IMAGE);
    let (built, out) = compose_build(&[
        ("DOCKER_BUILDKIT", "0"),
        ("PEERLAB_DOCKERFILE", "Dockerfile.prebuilt"),
    ]);
    assert!(built, "{out}");
    assert_image_config(IMAGE);
    println!(
        "Dockerfile.prebuilt, docker compose build: built with BuildKit and the classic builder"
    );
    let _ = run("docker", &["image", "rm", "-f", tag], &[]);
}

#[test]
fn compose_mesh_survives_any_start_order_and_a_restart_and_stops_fast() {
    let _engine = engine_lock();
    image();
    let _project = MESH;
    let _ = run("docker", &["rm", "-f", "p1", "p2", "p3"], &[]);

    // The whole project at once, as a user runs it.
    let t = Instant::now();
    compose(&["up", "-d", "--build"]);
    let first = wait_mesh(t, FIRST_MESSAGES_WITHIN, logs);
    println!("compose up: every peer heard from both others {first:?} after `up` returned");

    // Health: the binary checks itself (scratch has no shell).
    wait_healthy(&["p1", "p2", "p3"]);
    let ps = compose(&["ps"]);
    assert_eq!(ps.matches("(healthy)").count(), 3, "{ps}");

    // `docker restart p2`: p1 and p3 say it went down and came back, and hear it again.
    let t = Instant::now();
    ok("docker", &["restart", "p2"], &[]);
    for svc in ["p1", "p3"] {
        let left = (FIRST_MESSAGES_WITHIN + Duration::from_secs(5)).saturating_sub(t.elapsed());
        let back = eventually(left, || {
            let l = logs(svc);
            let down = l.iter().position(|x| x.starts_with("peer p2:10003 down"));
            let up = l.iter().rposition(|x| x == "peer p2:10003 up");
            let again = l
                .iter()
                .any(|x| x.starts_with("Received 0 from p2:10003 (") && x.ends_with("[restarted]"));
            (matches!((down, up), (Some(d), Some(u)) if d < u) && again).then_some(())
        });
        assert!(
            back.is_some(),
            "{svc} after restart of p2:\n{}",
            logs(svc).join("\n")
        );
        println!(
            "{svc}: p2 down, up and heard again {:?} after `docker restart p2` began",
            t.elapsed()
        );
    }

    // `docker compose down`: the peers are PID 1 and stop on SIGTERM at once.
    let t = Instant::now();
    compose(&["down"]);
    let took = t.elapsed();
    println!("docker compose down: {took:?}");
    assert!(took < DOWN_WITHIN, "docker compose down took {took:?}");
}

#[test]
fn compose_peers_started_in_reverse_order_find_each_other() {
    let _engine = engine_lock();
    image();
    let _project = MESH;
    let _ = run("docker", &["rm", "-f", "p1", "p2", "p3"], &[]);
    compose(&["up", "-d", "--no-build", "p3"]);
    // p3 alone: the others' names do not resolve yet; it keeps trying.
    let retrying = eventually(util::PATIENCE, || {
        logs("p3")
            .iter()
            .any(|l| l.starts_with("peer p1:10002 does not resolve yet"))
            .then_some(())
    });
    assert!(retrying.is_some(), "p3: {:?}", logs("p3"));
    thread::sleep(Duration::from_secs(1));
    compose(&["up", "-d", "--no-build", "p2"]);
    thread::sleep(Duration::from_secs(1));
    let t = Instant::now();
    compose(&["up", "-d", "--no-build", "p1"]);
    let took = wait_mesh(t, FIRST_MESSAGES_WITHIN, logs);
    println!("reverse start: mesh complete {took:?} after the last peer started");
}

/// Leaves the swarm (if this test started it) and removes the stack when dropped.
struct Swarm {
    stack: &'static str,
    started_here: bool,
}

impl Swarm {
    /// Makes this engine a single-node swarm if it is not one yet.
    fn join(stack: &'static str) -> Swarm {
        let state = ok("docker", &["info", "-f", "{{.Swarm.LocalNodeState}}"], &[]);
        let started_here = state.trim() != "active";
        if started_here {
            ok(
                "docker",
                &[
                    "swarm",
                    "init",
                    "--advertise-addr",
                    "127.0.0.1",
                    "--default-addr-pool",
                    "198.18.128.0/17",
                ],
                &[],
            );
        }
        Swarm {
            stack,
            started_here,
        }
    }

    /// The stack's running containers (one per task).
    fn containers(&self) -> Vec<String> {
        let label = format!("label=com.docker.stack.namespace={}", self.stack);
        ok("docker", &["ps", "-q", "-f", &label], &[])
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        let stack = self.stack;
        let _ = run("docker", &["stack", "rm", stack], &[]);
        // Stack removal is asynchronous: wait for its containers and network to go.
        eventually(Duration::from_secs(30), || {
            let c = run(
                "docker",
                &[
                    "ps",
                    "-aq",
                    "-f",
                    &format!("label=com.docker.stack.namespace={stack}"),
                ],
                &[],
            );
            let n = run(
                "docker",
                &[
                    "network",
                    "ls",
                    "-q",
                    "-f",
                    &format!("label=com.docker.stack.namespace={stack}"),
                ],
                &[],
            );
            (c.stdout.is_empty() && n.stdout.is_empty()).then_some(())
        });
        if self.started_here {
            let _ = run("docker", &["swarm", "leave", "--force"], &[]);
        }
    }
}

#[test]
fn swarm_stack_deploy_exchanges_counters() {
    let _engine = engine_lock();
    image();
    let _swarm = Swarm::join(STACK);
    ok(
        "docker",
        &["stack", "deploy", "-c", "docker-compose.yml", STACK],
        &[],
    );
    let container = |svc: &str| -> Option<String> {
        let out = ok(
            "docker",
            &[
                "ps",
                "-q",
                "-f",
                &format!("label=com.docker.swarm.service.name={STACK}_{svc}"),
            ],
            &[],
        );
        out.lines().next().map(str::to_string)
    };
    let swarm_logs = |svc: &str| -> Vec<String> {
        match container(svc) {
            Some(id) => ok("docker", &["logs", &id], &[])
                .lines()
                .map(str::to_string)
                .collect(),
            None => Vec::new(),
        }
    };
    // Swarm adds a task to its DNS only once it is healthy, so allow for the health checks.
    let took = wait_mesh(Instant::now(), Duration::from_secs(60), swarm_logs);
    println!("swarm: every peer heard from both others {took:?} after deploy");
}

/// The README's Lab 1 session: `docker attach p1`, type x, watch the shared resource; then p2
/// asks while p1 is inside and enters after it.
#[test]
fn lab1_compose_attach_type_x_and_the_resource_sees_it() {
    let _engine = engine_lock();
    image();
    let file = "docker-compose.lab1.yml";
    let project = "peerlab-e2e-lab";
    let _project = ComposeProject(file, project);
    let _ = run("docker", &["rm", "-f", "shared", "p1", "p2", "p3"], &[]);
    compose_file(file, project, &["up", "-d", "--build"]);
    wait_healthy(&["shared", "p1", "p2", "p3"]);
    let shared = || -> Vec<String> {
        ok("docker", &["logs", "shared"], &[])
            .lines()
            .map(str::to_string)
            .collect()
    };
    // docker attach wants a terminal: script(1) gives it one, our pipe is its keyboard.
    let attach = |c: &str| {
        util::Proc::start_piped(
            c,
            "script",
            &[
                "-qfec",
                &format!("docker attach --sig-proxy=false {c}"),
                "/dev/null",
            ],
        )
    };
    let mut p1 = attach("p1");
    let mut p2 = attach("p2");
    thread::sleep(Duration::from_millis(500));
    p1.type_line("x");
    let entered = |who: &str, limit| {
        eventually(limit, || {
            shared()
                .iter()
                .any(|l| l.starts_with(&format!("shared resource: process {who}")))
                .then_some(())
        })
        .is_some()
    };
    assert!(
        entered("1 entered (T=1,", util::PATIENCE),
        "shared: {:#?}\np1: {:#?}",
        shared(),
        p1.lines()
    );
    p1.wait_for(|l| l.contains("HELD] Entrei na CS"));
    p2.type_line("x");
    p1.wait_for(|l| l.contains("HELD] REQUEST from 2") && l.ends_with("deferred"));
    assert!(
        entered("2 entered", Duration::from_secs(15)),
        "shared: {:#?}",
        shared()
    );
    let log = shared();
    let p1_left = log
        .iter()
        .position(|l| l.starts_with("shared resource: process 1 left"))
        .expect("p1 left");
    let p2_in = log
        .iter()
        .position(|l| l.starts_with("shared resource: process 2 entered"))
        .unwrap();
    assert!(p1_left < p2_in, "{log:#?}");
    assert!(!log.iter().any(|l| l.contains("VIOLATION")), "{log:#?}");
    p1.kill9();
    p2.kill9();
}

/// docker-compose.lab1.yml with `extra` on top and an override in `dir` that makes every
/// process ask for the CS by itself (`--auto 1s`, keeping `--trace` when `trace`), up under
/// `project`; `down -v` and `dir` removed when dropped.
struct Lab1Auto {
    files: Vec<String>,
    env: Vec<(String, String)>,
    dir: std::path::PathBuf,
}

impl Lab1Auto {
    fn up(
        project: &str,
        dir: std::path::PathBuf,
        extra: &str,
        trace: bool,
        env: Vec<(String, String)>,
    ) -> Lab1Auto {
        let service = |id: u16| {
            let trace = if trace {
                format!(r#""--trace", "/trace/p{id}.jsonl", "#)
            } else {
                String::new()
            };
            format!(
                r#"  p{id}:
    command: ["mutex", {trace}"--auto", "1s", "--cs-time", "300ms", "--resource", "shared:10001", "{id}", "p1:10004", "p2:10003", "p3:10002"]
"#
            )
        };
        let overrides = dir.join("auto.yml");
        std::fs::write(
            &overrides,
            format!("services:\n{}{}{}", service(1), service(2), service(3)),
        )
        .unwrap();
        let files = [
            "docker-compose.lab1.yml",
            extra,
            overrides.to_str().unwrap(),
        ]
        .iter()
        .flat_map(|f| ["-f".to_string(), f.to_string()])
        .chain(["-p".to_string(), project.to_string()])
        .collect();
        let lab = Lab1Auto { files, env, dir };
        let _ = run("docker", &["rm", "-f", "shared", "p1", "p2", "p3"], &[]);
        let up = lab.compose(&["up", "-d"]);
        assert!(
            up.status.success(),
            "{}",
            String::from_utf8_lossy(&up.stderr)
        );
        lab
    }

    fn compose(&self, args: &[&str]) -> Output {
        let mut a = vec!["compose"];
        a.extend(self.files.iter().map(String::as_str));
        a.extend_from_slice(args);
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        run("docker", &a, &env)
    }

    /// A container's log lines (CR LF of a tty taken off).
    fn log(&self, container: &str) -> Vec<String> {
        ok("docker", &["logs", container], &[])
            .replace('\r', "")
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Lab1Auto {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-t", "1", "-v"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Lab 1 with a shared key in containers: docker-compose.lab1-key.yml on top of
/// docker-compose.lab1.yml hands every container the key as a secret file; every process and
/// the resource say the messages are authenticated, everyone enters (`--auto`, from an
/// override), and nothing is rejected (a key that did not reach a container would be).
#[test]
fn lab1_compose_with_a_shared_key_secret() {
    let _engine = engine_lock();
    image();
    let dir = std::env::temp_dir().join(format!("peerlab-lab1key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("lab1.key");
    std::fs::write(&key, "a group secret for the test\n").unwrap();
    // Readable by the containers' user (Compose mounts the file as it is).
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let lab = Lab1Auto::up(
        "peerlab-e2e-lab1key",
        dir,
        "docker-compose.lab1-key.yml",
        false,
        vec![("LAB1_KEY".into(), key.to_str().unwrap().into())],
    );
    let log = |c: &str| lab.log(c);
    let all_entered = eventually(Duration::from_secs(60), || {
        let l = log("shared");
        (1..=3)
            .all(|id| {
                let p = format!("shared resource: process {id} entered (T=");
                l.iter().any(|x| x.starts_with(&p))
            })
            .then_some(())
    });
    let dump = || {
        ["shared", "p1", "p2", "p3"]
            .iter()
            .map(|c| format!("--- {c}\n{}", log(c).join("\n")))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        all_entered.is_some(),
        "not every process entered:\n{}",
        dump()
    );
    for c in ["shared", "p1", "p2", "p3"] {
        let l = log(c);
        assert!(
            l.iter()
                .any(|x| x.contains("every message is authenticated with HMAC-SHA256")),
            "{c} has no key:\n{}",
            dump()
        );
        assert!(!l.iter().any(|x| x.starts_with("rejected ")), "{}", dump());
        assert!(!l.iter().any(|x| x.contains("VIOLATION")), "{}", dump());
    }
}

/// The figure of a Lab 1 run in containers, by the documented command: the processes of
/// docker-compose.lab1.yml write their traces to the shared tmpfs volume (stdout keeps the
/// text, for `docker attach`), and docker-compose.lab1-timeline.yml's `timeline` service draws
/// them: an SVG with the three processes, their CS bars and REQUEST/REPLY arrows; `--check`
/// finds nothing wrong.
#[test]
fn lab1_compose_timeline_of_the_run() {
    let _engine = engine_lock();
    image();
    let dir = std::env::temp_dir().join(format!("peerlab-lab1fig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Nobody types here: --auto asks for the CS (the trace options stay as in the file).
    let lab = Lab1Auto::up(
        "peerlab-e2e-lab1fig",
        dir.clone(),
        "docker-compose.lab1-timeline.yml",
        true,
        vec![],
    );
    let log = |c: &str| lab.log(c);
    let compose = |args: &[&str]| lab.compose(args);
    let entered = eventually(Duration::from_secs(60), || {
        let l = log("shared");
        (1..=3)
            .all(|id| {
                let p = format!("shared resource: process {id} left (T=");
                l.iter().any(|x| x.starts_with(&p))
            })
            .then_some(())
    });
    assert!(
        entered.is_some(),
        "not every process used the CS: {:#?}",
        log("shared")
    );
    // The attached terminal still shows the course's text, not JSON.
    assert!(
        log("p1").iter().any(|l| l.contains("Entrei na CS")),
        "{:#?}",
        log("p1")
    );
    assert!(
        !log("p1").iter().any(|l| l.starts_with('{')),
        "{:#?}",
        log("p1")
    );
    let t = Instant::now();
    let fig = compose(&["run", "--rm", "-T", "timeline"]);
    let svg = String::from_utf8_lossy(&fig.stdout).into_owned();
    assert!(
        fig.status.success(),
        "timeline: {}",
        String::from_utf8_lossy(&fig.stderr)
    );
    println!(
        "lab1 compose: the figure of the run drawn in {:?} ({} bytes)",
        t.elapsed(),
        svg.len()
    );
    assert!(
        svg.starts_with("<svg") || svg.starts_with("<?xml"),
        "{svg:.200}"
    );
    for p in ["P1", "P2", "P3"] {
        assert!(
            svg.contains(r#"class="proc" "#) && svg.contains(&format!(">{p}</text>")),
            "no line for {p}: {svg:.400}"
        );
    }
    assert!(
        svg.matches(r#"class="csbar""#).count() >= 3,
        "CS bars: {svg:.400}"
    );
    assert!(svg.contains("REQ(T="), "no REQUEST arrow");
    assert!(svg.contains(">REPLY<"), "no REPLY arrow");
    std::fs::write(dir.join("run.svg"), &svg).unwrap();
    let check = compose(&["run", "--rm", "-T", "timeline", "/trace", "--check"]);
    assert!(
        check.status.success(),
        "--check: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

/// Lab 1 on a single-node swarm: `docker stack deploy` of the same docker-compose.lab1.yml,
/// whose service names (shared, p1, p2, p3) are the names the processes use. Nobody types on
/// a swarm, so an override adds `--auto` (and a short CS) to each process's command; the
/// shared resource must see every process enter, and no VIOLATION. Tasks must become healthy
/// (their health command probes their own service name).
#[test]
fn lab1_swarm_stack_deploy_enters_the_cs() {
    let _engine = engine_lock();
    image();
    let stack = "peerlab-e2e-lab1";
    let swarm = Swarm::join(stack);
    let auto = |id: u16| {
        format!(
            r#"  p{id}:
    command: ["mutex", "--auto", "1s", "--cs-time", "300ms", "--resource", "shared:10001", "{id}", "p1:10004", "p2:10003", "p3:10002"]
"#
        )
    };
    let overrides =
        std::env::temp_dir().join(format!("peerlab-lab1-auto-{}.yml", std::process::id()));
    std::fs::write(
        &overrides,
        format!("services:\n{}{}{}", auto(1), auto(2), auto(3)),
    )
    .unwrap();
    let t = Instant::now();
    let deployed = run(
        "docker",
        &[
            "stack",
            "deploy",
            "-c",
            "docker-compose.lab1.yml",
            "-c",
            overrides.to_str().unwrap(),
            stack,
        ],
        &[],
    );
    let _ = std::fs::remove_file(&overrides);
    assert!(
        deployed.status.success(),
        "docker stack deploy: {}",
        String::from_utf8_lossy(&deployed.stderr)
    );
    // A tty service's logs can only be read raw.
    let logs = |svc: &str| -> Vec<String> {
        let out = run(
            "docker",
            &["service", "logs", "--raw", &format!("{stack}_{svc}")],
            &[],
        );
        String::from_utf8_lossy(&out.stdout)
            .replace('\r', "")
            .lines()
            .map(str::to_string)
            .collect()
    };
    let entered = |log: &[String], id: u16| {
        let prefix = format!("shared resource: process {id} entered (T=");
        log.iter().any(|l| l.starts_with(&prefix))
    };
    let mut first = None;
    loop {
        let log = logs("shared");
        if first.is_none() && (1..=3).any(|id| entered(&log, id)) {
            first = Some(t.elapsed());
        }
        if (1..=3).all(|id| entered(&log, id)) {
            break;
        }
        if t.elapsed() > Duration::from_secs(90) {
            let dump: Vec<String> = ["shared", "p1", "p2", "p3"]
                .iter()
                .map(|s| format!("--- {s}\n{}", logs(s).join("\n")))
                .collect();
            panic!("not every process entered the CS:\n{}", dump.join("\n"));
        }
        thread::sleep(Duration::from_millis(250));
    }
    println!(
        "lab1 swarm: first CS entry {:?}, every process entered {:?} after `docker stack deploy` began",
        first.unwrap(),
        t.elapsed()
    );
    // Health: every task's own check passes.
    let containers = swarm.containers();
    assert_eq!(containers.len(), 4, "{containers:?}");
    let t = Instant::now();
    for c in &containers {
        loop {
            let h = ok(
                "docker",
                &["inspect", "-f", "{{.State.Health.Status}}", c],
                &[],
            );
            if h.trim() == "healthy" {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(30), "{c}: {h}");
            thread::sleep(Duration::from_millis(250));
        }
    }
    let log = logs("shared");
    assert!(!log.iter().any(|l| l.contains("VIOLATION")), "{log:#?}");
    assert!(
        log.iter()
            .any(|l| l.starts_with("shared resource: process ") && l.contains(" left (T=")),
        "{log:#?}"
    );
}
