//! An organisation as a row of a spreadsheet: the columns of the SSE "standard CSV" (as SEA
//! maps publish it, every version) and one column per further field. Reading a row gives a
//! JSON Merge Patch of the body holding only what the file's columns can express, with every
//! cell that had to be left out and why; writing gives cells that read back to the same body.
//! The CSV syntax itself is the caller's.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::body::{self, Organisation, OrganisationStatus, OrganisationType, Region, Scope};
use crate::vocab::{self, Scheme};

/// What a column holds.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    Identifier,
    Source,
    Name,
    AlternateNames,
    /// A description in a language, or (`None`) in a language the importer is to tell.
    Description(Option<String>),
    Mission(Option<String>),
    Type,
    Structures,
    /// ESSGLOBAL legal forms, and the register's own wording for the rest.
    LegalForms,
    BaseMembershipType,
    PrimaryActivity,
    Activities,
    ProductsServices,
    Qualifiers,
    Themes,
    TypeOfLabour,
    Tags,
    Scope,
    Street,
    Locality,
    Region,
    Postcode,
    Country,
    Countries,
    WorldRegions,
    Latitude,
    Longitude,
    Languages,
    Website,
    Emails,
    Phones,
    Link(String),
    Register(String),
    MemberOf,
    Relationships,
    Members,
    WomenMembers,
    MenMembers,
    Founded,
    Dissolved,
    Status,
    /// A column no field stands for, kept under its own name.
    Property(String),
    /// Written by exports for tracing a row to its record; read by nothing.
    Address,
    Hash,
}

/// Standard columns and the other names they go by, squashed (lower case, letters and digits).
const COLUMNS: &[(&str, &[&str])] = &[
    ("Identifier", &["id", "uniqueid"]),
    ("Source", &[]),
    ("Name", &["organisationname", "organizationname"]),
    (
        "Alternate Names",
        &["nickname", "othernames", "alternatename"],
    ),
    ("Description", &[]),
    ("Mission", &[]),
    ("Type", &["organisationtype"]),
    (
        "Organisational Structure",
        &["organizationalstructure", "organisationalstructures"],
    ),
    ("Legal Form", &["legalforms"]),
    ("Membership Type", &["basemembershiptype", "typology"]),
    ("Primary Activity", &["mainactivity", "primarysector"]),
    ("Activities", &["economicactivities", "additionalsectors"]),
    ("Products and Services", &["productsservices"]),
    ("Qualifiers", &[]),
    ("Themes", &[]),
    ("Type of Labour", &["typeoflabor"]),
    ("Tags", &["keywords"]),
    ("Scope", &["geographicscope"]),
    ("Street Address", &["street", "streetaddress", "address"]),
    ("Locality", &["city", "town"]),
    ("Region", &["state", "province"]),
    ("Postcode", &["postalcode", "zip", "zipcode"]),
    ("Country Name", &["country", "countryid", "countrycode"]),
    ("Countries", &[]),
    ("World Regions", &[]),
    ("Latitude", &["lat", "geocontainerlatitude"]),
    (
        "Longitude",
        &[
            "lon",
            "lng",
            "long",
            "geocontainerlongitude",
            "geocontainerlongitide",
        ],
    ),
    ("Languages", &[]),
    ("Website", &["url", "web", "homepage", "primaryurl"]),
    ("Phone", &["telephone", "phones", "tel"]),
    ("Email", &["emails", "mail", "emailaddress"]),
    ("Twitter", &[]),
    ("Facebook", &[]),
    ("Companies House Number", &[]),
    ("Geo Container", &[]),
    ("Member Of", &[]),
    ("Relationships", &[]),
    ("Members", &["totalofmembers", "numberofmembers"]),
    ("Women Members", &["totalwomen"]),
    ("Men Members", &["totalmen"]),
    ("Founded", &["foundingdate", "startdate", "yearfounded"]),
    ("Dissolved", &["dissolutiondate", "enddate"]),
    ("Status", &[]),
    ("Maillage Address", &[]),
    ("Hash", &[]),
];

/// Link kinds that have a standard column of their own.
const LINK_COLUMNS: [(&str, &str); 3] = [
    ("Twitter", "twitter"),
    ("Facebook", "facebook"),
    ("Geo Container", "geo-container"),
];
/// The register whose numbers have a standard column: Companies House (org-id.guide `GB-COH`).
const COMPANIES_HOUSE: &str = "GB-COH";

fn squash(name: &str) -> String {
    vocab::fold(name)
}

fn standard(header: &str) -> Field {
    match header {
        "Identifier" => Field::Identifier,
        "Source" => Field::Source,
        "Name" => Field::Name,
        "Alternate Names" => Field::AlternateNames,
        "Description" => Field::Description(None),
        "Mission" => Field::Mission(None),
        "Type" => Field::Type,
        "Organisational Structure" => Field::Structures,
        "Legal Form" => Field::LegalForms,
        "Membership Type" => Field::BaseMembershipType,
        "Primary Activity" => Field::PrimaryActivity,
        "Activities" => Field::Activities,
        "Products and Services" => Field::ProductsServices,
        "Qualifiers" => Field::Qualifiers,
        "Themes" => Field::Themes,
        "Type of Labour" => Field::TypeOfLabour,
        "Tags" => Field::Tags,
        "Scope" => Field::Scope,
        "Street Address" => Field::Street,
        "Locality" => Field::Locality,
        "Region" => Field::Region,
        "Postcode" => Field::Postcode,
        "Country Name" => Field::Country,
        "Countries" => Field::Countries,
        "World Regions" => Field::WorldRegions,
        "Latitude" => Field::Latitude,
        "Longitude" => Field::Longitude,
        "Languages" => Field::Languages,
        "Website" => Field::Website,
        "Phone" => Field::Phones,
        "Email" => Field::Emails,
        "Companies House Number" => Field::Register(COMPANIES_HOUSE.into()),
        "Member Of" => Field::MemberOf,
        "Relationships" => Field::Relationships,
        "Members" => Field::Members,
        "Women Members" => Field::WomenMembers,
        "Men Members" => Field::MenMembers,
        "Founded" => Field::Founded,
        "Dissolved" => Field::Dissolved,
        "Status" => Field::Status,
        "Maillage Address" => Field::Address,
        "Hash" => Field::Hash,
        other => LINK_COLUMNS
            .iter()
            .find(|(h, _)| *h == other)
            .map(|(_, kind)| Field::Link((*kind).into()))
            .expect("every standard column has a field"),
    }
}

/// The names of every standard column, for suggestions.
pub fn standard_columns() -> impl Iterator<Item = &'static str> {
    COLUMNS.iter().map(|(h, _)| *h)
}

/// The field a column name stands for: a standard column or one of its other names, a
/// keyed column (`Description (fr)`, `Link (instagram)`, `Identifier (FR-RNA)`), or `None`.
pub fn field_of(header: &str) -> Option<Field> {
    let header = header.trim().trim_start_matches('\u{feff}');
    let squashed = squash(header);
    if let Some((h, _)) = COLUMNS
        .iter()
        .find(|(h, other)| squash(h) == squashed || other.contains(&squashed.as_str()))
    {
        return Some(standard(h));
    }
    let (prefix, key) = match header.split_once('(') {
        Some((p, k)) => (
            squash(p),
            k.trim_end().trim_end_matches(')').trim().to_owned(),
        ),
        None => {
            // `Description_fr`, `description-fr`, `Description FR`.
            let (p, k) = header.rsplit_once([' ', '_', '-', ':'])?;
            (squash(p), k.trim().to_owned())
        }
    };
    let lang = key.to_ascii_lowercase();
    match prefix.as_str() {
        "description" if vocab::language(&lang).is_some() => Some(Field::Description(Some(lang))),
        "mission" if vocab::language(&lang).is_some() => Some(Field::Mission(Some(lang))),
        "link" | "links" if !key.is_empty() => Some(Field::Link(link_kind(&key))),
        "identifier" | "identifiers" | "register" if !key.is_empty() => Some(Field::Register(key)),
        _ => None,
    }
}

/// A link kind from a name people give it: `Work Site` → `work-site`.
fn link_kind(name: &str) -> String {
    let words: Vec<String> = name
        .split(|c: char| !c.is_alphanumeric())
        .map(vocab::fold)
        .filter(|w| !w.is_empty() && w.is_ascii())
        .collect();
    words.join("-").chars().take(64).collect()
}

/// A cell left out of a record, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// The column as the file names it.
    pub column: String,
    pub value: String,
    pub reason: String,
}

/// One row, read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    pub identifier: Option<String>,
    pub source: Option<String>,
    /// The `Maillage Address` of a row exported from a node: whose record it is.
    pub address: Option<String>,
    /// What the row sets (values) and clears (`null`): a JSON Merge Patch of the body.
    pub patch: Map<String, Value>,
    /// What the row gives only if the record has none (regions derived from the country).
    pub defaults: Map<String, Value>,
    /// Descriptions and missions whose language the importer is to tell.
    pub untagged: Vec<(Field, String)>,
    pub dropped: Vec<Dropped>,
}

/// A file's columns, as fields.
#[derive(Clone, Debug)]
pub struct Sheet {
    headers: Vec<String>,
    fields: Vec<Field>,
}

/// Placeholders people write in an empty cell.
fn blank(cell: &str) -> bool {
    matches!(
        cell.trim().to_lowercase().as_str(),
        "" | "n/a" | "na" | "n.a." | "-" | "--" | "none" | "null" | "nil" | "?" | "."
    )
}

/// Undoes [`neutralise`]: a spreadsheet's text marker before a formula character.
fn plain(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => cell,
    }
}

/// A cell safe to open in a spreadsheet: text starting with `=`, `+`, `-`, `@`, a tab or a
/// carriage return gets a leading `'`, so that no federated author can plant a formula.
/// Numbers stay as they are.
pub fn neutralise(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && cell.parse::<f64>().is_err() {
        format!("'{cell}")
    } else {
        cell
    }
}

fn items(cell: &str) -> impl Iterator<Item = &str> {
    cell.split([';', '|', '\n'])
        .map(|i| i.trim().trim_matches('\''))
        .filter(|i| !blank(i))
}

fn set(patch: &mut Map<String, Value>, path: &[&str], value: Value) {
    let (last, parents) = path.split_last().expect("a path names a field");
    let mut map = patch;
    for p in parents {
        let slot = map.entry(*p).or_insert_with(|| json!({}));
        if !slot.is_object() {
            *slot = json!({});
        }
        map = slot.as_object_mut().expect("made an object above");
    }
    map.insert((*last).to_owned(), value);
}

/// Text as a body holds it: line ends as `\n`, no other control characters.
fn clean(text: &str) -> String {
    text.trim()
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}

fn number(cell: &str) -> Option<f64> {
    let cell = cell.trim();
    cell.parse::<f64>()
        .or_else(|_| cell.replace(',', ".").parse::<f64>())
        .ok()
        .filter(|n| n.is_finite())
}

fn enum_value<T: Copy>(all: &[T], name: fn(T) -> &'static str, cell: &str) -> Option<T> {
    let folded = vocab::fold(cell);
    all.iter()
        .copied()
        .find(|v| vocab::fold(name(*v)) == folded)
}

fn url_of(cell: &str) -> Option<String> {
    let cell = cell.trim();
    let url = if cell.contains("://") {
        cell.to_owned()
    } else if cell.contains('.') && !cell.contains(char::is_whitespace) && !cell.contains('@') {
        format!("https://{cell}")
    } else {
        return None;
    };
    let host_ok = url::Url::parse(&url)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.contains('.') || h == "localhost"))
        .unwrap_or(false);
    (host_ok && body::url("", &url).is_ok()).then_some(url)
}

/// A social account as a URL: a URL as it is, or a handle on the service's site.
fn account(kind: &str, cell: &str) -> Option<String> {
    if cell.contains("://") || cell.starts_with("www.") {
        return url_of(cell);
    }
    let handle = cell.trim().trim_start_matches(['@', '#', '/']);
    let base = match kind {
        "twitter" => "https://twitter.com/",
        "facebook" => "https://www.facebook.com/",
        "instagram" => "https://www.instagram.com/",
        _ => return url_of(cell),
    };
    let ok = !handle.is_empty()
        && handle
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'));
    ok.then(|| format!("{base}{handle}"))
}

fn concept_list(schemes: &[Scheme], cell: &str, mut drop: impl FnMut(&str, String)) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for item in items(cell) {
        match vocab::find(schemes, item) {
            Some(c) if !out.contains(&c.id()) => out.push(c.id()),
            Some(_) => {}
            None => drop(
                item,
                format!("is not a concept of ESSGLOBAL {}", names(schemes)),
            ),
        }
    }
    out
}

fn names(schemes: &[Scheme]) -> String {
    schemes
        .iter()
        .map(|s| format!("`{}`", s.name()))
        .collect::<Vec<_>>()
        .join(" or ")
}

fn date(cell: &str) -> Option<String> {
    let cell = cell.trim();
    let date = cell.split(['T', ' ']).next().unwrap_or(cell);
    let date = date.strip_suffix(".0").unwrap_or(date);
    body::date("", date).is_ok().then(|| date.to_owned())
}

fn country_list(cell: &str, mut drop: impl FnMut(&str, String)) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for item in items(cell) {
        match vocab::country_code(item) {
            Some(c) if !out.iter().any(|o| o == c) => out.push(c.to_owned()),
            Some(_) => {}
            None => drop(item, "is not a country name or ISO 3166 code".into()),
        }
    }
    out
}

fn derived_regions(countries: &[String]) -> Vec<&'static str> {
    let mut regions: Vec<Region> = countries
        .iter()
        .flat_map(|c| vocab::country_regions(c))
        .collect();
    regions.sort();
    regions.dedup();
    regions.into_iter().map(Region::as_str).collect()
}

impl Sheet {
    /// The columns of a file, from its header row; `map` renames columns (squashed source
    /// name → a standard column or keyed column name). A column no field stands for is kept
    /// as a property under its own name.
    pub fn new(headers: &[String], map: &BTreeMap<String, String>) -> Sheet {
        let fields = headers
            .iter()
            .map(|h| {
                let target = map.get(&squash(h)).map_or(h.as_str(), String::as_str);
                field_of(target).unwrap_or_else(|| {
                    Field::Property(h.trim().trim_start_matches('\u{feff}').to_owned())
                })
            })
            .collect();
        Sheet {
            headers: headers.to_vec(),
            fields,
        }
    }

    pub fn has(&self, field: &Field) -> bool {
        self.fields.contains(field)
    }

    /// The columns kept as properties.
    pub fn properties(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().filter_map(|f| match f {
            Field::Property(name) => Some(name.as_str()),
            _ => None,
        })
    }

    /// Fields in the order of their first column, each with the first non-empty cell of its
    /// columns and that column's name (or the first column's, if all are empty).
    fn cells<'a>(&'a self, cells: &'a [String]) -> Vec<(&'a Field, &'a str, &'a str)> {
        let mut out: Vec<(&Field, &str, &str)> = vec![];
        for (i, field) in self.fields.iter().enumerate() {
            let cell = plain(cells.get(i).map_or("", String::as_str));
            let cell = if blank(cell) { "" } else { cell };
            match out.iter_mut().find(|(f, _, _)| *f == field) {
                Some(slot) if slot.1.is_empty() && !cell.is_empty() => {
                    *slot = (field, cell, &self.headers[i]);
                }
                Some(_) => {}
                None => out.push((field, cell, &self.headers[i])),
            }
        }
        out
    }

    /// One row: what it sets and clears, and what it had to leave out.
    pub fn read(&self, cells: &[String]) -> Row {
        let mut row = Row::default();
        // (column, cell) of the latitude and of the longitude.
        let mut location: [Option<(&str, &str)>; 2] = [None, None];
        let mut countries_given: Option<Vec<String>> = None;
        for (field, cell, column) in self.cells(cells) {
            let mut dropped = vec![];
            let mut drop = |value: &str, reason: String| {
                dropped.push(Dropped {
                    column: column.to_owned(),
                    value: value.to_owned(),
                    reason,
                })
            };
            let text = clean(cell);
            let empty = text.is_empty();
            let value = |v: Value| if empty { Value::Null } else { v };
            let list = |v: Vec<String>| if v.is_empty() { Value::Null } else { json!(v) };
            let patch = &mut row.patch;
            match field {
                Field::Identifier => row.identifier = (!empty).then_some(text),
                Field::Source => row.source = Some(text),
                Field::Name => set(patch, &["name"], value(json!(text))),
                Field::AlternateNames => {
                    let names: Vec<String> = items(&text).map(str::to_owned).collect();
                    set(patch, &["alternate_names"], list(names));
                }
                Field::Description(Some(lang)) => {
                    set(patch, &["description", lang], value(json!(text)))
                }
                Field::Mission(Some(lang)) => set(patch, &["mission", lang], value(json!(text))),
                Field::Description(None) | Field::Mission(None) => {
                    if !empty {
                        row.untagged.push((field.clone(), text));
                    }
                }
                Field::Type => {
                    let v = enum_value(&OrganisationType::ALL, OrganisationType::as_str, &text);
                    if v.is_none() && !empty {
                        drop(&text, "is not a type: network, initiative, support, agency, research or funder".into());
                    }
                    set(patch, &["type"], json!(v.map(OrganisationType::as_str)));
                }
                Field::Scope => {
                    let v = enum_value(&Scope::ALL, Scope::as_str, &text);
                    if v.is_none() && !empty {
                        drop(&text, "is not a scope: local, regional, national, continental, international or global".into());
                    }
                    set(patch, &["scope"], json!(v.map(Scope::as_str)));
                }
                Field::Status => {
                    let folded = vocab::fold(&text);
                    let v = enum_value(&OrganisationStatus::ALL, OrganisationStatus::as_str, &text)
                        .or(match folded.as_str() {
                            "onhold" => Some(OrganisationStatus::Inactive),
                            "inplanning" => Some(OrganisationStatus::Planned),
                            "completed" | "closed" => Some(OrganisationStatus::Dissolved),
                            _ => None,
                        });
                    if v.is_none() && !empty {
                        drop(
                            &text,
                            "is not a status: planned, active, inactive, dissolved or cancelled"
                                .into(),
                        );
                    }
                    set(patch, &["status"], json!(v.map(OrganisationStatus::as_str)));
                }
                Field::Structures => {
                    let v = concept_list(&[Scheme::OrganisationalStructure], &text, &mut drop);
                    set(patch, &["organisational_structures"], list(v));
                }
                Field::LegalForms => {
                    let (mut concepts, mut wording) = (vec![], vec![]);
                    for item in items(&text) {
                        match vocab::find(&[Scheme::LegalForm], item) {
                            Some(c) => concepts.push(c.id()),
                            None => wording.push(item),
                        }
                    }
                    concepts.dedup();
                    set(patch, &["legal_forms"], list(concepts));
                    let wording = wording.join("; ");
                    set(
                        patch,
                        &["legal_form"],
                        if wording.is_empty() {
                            Value::Null
                        } else {
                            json!(wording)
                        },
                    );
                }
                Field::PrimaryActivity | Field::BaseMembershipType => {
                    let (schemes, key): (&[Scheme], &str) = if *field == Field::PrimaryActivity {
                        (&Scheme::ACTIVITIES, "primary_activity")
                    } else {
                        (&[Scheme::BaseMembershipType], "base_membership_type")
                    };
                    let v = concept_list(schemes, &text, &mut drop);
                    for extra in v.iter().skip(1) {
                        drop(extra, format!("only one is kept, `{}`", v[0]));
                    }
                    set(patch, &[key], json!(v.first()));
                }
                Field::Activities
                | Field::ProductsServices
                | Field::Qualifiers
                | Field::Themes
                | Field::TypeOfLabour => {
                    let (schemes, key): (&[Scheme], &str) = match field {
                        Field::Activities => (&Scheme::ACTIVITIES, "activities"),
                        Field::ProductsServices => {
                            (&[Scheme::ProductsServices], "products_services")
                        }
                        Field::Qualifiers => (&[Scheme::Qualifiers], "qualifiers"),
                        Field::Themes => (&[Scheme::Themes], "themes"),
                        _ => (&[Scheme::TypeOfLabour], "type_of_labour"),
                    };
                    let v = concept_list(schemes, &text, &mut drop);
                    set(patch, &[key], list(v));
                }
                Field::Tags => {
                    let tags: Vec<String> = items(&text).map(str::to_owned).collect();
                    set(patch, &["tags"], list(tags));
                }
                Field::Street | Field::Locality | Field::Region | Field::Postcode => {
                    let key = match field {
                        Field::Street => "street",
                        Field::Locality => "locality",
                        Field::Region => "region",
                        _ => "postcode",
                    };
                    set(patch, &["address", key], value(json!(text)));
                }
                Field::Country => {
                    let code = (!empty).then(|| vocab::country_code(&text)).flatten();
                    if code.is_none() && !empty {
                        drop(&text, "is not a country name or ISO 3166 code".into());
                    }
                    set(patch, &["address", "country"], json!(code));
                    if !self.has(&Field::Countries) {
                        let v: Vec<String> = code.into_iter().map(str::to_owned).collect();
                        set(patch, &["countries"], list(v.clone()));
                        countries_given = Some(v);
                    }
                }
                Field::Countries => {
                    let v = country_list(&text, &mut drop);
                    set(patch, &["countries"], list(v.clone()));
                    countries_given = Some(v);
                }
                Field::WorldRegions => {
                    let mut v: Vec<&str> = vec![];
                    for item in items(&text) {
                        match enum_value(&Region::ALL, Region::as_str, item) {
                            Some(r) if !v.contains(&r.as_str()) => v.push(r.as_str()),
                            Some(_) => {}
                            None => drop(item, "is not a world region: africa, asia-pacific, europe, latin-america-caribbean, north-america or mena".into()),
                        }
                    }
                    set(
                        patch,
                        &["regions"],
                        list(v.into_iter().map(str::to_owned).collect()),
                    );
                }
                Field::Latitude => location[0] = Some((column, cell)),
                Field::Longitude => location[1] = Some((column, cell)),
                Field::Languages => {
                    let mut v: Vec<String> = vec![];
                    for item in items(&text) {
                        let code = item.to_ascii_lowercase();
                        let code = if vocab::language(&code).is_some() {
                            Some(code)
                        } else {
                            vocab::languages()
                                .find(|(_, name)| vocab::fold(name) == vocab::fold(item))
                                .map(|(c, _)| c.to_owned())
                        };
                        match code {
                            Some(c) if !v.contains(&c) => v.push(c),
                            Some(_) => {}
                            None => drop(item, "is not an ISO 639-1 language".into()),
                        }
                    }
                    set(patch, &["languages"], list(v));
                }
                Field::Website => {
                    let mut urls: Vec<String> = vec![];
                    for item in text.split([';', '|', '\n', ' ']).filter(|i| !blank(i)) {
                        match url_of(item) {
                            Some(u) if !urls.contains(&u) => urls.push(u),
                            Some(_) => {}
                            None => drop(item, "is not a web address".into()),
                        }
                    }
                    set(patch, &["website"], json!(urls.first()));
                    if !self.has(&Field::Link("website".into())) {
                        set(
                            patch,
                            &["links", "website"],
                            list(urls.split_off(urls.len().min(1))),
                        );
                    }
                }
                Field::Emails => {
                    let mut v: Vec<String> = vec![];
                    for item in text.split([';', ',', '|', '\n', ' ']).filter(|i| !blank(i)) {
                        let item = item.trim().trim_start_matches("mailto:");
                        match body::email("", item) {
                            Ok(()) if !v.iter().any(|e| e == item) => v.push(item.to_owned()),
                            Ok(()) => {}
                            Err(_) => drop(item, "is not an e-mail address".into()),
                        }
                    }
                    set(patch, &["emails"], list(v));
                }
                Field::Phones => {
                    let mut v: Vec<String> = vec![];
                    for item in items(&text) {
                        match body::phone("", item) {
                            Ok(()) if !v.iter().any(|p| p == item) => v.push(item.to_owned()),
                            Ok(()) => {}
                            Err(_) => drop(item, "is not a phone number".into()),
                        }
                    }
                    set(patch, &["phones"], list(v));
                }
                Field::Link(kind) => {
                    let mut v: Vec<String> = vec![];
                    for item in items(&text) {
                        match account(kind, item) {
                            Some(u) if !v.contains(&u) => v.push(u),
                            Some(_) => {}
                            None => drop(item, "is not a web address or account name".into()),
                        }
                    }
                    set(patch, &["links", kind], list(v));
                }
                Field::Register(scheme) => set(patch, &["identifiers", scheme], value(json!(text))),
                Field::MemberOf => {
                    let mut v: Vec<String> = vec![];
                    for item in items(&text) {
                        let item = url_of(item)
                            .filter(|_| !item.starts_with("maillage:"))
                            .unwrap_or_else(|| item.to_owned());
                        match body::reference("", &item) {
                            Ok(()) if !v.contains(&item) => v.push(item),
                            Ok(()) => {}
                            Err(_) => drop(
                                &item,
                                "is neither a maillage: address nor a web address".into(),
                            ),
                        }
                    }
                    set(patch, &["member_of"], list(v));
                }
                Field::Relationships => {
                    let mut v: Vec<Value> = vec![];
                    for item in items(&text) {
                        match item.split_once(char::is_whitespace) {
                            Some((p, o))
                                if body::url("", p).is_ok()
                                    && body::reference("", o.trim()).is_ok() =>
                            {
                                v.push(json!({"predicate": p, "object": o.trim()}))
                            }
                            _ => drop(item, "is not `<predicate URI> <object URI>`".into()),
                        }
                    }
                    set(
                        patch,
                        &["relationships"],
                        if v.is_empty() {
                            Value::Null
                        } else {
                            Value::Array(v)
                        },
                    );
                }
                Field::Members | Field::WomenMembers | Field::MenMembers => {
                    let key = match field {
                        Field::Members => "total",
                        Field::WomenMembers => "women",
                        _ => "men",
                    };
                    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                    let n = digits.parse::<u32>().ok();
                    if n.is_none() && !empty {
                        drop(&text, "is not a whole number".into());
                    }
                    set(patch, &["members", key], json!(n));
                }
                Field::Founded | Field::Dissolved => {
                    let key = if *field == Field::Founded {
                        "founded"
                    } else {
                        "dissolved"
                    };
                    let d = date(&text);
                    if d.is_none() && !empty {
                        drop(&text, "is not a date as YYYY, YYYY-MM or YYYY-MM-DD".into());
                    }
                    set(patch, &[key], json!(d));
                }
                Field::Property(name) => set(patch, &["properties", name], value(json!(text))),
                Field::Address => row.address = (!empty).then_some(text),
                Field::Hash => {}
            }
            row.dropped.extend(dropped);
        }
        match location {
            [Some((lat_col, lat)), Some((lon_col, lon))] => {
                let (blank_lat, blank_lon) = (lat.trim().is_empty(), lon.trim().is_empty());
                if blank_lat && blank_lon {
                    row.patch.insert("location".into(), Value::Null);
                } else {
                    let (a, b) = (number(lat), number(lon));
                    match (a, b) {
                        (Some(a), Some(b)) if a.abs() <= 90.0 && b.abs() <= 180.0 => {
                            row.patch
                                .insert("location".into(), json!({"lat": a, "lon": b}));
                        }
                        _ => {
                            for (column, value) in [(lat_col, lat), (lon_col, lon)] {
                                row.dropped.push(Dropped {
                                    column: column.into(),
                                    value: value.into(),
                                    reason: "Latitude and Longitude must both be decimal degrees, within ±90 and ±180".into(),
                                });
                            }
                        }
                    }
                }
            }
            [Some((column, value)), None] | [None, Some((column, value))]
                if !value.trim().is_empty() =>
            {
                row.dropped.push(Dropped {
                    column: column.into(),
                    value: value.into(),
                    reason: "Latitude and Longitude go together: the file has only one of them"
                        .into(),
                });
            }
            _ => {}
        }
        if !self.has(&Field::WorldRegions)
            && let Some(countries) = countries_given
        {
            let regions = derived_regions(&countries);
            if !regions.is_empty() {
                row.defaults.insert("regions".into(), json!(regions));
            }
        }
        row
    }
}

/// The columns an export writes: the standard ones, then one per further field, with one
/// column per language, link kind, register and property that the exported records use.
#[derive(Clone, Debug, Default)]
pub struct Columns {
    descriptions: BTreeSet<String>,
    missions: BTreeSet<String>,
    links: BTreeSet<String>,
    registers: BTreeSet<String>,
    properties: BTreeSet<String>,
}

/// Languages first in RIPESS's working order, then by code.
fn language_order(langs: &BTreeSet<String>) -> Vec<&str> {
    let mut out: Vec<&str> = langs.iter().map(String::as_str).collect();
    let rank = |l: &str| {
        ["en", "fr", "es", "pt"]
            .iter()
            .position(|w| *w == l)
            .unwrap_or(4)
    };
    out.sort_by_key(|l| (rank(l), *l));
    out
}

impl Columns {
    /// Makes room for what `o` holds.
    pub fn add(&mut self, o: &Organisation) {
        self.descriptions.extend(o.description.keys().cloned());
        self.missions.extend(o.mission.keys().cloned());
        let standard: Vec<&str> = LINK_COLUMNS.iter().map(|(_, k)| *k).collect();
        self.links.extend(
            o.links
                .keys()
                .filter(|k| !standard.contains(&k.as_str()))
                .cloned(),
        );
        self.registers.extend(
            o.identifiers
                .keys()
                .filter(|k| *k != COMPANIES_HOUSE)
                .cloned(),
        );
        self.properties.extend(o.properties.keys().cloned());
    }

    fn fields(&self) -> Vec<(String, Field)> {
        let mut out: Vec<(String, Field)> = ["Identifier", "Name"]
            .map(|h| (h.to_owned(), standard(h)))
            .into();
        for l in language_order(&self.descriptions) {
            out.push((
                format!("Description ({l})"),
                Field::Description(Some(l.into())),
            ));
        }
        for header in [
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
            "Companies House Number",
            "Qualifiers",
            "Membership Type",
            "Latitude",
            "Longitude",
            "Geo Container",
            "Source",
            "Alternate Names",
        ] {
            out.push((header.to_owned(), standard(header)));
        }
        for l in language_order(&self.missions) {
            out.push((format!("Mission ({l})"), Field::Mission(Some(l.into()))));
        }
        for header in [
            "Type",
            "Legal Form",
            "Products and Services",
            "Themes",
            "Type of Labour",
            "Tags",
            "Scope",
            "Countries",
            "World Regions",
            "Languages",
        ] {
            out.push((header.to_owned(), standard(header)));
        }
        for k in &self.links {
            out.push((format!("Link ({k})"), Field::Link(k.clone())));
        }
        for s in &self.registers {
            out.push((format!("Identifier ({s})"), Field::Register(s.clone())));
        }
        for header in [
            "Member Of",
            "Relationships",
            "Members",
            "Women Members",
            "Men Members",
            "Founded",
            "Dissolved",
            "Status",
        ] {
            out.push((header.to_owned(), standard(header)));
        }
        for p in &self.properties {
            out.push((p.clone(), Field::Property(p.clone())));
        }
        out.push(("Maillage Address".into(), Field::Address));
        out.push(("Hash".into(), Field::Hash));
        out
    }

    /// The header row.
    pub fn header(&self) -> Vec<String> {
        self.fields().into_iter().map(|(h, _)| h).collect()
    }

    /// One organisation's cells, in the order of [`Columns::header`]; `id`, `address` and
    /// `hash` are its record's.
    pub fn cells(&self, id: &str, address: &str, hash: &str, o: &Organisation) -> Vec<String> {
        let join = |v: &[String]| v.join("; ");
        let codes = |v: &[String]| {
            v.iter()
                .map(|c| vocab::concept(c).map_or(c.clone(), |c| c.code.clone()))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let a = o.address.clone().unwrap_or_default();
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let count = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
        let members = o.members.unwrap_or_default();
        self.fields()
            .into_iter()
            .map(|(_, field)| match field {
                Field::Identifier => id.to_owned(),
                Field::Source => String::new(),
                Field::Name => o.name.clone(),
                Field::AlternateNames => join(&o.alternate_names),
                Field::Description(l) => l
                    .and_then(|l| o.description.get(&l).cloned())
                    .unwrap_or_default(),
                Field::Mission(l) => l
                    .and_then(|l| o.mission.get(&l).cloned())
                    .unwrap_or_default(),
                Field::Type => o
                    .org_type
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
                Field::Structures => codes(&o.organisational_structures),
                Field::LegalForms => {
                    let mut v: Vec<String> = o
                        .legal_forms
                        .iter()
                        .map(|c| vocab::concept(c).map_or(c.clone(), |c| c.code.clone()))
                        .collect();
                    v.extend(o.legal_form.clone());
                    v.join("; ")
                }
                Field::BaseMembershipType => codes(o.base_membership_type.as_slice()),
                Field::PrimaryActivity => codes(o.primary_activity.as_slice()),
                Field::Activities => codes(&o.activities),
                Field::ProductsServices => codes(&o.products_services),
                Field::Qualifiers => codes(&o.qualifiers),
                Field::Themes => codes(&o.themes),
                Field::TypeOfLabour => codes(&o.type_of_labour),
                Field::Tags => join(&o.tags),
                Field::Scope => o.scope.map(|s| s.as_str().to_owned()).unwrap_or_default(),
                Field::Street => opt(&a.street),
                Field::Locality => opt(&a.locality),
                Field::Region => opt(&a.region),
                Field::Postcode => opt(&a.postcode),
                Field::Country => a
                    .country
                    .as_deref()
                    .and_then(vocab::country)
                    .unwrap_or_default()
                    .to_owned(),
                Field::Countries => join(&o.countries),
                Field::WorldRegions => o
                    .regions
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
                Field::Latitude => o.location.map(|l| l.lat().to_string()).unwrap_or_default(),
                Field::Longitude => o.location.map(|l| l.lon().to_string()).unwrap_or_default(),
                Field::Languages => join(&o.languages),
                Field::Website => opt(&o.website),
                Field::Emails => join(&o.emails),
                Field::Phones => join(&o.phones),
                Field::Link(kind) => o.links.get(&kind).map(|v| join(v)).unwrap_or_default(),
                Field::Register(s) => o.identifiers.get(&s).cloned().unwrap_or_default(),
                Field::MemberOf => join(&o.member_of),
                Field::Relationships => o
                    .relationships
                    .iter()
                    .map(|r| format!("{} {}", r.predicate, r.object))
                    .collect::<Vec<_>>()
                    .join("; "),
                Field::Members => count(members.total),
                Field::WomenMembers => count(members.women),
                Field::MenMembers => count(members.men),
                Field::Founded => opt(&o.founded),
                Field::Dissolved => opt(&o.dissolved),
                Field::Status => o.status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
                Field::Property(p) => o.properties.get(&p).cloned().unwrap_or_default(),
                Field::Address => address.to_owned(),
                Field::Hash => hash.to_owned(),
            })
            .map(neutralise)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(headers: &[&str], cells: &[&str]) -> Row {
        let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        let cells: Vec<String> = cells.iter().map(|c| c.to_string()).collect();
        Sheet::new(&headers, &BTreeMap::new()).read(&cells)
    }

    #[test]
    fn a_sea_2_1_row_reads_whole() {
        let row = read(
            &[
                "Identifier",
                "Name",
                "Organisational Structure",
                "Primary Activity",
                "Country ID",
                "Membership Type",
                "Latitude",
                "Longitude",
                "Geo Container",
                "Geo Container Latitude",
                "Geo Container Longitude",
                "Companies House Number",
                "Legal Form",
                "SIC Code",
            ],
            &[
                "R006884",
                "Maesteg Workmen's Club",
                "https://dev.lod.coop/essglobal/2.1/standard/organisational-structure/OS130",
                "https://dev.lod.coop/essglobal/2.1/standard/activities-ica/ICA280",
                "GB",
                "https://dev.lod.coop/essglobal/2.1/standard/base-membership-type/BMT10",
                "",
                "",
                "http://data.ordnancesurvey.co.uk/id/postcodeunit/CF349YY",
                "51.608344",
                "-3.654703",
                "SC399880",
                "Society",
                "94990",
            ],
        );
        assert_eq!(row.dropped, vec![]);
        assert_eq!(row.identifier.as_deref(), Some("R006884"));
        let p = Value::Object(row.patch);
        assert_eq!(
            p["organisational_structures"],
            json!(["organisational-structure:OS130"])
        );
        assert_eq!(p["primary_activity"], "activities-ica:ICA280");
        assert_eq!(p["base_membership_type"], "base-membership-type:BMT10");
        assert_eq!(p["countries"], json!(["GB"]));
        assert_eq!(p["address"]["country"], "GB");
        assert_eq!(p["location"], json!({"lat": 51.608344, "lon": -3.654703}));
        assert_eq!(p["identifiers"]["GB-COH"], "SC399880");
        assert_eq!(p["legal_form"], "Society");
        assert_eq!(p["properties"]["SIC Code"], "94990");
        assert_eq!(
            p["links"]["geo-container"],
            json!(["http://data.ordnancesurvey.co.uk/id/postcodeunit/CF349YY"])
        );
        assert_eq!(row.defaults["regions"], json!(["europe"]));
    }

    #[test]
    fn bad_cells_are_dropped_one_by_one_and_said() {
        let row = read(
            &[
                "Name",
                "Email",
                "Website",
                "Phone",
                "Activities",
                "Twitter",
                "Facebook",
            ],
            &[
                "X",
                "a@x.org; b@x.org; nobody",
                "n/a",
                "+33 1 23 45 67 89 | none",
                "AM60; Juggling; ICA280",
                "@coop_x",
                "groups/276228523974615",
            ],
        );
        let p = Value::Object(row.patch.clone());
        assert_eq!(p["emails"], json!(["a@x.org", "b@x.org"]));
        assert_eq!(p["website"], Value::Null);
        assert_eq!(p["phones"], json!(["+33 1 23 45 67 89"]));
        assert_eq!(
            p["activities"],
            json!(["activities-modified:AM60", "activities-ica:ICA280"])
        );
        assert_eq!(p["links"]["twitter"], json!(["https://twitter.com/coop_x"]));
        assert_eq!(
            p["links"]["facebook"],
            json!(["https://www.facebook.com/groups/276228523974615"])
        );
        let dropped: Vec<(&str, &str)> = row
            .dropped
            .iter()
            .map(|d| (d.column.as_str(), d.value.as_str()))
            .collect();
        assert_eq!(dropped, [("Email", "nobody"), ("Activities", "Juggling")]);
    }

    #[test]
    fn the_first_non_empty_of_two_columns_wins() {
        let row = read(&["Name", "Website", "URL"], &["X", "", "https://b.example"]);
        assert_eq!(row.patch["website"], "https://b.example");
        let row = read(
            &["Name", "Website", "URL"],
            &["X", "https://a.example", "https://b.example"],
        );
        assert_eq!(row.patch["website"], "https://a.example");
    }

    #[test]
    fn keyed_columns_and_neutralised_cells() {
        assert_eq!(
            field_of("Description (fr)"),
            Some(Field::Description(Some("fr".into())))
        );
        assert_eq!(
            field_of("description_es"),
            Some(Field::Description(Some("es".into())))
        );
        assert_eq!(
            field_of("Link (Instagram)"),
            Some(Field::Link("instagram".into()))
        );
        assert_eq!(
            field_of("Identifier (FR-RNA)"),
            Some(Field::Register("FR-RNA".into()))
        );
        assert_eq!(field_of("Country ID"), Some(Field::Country));
        assert_eq!(field_of("Sector"), None);
        assert_eq!(neutralise("=HYPERLINK(1)".into()), "'=HYPERLINK(1)");
        assert_eq!(neutralise("-17.44".into()), "-17.44");
        assert_eq!(neutralise("+221 33".into()), "'+221 33");
        let row = read(&["Name", "Phone"], &["'=1+1", "'+221 33 800 00 00"]);
        assert_eq!(row.patch["name"], "=1+1");
        assert_eq!(row.patch["phones"], json!(["+221 33 800 00 00"]));
    }
}
