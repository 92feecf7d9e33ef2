//! Custom metrics from the pods of this node, as Prometheus with the usual
//! `kubernetes-pods` job finds them: a running pod annotated `prometheus.io/scrape:
//! "true"` is scraped every [`SCRAPE_EVERY`] over plain HTTP at its address, on the
//! port `prometheus.io/port` names (else its first declared container port) and the
//! path `prometheus.io/path` names (default `/metrics`); the answer is read as the
//! Prometheus text format (`prometheus_text`).
//!
//! A gauge is reported as scraped. A counter is reported as its per-second rate over
//! the last two scrapes, under its name without `_total` (`http_requests_total` →
//! `http_requests`), as prometheus-adapter's default rules name it; until it has been
//! scraped twice (or after it went back: a restart) it is listed as `pending`. The API
//! server reads the result at `/stats/custom` and serves it as `custom.metrics.k8s.io`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use serde_json::{json, Value};

use crate::prometheus_text::{self, Kind, Sample};

/// How often annotated pods are scraped (so also the span counter rates are taken over).
pub const SCRAPE_EVERY: Duration = Duration::from_secs(5);
/// How long one scrape may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(3);
/// The largest exposition read from a pod.
const MAX_BODY: usize = 4 << 20;

const SCRAPE: &str = "prometheus.io/scrape";
const PORT: &str = "prometheus.io/port";
const PATH: &str = "prometheus.io/path";
const SCHEME: &str = "prometheus.io/scheme";

/// One successful scrape.
#[derive(Debug, Clone)]
struct Scrape {
    at: Timestamp,
    samples: Vec<Sample>,
}

/// What is known of one pod: its last two good scrapes, or why the last one failed.
#[derive(Debug, Clone)]
struct PodState {
    pod: (String, String, String),
    last: Result<Scrape, (Timestamp, String)>,
    previous: Option<Scrape>,
}

/// The scrapes of this node's annotated pods, by pod uid.
#[derive(Debug, Default)]
pub struct Scrapes(Mutex<HashMap<String, PodState>>);

/// Whether the pod asks to be scraped.
fn wanted(pod: &Pod) -> bool {
    pod.metadata.annotations.as_ref().and_then(|a| a.get(SCRAPE)).is_some_and(|v| v == "true")
}

/// The URL of a pod's metrics, or why it cannot be scraped.
fn endpoint(pod: &Pod) -> Result<(String, u16, String), String> {
    let empty = BTreeMap::new();
    let annotations = pod.metadata.annotations.as_ref().unwrap_or(&empty);
    if let Some(scheme) = annotations.get(SCHEME).filter(|s| !s.eq_ignore_ascii_case("http")) {
        return Err(format!("{SCHEME} {scheme:?} is not supported: pods are scraped over plain http"));
    }
    let ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone()).filter(|ip| !ip.is_empty()).ok_or("the pod has no address yet")?;
    let port = match annotations.get(PORT) {
        Some(text) => text.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("{PORT} {text:?} is not a port number (1-65535)"))?,
        None => {
            let declared = pod.spec.iter().flat_map(|s| &s.containers).flat_map(|c| c.ports.iter().flatten()).map(|p| p.container_port).next();
            declared
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| format!("set the {PORT} annotation: the pod declares no container port to scrape"))?
        }
    };
    let path = annotations.get(PATH).filter(|p| !p.is_empty()).cloned().unwrap_or_else(|| "/metrics".into());
    let path = if path.starts_with('/') { path } else { format!("/{path}") };
    Ok((ip, port, path))
}

/// GETs the exposition at `ip:port/path`.
async fn fetch(ip: &str, port: u16, path: &str) -> Result<String, String> {
    let url = format!("http://{ip}:{port}{path}");
    let attempt = async {
        let tcp = tokio::net::TcpStream::connect((ip, port)).await.map_err(|e| format!("GET {url}: {e}"))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await.map_err(|e| format!("GET {url}: {e}"))?;
        tokio::spawn(connection);
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, format!("{ip}:{port}"))
            .header(hyper::header::ACCEPT, "text/plain;version=0.0.4")
            .header(hyper::header::USER_AGENT, "tug-agent")
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("GET {url}: {e}"))?;
        let response = sender.send_request(request).await.map_err(|e| format!("GET {url}: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET {url}: the pod answered {status}"));
        }
        let body = Limited::new(response.into_body(), MAX_BODY).collect().await.map_err(|e| format!("GET {url}: {e} (at most {MAX_BODY} bytes are read)"))?;
        String::from_utf8(body.to_bytes().to_vec()).map_err(|_| format!("GET {url}: the answer is not UTF-8 text"))
    };
    tokio::time::timeout(SCRAPE_TIMEOUT, attempt).await.unwrap_or_else(|_| Err(format!("GET {url}: no answer within {}s", SCRAPE_TIMEOUT.as_secs())))
}

/// Scrapes one pod.
async fn scrape(pod: &Pod) -> Result<Vec<Sample>, String> {
    let (ip, port, path) = endpoint(pod)?;
    let text = fetch(&ip, port, &path).await?;
    prometheus_text::parse(&text).map_err(|e| format!("http://{ip}:{port}{path} is not in the Prometheus text format: {e}"))
}

/// Scrapes this node's annotated pods every [`SCRAPE_EVERY`], forever.
pub async fn run(stats: std::sync::Arc<crate::stats::Stats>) -> Result<(), crate::Error> {
    let mut tick = tokio::time::interval(SCRAPE_EVERY);
    // A late scrape delays the next one: rates are never taken over a burst of ticks.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        stats.scrapes.scrape_all(stats.pods()).await;
    }
}

impl Scrapes {
    /// Scrapes every annotated running pod of `pods` once and keeps the results.
    pub async fn scrape_all(&self, pods: Vec<std::sync::Arc<Pod>>) {
        let pods: Vec<_> = pods.into_iter().filter(|p| wanted(p) && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")).collect();
        let results = futures_util::future::join_all(pods.iter().map(|pod| async move { (pod, scrape(pod).await) })).await;
        let Ok(mut map) = self.0.lock() else { return };
        let mut live = Vec::new();
        for (pod, result) in results {
            let meta = &pod.metadata;
            let uid = meta.uid.clone().unwrap_or_default();
            let at = Timestamp::now();
            let previous = map.get(&uid).and_then(|s| s.last.as_ref().ok().cloned());
            let last = result.map(|samples| Scrape { at, samples }).map_err(|e| (at, e));
            let previous = if last.is_ok() { previous } else { None };
            let who = (meta.name.clone().unwrap_or_default(), meta.namespace.clone().unwrap_or_default(), uid.clone());
            map.insert(uid.clone(), PodState { pod: who, last, previous });
            live.push(uid);
        }
        map.retain(|uid, _| live.contains(uid));
    }

    /// The `/stats/custom` document: each scraped pod's series, or its error.
    pub fn document(&self) -> Value {
        let Ok(map) = self.0.lock() else { return json!({"pods": []}) };
        let mut pods: Vec<Value> = map.values().map(pod_document).collect();
        pods.sort_by(|a, b| a["podRef"]["name"].as_str().cmp(&b["podRef"]["name"].as_str()));
        json!({"pods": pods})
    }
}

fn pod_document(state: &PodState) -> Value {
    let (name, namespace, uid) = &state.pod;
    let mut doc = json!({"podRef": {"name": name, "namespace": namespace, "uid": uid}});
    match &state.last {
        Err((at, error)) => {
            doc["time"] = json!(at.to_string());
            doc["error"] = json!(error);
        }
        Ok(last) => {
            let (series, pending, window) = series(last, state.previous.as_ref());
            doc["time"] = json!(last.at.to_string());
            doc["series"] = json!(series);
            doc["pending"] = json!(pending);
            if let Some(seconds) = window {
                doc["windowSeconds"] = json!(seconds);
            }
        }
    }
    doc
}

/// The reported series of a pod (gauges, and counters' rates), the counters still
/// waiting for a second scrape, and the span the rates were taken over.
fn series(last: &Scrape, previous: Option<&Scrape>) -> (Vec<Value>, Vec<String>, Option<f64>) {
    let mut out = Vec::new();
    let mut pending = Vec::new();
    let span = previous.map(|p| last.at.duration_since(p.at).as_secs_f64()).filter(|s| *s > 0.0);
    for sample in &last.samples {
        let value = match sample.kind {
            Kind::Gauge => Some(sample.value),
            Kind::Counter => {
                let before = previous.and_then(|p| p.samples.iter().find(|s| s.name == sample.name && s.labels == sample.labels));
                match (before, span) {
                    (Some(before), Some(span)) if sample.value >= before.value => Some((sample.value - before.value) / span),
                    _ => None,
                }
            }
        };
        let name = match sample.kind {
            Kind::Counter => sample.name.strip_suffix("_total").unwrap_or(&sample.name),
            Kind::Gauge => &sample.name,
        };
        match value {
            Some(v) if v.is_finite() => out.push(json!({"name": name, "labels": sample.labels, "value": v})),
            Some(_) => {}
            None => {
                if !pending.iter().any(|p| p == name) {
                    pending.push(name.to_string());
                }
            }
        }
    }
    (out, pending, span.filter(|_| last.samples.iter().any(|s| s.kind == Kind::Counter)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn scraped(at: i64, text: &str) -> Scrape {
        Scrape { at: Timestamp::from_second(at).unwrap(), samples: prometheus_text::parse(text).unwrap() }
    }

    #[test]
    fn counters_become_rates_named_without_total() {
        let text = |n: u32| format!("# TYPE http_requests_total counter\nhttp_requests_total{{code=\"200\"}} {n}\nqueue 3\n");
        let first = scraped(100, &text(10));
        let (out, pending, window) = series(&first, None);
        assert_eq!(out, vec![json!({"name": "queue", "labels": {}, "value": 3.0})]);
        assert_eq!((pending, window), (vec!["http_requests".to_string()], None));
        let second = scraped(105, &text(60));
        let (out, pending, window) = series(&second, Some(&first));
        assert_eq!(out[0], json!({"name": "http_requests", "labels": {"code": "200"}, "value": 10.0}));
        assert!(pending.is_empty());
        assert_eq!(window, Some(5.0));
        // A counter that went back (the pod restarted) has no rate this time.
        let reset = scraped(110, &text(2));
        assert_eq!(series(&reset, Some(&second)).1, vec!["http_requests".to_string()]);
    }

    fn pod(annotations: Value, ports: Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u", "annotations": annotations},
            "spec": {"containers": [{"name": "c", "ports": ports}]},
            "status": {"phase": "Running", "podIP": "127.0.0.1"},
        }))
        .unwrap()
    }

    #[test]
    fn annotations_choose_port_and_path() {
        let p = pod(json!({"prometheus.io/scrape": "true", "prometheus.io/port": "9100", "prometheus.io/path": "stats"}), json!([]));
        assert_eq!(endpoint(&p), Ok(("127.0.0.1".into(), 9100, "/stats".into())));
        let p = pod(json!({"prometheus.io/scrape": "true"}), json!([{"containerPort": 8080}]));
        assert_eq!(endpoint(&p), Ok(("127.0.0.1".into(), 8080, "/metrics".into())));
        let p = pod(json!({"prometheus.io/scrape": "true"}), json!([]));
        assert_eq!(endpoint(&p).unwrap_err(), "set the prometheus.io/port annotation: the pod declares no container port to scrape");
        let p = pod(json!({"prometheus.io/scrape": "true", "prometheus.io/port": "http"}), json!([]));
        assert_eq!(endpoint(&p).unwrap_err(), "prometheus.io/port \"http\" is not a port number (1-65535)");
        assert!(!wanted(&pod(json!({"prometheus.io/scrape": "false"}), json!([]))));
    }

    #[tokio::test]
    async fn a_real_endpoint_is_scraped_and_a_bad_one_reported() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut bodies = ["# TYPE jobs gauge\njobs{q=\"a\"} 7\n", "jobs 7 7 7\n"].into_iter();
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let body = bodies.next().unwrap_or("");
                let _ = s.write_all(format!("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n{body}").as_bytes()).await;
            }
        });
        let p = std::sync::Arc::new(pod(json!({"prometheus.io/scrape": "true", "prometheus.io/port": port.to_string()}), json!([])));
        let scrapes = Scrapes::default();
        scrapes.scrape_all(vec![p.clone()]).await;
        let doc = scrapes.document();
        assert_eq!(doc["pods"][0]["series"], json!([{"name": "jobs", "labels": {"q": "a"}, "value": 7.0}]), "{doc}");
        assert_eq!(doc["pods"][0]["podRef"], json!({"name": "p", "namespace": "ns", "uid": "u"}));
        scrapes.scrape_all(vec![p]).await;
        let doc = scrapes.document();
        let error = doc["pods"][0]["error"].as_str().unwrap();
        assert_eq!(error, format!("http://127.0.0.1:{port}/metrics is not in the Prometheus text format: line 1: unexpected text after the value and timestamp of jobs"));
        scrapes.scrape_all(Vec::new()).await;
        assert_eq!(scrapes.document(), json!({"pods": []}));
    }
}
