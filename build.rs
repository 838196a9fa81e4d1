//! Build script (where cargo looks for it; the image build copies it with `hot-symbols.txt`).
//! It changes nothing but the layout of the release binary for a musl target (and packs its
//! relocations, see below): when the
//! toolchain ships `rust-lld` (rustup's toolchains do), the `process` binary is linked with it
//! and `--symbol-ordering-file hot-symbols.txt`, so the functions a running peer executes sit together at the start of the text instead of
//! being spread over all of it. The kernel maps file-backed text a block of pages at a time
//! around each page that is touched, so the spread decides how much of the binary is resident
//! (see BENCHMARKS.md, Memory). Names missing from the binary are ignored (a list made with
//! another toolchain only loses the effect); `scripts/bench/hot-symbols.sh` makes the list again.
//! Without `rust-lld` the default linker is used, as before.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=hot-symbols.txt");
    println!("cargo:rerun-if-env-changed=PEERLAB_DEFAULT_LINK");
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    if env("CARGO_CFG_TARGET_ENV") != "musl"
        || env("CARGO_CFG_TARGET_OS") != "linux"
        || env("PROFILE") != "release"
        || std::env::var_os("PEERLAB_DEFAULT_LINK").is_some()
    {
        return;
    }
    let Ok(out) = Command::new(env("RUSTC"))
        .args(["--print", "sysroot"])
        .output()
    else {
        return;
    };
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let gcc_ld = sysroot.join(format!("lib/rustlib/{}/bin/gcc-ld", env("HOST")));
    if !gcc_ld.join("ld.lld").exists() {
        // Still a working binary, but its hot code is spread over the text again (more RSS).
        println!(
            "cargo:warning=no rust-lld in this toolchain ({}): the process binary is linked the default way, without hot-symbols.txt's layout",
            gcc_ld.display()
        );
        return;
    }
    let list = PathBuf::from(env("CARGO_MANIFEST_DIR")).join("hot-symbols.txt");
    for arg in [
        format!("-B{}", gcc_ld.display()),
        "-fuse-ld=lld".to_string(),
        format!("-Wl,--symbol-ordering-file={}", list.display()),
        "-Wl,--no-warn-symbol-ordering".to_string(),
        // The static PIE's relocations packed (DT_RELR, which musl 1.2.4+ applies at start):
        // 32 KiB of RELA entries, all read by every process as it starts, become 480 bytes.
        "-Wl,-z,pack-relative-relocs".to_string(),
    ] {
        println!("cargo:rustc-link-arg-bin=process={arg}");
    }
}
