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

    let dry = node.cli(&["import", "csv", list, "--dry-run", "--lang", "en"]);
    assert!(dry.status.success(), "{}", text(&dry));
    assert!(
        text(&dry).contains("1000 organisations: 1000 created, 0 updated, 0 unchanged, 0 rejected; 0 cells left out (dry run"),
        "{}",
        text(&dry)
    );
    assert_eq!(
        node.status()["records"]["organisation"],
        0,
        "a dry run changes nothing"
    );

    let first = node.cli(&["import", "csv", list, "--lang", "en"]);
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        text(&first)
            .contains("1000 organisations: 1000 created, 0 updated, 0 unchanged, 0 rejected"),
        "{}",
        text(&first)
    );
    assert_eq!(node.status()["records"]["organisation"], 1000);
    let digest = node.status()["state_digest"].clone();

    let again = node.cli(&["import", "csv", list, "--lang", "en"]);
    assert!(
        text(&again)
            .contains("1000 organisations: 0 created, 0 updated, 1000 unchanged, 0 rejected"),
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
    let dry = node.cli(&["import", "csv", list, "--dry-run", "--lang", "en"]);
    assert!(
        text(&dry).contains("row 4: would update members.m-0002: name"),
        "{}",
        text(&dry)
    );
    let third = node.cli(&["import", "csv", list, "--lang", "en"]);
    assert!(
        text(&third).contains("0 created, 1 updated, 999 unchanged"),
        "{}",
        text(&third)
    );
    let renamed = node.get(&format!(
        "/api/v1/records/{}/organisation/members.m-0002",
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
        text(&back)
            .contains("1000 organisations: 0 created, 0 updated, 1000 unchanged, 0 rejected"),
        "{}",
        text(&back)
    );
}

#[test]
fn a_node_importing_its_export_leaves_other_nodes_records_to_their_authors() {
    let root = tempfile::tempdir().unwrap();
    let a = Node::start(root.path(), "a", &[]);
    let b = Node::start(root.path(), "b", &["--bootstrap", &a.multiaddr()]);
    for (node, id) in [(&a, "from-a-1"), (&a, "from-a-2"), (&b, "from-b")] {
        let body = serde_json::json!({"name": id, "countries": ["SN"]});
        assert_eq!(node.post_json("organisation", id, body).status, 201);
    }
    common::wait_for("A's records on B", || {
        (b.status()["records"]["organisation"] == 3).then_some(())
    });
    let digest = b.status()["state_digest"].clone();
    let export = b.cli(&["export", "csv"]);
    assert!(export.status.success(), "{}", text(&export));
    let exported = root.path().join("b.csv");
    std::fs::write(&exported, &export.stdout).unwrap();
    let back = b.cli(&["import", "csv", exported.to_str().unwrap()]);
    let said = text(&back);
    assert!(back.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "is {}'s, and this node holds it: left to its author",
            a.did()
        )),
        "{said}"
    );
    assert!(
        said.contains("1 organisations: 0 created, 0 updated, 1 unchanged, 0 rejected, 2 of other nodes left to their authors"),
        "{said}"
    );
    assert_eq!(
        b.status()["state_digest"],
        digest,
        "nothing was signed again"
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
        shown.contains("1000 organisations: 1000 created, 0 updated, 0 unchanged, 0 rejected"),
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
    assert!(
        !dry.status.success(),
        "a row is rejected: the exit status says so"
    );
    let out = text(&dry);
    assert!(out.contains("row 3: Name is empty"), "{out}");
    assert!(
        out.contains("row 4: Pays `Atlantis` is not a country"),
        "{out}"
    );
    assert!(
        out.contains("row 5: Activité `Juggling` is not a concept"),
        "{out}"
    );
    assert!(out.contains("row 2: would create bad.bon"), "{out}");
    assert!(
        out.contains("4 organisations: 3 created, 0 updated, 0 unchanged, 1 rejected; 2 cells left out (dry run"),
        "{out}"
    );
    assert_eq!(node.status()["records"]["organisation"], 0);
    let real = node.cli(&["import", "csv", list.to_str().unwrap(), "--map", map]);
    assert!(!real.status.success());
    assert!(
        text(&real).contains("4 organisations: 3 created, 0 updated, 0 unchanged, 1 rejected"),
        "{}",
        text(&real)
    );
    // --strict rejects a row with a bad cell instead.
    let strict = root.path().join("strict.csv");
    std::fs::write(&strict, "Name,Country Name\nAutre,Atlantis\n").unwrap();
    let out = node.cli(&["import", "csv", strict.to_str().unwrap(), "--strict"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("0 created, 0 updated, 0 unchanged, 1 rejected"),
        "{}",
        text(&out)
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
            f["properties"]["record_address"]
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
    for id in ["ripess", "ica", "wfto", "members.m-0001", "members.m-0003"] {
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

/// A record with every field an organisation can carry.
fn full_body() -> Value {
    serde_json::json!({
        "name": "Ελληνική Συνεργασία Αθηνών",
        "alternate_names": ["Athens Cooperative", "ESA"],
        "description": {"el": "Συνεργατική επιχείρηση.", "en": "A co-operative, with \"quotes\", commas\nand two lines.", "fr": "Une coopérative."},
        "mission": {"en": "=SUM(A1) is not a formula here"},
        "type": "initiative",
        "organisational_structures": ["organisational-structure:OS130", "organisational-structure:OS60"],
        "legal_forms": ["legal-form:L2"],
        "legal_form": "Astikos Synetairismos",
        "base_membership_type": "base-membership-type:BMT10",
        "primary_activity": "activities-ica:ICA280",
        "activities": ["activities-modified:AM60", "activities:a01"],
        "products_services": ["products-services:70000000"],
        "qualifiers": ["qualifiers:Organic"],
        "themes": ["themes:T1"],
        "type_of_labour": ["type-of-labour:T1"],
        "tags": ["food", "athens"],
        "scope": "national",
        "countries": ["GR", "CY"],
        "regions": ["europe", "mena"],
        "address": {"street": "1 Odos Example", "locality": "Athína", "region": "Attica", "postcode": "10431", "country": "GR"},
        "location": {"lat": 37.9838, "lon": 23.7275},
        "languages": ["el", "en"],
        "website": "https://esa.example.org",
        "emails": ["info@esa.example.org", "board@esa.example.org"],
        "phones": ["+30 21 0000 0000"],
        "links": {"twitter": ["https://twitter.com/esa_example"], "facebook": ["https://www.facebook.com/esa"], "instagram": ["https://www.instagram.com/esa"], "website": ["https://shop.esa.example.org"]},
        "identifiers": {"GB-COH": "SC399880", "GR-GEMI": "123456789000"},
        "member_of": ["https://www.ripess.eu"],
        "relationships": [{"predicate": "https://schema.org/knows", "object": "https://ica.coop"}],
        "members": {"total": 120, "women": 70, "men": 50},
        "founded": "1998-04",
        "dissolved": "2030",
        "status": "active",
        "properties": {"SIC Code": "94990", "Territory ID": "EU"}
    })
}

/// Export → import loses nothing: into a fresh node the bodies are equal; into the same
/// node nothing changes.
#[test]
fn a_full_record_goes_through_csv_unchanged() {
    let root = tempfile::tempdir().unwrap();
    let a = Node::start(root.path(), "a", &[]);
    let b = Node::start(root.path(), "b", &[]);
    let written = a.post_json("organisation", "esa", full_body());
    assert_eq!(written.status, 201, "{}", written.json);
    let export = a.cli(&["export", "csv"]);
    assert!(export.status.success(), "{}", text(&export));
    let exported = root.path().join("exported.csv");
    std::fs::write(&exported, &export.stdout).unwrap();
    let csv_text = String::from_utf8_lossy(&export.stdout).into_owned();
    assert!(
        csv_text.contains("'=SUM(A1)"),
        "a formula is neutralised: {csv_text}"
    );

    let same = a.cli(&["import", "csv", exported.to_str().unwrap()]);
    assert!(same.status.success(), "{}", text(&same));
    assert!(
        text(&same).contains("0 created, 0 updated, 1 unchanged, 0 rejected; 0 cells left out"),
        "{}",
        text(&same)
    );

    let fresh = b.cli(&["import", "csv", exported.to_str().unwrap()]);
    assert!(fresh.status.success(), "{}", text(&fresh));
    let there = b.get(&format!("/api/v1/records/{}/organisation/esa", b.did()));
    assert_eq!(there.status, 200);
    assert_eq!(there.json["body"], written.json["body"]);

    // And through Murmurations: the profile holds what the schema has room for.
    let profile = a.get(&format!("/api/v1/murmurations/{}/esa", a.did())).json;
    let path = root.path().join("profiles/nested");
    std::fs::create_dir_all(&path).unwrap();
    std::fs::write(path.join("esa.json"), profile.to_string()).unwrap();
    let m = b.cli(&[
        "import",
        "murmurations",
        root.path().join("profiles").to_str().unwrap(),
    ]);
    assert!(m.status.success(), "{}", text(&m));
    let back = b.get(&format!("/api/v1/records/{}/organisation/esa", b.did()));
    let body = &back.json["body"];
    assert_eq!(body["emails"], serde_json::json!(["info@esa.example.org"]));
    assert_eq!(body["countries"], serde_json::json!(["GR"]));
    assert_eq!(body["founded"], "1998-04-01");
    assert_eq!(
        body["links"]["twitter"],
        serde_json::json!(["https://twitter.com/esa_example"])
    );
    assert_eq!(
        body["member_of"],
        serde_json::json!(["https://www.ripess.eu"])
    );
    assert_eq!(body["scope"], "national");
    assert_eq!(body["phones"], serde_json::json!(["+30 21 0000 0000"]));
    assert!(
        body["tags"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("athens"))
    );
    assert_eq!(
        body["organisational_structures"],
        serde_json::json!([
            "organisational-structure:OS130",
            "organisational-structure:OS60"
        ])
    );
}

/// Lists as networks have them: a register's 2.1 standard CSV, a French Excel file, a
/// Latin-1 file, endonyms, non-Latin names, multi-valued cells, two lists with the same
/// identifiers.
#[test]
fn real_member_lists_import_whole() {
    let root = tempfile::tempdir().unwrap();
    let node = Node::start(root.path(), "a", &[]);
    let did = node.did();
    let get = |id: &str| node.get(&format!("/api/v1/records/{did}/organisation/{id}"));

    let register = root.path().join("workers-coop.csv");
    std::fs::write(&register, "Identifier,Name,Description,Organisational Structure,Primary Activity,Activities,Street Address,Locality,Region,Postcode,Country ID,Territory ID,Website,Phone,Email,Twitter,Facebook,Companies House Number,Qualifiers,Membership Type,Latitude,Longitude,Geo Container,Geo Container Latitude,Geo Container Longitude,Sector,Legal Form\r\nR006884,Maesteg Workmen's Club and Institute Limited,,https://dev.lod.coop/essglobal/2.1/standard/organisational-structure/OS130,https://dev.lod.coop/essglobal/2.1/standard/activities-ica/ICA280,,11 Temple Street,Maesteg,Bridgend,CF34 9YY,GB,,,,,,,SC399880,,https://dev.lod.coop/essglobal/2.1/standard/base-membership-type/BMT10,,,http://data.ordnancesurvey.co.uk/id/postcodeunit/CF349YY,51.608344,-3.654703,\"Membership associations, social clubs\",Society\r\n1,Two Co-op,,OS140,ICA260,,\"1 Angel Square\nFloor 2\",Manchester,,M60 0AG,GB,,www.two.example.coop,,,,,,,BMT10,,,,53.48,-2.23,Retail,Society\r\n").unwrap();
    let out = node.cli(&["import", "csv", register.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("2 created, 0 updated, 0 unchanged, 0 rejected; 0 cells left out"),
        "{}",
        text(&out)
    );
    let club = get("workers-coop.r006884").json;
    assert_eq!(
        club["body"]["organisational_structures"],
        serde_json::json!(["organisational-structure:OS130"])
    );
    assert_eq!(club["body"]["primary_activity"], "activities-ica:ICA280");
    assert_eq!(club["body"]["identifiers"]["GB-COH"], "SC399880");
    assert_eq!(club["body"]["legal_form"], "Society");
    assert_eq!(
        club["body"]["properties"]["Sector"],
        "Membership associations, social clubs"
    );
    assert_eq!(club["body"]["location"]["lat"], 51.608344);
    assert_eq!(club["body"]["regions"], serde_json::json!(["europe"]));
    assert_eq!(
        get("workers-coop.1").json["body"]["address"]["street"],
        "1 Angel Square\nFloor 2"
    );

    // A French Excel export: semicolons, Windows-1252, decimal commas, e-mails and activities
    // several to a cell, a placeholder, a country by its endonym.
    let excel = root.path().join("adhérents.csv");
    let mut bytes =
        b"Identifiant;Nom;Description;Pays;Activit\xe9s;Email;Site web;Latitude;Longitude\r\n"
            .to_vec();
    bytes.extend_from_slice(b"1;\xc9picerie de Li\xe8ge;Une \xe9picerie coop\xe9rative de quartier, g\xe9r\xe9e par ses membres b\xe9n\xe9voles.;Belgique;Food | ICA280;\"a@x.org; b@x.org\";n/a;50,63;5,57\r\n");
    bytes.extend_from_slice(b"2;Caf\xe9 de Vienne;Un caf\xe9 associatif o\xf9 l'on se retrouve pour parler d'\xe9conomie solidaire.;\xd6sterreich;AM60;n/a;cafe.example.at;48,2;16,37\r\n");
    std::fs::write(&excel, bytes).unwrap();
    let map =
        "Identifiant=Identifier,Nom=Name,Pays=Country Name,Activités=Activities,Site web=Website";
    let out = node.cli(&[
        "import",
        "csv",
        excel.to_str().unwrap(),
        "--map",
        map,
        "--source",
        "adherents",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let liege = get("adherents.1").json;
    assert_eq!(liege["body"]["name"], "Épicerie de Liège");
    assert_eq!(liege["body"]["countries"], serde_json::json!(["BE"]));
    assert_eq!(
        liege["body"]["emails"],
        serde_json::json!(["a@x.org", "b@x.org"])
    );
    assert_eq!(
        liege["body"]["activities"],
        serde_json::json!(["activities-modified:AM60", "activities-ica:ICA280"])
    );
    assert_eq!(liege["body"]["location"]["lat"], 50.63);
    assert!(liege["body"].get("website").is_none());
    assert!(
        liege["body"]["description"]["fr"]
            .as_str()
            .unwrap()
            .starts_with("Une épicerie"),
        "{}",
        liege["body"]
    );
    let vienne = get("adherents.2").json;
    assert_eq!(vienne["body"]["countries"], serde_json::json!(["AT"]));
    assert_eq!(vienne["body"]["website"], "https://cafe.example.at");

    // Greek and Cyrillic names, endonyms, a former name.
    let world = root.path().join("world.csv");
    std::fs::write(&world, "\u{feff}Name,Country Name\nΑγροτικός Συνεταιρισμός,Ελλάδα\nКооператив,Россия\nEmaSwati Co-op,Swaziland\nBerlin eG,Deutschland\n").unwrap();
    let out = node.cli(&["import", "csv", world.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("4 created, 0 updated, 0 unchanged, 0 rejected; 0 cells left out"),
        "{}",
        text(&out)
    );
    node.searchable();
    for (country, name) in [
        ("GR", "Αγροτικός Συνεταιρισμός"),
        ("RU", "Кооператив"),
        ("SZ", "EmaSwati Co-op"),
        ("DE", "Berlin eG"),
    ] {
        let found = node
            .get(&format!("/api/v1/organisations?country={country}"))
            .json;
        let item = &found["items"][0];
        assert_eq!(item["body"]["name"], name);
        let id = item["id"].as_str().unwrap();
        assert!(
            id.starts_with("world.") && id.is_ascii() && id.len() > 8,
            "{id}"
        );
    }

    // Two lists with the same identifiers stay apart.
    let before = node.status()["records"]["organisation"].as_u64().unwrap();
    let other = root.path().join("other-list.csv");
    std::fs::write(
        &other,
        "Identifier,Name\nR006884,Another organisation\n1,Yet another\n",
    )
    .unwrap();
    let out = node.cli(&["import", "csv", other.to_str().unwrap()]);
    assert!(
        text(&out).contains("2 created, 0 updated"),
        "{}",
        text(&out)
    );
    assert_eq!(
        node.status()["records"]["organisation"].as_u64().unwrap(),
        before + 2
    );
    assert_eq!(get("workers-coop.r006884").json["seq"], 1);

    // An update changes only what its file expresses.
    let phones = root.path().join("workers-coop.csv");
    std::fs::write(&phones, "Identifier,Phone\nR006884,+44 1656 000000\n").unwrap();
    let dry = node.cli(&["import", "csv", phones.to_str().unwrap(), "--dry-run"]);
    assert!(
        text(&dry).contains("would update workers-coop.r006884: phones"),
        "{}",
        text(&dry)
    );
}
