//! The user's repositories (`repositories.yaml`, Helm's layout) and their cached indexes.

use serde::{Deserialize, Serialize};

use super::index::IndexFile;
use super::Settings;
use crate::Error;

/// One added repository.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub name: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
}

/// `repositories.yaml`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RepoFile {
    #[serde(rename = "apiVersion", default)]
    pub api_version: String,
    #[serde(default)]
    pub generated: String,
    #[serde(default)]
    pub repositories: Vec<Entry>,
}

fn io(path: &std::path::Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Io {
        path: path.display().to_string(),
        source: e,
    }
}

impl RepoFile {
    /// Reads the list (empty when the file does not exist yet).
    pub fn load(settings: &Settings) -> Result<RepoFile, Error> {
        let path = &settings.config;
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RepoFile::default()),
            Err(e) => return Err(io(path)(e)),
        };
        let v = tug_gotemplate::funcs::yaml::from_yaml(&text).map_err(|msg| Error::Parse {
            file: path.display().to_string(),
            msg,
        })?;
        serde_json::from_value(v.to_json()).map_err(|e| Error::Parse {
            file: path.display().to_string(),
            msg: e.to_string(),
        })
    }

    pub fn save(&mut self, settings: &Settings) -> Result<(), Error> {
        let path = &settings.config;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        self.generated = jiff::Timestamp::now().to_string();
        let json = serde_json::to_value(&*self).unwrap_or_default();
        let text = tug_gotemplate::funcs::yaml::to_yaml(&tug_gotemplate::Value::from(&json));
        let tmp = path.with_extension("yaml.tmp");
        std::fs::write(&tmp, text).map_err(io(&tmp))?;
        std::fs::rename(&tmp, path).map_err(io(path))
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.repositories.iter().find(|r| r.name == name)
    }

    /// The repository whose URL is `url` (dependencies may name one by URL).
    pub fn by_url(&self, url: &str) -> Option<&Entry> {
        let u = url.trim_end_matches('/');
        self.repositories
            .iter()
            .find(|r| r.url.trim_end_matches('/') == u)
    }
}

/// The cached index of an added repository.
pub fn cached_index(settings: &Settings, name: &str) -> Result<IndexFile, Error> {
    let path = settings.index_path(name);
    let text = std::fs::read_to_string(&path).map_err(|_| {
        Error::Repo(format!(
            "no cached repository for \"{name}\" found (run `tug chart repo update`)"
        ))
    })?;
    IndexFile::parse(&text, &path.display().to_string())
}
