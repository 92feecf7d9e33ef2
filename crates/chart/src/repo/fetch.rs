//! Fetching over HTTP(S): repository indexes and chart archives, and finding a chart
//! named `REPO/NAME` (or by URL) with a version constraint.

use std::sync::Once;
use std::time::Duration;

use super::config::{cached_index, Entry, RepoFile};
use super::index::{sha256_hex, IndexFile};
use super::Settings;
use crate::Error;

fn client() -> Result<reqwest::blocking::Client, Error> {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Fails only if another provider was installed first, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .user_agent(concat!("tug/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Repo(format!("cannot build an HTTP client: {e}")))
}

/// GETs `url` (with the repository's credentials, if any).
pub fn get(url: &str, auth: Option<&Entry>) -> Result<Vec<u8>, Error> {
    let mut req = client()?.get(url);
    if let Some(e) = auth.filter(|e| !e.username.is_empty()) {
        req = req.basic_auth(&e.username, Some(&e.password));
    }
    let resp = req
        .send()
        .map_err(|e| Error::Repo(format!("failed to fetch {url}: {e}")))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(Error::Repo(format!("failed to fetch {url} : {status}")));
    }
    resp.bytes()
        .map(|b| b.to_vec())
        .map_err(|e| Error::Repo(format!("failed to read {url}: {e}")))
}

/// `URL/index.yaml` of a repository, parsed.
pub fn index(entry: &Entry) -> Result<(IndexFile, Vec<u8>), Error> {
    let url = format!("{}/index.yaml", entry.url.trim_end_matches('/'));
    let bytes = get(&url, Some(entry))?;
    let idx = IndexFile::parse(&String::from_utf8_lossy(&bytes), &url).map_err(|e| {
        Error::Repo(format!(
            "looks like \"{}\" is not a valid chart repository or cannot be reached: {e}",
            entry.url
        ))
    })?;
    Ok((idx, bytes))
}

/// Downloads a repository's index into the cache.
pub fn update(settings: &Settings, entry: &Entry) -> Result<(), Error> {
    let (_, bytes) = index(entry)?;
    std::fs::create_dir_all(&settings.cache).map_err(|e| Error::Io {
        path: settings.cache.display().to_string(),
        source: e,
    })?;
    let path = settings.index_path(&entry.name);
    std::fs::write(&path, bytes).map_err(|e| Error::Io {
        path: path.display().to_string(),
        source: e,
    })
}

/// `repo add`: checks the repository answers with an index, caches it, records it.
pub fn add(settings: &Settings, entry: Entry, force_update: bool) -> Result<(), Error> {
    let mut file = RepoFile::load(settings)?;
    if let Some(existing) = file.get(&entry.name) {
        if *existing == entry && !force_update {
            return Err(Error::Repo(format!(
                "repository name ({}) already exists with the same configuration, skipping",
                entry.name
            )));
        }
        if !force_update {
            return Err(Error::Repo(format!(
                "repository name ({}) already exists, please specify a different name",
                entry.name
            )));
        }
    }
    update(settings, &entry)?;
    file.repositories.retain(|r| r.name != entry.name);
    file.repositories.push(entry);
    file.save(settings)
}

/// `repo remove`.
pub fn remove(settings: &Settings, name: &str) -> Result<(), Error> {
    let mut file = RepoFile::load(settings)?;
    if file.get(name).is_none() {
        return Err(Error::Repo(format!("no repo named \"{name}\" found")));
    }
    file.repositories.retain(|r| r.name != name);
    file.save(settings)?;
    let _ = std::fs::remove_file(settings.index_path(name));
    Ok(())
}

/// A chart archive found in a repository.
pub struct Found {
    pub file_name: String,
    /// Where it was downloaded from (its `.prov`, if any, is beside it).
    pub url: Option<String>,
    pub bytes: Vec<u8>,
    pub version: String,
}

/// Resolves a chart's URL in an index against the repository's URL.
fn absolute(repo_url: &str, url: &str) -> String {
    if url.contains("://") {
        url.to_string()
    } else {
        format!(
            "{}/{}",
            repo_url.trim_end_matches('/'),
            url.trim_start_matches('/')
        )
    }
}

/// Downloads `name` at the newest version matching `version` from a repository, given its
/// index, and checks its digest.
pub fn download(entry: &Entry, idx: &IndexFile, name: &str, version: &str) -> Result<Found, Error> {
    let cv = idx.find(name, version)?;
    let url = cv
        .urls
        .first()
        .ok_or_else(|| Error::Repo(format!("chart \"{name}\" has no downloadable URLs")))?;
    let url = absolute(&entry.url, url);
    let bytes = get(&url, Some(entry))?;
    if !cv.digest.is_empty() && sha256_hex(&bytes) != cv.digest {
        return Err(Error::Repo(format!(
            "{url}: digest mismatch: the index says sha256:{}, the archive is sha256:{}",
            cv.digest,
            sha256_hex(&bytes)
        )));
    }
    let file_name = url.rsplit('/').next().unwrap_or(name).to_string();
    Ok(Found {
        file_name,
        url: Some(url),
        bytes,
        version: cv.metadata.version.clone(),
    })
}

/// Finds `REPO/NAME` in the added repositories' cached indexes, or fetches an
/// `http(s)://…tgz` URL, and downloads the archive.
pub fn locate(settings: &Settings, reference: &str, version: &str) -> Result<Found, Error> {
    if reference.starts_with("http://") || reference.starts_with("https://") {
        let bytes = get(reference, None)?;
        let file_name = reference
            .rsplit('/')
            .next()
            .unwrap_or("chart.tgz")
            .to_string();
        return Ok(Found {
            file_name,
            url: Some(reference.to_string()),
            bytes,
            version: version.to_string(),
        });
    }
    let Some((repo, name)) = reference.split_once('/') else {
        return Err(Error::Repo(format!(
            "non-absolute URLs should be in form of repo_name/path_to_chart, got: {reference}"
        )));
    };
    let file = RepoFile::load(settings)?;
    let entry = file
        .get(repo)
        .ok_or_else(|| Error::Repo(format!("repo {repo} not found")))?;
    let idx = cached_index(settings, repo)?;
    download(entry, &idx, name, version)
}

/// A chart by what the user typed: a directory or archive on disk, else `REPO/NAME` or a
/// URL (newest version matching `version`).
pub fn load_chart(
    settings: &Settings,
    reference: &str,
    version: &str,
) -> Result<crate::Chart, Error> {
    let path = std::path::Path::new(reference);
    if path.exists() {
        return crate::loader::load(path);
    }
    if !reference.contains('/') {
        return Err(Error::Repo(format!(
            "chart {reference:?} is neither a directory or archive here nor REPO/NAME of an added repository"
        )));
    }
    let found = locate(settings, reference, version)?;
    crate::loader::load_archive(&found.file_name, &found.bytes)
}
