//! The Kubernetes resource kinds Tugboat serves.
//!
//! This room owns what a kind *is*: its group, version, kind, plural and scope (taken from
//! the `k8s-openapi` types, never hand-written), short names, categories, subresources,
//! and where its objects live in the store; how an object of a kind is checked against
//! its real type ([`decode`]), defaulted ([`defaults`]) and validated with field paths
//! ([`validation`]), resource quantities ([`quantity`]), the OpenAPI documents kubectl reads ([`openapi`]) and the per-field shape and merge
//! semantics of every type ([`schema`]), and custom kinds read from CustomResourceDefinitions ([`crd`]). It does no I/O and knows nothing of HTTP; the API server, the CLI
//! and the controllers read it.

pub mod convert;
pub mod crd;
pub mod cron;
pub mod decode;
pub mod defaults;
pub mod openapi;
pub mod qos;
pub mod quantity;
pub mod quota;
pub mod registry;
pub mod schema;
pub mod storage;
pub mod validation;

pub use decode::{DecodeError, Decoded};
pub use registry::{ResourceType, Subresource};
pub use validation::FieldError;
