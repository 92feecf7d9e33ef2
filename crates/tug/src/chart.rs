//! `tug chart`: Helm-compatible charts over the `tug-chart` crate (render, show,
//! lint, package). Releases (install/upgrade/rollback) need the API server client
//! and come later.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use tug_chart::{Capabilities, Release, TemplateOptions, UserValues};

#[derive(clap::Subcommand, Debug)]
pub enum ChartCommand {
    /// Render a chart's templates locally and print the manifests, as `helm template`
    Template(TemplateArgs),
    /// Show a chart's values, Chart.yaml, README or values schema
    Show {
        #[arg(value_enum)]
        what: ShowWhat,
        chart: PathBuf,
    },
    /// Check a chart: it loads, its values pass the schema, its templates render to valid YAML
    Lint {
        chart: PathBuf,
        #[command(flatten)]
        values: ValuesArgs,
    },
    /// Package a chart directory as NAME-VERSION.tgz
    Package {
        chart: PathBuf,
        /// Directory to write the archive to
        #[arg(short = 'd', long, default_value = ".")]
        destination: PathBuf,
    },
}

#[derive(clap::ValueEnum, Clone, Debug)]
pub enum ShowWhat {
    Values,
    Chart,
    Readme,
    Schema,
}

#[derive(clap::Args, Debug)]
pub struct ValuesArgs {
    /// Values file (repeatable; later files win)
    #[arg(short = 'f', long = "values")]
    files: Vec<PathBuf>,
    /// Set values: a.b=c,list[0]=x (types inferred)
    #[arg(long)]
    set: Vec<String>,
    /// Set string values
    #[arg(long = "set-string")]
    set_string: Vec<String>,
    /// Set values from files: key=path
    #[arg(long = "set-file")]
    set_file: Vec<String>,
    /// Set JSON values: key=JSON
    #[arg(long = "set-json")]
    set_json: Vec<String>,
    /// Set a literal string value: key=rest of the argument
    #[arg(long = "set-literal")]
    set_literal: Vec<String>,
}

impl ValuesArgs {
    fn user_values(&self) -> UserValues {
        UserValues {
            files: self.files.clone(),
            set: self.set.clone(),
            set_string: self.set_string.clone(),
            set_file: self.set_file.clone(),
            set_json: self.set_json.clone(),
            set_literal: self.set_literal.clone(),
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct TemplateArgs {
    /// [NAME] CHART: release name (default "release-name") and chart directory or .tgz
    #[arg(num_args = 1..=2, required = true)]
    args: Vec<String>,
    #[command(flatten)]
    values: ValuesArgs,
    /// Namespace of the release
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// Only print manifests from these templates (path or glob, e.g. templates/x.yaml)
    #[arg(short = 's', long = "show-only")]
    show_only: Vec<String>,
    /// Print the chart's CRDs (crds/) first
    #[arg(long)]
    include_crds: bool,
    /// Leave out test hooks
    #[arg(long)]
    skip_tests: bool,
    /// Kubernetes version for .Capabilities (default v1.33.0)
    #[arg(long)]
    kube_version: Option<String>,
    /// Extra API versions for .Capabilities.APIVersions
    #[arg(short = 'a', long = "api-versions")]
    api_versions: Vec<String>,
    /// Release name from a template, e.g. 'app-{{ randAlpha 5 | lower }}'
    #[arg(long)]
    name_template: Option<String>,
    /// Render as an upgrade instead of an install
    #[arg(long)]
    is_upgrade: bool,
    /// Do not validate values against values.schema.json
    #[arg(long)]
    skip_schema_validation: bool,
}

/// Group/versions (and group/version/kind) the API server serves, for `.Capabilities`.
fn served_api_versions() -> Vec<String> {
    let mut out = std::collections::BTreeSet::new();
    for t in tug_api::registry::all() {
        let gv = if t.group.is_empty() {
            t.version.to_string()
        } else {
            format!("{}/{}", t.group, t.version)
        };
        out.insert(format!("{gv}/{}", t.kind));
        out.insert(gv);
    }
    out.into_iter().collect()
}

pub fn run(cmd: ChartCommand) -> anyhow::Result<()> {
    match cmd {
        ChartCommand::Template(args) => template(args),
        ChartCommand::Show { what, chart } => show(what, chart),
        ChartCommand::Lint { chart, values } => lint(chart, values),
        ChartCommand::Package { chart, destination } => {
            let path = tug_chart::package(&chart, &destination)?;
            println!(
                "Successfully packaged chart and saved it to: {}",
                path.display()
            );
            Ok(())
        }
    }
}

fn template(a: TemplateArgs) -> anyhow::Result<()> {
    let (name, chart_path) = match a.args.as_slice() {
        [chart] => ("release-name".to_string(), chart.clone()),
        [name, chart] => (name.clone(), chart.clone()),
        _ => anyhow::bail!("expected [NAME] CHART"),
    };
    let name = match &a.name_template {
        Some(t) => tug_gotemplate::render(t, &tug_gotemplate::Value::Nil)
            .context("rendering --name-template")?,
        None => name,
    };
    let mut caps = Capabilities {
        api_versions: served_api_versions(),
        ..Capabilities::default()
    };
    caps.api_versions.extend(a.api_versions.iter().cloned());
    if let Some(v) = &a.kube_version {
        caps = caps.with_kube_version(v).map_err(anyhow::Error::msg)?;
    }
    let chart = tug_chart::load(std::path::Path::new(&chart_path))?;
    let opts = TemplateOptions {
        release: Release {
            name,
            namespace: a.namespace,
            is_install: !a.is_upgrade,
            is_upgrade: a.is_upgrade,
            revision: 1,
        },
        capabilities: caps,
        values: a.values.user_values().merge()?,
        show_only: a.show_only,
        include_crds: a.include_crds,
        skip_tests: a.skip_tests,
        skip_schema_validation: a.skip_schema_validation,
    };
    let out = tug_chart::template(&chart, &opts).map_err(|e| match e {
        tug_chart::Error::ManifestYaml { .. } => {
            anyhow::anyhow!("{e}\n\nUse --debug flag to render out invalid YAML")
        }
        e => e.into(),
    })?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

fn show(what: ShowWhat, path: PathBuf) -> anyhow::Result<()> {
    let chart = tug_chart::load(&path)?;
    let text = match what {
        ShowWhat::Values => chart.raw_values.clone(),
        ShowWhat::Chart => {
            let json = serde_json::to_value(&chart.metadata)?;
            tug_gotemplate::funcs::yaml::to_yaml(&tug_gotemplate::Value::from(&json))
        }
        ShowWhat::Readme => chart
            .files
            .iter()
            .find(|f| {
                f.name.eq_ignore_ascii_case("README.md")
                    || f.name.eq_ignore_ascii_case("README.txt")
                    || f.name.eq_ignore_ascii_case("README")
            })
            .map(|f| String::from_utf8_lossy(&f.data).into_owned())
            .unwrap_or_default(),
        ShowWhat::Schema => chart.schema.clone().unwrap_or_default(),
    };
    print!("{text}");
    if !text.is_empty() && !text.ends_with('\n') {
        println!();
    }
    Ok(())
}

fn lint(path: PathBuf, values: ValuesArgs) -> anyhow::Result<()> {
    println!("==> Linting {}", path.display());
    let result = tug_chart::load(&path).and_then(|chart| {
        let opts = TemplateOptions {
            values: values.user_values().merge()?,
            ..TemplateOptions::default()
        };
        if chart.metadata.is_library() {
            return Ok(());
        }
        tug_chart::template(&chart, &opts).map(|_| ())
    });
    match result {
        Ok(()) => {
            println!("\n1 chart(s) linted, 0 chart(s) failed");
            Ok(())
        }
        Err(e) => {
            println!("[ERROR] {e}\n\nError: 1 chart(s) linted, 1 chart(s) failed");
            anyhow::bail!("1 chart(s) linted, 1 chart(s) failed")
        }
    }
}
