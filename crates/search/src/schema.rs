//! What the index holds of a record: its fields, how their text is analysed, and the
//! document a record becomes. No I/O.

use maillage_core::body::{Body, Collaboration, Organisation};
use maillage_core::{Kind, Record};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, SimpleTokenizer, Stemmer, TextAnalyzer,
    TokenizerManager,
};
use tantivy::{TantivyDocument, Term};

use crate::query::Facet;

/// The analyser of names and of text in no language of [`STEMMED`]: words split at
/// anything not a letter or digit (`co-operative`, `l'économie`), lower case, accents and
/// ligatures folded (`Œuvre` → `oeuvre`).
pub const FOLDED: &str = "folded";

/// Description languages analysed with their stemmer: `(tag, field, language)`.
pub const STEMMED: [(&str, Language); 6] = [
    ("en", Language::English),
    ("fr", Language::French),
    ("es", Language::Spanish),
    ("pt", Language::Portuguese),
    ("de", Language::German),
    ("it", Language::Italian),
];

/// The analysers the fields name, registered on every index opened.
pub fn tokenizers() -> TokenizerManager {
    let manager = TokenizerManager::default();
    manager.register(
        FOLDED,
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter)
            .build(),
    );
    for (tag, language) in STEMMED {
        // Folded before stemming, so that a word typed without its accents has the stem
        // of the word written with them (`economia`, `Economía`).
        manager.register(
            &format!("text_{tag}"),
            TextAnalyzer::builder(SimpleTokenizer::default())
                .filter(LowerCaser)
                .filter(AsciiFoldingFilter)
                .filter(Stemmer::new(language))
                .build(),
        );
    }
    manager
}

/// The index's fields.
#[derive(Clone, Debug)]
pub struct Fields {
    pub schema: Schema,
    /// The store's document number: what a hit is read by, and the last tie-break of every
    /// order.
    pub doc: Field,
    pub kind: Field,
    pub name: Field,
    pub alternate: Field,
    /// Text in no stemmed language, localities, tags.
    pub text: Field,
    /// Descriptions and missions in each language of [`STEMMED`], in its order.
    pub stemmed: Vec<Field>,
    /// The folded name, for `sort=name`.
    pub sort_name: Field,
    /// The record's time, for `sort=updated`.
    pub updated: Field,
    pub lat: Field,
    pub lon: Field,
    pub party: Field,
    /// One field per facet, in [`Facet::ALL`]'s order.
    pub facets: Vec<Field>,
}

fn text_field(tokenizer: &str) -> TextOptions {
    TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(tokenizer)
            .set_index_option(IndexRecordOption::Basic),
    )
}

impl Fields {
    pub fn new() -> Fields {
        let mut b = Schema::builder();
        let doc = b.add_u64_field("doc", INDEXED | FAST);
        let kind = b.add_text_field("kind", STRING);
        let name = b.add_text_field("name", text_field(FOLDED));
        let alternate = b.add_text_field("alternate", text_field(FOLDED));
        let text = b.add_text_field("text", text_field(FOLDED));
        let stemmed = STEMMED
            .iter()
            .map(|(tag, _)| {
                let name = format!("text_{tag}");
                b.add_text_field(&name, text_field(&name))
            })
            .collect();
        let sort_name = b.add_text_field("sort_name", TextOptions::default().set_fast("raw"));
        let updated = b.add_u64_field("updated", FAST);
        let lat = b.add_f64_field("lat", FAST);
        let lon = b.add_f64_field("lon", FAST);
        let party = b.add_text_field("party", STRING);
        let facets = Facet::ALL
            .iter()
            .map(|f| b.add_text_field(&format!("facet_{}", f.name()), STRING | FAST))
            .collect();
        Fields {
            schema: b.build(),
            doc,
            kind,
            name,
            alternate,
            text,
            stemmed,
            sort_name,
            updated,
            lat,
            lon,
            party,
            facets,
        }
    }

    pub fn facet(&self, facet: Facet) -> Field {
        self.facets[facet as usize]
    }

    /// The term that finds the document of store document `doc`.
    pub fn doc_term(&self, doc: u32) -> Term {
        Term::from_field_u64(self.doc, u64::from(doc))
    }

    /// The document a record becomes, with what the store knows beside it; `None` for what
    /// is not searched (tombstones, endorsements).
    pub fn document(&self, doc: u32, record: &Record, confirmed: bool) -> Option<TantivyDocument> {
        let mut d = TantivyDocument::new();
        d.add_u64(self.doc, u64::from(doc));
        d.add_text(self.kind, record.kind.as_str());
        d.add_u64(self.updated, record.time);
        d.add_text(self.facet(Facet::Author), record.author.did());
        match &record.body {
            Body::Organisation(o) => self.organisation(&mut d, o),
            Body::Collaboration(c) => self.collaboration(&mut d, c, confirmed),
            _ => return None,
        }
        Some(d)
    }

    fn add_facets<'a>(
        &self,
        d: &mut TantivyDocument,
        facet: Facet,
        values: impl IntoIterator<Item = &'a str>,
    ) {
        let mut seen: Vec<&str> = vec![];
        for v in values {
            if !seen.contains(&v) {
                seen.push(v);
                d.add_text(self.facet(facet), v);
            }
        }
    }

    fn add_name(&self, d: &mut TantivyDocument, field: Field, name: &str) {
        d.add_text(field, with_joined_compounds(name));
    }

    /// Descriptions go to the field of their language, or to `text`.
    fn add_described(
        &self,
        d: &mut TantivyDocument,
        texts: &std::collections::BTreeMap<String, String>,
    ) {
        for (tag, value) in texts {
            let primary = tag
                .split(['-', '_'])
                .next()
                .unwrap_or(tag)
                .to_ascii_lowercase();
            let field = STEMMED
                .iter()
                .position(|(t, _)| *t == primary)
                .map_or(self.text, |i| self.stemmed[i]);
            d.add_text(field, with_joined_compounds(value));
        }
    }

    fn organisation(&self, d: &mut TantivyDocument, o: &Organisation) {
        self.add_name(d, self.name, &o.name);
        d.add_text(self.sort_name, maillage_core::vocab::fold(&o.name));
        for a in &o.alternate_names {
            self.add_name(d, self.alternate, a);
        }
        self.add_described(d, &o.description);
        self.add_described(d, &o.mission);
        // What it is a member of, found as a collaboration's parties are.
        for m in &o.member_of {
            d.add_text(self.party, m);
        }
        let locality = o.address.as_ref().and_then(|a| a.locality.as_deref());
        for t in locality
            .into_iter()
            .chain(o.tags.iter().map(String::as_str))
        {
            d.add_text(self.text, with_joined_compounds(t));
        }
        if let Some(l) = &o.location {
            d.add_f64(self.lat, l.lat());
            d.add_f64(self.lon, l.lon());
        }
        self.add_facets(d, Facet::Type, o.org_type.map(|t| t.as_str()));
        self.add_facets(
            d,
            Facet::Structure,
            o.organisational_structures.iter().map(String::as_str),
        );
        self.add_facets(
            d,
            Facet::Activity,
            o.primary_activity
                .iter()
                .chain(&o.activities)
                .map(String::as_str),
        );
        self.add_facets(
            d,
            Facet::LegalForm,
            o.legal_forms.iter().map(String::as_str),
        );
        self.add_facets(d, Facet::Qualifier, o.qualifiers.iter().map(String::as_str));
        self.add_facets(d, Facet::Theme, o.themes.iter().map(String::as_str));
        let country = o.address.as_ref().and_then(|a| a.country.as_deref());
        self.add_facets(
            d,
            Facet::Country,
            o.countries.iter().map(String::as_str).chain(country),
        );
        self.add_facets(d, Facet::Region, o.regions.iter().map(|r| r.as_str()));
    }

    fn collaboration(&self, d: &mut TantivyDocument, c: &Collaboration, confirmed: bool) {
        self.add_name(d, self.name, &c.title);
        d.add_text(self.sort_name, maillage_core::vocab::fold(&c.title));
        self.add_described(d, &c.description);
        for p in &c.parties {
            d.add_text(self.party, &p.reference);
        }
        let collab_type = c.collab_type.and_then(|t| {
            serde_json::to_value(t)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
        });
        self.add_facets(d, Facet::Type, collab_type.as_deref());
        self.add_facets(d, Facet::Status, c.status.map(|s| s.as_str()));
        self.add_facets(d, Facet::Theme, c.themes.iter().map(String::as_str));
        self.add_facets(d, Facet::Country, c.countries.iter().map(String::as_str));
        self.add_facets(d, Facet::Region, c.regions.iter().map(|r| r.as_str()));
        let years: Vec<String> = years(c).map(|y| y.to_string()).collect();
        self.add_facets(d, Facet::Year, years.iter().map(String::as_str));
        self.add_facets(
            d,
            Facet::Confirmed,
            [if confirmed { "true" } else { "false" }],
        );
    }
}

impl Default for Fields {
    fn default() -> Fields {
        Fields::new()
    }
}

/// The years a collaboration ran: each from its start's to its end's, or its start's alone
/// when it has no end (at most a century).
pub fn years(c: &Collaboration) -> impl Iterator<Item = u16> {
    let year = |date: &Option<String>| {
        date.as_deref()
            .and_then(|d| d.get(..4)?.parse::<u16>().ok())
    };
    let start = year(&c.start);
    let end = year(&c.end)
        .filter(|e| start.is_some_and(|s| *e >= s))
        .or(start);
    start
        .into_iter()
        .flat_map(move |s| s..=end.unwrap_or(s).min(s.saturating_add(100)))
}

/// `text` with each hyphenated compound also written joined, so that `co-operative` is
/// found by `cooperative` as well as by `co operative`.
pub fn with_joined_compounds(text: &str) -> String {
    let joined: Vec<String> = text
        .split(|c: char| c.is_whitespace())
        .filter(|w| w.contains('-'))
        .map(|w| w.split('-').collect::<String>())
        .filter(|w| !w.is_empty())
        .collect();
    if joined.is_empty() {
        text.to_owned()
    } else {
        format!("{text} {}", joined.join(" "))
    }
}

/// The kinds the index holds.
pub const KINDS: [Kind; 2] = [Kind::Organisation, Kind::Collaboration];

#[cfg(test)]
mod tests {
    use super::*;

    fn analyse(tokenizer: &str, text: &str) -> Vec<String> {
        let mut analyser = tokenizers().get(tokenizer).expect("registered");
        let mut stream = analyser.token_stream(text);
        let mut out = vec![];
        while stream.advance() {
            out.push(stream.token().text.clone());
        }
        out
    }

    #[test]
    fn names_are_folded_and_split() {
        assert_eq!(
            analyse(
                FOLDED,
                &with_joined_compounds("Œuvre Co-opérative de Thiès, l'Économie")
            ),
            [
                "oeuvre",
                "co",
                "operative",
                "de",
                "thies",
                "l",
                "economie",
                "cooperative"
            ]
        );
    }

    #[test]
    fn descriptions_are_stemmed_in_their_language() {
        assert_eq!(
            analyse("text_fr", "coopératives solidaires"),
            ["cooper", "solidair"]
        );
        assert_eq!(
            analyse("text_es", "Economía"),
            analyse("text_es", "economia")
        );
        assert_eq!(
            analyse("text_en", "cooperatives farming"),
            ["cooper", "farm"]
        );
        assert_eq!(
            analyse("text_pt", "cooperativas"),
            analyse("text_pt", "cooperativa")
        );
        assert_eq!(
            analyse("text_es", "cooperativas"),
            analyse("text_es", "cooperativa")
        );
        assert_eq!(
            analyse("text_de", "Genossenschaften"),
            analyse("text_de", "Genossenschaft")
        );
        assert_eq!(
            analyse("text_it", "cooperative"),
            analyse("text_it", "cooperativa")
        );
    }
}
