//! Generated data that looks like the real thing: organisations with names and descriptions
//! in several languages, spread over the continents with coordinates near real cities,
//! ESSGLOBAL activities, and collaborations between several parties.

use maillage_core::{Body, Kind, Record, SigningKey};
use serde_json::json;

/// (country, city, lat, lon, region, language)
const PLACES: &[(&str, &str, f64, f64, &str, &str)] = &[
    ("SN", "Dakar", 14.69, -17.44, "africa", "fr"),
    ("ML", "Bamako", 12.64, -8.0, "africa", "fr"),
    ("BF", "Ouagadougou", 12.37, -1.52, "africa", "fr"),
    ("KE", "Nairobi", -1.29, 36.82, "africa", "en"),
    ("ZA", "Johannesburg", -26.2, 28.05, "africa", "en"),
    ("MA", "Rabat", 34.02, -6.84, "mena", "fr"),
    ("TN", "Tunis", 36.81, 10.18, "mena", "ar"),
    ("FR", "Lyon", 45.76, 4.84, "europe", "fr"),
    ("ES", "Barcelona", 41.39, 2.17, "europe", "es"),
    ("IT", "Bologna", 44.49, 11.34, "europe", "it"),
    ("BE", "Brussels", 50.85, 4.35, "europe", "fr"),
    ("DE", "Berlin", 52.52, 13.4, "europe", "de"),
    ("PT", "Lisbon", 38.72, -9.14, "europe", "pt"),
    (
        "BR",
        "São Paulo",
        -23.55,
        -46.63,
        "latin-america-caribbean",
        "pt",
    ),
    (
        "PE",
        "Lima",
        -12.05,
        -77.04,
        "latin-america-caribbean",
        "es",
    ),
    (
        "EC",
        "Quito",
        -0.18,
        -78.47,
        "latin-america-caribbean",
        "es",
    ),
    (
        "BO",
        "La Paz",
        -16.5,
        -68.15,
        "latin-america-caribbean",
        "es",
    ),
    (
        "MX",
        "Oaxaca",
        17.07,
        -96.73,
        "latin-america-caribbean",
        "es",
    ),
    ("CA", "Montréal", 45.5, -73.57, "north-america", "fr"),
    ("US", "Oakland", 37.8, -122.27, "north-america", "en"),
    ("PH", "Quezon City", 14.68, 121.04, "asia-pacific", "en"),
    ("IN", "Ahmedabad", 23.02, 72.57, "asia-pacific", "en"),
    ("KR", "Seoul", 37.57, 126.98, "asia-pacific", "ko"),
    ("JP", "Kyoto", 35.01, 135.77, "asia-pacific", "ja"),
    ("ID", "Yogyakarta", -7.8, 110.36, "asia-pacific", "id"),
];

const FORMS: &[(&str, &str, &str)] = &[
    ("Coopérative", "Cooperative", "Cooperativa"),
    ("Mutuelle", "Mutual", "Mutual"),
    ("Association", "Association", "Asociación"),
    ("Réseau", "Network", "Red"),
    ("Banque solidaire", "Solidarity bank", "Banca solidaria"),
    (
        "Épicerie solidaire",
        "Solidarity grocery",
        "Tienda solidaria",
    ),
];

const TOPICS: &[(&str, &str, &str, &str)] = &[
    ("agricole", "farming", "agrícola", "AM60"),
    ("d'habitat", "housing", "de vivienda", "AM90"),
    ("d'épargne", "savings", "de ahorro", "AM100"),
    ("de recyclage", "recycling", "de reciclaje", "AM120"),
    ("culturelle", "arts", "cultural", "AM10"),
    ("d'énergie", "energy", "de energía", "AM50"),
    ("de santé", "health", "de salud", "AM80"),
    ("éducative", "education", "educativa", "AM40"),
];

const TYPES: &[&str] = &["initiative", "network", "support", "funder"];
const STRUCTURES: &[&str] = &["OS20", "OS60", "OS80", "OS90", "OS115"];

/// A small deterministic generator, so that every run measures the same data.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// The author keys of `n` networks.
pub fn authors(n: usize) -> Vec<SigningKey> {
    (0..n)
        .map(|i| {
            let mut secret = [0u8; 32];
            secret[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            secret[8] = 0x5e;
            SigningKey::from_bytes(&secret)
        })
        .collect()
}

/// The JSON body of organisation number `i`.
pub fn organisation_body(rng: &mut Rng, i: usize) -> serde_json::Value {
    let (country, city, lat, lon, region, lang) = PLACES[rng.below(PLACES.len())];
    let (fr, en, es) = FORMS[rng.below(FORMS.len())];
    let (tfr, ten, tes, activity) = TOPICS[rng.below(TOPICS.len())];
    let (second, _, _, other_activity) = TOPICS[rng.below(TOPICS.len())];
    let name = match lang {
        "fr" => format!("{fr} {tfr} de {city} n°{i}"),
        "es" | "pt" => format!("{es} {tes} de {city} {i}"),
        _ => format!("{city} {ten} {} {i}", en.to_lowercase()),
    };
    let mut activities = vec![activity];
    if other_activity != activity {
        activities.push(other_activity);
    }
    json!({
        "name": name,
        "description": {
            "en": format!("A {} in {city} working on {ten}, member of its regional social and solidarity economy network since {}.", en.to_lowercase(), 1980 + i % 45),
            "fr": format!("{fr} {tfr} à {city}, active aussi dans le domaine {second}, membre du réseau régional d'économie sociale et solidaire."),
            "es": format!("{es} {tes} en {city}, miembro de la red regional de economía social y solidaria."),
        },
        "type": TYPES[i % TYPES.len()],
        "organisational_structures": [format!("organisational-structure:{}", STRUCTURES[i % STRUCTURES.len()])],
        "activities": activities.iter().map(|a| format!("activities-modified:{a}")).collect::<Vec<_>>(),
        "countries": [country],
        "regions": [region],
        "address": {"locality": city, "country": country},
        "location": {"lat": lat + rng.unit() * 0.3, "lon": lon + rng.unit() * 0.3},
        "languages": [lang],
        "website": format!("https://org-{i}.example.org"),
        "emails": [format!("contact@org-{i}.example.org")],
        "founded": (1950 + i % 75).to_string(),
        "status": "active",
    })
}

/// `n` signed records by `authors`, about nine organisations to one collaboration between
/// two to four of them.
pub fn records(authors: &[SigningKey], n: usize, seed: u64, time: u64) -> Vec<Record> {
    let mut rng = Rng::new(seed);
    let mut out: Vec<Record> = Vec::with_capacity(n);
    for i in 0..n {
        let key = &authors[i % authors.len()];
        let record = if i % 10 == 9 && out.len() > 4 {
            let parties: Vec<_> = (0..2 + rng.below(3))
                .map(|p| {
                    let party = &out[rng.below(out.len())];
                    json!({"ref": party.address().to_string(), "role": if p == 0 { "coordinator" } else { "partner" }})
                })
                .collect();
            let body = json!({
                "title": format!("Joint project {i} on {}", TOPICS[rng.below(TOPICS.len())].1),
                "description": {"en": "Partners pooling purchases and training across the network."},
                "type": "joint-project",
                "status": "active",
                "parties": dedup_parties(parties),
                "start": format!("{}", 2015 + i % 10),
            });
            sign(
                key,
                Kind::Collaboration,
                &format!("project-{seed}-{i}"),
                body,
                time,
            )
        } else {
            sign(
                key,
                Kind::Organisation,
                &format!("org-{seed}-{i}"),
                organisation_body(&mut rng, i),
                time,
            )
        };
        out.push(record);
    }
    out
}

fn dedup_parties(parties: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    let mut seen = std::collections::BTreeSet::new();
    parties
        .into_iter()
        .filter(|p| seen.insert(p["ref"].to_string()))
        .collect()
}

fn sign(key: &SigningKey, kind: Kind, id: &str, body: serde_json::Value, time: u64) -> Record {
    let body = Body::from_json(kind, body).expect("generated bodies are valid");
    Record::sign(
        key,
        kind,
        id.parse().expect("generated ids are valid"),
        1,
        time,
        body,
    )
    .expect("generated records sign")
}

/// An organisation whose name holds `word`, found by nothing else.
pub fn probe(key: &SigningKey, word: &str, time: u64) -> Record {
    let mut body = organisation_body(&mut Rng::new(time), 0);
    body["name"] = json!(format!("Sonde {word}"));
    sign(key, Kind::Organisation, word, body, time)
}
