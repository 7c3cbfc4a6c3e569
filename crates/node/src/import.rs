//! `maillage import`: a network's member list, from its spreadsheet or from Murmurations
//! profiles, into its node — through the node's batch API, so through its one ingest
//! pipeline. Rows become JSON Merge Patches: an import changes only what its file can
//! express, and the node answers what each row created, updated (which fields) or left
//! unchanged, also in a dry run.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use maillage_core::sheet::{Dropped, Field, Row, Sheet};
use maillage_core::vocab;
use serde_json::{Map, Value, json};

use crate::client::Remote;

#[derive(Debug, clap::Subcommand)]
pub enum Import {
    /// A spreadsheet (CSV, any delimiter and encoding) in the SSE "standard CSV" columns as
    /// SEA maps publish them (Identifier, Name, Description, Organisational Structure, Primary
    /// Activity, Activities, Street Address, Locality, Region, Postcode, Country ID or Country
    /// Name, Website, Phone, Email, Twitter, Facebook, Companies House Number, Qualifiers,
    /// Membership Type, Latitude, Longitude, Geo Container…), `Description (xx)` columns, the
    /// further columns `maillage export csv` writes, or any other with --map. Columns no field
    /// stands for are kept as properties.
    Csv {
        file: PathBuf,
        /// Other column names, as `Source=Target,...`; a target is a column name as above.
        #[arg(long)]
        map: Option<String>,
        /// A file of `Source=Target` lines, for imports made again and again.
        #[arg(long)]
        map_file: Option<PathBuf>,
        /// The language of the Description column (ISO 639-1); detected per row when left out.
        #[arg(long)]
        lang: Option<String>,
        /// The list's name: record ids are `<source>.<identifier>`, so that two lists with the
        /// same identifiers never overwrite each other. Default: the file's name. A `Source`
        /// column (even empty) decides per row instead.
        #[arg(long)]
        source: Option<String>,
        /// The file's encoding (`utf-8`, `windows-1252`, `latin1`…); detected when left out.
        #[arg(long)]
        encoding: Option<String>,
        /// Reject a row with any bad cell, instead of importing it without that cell.
        #[arg(long)]
        strict: bool,
        /// Say what would be created, updated (and which fields) or unchanged; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Murmurations organisation profiles: a JSON file, or a folder of them (read recursively).
    Murmurations {
        path: PathBuf,
        #[arg(long)]
        dry_run: bool,
    },
}

/// One organisation to write, or why it cannot be.
struct Item {
    /// Where it comes from, as a person finds it: `row 12`, `profiles/a.json`.
    place: String,
    id: Result<String, String>,
    patch: Map<String, Value>,
    defaults: Map<String, Value>,
    dropped: Vec<Dropped>,
    /// The address a row exported from a node names (its `Maillage Address`).
    address: Option<maillage_core::Address>,
}

/// Records written in one request.
const BATCH: usize = 500;

/// An id from a text in any script: transliterated, lower case, `-` between words.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in deunicode::deunicode(text)
        .chars()
        .flat_map(char::to_lowercase)
    {
        if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches(['-', '.', '_']).to_owned()
}

/// `<source>.<identifier>`, at most 64 characters.
fn record_id(source: &str, identifier: &str) -> Result<String, String> {
    let identifier = slug(identifier);
    if identifier.is_empty() {
        return Err("the identifier has no letters or digits to make an id of".into());
    }
    let id = match slug(source) {
        s if s.is_empty() => identifier,
        s => format!("{s}.{identifier}"),
    };
    let id: String = id.chars().take(64).collect();
    Ok(id.trim_end_matches(['-', '.', '_']).to_owned())
}

/// The text of a file in whatever encoding a spreadsheet program saved it.
fn decode(bytes: &[u8], label: Option<&str>, file: &Path) -> anyhow::Result<String> {
    let encoding = match label {
        Some(l) => encoding_rs::Encoding::for_label(l.as_bytes()).with_context(|| {
            format!(
                "--encoding `{l}` is not an encoding name (try utf-8, windows-1252, latin1, utf-16)"
            )
        })?,
        None => match encoding_rs::Encoding::for_bom(bytes) {
            Some((e, _)) => e,
            None if std::str::from_utf8(bytes).is_ok() => encoding_rs::UTF_8,
            None => {
                let mut detector = chardetng::EncodingDetector::new();
                detector.feed(bytes, true);
                detector.guess(None, true)
            }
        },
    };
    let (text, used, bad) = encoding.decode(bytes);
    if bad {
        bail!(
            "{} is not valid {}: name its encoding with --encoding",
            file.display(),
            used.name()
        );
    }
    if label.is_none() && used != encoding_rs::UTF_8 {
        eprintln!("{}: read as {}", file.display(), used.name());
    }
    Ok(text.into_owned())
}

/// The delimiter of a header line: the most frequent of `,` `;` tab `|` outside quotes.
fn delimiter(text: &str) -> u8 {
    let line = text.lines().next().unwrap_or("");
    let mut counts = [(b',', 0), (b';', 0), (b'\t', 0), (b'|', 0)];
    let mut quoted = false;
    for b in line.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(c) = counts.iter_mut().find(|(d, _)| *d == b) {
            c.1 += 1;
        }
    }
    counts
        .iter()
        .max_by_key(|(_, n)| *n)
        .map_or(b',', |(d, _)| *d)
}

fn parse_map(map: Option<&str>, file: Option<&Path>) -> anyhow::Result<BTreeMap<String, String>> {
    let mut pairs: Vec<String> = map.unwrap_or("").split(',').map(str::to_owned).collect();
    if let Some(file) = file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the map file {}", file.display()))?;
        pairs.extend(
            text.lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .map(str::to_owned),
        );
    }
    let mut out = BTreeMap::new();
    for pair in pairs.iter().filter(|p| !p.trim().is_empty()) {
        let (from, to) = pair
            .split_once('=')
            .with_context(|| format!("map `{pair}` is not Source=Target"))?;
        if maillage_core::sheet::field_of(to.trim()).is_none() {
            bail!(
                "map target `{}` is not a column name (like Name, Locality, Description (fr))",
                to.trim()
            );
        }
        out.insert(vocab::fold(from), to.trim().to_owned());
    }
    Ok(out)
}

/// The ISO 639-1 code of a text's language, when whatlang is confident.
fn detect(text: &str) -> Option<&'static str> {
    guess(text)
        .filter(|(_, reliable)| *reliable)
        .map(|(l, _)| l)
}

/// whatlang's best guess of a text's language, and whether it is confident.
fn guess(text: &str) -> Option<(&'static str, bool)> {
    let info = whatlang::detect(text)?;
    let reliable = info.is_reliable();
    let name = info.lang().eng_name();
    vocab::languages()
        .find(|(_, n)| n.split([';', ',']).any(|n| n.trim() == name))
        .map(|(c, _)| (c, reliable))
}

fn suggestion(column: &str) -> Option<&'static str> {
    maillage_core::sheet::standard_columns()
        .map(|c| {
            (
                c,
                strsim::jaro_winkler(&c.to_lowercase(), &column.to_lowercase()),
            )
        })
        .filter(|(_, s)| *s > 0.85)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c)
}

#[allow(clippy::too_many_arguments)]
fn read_csv(
    file: &Path,
    map: &BTreeMap<String, String>,
    lang: Option<&str>,
    source: Option<&str>,
    encoding: Option<&str>,
) -> anyhow::Result<Vec<Item>> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let text = decode(&bytes, encoding, file)?;
    let text = text.trim_start_matches('\u{feff}');
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .delimiter(delimiter(text))
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .with_context(|| format!("the first line of {} is not CSV", file.display()))?
        .iter()
        .map(str::to_owned)
        .collect();
    let sheet = Sheet::new(&headers, map);
    if !sheet.has(&Field::Name) && !sheet.has(&Field::Identifier) {
        bail!(
            "{} has neither a Name nor an Identifier column; its columns are {}. Map one with --map \"YourColumn=Name\"",
            file.display(),
            headers.join(", ")
        );
    }
    for column in sheet.properties() {
        match suggestion(column) {
            Some(s) => println!(
                "column `{column}` is not a standard column (did you mean `{s}`?): kept as a property"
            ),
            None => println!(
                "column `{column}` is not a standard column: kept as a property (map it with --map \"{column}=Target\")"
            ),
        }
    }
    let default_source = source.map(str::to_owned).unwrap_or_else(|| {
        file.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let mut rows: Vec<(usize, Row)> = vec![];
    for (i, record) in reader.records().enumerate() {
        let number = i + 2; // As a spreadsheet shows them: the header is row 1.
        let record =
            record.with_context(|| format!("row {number} of {} is not CSV", file.display()))?;
        let cells: Vec<String> = record.iter().map(str::to_owned).collect();
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        rows.push((number, sheet.read(&cells)));
    }
    // Descriptions without a language column: --lang, or what each text is in, or failing
    // that the language most of the file's texts are in.
    let detected: Vec<Vec<Option<&str>>> = rows
        .iter()
        .map(|(_, r)| {
            r.untagged
                .iter()
                .map(|(_, t)| lang.map_or_else(|| detect(t), |_| None))
                .collect()
        })
        .collect();
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    for d in detected.iter().flatten().flatten() {
        *tally.entry(d).or_default() += 1;
    }
    let total: usize = tally.values().sum();
    let majority = tally
        .iter()
        .max_by_key(|(_, n)| **n)
        .filter(|(_, n)| **n * 10 >= total * 8)
        .map(|(l, _)| *l);
    let mut items = vec![];
    for ((number, mut row), detected) in rows.into_iter().zip(detected) {
        for ((field, text), found) in std::mem::take(&mut row.untagged).into_iter().zip(detected) {
            let key = if matches!(field, Field::Mission(_)) {
                "mission"
            } else {
                "description"
            };
            let column = if key == "mission" {
                "Mission"
            } else {
                "Description"
            };
            match lang.or(found).or(majority) {
                Some(l) => {
                    let map = row.patch.entry(key).or_insert_with(|| json!({}));
                    map[l] = json!(text);
                }
                None => row.dropped.push(Dropped {
                    column: column.into(),
                    value: text,
                    reason:
                        "its language cannot be told: give --lang or a `Description (xx)` column"
                            .into(),
                }),
            }
        }
        let source = row.source.clone().unwrap_or_else(|| default_source.clone());
        let id = match &row.identifier {
            Some(identifier) => record_id(&source, identifier),
            None if sheet.has(&Field::Identifier) => {
                Err("Identifier is empty: every row of a list with identifiers needs one".into())
            }
            None => match row.patch.get("name").and_then(Value::as_str) {
                Some(name) => record_id(&source, name),
                None => Err("Name is empty: every organisation needs a name".into()),
            },
        };
        let id = match (id, row.patch.get("name").and_then(Value::as_str)) {
            (Ok(_), None) if sheet.has(&Field::Name) => {
                Err("Name is empty: every organisation needs a name".into())
            }
            (id, _) => id,
        };
        let address = row.address.as_deref().and_then(|a| a.parse().ok());
        items.push(Item {
            place: format!("row {number}"),
            id,
            patch: row.patch,
            defaults: row.defaults,
            dropped: row.dropped,
            address,
        });
    }
    Ok(items)
}

/// A Murmurations organisation profile as a merge patch of every field it holds.
fn from_murmurations(
    profile: &Value,
) -> (Result<String, String>, Map<String, Value>, Vec<Dropped>) {
    let mut patch = Map::new();
    let mut dropped = vec![];
    let s = |k: &str| {
        profile
            .get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let Some(name) = s("name") else {
        return (Err("the profile has no name".into()), patch, dropped);
    };
    patch.insert("name".into(), json!(name));
    if let Some(n) = s("nickname") {
        patch.insert("alternate_names".into(), json!([n]));
    }
    if let Some(u) = s("primary_url") {
        let u = if u.contains("://") {
            u.to_owned()
        } else {
            format!("https://{u}")
        };
        patch.insert("website".into(), json!(u));
    }
    for (key, field) in [("description", "description"), ("mission", "mission")] {
        if let Some(t) = s(key) {
            let lang = detect(t).unwrap_or("en");
            patch.insert(field.into(), json!({ lang: t }));
        }
    }
    let mut tags = vec![];
    let mut concepts: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for tag in profile
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        use maillage_core::vocab::Scheme;
        let found = [
            (Scheme::OrganisationalStructure, "organisational_structures"),
            (Scheme::ActivitiesModified, "activities"),
            (Scheme::Themes, "themes"),
        ]
        .into_iter()
        .find_map(|(scheme, field)| vocab::find(&[scheme], tag).map(|c| (field, c.id())));
        match found {
            Some((field, id)) => concepts.entry(field).or_default().push(id),
            None => match maillage_core::body::OrganisationType::ALL
                .iter()
                .find(|t| t.as_str() == tag)
            {
                Some(t) => {
                    patch.insert("type".into(), json!(t.as_str()));
                }
                None => tags.push(tag.to_owned()),
            },
        }
    }
    for (field, mut ids) in concepts {
        ids.dedup();
        patch.insert(field.into(), json!(ids));
    }
    if !tags.is_empty() {
        patch.insert("tags".into(), json!(tags));
    }
    let mut links: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for u in profile
        .get("urls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(url) = u.get("url").and_then(Value::as_str) {
            let kind = u
                .get("name")
                .and_then(Value::as_str)
                .map_or("website".to_owned(), |n| {
                    let k = slug(n).replace(['.', '_'], "-");
                    if k.is_empty() { "website".into() } else { k }
                });
            links.entry(kind).or_default().push(url.to_owned());
        }
    }
    for (key, kind) in [
        ("image", "logo"),
        ("header_image", "header-image"),
        ("rss", "rss"),
    ] {
        if let Some(u) = s(key) {
            links.entry(kind.into()).or_default().push(u.to_owned());
        }
    }
    for i in profile
        .get("images")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(u) = i.get("url").and_then(Value::as_str).or(i.as_str()) {
            links.entry("image".into()).or_default().push(u.to_owned());
        }
    }
    let contact = &profile["contact_details"];
    if let Some(u) = contact.get("contact_form").and_then(Value::as_str) {
        links
            .entry("contact-form".into())
            .or_default()
            .push(u.to_owned());
    }
    for urls in links.values_mut() {
        urls.dedup();
    }
    if !links.is_empty() {
        patch.insert("links".into(), json!(links));
    }
    if let Some(e) = contact.get("email").and_then(Value::as_str) {
        patch.insert(
            "emails".into(),
            json!([e.trim().trim_start_matches("mailto:")]),
        );
    }
    if let Some(t) = s("telephone") {
        patch.insert("phones".into(), json!([t]));
    }
    let country = s("country_iso_3166").and_then(vocab::country_code);
    if let Some(c) = country {
        patch.insert("countries".into(), json!([c]));
        let regions: Vec<&str> = vocab::country_regions(c)
            .into_iter()
            .map(|r| r.as_str())
            .collect();
        if !regions.is_empty() {
            patch.insert("regions".into(), json!(regions));
        }
    } else if let Some(c) = s("country_iso_3166") {
        dropped.push(Dropped {
            column: "country_iso_3166".into(),
            value: c.into(),
            reason: "is not an ISO 3166 country".into(),
        });
    }
    let mut address = Map::new();
    if let Some(a) = s("full_address") {
        address.insert("street".into(), json!(a));
    }
    for (key, field) in [
        ("locality", "locality"),
        ("region", "region"),
        ("postal_code", "postcode"),
    ] {
        if let Some(v) = s(key) {
            address.insert(field.into(), json!(v));
        }
    }
    if let Some(c) = country {
        address.insert("country".into(), json!(c));
    }
    if !address.is_empty() {
        patch.insert("address".into(), Value::Object(address));
    }
    let geo = &profile["geolocation"];
    if let (Some(lat), Some(lon)) = (
        geo["lat"].as_f64().or(profile["latitude"].as_f64()),
        geo["lon"].as_f64().or(profile["longitude"].as_f64()),
    ) {
        patch.insert("location".into(), json!({"lat": lat, "lon": lon}));
    }
    let mut member_of = vec![];
    let mut relationships = vec![];
    for r in profile
        .get("relationships")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(p), Some(o)) = (r["predicate_url"].as_str(), r["object_url"].as_str()) else {
            continue;
        };
        if p.trim_end_matches('/').ends_with("schema.org/memberOf") {
            member_of.push(o.to_owned());
        } else {
            relationships.push(json!({"predicate": p, "object": o}));
        }
    }
    if !member_of.is_empty() {
        patch.insert("member_of".into(), json!(member_of));
    }
    if !relationships.is_empty() {
        patch.insert("relationships".into(), json!(relationships));
    }
    for (key, field) in [("starts_at", "founded"), ("ends_at", "dissolved")] {
        if let Some(t) = profile.get(key).and_then(Value::as_i64) {
            patch.insert(field.into(), json!(civil_date(t.div_euclid(86_400))));
        }
    }
    if let Some(st) = s("status") {
        let status = match st {
            "active" => Some("active"),
            "on_hold" => Some("inactive"),
            "in_planning" => Some("planned"),
            "completed" => Some("dissolved"),
            "cancelled" => Some("cancelled"),
            _ => None,
        };
        match status {
            Some(v) => {
                patch.insert("status".into(), json!(v));
            }
            None => dropped.push(Dropped {
                column: "status".into(),
                value: st.into(),
                reason: "is not a Murmurations status".into(),
            }),
        }
    }
    if let Some(g) = s("geographic_scope") {
        patch.insert("scope".into(), json!(g));
    }
    let id = match s("unique_id") {
        Some(u) if u.starts_with("maillage:") => u
            .rsplit('/')
            .next()
            .map(str::to_owned)
            .ok_or_else(|| "unique_id is empty".to_owned()),
        Some(u) => record_id("", u),
        None => s("primary_url")
            .map(|u| record_id("", u.split("://").nth(1).unwrap_or(u)))
            .unwrap_or_else(|| record_id("", name)),
    };
    (id, patch, dropped)
}

/// The date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn json_files(path: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot read the folder {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for entry in entries {
            if entry.is_dir() || entry.extension().is_some_and(|e| e == "json") {
                json_files(&entry, out)?;
            }
        }
    } else {
        out.push(path.to_owned());
    }
    Ok(())
}

fn read_murmurations(path: &Path) -> anyhow::Result<Vec<Item>> {
    let mut files = vec![];
    json_files(path, &mut files)?;
    let mut items = vec![];
    for file in files {
        let place = file.display().to_string();
        let text =
            std::fs::read_to_string(&file).with_context(|| format!("cannot read {place}"))?;
        let value: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                items.push(Item {
                    place: place.clone(),
                    id: Err(format!("is not JSON: {e}")),
                    patch: Map::new(),
                    defaults: Map::new(),
                    dropped: vec![],
                    address: None,
                });
                continue;
            }
        };
        let profiles = value.as_array().cloned().unwrap_or_else(|| vec![value]);
        let many = profiles.len() > 1;
        for (i, profile) in profiles.iter().enumerate() {
            let (id, patch, dropped) = from_murmurations(profile);
            let place = if many {
                format!("{place} [{i}]")
            } else {
                place.clone()
            };
            items.push(Item {
                place,
                id,
                patch,
                defaults: Map::new(),
                dropped,
                address: None,
            });
        }
    }
    Ok(items)
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
    let (items, dry_run, strict) = match import {
        Import::Csv {
            file,
            map,
            map_file,
            lang,
            source,
            encoding,
            strict,
            dry_run,
        } => {
            if let Some(l) = &lang
                && vocab::language(l).is_none()
            {
                bail!("--lang `{l}` is not an ISO 639-1 language code (like en, fr, es, pt)");
            }
            let map = parse_map(map.as_deref(), map_file.as_deref())?;
            (
                read_csv(
                    &file,
                    &map,
                    lang.as_deref(),
                    source.as_deref(),
                    encoding.as_deref(),
                )?,
                dry_run,
                strict,
            )
        }
        Import::Murmurations { path, dry_run } => (read_murmurations(&path)?, dry_run, false),
    };
    let (mut created, mut updated, mut unchanged, mut rejected, mut dropped) = (0, 0, 0, 0, 0);
    // A row a node exported names its record: one of another author that this node holds
    // already is that author's to sign, not this node's (a fresh node takes it as its own).
    let mut others = 0;
    let did = if items.iter().any(|i| i.address.is_some()) {
        Some(remote.did()?)
    } else {
        None
    };
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    let mut writes: Vec<(String, Value)> = vec![];
    for item in items {
        if let Some(address) = &item.address
            && Some(address.author.did()) != did
            && remote.holds(&format!(
                "/api/v1/records/{}",
                address.to_string().trim_start_matches("maillage:")
            ))?
        {
            others += 1;
            println!(
                "{}: {address} is {}'s, and this node holds it: left to its author (remove the Maillage Address column to sign it as this node's)",
                item.place,
                address.author.did()
            );
            continue;
        }
        for d in &item.dropped {
            dropped += 1;
            let action = if strict {
                "rejects the row"
            } else {
                "left out"
            };
            println!(
                "{}: {} `{}` {}: {action}",
                item.place, d.column, d.value, d.reason
            );
        }
        let id = match item.id {
            Err(problem) => Err(problem),
            Ok(_) if strict && !item.dropped.is_empty() => {
                Err("rejected (--strict) for the cells above".into())
            }
            Ok(id) => match ids.get(&id) {
                Some(first) => Err(format!(
                    "its id `{id}` is already {first}'s: give one of them another Identifier"
                )),
                None => Ok(id),
            },
        };
        match id {
            Err(problem) => {
                rejected += 1;
                println!("{}: {problem}", item.place);
            }
            Ok(id) => {
                ids.insert(id.clone(), item.place.clone());
                writes.push((item.place, json!({"kind": "organisation", "id": id, "patch": item.patch, "defaults": item.defaults})));
            }
        }
    }
    let terminal = std::io::stderr().is_terminal();
    let total = writes.len();
    for (done, chunk) in writes.chunks(BATCH).enumerate() {
        let body =
            json!({"dry_run": dry_run, "items": chunk.iter().map(|(_, w)| w).collect::<Vec<_>>()});
        let answer = remote.post("/api/v1/records/batch", &body)?;
        let answers = answer["items"]
            .as_array()
            .context("the node's batch answer has no items")?;
        for ((place, write), a) in chunk.iter().zip(answers) {
            let id = write["id"].as_str().unwrap_or_default();
            match a["outcome"].as_str() {
                Some("created") => {
                    created += 1;
                    if dry_run {
                        println!("{place}: would create {id}");
                    }
                }
                Some("updated") => {
                    updated += 1;
                    let fields: Vec<&str> = a["changed"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect();
                    if dry_run {
                        println!("{place}: would update {id}: {}", fields.join(", "));
                    }
                }
                Some("unchanged") => unchanged += 1,
                _ => {
                    rejected += 1;
                    println!("{place}: {}", a["error"].as_str().unwrap_or("rejected"));
                }
            }
        }
        if terminal {
            progress(((done + 1) * BATCH).min(total), total);
        }
    }
    let would = if dry_run {
        " (dry run: nothing was written)"
    } else {
        ""
    };
    let others = if others > 0 {
        format!(", {others} of other nodes left to their authors")
    } else {
        String::new()
    };
    println!(
        "{} organisations: {created} created, {updated} updated, {unchanged} unchanged, {rejected} rejected{others}; {dropped} cells left out{would}",
        created + updated + unchanged + rejected
    );
    if rejected > 0 {
        bail!("{rejected} organisations were rejected (listed above)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_readable_in_any_script() {
        assert_eq!(
            slug("Coopérative  de Dakar n°3"),
            "cooperative-de-dakar-ndeg3"
        );
        assert_eq!(slug("Ελληνική Συνεργασία"), "ellenike-sunergasia");
        assert_eq!(
            record_id("Members 2024", "R-12").unwrap(),
            "members-2024.r-12"
        );
        assert_eq!(record_id("", "R-12").unwrap(), "r-12");
        assert!(record_id("x", "—").is_err());
        assert!(record_id("list", &"a".repeat(100)).unwrap().len() <= 64);
    }

    #[test]
    fn dialects_and_encodings() {
        assert_eq!(delimiter("Nom;Ville;\"a,b\"\n"), b';');
        assert_eq!(delimiter("Name,Locality\n"), b',');
        assert_eq!(delimiter("Name\tLocality\n"), b'\t');
        let latin1 = b"Name,Locality\nCoop\xe9rative,Li\xe8ge\n";
        let text = decode(latin1, None, Path::new("x.csv")).unwrap();
        assert!(text.contains("Coopérative,Liège"), "{text}");
        let bom = b"\xef\xbb\xbfNom;Ville\n";
        assert_eq!(
            decode(bom, None, Path::new("x.csv")).unwrap(),
            "Nom;Ville\n"
        );
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(19_723), "2024-01-01");
    }
}
