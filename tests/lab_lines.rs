//! What a student sees in Lab 1 when something is missing: who has not replied, a resource
//! that is down, no keyboard, commands from a file. Real processes on 127.0.5x.x.

mod util;

use std::time::{Duration, Instant};

use util::{addrs, Proc, PATIENCE};

const BIN: &str = env!("CARGO_BIN_EXE_process");

/// While WANTED, a line every few seconds says who has not replied and whether it is down.
#[test]
fn a_waiting_process_says_who_has_not_replied() {
    let all = addrs(51, 3);
    // The resource and process 3 are not running: 3 is down, 2 answers.
    let mut p1 = Proc::start_piped(
        "p1",
        BIN,
        &[
            "mutex",
            "--resource",
            "127.0.51.1:10001",
            "1",
            &all[0],
            &all[1],
            &all[2],
        ],
    );
    let p2 = Proc::start_piped(
        "p2",
        BIN,
        &[
            "mutex",
            "--resource",
            "127.0.51.1:10001",
            "2",
            &all[0],
            &all[1],
            &all[2],
        ],
    );
    p1.wait_for(|l| l.contains("listening on"));
    p2.wait_for(|l| l.contains("listening on"));
    p1.type_line("x");
    let line = p1.wait_for(|l| l.contains("still waiting for the REPLY of"));
    assert!(
        line.contains("still waiting for the REPLY of 3 (down) to T=1 after"),
        "{line}"
    );
}

/// With the resource down, "connection refused" ends the wait for its ACK at once: a CS takes
/// about its CS time, not CS time plus twice the resource's patience (3 s each).
#[test]
fn a_resource_that_is_down_does_not_slow_the_cs() {
    let all = addrs(52, 2);
    let args = |id: &str| {
        vec![
            "mutex".to_string(),
            "--cs-time".into(),
            "300ms".into(),
            "--resource".into(),
            "127.0.52.1:10001".into(),
            id.into(),
            all[0].clone(),
            all[1].clone(),
        ]
    };
    let a1 = args("1");
    let a2 = args("2");
    let mut p1 = Proc::start_piped(
        "p1",
        BIN,
        &a1.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let p2 = Proc::start_piped(
        "p2",
        BIN,
        &a2.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    p1.wait_for(|l| l.contains("listening on"));
    p2.wait_for(|l| l.contains("listening on"));
    // Let both learn that nothing listens at the resource's address.
    std::thread::sleep(Duration::from_millis(300));
    p1.type_line("x");
    p1.wait_for(|l| l.contains("Entrei na CS"));
    let t = Instant::now();
    p1.wait_for(|l| l.contains("released:"));
    let cs = t.elapsed();
    assert!(
        cs < Duration::from_millis(2500),
        "the CS took {cs:?} with the resource down (300 ms asked)"
    );
    assert!(p1.count(|l| l.contains("did not acknowledge")) >= 1);
}

/// Stdin at /dev/null: one clear line that nothing can be typed, mentioning --auto.
#[test]
fn no_keyboard_is_said_clearly() {
    let all = addrs(53, 2);
    let p = Proc::start_cmd(
        "p1",
        "sh",
        &[
            "-c",
            &format!(
                "exec {BIN} mutex --resource 127.0.53.1:10001 1 {} {} </dev/null",
                all[0], all[1]
            ),
        ],
    );
    let l = p.wait_for(|l| l.starts_with("no keyboard"));
    assert!(l.contains("--auto"), "{l}");
}

/// A file on stdin is a keyboard too: its lines are typed at start.
#[test]
fn a_file_on_stdin_is_typed() {
    let all = addrs(54, 1);
    let dir = std::env::temp_dir().join(format!("peerlab-stdin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("keys.txt");
    std::fs::write(&file, "1\nx\n").unwrap();
    let p = Proc::start_cmd(
        "p1",
        "sh",
        &[
            "-c",
            &format!(
                "exec {BIN} mutex --resource 127.0.54.1:10001 1 {} < {}",
                all[0],
                file.display()
            ),
        ],
    );
    p.wait_for(|l| l.contains("internal event"));
    let l = p.wait_for(|l| l.contains("requesting the CS with T=2"));
    assert!(l.contains("no other process to ask"), "{l}");
    p.wait_for_within(PATIENCE, |l| l.contains("Entrei na CS"))
        .expect("alone, it enters at once");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `-h` is `--help` in every mode: usage on stdout, status 0.
#[test]
fn dash_h_is_help() {
    for args in [
        &["-h"][..],
        &["mutex", "-h"],
        &["shared-resource", "-h"],
        &["health", "-h"],
    ] {
        let out = std::process::Command::new(BIN).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with("Usage: process"), "{args:?}: {text}");
    }
}
