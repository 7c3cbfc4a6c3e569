//! Requests and their latency, by route and status, for `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State as Extract};
use axum::middleware::Next;
use axum::response::Response;

use crate::State;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Debug, Default)]
struct Series {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Latency histograms keyed by (route, status).
#[derive(Debug, Default)]
pub struct HttpMetrics(Mutex<BTreeMap<(String, u16), Series>>);

impl HttpMetrics {
    fn observe(&self, route: String, status: u16, seconds: f64) {
        let mut map = self.0.lock().expect("metrics are only added to");
        let series = map.entry((route, status)).or_default();
        series.count += 1;
        series.sum += seconds;
        for (bucket, bound) in series.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
    }

    pub(crate) fn render(&self, out: &mut String) {
        let name = "maillage_http_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} HTTP requests by route and status.\n# TYPE {name} histogram"
        );
        for ((route, status), s) in self.0.lock().expect("metrics are only added to").iter() {
            let labels = format!("route=\"{route}\",status=\"{status}\"");
            for (bucket, bound) in s.buckets.iter().zip(BUCKETS) {
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {bucket}");
            }
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", s.count);
            let _ = writeln!(out, "{name}_sum{{{labels}}} {}", s.sum);
            let _ = writeln!(out, "{name}_count{{{labels}}} {}", s.count);
        }
    }
}

/// Middleware: times every request.
pub(crate) async fn track(
    Extract(state): Extract<State>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let start = Instant::now();
    let response = next.run(request).await;
    state.http.observe(
        route,
        response.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    response
}
