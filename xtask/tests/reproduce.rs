//! End-to-end: `xtask reproduce --scale smoke` writes schema-valid results and REPORT.md.

use std::process::Command;

fn xtask() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
}

#[test]
fn smoke_reproduce_writes_valid_results() {
    let dir = tempfile::tempdir().unwrap();
    let out = xtask()
        .args(["reproduce", "--scale", "smoke", "--seed", "3", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let json = std::fs::read(dir.path().join("core/results.json")).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    candor_core::report::validate_results_json(&v).unwrap();
    assert_eq!(v["scale"], "smoke");
    assert_eq!(v["seed"], 3);
    assert!(v["seconds"].as_f64().unwrap() > 0.0);
    assert!(!v["commit"].as_str().unwrap().is_empty());
    // No claim of core's self-check fails (the statistical ones may be undecided at
    // smoke scale), the identities hold, and each plot exists.
    for c in v["claims"].as_array().unwrap() {
        assert_ne!(c["verdict"], "fails", "{c}");
        assert!(
            c["test"]["name"].is_string() && c["test"]["ci"].is_array(),
            "{c}"
        );
        if c["test"]["name"]
            .as_str()
            .unwrap()
            .starts_with("deterministic")
        {
            assert!(c["holds"].as_bool().unwrap(), "{c}");
        }
    }
    for p in v["plots"].as_array().unwrap() {
        let f = dir.path().join("core").join(p.as_str().unwrap());
        assert!(f.exists(), "{}", f.display());
    }
    let report = std::fs::read_to_string(dir.path().join("REPORT.md")).unwrap();
    assert!(report.contains("core"));
    assert!(report.contains("**Summary:** papers run: "), "{report}");
    assert!(report.contains("estimate [interval]"), "{report}");
    assert!(dir.path().join("core/results.md").exists());
}

#[test]
fn list_and_unknown_paper() {
    let out = xtask().args(["reproduce", "--list"]).output().unwrap();
    assert!(out.status.success());
    let s = String::from_utf8_lossy(&out.stdout);
    // Every paper of the mission is listed, with its status.
    for name in [
        "core",
        "pointcloud-defense",
        "forgery",
        "rl-noisy",
        "rl-ddpg",
        "erl",
        "matting",
        "watermark",
    ] {
        assert!(s.contains(name), "--list lacks {name}: {s}");
    }
    assert!(s.contains("implemented"), "{s}");

    let out = xtask()
        .args(["reproduce", "--paper", "nope", "--scale", "smoke"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("unknown paper 'nope'") && e.contains("core"),
        "{e}"
    );

    let out = xtask()
        .args(["reproduce", "--scale", "huge"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// `cargo xtask reproduce --resume` killed (SIGKILL to its whole process group, the paper's
/// child process included) at several points, then restarted until it finishes, gives the
/// claims of an uninterrupted run.
#[cfg(unix)]
#[test]
fn a_killed_reproduce_resumes_to_the_same_claims() {
    use std::os::unix::process::CommandExt;
    use std::time::{Duration, Instant};
    let run = |out: &std::path::Path| {
        let mut c = xtask();
        c.args([
            "reproduce",
            "--scale",
            "smoke",
            "--paper",
            "rl-ddpg",
            "--resume",
            "--out",
        ])
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0);
        c
    };
    let claims = |out: &std::path::Path| -> Vec<serde_json::Value> {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("rl-ddpg/results.json")).unwrap())
                .unwrap();
        v["claims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| serde_json::json!([c["id"], c["verdict"], c["test"]]))
            .collect()
    };
    let reference = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    assert!(run(reference.path()).status().unwrap().success());
    let full = t0.elapsed();
    let dir = tempfile::tempdir().unwrap();
    let mut kills = 0;
    for i in 0..4 {
        let mut child = run(dir.path()).spawn().unwrap();
        std::thread::sleep(
            full.mul_f64(0.25 + 0.1 * i as f64)
                .max(Duration::from_millis(50)),
        );
        if child.try_wait().unwrap().is_some() {
            break;
        }
        let pgid = format!("-{}", child.id());
        let killed = std::process::Command::new("kill")
            .args(["-KILL", "--", &pgid])
            .status()
            .unwrap();
        assert!(killed.success());
        child.wait().unwrap();
        kills += 1;
    }
    assert!(run(dir.path()).status().unwrap().success());
    eprintln!("{kills} kills landed; an uninterrupted run takes {full:?}");
    assert!(
        kills >= 1,
        "no kill landed (an uninterrupted run takes {full:?})"
    );
    assert_eq!(
        claims(dir.path()),
        claims(reference.path()),
        "after {kills} kills"
    );
}
