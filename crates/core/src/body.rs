//! The typed content of records, one struct per kind, and its validation.
//!
//! Absent optional fields are left out of the encoding (never `null`, never an empty list):
//! with unknown fields also rejected, one body has exactly one encoding, and a signature
//! covers exactly what a node shows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::vocab::{self, Scheme};
use crate::{Address, Error, Kind};

/// Longest name or title, in characters.
pub const MAX_NAME: usize = 300;
/// Longest description in one language, in characters.
pub const MAX_DESCRIPTION: usize = 10_000;
/// Longest short text (address lines, legal form, identifier values…), in characters.
pub const MAX_SHORT: usize = 300;
/// Longest URL, in bytes.
pub const MAX_URL: usize = 2_000;
/// Most items in any list.
pub const MAX_ITEMS: usize = 200;

/// A record's content. A tombstone (`{"deleted": true}`) keeps its address and kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    Organisation(Box<Organisation>),
    Collaboration(Box<Collaboration>),
    Endorsement(Endorsement),
    Deleted,
}

impl Body {
    /// The kind a body belongs to, or `None` for a tombstone (which fits every kind).
    pub fn kind(&self) -> Option<Kind> {
        match self {
            Body::Organisation(_) => Some(Kind::Organisation),
            Body::Collaboration(_) => Some(Kind::Collaboration),
            Body::Endorsement(_) => Some(Kind::Endorsement),
            Body::Deleted => None,
        }
    }

    pub fn is_deleted(&self) -> bool {
        matches!(self, Body::Deleted)
    }

    pub fn validate(&self) -> Result<(), Error> {
        match self {
            Body::Organisation(o) => o.validate(),
            Body::Collaboration(c) => c.validate(),
            Body::Endorsement(e) => e.validate(),
            Body::Deleted => Ok(()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrganisationType {
    Network,
    Initiative,
    Support,
    Agency,
    Research,
    Funder,
}

impl OrganisationType {
    pub const ALL: [OrganisationType; 6] = [
        OrganisationType::Network,
        OrganisationType::Initiative,
        OrganisationType::Support,
        OrganisationType::Agency,
        OrganisationType::Research,
        OrganisationType::Funder,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrganisationType::Network => "network",
            OrganisationType::Initiative => "initiative",
            OrganisationType::Support => "support",
            OrganisationType::Agency => "agency",
            OrganisationType::Research => "research",
            OrganisationType::Funder => "funder",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    Local,
    Regional,
    National,
    Continental,
    /// Several continents, as Murmurations' `international`.
    International,
    Global,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::Local,
        Scope::Regional,
        Scope::National,
        Scope::Continental,
        Scope::International,
        Scope::Global,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Local => "local",
            Scope::Regional => "regional",
            Scope::National => "national",
            Scope::Continental => "continental",
            Scope::International => "international",
            Scope::Global => "global",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Region {
    Africa,
    AsiaPacific,
    Europe,
    LatinAmericaCaribbean,
    NorthAmerica,
    Mena,
}

impl Region {
    pub const ALL: [Region; 6] = [
        Region::Africa,
        Region::AsiaPacific,
        Region::Europe,
        Region::LatinAmericaCaribbean,
        Region::NorthAmerica,
        Region::Mena,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Region::Africa => "africa",
            Region::AsiaPacific => "asia-pacific",
            Region::Europe => "europe",
            Region::LatinAmericaCaribbean => "latin-america-caribbean",
            Region::NorthAmerica => "north-america",
            Region::Mena => "mena",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrganisationStatus {
    Planned,
    Active,
    Inactive,
    Dissolved,
    Cancelled,
}

impl OrganisationStatus {
    pub const ALL: [OrganisationStatus; 5] = [
        OrganisationStatus::Planned,
        OrganisationStatus::Active,
        OrganisationStatus::Inactive,
        OrganisationStatus::Dissolved,
        OrganisationStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrganisationStatus::Planned => "planned",
            OrganisationStatus::Active => "active",
            OrganisationStatus::Inactive => "inactive",
            OrganisationStatus::Dissolved => "dissolved",
            OrganisationStatus::Cancelled => "cancelled",
        }
    }
}

/// A postal address; `country` is an ISO 3166-1 alpha-2 code.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostalAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// A point, in integer 1e-7 degrees: no floats in a signed record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    pub lat_e7: i32,
    pub lon_e7: i32,
}

impl Location {
    pub fn lat(&self) -> f64 {
        f64::from(self.lat_e7) / 1e7
    }

    pub fn lon(&self) -> f64 {
        f64::from(self.lon_e7) / 1e7
    }
}

/// A statement about this organisation and another entity, as Murmurations writes them:
/// a predicate URI (`https://schema.org/member`) and the object's URI or record address.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relationship {
    pub predicate: String,
    pub object: String,
}

/// Member counts (ESSGLOBAL `totalOfMembers`, `totalWomen`, `totalMen`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Members {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub women: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub men: Option<u32>,
}

/// An organisation. Vocabulary fields hold ESSGLOBAL concepts as `<scheme>:<code>`
/// (`activities-modified:AM60`); the scheme each field takes is checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternate_names: Vec<String>,
    /// Language (ISO 639-1) → text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub description: BTreeMap<String, String>,
    /// Why the organisation exists (ESSGLOBAL `mission`), by language.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mission: BTreeMap<String, String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub org_type: Option<OrganisationType>,
    /// `organisational-structure` concepts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organisational_structures: Vec<String>,
    /// `legal-form` concepts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub legal_forms: Vec<String>,
    /// The legal form as its register writes it (`Society`, `SCIC`, `Association loi 1901`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_form: Option<String>,
    /// A `base-membership-type` concept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_membership_type: Option<String>,
    /// An `activities-modified`, `activities-ica` or `activities` concept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_activity: Option<String>,
    /// Further activities, from the same three schemes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activities: Vec<String>,
    /// `products-services` concepts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub products_services: Vec<String>,
    /// `qualifiers` concepts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub qualifiers: Vec<String>,
    /// `themes` concepts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub themes: Vec<String>,
    /// `type-of-labour` concepts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub type_of_labour: Vec<String>,
    /// Free keywords.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub countries: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<Region>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<PostalAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<String>,
    /// The organisation's own site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<String>,
    /// Other URLs by what they are: `twitter`, `facebook`, `instagram`, `linkedin`,
    /// `mastodon`, `youtube`, `rss`, `logo`, `image`, `contact-form`, `website`…
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub links: BTreeMap<String, Vec<String>>,
    /// Register scheme (org-id.guide style: `GB-COH`, `FR-RNA`; `ica`, `coop`…) → value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub identifiers: BTreeMap<String, String>,
    /// References to the networks this organisation belongs to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub member_of: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relationships: Vec<Relationship>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Members>,
    /// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub founded: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dissolved: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<OrganisationStatus>,
    /// What the source list holds beyond these fields, under its own column names
    /// (`SIC Code`, `Geocoded Address`…): kept, so that an import loses nothing.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CollaborationType {
    Partnership,
    JointProject,
    WorkingGroup,
    NetworkMembership,
    Event,
    Exchange,
    Funding,
    Research,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Coordinator,
    Partner,
    Member,
    Funder,
    Observer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CollaborationStatus {
    Planned,
    Active,
    Completed,
    Cancelled,
}

impl CollaborationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CollaborationStatus::Planned => "planned",
            CollaborationStatus::Active => "active",
            CollaborationStatus::Completed => "completed",
            CollaborationStatus::Cancelled => "cancelled",
        }
    }
}

/// One party to a collaboration: a reference and the part it plays.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    #[serde(rename = "ref")]
    pub reference: String,
    pub role: Role,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Collaboration {
    pub title: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub description: BTreeMap<String, String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub collab_type: Option<CollaborationType>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parties: Vec<Party>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub themes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<Region>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub countries: Vec<String>,
    /// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CollaborationStatus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stance {
    Confirmed,
    Disputed,
    Withdrawn,
}

/// A party's signed answer to a collaboration or `member_of` claim made by someone else.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endorsement {
    /// Address of the endorsed record (`maillage:<did>/<kind>/<id>`).
    pub target: String,
    pub stance: Stance,
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Error {
    Error::Field {
        field: field.into(),
        problem: problem.into(),
    }
}

fn text(field: &str, value: &str, max: usize) -> Result<(), Error> {
    if value.trim().is_empty() {
        return Err(invalid(field, "must not be empty or blank"));
    }
    let chars = value.chars().count();
    if chars > max {
        return Err(invalid(
            field,
            format!("is {chars} characters long; the limit is {max}"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(invalid(field, "contains control characters"));
    }
    Ok(())
}

fn opt_text(field: &str, value: &Option<String>, max: usize) -> Result<(), Error> {
    value.as_deref().map_or(Ok(()), |v| text(field, v, max))
}

fn list<T>(
    field: &str,
    items: &[T],
    mut check: impl FnMut(&str, &T) -> Result<(), Error>,
) -> Result<(), Error> {
    if items.len() > MAX_ITEMS {
        return Err(invalid(
            field,
            format!("has {} items; the limit is {MAX_ITEMS}", items.len()),
        ));
    }
    for (i, item) in items.iter().enumerate() {
        named(check("", item), |inner| format!("{field}[{i}]{inner}"))?;
    }
    Ok(())
}

/// Checks a country code as every write does (a search filter by country too).
pub fn country(field: &str, code: &str) -> Result<(), Error> {
    vocab::country(code).map(|_| ()).ok_or_else(|| {
        invalid(
            field,
            format!("`{code}` is not an ISO 3166-1 alpha-2 country code (like `FR`, `SN`, `BR`)"),
        )
    })
}

fn language(field: &str, code: &str) -> Result<(), Error> {
    vocab::language(code).map(|_| ()).ok_or_else(|| {
        invalid(
            field,
            format!("`{code}` is not an ISO 639-1 language code (like `en`, `fr`, `es`)"),
        )
    })
}

/// Checks a concept of `schemes` as every write does (a search filter by concept too).
pub fn concept(field: &str, schemes: &[Scheme], value: &str) -> Result<(), Error> {
    match vocab::concept(value) {
        Some(c) if schemes.contains(&c.scheme) => Ok(()),
        _ => {
            let names: Vec<&str> = schemes.iter().map(|s| s.name()).collect();
            let hint = vocab::find(schemes, value)
                .map(|c| format!(" (did you mean `{}`?)", c.id()))
                .unwrap_or_default();
            Err(invalid(
                field,
                format!(
                    "`{value}` is not a concept of the ESSGLOBAL `{}` vocabulary, written `<scheme>:<code>`{hint}",
                    names.join("` or `")
                ),
            ))
        }
    }
}

fn descriptions(field: &str, map: &BTreeMap<String, String>) -> Result<(), Error> {
    for (lang, value) in map {
        named(language("", lang), |_| format!("{field} language"))?;
        named(text("", value, MAX_DESCRIPTION), |_| {
            format!("{field}.{lang}")
        })?;
    }
    Ok(())
}

/// The result of a check made with a field name relative to the item checked (`""` for
/// the item itself, `.value` for a part of it), with the full name spelled out only if it
/// failed: names built from data cost an allocation, and most records are valid.
fn named(check: Result<(), Error>, field: impl FnOnce(&str) -> String) -> Result<(), Error> {
    check.map_err(|e| match e {
        Error::Field {
            field: inner,
            problem,
        } => invalid(field(&inner), problem),
        other => other,
    })
}

/// An absolute `http` or `https` URL with a host.
pub fn url(field: &str, value: &str) -> Result<(), Error> {
    if value.len() > MAX_URL {
        return Err(invalid(field, format!("is longer than {MAX_URL} bytes")));
    }
    let parsed = url::Url::parse(value)
        .map_err(|e| invalid(field, format!("`{value}` is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid(
            field,
            format!("`{value}` must be an http or https URL with a host"),
        ));
    }
    Ok(())
}

pub(crate) fn email(field: &str, value: &str) -> Result<(), Error> {
    let bad = || {
        invalid(
            field,
            format!("`{value}` is not an e-mail address like `name@example.org`"),
        )
    };
    if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = value.split_once('@').ok_or_else(bad)?;
    let labels_ok = domain
        .split('.')
        .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
    if local.is_empty() || domain.contains('@') || !domain.contains('.') || !labels_ok {
        return Err(bad());
    }
    Ok(())
}

/// A reference: a record address on the network, or an external http(s) URI.
pub fn reference(field: &str, value: &str) -> Result<(), Error> {
    if value.starts_with("maillage:") {
        value
            .parse::<Address>()
            .map(|_| ())
            .map_err(|e| invalid(field, e.to_string()))
    } else {
        url(field, value).map_err(|_| {
            invalid(
                field,
                format!(
                    "`{value}` is neither a `maillage:<did>/<kind>/<id>` address nor an http(s) URI"
                ),
            )
        })
    }
}

pub(crate) fn date(field: &str, value: &str) -> Result<(), Error> {
    let parts: Vec<&str> = value.split('-').collect();
    let number = |s: &str, len: usize, range: std::ops::RangeInclusive<u32>| {
        s.len() == len
            && s.bytes().all(|b| b.is_ascii_digit())
            && s.parse().is_ok_and(|n| range.contains(&n))
    };
    let ok = match parts.as_slice() {
        [y] => number(y, 4, 1000..=9999),
        [y, m] => number(y, 4, 1000..=9999) && number(m, 2, 1..=12),
        [y, m, d] => number(y, 4, 1000..=9999) && number(m, 2, 1..=12) && number(d, 2, 1..=31),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("`{value}` is not a date as YYYY, YYYY-MM or YYYY-MM-DD"),
        ))
    }
}

fn unique<T: PartialEq>(field: &str, items: &[T]) -> Result<(), Error> {
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) {
            return Err(invalid(format!("{field}[{i}]"), "repeats an earlier item"));
        }
    }
    Ok(())
}

/// A register scheme or link type: a short code of letters, digits, `-` and `.`.
fn key(field: &str, value: &str, what: &str) -> Result<(), Error> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(invalid(field, format!("`{value}` is not {what}")))
    }
}

/// A phone number as people write it: digits with spaces, `+`, `(`, `)`, `-`, `.`, `/` and
/// perhaps a word (`ext`, `mobile`), with at least three digits.
pub(crate) fn phone(field: &str, value: &str) -> Result<(), Error> {
    text(field, value, 64)?;
    if value.chars().filter(char::is_ascii_digit).count() < 3 {
        return Err(invalid(
            field,
            format!("`{value}` is not a phone number like `+221 33 800 00 00`"),
        ));
    }
    Ok(())
}

impl Organisation {
    pub fn validate(&self) -> Result<(), Error> {
        text("name", &self.name, MAX_NAME)?;
        list("alternate_names", &self.alternate_names, |f, v| {
            text(f, v, MAX_NAME)
        })?;
        unique("alternate_names", &self.alternate_names)?;
        descriptions("description", &self.description)?;
        descriptions("mission", &self.mission)?;
        let concepts = |field: &str, schemes: &[Scheme], values: &[String]| {
            list(field, values, |f, v| concept(f, schemes, v))?;
            unique(field, values)
        };
        concepts(
            "organisational_structures",
            &[Scheme::OrganisationalStructure],
            &self.organisational_structures,
        )?;
        concepts("legal_forms", &[Scheme::LegalForm], &self.legal_forms)?;
        opt_text("legal_form", &self.legal_form, MAX_SHORT)?;
        if let Some(v) = &self.base_membership_type {
            concept("base_membership_type", &[Scheme::BaseMembershipType], v)?;
        }
        if let Some(v) = &self.primary_activity {
            concept("primary_activity", &Scheme::ACTIVITIES, v)?;
        }
        concepts("activities", &Scheme::ACTIVITIES, &self.activities)?;
        concepts(
            "products_services",
            &[Scheme::ProductsServices],
            &self.products_services,
        )?;
        concepts("qualifiers", &[Scheme::Qualifiers], &self.qualifiers)?;
        concepts("themes", &[Scheme::Themes], &self.themes)?;
        concepts(
            "type_of_labour",
            &[Scheme::TypeOfLabour],
            &self.type_of_labour,
        )?;
        list("tags", &self.tags, |f, v| text(f, v, 100))?;
        unique("tags", &self.tags)?;
        list("countries", &self.countries, |f, v| country(f, v))?;
        unique("countries", &self.countries)?;
        list("regions", &self.regions, |_, _| Ok(()))?;
        unique("regions", &self.regions)?;
        if let Some(a) = &self.address {
            opt_text("address.street", &a.street, MAX_SHORT)?;
            opt_text("address.locality", &a.locality, MAX_SHORT)?;
            opt_text("address.region", &a.region, MAX_SHORT)?;
            opt_text("address.postcode", &a.postcode, 32)?;
            if let Some(c) = &a.country {
                country("address.country", c)?;
            }
            if *a == PostalAddress::default() {
                return Err(invalid("address", "is empty: leave it out"));
            }
        }
        if let Some(l) = &self.location {
            if !(-900_000_000..=900_000_000).contains(&l.lat_e7) {
                return Err(invalid(
                    "location.lat_e7",
                    "must be within ±90 degrees (±900000000)",
                ));
            }
            if !(-1_800_000_000..=1_800_000_000).contains(&l.lon_e7) {
                return Err(invalid(
                    "location.lon_e7",
                    "must be within ±180 degrees (±1800000000)",
                ));
            }
        }
        list("languages", &self.languages, |f, v| language(f, v))?;
        unique("languages", &self.languages)?;
        if let Some(v) = &self.website {
            url("website", v)?;
        }
        list("emails", &self.emails, |f, v| email(f, v))?;
        unique("emails", &self.emails)?;
        list("phones", &self.phones, |f, v| phone(f, v))?;
        unique("phones", &self.phones)?;
        if self.links.len() > MAX_ITEMS {
            return Err(invalid(
                "links",
                format!(
                    "has {} kinds of link; the limit is {MAX_ITEMS}",
                    self.links.len()
                ),
            ));
        }
        for (kind, urls) in &self.links {
            key(
                "links",
                kind,
                "a kind of link like `twitter`, `facebook` or `rss`",
            )?;
            if urls.is_empty() {
                return Err(invalid(format!("links.{kind}"), "is empty: leave it out"));
            }
            list(&format!("links.{kind}"), urls, |f, v| url(f, v))?;
            unique(&format!("links.{kind}"), urls)?;
        }
        if self.identifiers.len() > MAX_ITEMS {
            return Err(invalid(
                "identifiers",
                format!(
                    "has {} items; the limit is {MAX_ITEMS}",
                    self.identifiers.len()
                ),
            ));
        }
        for (scheme, value) in &self.identifiers {
            key(
                "identifiers",
                scheme,
                "a register scheme like `GB-COH`, `FR-RNA`, `ica` or `coop`",
            )?;
            named(text("", value, MAX_SHORT), |_| {
                format!("identifiers.{scheme}")
            })?;
        }
        list("member_of", &self.member_of, |f, v| reference(f, v))?;
        unique("member_of", &self.member_of)?;
        list("relationships", &self.relationships, |f, r| {
            url(&format!("{f}.predicate"), &r.predicate)?;
            reference(&format!("{f}.object"), &r.object)
        })?;
        unique("relationships", &self.relationships)?;
        if self.members == Some(Members::default()) {
            return Err(invalid("members", "is empty: leave it out"));
        }
        if let Some(v) = &self.founded {
            date("founded", v)?;
        }
        if let Some(v) = &self.dissolved {
            date("dissolved", v)?;
        }
        if self.properties.len() > MAX_ITEMS {
            return Err(invalid(
                "properties",
                format!(
                    "has {} items; the limit is {MAX_ITEMS}",
                    self.properties.len()
                ),
            ));
        }
        for (name, value) in &self.properties {
            named(text("", name, 100), |_| "properties (a name)".to_owned())?;
            named(text("", value, MAX_DESCRIPTION), |_| {
                format!("properties.{name}")
            })?;
        }
        if let (Some(s), Some(e)) = (&self.founded, &self.dissolved)
            && e < s
        {
            return Err(invalid("dissolved", format!("{e} is before founded {s}")));
        }
        Ok(())
    }
}

impl Collaboration {
    pub fn validate(&self) -> Result<(), Error> {
        text("title", &self.title, MAX_NAME)?;
        descriptions("description", &self.description)?;
        list("parties", &self.parties, |f, p| {
            reference(&format!("{f}.ref"), &p.reference)
        })?;
        let refs: Vec<&str> = self.parties.iter().map(|p| p.reference.as_str()).collect();
        unique("parties", &refs)?;
        list("themes", &self.themes, |f, v| {
            concept(f, &[Scheme::Themes], v)
        })?;
        unique("themes", &self.themes)?;
        list("regions", &self.regions, |_, _| Ok(()))?;
        unique("regions", &self.regions)?;
        list("countries", &self.countries, |f, v| country(f, v))?;
        unique("countries", &self.countries)?;
        if let Some(v) = &self.start {
            date("start", v)?;
        }
        if let Some(v) = &self.end {
            date("end", v)?;
        }
        // Dates of different precision compare as text well enough: "2024" < "2024-03".
        if let (Some(s), Some(e)) = (&self.start, &self.end)
            && e < s
        {
            return Err(invalid("end", format!("{e} is before start {s}")));
        }
        list("links", &self.links, |f, v| url(f, v))?;
        unique("links", &self.links)?;
        Ok(())
    }
}

impl Endorsement {
    pub fn validate(&self) -> Result<(), Error> {
        let target: Address = self
            .target
            .parse()
            .map_err(|e: Error| invalid("target", e.to_string()))?;
        if target.kind == Kind::Endorsement {
            return Err(invalid(
                "target",
                "an endorsement cannot target another endorsement",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> Organisation {
        serde_json::from_value(serde_json::json!({"name": "RIPESS"})).unwrap()
    }

    fn problem(o: &Organisation) -> String {
        o.validate().unwrap_err().to_string()
    }

    #[test]
    fn each_field_says_what_to_fix() {
        let mut o = org();
        o.countries = vec!["XX".into()];
        assert!(
            problem(&o).contains("`XX` is not an ISO 3166-1"),
            "{}",
            problem(&o)
        );
        let mut o = org();
        o.languages = vec!["eng".into()];
        assert!(problem(&o).contains("ISO 639-1"));
        let mut o = org();
        o.name = " ".into();
        assert!(problem(&o).contains("name"));
        let mut o = org();
        o.website = Some("ftp://example.org".into());
        assert!(problem(&o).contains("http or https"));
        let mut o = org();
        o.emails = vec!["nobody".into()];
        assert!(problem(&o).contains("e-mail"));
        let mut o = org();
        o.activities = vec!["activities-modified:AM999".into()];
        assert!(problem(&o).contains("ESSGLOBAL `activities-modified`"));
        // A bare code is not the record form; the message gives the one to write.
        let mut o = org();
        o.organisational_structures = vec!["OS130".into()];
        assert!(
            problem(&o).contains("did you mean `organisational-structure:OS130`"),
            "{}",
            problem(&o)
        );
        let mut o = org();
        o.themes = vec!["type-of-labour:T1".into()];
        assert!(problem(&o).contains("`themes`"));
        let mut o = org();
        o.phones = vec!["n/a".into()];
        assert!(problem(&o).contains("phone"));
        let mut o = org();
        o.alternate_names = vec!["A".into(), "A".into()];
        assert!(problem(&o).contains("repeats"));
        let mut o = org();
        o.location = Some(Location {
            lat_e7: 910_000_000,
            lon_e7: 0,
        });
        assert!(problem(&o).contains("±90"));
        let mut o = org();
        o.member_of = vec!["maillage:did:key:z6Mk/organisation/x".into()];
        assert!(problem(&o).contains("member_of[0]"));
        let mut o = org();
        o.name = "x".repeat(MAX_NAME + 1);
        assert!(problem(&o).contains("limit is 300"));
        let mut o = org();
        o.countries = vec!["FR".into(), "FR".into()];
        assert!(problem(&o).contains("repeats"));
        // Each field is named in full: list items, their parts, description languages.
        let field = |o: &Organisation| match o.validate() {
            Err(Error::Field { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let mut o = org();
        o.countries = vec!["SN".into(), "XX".into()];
        assert_eq!(field(&o), "countries[1]");
        let mut o = org();
        o.identifiers = [("LU-RCS".to_owned(), " ".to_owned())].into();
        assert_eq!(field(&o), "identifiers.LU-RCS");
        let mut o = org();
        o.description = [("zz".to_owned(), "Texte".to_owned())].into();
        assert_eq!(field(&o), "description language");
        let mut o = org();
        o.description = [("fr".to_owned(), " ".to_owned())].into();
        assert_eq!(field(&o), "description.fr");
    }

    #[test]
    fn a_full_organisation_is_valid() {
        let o: Organisation = serde_json::from_value(serde_json::json!({
            "name": "RIPESS Europe",
            "alternate_names": ["Solidarity Economy Europe"],
            "description": {"en": "European network", "fr": "Réseau européen"},
            "mission": {"en": "Build the solidarity economy"},
            "type": "network",
            "organisational_structures": ["organisational-structure:OS20"],
            "legal_forms": ["legal-form:L2"],
            "legal_form": "Society",
            "base_membership_type": "base-membership-type:BMT20",
            "primary_activity": "activities-modified:AM20",
            "activities": ["activities-ica:ICA280", "activities:a01"],
            "products_services": ["products-services:70000000"],
            "qualifiers": ["qualifiers:Organic"],
            "themes": ["themes:T1"],
            "type_of_labour": ["type-of-labour:T1"],
            "tags": ["network of networks"],
            "scope": "continental",
            "countries": ["LU"],
            "regions": ["europe"],
            "address": {"locality": "Luxembourg", "country": "LU"},
            "location": {"lat_e7": 496_116_000, "lon_e7": 61_319_000},
            "languages": ["en", "fr"],
            "website": "https://ripess.eu",
            "emails": ["info@ripess.eu", "office@ripess.eu"],
            "phones": ["+352 00 00 00"],
            "links": {"twitter": ["https://twitter.com/ripesseu"]},
            "identifiers": {"LU-RCS": "F1234"},
            "member_of": ["https://www.ripess.org"],
            "relationships": [{"predicate": "https://schema.org/member", "object": "https://www.ripess.org"}],
            "members": {"total": 40},
            "founded": "2011",
            "status": "active",
            "properties": {"SIC Code": "94990"}
        }))
        .unwrap();
        o.validate().unwrap();
    }

    #[test]
    fn names_are_the_signed_names() {
        for t in [
            OrganisationType::Network,
            OrganisationType::Initiative,
            OrganisationType::Support,
            OrganisationType::Agency,
            OrganisationType::Research,
            OrganisationType::Funder,
        ] {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        for s in [
            CollaborationStatus::Planned,
            CollaborationStatus::Active,
            CollaborationStatus::Completed,
            CollaborationStatus::Cancelled,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for r in Region::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        for s in Scope::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in OrganisationStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }

    #[test]
    fn dates_and_collaborations() {
        for good in ["2024", "2024-03", "2024-03-31"] {
            date("start", good).unwrap();
        }
        for bad in ["24", "2024-13", "2024-3-1", "2024-03-32", "soon"] {
            assert!(date("start", bad).is_err(), "{bad}");
        }
        let c = Collaboration {
            title: "Working group".into(),
            description: BTreeMap::new(),
            collab_type: None,
            parties: vec![],
            themes: vec![],
            regions: vec![],
            countries: vec![],
            start: Some("2024".into()),
            end: Some("2023".into()),
            status: None,
            links: vec![],
        };
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("before start")
        );
    }
}
