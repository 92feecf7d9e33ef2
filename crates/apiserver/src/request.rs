//! Reading a request: which API path it names, and its query parameters.

use std::collections::HashMap;

use axum::http::Method;

use tug_api::{registry, ResourceType};

use crate::crds::CustomKinds;
use crate::status::{ApiError, ApiResult};

/// What an `/api…` or `/apis…` path names.
#[derive(Debug)]
pub enum Route {
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/<group>`
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`
    Resources { group: String, version: String },
    /// A collection, an object or an object's subresource.
    Object(Target),
    /// A metric of `custom.metrics.k8s.io/v1beta2`.
    CustomMetric(MetricTarget),
}

/// The group and version of the custom metrics API.
pub const CUSTOM_METRICS: (&str, &str) = ("custom.metrics.k8s.io", "v1beta2");

/// What a custom metrics path names: `namespaces/<ns>/<resource>/<name|*>/<metric>`,
/// `<resource>/<name|*>/<metric>` for cluster-scoped objects, or
/// `namespaces/<ns>/metrics/<metric>` for the namespace itself.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricTarget {
    pub namespace: Option<String>,
    /// The resource, with its group when it has one (`pods`, `deployments.apps`).
    pub resource: String,
    /// An object's name, or `*` for all the objects the label selector picks.
    pub name: String,
    pub metric: String,
}

/// The custom metric a path under the custom metrics API names.
fn custom_metric(rest: &[&str]) -> ApiResult<Route> {
    let owned = |s: &&str| percent_decode(s);
    let target = match rest {
        ["namespaces", ns, "metrics", metric] => MetricTarget { namespace: None, resource: "namespaces".into(), name: owned(ns), metric: owned(metric) },
        ["namespaces", ns, resource, name, metric] => MetricTarget { namespace: Some(owned(ns)), resource: owned(resource), name: owned(name), metric: owned(metric) },
        [resource, name, metric] => MetricTarget { namespace: None, resource: owned(resource), name: owned(name), metric: owned(metric) },
        _ => return Err(ApiError::no_route()),
    };
    if [&target.resource, &target.name, &target.metric].iter().any(|s| s.is_empty()) {
        return Err(ApiError::no_route());
    }
    Ok(Route::CustomMetric(target))
}

/// The resource a request is about.
#[derive(Debug, Clone)]
pub struct Target {
    pub rt: &'static ResourceType,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

impl Target {
    /// The object's name; only called where the route has one.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    /// The object's store key.
    pub fn key(&self) -> String {
        self.rt.key(self.namespace.as_deref(), self.name())
    }
}

/// Parses the path of an API request, finding built-in kinds and the custom `kinds`.
pub fn route(path: &str, kinds: &CustomKinds) -> ApiResult<Route> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api"] => return Ok(Route::CoreVersions),
        ["apis"] => return Ok(Route::Groups),
        ["apis", group] => return Ok(Route::Group((*group).to_string())),
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(ApiError::no_route()),
    };
    if (group, version) == CUSTOM_METRICS && !rest.is_empty() {
        return custom_metric(rest);
    }
    if rest.is_empty() {
        if !crate::discovery::all_groups(kinds)
            .iter()
            .any(|(g, vs)| *g == group && vs.contains(&version))
        {
            return Err(ApiError::no_route());
        }
        return Ok(Route::Resources {
            group: group.to_string(),
            version: version.to_string(),
        });
    }
    let find = |plural: &str| {
        registry::find(group, version, plural)
            .or_else(|| kinds.find(group, version, plural))
            .ok_or_else(ApiError::no_route)
    };
    let owned = |s: &&str| (*s).to_string();
    let target = match rest {
        // namespaces/<name>/<subresource> is the namespace's own subresource.
        ["namespaces", name, sub @ ("status" | "finalize")] => Target {
            rt: find("namespaces")?,
            namespace: None,
            name: Some(owned(name)),
            subresource: Some(owned(sub)),
        },
        ["namespaces", ns, plural, tail @ ..] if tail.len() <= 2 => {
            let rt = find(plural)?;
            if !rt.namespaced {
                return Err(ApiError::no_route());
            }
            Target {
                rt,
                namespace: Some(owned(ns)),
                name: tail.first().map(owned),
                subresource: tail.get(1).map(owned),
            }
        }
        [plural, tail @ ..] if tail.len() <= 2 => Target {
            rt: find(plural)?,
            namespace: None,
            name: tail.first().map(owned),
            subresource: tail.get(1).map(owned),
        },
        _ => return Err(ApiError::no_route()),
    };
    if target.name.as_deref() == Some("") {
        return Err(ApiError::no_route());
    }
    if let Some(sub) = &target.subresource {
        let served = target.rt.subresources.iter().any(|s| s.name() == sub)
            || (target.rt.kind == "Namespace" && sub == "finalize");
        if !served {
            return Err(ApiError::no_route());
        }
    }
    Ok(Route::Object(target))
}

/// `%XX` escapes decoded (a path segment such as kubectl's `%2A` for `*`, or an
/// impersonation extra key such as `example.com%2fteam`); a stray `%` is kept.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The verb of a resource request, as metrics and audit name it.
pub fn verb(method: &Method, target: &Target, query: &Query) -> &'static str {
    // Streaming into a pod is a create whatever the method (a WebSocket upgrade is a GET),
    // as kube-apiserver authorizes it since 1.31.
    if matches!(target.subresource.as_deref(), Some("exec" | "attach" | "portforward")) {
        return "create";
    }
    match (method.as_str(), target.name.is_some()) {
        ("GET", false) if query.flag("watch") => "watch",
        ("GET", false) => "list",
        ("GET", true) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", false) => "deletecollection",
        ("DELETE", true) => "delete",
        _ => "other",
    }
}

/// The query parameters of a request.
#[derive(Debug, Default)]
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(query: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// A parameter's value, if given and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true" | "1"))
    }

    /// A numeric parameter; 400 when it is not a number.
    pub fn number(&self, name: &str) -> ApiResult<Option<i64>> {
        self.get(name)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!("invalid {name} {v:?}: not an integer"))
                })
            })
            .transpose()
    }

    /// Whether `dryRun=All` was asked for.
    pub fn dry_run(&self) -> bool {
        self.get("dryRun") == Some("All")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(path: &str) -> Target {
        match route(path, &CustomKinds::default()) {
            Ok(Route::Object(t)) => t,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn custom_metric_paths() {
        let metric = |path: &str| match route(path, &CustomKinds::default()) {
            Ok(Route::CustomMetric(m)) => (m.namespace, m.resource, m.name, m.metric),
            other => panic!("{path}: {other:?}"),
        };
        let base = "/apis/custom.metrics.k8s.io/v1beta2";
        assert_eq!(metric(&format!("{base}/namespaces/ns/pods/*/jobs")), (Some("ns".into()), "pods".into(), "*".into(), "jobs".into()));
        assert_eq!(metric(&format!("{base}/namespaces/ns/pods/%2A/jobs")).2, "*", "as kubectl get --raw sends it");
        assert_eq!(metric(&format!("{base}/namespaces/ns/deployments.apps/web/jobs")).1, "deployments.apps");
        assert_eq!(metric(&format!("{base}/namespaces/ns/metrics/jobs")), (None, "namespaces".into(), "ns".into(), "jobs".into()));
        assert!(route(&format!("{base}/namespaces/ns/pods/jobs"), &CustomKinds::default()).is_err());
    }

    #[test]
    fn object_paths() {
        let t = target("/apis/apps/v1/namespaces/ns1/deployments/web/scale");
        assert_eq!(
            (
                t.rt.kind,
                t.namespace.as_deref(),
                t.name.as_deref(),
                t.subresource.as_deref()
            ),
            ("Deployment", Some("ns1"), Some("web"), Some("scale"))
        );
        let t = target("/api/v1/pods");
        assert_eq!((t.rt.kind, t.namespace, t.name), ("Pod", None, None));
        let t = target("/api/v1/namespaces/kube-system");
        assert_eq!(
            (t.rt.kind, t.name.as_deref()),
            ("Namespace", Some("kube-system"))
        );
        let t = target("/api/v1/namespaces/x/status");
        assert_eq!(
            (t.rt.kind, t.subresource.as_deref()),
            ("Namespace", Some("status"))
        );
        assert_eq!(target("/api/v1/nodes/n1").key(), "/registry/core/nodes/n1");
    }

    #[test]
    fn unknown_paths_are_not_found() {
        for path in [
            "/api/v1/widgets",
            "/apis/apps/v1/namespaces/a/nodes",
            "/api/v1/configmaps/a/scale",
            "/apis/nope/v1",
            "/api/v1/pods/a/b/c",
        ] {
            assert_eq!(route(path, &CustomKinds::default()).unwrap_err().code, 404, "{path}");
        }
    }
}
