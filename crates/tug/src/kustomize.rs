//! `tug kustomize`: the CLI over the `tug-kustomize` build engine and its
//! kustomization editor (`create`, `edit add|set|remove`), working in the
//! current directory as kustomize does.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value;
use tug_kustomize::edit::{self, CreateOptions, GeneratorSources, KustomizationFile, PatchTarget};
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
    /// Create a kustomization.yaml in the current directory
    Create {
        /// Resource files or directories to list (comma-separated, globs allowed)
        #[arg(long, value_delimiter = ',')]
        resources: Vec<String>,
        /// Namespace to set on every resource
        #[arg(long)]
        namespace: Option<String>,
        /// Prefix for every resource name
        #[arg(long)]
        nameprefix: Option<String>,
        /// Suffix for every resource name
        #[arg(long, allow_hyphen_values = true)]
        namesuffix: Option<String>,
        /// Common labels, key:value[,key:value]
        #[arg(long)]
        labels: Vec<String>,
        /// Common annotations, key:value[,key:value]
        #[arg(long)]
        annotations: Vec<String>,
        /// List the Kubernetes resource files found in the directory
        #[arg(long)]
        autodetect: bool,
        /// With --autodetect, search subdirectories too (a directory holding a kustomization is listed as one resource)
        #[arg(long, requires = "autodetect")]
        recursive: bool,
    },
    /// Edit the kustomization.yaml in the current directory
    Edit {
        #[command(subcommand)]
        cmd: EditCommand,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum EditCommand {
    /// Add an item to the kustomization
    Add {
        #[command(subcommand)]
        what: AddCommand,
    },
    /// Set a value in the kustomization
    Set {
        #[command(subcommand)]
        what: SetCommand,
    },
    /// Remove an item from the kustomization
    Remove {
        #[command(subcommand)]
        what: RemoveCommand,
    },
}

#[derive(clap::Args, Debug)]
pub struct GeneratorArgs {
    /// Name of the generated object
    name: String,
    /// A key=value pair (repeatable)
    #[arg(long = "from-literal")]
    from_literal: Vec<String>,
    /// A file, as path or key=path (repeatable)
    #[arg(long = "from-file")]
    from_file: Vec<String>,
    /// A file of key=value lines (repeatable)
    #[arg(long = "from-env-file")]
    from_env_file: Vec<String>,
    /// How to combine with a generator of the same name in a base: create, merge or replace
    #[arg(long)]
    behavior: Option<String>,
    /// Do not append the content hash to the name
    #[arg(long = "disableNameSuffixHash")]
    disable_name_suffix_hash: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum AddCommand {
    /// Add resource files or directories (globs allowed)
    #[command(alias = "resources")]
    Resource {
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// Add a configMapGenerator entry
    Configmap(GeneratorArgs),
    /// Add a secretGenerator entry
    Secret {
        #[command(flatten)]
        args: GeneratorArgs,
        /// The secret's type
        #[arg(long = "type", default_value = "Opaque")]
        secret_type: String,
    },
    /// Add a patch, from a file or inline, with an optional target
    Patch {
        #[arg(long)]
        path: Option<String>,
        #[arg(long)]
        patch: Option<String>,
        #[arg(long)]
        group: Option<String>,
        #[arg(long)]
        version: Option<String>,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        namespace: Option<String>,
        #[arg(long = "label-selector")]
        label_selector: Option<String>,
        #[arg(long = "annotation-selector")]
        annotation_selector: Option<String>,
    },
    /// Add commonLabels, key:value[,key:value]
    #[command(alias = "labels")]
    Label {
        #[arg(required = true)]
        pairs: Vec<String>,
        /// Overwrite an existing key
        #[arg(short, long)]
        force: bool,
    },
    /// Add commonAnnotations, key:value[,key:value]
    #[command(alias = "annotations")]
    Annotation {
        #[arg(required = true)]
        pairs: Vec<String>,
        /// Overwrite an existing key
        #[arg(short, long)]
        force: bool,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum SetCommand {
    /// Set image overrides: name=newName[:tag|@digest], name:tag or name@digest
    #[command(alias = "images")]
    Image {
        #[arg(required = true)]
        specs: Vec<String>,
    },
    /// Set the namespace
    Namespace { namespace: String },
    /// Set the name prefix
    Nameprefix {
        #[arg(allow_hyphen_values = true)]
        prefix: String,
    },
    /// Set the name suffix
    Namesuffix {
        #[arg(allow_hyphen_values = true)]
        suffix: String,
    },
    /// Set replica counts: name=count
    Replicas {
        #[arg(required = true)]
        specs: Vec<String>,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum RemoveCommand {
    /// Remove resources (globs over the listed entries)
    #[command(alias = "resources")]
    Resource {
        #[arg(required = true)]
        files: Vec<String>,
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
        KustomizeCommand::Create {
            resources,
            namespace,
            nameprefix,
            namesuffix,
            labels,
            annotations,
            autodetect,
            recursive,
        } => {
            let opts = CreateOptions {
                resources,
                namespace,
                name_prefix: nameprefix,
                name_suffix: namesuffix,
                labels,
                annotations,
                autodetect,
                recursive,
            };
            let cwd = std::env::current_dir().context("current directory")?;
            let (_, notes) = edit::create(&cwd, &opts).context("kustomize create")?;
            print_notes(&notes);
            Ok(())
        }
        KustomizeCommand::Edit { cmd } => run_edit(cmd),
    }
}

fn print_notes(notes: &[String]) {
    for n in notes {
        eprintln!("{n}");
    }
}

fn run_edit(cmd: EditCommand) -> anyhow::Result<()> {
    let cwd = std::env::current_dir().context("current directory")?;
    let mut k = KustomizationFile::open(&cwd)
        .map_err(|e| match e {
            tug_kustomize::KustomizeError::NoKustomization { .. } => anyhow::anyhow!(
                "{}: no kustomization.yaml, kustomization.yml or Kustomization found (run `tug kustomize create` first)",
                cwd.display()
            ),
            e => e.into(),
        })
        .context("kustomize edit")?;
    let notes = match cmd {
        EditCommand::Add { what } => match what {
            AddCommand::Resource { files } => k.add_resources(&files)?,
            AddCommand::Configmap(a) => {
                k.add_generator(false, &a.name.clone(), &sources(a, None))?
            }
            AddCommand::Secret { args, secret_type } => {
                k.add_generator(true, &args.name.clone(), &sources(args, Some(secret_type)))?
            }
            AddCommand::Patch {
                path,
                patch,
                group,
                version,
                kind,
                name,
                namespace,
                label_selector,
                annotation_selector,
            } => {
                let target = PatchTarget {
                    group,
                    version,
                    kind,
                    name,
                    namespace,
                    label_selector,
                    annotation_selector,
                };
                k.add_patch(path.as_deref(), patch.as_deref(), &target)?
            }
            AddCommand::Label { pairs, force } => {
                k.add_pairs(false, &pairs, force)?;
                Vec::new()
            }
            AddCommand::Annotation { pairs, force } => {
                k.add_pairs(true, &pairs, force)?;
                Vec::new()
            }
        },
        EditCommand::Set { what } => {
            match what {
                SetCommand::Image { specs } => k.set_images(&specs)?,
                SetCommand::Namespace { namespace } => k.set_namespace(&namespace)?,
                SetCommand::Nameprefix { prefix } => k.set_name_prefix(&prefix),
                SetCommand::Namesuffix { suffix } => k.set_name_suffix(&suffix),
                SetCommand::Replicas { specs } => k.set_replicas(&specs)?,
            }
            Vec::new()
        }
        EditCommand::Remove { what } => match what {
            RemoveCommand::Resource { files } => k.remove_resources(&files)?,
        },
    };
    k.save()?;
    print_notes(&notes);
    Ok(())
}

fn sources(a: GeneratorArgs, secret_type: Option<String>) -> GeneratorSources {
    GeneratorSources {
        literals: a.from_literal,
        files: a.from_file,
        env_files: a.from_env_file,
        behavior: a.behavior,
        disable_name_suffix_hash: a.disable_name_suffix_hash,
        secret_type,
    }
}

/// One file per resource, named as kustomize names them:
/// `<group>_<version>_<kind>_<name>.yaml`, empty parts left out, lowercase.
fn write_per_resource(dir: &Path, resources: &[Value]) -> anyhow::Result<()> {
    for r in resources {
        let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
        let api_version = s(r.get("apiVersion"));
        let (group, version) = api_version
            .rsplit_once('/')
            .unwrap_or(("", api_version.as_str()));
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
