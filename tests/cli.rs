//! End-to-end tests of the `maillage` command line: the real binary on a real folder.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

fn maillage(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_maillage"))
        .args(args)
        .env_remove("MAILLAGE_DATA_DIR")
        .output()
        .expect("the maillage binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn init_then_id_prints_the_same_did() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let data = data.to_str().unwrap();
    let init = maillage(&["init", "--data-dir", data]);
    assert!(init.status.success(), "{}", stderr(&init));
    assert_eq!(mode(&dir.path().join("node/node.key")), 0o600);
    assert_eq!(mode(&dir.path().join("node/api.token")), 0o600);
    assert!(dir.path().join("node/config.toml").exists());

    let id = maillage(&["id", "--data-dir", data]);
    assert!(id.status.success(), "{}", stderr(&id));
    let lines: Vec<String> = stdout(&id).lines().map(String::from).collect();
    assert!(lines[0].starts_with("did:key:z6Mk"), "{lines:?}");
    assert!(lines[1].starts_with("12D3KooW"), "{lines:?}");
    assert!(stdout(&init).contains(&lines[0]), "init and id disagree");
    assert!(stdout(&init).contains(&lines[1]));
}

#[test]
fn a_second_init_keeps_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    assert!(maillage(&["init", "--data-dir", data]).status.success());
    let key = std::fs::read(dir.path().join("node.key")).unwrap();
    let again = maillage(&["init", "--data-dir", data]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("refusing to overwrite"),
        "{}",
        stderr(&again)
    );
    assert_eq!(std::fs::read(dir.path().join("node.key")).unwrap(), key);
}

#[test]
fn a_key_others_can_read_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    assert!(maillage(&["init", "--data-dir", data]).status.success());
    let key = dir.path().join("node.key");
    for bad in [0o644, 0o640, 0o604] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(bad)).unwrap();
        let id = maillage(&["id", "--data-dir", data]);
        assert!(!id.status.success());
        assert!(stderr(&id).contains("chmod 600"), "{}", stderr(&id));
        assert!(stdout(&id).is_empty());
    }
}

#[test]
fn id_without_a_key_says_to_init() {
    let dir = tempfile::tempdir().unwrap();
    let id = maillage(&["id", "--data-dir", dir.path().to_str().unwrap()]);
    assert!(!id.status.success());
    assert!(stderr(&id).contains("maillage init"), "{}", stderr(&id));
}

/// The test vectors pass a verifier written in Python from docs/protocol.md alone
/// (`pip install -r tests/requirements.txt`).
#[test]
fn an_independent_verifier_accepts_the_vectors() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let out = Command::new("python3")
        .current_dir(root)
        .args(["tests/verify_records.py", "tests/vectors/records.json"])
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("4 passed, 0 failed"),
        "{}",
        stdout(&out)
    );
}

/// The key-event vectors: the independent verifier checks each event and resolves them to
/// the key history the file states (docs/protocol.md §9); an altered event fails it.
#[test]
fn an_independent_verifier_resolves_the_key_events() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let verify = |path: &str| {
        Command::new("python3")
            .current_dir(root)
            .args(["tests/verify_records.py", path])
            .output()
            .expect("python3 runs")
    };
    let out = verify("tests/vectors/key-events.json");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("8 passed, 0 failed"),
        "{}",
        stdout(&out)
    );

    // A key history with its last key left out: the verifier resolves the events itself.
    let mut vectors: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/tests/vectors/key-events.json")).unwrap(),
    )
    .unwrap();
    vectors["state"]["keys"].as_array_mut().unwrap().pop();
    let dir = tempfile::tempdir().unwrap();
    let altered = dir.path().join("altered.json");
    std::fs::write(&altered, vectors.to_string()).unwrap();
    let out = verify(altered.to_str().unwrap());
    assert!(!out.status.success());
    assert!(stderr(&out).contains("the key state"), "{}", stderr(&out));
}
