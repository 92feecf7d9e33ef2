//! Client certificates signed by the cluster CA: the subject's CN is the user
//! name, its O entries the groups (as Kubernetes reads them).
//!
//! As in Kubernetes, the TLS layer only asks for a certificate and checks that
//! the client holds its key ([`RequestClientCertificate`]); whether the chain is
//! trusted is decided here, per request, so that an untrusted or expired
//! certificate gets a 401 Status instead of a failed handshake. A verified
//! certificate's user is remembered (by the SHA-256 of the certificate) until
//! the certificate expires: the CA does not change while the server runs, so
//! the answer cannot change before then.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use super::{Authenticator, BoxFuture, Credentials, Outcome, Rejection, User};

/// Authenticates the client certificate of the connection against the cluster CA.
pub struct ClientCertificate {
    /// The CA's verifier (chain, validity period, client-auth usage).
    verifier: Arc<dyn ClientCertVerifier>,
    /// Verified certificates (by SHA-256 of the chain): their user and when they expire.
    verified: Mutex<HashMap<Vec<u8>, (User, i64)>>,
}

/// How many verified certificates are remembered at most; past it the memory starts over.
const REMEMBERED: usize = 4096;

impl ClientCertificate {
    pub fn new(verifier: Arc<dyn ClientCertVerifier>) -> ClientCertificate {
        ClientCertificate {
            verifier,
            verified: Mutex::new(HashMap::new()),
        }
    }

    fn user(&self, chain: &[CertificateDer<'static>]) -> Outcome {
        let Some((leaf, intermediates)) = chain.split_first() else {
            return Outcome::NotMine;
        };
        let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
        for cert in chain {
            digest.update(&(cert.len() as u64).to_be_bytes());
            digest.update(cert.as_ref());
        }
        let key = digest.finish().as_ref().to_vec();
        let now = UnixTime::now().as_secs() as i64;
        if let Ok(verified) = self.verified.lock() {
            if let Some((user, not_after)) = verified.get(&key) {
                if now < *not_after {
                    return Outcome::Authenticated {
                        user: user.clone(),
                        audiences: Vec::new(),
                    };
                }
            }
        }
        let outcome = self.verify(leaf, intermediates);
        if let (Outcome::Authenticated { user, .. }, Some(not_after)) = (&outcome, not_after(leaf))
        {
            if let Ok(mut verified) = self.verified.lock() {
                if verified.len() >= REMEMBERED {
                    verified.clear();
                }
                verified.insert(key, (user.clone(), not_after));
            }
        }
        outcome
    }

    fn verify(&self, leaf: &CertificateDer<'_>, intermediates: &[CertificateDer<'_>]) -> Outcome {
        if self
            .verifier
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .is_err()
        {
            return Outcome::Rejected(Rejection(
                "the client certificate is not signed by the cluster CA, has expired, or is not for client authentication",
            ));
        }
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf.as_ref()) else {
            return Outcome::Rejected(Rejection("the client certificate cannot be parsed"));
        };
        let subject = cert.subject();
        let Some(name) = subject
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .filter(|cn| !cn.is_empty())
        else {
            return Outcome::Rejected(Rejection("the client certificate has no common name"));
        };
        let groups = subject
            .iter_organization()
            .filter_map(|o| o.as_str().ok().map(str::to_string))
            .collect();
        Outcome::Authenticated {
            user: User::new(name, groups),
            audiences: Vec::new(),
        }
    }
}

/// The end of a certificate's validity, in Unix seconds.
fn not_after(leaf: &CertificateDer<'_>) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    Some(cert.validity().not_after.timestamp())
}

impl Authenticator for ClientCertificate {
    fn authenticate<'a>(&'a self, credentials: &'a Credentials<'a>) -> BoxFuture<'a, Outcome> {
        let outcome = match credentials.client_certificates {
            Some(chain) => match self.user(chain) {
                Outcome::Authenticated { user, .. } => Outcome::any_audience(user, credentials),
                other => other,
            },
            None => Outcome::NotMine,
        };
        Box::pin(std::future::ready(outcome))
    }
}

/// The TLS side: asks clients for a certificate (optional: health checks and
/// bearer-token clients have none) and checks the handshake signature with the
/// inner verifier, but accepts any chain, leaving trust to [`ClientCertificate`].
#[derive(Debug)]
pub struct RequestClientCertificate(pub Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for RequestClientCertificate {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
