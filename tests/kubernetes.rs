//! The Kubernetes manifests of `deploy/kubernetes/`, validated offline against the schemas of a
//! current Kubernetes release by `kubernetes-validate --strict` (PyPI), run as a real process.
//! No cluster runs here: these tests show the manifests are well-formed for that release (no
//! unknown or misspelled field, the right types) and hold what docs/discovery.md promises, not that
//! a cluster runs them. The validator is installed by `scripts/setup/setup-tools.sh` (which
//! `.ci/run` calls); without it these tests fail, saying how to get it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Kubernetes release the manifests are checked against (the newest whose schemas
/// kubernetes-validate 1.37.0 ships).
const KUBERNETES: &str = "1.37.0";
const DIR: &str = "deploy/kubernetes";

/// The validator: on PATH, or where scripts/setup/setup-tools.sh puts it ($PEERLAB_TOOLS, by
/// default /opt/peerlab-tools).
fn validator() -> PathBuf {
    let on_path = Command::new("kubernetes-validate")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if on_path {
        return PathBuf::from("kubernetes-validate");
    }
    let tools = std::env::var_os("PEERLAB_TOOLS").unwrap_or_else(|| "/opt/peerlab-tools".into());
    let venv = Path::new(&tools).join("bin/kubernetes-validate");
    assert!(
        venv.is_file(),
        "kubernetes-validate is not installed (not on PATH, not {}): run scripts/setup/setup-tools.sh \
         (as root; it installs it from PyPI into /opt/peerlab-tools) or `pip install \
         kubernetes-validate`",
        venv.display()
    );
    venv
}

/// Runs the validator in strict mode on `files`: (success, everything it printed).
fn validate(files: &[&Path]) -> (bool, String) {
    let out = Command::new(validator())
        .args(["--strict", "--kubernetes-version", KUBERNETES])
        .args(files)
        .output()
        .expect("run kubernetes-validate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The manifests: every YAML file of the directory but the kustomization, which is not a
/// Kubernetes API object.
fn manifests() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(DIR)
        .expect("deploy/kubernetes/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .filter(|p| p.file_name().is_some_and(|n| n != "kustomization.yaml"))
        .collect();
    v.sort();
    v
}

fn read(name: &str) -> String {
    std::fs::read_to_string(Path::new(DIR).join(name)).unwrap()
}

#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs kubernetes-validate"
)]
fn manifests_pass_strict_validation() {
    let files = manifests();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["service.yaml", "statefulset.yaml"]);
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let (ok, text) = validate(&refs);
    println!("{}", text.trim());
    assert!(ok, "kubernetes-validate --strict failed:\n{text}");
    // One "passed" line per object, against the release asked for.
    let short = KUBERNETES.trim_end_matches(".0");
    for kind in ["service/peer", "statefulset/peer"] {
        assert!(
            text.lines().any(|l| l.contains("passed")
                && l.contains(kind)
                && l.ends_with(&format!("version {short}"))),
            "{kind} not validated against {short}:\n{text}"
        );
    }
    // The kustomization lists exactly these files.
    let k = read("kustomization.yaml");
    for n in &names {
        assert!(
            k.contains(&format!("  - {n}\n")),
            "{n} not in kustomization.yaml"
        );
    }
}

/// The validator really checks: a misspelled field (`clusterIp`) and a wrong type fail in
/// strict mode, so a passing run above means something.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs kubernetes-validate"
)]
fn the_validator_rejects_a_misspelled_field() {
    let dir = std::env::temp_dir().join(format!("peerlab-k8s-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        read("service.yaml").replace("clusterIP:", "clusterIp:"),
    )
    .unwrap();
    let (ok, text) = validate(&[&bad]);
    assert!(!ok && text.contains("'clusterIp' was unexpected"), "{text}");
    let wrong_type = dir.join("type.yaml");
    std::fs::write(
        &wrong_type,
        read("statefulset.yaml").replace("replicas: 3", "replicas: three"),
    )
    .unwrap();
    let (ok, text) = validate(&[&wrong_type]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!ok, "{text}");
}

/// What docs/discovery.md and the issue promise of the manifests, beyond their schema.
#[test]
#[cfg_attr(
    not(feature = "full"),
    ignore = "full suite (cargo test --features full): needs kubernetes-validate"
)]
fn manifests_say_what_the_readme_says() {
    let svc = read("service.yaml");
    for want in [
        "kind: Service\n",
        "  name: peer\n",
        "  clusterIP: None\n",
        "  publishNotReadyAddresses: true\n",
        "      port: 10002\n",
        "      protocol: UDP\n",
    ] {
        assert!(svc.contains(want), "service.yaml lacks {want:?}");
    }
    let sts = read("statefulset.yaml");
    for want in [
        "kind: StatefulSet\n",
        "  serviceName: peer\n",
        "args: [\"0.0.0.0:10002\", \"--discover\", \"peer:10002\", \"--metrics\", \":9464\"]\n",
        // docs/metrics.md: the usual scrape annotations and a port named `metrics`.
        "        prometheus.io/scrape: \"true\"\n",
        "        prometheus.io/port: \"9464\"\n",
        "        prometheus.io/path: /metrics\n",
        "            - name: metrics\n              containerPort: 9464\n              protocol: TCP\n",
        "        runAsNonRoot: true\n",
        "          type: RuntimeDefault\n",
        "            allowPrivilegeEscalation: false\n",
        "            readOnlyRootFilesystem: true\n",
        "              drop: [\"ALL\"]\n",
        "          limits:\n",
        "          requests:\n",
        "      automountServiceAccountToken: false\n",
    ] {
        assert!(sts.contains(want), "statefulset.yaml lacks {want:?}");
    }
    // Both probes run the image's own health check of the pod's port, with no DNS.
    let probe = "command: [\"/process\", \"health\", \"--self\", \"10002\"]";
    assert_eq!(sts.matches(probe).count(), 2, "{sts}");
    for p in ["readinessProbe:", "livenessProbe:"] {
        assert!(sts.contains(p), "{p}");
    }
    // The user the image runs as (Dockerfile.alpine and Dockerfile.prebuilt).
    for dockerfile in ["Dockerfile.alpine", "Dockerfile.prebuilt"] {
        let d = std::fs::read_to_string(dockerfile).unwrap();
        assert!(d.contains("USER 10001:10001"), "{dockerfile}");
    }
    assert!(sts.contains("runAsUser: 10001\n") && sts.contains("runAsGroup: 10001\n"));
}
