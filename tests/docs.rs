//! The README is a student's tour and docs/ holds the reference: the tour stays short, every
//! docs page is reachable from it, and no link in either points at nothing.

use std::path::Path;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The targets of the markdown links `[text](target)` in `text` that are files of the
/// repository (no scheme, no pure `#anchor`), without their `#anchor`.
fn local_links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(k) = rest.find("](") {
        rest = &rest[k + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = &rest[..end];
        if !target.contains("://") && !target.starts_with('#') && !target.contains(' ') {
            out.push(target.split('#').next().unwrap().to_string());
        }
    }
    out
}

fn pages() -> Vec<std::path::PathBuf> {
    let mut pages: Vec<_> = std::fs::read_dir(repo().join("docs"))
        .expect("read docs/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    pages.sort();
    pages
}

#[test]
fn the_readme_is_a_short_tour_that_links_every_docs_page() {
    let readme = read(&repo().join("README.md"));
    let lines = readme.lines().count();
    assert!(
        lines <= 250,
        "README.md has {lines} lines: at most 250 (move reference to docs/)"
    );
    let links = local_links(&readme);
    for page in pages() {
        let rel = format!("docs/{}", page.file_name().unwrap().to_string_lossy());
        assert!(links.contains(&rel), "README.md does not link {rel}");
    }
}

#[test]
fn every_local_link_in_the_readme_and_docs_points_at_a_file() {
    let mut files = vec![repo().join("README.md")];
    files.extend(pages());
    for file in files {
        let dir = file.parent().unwrap();
        for target in local_links(&read(&file)) {
            assert!(
                dir.join(&target).exists(),
                "{} links {target}, which does not exist",
                file.display()
            );
        }
    }
}

/// The image size the README and docs/containers.md promise is the bound `tests/docker.rs`
/// holds the image to.
#[test]
fn the_image_size_said_is_the_one_tested() {
    let docker = read(&repo().join("tests/docker.rs"));
    let kib: u64 = docker
        .split("const MAX_IMAGE_BYTES: u64 = ")
        .nth(1)
        .and_then(|r| r.split(" * 1024;").next())
        .and_then(|n| n.trim().parse().ok())
        .expect("MAX_IMAGE_BYTES = N * 1024 in tests/docker.rs");
    let readme = read(&repo().join("README.md"));
    assert!(readme.contains(&format!("image under {kib} KiB")), "README");
    let containers = read(&repo().join("docs/containers.md"));
    assert!(
        containers.contains(&format!("holds the image under\n{kib} KiB")),
        "docs/containers.md"
    );
}
