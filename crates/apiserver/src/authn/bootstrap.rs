//! Bootstrap ("join") tokens, as kubeadm keeps them: `<id>.<secret>` with an id
//! of 6 and a secret of 16 characters from `[a-z0-9]`, stored as a Secret
//! `bootstrap-token-<id>` of type `bootstrap.kubernetes.io/token` in
//! `kube-system` with its expiration, usages and extra groups. A token
//! authenticates as `system:bootstrap:<id>` in `system:bootstrappers` plus the
//! secret's `auth-extra-groups`, while its Secret exists, is unexpired and
//! allows `usage-bootstrap-authentication`.
//!
//! The pure parts (making a token and its Secret) are shared by the
//! authenticator, `tug token` and the join token `tug server` writes.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Value};
use tug_store::Store;

use super::{Authenticator, BoxFuture, Credentials, Outcome, Rejection, User};

pub const SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";
pub const NAMESPACE: &str = "kube-system";
pub const NAME_PREFIX: &str = "bootstrap-token-";
pub const GROUP: &str = "system:bootstrappers";
/// The extra group of the join token `tug server` writes (agents join with it).
pub const NODE_GROUP: &str = "system:bootstrappers:tug:default-node-token";

const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// A new random token `<6 chars>.<16 chars>`.
pub fn generate_token() -> String {
    let mut chars = String::with_capacity(23);
    while chars.len() < 22 {
        for byte in uuid::Uuid::new_v4().into_bytes() {
            // 252 = 7 × 36: higher bytes would favour the first letters.
            if byte < 252 && chars.len() < 22 {
                chars.push(char::from(ALPHABET[usize::from(byte % 36)]));
            }
        }
    }
    let (id, secret) = chars.split_at(6);
    format!("{id}.{secret}")
}

/// The id and secret of a well-formed token.
pub fn parse_token(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    let ok = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| ALPHABET.contains(&b));
    (ok(id, 6) && ok(secret, 16)).then_some((id, secret))
}

/// Whether `id` is a well-formed token id.
pub fn is_token_id(id: &str) -> bool {
    id.len() == 6 && id.bytes().all(|b| ALPHABET.contains(&b))
}

/// The Secret that makes `token` valid: for `ttl_seconds` from now (forever if `None`).
pub fn token_secret(
    token: &str,
    ttl_seconds: Option<i64>,
    description: Option<&str>,
    extra_groups: &[String],
) -> Result<Value, String> {
    let (id, secret) = parse_token(token).ok_or_else(|| {
        "a token must be 6 then 16 characters of [a-z0-9], separated by a dot".to_string()
    })?;
    for group in extra_groups {
        let suffix = group
            .strip_prefix("system:bootstrappers:")
            .unwrap_or_default();
        let valid = !suffix.is_empty()
            && suffix.len() <= 256
            && suffix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b':' || b == b'-')
            && !suffix.ends_with([':', '-']);
        if !valid {
            return Err(format!("group {group:?} is not valid: extra groups must look like system:bootstrappers:[a-z0-9:-]*[a-z0-9]"));
        }
    }
    let mut data = serde_json::Map::new();
    let b64 = |s: &str| json!(base64::engine::general_purpose::STANDARD.encode(s));
    data.insert("token-id".into(), b64(id));
    data.insert("token-secret".into(), b64(secret));
    data.insert("usage-bootstrap-authentication".into(), b64("true"));
    data.insert("usage-bootstrap-signing".into(), b64("true"));
    if let Some(ttl) = ttl_seconds {
        data.insert("expiration".into(), b64(&crate::object::now_plus(ttl)));
    }
    if let Some(d) = description.filter(|d| !d.is_empty()) {
        data.insert("description".into(), b64(d));
    }
    if !extra_groups.is_empty() {
        data.insert("auth-extra-groups".into(), b64(&extra_groups.join(",")));
    }
    Ok(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": format!("{NAME_PREFIX}{id}"), "namespace": NAMESPACE},
        "type": SECRET_TYPE,
        "data": data,
    }))
}

/// A field of a Secret: from `data` (base64) or `stringData`.
pub fn secret_field(secret: &Value, field: &str) -> Option<String> {
    if let Some(encoded) = secret
        .pointer(&format!("/data/{field}"))
        .and_then(Value::as_str)
    {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        return String::from_utf8(bytes).ok();
    }
    secret
        .pointer(&format!("/stringData/{field}"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Whether an RFC 3339 expiration lies in the past (an unreadable one counts as past).
pub fn expired(expiration: &str) -> bool {
    expiration
        .parse::<jiff::Timestamp>()
        .map_or(true, |t| t <= jiff::Timestamp::now())
}

/// Authenticates bootstrap tokens against their Secrets.
pub struct BootstrapTokens {
    pub store: Arc<dyn Store>,
}

impl BootstrapTokens {
    async fn user(&self, token: &str) -> Outcome {
        let Some((id, secret)) = parse_token(token) else {
            return Outcome::NotMine;
        };
        let stored = match super::core_object(
            self.store.as_ref(),
            "secrets",
            Some(NAMESPACE),
            &format!("{NAME_PREFIX}{id}"),
        )
        .await
        {
            Ok(Some(s)) => s,
            Ok(None) => return Outcome::NotMine,
            Err(why) => return Outcome::Rejected(why),
        };
        if stored.get("type").and_then(Value::as_str) != Some(SECRET_TYPE)
            || stored.pointer("/metadata/deletionTimestamp").is_some()
        {
            return Outcome::NotMine;
        }
        let matches = secret_field(&stored, "token-secret")
            .is_some_and(|s| super::same_secret(s.as_bytes(), secret.as_bytes()));
        if !matches {
            return Outcome::Rejected(Rejection("the bootstrap token's secret does not match"));
        }
        if secret_field(&stored, "usage-bootstrap-authentication").as_deref() != Some("true") {
            return Outcome::Rejected(Rejection("the bootstrap token is not for authentication"));
        }
        if secret_field(&stored, "expiration").is_some_and(|e| expired(&e)) {
            return Outcome::Rejected(Rejection("the bootstrap token has expired"));
        }
        let mut groups = vec![GROUP.to_string()];
        for group in secret_field(&stored, "auth-extra-groups")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|g| g.starts_with("system:bootstrappers:"))
        {
            groups.push(group.to_string());
        }
        Outcome::Authenticated {
            user: User::new(format!("system:bootstrap:{id}"), groups),
            audiences: Vec::new(),
        }
    }
}

impl Authenticator for BootstrapTokens {
    fn authenticate<'a>(&'a self, credentials: &'a Credentials<'a>) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let Some(token) = credentials.token else {
                return Outcome::NotMine;
            };
            match self.user(token).await {
                Outcome::Authenticated { user, .. } => Outcome::any_audience(user, credentials),
                other => other,
            }
        })
    }
}

/// What can stop the join token from being made.
#[derive(Debug, thiserror::Error)]
pub enum JoinTokenError {
    #[error("failed to read the join token file {}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("failed to write the join token file: {0}")]
    Write(#[from] crate::tls::TlsError),
    #[error("the join token file {} does not hold a token (delete it to have a new one made)", path.display())]
    Invalid { path: std::path::PathBuf },
    #[error("failed to store the join token's Secret: {0}")]
    Store(String),
}

/// Makes sure the join token at `path` exists, with no expiry, and that its Secret is
/// stored: the token agents join with. Returns the token.
pub async fn ensure_join_token(store: &dyn Store, path: &Path) -> Result<String, JoinTokenError> {
    let token = match std::fs::read_to_string(path) {
        Ok(text) => {
            let token = text.trim().to_string();
            if parse_token(&token).is_none() {
                return Err(JoinTokenError::Invalid {
                    path: path.to_path_buf(),
                });
            }
            token
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = generate_token();
            crate::tls::write_private(path, format!("{token}\n").as_bytes())?;
            token
        }
        Err(source) => {
            return Err(JoinTokenError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let mut secret = token_secret(
        &token,
        None,
        Some("the join token of tug server (agents join with it)"),
        &[NODE_GROUP.to_string()],
    )
    .map_err(JoinTokenError::Store)?;
    let rt = tug_api::registry::find("", "v1", "secrets")
        .ok_or_else(|| JoinTokenError::Store("secrets are not registered".into()))?;
    crate::object::set_meta(&mut secret, "uid", json!(crate::object::new_uid()));
    crate::object::set_meta(
        &mut secret,
        "creationTimestamp",
        json!(crate::object::now()),
    );
    let name = crate::object::meta_str(&secret, "name")
        .unwrap_or_default()
        .to_string();
    match store
        .create(
            &rt.key(Some(NAMESPACE), &name),
            crate::object::to_bytes(rt, &secret),
            None,
        )
        .await
    {
        Ok(_) | Err(tug_store::Error::AlreadyExists { .. }) => Ok(token),
        Err(e) => Err(JoinTokenError::Store(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_well_formed_and_differ() {
        let a = generate_token();
        assert!(parse_token(&a).is_some(), "{a}");
        assert_ne!(a, generate_token());
        for bad in [
            "abcdef.0123456789abcde",
            "ABCDEF.0123456789abcdef",
            "abcdef0123456789abcdef",
            "abcdef.0123456789abcdef.x",
        ] {
            assert!(parse_token(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn token_secrets_hold_the_token_and_refuse_bad_groups() {
        let s = token_secret(
            "abcdef.0123456789abcdef",
            Some(60),
            Some("d"),
            &["system:bootstrappers:x".into()],
        )
        .unwrap();
        assert_eq!(s["metadata"]["name"], "bootstrap-token-abcdef");
        assert_eq!(
            secret_field(&s, "token-secret").as_deref(),
            Some("0123456789abcdef")
        );
        assert!(!expired(&secret_field(&s, "expiration").unwrap()));
        let e =
            token_secret("abcdef.0123456789abcdef", None, None, &["admins".into()]).unwrap_err();
        assert!(e.contains("\"admins\""), "{e}");
        assert!(token_secret("nope", None, None, &[]).is_err());
        assert!(expired("2000-01-01T00:00:00Z") && expired("garbage"));
    }
}
