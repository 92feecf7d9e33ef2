//! Authentication: who is asking. Each request carries [`Credentials`] (the
//! verified client certificate of its connection, its headers); an
//! [`Authenticator`] turns them into a [`User`] or declines. The server asks
//! a chain of them in order; the security issue adds bearer tokens and
//! ServiceAccount tokens as further links, and an authorizer after it.

use std::sync::Arc;

use axum::http::HeaderMap;
use rustls::pki_types::CertificateDer;

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
}

impl User {
    /// The user of a request no authenticator recognised.
    pub fn anonymous() -> User {
        User {
            name: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
        }
    }
}

/// What a request presents to prove who it is.
pub struct Credentials<'a> {
    /// The client certificate chain of the connection, already verified
    /// against the cluster CA by the TLS layer.
    pub client_certificates: Option<&'a [CertificateDer<'static>]>,
    pub headers: &'a HeaderMap,
}

/// One way of recognising users.
pub trait Authenticator: Send + Sync {
    /// The user the credentials prove, or `None` if this authenticator does not recognise them.
    fn authenticate(&self, credentials: &Credentials<'_>) -> Option<User>;
}

/// Users of client certificates signed by the cluster CA: the subject's CN
/// is the user name, its O entries the groups (as Kubernetes reads them).
pub struct ClientCertificate;

impl Authenticator for ClientCertificate {
    fn authenticate(&self, credentials: &Credentials<'_>) -> Option<User> {
        let leaf = credentials.client_certificates?.first()?;
        let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
        let subject = cert.subject();
        let name = subject
            .iter_common_name()
            .next()?
            .as_str()
            .ok()?
            .to_string();
        let groups = subject
            .iter_organization()
            .filter_map(|o| o.as_str().ok().map(str::to_string))
            .collect();
        Some(User { name, groups })
    }
}

/// Asks each authenticator in turn; the first that recognises the request wins.
pub struct Chain(pub Vec<Arc<dyn Authenticator>>);

impl Authenticator for Chain {
    fn authenticate(&self, credentials: &Credentials<'_>) -> Option<User> {
        self.0.iter().find_map(|a| a.authenticate(credentials))
    }
}
