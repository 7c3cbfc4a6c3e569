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

static COUNTRIES: LazyLock<BTreeMap<&'static str, &'static str>> = LazyLock::new(|| {
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

/// The letter without its accent, for the Latin letters of the languages networks write in.
pub fn unaccent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ý' | 'ÿ' => 'y',
        c => c,
    }
}

/// A name or code as people write it: lower case, accents and punctuation dropped.
fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(unaccent)
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// Every common form of every country (codes, names, aliases), folded → alpha-2.
static COUNTRY_FORMS: LazyLock<BTreeMap<String, &str>> = LazyLock::new(|| {
    let mut forms = BTreeMap::new();
    for row in table(include_str!("../data/countries.tsv")) {
        let names = row.get(3).map_or("", |n| *n);
        for form in [row[0], row[1], row[2]].into_iter().chain(names.split('|')) {
            if !form.is_empty() {
                forms.insert(fold(form), row[0]);
            }
        }
    }
    for row in table(include_str!("../data/country-aliases.tsv")) {
        forms.insert(
            fold(row[0]),
            COUNTRIES.get_key_value(row[1]).map_or(row[1], |(k, _)| *k),
        );
    }
    forms
});

/// The ISO 3166-1 alpha-2 code of a country written in any common form: `sn`, `SEN`,
/// `Senegal`, `Sénégal`, `Korea, Republic of`, `South Korea`…
pub fn country_code(any: &str) -> Option<&'static str> {
    COUNTRY_FORMS.get(&fold(any)).copied()
}

/// The code of an ESSGLOBAL concept written as its code (`AM60`), its URI (ending in the
/// code) or its English label (`Food`).
pub fn essglobal_code(scheme: Scheme, any: &str) -> Option<&'static str> {
    let any = any.trim();
    let last = any.rsplit(['/', '#']).next().unwrap_or(any);
    ESSGLOBAL
        .iter()
        .filter(|((s, _), _)| *s == scheme.name())
        .find(|((_, code), label)| code.eq_ignore_ascii_case(last) || fold(label) == fold(any))
        .map(|((_, code), _)| *code)
}

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
        for (form, code) in [
            ("sn", "SN"),
            ("SEN", "SN"),
            ("Sénégal", "SN"),
            ("senegal", "SN"),
            ("South Korea", "KR"),
            ("Korea, Republic of", "KR"),
            ("Côte d'Ivoire", "CI"),
            ("Ivory Coast", "CI"),
            ("Brésil", "BR"),
            ("United States of America", "US"),
        ] {
            assert_eq!(country_code(form), Some(code), "{form}");
        }
        assert_eq!(country_code("Atlantis"), None);
        assert_eq!(essglobal_code(Scheme::Activities, "food"), Some("AM60"));
        assert_eq!(
            essglobal_code(
                Scheme::Activities,
                "https://dev.lod.coop/essglobal/2.1/standard/activities-modified/AM60"
            ),
            Some("AM60")
        );
        assert_eq!(
            essglobal_code(Scheme::OrganisationalStructure, "os115"),
            Some("OS115")
        );
        assert_eq!(essglobal_code(Scheme::Activities, "OS115"), None);
        // Every alias names a real country.
        for row in table(include_str!("../data/country-aliases.tsv")) {
            assert!(country(row[1]).is_some(), "{row:?}");
        }
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
