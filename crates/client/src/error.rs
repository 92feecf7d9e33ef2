//! Errors as kubectl prints them: a server `Status` becomes
//! `Error from server (Reason): message`, everything else `error: message`.

use std::fmt;

/// A failure of a client command.
#[derive(Debug)]
pub enum Error {
    /// The server answered with a `Status` (or a non-2xx code).
    Api {
        code: u16,
        reason: String,
        message: String,
    },
    /// Anything on the client side: bad flags, unreadable files, unknown types.
    Client(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn client(msg: impl Into<String>) -> Error {
        Error::Client(msg.into())
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Api { code: 404, .. })
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Api { code: 409, .. })
    }

    /// The HTTP code, if this came from the server.
    pub fn code(&self) -> Option<u16> {
        match self {
            Error::Api { code, .. } => Some(*code),
            Error::Client(_) => None,
        }
    }

    /// Prefixes a server message with what the client was doing, as kubectl does for
    /// objects from files: `error when creating "x.yaml": ...`.
    pub fn context(self, what: &str) -> Error {
        match self {
            Error::Api {
                code,
                reason,
                message,
            } => Error::Api {
                code,
                reason,
                message: format!("{what}: {message}"),
            },
            Error::Client(m) => Error::Client(format!("{what}: {m}")),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // kubectl prints validation failures without the prefix.
            Error::Api {
                reason, message, ..
            } if reason == "Invalid" => write!(f, "{message}"),
            Error::Api {
                reason, message, ..
            } if !reason.is_empty() => write!(f, "Error from server ({reason}): {message}"),
            Error::Api { message, .. } => write!(f, "Error from server: {message}"),
            Error::Client(m) => write!(f, "error: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<kube::Error> for Error {
    fn from(e: kube::Error) -> Error {
        match e {
            kube::Error::Api(status) => {
                let reason = if status.reason.is_empty() {
                    reason_for(status.code).to_string()
                } else {
                    status.reason.clone()
                };
                Error::Api {
                    code: status.code,
                    reason,
                    message: status.message.clone(),
                }
            }
            other => Error::Client(other.to_string()),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Client(e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error::Client(e.to_string())
    }
}

fn reason_for(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        410 => "Expired",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "",
    }
}
