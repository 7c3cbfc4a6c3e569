//! What an operator meets running a node for years, end to end with the real binary:
//! restarts that find the federation again, ports and folders already taken, backups taken
//! while editors write, and `maillage doctor`.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::{Node, free_port, path_of, wait_for};
use serde_json::json;

fn maillage(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_maillage"))
        .args(args)
        .env_remove("MAILLAGE_API_TOKEN")
        .env_remove("MAILLAGE_DATA_DIR")
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn peers(node: &Node) -> u64 {
    node.status()["peers"].as_u64().unwrap()
}

#[test]
fn a_restarted_node_finds_its_peers_again_without_bootstrap() {
    let root = tempfile::tempdir().unwrap();
    let mut a = Node::start(root.path(), "a", &[]);
    let mut b = Node::start(root.path(), "b", &["--bootstrap", &a.multiaddr()]);
    wait_for("B to connect to A", || (peers(&b) == 1).then_some(()));
    let a_id = a.status()["peer_id"].as_str().unwrap().to_owned();
    assert!(b.stop().success());
    let book = std::fs::read_to_string(b.dir.join("peers.json")).unwrap();
    assert!(book.contains(&a_id), "{book}");
    // A forgets B, so that it cannot be A that calls back. A writes B down only once
    // identify has told it B is one of ours, which B's stop may have come before.
    assert!(a.stop().success());
    match std::fs::remove_file(a.dir.join("peers.json")) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        removed => removed.unwrap(),
    }
    a.restart();
    // B started again with no bootstrap peer, and no mDNS: only its peer book knows A.
    b.args.clear();
    b.restart();
    wait_for("B to find A from its peer book", || {
        (peers(&b) == 1).then_some(())
    });
    let written = a.post_json(
        "organisation",
        "after",
        json!({"name": "After the restart"}),
    );
    wait_for("the record on B", || {
        (b.get(&path_of(&written.json)).status == 200).then_some(())
    });
}

#[test]
fn a_node_alone_says_so_with_what_it_tried() {
    let root = tempfile::tempdir().unwrap();
    let nobody = format!("/ip4/127.0.0.1/tcp/{}", free_port());
    let node = Node::start(
        root.path(),
        "alone",
        &["--bootstrap", &nobody, "--sync-interval", "1"],
    );
    let warning = wait_for("a network warning", || {
        node.status()["network_warning"].as_str().map(str::to_owned)
    });
    assert!(warning.contains(&nobody), "{warning}");
    wait_for("the warning in the log", || {
        node.log().contains("no peer for").then_some(())
    });
}

#[test]
fn a_p2p_port_another_program_holds_is_refused_by_name() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("n");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = maillage(&[
        "run",
        "--data-dir",
        dir.to_str().unwrap(),
        "--http",
        &format!("127.0.0.1:{}", free_port()),
        "--listen",
        &format!("/ip4/127.0.0.1/tcp/{port}"),
    ]);
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains(&format!("port {port} is in use by another program")),
        "{said}"
    );
    assert!(said.contains("--listen"), "{said}");

    // A port a running node holds (libp2p listens with SO_REUSEPORT, which would let a
    // second node share it): refused too.
    let first = Node::start(root.path(), "first", &[]);
    let out = maillage(&[
        "run",
        "--data-dir",
        root.path().join("second").to_str().unwrap(),
        "--http",
        &format!("127.0.0.1:{}", free_port()),
        "--listen",
        &first.multiaddr(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains(&format!("port {} is in use by another program", first.p2p)),
        "{}",
        text(&out)
    );
}

#[test]
fn a_data_folder_another_node_holds_is_refused_naming_it() {
    let root = tempfile::tempdir().unwrap();
    let a = Node::start(root.path(), "a", &[]);
    let out = maillage(&[
        "run",
        "--data-dir",
        a.dir.to_str().unwrap(),
        "--http",
        &format!("127.0.0.1:{}", free_port()),
        "--listen",
        &format!("/ip4/127.0.0.1/tcp/{}", free_port()),
    ]);
    assert!(!out.status.success());
    let said = text(&out);
    assert!(said.contains(a.dir.to_str().unwrap()), "{said}");
    assert!(
        said.contains("in use by another maillage process"),
        "{said}"
    );
    // The running node is untouched.
    assert_eq!(a.get("/health").status, 200);
}

/// The value after `label` on the line starting with it.
fn line_value(said: &str, label: &str) -> String {
    said.lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no `{label}` in {said}"))
        .trim()
        .to_owned()
}

#[test]
fn a_backup_taken_while_editors_write_restores_to_what_it_held() {
    let root = tempfile::tempdir().unwrap();
    let a = Arc::new(Node::start(root.path(), "a", &[]));
    let acked: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (a, acked, stop) = (a.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    let id = format!("w{w}-{n}");
                    let name = format!("Coopérative {w} {n}");
                    let answer = a.post_json("organisation", &id, json!({"name": name}));
                    assert_eq!(answer.status, 201, "{answer:?}");
                    acked.lock().unwrap().insert(id);
                    n += 1;
                }
            })
        })
        .collect();
    wait_for("some writes", || {
        (acked.lock().unwrap().len() > 30).then_some(())
    });
    let before = acked.lock().unwrap().clone();
    let to = root.path().join("backup");
    let out = a.cli(&["backup", to.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let after = acked.lock().unwrap().clone();
    wait_for("writes after the backup", || {
        (acked.lock().unwrap().len() > after.len() + 10).then_some(())
    });
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().unwrap();
    }
    let said = text(&out);
    let digest = line_value(&said, "state digest:");
    let versions: usize = line_value(&said, "versions:").parse().unwrap();
    assert!(
        (before.len()..=after.len()).contains(&versions),
        "the backup holds {versions} versions; {} were acknowledged before it began, {} when it ended",
        before.len(),
        after.len()
    );
    assert_eq!(mode(&to.join("node.key")), 0o600);

    // Restored into a new folder, the node starts as the same node with what the backup held.
    let restored = root.path().join("restored");
    let out = maillage(&[
        "restore",
        to.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(line_value(&text(&out), "state digest:"), digest);
    let b = Node::start(root.path(), "restored", &[]);
    assert_eq!(b.did(), a.did());
    let status = b.status();
    assert_eq!(status["state_digest"].as_str().unwrap(), digest);
    assert_eq!(status["versions"].as_u64().unwrap() as usize, versions);
    for id in &before {
        let path = format!("/api/v1/records/{}/organisation/{id}", b.did());
        assert_eq!(
            b.get(&path).status,
            200,
            "{id} was acknowledged before the backup began"
        );
    }
    // The restored node takes writes, signed with the same key.
    let written = b.post_json("organisation", "after-restore", json!({"name": "Après"}));
    assert_eq!(written.status, 201, "{written:?}");

    // A restore never writes over a node.
    let again = maillage(&[
        "restore",
        to.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    assert!(
        text(&again).contains("holds a node already"),
        "{}",
        text(&again)
    );
}

#[test]
fn a_damaged_backup_is_refused_at_restore() {
    let root = tempfile::tempdir().unwrap();
    let a = Node::start(root.path(), "a", &[]);
    for i in 0..5 {
        let id = format!("org-{i}");
        assert_eq!(
            a.post_json("organisation", &id, json!({"name": id})).status,
            201
        );
    }
    let to = root.path().join("backup");
    let out = a.cli(&["backup", to.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let log = to.join("store/00000001.log");
    let mut bytes = std::fs::read(&log).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&log, bytes).unwrap();
    let restored = root.path().join("restored");
    let restore = || {
        maillage(&[
            "restore",
            to.to_str().unwrap(),
            "--data-dir",
            restored.to_str().unwrap(),
        ])
    };
    let out = restore();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("is damaged; nothing was restored"),
        "{}",
        text(&out)
    );
    assert!(
        !restored.exists(),
        "a refused restore leaves nothing behind"
    );

    // A store that opens, but not to what the backup held when it was taken.
    edit_file(&log, |b| b[middle] ^= 0x10);
    edit_file(&to.join("backup.json"), |b| {
        let text = String::from_utf8(b.clone()).unwrap();
        let mut manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
        manifest["versions"] = json!(4);
        *b = manifest.to_string().into_bytes();
    });
    let out = restore();
    assert!(!out.status.success());
    assert!(text(&out).contains("changed since"), "{}", text(&out));
    assert!(
        !restored.exists(),
        "a refused restore leaves nothing behind"
    );
}

fn edit_file(path: &Path, change: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).unwrap();
    change(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn doctor_names_a_key_others_can_read_and_a_taken_port_then_is_content() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("n");
    let dir_arg = dir.to_str().unwrap();
    assert!(maillage(&["init", "--data-dir", dir_arg]).status.success());
    std::fs::set_permissions(dir.join("node.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let http = format!("127.0.0.1:{}", free_port());
    let listen = format!("/ip4/127.0.0.1/tcp/{port}");
    let doctor = || {
        maillage(&[
            "doctor",
            "--data-dir",
            dir_arg,
            "--http",
            &http,
            "--listen",
            &listen,
        ])
    };
    let out = doctor();
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains(&format!("chmod 600 {dir_arg}/node.key")),
        "{said}"
    );
    assert!(
        said.contains(&format!("port {port} is in use by another program")),
        "{said}"
    );
    assert!(said.contains("2 problems found"), "{said}");

    std::fs::set_permissions(dir.join("node.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    drop(taken);
    let out = doctor();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("no problem found"), "{}", text(&out));
}

/// The unit in `config/systemd`, with `ExecStart` pointed at the binary under test.
#[test]
fn the_systemd_unit_verifies_and_is_sandboxed() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze is not installed: the unit is not checked here");
        return;
    }
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/systemd/maillage.service"
    ))
    .unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/maillage run"));
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("maillage.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/maillage", env!("CARGO_BIN_EXE_maillage")),
    )
    .unwrap();
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    // It warns of an unknown key or a bad value on stderr, and still exits 0.
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "{}",
        text(&verify)
    );
    // Exposure 2.0 at most, on systemd's scale of 0 (locked down) to 10.
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(security.status.success(), "{}", text(&security));
}
