//! `tug-client`: the client side of `tug get|describe|apply|create|delete|edit|patch|
//! label|annotate|scale|rollout|autoscale|explain|api-resources`, kubectl's verbs over kube-rs.
//!
//! It owns: finding the kubeconfig (`config`), REST calls on dynamic JSON objects
//! (`client`), resolving resource types from the built-in registry and server discovery
//! (`resources`), reading manifests and kustomizations (`manifest`), client-side apply with
//! the three-way strategic merge patch (`apply`, `patch`), the printers (server-side
//! Tables, YAML, JSON, names, JSONPath: `printers`, `jsonpath`), `describe` and `explain`.
//! It calls the API server only through HTTP; it uses `tug-api` for the registry of kinds
//! and `tug-kustomize` to build `-k` directories, `tug-oam` for `tug app` (`app`: OAM
//! Applications listed, shown, rolled back, rendered without a cluster). Command-line
//! parsing stays in `tug`.

pub mod app;
pub mod apply;
pub mod client;
pub mod config;
pub mod describe;
pub mod error;
pub mod explain;
pub mod jsonpath;
pub mod manifest;
pub mod patch;
pub mod printers;
pub mod resources;
pub mod rollout;
pub mod session;
pub mod yaml;

pub use apply::ApplyMode;
pub use client::{Conn, ListOptions, PatchType};
pub use config::ConnectOptions;
pub use error::{Error, Result};
pub use session::{GetOptions, Session};
