//! Finding and loading the kubeconfig: `--kubeconfig`, else `$KUBECONFIG` (a
//! `:`-separated list, merged), else `/var/lib/tug/kubeconfig.yaml` (what `tug server`
//! writes), else `~/.kube/config`.

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::error::{Error, Result};

/// Where `tug server` writes its admin kubeconfig by default.
pub const TUG_KUBECONFIG: &str = "/var/lib/tug/kubeconfig.yaml";

/// Connection options shared by every command.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

/// The kubeconfig files to read, in order of precedence.
pub fn kubeconfig_paths(explicit: Option<&Path>) -> Vec<PathBuf> {
    if let Some(p) = explicit {
        return vec![p.to_path_buf()];
    }
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let paths: Vec<PathBuf> = std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if !paths.is_empty() {
            return paths;
        }
    }
    if Path::new(TUG_KUBECONFIG).exists() {
        return vec![PathBuf::from(TUG_KUBECONFIG)];
    }
    match std::env::var_os("HOME") {
        Some(home) => vec![PathBuf::from(home).join(".kube/config")],
        None => vec![],
    }
}

/// Loads the kubeconfig and returns a client configuration.
pub async fn load(opts: &ConnectOptions) -> Result<kube::Config> {
    let paths = kubeconfig_paths(opts.kubeconfig.as_deref());
    let mut merged: Option<Kubeconfig> = None;
    for path in &paths {
        // A missing file in $KUBECONFIG is skipped, as kubectl does; an explicit one is an error.
        if !path.exists() && opts.kubeconfig.is_none() && paths.len() > 1 {
            continue;
        }
        let kc = Kubeconfig::read_from(path).map_err(|e| {
            Error::client(format!("failed to load kubeconfig {}: {e}", path.display()))
        })?;
        merged = Some(match merged {
            None => kc,
            Some(m) => m.merge(kc).map_err(|e| Error::client(e.to_string()))?,
        });
    }
    let Some(kc) = merged else {
        return Err(Error::client(
            "no kubeconfig found: pass --kubeconfig, set KUBECONFIG, or start `tug server` (which writes /var/lib/tug/kubeconfig.yaml)",
        ));
    };
    let options = KubeConfigOptions {
        context: opts.context.clone(),
        ..Default::default()
    };
    kube::Config::from_custom_kubeconfig(kc, &options)
        .await
        .map_err(|e| Error::client(format!("invalid kubeconfig: {e}")))
}
