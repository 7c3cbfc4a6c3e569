//! The web page: its files under `assets/web/`, embedded in the binary and served as they
//! are (no build step), with the language of `/` chosen from `Accept-Language`.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

use crate::Error;

/// Embeds each named file of `assets/web/`.
macro_rules! files {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!("../assets/web/", $path)) as &[u8])),*]
    };
}

/// Every file of the page, by its path under `/assets/`.
static FILES: &[(&str, &[u8])] = files![
    "app.js",
    "explore.js",
    "i18n.js",
    "map.js",
    "style.css",
    "verify.js",
    "vendor/cytoscape/cytoscape.min.js",
    "vendor/cytoscape/LICENSE",
    "vendor/leaflet/images/layers-2x.png",
    "vendor/leaflet/images/layers.png",
    "vendor/leaflet/images/marker-icon-2x.png",
    "vendor/leaflet/images/marker-icon.png",
    "vendor/leaflet/images/marker-shadow.png",
    "vendor/leaflet/leaflet.css",
    "vendor/leaflet/leaflet.js",
    "vendor/leaflet/LICENSE",
    "vendor/leaflet.markercluster/leaflet.markercluster.js",
    "vendor/leaflet.markercluster/LICENSE",
    "vendor/leaflet.markercluster/MarkerCluster.css",
    "vendor/leaflet.markercluster/MarkerCluster.Default.css",
    "vendor/package.json",
    "vendor/README.md",
    "vendor/topojson-client/LICENSE",
    "vendor/topojson-client/topojson-client.min.js",
    "vendor/world-atlas/countries-110m.json",
    "vendor/world-atlas/LICENSE",
];

const INDEX: &str = include_str!("../assets/web/index.html");

/// The interface's languages, the first the default.
pub const LANGUAGES: [&str; 4] = ["en", "fr", "es", "pt"];

/// The first of the interface's languages `Accept-Language` asks for, by its order and
/// weights; English when it asks for none of them.
pub fn language(accept: &str) -> &'static str {
    let mut asked: Vec<(f32, usize, &str)> = accept
        .split(',')
        .enumerate()
        .filter_map(|(i, part)| {
            let mut pieces = part.trim().split(';');
            let tag = pieces.next()?.trim();
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            Some((q, i, tag))
        })
        .filter(|(q, _, _)| *q > 0.0)
        .collect();
    asked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    asked
        .iter()
        .find_map(|(_, _, tag)| {
            let primary = tag.split('-').next().unwrap_or("").to_ascii_lowercase();
            LANGUAGES.into_iter().find(|l| *l == primary)
        })
        .unwrap_or(LANGUAGES[0])
}

/// `GET /`: the page, in the language the browser asks for (the page's own switch wins).
pub(crate) async fn page(headers: HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let page = INDEX.replacen(
        "<html lang=\"en\">",
        &format!("<html lang=\"{}\">", language(accept)),
        1,
    );
    let mut response = Html(page).into_response();
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept-language"));
    response
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("md") => "text/markdown; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    }
}

/// Each file's entity tag: the start of its SHA-256, computed once.
static TAGS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    use sha2::Digest as _;
    FILES
        .iter()
        .map(|(_, bytes)| format!("\"{}\"", &hex::encode(sha2::Sha256::digest(bytes))[..32]))
        .collect()
});

/// `GET /assets/{*path}`: one of the page's files, revalidated by its entity tag on every
/// use, so that after an upgrade a browser never runs the new page on an old library.
pub(crate) async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Result<Response, Error> {
    let i = FILES
        .iter()
        .position(|(name, _)| *name == path)
        .ok_or_else(|| Error::NotFound(format!("no asset `{path}`")))?;
    let (name, bytes) = FILES[i];
    let tag = TAGS[i].as_str();
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|asked| asked.split(',').any(|t| t.trim() == tag));
    let head = [
        (header::CONTENT_TYPE, content_type(name)),
        (header::CACHE_CONTROL, "no-cache"),
        (header::ETAG, tag),
    ];
    Ok(if fresh {
        (axum::http::StatusCode::NOT_MODIFIED, head).into_response()
    } else {
        (head, bytes).into_response()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_page_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/web");
        let mut on_disk = vec![];
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path
                    .file_name()
                    .is_some_and(|n| n != "index.html" && n != "update.sh")
                {
                    let relative = path.strip_prefix(&root).unwrap();
                    on_disk.push(relative.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(n, _)| (*n).to_owned()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk);
    }

    #[test]
    fn the_language_follows_accept_language() {
        assert_eq!(language(""), "en");
        assert_eq!(language("fr-FR,fr;q=0.9,en;q=0.8"), "fr");
        assert_eq!(language("de-DE,es;q=0.7,pt;q=0.9"), "pt");
        assert_eq!(language("pt-BR"), "pt");
        assert_eq!(language("de, ja"), "en");
        assert_eq!(language("fr;q=0, es"), "es");
    }
}
