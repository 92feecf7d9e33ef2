//! `.Capabilities`: the Kubernetes version and API versions a chart renders against,
//! and the Helm version it believes it runs under.

use std::sync::Arc;

use tug_gotemplate::{Map, Object, Value};

/// What the cluster (or `--kube-version`/`--api-versions`) offers.
#[derive(Clone, Debug)]
pub struct Capabilities {
    /// `v1.33.0` (a leading `v` is added when missing).
    pub kube_version: String,
    /// `group/version` and `group/version/Kind` entries (`v1`, `apps/v1/Deployment`).
    pub api_versions: Vec<String>,
    /// The Helm version reported to templates.
    pub helm_version: String,
}

/// The group/versions every cluster serves, used when the caller gives none.
const BUILTIN_API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "apiextensions.k8s.io/v1",
    "apiregistration.k8s.io/v1",
    "apps/v1",
    "authentication.k8s.io/v1",
    "authorization.k8s.io/v1",
    "autoscaling/v1",
    "autoscaling/v2",
    "batch/v1",
    "certificates.k8s.io/v1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "events.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1",
    "networking.k8s.io/v1",
    "node.k8s.io/v1",
    "policy/v1",
    "rbac.authorization.k8s.io/v1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1",
];

impl Default for Capabilities {
    fn default() -> Capabilities {
        Capabilities {
            kube_version: "v1.33.0".into(),
            api_versions: BUILTIN_API_VERSIONS.iter().map(|s| s.to_string()).collect(),
            helm_version: "v3.21.4".into(),
        }
    }
}

impl Capabilities {
    /// Sets the Kubernetes version from `1.16`, `v1.16.0` and the like.
    pub fn with_kube_version(mut self, v: &str) -> Result<Capabilities, String> {
        let parsed = tug_gotemplate::funcs::semver::Version::parse(v)
            .map_err(|e| format!("invalid kube version {v:?}: {e}"))?;
        self.kube_version = format!("v{}", parsed);
        Ok(self)
    }

    /// The `.Capabilities` template value.
    pub fn to_value(&self) -> Value {
        let m = Map::new();
        m.insert(
            "KubeVersion",
            Value::Object(Arc::new(KubeVersion::new(&self.kube_version))),
        );
        m.insert(
            "APIVersions",
            Value::Object(Arc::new(VersionSet(self.api_versions.clone()))),
        );
        let helm = Map::new();
        helm.insert("Version", Value::str(&self.helm_version));
        helm.insert("GitCommit", Value::str(""));
        helm.insert("GitTreeState", Value::str("clean"));
        helm.insert("GoVersion", Value::str("go1.24"));
        m.insert("HelmVersion", Value::Map(helm));
        Value::Map(m)
    }
}

/// `.Capabilities.KubeVersion` (fields Version, Major, Minor, GitVersion).
struct KubeVersion {
    version: String,
    major: String,
    minor: String,
}

impl KubeVersion {
    fn new(v: &str) -> KubeVersion {
        let bare = v.trim_start_matches('v');
        let mut parts = bare.split('.');
        let major = parts.next().unwrap_or("").to_string();
        let minor = parts.next().unwrap_or("").to_string();
        KubeVersion {
            version: v.to_string(),
            major,
            minor,
        }
    }
}

impl Object for KubeVersion {
    fn type_name(&self) -> &str {
        "chartutil.KubeVersion"
    }
    fn call(&self, name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        Some(Ok(match name {
            "Version" | "GitVersion" | "String" => Value::str(&self.version),
            "Major" => Value::str(&self.major),
            "Minor" => Value::str(&self.minor),
            _ => return None,
        }))
    }
    fn display(&self) -> String {
        self.version.clone()
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn to_value(&self) -> Value {
        let m = Map::new();
        m.insert("Version", Value::str(&self.version));
        m.insert("Major", Value::str(&self.major));
        m.insert("Minor", Value::str(&self.minor));
        Value::Map(m)
    }
}

/// `.Capabilities.APIVersions` with its `Has` method.
struct VersionSet(Vec<String>);

impl Object for VersionSet {
    fn type_name(&self) -> &str {
        "chartutil.VersionSet"
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        match name {
            "Has" => {
                let want = args.first().and_then(Value::as_str).unwrap_or("");
                Some(Ok(Value::Bool(self.0.iter().any(|v| v == want))))
            }
            _ => None,
        }
    }
    fn display(&self) -> String {
        format!("[{}]", self.0.join(" "))
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn to_value(&self) -> Value {
        Value::list(self.0.iter().map(Value::str).collect())
    }
}
