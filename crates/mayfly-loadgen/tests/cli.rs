//! The load generator's two commands, run as the bench script runs them.

use std::process::Command;

fn loadgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mayfly-loadgen"))
}

#[test]
fn issue_runs_the_in_process_path() {
    let out = loadgen().args(["issue", "3"]).output().expect("spawn");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tokens_names_a_missing_provisioner() {
    let dir = mayfly_testkit::temp_dir();
    let config = dir.path().join("ca.json");
    std::fs::write(&config, r#"{"authority": {"provisioners": []}}"#).expect("write");
    let out = loadgen()
        .args(["tokens", "--provisioner", "bench", "--count", "1"])
        .args(["--audience", "https://127.0.0.1:1/1.0/sign"])
        .arg("--ca-config")
        .arg(&config)
        .arg("--provisioner-password-file")
        .arg(dir.path().join("pw"))
        .arg("--out")
        .arg(dir.path().join("bodies.txt"))
        .output()
        .expect("spawn");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("provisioner \"bench\""), "{stderr}");
}
