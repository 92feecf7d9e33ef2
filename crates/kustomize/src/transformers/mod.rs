//! The built-in transformers a kustomization's fields configure, plus the
//! transformer plugin configs of its `transformers:` field.

pub mod images;
pub mod labels;
pub mod names;
pub mod namespace;
pub mod plugins;
pub mod replacements;
pub mod replicas;
pub mod vars;
