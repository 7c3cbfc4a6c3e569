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
    Global,
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
    Active,
    Inactive,
    Dissolved,
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

/// An identifier in another register: an org-id.guide scheme (`FR-RNA`, `GB-COH`…),
/// `ica` for an ICA member id, `coop` for a `.coop` domain, `wikidata`…
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identifier {
    pub scheme: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternate_names: Vec<String>,
    /// Language (ISO 639-1) → text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub description: BTreeMap<String, String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub org_type: Option<OrganisationType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_form: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisational_structure: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activities: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub themes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub qualifiers: Vec<String>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<Identifier>,
    /// References to the networks this organisation belongs to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub member_of: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub founded: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<OrganisationStatus>,
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

fn country(field: &str, code: &str) -> Result<(), Error> {
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

fn code(field: &str, scheme: Scheme, value: &str) -> Result<(), Error> {
    vocab::essglobal(scheme, value).map(|_| ()).ok_or_else(|| {
        invalid(
            field,
            format!(
                "`{value}` is not a code of the ESSGLOBAL `{}` vocabulary",
                scheme.name()
            ),
        )
    })
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

fn email(field: &str, value: &str) -> Result<(), Error> {
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

fn date(field: &str, value: &str) -> Result<(), Error> {
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

impl Organisation {
    pub fn validate(&self) -> Result<(), Error> {
        text("name", &self.name, MAX_NAME)?;
        list("alternate_names", &self.alternate_names, |f, v| {
            text(f, v, MAX_NAME)
        })?;
        descriptions("description", &self.description)?;
        if let Some(v) = &self.legal_form {
            code("legal_form", Scheme::LegalForm, v)?;
        }
        if let Some(v) = &self.organisational_structure {
            code(
                "organisational_structure",
                Scheme::OrganisationalStructure,
                v,
            )?;
        }
        list("activities", &self.activities, |f, v| {
            code(f, Scheme::Activities, v)
        })?;
        unique("activities", &self.activities)?;
        list("themes", &self.themes, |f, v| code(f, Scheme::Themes, v))?;
        unique("themes", &self.themes)?;
        list("qualifiers", &self.qualifiers, |f, v| {
            code(f, Scheme::Qualifiers, v)
        })?;
        unique("qualifiers", &self.qualifiers)?;
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
        if let Some(v) = &self.email {
            email("email", v)?;
        }
        list("identifiers", &self.identifiers, |f, id| {
            let scheme_ok = !id.scheme.is_empty()
                && id.scheme.len() <= 64
                && id
                    .scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if !scheme_ok {
                return Err(invalid(
                    format!("{f}.scheme"),
                    format!(
                        "`{}` is not a register scheme like `FR-RNA`, `ica` or `coop`",
                        id.scheme
                    ),
                ));
            }
            text(&format!("{f}.value"), &id.value, MAX_SHORT)
        })?;
        list("member_of", &self.member_of, |f, v| reference(f, v))?;
        unique("member_of", &self.member_of)?;
        if let Some(year) = self.founded
            && !(1000..=9999).contains(&year)
        {
            return Err(invalid(
                "founded",
                format!("{year} is not a four-digit year"),
            ));
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
        list("themes", &self.themes, |f, v| code(f, Scheme::Themes, v))?;
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
        o.email = Some("nobody".into());
        assert!(problem(&o).contains("e-mail"));
        let mut o = org();
        o.activities = vec!["AM999".into()];
        assert!(problem(&o).contains("ESSGLOBAL `activities`"));
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
        o.identifiers = vec![Identifier {
            scheme: "LU-RCS".into(),
            value: " ".into(),
        }];
        assert_eq!(field(&o), "identifiers[0].value");
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
            "type": "network",
            "legal_form": "LF40",
            "organisational_structure": "OS20",
            "activities": ["AM20"],
            "themes": ["TH150"],
            "qualifiers": ["QF130"],
            "scope": "continental",
            "countries": ["LU"],
            "regions": ["europe"],
            "address": {"locality": "Luxembourg", "country": "LU"},
            "location": {"lat_e7": 496_116_000, "lon_e7": 61_319_000},
            "languages": ["en", "fr"],
            "website": "https://ripess.eu",
            "email": "info@ripess.eu",
            "identifiers": [{"scheme": "LU-RCS", "value": "F1234"}],
            "founded": 2011,
            "status": "active"
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
