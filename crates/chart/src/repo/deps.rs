//! `dependency update|build`: the dependencies a chart declares (Chart.yaml, or a v1
//! chart's requirements.yaml) fetched into `charts/` as archives, with the versions chosen
//! recorded in `Chart.lock` (`requirements.lock` for v1) so `build` repeats them.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::config::{cached_index, Entry, RepoFile};
use super::fetch;
use super::index::sha256_hex;
use super::Settings;
use crate::chartfile::{parse_requirements, Dependency, Metadata};
use crate::Error;

/// A resolved dependency in the lock file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Locked {
    pub name: String,
    pub repository: String,
    pub version: String,
}

/// `Chart.lock`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Lock {
    pub generated: String,
    pub digest: String,
    pub dependencies: Vec<Locked>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Io {
        path: path.display().to_string(),
        source: e,
    }
}

fn declared(dir: &Path) -> Result<(Metadata, Vec<Dependency>, &'static str), Error> {
    let chart_yaml = dir.join("Chart.yaml");
    let text = std::fs::read_to_string(&chart_yaml).map_err(|_| Error::MissingChartYaml)?;
    let meta = Metadata::parse(&text)?;
    if meta.api_version == "v1" {
        let deps = match std::fs::read_to_string(dir.join("requirements.yaml")) {
            Ok(t) => parse_requirements(&t)?,
            Err(_) => Vec::new(),
        };
        return Ok((meta, deps, "requirements.lock"));
    }
    let deps = meta.dependencies.clone();
    Ok((meta, deps, "Chart.lock"))
}

/// The digest Helm keeps in the lock: sha256 over the requested and the locked lists.
fn digest(requested: &[Dependency], locked: &[Locked]) -> String {
    let data = serde_json::to_vec(&(requested, locked)).unwrap_or_default();
    format!("sha256:{}", sha256_hex(&data))
}

/// The repository a dependency names: `@name` / `alias:name` (added repositories) or a
/// URL (an added one with that URL, else the URL itself).
fn repository(repos: &RepoFile, d: &Dependency) -> Result<Entry, Error> {
    let r = d.repository.as_str();
    if let Some(name) = r.strip_prefix('@').or_else(|| r.strip_prefix("alias:")) {
        return repos.get(name).cloned().ok_or_else(|| {
            Error::Repo(format!(
                "dependency \"{}\": no repository named \"{name}\" (add it with `tug chart repo add {name} URL`)",
                d.name
            ))
        });
    }
    if r.starts_with("oci://") {
        return Err(Error::Repo(format!(
            "dependency \"{}\": OCI repositories ({r}) are not supported for dependencies yet",
            d.name
        )));
    }
    if !(r.starts_with("http://") || r.starts_with("https://")) {
        return Err(Error::Repo(format!(
            "dependency \"{}\": repository {r:?} is neither a URL, file://, @name nor alias:name",
            d.name
        )));
    }
    Ok(repos.by_url(r).cloned().unwrap_or(Entry {
        name: String::new(),
        url: r.to_string(),
        username: String::new(),
        password: String::new(),
    }))
}

/// Fetches one dependency at `version` (a constraint, or the exact locked version) into
/// `charts/`; returns the version fetched.
fn fetch_one(
    settings: &Settings,
    repos: &RepoFile,
    charts: &Path,
    d: &Dependency,
    version: &str,
) -> Result<String, Error> {
    if let Some(rel) = d.repository.strip_prefix("file://") {
        let src = charts.parent().unwrap_or(charts).join(rel);
        let chart = crate::loader::load(&src)?;
        crate::package::package(&src, charts)?;
        return Ok(chart.metadata.version);
    }
    let entry = repository(repos, d)?;
    let idx = if entry.name.is_empty() {
        fetch::index(&entry)?.0
    } else {
        cached_index(settings, &entry.name)?
    };
    let found = fetch::download(&entry, &idx, &d.name, version).map_err(|e| {
        Error::Repo(format!(
            "dependency \"{}\" {:?} from {}: {e}",
            d.name, version, entry.url
        ))
    })?;
    let path = charts.join(&found.file_name);
    std::fs::write(&path, &found.bytes).map_err(io(&path))?;
    Ok(found.version)
}

/// Removes archives of `name` from `charts/` (other versions of a dependency).
fn clear_old(charts: &Path, name: &str) -> Result<(), Error> {
    for e in std::fs::read_dir(charts).map_err(io(charts))?.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(stem) = file.strip_suffix(".tgz") else {
            continue;
        };
        let is_version = |rest: &str| rest.starts_with(|c: char| c.is_ascii_digit());
        if stem
            .strip_prefix(name)
            .and_then(|r| r.strip_prefix('-'))
            .is_some_and(is_version)
        {
            std::fs::remove_file(e.path()).map_err(io(&e.path()))?;
        }
    }
    Ok(())
}

/// `dependency update`: the newest versions that satisfy the constraints; writes the lock.
/// Returns the dependencies fetched.
pub fn update(settings: &Settings, dir: &Path) -> Result<Vec<Locked>, Error> {
    let (_, deps, lock_name) = declared(dir)?;
    let repos = RepoFile::load(settings)?;
    let charts = dir.join("charts");
    std::fs::create_dir_all(&charts).map_err(io(&charts))?;
    let mut locked = Vec::new();
    for d in deps.iter().filter(|d| !d.repository.is_empty()) {
        clear_old(&charts, &d.name)?;
        let version = fetch_one(settings, &repos, &charts, d, &d.version)?;
        locked.push(Locked {
            name: d.name.clone(),
            repository: d.repository.clone(),
            version,
        });
    }
    let lock = Lock {
        generated: jiff::Timestamp::now().to_string(),
        digest: digest(&deps, &locked),
        dependencies: locked.clone(),
    };
    let json = serde_json::to_value(&lock).unwrap_or_default();
    let text = tug_gotemplate::funcs::yaml::to_yaml(&tug_gotemplate::Value::from(&json));
    let path = dir.join(lock_name);
    std::fs::write(&path, text).map_err(io(&path))?;
    Ok(locked)
}

/// `dependency build`: the versions in the lock file (as `update` when there is none).
pub fn build(settings: &Settings, dir: &Path) -> Result<Vec<Locked>, Error> {
    let (_, deps, lock_name) = declared(dir)?;
    let path = dir.join(lock_name);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return update(settings, dir);
    };
    let v = tug_gotemplate::funcs::yaml::from_yaml(&text).map_err(|msg| Error::Parse {
        file: lock_name.into(),
        msg,
    })?;
    let lock: Lock = serde_json::from_value(v.to_json()).map_err(|e| Error::Parse {
        file: lock_name.into(),
        msg: e.to_string(),
    })?;
    if digest(&deps, &lock.dependencies) != lock.digest {
        return Err(Error::Repo(format!(
            "the lock file ({lock_name}) is out of sync with the dependencies file. Please update the dependencies (`tug chart dependency update`)"
        )));
    }
    let repos = RepoFile::load(settings)?;
    let charts = dir.join("charts");
    std::fs::create_dir_all(&charts).map_err(io(&charts))?;
    for l in &lock.dependencies {
        let d = deps.iter().find(|d| d.name == l.name).ok_or_else(|| {
            Error::Repo(format!(
                "{lock_name} names {} which the chart does not declare",
                l.name
            ))
        })?;
        clear_old(&charts, &d.name)?;
        fetch_one(settings, &repos, &charts, d, &l.version)?;
    }
    Ok(lock.dependencies)
}
