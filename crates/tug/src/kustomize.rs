//! `tug kustomize`: the CLI over the `tug-kustomize` build engine.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value;
use tug_kustomize::{build, to_yaml, BuildOptions};

#[derive(clap::Subcommand, Debug)]
pub enum KustomizeCommand {
    /// Build a kustomization directory and print the resulting resources as YAML
    Build {
        /// Directory holding a kustomization.yaml
        dir: PathBuf,
        /// Write the output to this file, or one file per resource if it is an existing directory
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
    },
}

pub fn run(cmd: KustomizeCommand) -> anyhow::Result<()> {
    match cmd {
        KustomizeCommand::Build { dir, output } => {
            let resources = build(&dir, &BuildOptions::default())
                .with_context(|| format!("kustomize build {}", dir.display()))?;
            match output {
                None => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(to_yaml(&resources).as_bytes())?;
                    out.flush()?;
                }
                Some(path) if path.is_dir() => write_per_resource(&path, &resources)?,
                Some(path) => std::fs::write(&path, to_yaml(&resources))
                    .with_context(|| format!("failed to write {}", path.display()))?,
            }
            Ok(())
        }
    }
}

/// One file per resource, named as kustomize names them:
/// `<group>_<version>_<kind>_<name>.yaml`, empty parts left out, lowercase.
fn write_per_resource(dir: &Path, resources: &[Value]) -> anyhow::Result<()> {
    for r in resources {
        let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
        let api_version = s(r.get("apiVersion"));
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version.as_str()));
        let kind = s(r.get("kind"));
        let name = s(r.get("metadata").and_then(|m| m.get("name")));
        let stem: Vec<&str> = [group, version, kind.as_str(), name.as_str()]
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect();
        let file = dir.join(format!("{}.yaml", stem.join("_").to_lowercase()));
        std::fs::write(&file, to_yaml(std::slice::from_ref(r)))
            .with_context(|| format!("failed to write {}", file.display()))?;
    }
    Ok(())
}
