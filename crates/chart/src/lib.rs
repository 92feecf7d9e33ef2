//! Helm charts: loading a chart (a directory or a `.tgz`), coalescing its values the
//! way Helm does, and rendering its templates to manifests as `helm template` prints them.
//!
//! The pipeline, one module per step:
//! - [`loader`] reads files (honouring `.helmignore`; refusing archive entries that
//!   escape the chart) into a [`Chart`]: metadata ([`chartfile`]), values, schema,
//!   templates, other files and subcharts from `charts/`.
//! - [`values`] merges user input (`-f` files and the `--set` family, parsed by
//!   [`values::set`]), enables dependencies by `condition`/`tags`, applies `alias` and
//!   `import-values`, and coalesces chart defaults under user values, with `global`
//!   pushed down to subcharts and `null` deleting keys.
//! - [`schema`] validates the result against each chart's `values.schema.json`.
//! - [`render`] runs every template through `tug-gotemplate` with `.Values`, `.Release`,
//!   `.Chart`, `.Capabilities` ([`capabilities`]), `.Files` ([`files`]) and `.Template`.
//! - [`order`] splits the output into manifests, separates hooks, sorts by Helm's
//!   install order and prints `helm template` output.
//!
//! - [`repo`]: chart repositories (index, the user's list and cache, HTTP fetch and
//!   serve, dependencies into `charts/`); [`create`] scaffolds a new chart.
//! - [`provenance`]: `.prov` files (OpenPGP clear-signed chart sums): verify and sign.
//! - [`oci`]: charts in OCI registries as Helm lays them out (the bytes move through
//!   the image crate's registry client, wired in by the binary).
//!
//! The crate does file I/O only in [`loader`] (reading a chart), [`package`] (writing one),
//! [`create`], [`values::UserValues`] (reading `-f`/`--set-file` files) and [`repo`], which
//! is also the only network I/O (HTTP to the repositories the user names); everything
//! else is pure. It never talks to a cluster: releases are `tug-release`.

pub mod capabilities;
pub mod chartfile;
pub mod create;
pub mod files;
pub mod glob;
pub mod loader;
pub mod oci;
pub mod order;
pub mod package;
mod parallel;
pub mod provenance;
pub mod render;
pub mod repo;
pub mod schema;
pub mod values;

pub use capabilities::Capabilities;
pub use chartfile::{Dependency, Metadata};
pub use loader::{load, load_archive, Chart, ChartFile};
pub use order::{render_chart, template, Manifest, TemplateOptions};
pub use package::package;
pub use parallel::start_helper;
pub use render::{render, Lookup, Release, Rendered};
pub use values::UserValues;

/// Everything that can go wrong with a chart, worded as Helm words it where users
/// would compare messages.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("Chart.yaml file is missing")]
    MissingChartYaml,
    #[error("cannot load {file}: {msg}")]
    Parse { file: String, msg: String },
    #[error("validation: {0}")]
    Validation(String),
    #[error("chart illegally references a file outside the chart: {0}")]
    PathEscape(String),
    #[error("invalid archive {name}: {msg}")]
    Archive { name: String, msg: String },
    #[error("found in Chart.yaml, but missing in charts/ directory: {0}")]
    MissingDependency(String),
    #[error("{0}")]
    Values(String),
    #[error(
        "values don't meet the specifications of the schema(s) in the following chart(s):\n{0}"
    )]
    Schema(String),
    #[error("{0}")]
    Render(String),
    #[error("YAML parse error on {file}: {msg}")]
    ManifestYaml { file: String, msg: String },
    #[error("library charts are not installable")]
    Library,
    #[error("could not find template {0} in chart")]
    NoSuchTemplate(String),
    /// A provenance file that does not vouch for its chart.
    #[error("provenance: {0}")]
    Provenance(String),
    /// Repositories, downloads and dependencies.
    #[error("{0}")]
    Repo(String),
}

pub type Result<T> = std::result::Result<T, Error>;
