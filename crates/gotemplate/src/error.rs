//! Errors, worded as Go's text/template words them (Helm parses these strings).

/// A template error. `Display` gives Go's exact message.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// `template: NAME:LINE: MSG`
    #[error("template: {name}:{line}: {msg}")]
    Parse { name: String, line: usize, msg: String },
    /// `template: NAME:LINE:COL: executing "TEMPLATE" at <CONTEXT>: MSG`
    #[error("template: {location}: executing {template:?} at <{context}>: {msg}")]
    Exec { location: String, template: String, context: String, msg: String },
    /// `template: NAME: MSG` (an execution error with no node, e.g. an undefined template)
    #[error("template: {template}: {msg}")]
    ExecNoNode { template: String, msg: String },
    /// `template: no template "X" associated with template "Y"`
    #[error("template: no template {name:?} associated with template {set:?}")]
    NoTemplate { name: String, set: String },
}

impl Error {
    /// Whether this is an execution error (Go's `template.ExecError`).
    pub fn is_exec(&self) -> bool {
        matches!(self, Error::Exec { .. } | Error::ExecNoNode { .. })
    }
}
