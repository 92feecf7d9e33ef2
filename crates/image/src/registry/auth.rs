//! Registry authentication: credentials, `WWW-Authenticate` challenges, and the auth
//! files Docker and Podman keep (`~/.docker/config.json`, `containers/auth.json`).
//!
//! Pure parsing lives here; the token request itself is made by the session, which
//! owns the HTTP client.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use crate::error::{Error, IoContext, Result};

/// A user name and password (or token) for a registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The `auth` field of an auths file: base64 of `user:password`.
    pub fn encoded(&self) -> String {
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.username, self.password))
    }

    fn decode(auth: &str) -> Option<Credentials> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (user, pass) = text.split_once(':')?;
        Some(Credentials::new(user, pass))
    }
}

/// What a registry asks for in `WWW-Authenticate`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// HTTP Basic: send the credentials with every request.
    Basic { realm: Option<String> },
    /// The token flow: get a token from `realm` for `service` and `scope`.
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header value. Handles quoted values holding commas
/// (`scope="repository:a:pull,push"`) and several challenges in one header. Unknown
/// schemes are skipped.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        // scheme
        let end = rest
            .find(|c: char| c.is_whitespace() || c == ',')
            .unwrap_or(rest.len());
        let scheme = rest[..end].to_ascii_lowercase();
        rest = rest[end..].trim_start_matches([' ', '\t', ',']);
        // parameters: name=value or name="quoted", until the next bare token that is
        // not followed by '=' (the next scheme).
        let mut params: Vec<(String, String)> = Vec::new();
        while let Some(eq) = rest.find('=') {
            let name = &rest[..eq];
            if name.is_empty() || name.contains([' ', ',', '\t', '"']) {
                break;
            }
            let after = &rest[eq + 1..];
            let (value, remaining) = if let Some(q) = after.strip_prefix('"') {
                let mut value = String::new();
                let mut chars = q.char_indices();
                let mut end = q.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, n)) = chars.next() {
                                value.push(n);
                            }
                        }
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        c => value.push(c),
                    }
                }
                (value, &q[end.min(q.len())..])
            } else {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_string(), &after[end..])
            };
            params.push((name.to_ascii_lowercase(), value));
            rest = remaining.trim_start_matches([' ', '\t', ',']);
        }
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        match scheme.as_str() {
            "basic" => out.push(Challenge::Basic {
                realm: get("realm"),
            }),
            "bearer" => {
                if let Some(realm) = get("realm") {
                    out.push(Challenge::Bearer {
                        realm,
                        service: get("service"),
                        scope: get("scope"),
                    });
                }
            }
            _ => {}
        }
        if end == 0 {
            break; // nothing consumed: malformed input
        }
    }
    out
}

/// The auth files searched for credentials, in order: `$REGISTRY_AUTH_FILE`,
/// `$XDG_RUNTIME_DIR/containers/auth.json` (Podman, skopeo), `$DOCKER_CONFIG/config.json`
/// or `~/.docker/config.json` (Docker).
pub fn default_auth_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(p) = env("REGISTRY_AUTH_FILE") {
        files.push(PathBuf::from(p));
    }
    if let Some(p) = env("XDG_RUNTIME_DIR") {
        files.push(Path::new(&p).join("containers/auth.json"));
    }
    if let Some(p) = env("DOCKER_CONFIG") {
        files.push(Path::new(&p).join("config.json"));
    } else if let Some(home) = env("HOME") {
        files.push(Path::new(&home).join(".docker/config.json"));
    }
    files
}

#[derive(Deserialize, Default)]
struct AuthFile {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// The registry part of an auths key: `https://index.docker.io/v1/` → `docker.io`,
/// `localhost:5000` → `localhost:5000`.
fn auth_key_registry(key: &str) -> String {
    let k = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = k.split('/').next().unwrap_or(k);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_string()
        }
        h => h.to_string(),
    }
}

/// Credentials for `registry` (a reference's domain) from one auths file's contents.
pub fn credentials_from_auths(bytes: &[u8], registry: &str) -> Result<Option<Credentials>> {
    let file: AuthFile = serde_json::from_slice(bytes).map_err(|e| Error::Registry {
        registry: registry.to_string(),
        message: format!("malformed auth file: {e}"),
    })?;
    for (key, entry) in &file.auths {
        if auth_key_registry(key) != registry {
            continue;
        }
        if let Some(c) = entry.auth.as_deref().and_then(Credentials::decode) {
            return Ok(Some(c));
        }
        if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
            return Ok(Some(Credentials::new(u, p)));
        }
    }
    Ok(None)
}

/// Credentials for `registry` from the first auth file (of `files`) that has some.
pub fn lookup_credentials(files: &[PathBuf], registry: &str) -> Result<Option<Credentials>> {
    for f in files {
        let bytes = match std::fs::read(f) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).ctx("read auth file", f),
        };
        if let Some(c) = credentials_from_auths(&bytes, registry).map_err(|e| match e {
            Error::Registry { registry, message } => Error::Registry {
                registry,
                message: format!("{}: {message}", f.display()),
            },
            other => other,
        })? {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// Adds (or replaces) `registry`'s credentials in the auths file at `path`, keeping
/// everything else in it (as `docker login` does). The file is written mode 0600.
pub fn store_credentials(path: &Path, registry: &str, credentials: &Credentials) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut doc: serde_json::Value = match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::Registry {
            registry: registry.to_string(),
            message: format!("malformed auth file {}: {e}", path.display()),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
        Err(e) => return Err(e).ctx("read auth file", path),
    };
    let obj = doc.as_object_mut().ok_or_else(|| Error::Registry {
        registry: registry.to_string(),
        message: format!("auth file {} is not a JSON object", path.display()),
    })?;
    let auths = obj.entry("auths").or_insert_with(|| serde_json::json!({}));
    if let Some(auths) = auths.as_object_mut() {
        auths.retain(|k, _| auth_key_registry(k) != registry);
        let key = if registry == "docker.io" {
            "https://index.docker.io/v1/".to_string()
        } else {
            registry.to_string()
        };
        auths.insert(key, serde_json::json!({ "auth": credentials.encoded() }));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).ctx("create", dir)?;
    }
    let bytes = serde_json::to_vec_pretty(&doc)
        .map_err(|e| Error::io("failed to serialize auth file", std::io::Error::other(e)))?;
    crate::layout::write_atomic(path, &bytes)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).ctx("chmod", path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge_with_commas_in_quoted_scope() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        );
        assert_eq!(
            c,
            vec![Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull,push".into()),
            }]
        );
    }

    #[test]
    fn basic_challenge_and_several_schemes() {
        assert_eq!(
            parse_challenges(r#"Basic realm="basic-realm""#),
            vec![Challenge::Basic {
                realm: Some("basic-realm".into())
            }]
        );
        let c = parse_challenges(
            r#"Negotiate, Basic realm="r", Bearer realm="http://t/token",service=s"#,
        );
        assert_eq!(c.len(), 2, "{c:?}");
        assert!(matches!(&c[1], Challenge::Bearer { service: Some(s), .. } if s == "s"));
    }

    #[test]
    fn auths_file_matches_docker_hub_aliases_and_ports() {
        let file = format!(
            r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{}"}},"localhost:5000":{{"username":"u","password":"p"}}}}}}"#,
            Credentials::new("hub", "secret:with:colons").encoded()
        );
        let hub = credentials_from_auths(file.as_bytes(), "docker.io")
            .unwrap()
            .unwrap();
        assert_eq!(hub, Credentials::new("hub", "secret:with:colons"));
        let local = credentials_from_auths(file.as_bytes(), "localhost:5000")
            .unwrap()
            .unwrap();
        assert_eq!(local, Credentials::new("u", "p"));
        assert!(credentials_from_auths(file.as_bytes(), "localhost:5001")
            .unwrap()
            .is_none());
    }

    #[test]
    fn stored_credentials_are_found_again_and_other_entries_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            r#"{"auths":{"other.io":{"auth":"eDp5"}},"credsStore":"x"}"#,
        )
        .unwrap();
        store_credentials(&path, "127.0.0.1:5000", &Credentials::new("a", "b")).unwrap();
        store_credentials(&path, "127.0.0.1:5000", &Credentials::new("a", "c")).unwrap();
        let found = lookup_credentials(std::slice::from_ref(&path), "127.0.0.1:5000").unwrap();
        assert_eq!(found, Some(Credentials::new("a", "c")));
        let other = lookup_credentials(std::slice::from_ref(&path), "other.io").unwrap();
        assert_eq!(other, Some(Credentials::new("x", "y")));
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["credsStore"], "x");
    }

    #[test]
    fn credentials_debug_hides_the_password() {
        let s = format!("{:?}", Credentials::new("u", "hunter2"));
        assert!(!s.contains("hunter2"), "{s}");
    }
}
