//! The Kubernetes API server, over HTTPS, on the store.
//!
//! This room owns the HTTP side of the control plane: TLS and the cluster's
//! certificates ([`tls`]), authentication ([`authn`]), discovery, the verbs on
//! every resource type of the `tug-api` registry (create, get, list, watch,
//! update, patch, delete, deletecollection; the status and scale
//! subresources), Table output, `metav1.Status` errors and `/metrics`,
//! authorization ([`authz`]), the audit log ([`audit`]) and the kinds
//! CustomResourceDefinitions add (`crds`).
//!
//! It may call `tug-api` (what the kinds are, defaulting, validation) and
//! `tug-store` (through `Arc<dyn Store>`, so tests and the binary pick the
//! backend). Objects are handled as JSON values checked against their
//! `k8s-openapi` types; the store holds them as JSON bytes under the
//! registry's keys, with the key's modification revision as their
//! resourceVersion.

pub mod admission;
pub mod authn;
pub mod audit;
pub mod authz;
mod body;
mod crds;
mod discovery;
mod fieldmanager;
mod handlers;
mod ipam;
mod kubernetes_service;
mod metrics;
mod node_credentials;
mod nodeports;
mod object;
mod openapi;
mod podcidr;
mod protobuf;
mod request;
mod respond;
mod selectors;
mod server;
mod status;
mod table;
pub mod tls;

pub use server::{start, Config, Server, StartError};
