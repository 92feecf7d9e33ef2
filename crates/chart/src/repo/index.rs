//! A repository's `index.yaml`: every version of every chart with its metadata, URLs and
//! digest; built from a directory of `.tgz` files (`repo index`), read from a repository,
//! and searched.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::Digest;
use tug_gotemplate::funcs::semver::{Constraints, Version};

use crate::chartfile::Metadata;
use crate::Error;

/// One chart version of an index (Helm's `repo.ChartVersion`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChartVersion {
    #[serde(flatten)]
    pub metadata: Metadata,
    #[serde(default)]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub digest: String,
}

/// `index.yaml`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IndexFile {
    #[serde(rename = "apiVersion", default)]
    pub api_version: String,
    #[serde(default)]
    pub entries: BTreeMap<String, Vec<ChartVersion>>,
    #[serde(default)]
    pub generated: String,
}

fn version_of(v: &ChartVersion) -> Option<Version> {
    Version::parse(&v.metadata.version).ok()
}

/// sha256 of bytes, hex.
pub fn sha256_hex(data: &[u8]) -> String {
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl IndexFile {
    pub fn new() -> IndexFile {
        IndexFile {
            api_version: "v1".into(),
            entries: BTreeMap::new(),
            generated: jiff::Timestamp::now().to_string(),
        }
    }

    /// Reads `index.yaml` text; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<IndexFile, Error> {
        let bad = |msg: String| Error::Parse {
            file: source.into(),
            msg,
        };
        let v = tug_gotemplate::funcs::yaml::from_yaml(text).map_err(bad)?;
        let mut idx: IndexFile =
            serde_json::from_value(v.to_json()).map_err(|e| bad(e.to_string()))?;
        if idx.api_version.is_empty() {
            return Err(bad("no API version specified".into()));
        }
        idx.sort();
        Ok(idx)
    }

    pub fn to_yaml(&self) -> String {
        let json = serde_json::to_value(self).unwrap_or_default();
        tug_gotemplate::funcs::yaml::to_yaml(&tug_gotemplate::Value::from(&json))
    }

    /// Newest version first in every entry, as Helm keeps them.
    pub fn sort(&mut self) {
        for versions in self.entries.values_mut() {
            versions.sort_by(|a, b| match (version_of(a), version_of(b)) {
                (Some(x), Some(y)) => y.compare(&x),
                _ => b.metadata.version.cmp(&a.metadata.version),
            });
        }
    }

    /// Adds a chart archive's metadata under `url`.
    pub fn add(&mut self, metadata: Metadata, url: String, digest: String) {
        let entry = self.entries.entry(metadata.name.clone()).or_default();
        entry.retain(|v| v.metadata.version != metadata.version);
        entry.push(ChartVersion {
            metadata,
            urls: vec![url],
            created: jiff::Timestamp::now().to_string(),
            digest,
        });
    }

    /// Indexes every `.tgz` chart in `dir`, URLs under `base_url` (relative when empty).
    pub fn from_dir(dir: &Path, base_url: &str) -> Result<IndexFile, Error> {
        let io = |e: std::io::Error| Error::Io {
            path: dir.display().to_string(),
            source: e,
        };
        let mut idx = IndexFile::new();
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "tgz"))
            .collect();
        names.sort();
        for path in names {
            let bytes = std::fs::read(&path).map_err(io)?;
            let file = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let chart = crate::loader::load_archive(&file, &bytes)?;
            let url = if base_url.is_empty() {
                file
            } else {
                format!("{}/{file}", base_url.trim_end_matches('/'))
            };
            idx.add(chart.metadata, url, sha256_hex(&bytes));
        }
        idx.sort();
        Ok(idx)
    }

    /// Adds the entries of `other` this index lacks (`repo index --merge`).
    pub fn merge(&mut self, other: IndexFile) {
        for (name, versions) in other.entries {
            let mine = self.entries.entry(name).or_default();
            for v in versions {
                if !mine
                    .iter()
                    .any(|m| m.metadata.version == v.metadata.version)
                {
                    mine.push(v);
                }
            }
        }
        self.sort();
    }

    /// The newest version of `name` that satisfies `constraint` (any stable version when
    /// empty, as Helm picks).
    pub fn find(&self, name: &str, constraint: &str) -> Result<&ChartVersion, Error> {
        let versions = self
            .entries
            .get(name)
            .ok_or_else(|| Error::Repo(format!("chart \"{name}\" not found in repository")))?;
        let c = if constraint.is_empty() {
            None
        } else {
            Some(Constraints::parse(constraint).map_err(|e| {
                Error::Repo(format!(
                    "invalid chart version constraint {constraint:?}: {e}"
                ))
            })?)
        };
        versions
            .iter()
            .find(|v| match (&c, version_of(v)) {
                (Some(c), Some(ver)) => c.check(&ver),
                (None, Some(ver)) => ver.pre.is_empty(),
                (None, None) => true,
                (Some(_), None) => v.metadata.version == constraint,
            })
            .ok_or_else(|| {
                Error::Repo(format!(
                    "chart \"{name}\" version \"{constraint}\" not found in repository"
                ))
            })
    }
}

impl Default for IndexFile {
    fn default() -> Self {
        IndexFile::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, version: &str) -> Metadata {
        Metadata {
            api_version: "v2".into(),
            name: name.into(),
            version: version.into(),
            ..Metadata::default()
        }
    }

    #[test]
    fn finds_newest_matching_version_and_round_trips() {
        let mut idx = IndexFile::new();
        for v in ["1.0.0", "1.2.0", "2.0.0-rc.1", "1.10.1"] {
            idx.add(meta("app", v), format!("app-{v}.tgz"), "d".into());
        }
        idx.sort();
        assert_eq!(idx.find("app", "").unwrap().metadata.version, "1.10.1");
        assert_eq!(idx.find("app", "~1.2").unwrap().metadata.version, "1.2.0");
        assert_eq!(
            idx.find("app", ">=2.0.0-0").unwrap().metadata.version,
            "2.0.0-rc.1"
        );
        let e = idx.find("app", "^3").unwrap_err().to_string();
        assert!(e.contains("version \"^3\" not found"), "{e}");
        assert!(idx.find("nope", "").is_err());
        let back = IndexFile::parse(&idx.to_yaml(), "index.yaml").unwrap();
        assert_eq!(back.entries["app"].len(), 4);
        assert_eq!(back.entries["app"][0].urls, vec!["app-2.0.0-rc.1.tgz"]);
        assert!(IndexFile::parse("entries: {}\n", "x").is_err());
    }
}

/// One search result: `REPO/NAME` and the version found.
#[derive(Clone, Debug)]
pub struct Hit {
    pub name: String,
    pub chart: ChartVersion,
}

/// `search repo`: the charts of `repo`'s index whose `REPO/NAME`, description or keywords
/// contain `keyword` (case-insensitive; all when empty), the newest matching `version`
/// (any stable one when empty) or every version.
pub fn search(
    repo: &str,
    idx: &IndexFile,
    keyword: &str,
    version: &str,
    all_versions: bool,
) -> Result<Vec<Hit>, Error> {
    let kw = keyword.to_lowercase();
    let constraint = if version.is_empty() {
        None
    } else {
        Some(
            Constraints::parse(version)
                .map_err(|e| Error::Repo(format!("invalid version constraint {version:?}: {e}")))?,
        )
    };
    let mut out = Vec::new();
    for (name, versions) in &idx.entries {
        let full = format!("{repo}/{name}");
        for v in versions {
            let text = format!(
                "{full} {} {}",
                v.metadata.description,
                v.metadata.keywords.join(" ")
            )
            .to_lowercase();
            if !text.contains(&kw) {
                continue;
            }
            let ok = match (&constraint, version_of(v)) {
                (Some(c), Some(ver)) => c.check(&ver),
                (Some(_), None) => false,
                (None, Some(ver)) => all_versions || ver.pre.is_empty(),
                (None, None) => true,
            };
            if !ok {
                continue;
            }
            out.push(Hit {
                name: full.clone(),
                chart: v.clone(),
            });
            if !all_versions {
                break;
            }
        }
    }
    Ok(out)
}
