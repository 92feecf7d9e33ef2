//! The OCI container runtime.
//!
//! This room turns an OCI bundle (a `config.json` of the OCI runtime spec and a root
//! filesystem) into an isolated process: namespaces, pivot_root and mounts, cgroups
//! (v1, v2 and hybrid layouts, detected at run time), capabilities, seccomp, rlimits,
//! hooks and a console. It owns the container state under the runtime root
//! (default `/run/tug/runtime`) and exposes one function per lifecycle verb, which the
//! `tug runtime` CLI (runc-compatible) wires up.
//!
//! It knows nothing of pods, images or Kubernetes, and calls no other Tugboat crate.

pub mod capabilities;
pub mod cgroups;
pub mod seccomp;
