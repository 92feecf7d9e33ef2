//! The Open Application Model (`core.oam.dev/v1beta1`) as KubeVela users write it: an
//! Application lists components, each of a `type` with `properties` and `traits`; a
//! ComponentDefinition or TraitDefinition says what a type renders to.
//!
//! This room owns rendering: reading definitions ([`definition`]; their templates are in
//! our Go-template language, `spec.schematic.gotemplate.template`, not CUE), the built-in
//! definitions (`webservice`, `worker`, `task`, `cron-task`, `statefulservice`,
//! `k8s-objects`; `scaler`, `labels`, `annotations`, `env`, `expose`, `sidecar`, `storage`,
//! `resource`, `gateway`, `hpa`), and turning an Application into Kubernetes resources
//! ([`render`]) with traits patching the workload ([`merge`]) or adding resources; and the
//! pure parts of running one: the kinds' CustomResourceDefinitions ([`crds`]), workload
//! health ([`health`]), the workflow's steps and the application's phase ([`workflow`]),
//! policies ([`policy`]). It does no I/O and may call only `tug-gotemplate`; the Application
//! controller (`tug-controllers`) applies what it renders.

pub mod crds;
pub mod definition;
pub mod health;
pub mod merge;
pub mod policy;
pub mod render;
pub mod workflow;

pub use definition::{Definition, DefinitionKind, Definitions};
pub use render::{render, RenderError, Rendered};

/// The label on everything an Application renders (and on its revisions): the application.
pub const APP_LABEL: &str = "app.oam.dev/name";
/// The label on everything a component renders: the component.
pub const COMPONENT_LABEL: &str = "app.oam.dev/component";
/// Set on an Application to a revision number: the controller puts that revision's spec back.
pub const ROLLBACK_ANNOTATION: &str = "app.oam.dev/rollback-revision";
/// Set on an Application (to anything): the controller resumes its suspended workflow.
pub const RESUME_ANNOTATION: &str = "app.oam.dev/resume";
