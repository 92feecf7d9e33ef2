//! Authentication: who is asking. Each request presents [`Credentials`] (the
//! client certificate of its connection, a bearer token); a chain of
//! [`Authenticator`]s, one per way of proving who one is, turns them into a
//! [`User`], declines them, or rejects them (401). One file per authenticator:
//! [`x509`] (client certificates), [`token_file`] (`--token-auth-file`),
//! [`bootstrap`] (join tokens kept as Secrets), [`serviceaccount`] (signed
//! JWTs, with [`jwt`] the signing and verification), then [`impersonation`]
//! (the `Impersonate-*` headers, checked with the authorizer).
//!
//! Invariant: a presented token is never put in a message, a log line or a
//! Status; rejections name only why.

pub mod bootstrap;
pub mod impersonation;
pub mod jwt;
pub mod serviceaccount;
pub mod token_file;
pub mod x509;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::http::{header, HeaderMap};
use rustls::pki_types::CertificateDer;

/// The group of every authenticated user.
pub const AUTHENTICATED: &str = "system:authenticated";
/// The group of the anonymous user.
pub const UNAUTHENTICATED: &str = "system:unauthenticated";
/// The user of requests that present no credentials, when anonymous requests are allowed.
pub const ANONYMOUS: &str = "system:anonymous";

/// Bearer tokens longer than this are refused without looking at them.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// An authenticated user, as Kubernetes' `user.Info`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    /// Further facts an authenticator knows (e.g. the pod a ServiceAccount token is bound to).
    pub extra: BTreeMap<String, Vec<String>>,
}

impl User {
    /// A user with a name and groups, no uid and no extra.
    pub fn new(name: impl Into<String>, groups: Vec<String>) -> User {
        User {
            name: name.into(),
            groups,
            ..User::default()
        }
    }

    /// The user of a request that presents no credentials.
    pub fn anonymous() -> User {
        User::new(ANONYMOUS, vec![UNAUTHENTICATED.into()])
    }

    /// Adds `group` unless the user already has it.
    pub fn add_group(&mut self, group: &str) {
        if !self.groups.iter().any(|g| g == group) {
            self.groups.push(group.to_string());
        }
    }

    /// The user as `userInfo` of TokenReview and SelfSubjectReview statuses.
    pub fn to_user_info(&self) -> serde_json::Value {
        let mut info = serde_json::json!({"username": self.name, "groups": self.groups});
        if !self.uid.is_empty() {
            info["uid"] = self.uid.clone().into();
        }
        if !self.extra.is_empty() {
            info["extra"] = serde_json::json!(self.extra);
        }
        info
    }
}

/// What a request presents to prove who it is.
pub struct Credentials<'a> {
    /// The client certificate chain of the connection (leaf first), as the client sent it:
    /// the [`x509`] authenticator verifies it against the cluster CA.
    pub client_certificates: Option<&'a [CertificateDer<'static>]>,
    /// The bearer token of the `Authorization` header.
    pub token: Option<&'a str>,
    /// The audiences the credentials must be meant for (the API server's own, or a
    /// TokenReview's `spec.audiences`).
    pub audiences: &'a [String],
}

impl Credentials<'_> {
    fn presented(&self) -> bool {
        self.token.is_some() || self.client_certificates.is_some_and(|c| !c.is_empty())
    }
}

/// The bearer token of a request: `None` when there is no `Authorization: Bearer` header,
/// `Err` when there is one that cannot be a token (not visible ASCII, too long, empty).
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, Rejection> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    if value.len() > MAX_TOKEN_LEN {
        return Err(Rejection("the bearer token is too long"));
    }
    let text = value
        .to_str()
        .map_err(|_| Rejection("the Authorization header is not visible ASCII"))?;
    let Some((scheme, token)) = text.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(Rejection("the bearer token is empty"));
    }
    Ok(Some(token))
}

/// Why credentials were refused; never contains the credentials themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection(pub &'static str);

/// The answer of one authenticator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The credentials prove this user, for these of the requested audiences.
    Authenticated { user: User, audiences: Vec<String> },
    /// Not credentials this authenticator knows; the next one is asked.
    NotMine,
    /// Credentials this authenticator knows, and they are not valid.
    Rejected(Rejection),
}

impl Outcome {
    /// Authenticated for all the audiences asked for (authenticators whose credentials
    /// are not bound to an audience).
    pub fn any_audience(user: User, credentials: &Credentials<'_>) -> Outcome {
        Outcome::Authenticated {
            user,
            audiences: credentials.audiences.to_vec(),
        }
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One way of recognising users.
pub trait Authenticator: Send + Sync {
    fn authenticate<'a>(&'a self, credentials: &'a Credentials<'a>) -> BoxFuture<'a, Outcome>;
}

/// Asks each authenticator in turn; the first that recognises the credentials wins, and
/// its user gains `system:authenticated`. Credentials nobody recognises are refused;
/// a request that presents none is the anonymous user if `anonymous` is on.
pub struct Chain {
    pub authenticators: Vec<Arc<dyn Authenticator>>,
    pub anonymous: bool,
}

impl Authenticator for Chain {
    fn authenticate<'a>(&'a self, credentials: &'a Credentials<'a>) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let mut rejection = None;
            for authenticator in &self.authenticators {
                match authenticator.authenticate(credentials).await {
                    Outcome::Authenticated {
                        mut user,
                        audiences,
                    } => {
                        user.add_group(AUTHENTICATED);
                        return Outcome::Authenticated { user, audiences };
                    }
                    Outcome::NotMine => {}
                    Outcome::Rejected(why) => rejection = rejection.or(Some(why)),
                }
            }
            match rejection {
                Some(why) => Outcome::Rejected(why),
                None if credentials.presented() => {
                    Outcome::Rejected(Rejection("the credentials are not recognised"))
                }
                None if self.anonymous => Outcome::any_audience(User::anonymous(), credentials),
                None => Outcome::Rejected(Rejection("no credentials were presented")),
            }
        })
    }
}

/// A stored core/v1 object of `plural` (as the current API version), if it exists.
async fn core_object(
    store: &dyn tug_store::Store,
    plural: &str,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<serde_json::Value>, Rejection> {
    let rt = tug_api::registry::find("", "v1", plural).ok_or(Rejection(
        "a kind the credentials refer to is not registered",
    ))?;
    match store.get(&rt.key(namespace, name)).await {
        Ok(Some(kv)) => crate::object::from_kv(rt, &kv)
            .map(Some)
            .map_err(|_| Rejection("a stored object the credentials refer to is unreadable")),
        Ok(None) => Ok(None),
        Err(_) => Err(Rejection(
            "the store could not be read to check the credentials",
        )),
    }
}

/// Compares two secrets in time that depends only on their lengths.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Outcome);

    impl Authenticator for Fixed {
        fn authenticate<'a>(&'a self, _: &'a Credentials<'a>) -> BoxFuture<'a, Outcome> {
            Box::pin(async move { self.0.clone() })
        }
    }

    fn chain(outcomes: Vec<Outcome>, anonymous: bool) -> Chain {
        Chain {
            authenticators: outcomes
                .into_iter()
                .map(|o| Arc::new(Fixed(o)) as Arc<dyn Authenticator>)
                .collect(),
            anonymous,
        }
    }

    fn run(chain: &Chain, token: Option<&str>) -> Outcome {
        let credentials = Credentials {
            client_certificates: None,
            token,
            audiences: &[],
        };
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(chain.authenticate(&credentials))
    }

    #[test]
    fn the_first_recognising_authenticator_wins_and_adds_authenticated_once() {
        let mut user = User::new("u", vec![AUTHENTICATED.into(), "g".into()]);
        let c = chain(
            vec![
                Outcome::NotMine,
                Outcome::Authenticated {
                    user: user.clone(),
                    audiences: vec![],
                },
                Outcome::Rejected(Rejection("never asked")),
            ],
            false,
        );
        user.groups = vec![AUTHENTICATED.into(), "g".into()];
        assert_eq!(
            run(&c, Some("t")),
            Outcome::Authenticated {
                user,
                audiences: vec![]
            }
        );
        let c = chain(
            vec![Outcome::Authenticated {
                user: User::new("v", vec![]),
                audiences: vec![],
            }],
            false,
        );
        let Outcome::Authenticated { user, .. } = run(&c, Some("t")) else {
            panic!("not authenticated")
        };
        assert_eq!(user.groups, vec![AUTHENTICATED.to_string()]);
    }

    #[test]
    fn anonymous_only_without_credentials_and_only_when_enabled() {
        let on = chain(vec![Outcome::NotMine], true);
        let Outcome::Authenticated { user, .. } = run(&on, None) else {
            panic!("not anonymous")
        };
        assert_eq!(user, User::anonymous());
        assert!(matches!(run(&on, Some("garbage")), Outcome::Rejected(_)));
        let off = chain(vec![Outcome::NotMine], false);
        assert!(matches!(run(&off, None), Outcome::Rejected(_)));
        let rejecting = chain(vec![Outcome::Rejected(Rejection("expired"))], true);
        assert_eq!(
            run(&rejecting, Some("t")),
            Outcome::Rejected(Rejection("expired"))
        );
    }

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_header() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), Ok(None));
        h.insert(header::AUTHORIZATION, "Bearer  abc ".parse().unwrap());
        assert_eq!(bearer_token(&h), Ok(Some("abc")));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer_token(&h), Ok(None));
        h.insert(header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert!(bearer_token(&h).is_err());
        h.insert(
            header::AUTHORIZATION,
            format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN))
                .parse()
                .unwrap(),
        );
        assert!(bearer_token(&h).is_err());
    }
}
