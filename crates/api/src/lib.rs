//! The Kubernetes resource kinds Tugboat serves.
//!
//! This room owns what a kind *is*: its group, version, kind, plural and scope (taken from
//! the `k8s-openapi` types, never hand-written), short names, categories, subresources,
//! and where its objects live in the store. Later: defaulting and validation. It does no
//! I/O and knows nothing of HTTP; the API server, the CLI and the controllers read it.

pub mod openapi;
pub mod registry;

pub use registry::{ResourceType, Subresource};
