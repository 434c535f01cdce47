//! Prometheus metrics, in Coder's names wherever Coder has the same quantity, so that its
//! dashboards carry over. HTTP metrics are labelled by route template, never by raw path,
//! so that their number stays bounded whatever clients send. Queue gauges that every server
//! on one database would report alike are read from the database when scraped.

mod queue;
pub mod server;

use prometheus::core::Collector;
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

pub use queue::QueueMetrics;

/// Coder's buckets for request latencies, in seconds.
const LATENCY_BUCKETS: &[f64] = &[0.001, 0.005, 0.010, 0.025, 0.050, 0.100, 0.500, 1.0, 5.0, 10.0, 30.0];
/// Coder's buckets for WebSocket lifetimes, in seconds.
const WEBSOCKET_BUCKETS: &[f64] = &[0.001, 1.0, 60.0, 3600.0, 54_000.0, 108_000.0];

/// The label of requests no route matched: one series for all of them.
pub const UNMATCHED_PATH: &str = "unmatched";

/// Every metric this server keeps, and the registry they are gathered from.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latencies: HistogramVec,
    concurrent_requests: IntGaugeVec,
    concurrent_websockets: IntGaugeVec,
    websocket_durations: HistogramVec,
    pub queue: QueueMetrics,
}

/// What one request was, as its labels see it.
#[derive(Debug, Clone)]
pub struct RequestLabels {
    pub method: &'static str,
    pub path: String,
    pub websocket: bool,
}

/// Method names as labels: the standard ones, and `OTHER` for anything a client invents.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

fn registered<C: Collector + Clone + 'static>(registry: &Registry, collector: C) -> C {
    // Names are fixed and unique here; a failure is a programming error caught by the tests.
    if let Err(error) = registry.register(Box::new(collector.clone())) {
        tracing::error!(%error, "metric not registered");
    }
    collector
}

pub(crate) fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let vec = IntCounterVec::new(Opts::new(name, help), labels);
    registered(registry, vec.unwrap_or_else(|error| unreachable_metric(name, &error)))
}

pub(crate) fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let vec = IntGaugeVec::new(Opts::new(name, help), labels);
    registered(registry, vec.unwrap_or_else(|error| unreachable_metric(name, &error)))
}

pub(crate) fn histogram(registry: &Registry, name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> HistogramVec {
    let vec = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels);
    registered(registry, vec.unwrap_or_else(|error| unreachable_metric(name, &error)))
}

/// The definitions above are constants; the tests scrape every one of them.
fn unreachable_metric(name: &str, error: &prometheus::Error) -> ! {
    panic!("metric {name} is malformed: {error}")
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        // process_resident_memory_bytes and friends, as Coder's Go client exports them.
        #[cfg(target_os = "linux")]
        if let Err(error) = registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self())) {
            tracing::error!(%error, "process metrics not registered");
        }
        Self {
            requests: counter(
                &registry,
                "coderd_api_requests_processed_total",
                "The total number of processed API requests",
                &["code", "method", "path"],
            ),
            latencies: histogram(
                &registry,
                "coderd_api_request_latencies_seconds",
                "Latency distribution of requests in seconds.",
                &["method", "path"],
                LATENCY_BUCKETS,
            ),
            concurrent_requests: gauge(
                &registry,
                "coderd_api_concurrent_requests",
                "The number of concurrent API requests.",
                &["method", "path"],
            ),
            concurrent_websockets: gauge(
                &registry,
                "coderd_api_concurrent_websockets",
                "The total number of concurrent API websockets.",
                &["path"],
            ),
            websocket_durations: histogram(
                &registry,
                "coderd_api_websocket_durations_seconds",
                "Websocket duration distribution of requests in seconds.",
                &["path"],
                WEBSOCKET_BUCKETS,
            ),
            queue: QueueMetrics::new(&registry),
            registry,
        }
    }

    /// A request began.
    pub fn request_started(&self, labels: &RequestLabels) {
        if labels.websocket {
            self.concurrent_websockets.with_label_values(&[labels.path.as_str()]).inc();
        } else {
            self.concurrent_requests.with_label_values(&[labels.method, labels.path.as_str()]).inc();
        }
    }

    /// A request ended (its body was sent, or its WebSocket closed) after `seconds`.
    pub fn request_finished(&self, labels: &RequestLabels, status: u16, seconds: f64) {
        let path = labels.path.as_str();
        if labels.websocket {
            self.concurrent_websockets.with_label_values(&[path]).dec();
            self.websocket_durations.with_label_values(&[path]).observe(seconds);
        } else {
            self.concurrent_requests.with_label_values(&[labels.method, path]).dec();
            self.latencies.with_label_values(&[labels.method, path]).observe(seconds);
        }
        self.requests.with_label_values(&[status.to_string().as_str(), labels.method, path]).inc();
    }

    /// The text exposition of every metric, with the gauges read at scrape time added.
    pub fn render(&self, scraped: Vec<prometheus::proto::MetricFamily>) -> Vec<u8> {
        let mut families = self.registry.gather();
        // A labelled gauge with no series yet has nothing to say (and the encoder refuses it).
        families.extend(scraped.into_iter().filter(|family| !family.get_metric().is_empty()));
        families.sort_by(|a, b| a.name().cmp(b.name()));
        let mut text = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&families, &mut text) {
            tracing::error!(%error, "metrics could not be encoded");
        }
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
