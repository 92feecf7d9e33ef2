//! Chart repositories, as Helm's: an HTTP directory of chart archives with an
//! `index.yaml` ([`index`]), the user's list of repositories and their cached indexes
//! ([`config`]), fetching indexes and charts over HTTP ([`fetch`]), serving a directory
//! as a repository ([`serve`]), and resolving a chart's dependencies into `charts/` with
//! a `Chart.lock` ([`deps`]).
//!
//! This module does network I/O (HTTP to the repositories the user names) and file I/O
//! under the repository config and cache paths of [`Settings`].

pub mod config;
pub mod deps;
pub mod fetch;
pub mod index;
pub mod serve;

use std::path::PathBuf;

/// Where the repository list and the cache live: Helm's variables
/// `HELM_REPOSITORY_CONFIG` and `HELM_REPOSITORY_CACHE` when set, else
/// `~/.config/tug/charts/repositories.yaml` and `~/.cache/tug/charts/repository`.
#[derive(Clone, Debug)]
pub struct Settings {
    pub config: PathBuf,
    pub cache: PathBuf,
}

impl Settings {
    pub fn from_env() -> Settings {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/root"));
        let config = std::env::var_os("HELM_REPOSITORY_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".config/tug/charts/repositories.yaml"));
        let cache = std::env::var_os("HELM_REPOSITORY_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".cache/tug/charts/repository"));
        Settings { config, cache }
    }

    /// The cached index of repository `name`.
    pub fn index_path(&self, name: &str) -> PathBuf {
        self.cache.join(format!("{name}-index.yaml"))
    }
}
