//! `Chart.yaml` (and a v1 chart's `requirements.yaml`): the chart's metadata and
//! its dependencies, and the `.Chart` object templates see.

use serde::{Deserialize, Serialize};
use tug_gotemplate::{Map, Value};

use crate::Error;

/// A chart's metadata, as `Chart.yaml` holds it.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kube_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub chart_type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub home: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Dependency>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintainers: Vec<Maintainer>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub icon: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app_version: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deprecated: bool,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub condition: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tags: String,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Maintainer {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
}

/// A dependency declared in `Chart.yaml` (v2) or `requirements.yaml` (v1).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Dependency {
    pub name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub repository: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub condition: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub import_values: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub alias: String,
}

/// Numbers where Helm expects strings (`version: 1.0`, `appVersion: 2`) are read as text.
fn stringify_numbers(doc: &mut serde_json::Value, keys: &[&str]) {
    if let serde_json::Value::Object(m) = doc {
        for k in keys {
            if let Some(v @ serde_json::Value::Number(_)) = m.get_mut(*k) {
                *v = serde_json::Value::String(v.to_string());
            }
        }
    }
}

fn parse_yaml(file: &str, text: &str) -> Result<serde_json::Value, Error> {
    let v = tug_gotemplate::funcs::yaml::from_yaml(text).map_err(|msg| Error::Parse {
        file: file.into(),
        msg,
    })?;
    Ok(v.to_json())
}

impl Metadata {
    /// Parses `Chart.yaml` text.
    pub fn parse(text: &str) -> Result<Metadata, Error> {
        let mut doc = parse_yaml("Chart.yaml", text)?;
        stringify_numbers(
            &mut doc,
            &["version", "appVersion", "kubeVersion", "apiVersion"],
        );
        if let Some(serde_json::Value::Array(deps)) = doc.get_mut("dependencies") {
            deps.iter_mut()
                .for_each(|d| stringify_numbers(d, &["version"]));
        }
        if doc.is_null() {
            doc = serde_json::json!({});
        }
        serde_json::from_value(doc).map_err(|e| Error::Parse {
            file: "Chart.yaml".into(),
            msg: e.to_string(),
        })
    }

    /// The checks Helm makes on metadata before using a chart.
    pub fn validate(&self) -> Result<(), Error> {
        let fail = |m: &str| Err(Error::Validation(m.to_string()));
        if self.api_version.is_empty() {
            return fail("chart.metadata.apiVersion is required");
        }
        if self.name.is_empty() {
            return fail("chart.metadata.name is required");
        }
        if self.name.contains('/')
            || self.name.contains('\\')
            || self.name == "."
            || self.name == ".."
        {
            return Err(Error::Validation(format!(
                "chart.metadata.name {:?} is invalid",
                self.name
            )));
        }
        if self.version.is_empty() {
            return fail("chart.metadata.version is required");
        }
        if tug_gotemplate::funcs::semver::Version::parse(&self.version).is_err() {
            return Err(Error::Validation(format!(
                "chart.metadata.version {:?} is invalid",
                self.version
            )));
        }
        if !matches!(self.chart_type.as_str(), "" | "application" | "library") {
            return fail("chart.metadata.type must be application or library");
        }
        for d in &self.dependencies {
            if d.name.is_empty() {
                return fail("dependencies must have a name");
            }
        }
        Ok(())
    }

    pub fn is_library(&self) -> bool {
        self.chart_type == "library"
    }

    /// The `.Chart` object: metadata fields capitalised as Helm's Go struct names them.
    pub fn to_template_value(&self, is_root: bool) -> Value {
        let m = Map::new();
        let strs = |l: &[String]| Value::list(l.iter().map(Value::str).collect());
        m.insert("Name", Value::str(&self.name));
        m.insert("Home", Value::str(&self.home));
        m.insert("Sources", strs(&self.sources));
        m.insert("Version", Value::str(&self.version));
        m.insert("Description", Value::str(&self.description));
        m.insert("Keywords", strs(&self.keywords));
        let maintainers = self
            .maintainers
            .iter()
            .map(|x| {
                let mm = Map::new();
                mm.insert("Name", Value::str(&x.name));
                mm.insert("Email", Value::str(&x.email));
                mm.insert("URL", Value::str(&x.url));
                Value::Map(mm)
            })
            .collect();
        m.insert("Maintainers", Value::list(maintainers));
        m.insert("Icon", Value::str(&self.icon));
        m.insert("APIVersion", Value::str(&self.api_version));
        m.insert("Condition", Value::str(&self.condition));
        m.insert("Tags", Value::str(&self.tags));
        m.insert("AppVersion", Value::str(&self.app_version));
        m.insert("Deprecated", Value::Bool(self.deprecated));
        let ann = Map::new();
        for (k, v) in &self.annotations {
            ann.insert(k.clone(), Value::str(v));
        }
        m.insert("Annotations", Value::Map(ann));
        m.insert("KubeVersion", Value::str(&self.kube_version));
        let deps = self
            .dependencies
            .iter()
            .map(|d| {
                let dm = Map::new();
                dm.insert("Name", Value::str(&d.name));
                dm.insert("Version", Value::str(&d.version));
                dm.insert("Repository", Value::str(&d.repository));
                dm.insert("Condition", Value::str(&d.condition));
                dm.insert("Tags", strs(&d.tags));
                dm.insert("Alias", Value::str(&d.alias));
                Value::Map(dm)
            })
            .collect();
        m.insert("Dependencies", Value::list(deps));
        m.insert("Type", Value::str(&self.chart_type));
        m.insert("IsRoot", Value::Bool(is_root));
        Value::Map(m)
    }
}

/// Parses a v1 chart's `requirements.yaml` (`dependencies:` only).
pub fn parse_requirements(text: &str) -> Result<Vec<Dependency>, Error> {
    #[derive(Deserialize)]
    struct Requirements {
        #[serde(default)]
        dependencies: Vec<Dependency>,
    }
    let mut doc = parse_yaml("requirements.yaml", text)?;
    if let Some(serde_json::Value::Array(deps)) = doc.get_mut("dependencies") {
        deps.iter_mut()
            .for_each(|d| stringify_numbers(d, &["version"]));
    }
    if doc.is_null() {
        return Ok(Vec::new());
    }
    let r: Requirements = serde_json::from_value(doc).map_err(|e| Error::Parse {
        file: "requirements.yaml".into(),
        msg: e.to_string(),
    })?;
    Ok(r.dependencies)
}
