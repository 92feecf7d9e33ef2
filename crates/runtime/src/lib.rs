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

pub mod bundle;
pub mod capabilities;
pub mod cgroups;
mod channel;
mod console;
pub mod create;
pub mod delete;
pub mod error;
pub mod exec;
mod hooks;
mod init;
pub mod kill;
mod mount_options;
pub mod namespaces;
pub mod pause;
mod process;
pub mod query;
mod rootfs;
pub mod run;
mod scoped_path;
pub mod seccomp;
pub mod signal;
pub mod start;
pub mod state;
pub mod sys;

pub use error::{Error, Result};

/// Where container state lives unless `--root` says otherwise.
pub const DEFAULT_ROOT: &str = "/run/tug/runtime";
