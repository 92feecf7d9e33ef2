//! ServiceAccount tokens: JWTs signed with the cluster's key ([`super::jwt`]).
//!
//! - Bound tokens come from the TokenRequest API: issuer
//!   `https://kubernetes.default.svc.cluster.local`, audiences, an expiry, and
//!   optionally the Pod or Secret they are bound to, whose uid must still exist.
//! - Legacy tokens are written into Secrets of type
//!   `kubernetes.io/service-account-token` when they are created (issuer
//!   `kubernetes/serviceaccount`, no expiry); they work while the Secret holds
//!   them and the ServiceAccount exists.
//!
//! Either way the user is `system:serviceaccount:<ns>:<name>` with the uid of
//! the ServiceAccount, in `system:serviceaccounts` and `system:serviceaccounts:<ns>`.

use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Value};
use tug_api::validation::{ErrorType, FieldError};
use tug_store::Store;

use super::jwt::{self, JwtError, SigningKey};
use super::{Authenticator, BoxFuture, Credentials, Outcome, Rejection, User};
use crate::status::{ApiError, ApiResult};

/// The issuer of bound tokens, and the API server's own audience.
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// The issuer of Secret-based tokens.
pub const LEGACY_ISSUER: &str = "kubernetes/serviceaccount";
pub const LEGACY_SECRET_TYPE: &str = "kubernetes.io/service-account-token";
pub const NAME_ANNOTATION: &str = "kubernetes.io/service-account.name";
pub const UID_ANNOTATION: &str = "kubernetes.io/service-account.uid";
/// The shortest and longest lifetimes a TokenRequest may ask for.
pub const MIN_EXPIRATION: i64 = 600;
pub const MAX_EXPIRATION: i64 = 1 << 32;
pub const DEFAULT_EXPIRATION: i64 = 3600;

const USER_PREFIX: &str = "system:serviceaccount:";

/// Signs ServiceAccount tokens and tells clients how to check them.
pub struct TokenIssuer {
    pub key: SigningKey,
    /// What tokens are for when a request names no audience: the issuer, as Kubernetes.
    pub api_audiences: Vec<String>,
    /// The cluster CA (PEM), put into legacy token Secrets as `ca.crt`.
    pub ca_pem: String,
}

/// The object a bound token is bound to.
pub struct BoundObject {
    /// `pod` or `secret`: the claim's name.
    pub claim: &'static str,
    pub name: String,
    pub uid: String,
}

impl TokenIssuer {
    /// A bound token for `sa` (a stored ServiceAccount), valid for `seconds`; returns the
    /// token and its expiry (Unix seconds).
    pub fn bound_token(
        &self,
        sa: &Value,
        audiences: &[String],
        seconds: i64,
        bound: Option<&BoundObject>,
    ) -> Result<(String, i64), JwtError> {
        let now = jiff::Timestamp::now().as_second();
        let (namespace, name, uid) = identity(sa);
        let mut kubernetes = json!({
            "namespace": namespace,
            "serviceaccount": {"name": name, "uid": uid},
        });
        if let Some(b) = bound {
            kubernetes[b.claim] = json!({"name": b.name, "uid": b.uid});
        }
        let claims = json!({
            "iss": ISSUER, "sub": format!("{USER_PREFIX}{namespace}:{name}"), "aud": audiences,
            "exp": now + seconds, "iat": now, "nbf": now, "jti": crate::object::new_uid(),
            "kubernetes.io": kubernetes,
        });
        Ok((self.key.sign(&claims)?, now + seconds))
    }

    /// A legacy token for `sa`, kept in the Secret `secret_name`.
    pub fn legacy_token(&self, sa: &Value, secret_name: &str) -> Result<String, JwtError> {
        let (namespace, name, uid) = identity(sa);
        self.key.sign(&json!({
            "iss": LEGACY_ISSUER, "sub": format!("{USER_PREFIX}{namespace}:{name}"),
            "kubernetes.io/serviceaccount/namespace": namespace,
            "kubernetes.io/serviceaccount/secret.name": secret_name,
            "kubernetes.io/serviceaccount/service-account.name": name,
            "kubernetes.io/serviceaccount/service-account.uid": uid,
        }))
    }

    /// `/.well-known/openid-configuration`.
    pub fn discovery(&self) -> Value {
        json!({
            "issuer": ISSUER,
            "jwks_uri": format!("{ISSUER}/openid/v1/jwks"),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
        })
    }
}

fn identity(sa: &Value) -> (&str, &str, &str) {
    let meta = |f| crate::object::meta_str(sa, f).unwrap_or_default();
    (meta("namespace"), meta("name"), meta("uid"))
}

/// Fills a new Secret of type `kubernetes.io/service-account-token` (other Secrets are
/// left alone): its ServiceAccount's uid annotation, and `token`, `ca.crt`, `namespace`.
pub async fn fill_legacy_secret(
    issuer: &TokenIssuer,
    store: &dyn Store,
    secret: &mut Value,
) -> ApiResult<()> {
    if secret.get("type").and_then(Value::as_str) != Some(LEGACY_SECRET_TYPE) {
        return Ok(());
    }
    let rt = tug_api::registry::find("", "v1", "secrets")
        .ok_or_else(|| ApiError::internal("secrets are not registered"))?;
    let name = crate::object::meta_str(secret, "name")
        .unwrap_or_default()
        .to_string();
    let namespace = crate::object::meta_str(secret, "namespace")
        .unwrap_or_default()
        .to_string();
    let field = format!("metadata.annotations[{NAME_ANNOTATION}]");
    let sa_name = secret
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(NAME_ANNOTATION))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let Some(sa_name) = sa_name else {
        return Err(ApiError::invalid(rt, &name, &[FieldError {
            field,
            kind: ErrorType::Required,
            value: String::new(),
            detail: format!("a Secret of type {LEGACY_SECRET_TYPE} names its ServiceAccount in this annotation"),
        }]));
    };
    let sa = super::core_object(store, "serviceaccounts", Some(&namespace), &sa_name)
        .await
        .map_err(|why| ApiError::internal(why.0))?
        .ok_or_else(|| {
            ApiError::invalid(rt, &name, &[FieldError {
                field: field.clone(),
                kind: ErrorType::Invalid,
                value: format!("\"{sa_name}\""),
                detail: format!("no ServiceAccount of this name in namespace \"{namespace}\"; create it first"),
            }])
        })?;
    let token = issuer
        .legacy_token(&sa, &name)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let (_, _, uid) = identity(&sa);
    let annotations = &mut crate::object::meta_mut(secret)
        .entry("annotations")
        .or_insert_with(|| json!({}));
    annotations[UID_ANNOTATION] = json!(uid);
    let b64 = |s: &str| json!(base64::engine::general_purpose::STANDARD.encode(s));
    if !secret.get("data").is_some_and(Value::is_object) {
        secret["data"] = json!({});
    }
    secret["data"]["token"] = b64(&token);
    secret["data"]["ca.crt"] = b64(&issuer.ca_pem);
    secret["data"]["namespace"] = b64(&namespace);
    Ok(())
}

/// Authenticates ServiceAccount tokens.
pub struct ServiceAccountTokens {
    pub issuer: Arc<TokenIssuer>,
    pub store: Arc<dyn Store>,
}

fn jwt_rejection(e: JwtError) -> Rejection {
    Rejection(match e {
        JwtError::Malformed => "the token is not a well-formed JWT",
        JwtError::Algorithm => "the token is not signed with ES256",
        JwtError::Signature | JwtError::Sign => "the token's signature is invalid",
    })
}

impl ServiceAccountTokens {
    async fn user(&self, token: &str, audiences: &[String]) -> Outcome {
        // Only tokens of our issuers are ours; anything else may be another authenticator's.
        let Ok(unverified) = jwt::unverified_claims(token) else {
            return Outcome::NotMine;
        };
        let legacy = match unverified.get("iss").and_then(Value::as_str) {
            Some(ISSUER) => false,
            Some(LEGACY_ISSUER) => true,
            _ => return Outcome::NotMine,
        };
        let claims = match self.issuer.key.verify(token) {
            Ok(c) => c,
            Err(e) => return Outcome::Rejected(jwt_rejection(e)),
        };
        let checked = if legacy {
            self.check_legacy(token, &claims).await
        } else {
            self.check_bound(&claims, audiences).await
        };
        match checked {
            Ok((user, audiences)) => Outcome::Authenticated { user, audiences },
            Err(why) => Outcome::Rejected(why),
        }
    }

    /// A stored object that must exist with the uid a token names.
    async fn live(
        &self,
        plural: &str,
        namespace: &str,
        name: &str,
        uid: &str,
        gone: &'static str,
    ) -> Result<Value, Rejection> {
        let object = super::core_object(self.store.as_ref(), plural, Some(namespace), name)
            .await?
            .ok_or(Rejection(gone))?;
        if crate::object::meta_str(&object, "uid") != Some(uid)
            || object.pointer("/metadata/deletionTimestamp").is_some()
        {
            return Err(Rejection(gone));
        }
        Ok(object)
    }

    async fn check_bound(
        &self,
        claims: &Value,
        audiences: &[String],
    ) -> Result<(User, Vec<String>), Rejection> {
        let now = jiff::Timestamp::now().as_second();
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or(Rejection("the token has no expiry"))?;
        if exp <= now {
            return Err(Rejection("the token has expired"));
        }
        // A minute of leeway for clocks, as Kubernetes allows.
        if claims
            .get("nbf")
            .and_then(Value::as_i64)
            .is_some_and(|nbf| nbf > now + 60)
        {
            return Err(Rejection("the token is not valid yet"));
        }
        let token_audiences: Vec<String> = match claims.get("aud") {
            Some(Value::String(one)) => vec![one.clone()],
            Some(Value::Array(many)) => many
                .iter()
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        let matched: Vec<String> = audiences
            .iter()
            .filter(|a| token_audiences.contains(a))
            .cloned()
            .collect();
        if matched.is_empty() {
            return Err(Rejection(
                "the token's audiences do not include the target audience",
            ));
        }
        let k8s = claims
            .get("kubernetes.io")
            .ok_or(Rejection("the token has no kubernetes.io claim"))?;
        let s = |p: &str| k8s.pointer(p).and_then(Value::as_str).unwrap_or_default();
        let namespace = s("/namespace");
        let (name, uid) = (s("/serviceaccount/name"), s("/serviceaccount/uid"));
        if claims.get("sub").and_then(Value::as_str)
            != Some(&format!("{USER_PREFIX}{namespace}:{name}"))
        {
            return Err(Rejection(
                "the token's subject does not match its ServiceAccount",
            ));
        }
        self.live(
            "serviceaccounts",
            namespace,
            name,
            uid,
            "the token's ServiceAccount no longer exists",
        )
        .await?;
        let mut user = sa_user(namespace, name, uid);
        if let Some(jti) = claims.get("jti").and_then(Value::as_str) {
            user.extra.insert(
                "authentication.kubernetes.io/credential-id".into(),
                vec![format!("JTI={jti}")],
            );
        }
        for (claim, plural) in [("pod", "pods"), ("secret", "secrets")] {
            if k8s.get(claim).is_none() {
                continue;
            }
            let (bound_name, bound_uid) =
                (s(&format!("/{claim}/name")), s(&format!("/{claim}/uid")));
            self.live(
                plural,
                namespace,
                bound_name,
                bound_uid,
                "the object the token is bound to no longer exists",
            )
            .await?;
            if claim == "pod" {
                user.extra.insert(
                    "authentication.kubernetes.io/pod-name".into(),
                    vec![bound_name.to_string()],
                );
                user.extra.insert(
                    "authentication.kubernetes.io/pod-uid".into(),
                    vec![bound_uid.to_string()],
                );
            }
        }
        Ok((user, matched))
    }

    async fn check_legacy(
        &self,
        token: &str,
        claims: &Value,
    ) -> Result<(User, Vec<String>), Rejection> {
        let s = |f: &str| claims.get(f).and_then(Value::as_str).unwrap_or_default();
        let namespace = s("kubernetes.io/serviceaccount/namespace");
        let name = s("kubernetes.io/serviceaccount/service-account.name");
        let uid = s("kubernetes.io/serviceaccount/service-account.uid");
        let secret_name = s("kubernetes.io/serviceaccount/secret.name");
        let secret =
            super::core_object(self.store.as_ref(), "secrets", Some(namespace), secret_name)
                .await?
                .ok_or(Rejection("the token's Secret no longer exists"))?;
        let holds = super::bootstrap::secret_field(&secret, "token")
            .is_some_and(|t| super::same_secret(t.as_bytes(), token.as_bytes()));
        if !holds || secret.pointer("/metadata/deletionTimestamp").is_some() {
            return Err(Rejection("the token's Secret no longer holds it"));
        }
        self.live(
            "serviceaccounts",
            namespace,
            name,
            uid,
            "the token's ServiceAccount no longer exists",
        )
        .await?;
        Ok((sa_user(namespace, name, uid), Vec::new()))
    }
}

/// The user of a ServiceAccount.
pub fn sa_user(namespace: &str, name: &str, uid: &str) -> User {
    User {
        name: format!("{USER_PREFIX}{namespace}:{name}"),
        uid: uid.to_string(),
        groups: sa_groups(namespace),
        ..User::default()
    }
}

/// The groups of every ServiceAccount of `namespace`.
pub fn sa_groups(namespace: &str) -> Vec<String> {
    vec![
        "system:serviceaccounts".into(),
        format!("system:serviceaccounts:{namespace}"),
    ]
}

/// The namespace and name of a ServiceAccount user name.
pub fn parse_user(name: &str) -> Option<(&str, &str)> {
    name.strip_prefix(USER_PREFIX)?.split_once(':')
}

impl Authenticator for ServiceAccountTokens {
    fn authenticate<'a>(&'a self, credentials: &'a Credentials<'a>) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let Some(token) = credentials.token else {
                return Outcome::NotMine;
            };
            match self.user(token, credentials.audiences).await {
                // Legacy tokens carry no audience and are good for whatever is asked.
                Outcome::Authenticated { user, audiences } if audiences.is_empty() => {
                    Outcome::any_audience(user, credentials)
                }
                other => other,
            }
        })
    }
}
