//! A release as Helm 3 stores it: the JSON of Helm's `release.Release` (same field
//! names, so Helm reads what we write), gzipped and base64-encoded into the `release`
//! key of a Secret `sh.helm.release.v1.NAME.vN` of type `helm.sh/release.v1`, labelled
//! `name`, `owner=helm`, `status` and `version`.
//!
//! Pure: building and reading records and Secrets; the cluster calls are in `storage`.

use std::io::{Read, Write};

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::Error;
use tug_chart::{Chart, ChartFile};

/// The Secret type Helm 3 stores releases as.
pub const SECRET_TYPE: &str = "helm.sh/release.v1";

/// A release's status, spelled as Helm spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Unknown,
    Deployed,
    Uninstalled,
    Superseded,
    Failed,
    Uninstalling,
    PendingInstall,
    PendingUpgrade,
    PendingRollback,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unknown => "unknown",
            Status::Deployed => "deployed",
            Status::Uninstalled => "uninstalled",
            Status::Superseded => "superseded",
            Status::Failed => "failed",
            Status::Uninstalling => "uninstalling",
            Status::PendingInstall => "pending-install",
            Status::PendingUpgrade => "pending-upgrade",
            Status::PendingRollback => "pending-rollback",
        }
    }

    /// An operation was started and has not finished (or was interrupted).
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            Status::PendingInstall | Status::PendingUpgrade | Status::PendingRollback
        )
    }
}

/// Helm's `release.Info`. Times are RFC 3339 with nanoseconds; Helm writes a zero
/// time as `""`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Info {
    #[serde(default)]
    pub first_deployed: String,
    #[serde(default)]
    pub last_deployed: String,
    #[serde(default)]
    pub deleted: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
}

/// Helm's `release.HookExecution`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct HookExecution {
    #[serde(default)]
    pub started_at: String,
    #[serde(default)]
    pub completed_at: String,
    #[serde(default)]
    pub phase: String,
}

/// Helm's `release.Hook`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Hook {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub manifest: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    #[serde(default)]
    pub last_run: HookExecution,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub weight: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delete_policies: Vec<String>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// Helm's `release.Release`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub name: String,
    pub info: Info,
    /// Helm's `chart.Chart` as JSON (see [`chart_json`]).
    #[serde(default)]
    pub chart: Value,
    /// The values the user supplied.
    #[serde(default, skip_serializing_if = "is_empty_map")]
    pub config: serde_json::Map<String, Value>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub manifest: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<Hook>,
    pub version: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

fn is_empty_map(m: &serde_json::Map<String, Value>) -> bool {
    m.is_empty()
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn files_json(files: &[ChartFile]) -> Value {
    Value::Array(
        files
            .iter()
            .map(|f| json!({"name": f.name, "data": b64().encode(&f.data)}))
            .collect(),
    )
}

/// Helm's `chart.Chart` JSON: metadata, templates and files (data base64, as Go
/// marshals `[]byte`), the chart's own values and schema. Like Helm, subcharts are not
/// stored (rollback reuses the stored manifest, not the chart).
pub fn chart_json(chart: &Chart) -> Value {
    json!({
        "metadata": serde_json::to_value(&chart.metadata).unwrap_or(Value::Null),
        "lock": null,
        "templates": files_json(&chart.templates),
        "values": chart.values.to_json(),
        "schema": chart.schema.as_ref().map(|s| b64().encode(s.as_bytes())),
        "files": files_json(&chart.files),
    })
}

impl Record {
    fn chart_meta(&self, key: &str) -> &str {
        self.chart
            .pointer(&format!("/metadata/{key}"))
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// `NAME-VERSION` of the chart, as `helm list` prints it.
    pub fn chart_ref(&self) -> String {
        format!("{}-{}", self.chart_meta("name"), self.chart_meta("version"))
    }

    pub fn app_version(&self) -> &str {
        self.chart_meta("appVersion")
    }

    /// The chart's own values (for `get values --all`).
    pub fn chart_values(&self) -> Value {
        self.chart.get("values").cloned().unwrap_or(Value::Null)
    }

    /// The Secret's name: `sh.helm.release.v1.NAME.vN`.
    pub fn secret_name(&self) -> String {
        secret_name(&self.name, self.version)
    }

    /// Gzipped JSON, base64-encoded: the bytes of the Secret's `release` key.
    pub fn encode(&self) -> Result<String, Error> {
        let json = serde_json::to_vec(self).map_err(|e| Error::Release(e.to_string()))?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&json)
            .and_then(|()| gz.finish())
            .map(|bytes| b64().encode(bytes))
            .map_err(|e| Error::Release(format!("compressing release: {e}")))
    }

    /// Reads what [`Record::encode`] wrote (or Helm did; un-gzipped JSON is accepted too,
    /// as Helm does).
    pub fn decode(text: &str) -> Result<Record, Error> {
        let bad = |e: String| Error::Release(format!("cannot decode release: {e}"));
        let raw = b64().decode(text.trim()).map_err(|e| bad(e.to_string()))?;
        let json = if raw.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(raw.as_slice())
                .read_to_end(&mut out)
                .map_err(|e| bad(e.to_string()))?;
            out
        } else {
            raw
        };
        serde_json::from_slice(&json).map_err(|e| bad(e.to_string()))
    }

    /// The Secret holding this record, labelled as Helm labels it (`createdAt` or
    /// `modifiedAt` is added by the storage).
    pub fn to_secret(&self) -> Result<Value, Error> {
        let data = b64().encode(self.encode()?);
        Ok(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": self.secret_name(),
                "namespace": self.namespace,
                "labels": {
                    "name": self.name,
                    "owner": "helm",
                    "status": self.info.status.as_str(),
                    "version": self.version.to_string(),
                },
            },
            "type": SECRET_TYPE,
            "data": {"release": data},
        }))
    }

    /// The record in a Secret read from the API (its `data` is base64 on the wire).
    pub fn from_secret(secret: &Value) -> Result<Record, Error> {
        let name = secret
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let data = secret
            .pointer("/data/release")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Release(format!("Secret {name} has no data.release")))?;
        let inner = b64()
            .decode(data)
            .map_err(|e| Error::Release(format!("Secret {name}: data.release: {e}")))?;
        Record::decode(&String::from_utf8_lossy(&inner))
    }
}

/// `sh.helm.release.v1.NAME.vN`.
pub fn secret_name(release: &str, version: i64) -> String {
    format!("sh.helm.release.v1.{release}.v{version}")
}

/// Now, as Go's `time.Time` marshals to JSON (RFC 3339 with nanoseconds).
pub fn now() -> String {
    jiff::Timestamp::now().to_string()
}

/// A stored time as Helm prints it in tables (`2006-01-02 15:04:05.999999999 -0700 MST`).
pub fn table_time(stored: &str) -> String {
    match stored.parse::<jiff::Timestamp>() {
        Ok(t) => {
            let z = t.to_zoned(jiff::tz::TimeZone::system());
            z.strftime("%Y-%m-%d %H:%M:%S.%f %z %Z").to_string()
        }
        Err(_) => stored.to_string(),
    }
}

/// A stored time as `helm status` prints LAST DEPLOYED (`Mon Jan _2 15:04:05 2006`).
pub fn status_time(stored: &str) -> String {
    match stored.parse::<jiff::Timestamp>() {
        Ok(t) => {
            let z = t.to_zoned(jiff::tz::TimeZone::system());
            z.strftime("%a %b %e %H:%M:%S %Y").to_string()
        }
        Err(_) => stored.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            name: "web".into(),
            info: Info {
                first_deployed: now(),
                last_deployed: now(),
                deleted: String::new(),
                description: "Install complete".into(),
                status: Status::Deployed,
                notes: String::new(),
            },
            chart: json!({"metadata": {"name": "nginx", "version": "1.2.3", "appVersion": "1.25"}}),
            config: serde_json::Map::new(),
            manifest: "---\n# Source: nginx/templates/cm.yaml\nkind: ConfigMap\n".into(),
            hooks: vec![],
            version: 3,
            namespace: "default".into(),
        }
    }

    #[test]
    fn secret_round_trip_in_helm_layout() {
        let r = record();
        let s = r.to_secret().unwrap();
        assert_eq!(s["metadata"]["name"], "sh.helm.release.v1.web.v3");
        assert_eq!(s["type"], "helm.sh/release.v1");
        assert_eq!(s["metadata"]["labels"]["status"], "deployed");
        assert_eq!(s["metadata"]["labels"]["owner"], "helm");
        assert_eq!(s["metadata"]["labels"]["version"], "3");
        // Helm's bytes are base64(gzip(json)); the API carries them base64 again.
        let inner = b64()
            .decode(s["data"]["release"].as_str().unwrap())
            .unwrap();
        let gz = b64().decode(&inner).unwrap();
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        let mut json = String::new();
        flate2::read::GzDecoder::new(gz.as_slice())
            .read_to_string(&mut json)
            .unwrap();
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["info"]["status"], "deployed");
        assert_eq!(v["info"]["deleted"], "");
        assert_eq!(v["version"], 3);
        let back = Record::from_secret(&s).unwrap();
        assert_eq!(back.chart_ref(), "nginx-1.2.3");
        assert_eq!(back.app_version(), "1.25");
        assert_eq!(back.info.status, Status::Deployed);
    }

    #[test]
    fn reads_plain_json_and_rejects_garbage() {
        let plain = b64().encode(serde_json::to_vec(&record()).unwrap());
        assert_eq!(Record::decode(&plain).unwrap().version, 3);
        let err = Record::decode("%%%").unwrap_err().to_string();
        assert!(err.contains("cannot decode release"), "{err}");
    }
}
