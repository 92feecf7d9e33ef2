//! The Open Application Model (`core.oam.dev/v1beta1`) as KubeVela users write it: an
//! Application lists components, each of a `type` with `properties` and `traits`; a
//! ComponentDefinition or TraitDefinition says what a type renders to.
//!
//! This room owns rendering: reading definitions ([`definition`]; their templates are in
//! our Go-template language, `spec.schematic.gotemplate.template`, not CUE), the built-in
//! definitions (`webservice`, `worker`, `task`, `cron-task`, `k8s-objects`; `scaler`,
//! `labels`, `annotations`, `env`, `expose`, `sidecar`, `resource`, `gateway`, `hpa`), and turning an Application into Kubernetes resources ([`render`]) with
//! traits patching the workload ([`merge`]) or adding resources. It does no I/O and may
//! call only `tug-gotemplate`; the Application controller (later) applies what it renders.

pub mod definition;
pub mod merge;
pub mod render;

pub use definition::{Definition, DefinitionKind, Definitions};
pub use render::{render, RenderError, Rendered};
