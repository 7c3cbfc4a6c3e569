//! Code lists shipped as data in `crates/core/data/`: ISO 3166-1 alpha-2 countries,
//! ISO 639-1 languages and the ESSGLOBAL vocabularies. Editing a list is a data change.

use std::collections::BTreeMap;
use std::sync::LazyLock;

/// An ESSGLOBAL vocabulary, named as in its SKOS concept URIs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scheme {
    Activities,
    OrganisationalStructure,
    LegalForm,
    Qualifiers,
    Themes,
}

impl Scheme {
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Activities => "activities",
            Scheme::OrganisationalStructure => "organisational-structure",
            Scheme::LegalForm => "legal-form",
            Scheme::Qualifiers => "qualifiers",
            Scheme::Themes => "themes",
        }
    }
}

fn table(data: &'static str) -> impl Iterator<Item = Vec<&'static str>> {
    data.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.split('\t').collect())
}

static COUNTRIES: LazyLock<BTreeMap<&str, &str>> = LazyLock::new(|| {
    table(include_str!("../data/countries.tsv"))
        .map(|row| (row[0], row[1]))
        .collect()
});

static LANGUAGES: LazyLock<BTreeMap<&str, &str>> = LazyLock::new(|| {
    table(include_str!("../data/languages.tsv"))
        .map(|row| (row[0], row[1]))
        .collect()
});

static ESSGLOBAL: LazyLock<BTreeMap<(&str, &str), &str>> = LazyLock::new(|| {
    table(include_str!("../data/essglobal.tsv"))
        .map(|row| ((row[0], row[1]), row[2]))
        .collect()
});

/// English short name of an ISO 3166-1 alpha-2 code (upper case), if it is one.
pub fn country(code: &str) -> Option<&'static str> {
    COUNTRIES.get(code).copied()
}

/// All countries, by code.
pub fn countries() -> impl Iterator<Item = (&'static str, &'static str)> {
    COUNTRIES.iter().map(|(c, n)| (*c, *n))
}

/// English name of an ISO 639-1 code (lower case), if it is one.
pub fn language(code: &str) -> Option<&'static str> {
    LANGUAGES.get(code).copied()
}

/// English label of an ESSGLOBAL code, if `code` is in `scheme`.
pub fn essglobal(scheme: Scheme, code: &str) -> Option<&'static str> {
    ESSGLOBAL.get(&(scheme.name(), code)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_complete_and_well_formed() {
        assert_eq!(COUNTRIES.len(), 249);
        assert_eq!(LANGUAGES.len(), 184);
        assert_eq!(country("SN"), Some("Senegal"));
        assert_eq!(language("fr"), Some("French"));
        assert_eq!(country("sn"), None);
        assert_eq!(essglobal(Scheme::Activities, "AM60"), Some("Food"));
        assert_eq!(essglobal(Scheme::Themes, "AM60"), None);
        for scheme in [
            Scheme::Activities,
            Scheme::OrganisationalStructure,
            Scheme::LegalForm,
            Scheme::Qualifiers,
            Scheme::Themes,
        ] {
            assert!(ESSGLOBAL.keys().any(|(s, _)| *s == scheme.name()));
        }
    }
}
