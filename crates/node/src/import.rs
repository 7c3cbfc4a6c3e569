//! `maillage import`: a network's member list, from its spreadsheet or from Murmurations
//! profiles, into its node — through the node's API, so through its one ingest pipeline.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use maillage_core::vocab::{self, Scheme};
use maillage_core::{Body, Kind};
use serde_json::{Map, Value, json};

use crate::client::{self, Remote};

#[derive(Debug, clap::Subcommand)]
pub enum Import {
    /// A CSV in the SSE "standard CSV" columns (Identifier, Name, Description, Organisational
    /// Structure, Primary Activity, Activities, Street Address, Locality, Region, Postcode,
    /// Country Name, Website, Phone, Email, Twitter, Facebook, Latitude, Longitude), or any
    /// other with --map.
    Csv {
        file: PathBuf,
        /// Other column names, as `Source=target,...`; a target is a standard column or a
        /// field (name, description, website, email, locality, country, latitude…).
        #[arg(long)]
        map: Option<String>,
        /// The language of the Description column (ISO 639-1).
        #[arg(long, default_value = "en")]
        lang: String,
        /// Check every row and list its problems; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Murmurations organisation profiles: a JSON file, or a folder of them.
    Murmurations {
        path: PathBuf,
        #[arg(long)]
        dry_run: bool,
    },
}

/// An organisation's id and body, or what is wrong with its row.
type Row = Result<(String, Value), String>;
/// Rows with their numbers, as a person would find them in the source.
type Rows = Vec<(usize, Row)>;

/// The fields a row can fill, and the standard column each comes from.
const COLUMNS: [(&str, &str); 18] = [
    ("identifier", "Identifier"),
    ("name", "Name"),
    ("description", "Description"),
    ("organisational_structure", "Organisational Structure"),
    ("primary_activity", "Primary Activity"),
    ("activities", "Activities"),
    ("street", "Street Address"),
    ("locality", "Locality"),
    ("region", "Region"),
    ("postcode", "Postcode"),
    ("country", "Country Name"),
    ("website", "Website"),
    ("phone", "Phone"),
    ("email", "Email"),
    ("twitter", "Twitter"),
    ("facebook", "Facebook"),
    ("latitude", "Latitude"),
    ("longitude", "Longitude"),
];

fn squash(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The field a column name stands for: a standard column, a field name, or `--map`.
fn field_of(column: &str, map: &BTreeMap<String, String>) -> Option<&'static str> {
    let target = map.get(&squash(column)).map_or(column, String::as_str);
    COLUMNS
        .iter()
        .find(|(field, standard)| {
            squash(field) == squash(target) || squash(standard) == squash(target)
        })
        .map(|(field, _)| *field)
}

fn parse_map(map: Option<&str>) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for pair in map
        .unwrap_or("")
        .split(',')
        .filter(|p| !p.trim().is_empty())
    {
        let (from, to) = pair
            .split_once('=')
            .with_context(|| format!("--map `{pair}` is not Source=target"))?;
        if field_of(to.trim(), &BTreeMap::new()).is_none() {
            bail!(
                "--map target `{}` is not a standard column or a field",
                to.trim()
            );
        }
        out.insert(squash(from), to.trim().to_owned());
    }
    Ok(out)
}

/// An id from a text: lower case, `-` between words, at most 64 characters.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text
        .chars()
        .flat_map(char::to_lowercase)
        .map(vocab::unaccent)
    {
        if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-')
        .chars()
        .take(64)
        .collect::<String>()
        .trim_end_matches('-')
        .to_owned()
}

/// One row, as an id and an organisation body; or what is wrong with it.
fn organisation(
    row: &BTreeMap<&'static str, String>,
    lang: &str,
) -> Result<(String, Value), String> {
    let get = |f: &str| row.get(f).map(|v| v.trim()).filter(|v| !v.is_empty());
    let name = get("name").ok_or("Name is empty: every organisation needs a name")?;
    let id = slug(get("identifier").unwrap_or(name));
    if id.is_empty() {
        return Err("neither Identifier nor Name gives an id (letters or digits)".into());
    }
    let mut body = Map::new();
    body.insert("name".into(), json!(name));
    if let Some(d) = get("description") {
        body.insert("description".into(), json!({ lang: d }));
    }
    if let Some(s) = get("organisational_structure") {
        let code = vocab::essglobal_code(Scheme::OrganisationalStructure, s).ok_or_else(|| {
            format!("Organisational Structure `{s}` is not an ESSGLOBAL code, URI or label")
        })?;
        body.insert("organisational_structure".into(), json!(code));
    }
    let mut activities: Vec<&str> = vec![];
    for a in get("primary_activity").into_iter().chain(
        get("activities")
            .into_iter()
            .flat_map(|a| a.split([';', ','])),
    ) {
        let a = a.trim();
        if a.is_empty() {
            continue;
        }
        let code = vocab::essglobal_code(Scheme::Activities, a).ok_or_else(|| {
            format!("activity `{a}` is not an ESSGLOBAL activity code, URI or label")
        })?;
        if !activities.contains(&code) {
            activities.push(code);
        }
    }
    if !activities.is_empty() {
        body.insert("activities".into(), json!(activities));
    }
    let country = get("country")
        .map(|c| {
            vocab::country_code(c)
                .ok_or_else(|| format!("Country Name `{c}` is not a country name or ISO code"))
        })
        .transpose()?;
    if let Some(c) = country {
        body.insert("countries".into(), json!([c]));
    }
    let mut address = Map::new();
    for (field, key) in [
        ("street", "street"),
        ("locality", "locality"),
        ("region", "region"),
        ("postcode", "postcode"),
    ] {
        if let Some(v) = get(field) {
            address.insert(key.into(), json!(v));
        }
    }
    if let Some(c) = country {
        address.insert("country".into(), json!(c));
    }
    if !address.is_empty() {
        body.insert("address".into(), Value::Object(address));
    }
    match (get("latitude"), get("longitude")) {
        (Some(lat), Some(lon)) => {
            let number = |v: &str, what: &str| {
                v.parse::<f64>()
                    .map_err(|_| format!("{what} `{v}` is not a number of degrees"))
            };
            body.insert(
                "location".into(),
                json!({"lat": number(lat, "Latitude")?, "lon": number(lon, "Longitude")?}),
            );
        }
        (None, None) => {}
        _ => return Err("Latitude and Longitude go together: give both or neither".into()),
    }
    if let Some(w) = get("website") {
        let w = if w.contains("://") {
            w.to_owned()
        } else {
            format!("https://{w}")
        };
        body.insert("website".into(), json!(w));
    }
    if let Some(e) = get("email") {
        body.insert("email".into(), json!(e.trim_start_matches("mailto:")));
    }
    let body = Value::Object(body);
    // The node decides; checking here too lets --dry-run say every row's problem.
    Body::from_json(Kind::Organisation, body.clone()).map_err(|e| e.to_string())?;
    Ok((id, body))
}

fn read_csv(file: &Path, map: &BTreeMap<String, String>, lang: &str) -> anyhow::Result<Rows> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let headers: Vec<Option<&'static str>> =
        reader.headers()?.iter().map(|h| field_of(h, map)).collect();
    if !headers.contains(&Some("name")) {
        bail!(
            "{} has no Name column (map one with --map \"YourColumn=Name\")",
            file.display()
        );
    }
    let mut rows = vec![];
    for (i, record) in reader.records().enumerate() {
        // Row numbers as a spreadsheet shows them: the header is row 1.
        let number = i + 2;
        let record =
            record.with_context(|| format!("row {number} of {} is not CSV", file.display()))?;
        let row: BTreeMap<&'static str, String> = headers
            .iter()
            .zip(record.iter())
            .filter_map(|(field, value)| field.map(|f| (f, value.to_owned())))
            .collect();
        rows.push((number, organisation(&row, lang)));
    }
    Ok(rows)
}

/// A Murmurations organisation profile as an id and a body.
fn from_murmurations(profile: &Value) -> Row {
    let name = profile["name"].as_str().ok_or("the profile has no name")?;
    let mut row = BTreeMap::new();
    row.insert("name", name.to_owned());
    for (key, field) in [
        ("primary_url", "website"),
        ("description", "description"),
        ("country_iso_3166", "country"),
        ("full_address", "street"),
    ] {
        if let Some(v) = profile[key].as_str() {
            row.insert(field, v.to_owned());
        }
    }
    if let (Some(lat), Some(lon)) = (
        profile["geolocation"]["lat"].as_f64(),
        profile["geolocation"]["lon"].as_f64(),
    ) {
        row.insert("latitude", lat.to_string());
        row.insert("longitude", lon.to_string());
    }
    let identifier = profile["primary_url"]
        .as_str()
        .map_or(name, |u| u.split("://").nth(1).unwrap_or(u));
    row.insert("identifier", identifier.to_owned());
    organisation(&row, "en")
}

fn read_murmurations(path: &Path) -> anyhow::Result<Rows> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_owned()]
    };
    let mut rows = vec![];
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let value: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", file.display()))?;
        let profiles = value.as_array().cloned().unwrap_or_else(|| vec![value]);
        for profile in profiles {
            rows.push((rows.len() + 1, from_murmurations(&profile)));
        }
    }
    Ok(rows)
}

fn progress(done: usize, total: usize) {
    let width = 30;
    let filled = (done * width).checked_div(total).unwrap_or(width);
    eprint!(
        "\r[{}{}] {done}/{total}",
        "#".repeat(filled),
        " ".repeat(width - filled)
    );
    if done == total {
        eprintln!();
    }
}

pub fn run(import: Import, remote: &Remote) -> anyhow::Result<()> {
    let (rows, dry_run) = match import {
        Import::Csv {
            file,
            map,
            lang,
            dry_run,
        } => (
            read_csv(&file, &parse_map(map.as_deref())?, &lang)?,
            dry_run,
        ),
        Import::Murmurations { path, dry_run } => (read_murmurations(&path)?, dry_run),
    };
    let mut ids = BTreeMap::new();
    let mut problems = 0;
    for (number, row) in &rows {
        match row {
            Err(problem) => {
                problems += 1;
                println!("row {number}: {problem}");
            }
            Ok((id, _)) => {
                if let Some(first) = ids.insert(id.clone(), *number) {
                    problems += 1;
                    println!(
                        "row {number}: id `{id}` is already row {first}'s: give one of them another Identifier"
                    );
                }
            }
        }
    }
    if dry_run {
        println!(
            "{} rows: {} valid, {problems} with problems",
            rows.len(),
            rows.len() - problems
        );
        if problems > 0 {
            bail!("{problems} rows have problems; nothing was imported (this was a dry run)");
        }
        return Ok(());
    }
    let did = remote.did()?;
    let terminal = std::io::stderr().is_terminal();
    let (mut created, mut updated, mut unchanged, mut rejected) = (0, 0, 0, problems);
    let mut seen = std::collections::BTreeSet::new();
    for (i, (number, row)) in rows.iter().enumerate() {
        if let Ok((id, body)) = row
            && seen.insert(id.clone())
        {
            let path = format!("/api/v1/records/{did}/organisation/{id}");
            let current = remote.get(&path).ok();
            // Compare as the node shows bodies, so that a row read again is not a new version.
            let shown = Body::from_json(Kind::Organisation, body.clone())
                .expect("checked when the row was read")
                .to_json();
            if current.as_ref().is_some_and(|c| c["body"] == shown) {
                unchanged += 1;
            } else {
                match client::put(remote, "organisation", id, body.clone()) {
                    Ok(_) if current.is_some() => updated += 1,
                    Ok(_) => created += 1,
                    Err(e) => {
                        rejected += 1;
                        println!("row {number}: {e:#}");
                    }
                }
            }
        }
        if terminal {
            progress(i + 1, rows.len());
        }
    }
    println!(
        "{} rows: {created} created, {updated} updated, {unchanged} unchanged, {rejected} rejected",
        rows.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&'static str, &str)]) -> BTreeMap<&'static str, String> {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    #[test]
    fn standard_columns_become_a_body() {
        let (id, body) = organisation(
            &row(&[
                ("identifier", "R-12"),
                ("name", "Épicerie solidaire"),
                ("description", "Une épicerie"),
                (
                    "organisational_structure",
                    "https://dev.lod.coop/essglobal/2.1/standard/organisational-structure/OS115",
                ),
                ("primary_activity", "Food"),
                ("activities", "AM60;AM120"),
                ("locality", "Lyon"),
                ("country", "France"),
                ("latitude", "45.76"),
                ("longitude", "4.84"),
                ("website", "epicerie.example.org"),
            ]),
            "fr",
        )
        .unwrap();
        assert_eq!(id, "r-12");
        assert_eq!(body["organisational_structure"], "OS115");
        assert_eq!(body["activities"], json!(["AM60", "AM120"]));
        assert_eq!(body["countries"], json!(["FR"]));
        assert_eq!(body["description"]["fr"], "Une épicerie");
        assert_eq!(body["website"], "https://epicerie.example.org");
    }

    #[test]
    fn problems_say_what_to_fix() {
        assert!(
            organisation(&row(&[("name", "")]), "en")
                .unwrap_err()
                .contains("needs a name")
        );
        assert!(
            organisation(&row(&[("name", "X"), ("country", "Atlantis")]), "en")
                .unwrap_err()
                .contains("Atlantis")
        );
        assert!(
            organisation(&row(&[("name", "X"), ("latitude", "1")]), "en")
                .unwrap_err()
                .contains("go together")
        );
        assert!(
            organisation(&row(&[("name", "X"), ("activities", "Juggling")]), "en")
                .unwrap_err()
                .contains("Juggling")
        );
        assert!(
            organisation(
                &row(&[("name", "X"), ("latitude", "91"), ("longitude", "0")]),
                "en"
            )
            .unwrap_err()
            .contains("90")
        );
    }

    #[test]
    fn columns_map_by_name_or_by_flag() {
        let map = parse_map(Some("Nom=name, Ville=Locality")).unwrap();
        assert_eq!(field_of("Nom", &map), Some("name"));
        assert_eq!(field_of("Ville", &map), Some("locality"));
        assert_eq!(field_of("Country Name", &map), Some("country"));
        assert_eq!(field_of("Whatever", &map), None);
        assert!(parse_map(Some("Nom=nickname")).is_err());
        assert_eq!(
            slug("Coopérative  de Dakar n°3"),
            "cooperative-de-dakar-n-3"
        );
    }
}
