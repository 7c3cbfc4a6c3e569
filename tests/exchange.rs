//! Import and export, end to end: a network's spreadsheet into a real node, and the node's
//! map out in every format, checked by the tools people use.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Output};

use common::Node;
use serde_json::Value;

const PLACES: [(&str, &str, f64, f64); 8] = [
    ("Sénégal", "Dakar", 14.69, -17.44),
    ("SN", "Thiès", 14.79, -16.93),
    ("France", "Lyon", 45.76, 4.84),
    ("BRA", "São Paulo", -23.55, -46.63),
    ("Peru", "Lima", -12.05, -77.04),
    ("Korea, Republic of", "Seoul", 37.57, 126.98),
    ("Côte d'Ivoire", "Abidjan", 5.36, -4.01),
    ("Canada", "Montréal", 45.5, -73.57),
];
const ACTIVITIES: [&str; 4] = ["Food", "AM90", "Money & Finance", "AM120;AM10"];

/// A member list of `n` rows in the standard columns, one in seven without coordinates.
fn member_list(n: usize) -> String {
    let mut writer = csv::Writer::from_writer(vec![]);
    writer
        .write_record([
            "Identifier",
            "Name",
            "Description",
            "Organisational Structure",
            "Primary Activity",
            "Activities",
            "Street Address",
            "Locality",
            "Region",
            "Postcode",
            "Country Name",
            "Website",
            "Phone",
            "Email",
            "Twitter",
            "Facebook",
            "Latitude",
            "Longitude",
        ])
        .unwrap();
    for i in 0..n {
        let (country, city, lat, lon) = PLACES[i % PLACES.len()];
        let (lat, lon) = if i % 7 == 3 {
            (String::new(), String::new())
        } else {
            (
                (lat + (i % 100) as f64 * 0.001).to_string(),
                (lon - (i % 50) as f64 * 0.001).to_string(),
            )
        };
        writer
            .write_record([
                format!("M-{i:04}"),
                format!("Coopérative \"{city}\" n°{i}"),
                format!(
                    "A cooperative in {city}, member since {}.\nSecond line.",
                    1990 + i % 30
                ),
                "OS115".into(),
                ACTIVITIES[i % 4].split(';').next().unwrap().into(),
                ACTIVITIES[(i + 1) % 4].into(),
                format!("{} rue de l'Exemple", i % 90 + 1),
                city.into(),
                String::new(),
                format!("{:05}", 10_000 + i),
                country.into(),
                format!("coop-{i}.example.org"),
                String::new(),
                format!("contact@coop-{i}.example.org"),
                String::new(),
                String::new(),
                lat,
                lon,
            ])
            .unwrap();
    }
    String::from_utf8(writer.into_inner().unwrap()).unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_member_list_imports_reimports_unchanged_and_round_trips() {
    let root = tempfile::tempdir().unwrap();
    let node = Node::start(root.path(), "a", &[]);
    let list = root.path().join("members.csv");
    std::fs::write(&list, member_list(1000)).unwrap();
    let list = list.to_str().unwrap();

    let dry = node.cli(&["import", "csv", list, "--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry));
    assert!(
        text(&dry).contains("1000 rows: 1000 valid, 0 with problems"),
        "{}",
        text(&dry)
    );
    assert_eq!(
        node.status()["records"]["organisation"],
        0,
        "a dry run changes nothing"
    );

    let first = node.cli(&["import", "csv", list]);
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        text(&first).contains("1000 rows: 1000 created, 0 updated, 0 unchanged, 0 rejected"),
        "{}",
        text(&first)
    );
    assert_eq!(node.status()["records"]["organisation"], 1000);
    let digest = node.status()["state_digest"].clone();

    let again = node.cli(&["import", "csv", list]);
    assert!(
        text(&again).contains("1000 rows: 0 created, 0 updated, 1000 unchanged, 0 rejected"),
        "{}",
        text(&again)
    );
    assert_eq!(
        node.status()["state_digest"],
        digest,
        "re-importing changes nothing"
    );

    // One row changed: one new version of the same record.
    let changed = std::fs::read_to_string(list)
        .unwrap()
        .replace("\"\"Lyon\"\" n°2\",", "\"\"Lyon\"\" n°2 (renamed)\",");
    std::fs::write(list, changed).unwrap();
    let third = node.cli(&["import", "csv", list]);
    assert!(
        text(&third).contains("0 created, 1 updated, 999 unchanged"),
        "{}",
        text(&third)
    );
    let renamed = node.get(&format!(
        "/api/v1/records/{}/organisation/m-0002",
        node.did()
    ));
    assert_eq!(renamed.json["seq"], 2);
    assert_eq!(
        renamed.json["body"]["name"],
        "Coopérative \"Lyon\" n°2 (renamed)"
    );
    assert_eq!(renamed.json["body"]["countries"], serde_json::json!(["FR"]));

    // The CSV export imports back without a change: nothing was lost on the way out.
    let export = node.cli(&["export", "csv"]);
    assert!(export.status.success(), "{}", text(&export));
    let exported = root.path().join("exported.csv");
    std::fs::write(&exported, &export.stdout).unwrap();
    let rows = csv::Reader::from_path(&exported).unwrap().records().count();
    assert_eq!(rows, 1000);
    let back = node.cli(&["import", "csv", exported.to_str().unwrap()]);
    assert!(
        text(&back).contains("1000 rows: 0 created, 0 updated, 1000 unchanged, 0 rejected"),
        "{}",
        text(&back)
    );
}

/// The sample member list shipped in the repository imports on a terminal with a progress
/// bar (run under `script`, which gives it a pseudo-terminal).
#[test]
fn the_sample_member_list_imports_with_a_progress_bar() {
    let root = tempfile::tempdir().unwrap();
    let node = Node::start(root.path(), "a", &[]);
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/examples/members-sample.csv"
    );
    let command = format!(
        "{} import csv {sample} --node {} --data-dir {}",
        env!("CARGO_BIN_EXE_maillage"),
        node.url(""),
        node.dir.display()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .unwrap();
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("] 1000/1000"), "no progress bar: {shown}");
    assert!(
        shown.contains("[##############################] 1000/1000"),
        "{shown}"
    );
    assert!(
        shown.contains("1000 rows: 1000 created, 0 updated, 0 unchanged, 0 rejected"),
        "{shown}"
    );
    assert_eq!(node.status()["records"]["organisation"], 1000);
}

#[test]
fn a_dry_run_lists_every_problem_with_its_row() {
    let root = tempfile::tempdir().unwrap();
    let node = Node::start(root.path(), "a", &[]);
    let list = root.path().join("bad.csv");
    std::fs::write(
        &list,
        "Nom,Pays,Ville,Activité\nBon,France,Lyon,Food\n,France,Lyon,Food\nMauvais pays,Atlantis,,\nActivité inconnue,SN,Dakar,Juggling\n",
    )
    .unwrap();
    let map = "Nom=Name,Pays=Country Name,Ville=Locality,Activité=Activities";
    let dry = node.cli(&[
        "import",
        "csv",
        list.to_str().unwrap(),
        "--map",
        map,
        "--dry-run",
    ]);
    assert!(!dry.status.success());
    let out = text(&dry);
    assert!(out.contains("row 3: Name is empty"), "{out}");
    assert!(out.contains("row 4: Country Name `Atlantis`"), "{out}");
    assert!(out.contains("row 5: activity `Juggling`"), "{out}");
    assert!(!out.contains("row 2:"), "{out}");
    assert!(out.contains("4 rows: 1 valid, 3 with problems"), "{out}");
    let real = node.cli(&["import", "csv", list.to_str().unwrap(), "--map", map]);
    assert!(
        text(&real).contains("4 rows: 1 created, 0 updated, 0 unchanged, 3 rejected"),
        "{}",
        text(&real)
    );
}

#[test]
fn exports_pass_the_standards_tools() {
    let root = tempfile::tempdir().unwrap();
    let node = Node::start(root.path(), "a", &["--demo"]);
    let list = root.path().join("members.csv");
    std::fs::write(&list, member_list(50)).unwrap();
    assert!(
        node.cli(&["import", "csv", list.to_str().unwrap()])
            .status
            .success()
    );
    let organisations = node.status()["records"]["organisation"].as_u64().unwrap();

    let geojson: Value = serde_json::from_slice(&node.cli(&["export", "geojson"]).stdout).unwrap();
    assert_eq!(geojson["type"], "FeatureCollection");
    let features = geojson["features"].as_array().unwrap();
    let located = node.get("/api/v1/export/organisations.jsonld").json["@graph"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n.get("geo").is_some())
        .count();
    assert_eq!(features.len(), located);
    assert!(features.len() > 40, "{}", features.len());
    for f in features {
        assert_eq!(f["type"], "Feature");
        assert_eq!(f["geometry"]["type"], "Point");
        let c = f["geometry"]["coordinates"].as_array().unwrap();
        let (lon, lat) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
        assert!((-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat));
        assert!(
            f["properties"]["address"]
                .as_str()
                .unwrap()
                .starts_with("maillage:did:key:")
        );
        assert_eq!(f["properties"]["hash"].as_str().unwrap().len(), 64);
    }
    // Filters apply to exports as to search.
    let senegal: Value =
        serde_json::from_slice(&node.cli(&["export", "geojson", "--country", "SN"]).stdout)
            .unwrap();
    let n = senegal["features"].as_array().unwrap().len();
    assert!(n > 0 && n < features.len());

    let jsonld = root.path().join("organisations.jsonld");
    std::fs::write(&jsonld, node.cli(&["export", "jsonld"]).stdout).unwrap();
    let graph: Value = serde_json::from_slice(&std::fs::read(&jsonld).unwrap()).unwrap();
    assert_eq!(
        graph["@graph"].as_array().unwrap().len() as u64,
        organisations
    );

    let did = node.did();
    let mut profiles = vec![];
    for id in ["ripess", "ica", "wfto", "m-0001", "m-0003"] {
        let profile = node.get(&format!("/api/v1/murmurations/{did}/{id}"));
        assert_eq!(profile.status, 200, "{id}");
        assert_eq!(
            profile.json["unique_id"],
            format!("maillage:{did}/organisation/{id}")
        );
        assert_eq!(profile.json["maillage_hash"].as_str().unwrap().len(), 64);
        let path = root.path().join(format!("{id}.json"));
        std::fs::write(&path, profile.json.to_string()).unwrap();
        profiles.push(path.to_str().unwrap().to_owned());
    }
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/validate_exports.py"
        ))
        .arg(&jsonld)
        .args(&profiles)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("6 passed, 0 failed"),
        "{}",
        text(&out)
    );
    assert_eq!(
        node.get(&format!("/api/v1/murmurations/{did}/nobody"))
            .status,
        404
    );
}
