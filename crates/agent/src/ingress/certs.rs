//! TLS for the ingress's HTTPS listener: the certificates of the Ingresses' `spec.tls`
//! sections, read from `kubernetes.io/tls` Secrets, chosen per connection by the name the
//! client asks for (SNI). A name no section covers (or a client sending none) gets a
//! section without hosts if there is one, else a self-signed certificate made at start.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::routes::{normalize_host, Problem, TlsEntry};
use crate::Error;

/// The certificates by host name.
#[derive(Debug)]
pub struct Certs {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.com` under `example.com`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    fallback: Arc<CertifiedKey>,
}

impl Certs {
    /// Only the fallback certificate (before the first sync).
    pub fn empty(fallback: &Arc<CertifiedKey>) -> Certs {
        Certs { exact: HashMap::new(), wildcard: HashMap::new(), fallback: fallback.clone() }
    }

    fn find(&self, name: Option<&str>) -> Arc<CertifiedKey> {
        let Some(name) = name.map(normalize_host) else { return self.fallback.clone() };
        self.exact
            .get(&name)
            .or_else(|| name.split_once('.').and_then(|(_, parent)| self.wildcard.get(parent)))
            .unwrap_or(&self.fallback)
            .clone()
    }

    /// The certificates the TLS sections ask for, from `secrets` (oldest Ingress first wins a
    /// host); what cannot be used is reported as a problem and its hosts get `fallback`.
    pub fn build(entries: &[TlsEntry], secrets: &[Arc<Secret>], fallback: &Arc<CertifiedKey>, problems: &mut Vec<Problem>) -> Certs {
        let secrets: HashMap<(String, String), &Arc<Secret>> =
            secrets.iter().map(|s| ((s.namespace().unwrap_or_default(), s.name_any()), s)).collect();
        let mut certs = Certs { exact: HashMap::new(), wildcard: HashMap::new(), fallback: fallback.clone() };
        let mut default: Option<Arc<CertifiedKey>> = None;
        let mut loaded: HashMap<(String, String), Option<Arc<CertifiedKey>>> = HashMap::new();
        for entry in entries {
            let key = (entry.namespace.clone(), entry.secret.clone());
            let cert = loaded
                .entry(key.clone())
                .or_insert_with(|| {
                    let read = match secrets.get(&key) {
                        Some(secret) => certified_key(secret),
                        None => Err(format!("TLS secret \"{}/{}\" not found (or not of type kubernetes.io/tls)", key.0, key.1)),
                    };
                    read.map_err(|message| {
                        problems.push(Problem { ingress: entry.ingress.clone(), reason: "BadTLSSecret", message });
                    })
                    .ok()
                })
                .clone();
            let Some(cert) = cert else { continue };
            if entry.hosts.is_empty() {
                default.get_or_insert(cert.clone());
            }
            for host in &entry.hosts {
                let map = match host.strip_prefix("*.") {
                    Some(parent) => certs.wildcard.entry(parent.to_string()),
                    None => certs.exact.entry(host.clone()),
                };
                map.or_insert(cert.clone());
            }
        }
        if let Some(default) = default {
            certs.fallback = default;
        }
        certs
    }
}

/// The certificate chain and key of a `kubernetes.io/tls` Secret, or what is wrong with it.
fn certified_key(secret: &Secret) -> Result<Arc<CertifiedKey>, String> {
    let name = format!("{}/{}", secret.namespace().unwrap_or_default(), secret.name_any());
    let field = |key: &str| {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|b| b.0.as_slice())
            .ok_or_else(|| format!("TLS secret \"{name}\" has no data.{key}"))
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(field("tls.crt")?)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("TLS secret \"{name}\": data.tls.crt is not PEM certificates: {e}"))?;
    if chain.is_empty() {
        return Err(format!("TLS secret \"{name}\": data.tls.crt holds no certificate"));
    }
    let key = PrivateKeyDer::from_pem_slice(field("tls.key")?)
        .map_err(|e| format!("TLS secret \"{name}\": data.tls.key is not a PEM private key: {e}"))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| format!("TLS secret \"{name}\": data.tls.key: {e}"))?;
    let certified = CertifiedKey::new(chain, signer);
    certified
        .keys_match()
        .map_err(|e| format!("TLS secret \"{name}\": data.tls.key does not belong to data.tls.crt's certificate: {e}"))?;
    Ok(Arc::new(certified))
}

/// A self-signed certificate for names nothing else covers (as ingress-nginx's "fake" one).
pub fn self_signed() -> Result<Arc<CertifiedKey>, Error> {
    let internal = |what: &str, e: &dyn std::fmt::Display| Error::Internal(format!("ingress: {what}: {e}"));
    let key = rcgen::KeyPair::generate().map_err(|e| internal("generate a key", &e))?;
    let mut params = rcgen::CertificateParams::new(vec!["ingress.tug.invalid".to_string()]).map_err(|e| internal("certificate names", &e))?;
    params.distinguished_name.push(rcgen::DnType::CommonName, "Tugboat Ingress Default Certificate");
    let cert = params.self_signed(&key).map_err(|e| internal("sign the default certificate", &e))?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signer = rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| internal("the default key", &e))?;
    Ok(Arc::new(CertifiedKey::new(vec![cert.der().clone()], signer)))
}

/// Picks the certificate by SNI from the current [`Certs`], which the controller replaces.
#[derive(Debug)]
pub struct Resolver(pub RwLock<Arc<Certs>>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let certs = self.0.read().map(|c| c.clone()).ok()?;
        Some(certs.find(hello.server_name()))
    }
}

/// The HTTPS listener's TLS configuration over `resolver`.
pub fn server_config(resolver: Arc<Resolver>) -> Result<rustls::ServerConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Internal(format!("ingress TLS versions: {e}")))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingress::routes::IngressRef;
    use serde_json::json;

    fn secret(name: &str, host: &str) -> Arc<Secret> {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![host.to_string()]).unwrap().self_signed(&key).unwrap();
        let b64 = |s: String| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "default"},
                "type": "kubernetes.io/tls",
                "data": {"tls.crt": b64(cert.pem()), "tls.key": b64(key.serialize_pem())},
            }))
            .unwrap(),
        )
    }

    fn entry(hosts: &[&str], secret: &str) -> TlsEntry {
        TlsEntry {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            namespace: "default".into(),
            secret: secret.into(),
            ingress: IngressRef { namespace: "default".into(), name: "web".into(), uid: "u".into() },
        }
    }

    fn subject(cert: &CertifiedKey) -> String {
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.cert[0].as_ref()).unwrap();
        let names = parsed.subject_alternative_name().unwrap().map(|s| format!("{:?}", s.value.general_names)).unwrap_or_default();
        names
    }

    #[test]
    fn names_pick_their_secrets_certificate_and_the_rest_get_the_fallback() {
        let fallback = self_signed().unwrap();
        let secrets = [secret("a-tls", "a.example.com"), secret("w-tls", "*.example.org")];
        let mut problems = Vec::new();
        let entries = [entry(&["a.example.com"], "a-tls"), entry(&["*.example.org"], "w-tls"), entry(&["b.example.com"], "missing")];
        let certs = Certs::build(&entries, &secrets, &fallback, &mut problems);
        assert!(subject(&certs.find(Some("A.example.com"))).contains("a.example.com"));
        assert!(subject(&certs.find(Some("x.example.org"))).contains("*.example.org"));
        assert!(subject(&certs.find(Some("b.example.com"))).contains("ingress.tug.invalid"));
        assert!(subject(&certs.find(None)).contains("ingress.tug.invalid"));
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].reason, "BadTLSSecret");
        assert!(problems[0].message.contains("\"default/missing\" not found"), "{}", problems[0].message);
    }

    #[test]
    fn a_secret_whose_key_does_not_match_its_certificate_is_refused() {
        let good = secret("good", "a.example.com");
        let other = secret("other", "b.example.com");
        let mut mixed = (*good).clone();
        let data = mixed.data.as_mut().unwrap();
        data.insert("tls.key".into(), other.data.as_ref().unwrap()["tls.key"].clone());
        mixed.metadata.name = Some("mixed".into());
        let mut problems = Vec::new();
        Certs::build(&[entry(&["a.example.com"], "mixed")], &[Arc::new(mixed)], &self_signed().unwrap(), &mut problems);
        assert!(problems[0].message.contains("does not belong"), "{}", problems[0].message);
    }
}
