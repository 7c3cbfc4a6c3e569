//! Code lists shipped as data in `crates/core/data/`: ISO 3166-1 alpha-2 countries with their
//! names in every CLDR language and their UN M49 region, ISO 639-1 languages, and the
//! ESSGLOBAL vocabularies, read from their published SKOS files. Editing a list is a data
//! change.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use unicode_normalization::UnicodeNormalization as _;
use unicode_normalization::char::is_combining_mark;

use crate::body::Region;

/// An ESSGLOBAL vocabulary, named as in its SKOS concept URIs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scheme {
    ActivitiesModified,
    ActivitiesIca,
    Activities,
    OrganisationalStructure,
    LegalForm,
    Qualifiers,
    Themes,
    BaseMembershipType,
    TypeOfLabour,
    ProductsServices,
}

/// Where the published SKOS concept URIs live: `<NAMESPACE><scheme>/<code>`.
pub const NAMESPACE: &str = "http://purl.org/essglobal/standard/";

impl Scheme {
    pub const ALL: [Scheme; 10] = [
        Scheme::ActivitiesModified,
        Scheme::ActivitiesIca,
        Scheme::Activities,
        Scheme::OrganisationalStructure,
        Scheme::LegalForm,
        Scheme::Qualifiers,
        Scheme::Themes,
        Scheme::BaseMembershipType,
        Scheme::TypeOfLabour,
        Scheme::ProductsServices,
    ];

    /// The three activity schemes an organisation's sectors may come from.
    pub const ACTIVITIES: [Scheme; 3] = [
        Scheme::ActivitiesModified,
        Scheme::ActivitiesIca,
        Scheme::Activities,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scheme::ActivitiesModified => "activities-modified",
            Scheme::ActivitiesIca => "activities-ica",
            Scheme::Activities => "activities",
            Scheme::OrganisationalStructure => "organisational-structure",
            Scheme::LegalForm => "legal-form",
            Scheme::Qualifiers => "qualifiers",
            Scheme::Themes => "themes",
            Scheme::BaseMembershipType => "base-membership-type",
            Scheme::TypeOfLabour => "type-of-labour",
            Scheme::ProductsServices => "products-services",
        }
    }

    pub fn from_name(name: &str) -> Option<Scheme> {
        Scheme::ALL.into_iter().find(|s| s.name() == name)
    }

    fn skos(self) -> &'static str {
        match self {
            Scheme::ActivitiesModified => {
                include_str!("../data/essglobal/activities-modified.skos")
            }
            Scheme::ActivitiesIca => include_str!("../data/essglobal/activities-ica.skos"),
            Scheme::Activities => include_str!("../data/essglobal/activities.skos"),
            Scheme::OrganisationalStructure => {
                include_str!("../data/essglobal/organisational-structure.skos")
            }
            Scheme::LegalForm => include_str!("../data/essglobal/legal-form.skos"),
            Scheme::Qualifiers => include_str!("../data/essglobal/qualifiers.skos"),
            Scheme::Themes => include_str!("../data/essglobal/themes.skos"),
            Scheme::BaseMembershipType => {
                include_str!("../data/essglobal/base-membership-type.skos")
            }
            Scheme::TypeOfLabour => include_str!("../data/essglobal/type-of-labour.skos"),
            Scheme::ProductsServices => include_str!("../data/essglobal/products-services.skos"),
        }
    }
}

/// One concept of an ESSGLOBAL scheme. Records name it `<scheme>:<code>`
/// (`activities-modified:AM60`): codes alone repeat across schemes (`T1` is a theme and a
/// type of labour).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Concept {
    pub scheme: Scheme,
    pub code: String,
    /// Labels by lower-case language tag (`en`, `fr`…), preferred label first, then
    /// alternative labels; the English definition stands in where the SKOS gives no label.
    pub labels: Vec<(String, String)>,
}

impl Concept {
    /// The form records carry: `<scheme>:<code>`.
    pub fn id(&self) -> String {
        format!("{}:{}", self.scheme.name(), self.code)
    }

    /// The published SKOS concept URI.
    pub fn iri(&self) -> String {
        format!("{NAMESPACE}{}/{}", self.scheme.name(), self.code)
    }

    /// The label in `lang`, or in English, with the language it is in.
    pub fn label(&self, lang: &str) -> (&str, &str) {
        self.labels
            .iter()
            .find(|(l, _)| l == lang)
            .or_else(|| self.labels.iter().find(|(l, _)| l == "en"))
            .or(self.labels.first())
            .map_or((self.code.as_str(), ""), |(l, t)| (t.as_str(), l.as_str()))
    }
}

/// The concepts of one SKOS file, in file order. A concept described twice (`type-of-labour`
/// repeats `T1`, once without labels) is one concept with the labels of both.
fn parse_skos(scheme: Scheme, text: &str) -> Vec<Concept> {
    let mut concepts: Vec<Concept> = vec![];
    for c in described(scheme, text) {
        match concepts.iter_mut().find(|k| k.code == c.code) {
            Some(first) => first.labels.extend(c.labels),
            None => concepts.push(c),
        }
    }
    concepts
}

fn described(scheme: Scheme, text: &str) -> Vec<Concept> {
    let doc = roxmltree::Document::parse(text)
        .unwrap_or_else(|e| panic!("the shipped {} SKOS is XML: {e}", scheme.name()));
    const RDF: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";
    const SKOS: &str = "http://www.w3.org/2004/02/skos/core#";
    const XML: &str = "http://www.w3.org/XML/1998/namespace";
    doc.descendants()
        .filter(|n| n.has_tag_name((SKOS, "Concept")))
        .filter_map(|n| {
            let code = n.attribute((RDF, "about"))?.trim().to_owned();
            let mut labels = vec![];
            let mut definitions = vec![];
            for tag in ["prefLabel", "altLabel", "definition"] {
                for child in n.children().filter(|c| c.has_tag_name((SKOS, tag))) {
                    let text = child.text().unwrap_or("").trim();
                    let lang = child
                        .attribute((XML, "lang"))
                        .unwrap_or("en")
                        .to_ascii_lowercase();
                    let lang = lang.split('-').next().unwrap_or("en").to_owned();
                    if text.is_empty() || text == code {
                        continue;
                    }
                    let into = if tag == "definition" {
                        &mut definitions
                    } else {
                        &mut labels
                    };
                    into.push((lang, text.to_owned()));
                }
            }
            if labels.is_empty() {
                labels = definitions;
            }
            Some(Concept {
                scheme,
                code,
                labels,
            })
        })
        .collect()
}

struct Vocabularies {
    concepts: Vec<Concept>,
    /// `scheme:code` → index.
    by_id: HashMap<String, usize>,
    /// (scheme, folded code or label) → index; a label two concepts share is left out.
    by_form: HashMap<(Scheme, String), Option<usize>>,
}

static ESSGLOBAL: LazyLock<Vocabularies> = LazyLock::new(|| {
    let concepts: Vec<Concept> = Scheme::ALL
        .into_iter()
        .flat_map(|s| parse_skos(s, s.skos()))
        .collect();
    let mut by_id = HashMap::new();
    let mut by_form: HashMap<(Scheme, String), Option<usize>> = HashMap::new();
    for (i, c) in concepts.iter().enumerate() {
        by_id.insert(c.id(), i);
        by_form.insert((c.scheme, fold(&c.code)), Some(i));
    }
    for (i, c) in concepts.iter().enumerate() {
        for (_, label) in &c.labels {
            let key = (c.scheme, fold(label));
            match by_form.get(&key) {
                None => {
                    by_form.insert(key, Some(i));
                }
                Some(Some(j)) if *j != i && fold(&concepts[*j].code) != key.1 => {
                    by_form.insert(key, None);
                }
                _ => {}
            }
        }
    }
    Vocabularies {
        concepts,
        by_id,
        by_form,
    }
});

/// Every concept of every scheme, in the order of the SKOS files.
pub fn concepts() -> impl Iterator<Item = &'static Concept> {
    ESSGLOBAL.concepts.iter()
}

/// The concept a record names as `<scheme>:<code>`.
pub fn concept(id: &str) -> Option<&'static Concept> {
    ESSGLOBAL.by_id.get(id).map(|i| &ESSGLOBAL.concepts[*i])
}

/// The concept of one of `schemes` written in any form in use: `<scheme>:<code>`, its
/// code (`AM60`), a URI (`http://purl.org/essglobal/standard/…`, the 2.1 form
/// `https://dev.lod.coop/essglobal/2.1/standard/…`, the V2a form
/// `https://w3id.solidarityeconomy.coop/essglobal/V2a/standard/…`: any URI whose last two
/// segments are the scheme and the code), or a label in any language of the SKOS, ignoring
/// case and accents.
pub fn find(schemes: &[Scheme], any: &str) -> Option<&'static Concept> {
    let any = any.trim();
    if let Some(c) = concept(any).filter(|c| schemes.contains(&c.scheme)) {
        return Some(c);
    }
    if any.contains("://") {
        let mut segments = any.trim_end_matches('/').rsplit(['/', '#']);
        let code = segments.next()?;
        let scheme = Scheme::from_name(segments.next()?)?;
        return schemes
            .contains(&scheme)
            .then(|| find(&[scheme], code))
            .flatten()
            .filter(|c| c.code.eq_ignore_ascii_case(code));
    }
    let folded = fold(any);
    schemes.iter().find_map(|s| {
        ESSGLOBAL
            .by_form
            .get(&(*s, folded.clone()))
            .copied()
            .flatten()
            .map(|i| &ESSGLOBAL.concepts[i])
    })
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

/// A name or code as people write it, for comparison: compatibility-decomposed, lower case,
/// without accents, punctuation or spaces (`Côte d’Ivoire` → `cotedivoire`, `Ελλάδα` →
/// `ελλαδα`). The generator of `country-names.tsv` folds the same way.
pub fn fold(text: &str) -> String {
    text.nfkd()
        .flat_map(char::to_lowercase)
        .filter(|c| !is_combining_mark(*c) && c.is_alphanumeric())
        .collect()
}

/// Every form of every country (codes, ISO names, CLDR names in every language, aliases),
/// folded → alpha-2.
static COUNTRY_FORMS: LazyLock<HashMap<String, &str>> = LazyLock::new(|| {
    let mut forms = HashMap::new();
    for row in table(include_str!("../data/country-names.tsv")) {
        forms.insert(fold(row[1]), row[0]);
    }
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
/// `Senegal`, `Sénégal`, `Deutschland`, `Ελλάδα`, `Swaziland`, `South Korea`…
pub fn country_code(any: &str) -> Option<&'static str> {
    COUNTRY_FORMS.get(&fold(any)).copied()
}

/// UN M49 (sub-)regions, from CLDR's territory containment, by alpha-2 code.
static COUNTRY_REGIONS: LazyLock<BTreeMap<&'static str, Vec<&'static str>>> = LazyLock::new(|| {
    table(include_str!("../data/country-regions.tsv"))
        .map(|row| (row[0], row[1..].to_vec()))
        .collect()
});

/// The world regions of a country, derived from its UN M49 classification: Africa (002)
/// is `africa`, and Northern Africa (015) also `mena`; Western Asia (145) is `mena`; the rest
/// of Asia (142) and Oceania (009) are `asia-pacific`; Europe (150) is `europe`; Northern
/// America (021) is `north-america`; Latin America and the Caribbean (419) is
/// `latin-america-caribbean`.
pub fn country_regions(code: &str) -> Vec<Region> {
    let Some(row) = COUNTRY_REGIONS.get(code) else {
        return vec![];
    };
    let (sub, continent) = (row.first().copied(), row.get(1).copied());
    let latam = row.get(2).is_some_and(|l| *l == "yes");
    match (continent, sub) {
        (Some("002"), Some("015")) => vec![Region::Africa, Region::Mena],
        (Some("002"), _) => vec![Region::Africa],
        (Some("142"), Some("145")) => vec![Region::Mena],
        (Some("142" | "009"), _) => vec![Region::AsiaPacific],
        (Some("150"), _) => vec![Region::Europe],
        (Some("019"), Some("021")) => vec![Region::NorthAmerica],
        (Some("019"), _) if latam => vec![Region::LatinAmericaCaribbean],
        _ => vec![],
    }
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

/// All languages, by ISO 639-1 code.
pub fn languages() -> impl Iterator<Item = (&'static str, &'static str)> {
    LANGUAGES.iter().map(|(c, n)| (*c, *n))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Concepts per scheme as the published SKOS files hold them.
    const PUBLISHED: [(Scheme, usize); 10] = [
        (Scheme::ActivitiesModified, 16),
        (Scheme::ActivitiesIca, 29),
        (Scheme::Activities, 21),
        (Scheme::OrganisationalStructure, 25),
        (Scheme::LegalForm, 5),
        (Scheme::Qualifiers, 23),
        (Scheme::Themes, 19),
        (Scheme::BaseMembershipType, 6),
        (Scheme::TypeOfLabour, 5),
        (Scheme::ProductsServices, 127),
    ];

    #[test]
    fn every_scheme_is_read_whole_from_its_skos() {
        for (scheme, count) in PUBLISHED {
            let codes: Vec<&str> = concepts()
                .filter(|c| c.scheme == scheme)
                .map(|c| c.code.as_str())
                .collect();
            assert_eq!(codes.len(), count, "{}: {codes:?}", scheme.name());
        }
        // The published SKOS gives one concept neither a label nor a definition: it is
        // shown by its code.
        let unlabelled: Vec<String> = concepts()
            .filter(|c| c.labels.is_empty())
            .map(Concept::id)
            .collect();
        assert_eq!(unlabelled, ["products-services:85140000"]);
        assert_eq!(
            concept("products-services:85140000").unwrap().label("en").0,
            "85140000"
        );
        let os = |code: &str| concept(&format!("organisational-structure:{code}")).unwrap();
        assert_eq!(os("OS110").label("en").0, "Secondary co-operative");
        assert_eq!(os("OS115").label("en").0, "Co-operative");
        assert_eq!(
            os("OS130").label("en").0,
            "Community Benefit Society / Industrial and Provident Society (IPS)"
        );
        assert_eq!(
            os("OS240").label("en").0,
            "Cooperative of cooperatives / mutuals"
        );
        assert_eq!(
            concept("activities:a01").unwrap().label("fr"),
            ("Agriculture et environnement", "fr")
        );
        // A label missing in a language falls back to English, and says so.
        assert_eq!(os("OS10").label("fr").1, "en");
    }

    /// The shipped SKOS files are the published ones: compared with a checkout of the
    /// published vocabularies when one is named (`MAILLAGE_ESSGLOBAL_DIR`) or sits beside the
    /// repository (`../shared/essglobal`).
    #[test]
    fn the_code_lists_equal_the_published_skos() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let dir = std::env::var_os("MAILLAGE_ESSGLOBAL_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| root.join("../shared/essglobal"));
        for scheme in Scheme::ALL {
            let path = dir.join(format!("{}.skos", scheme.name()));
            let Ok(published) = std::fs::read_to_string(&path) else {
                assert!(
                    std::env::var_os("MAILLAGE_ESSGLOBAL_DIR").is_none(),
                    "{} is missing",
                    path.display()
                );
                continue;
            };
            let ours: Vec<&Concept> = concepts().filter(|c| c.scheme == scheme).collect();
            let theirs = parse_skos(scheme, &published);
            assert_eq!(
                ours,
                theirs.iter().collect::<Vec<_>>(),
                "{} differs from {}",
                scheme.name(),
                path.display()
            );
        }
    }

    #[test]
    fn concepts_are_found_by_code_uri_and_label() {
        let found = |schemes: &[Scheme], any: &str| find(schemes, any).map(Concept::id);
        let os = [Scheme::OrganisationalStructure];
        for any in [
            "OS130",
            "os130",
            "organisational-structure:OS130",
            "https://dev.lod.coop/essglobal/2.1/standard/organisational-structure/OS130",
            "http://purl.org/essglobal/standard/organisational-structure/OS130",
            "https://w3id.solidarityeconomy.coop/essglobal/V2a/standard/organisational-structure/OS130",
        ] {
            assert_eq!(
                found(&os, any).as_deref(),
                Some("organisational-structure:OS130"),
                "{any}"
            );
        }
        assert_eq!(
            found(
                &Scheme::ACTIVITIES,
                "https://dev.lod.coop/essglobal/2.1/standard/activities-ica/ICA280"
            )
            .as_deref(),
            Some("activities-ica:ICA280")
        );
        assert_eq!(
            found(&Scheme::ACTIVITIES, "food").as_deref(),
            Some("activities-modified:AM60")
        );
        // Labels in every language of the SKOS, without their accents.
        assert_eq!(
            found(&Scheme::ACTIVITIES, "agricultura y medio ambiente").as_deref(),
            Some("activities:a01")
        );
        assert_eq!(
            found(
                &[Scheme::Themes],
                "Cidades em Transicao e direito a moradia"
            )
            .as_deref(),
            Some("themes:T1")
        );
        // A code of another scheme, or a URI of a scheme the field does not take, is not found.
        assert_eq!(found(&os, "AM60"), None);
        assert_eq!(
            found(
                &os,
                "https://dev.lod.coop/essglobal/2.1/standard/activities-modified/AM60"
            ),
            None
        );
        assert_eq!(found(&[Scheme::Themes], "T1").as_deref(), Some("themes:T1"));
        assert_eq!(
            found(&[Scheme::TypeOfLabour], "T1").as_deref(),
            Some("type-of-labour:T1")
        );
    }

    #[test]
    fn countries_in_every_language_and_their_regions() {
        assert_eq!(COUNTRIES.len(), 249);
        assert_eq!(LANGUAGES.len(), 184);
        assert_eq!(country("SN"), Some("Senegal"));
        assert_eq!(language("fr"), Some("French"));
        assert_eq!(country("sn"), None);
        for (form, code) in [
            ("sn", "SN"),
            ("SEN", "SN"),
            ("Sénégal", "SN"),
            ("senegal", "SN"),
            ("South Korea", "KR"),
            ("Korea, Republic of", "KR"),
            ("Côte d'Ivoire", "CI"),
            ("Côte d’Ivoire", "CI"),
            ("Ivory Coast", "CI"),
            ("Brésil", "BR"),
            ("United States of America", "US"),
            ("Deutschland", "DE"),
            ("Österreich", "AT"),
            ("Ελλάδα", "GR"),
            ("Swaziland", "SZ"),
            ("Eswatini", "SZ"),
            ("Россия", "RU"),
            ("日本", "JP"),
        ] {
            assert_eq!(country_code(form), Some(code), "{form}");
        }
        assert_eq!(country_code("Atlantis"), None);
        for row in table(include_str!("../data/country-aliases.tsv")) {
            assert!(country(row[1]).is_some(), "{row:?}");
        }
        assert_eq!(country_regions("SN"), vec![Region::Africa]);
        assert_eq!(country_regions("MA"), vec![Region::Africa, Region::Mena]);
        assert_eq!(country_regions("LB"), vec![Region::Mena]);
        assert_eq!(country_regions("PE"), vec![Region::LatinAmericaCaribbean]);
        assert_eq!(country_regions("HT"), vec![Region::LatinAmericaCaribbean]);
        assert_eq!(country_regions("CA"), vec![Region::NorthAmerica]);
        assert_eq!(country_regions("FR"), vec![Region::Europe]);
        assert_eq!(country_regions("NZ"), vec![Region::AsiaPacific]);
        assert_eq!(country_regions("IN"), vec![Region::AsiaPacific]);
    }
}
