//! The cluster's certificates, generated at first start as k3s does: a CA, a
//! serving certificate for this machine's names, and an admin client
//! certificate (CN=admin, O=system:masters), all under `<data-dir>/tls/`, plus
//! the admin kubeconfig beside them.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;

/// What can go wrong preparing TLS.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("failed to {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to generate certificates: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("failed to read PEM from {}: {message}", path.display())]
    Pem { path: PathBuf, message: String },
    #[error("invalid TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("invalid client CA: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// The PEM files of the cluster's certificates.
#[derive(Debug, Clone)]
pub struct Pki {
    pub dir: PathBuf,
}

const FILES: [&str; 6] = [
    "ca.crt",
    "ca.key",
    "server.crt",
    "server.key",
    "admin.crt",
    "admin.key",
];

impl Pki {
    /// Loads the certificates under `<data_dir>/tls`, generating them all if any is missing.
    pub fn load_or_create(data_dir: &Path) -> Result<Pki, TlsError> {
        let dir = data_dir.join("tls");
        let pki = Pki { dir };
        if FILES.iter().all(|f| pki.dir.join(f).exists()) {
            return Ok(pki);
        }
        std::fs::create_dir_all(&pki.dir).map_err(|source| TlsError::Io {
            action: "create",
            path: pki.dir.clone(),
            source,
        })?;
        pki.generate()?;
        Ok(pki)
    }

    fn generate(&self) -> Result<(), TlsError> {
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.distinguished_name = name("tug-ca", None);
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca.not_after = rcgen::date_time_ymd(2036, 1, 1);
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, &ca_key);

        let server_key = KeyPair::generate()?;
        let mut server = CertificateParams::new(Vec::<String>::new())?;
        server.distinguished_name = name("tug-apiserver", None);
        server.subject_alt_names = server_names();
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        server.not_after = rcgen::date_time_ymd(2036, 1, 1);
        let server_cert = server.signed_by(&server_key, &issuer)?;

        let admin_key = KeyPair::generate()?;
        let mut admin = CertificateParams::new(Vec::<String>::new())?;
        admin.distinguished_name = name("admin", Some("system:masters"));
        admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        admin.not_after = rcgen::date_time_ymd(2036, 1, 1);
        let admin_cert = admin.signed_by(&admin_key, &issuer)?;

        let contents = [
            ca_cert.pem(),
            ca_key.serialize_pem(),
            server_cert.pem(),
            server_key.serialize_pem(),
            admin_cert.pem(),
            admin_key.serialize_pem(),
        ];
        for (file, pem) in FILES.iter().zip(contents) {
            write_private(&self.dir.join(file), pem.as_bytes())?;
        }
        Ok(())
    }

    fn read(&self, file: &str) -> Result<Vec<u8>, TlsError> {
        let path = self.dir.join(file);
        std::fs::read(&path).map_err(|source| TlsError::Io {
            action: "read",
            path,
            source,
        })
    }

    fn certs(&self, file: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        let pem = self.read(file)?;
        CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Pem {
                path: self.dir.join(file),
                message: e.to_string(),
            })
    }

    /// The verifier of client certificates signed by the cluster CA.
    pub fn client_verifier(&self) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for cert in self.certs("ca.crt")? {
            roots.add(cert)?;
        }
        Ok(
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()?,
        )
    }

    /// The rustls server configuration: our serving certificate; client
    /// certificates are optional (health checks and `/version` need none) and
    /// their chain is checked by the authenticator, so an untrusted one gets a 401.
    pub fn server_config(&self) -> Result<rustls::ServerConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Arc::new(crate::authn::x509::RequestClientCertificate(
            self.client_verifier()?,
        ));
        let key_pem = self.read("server.key")?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Pem {
            path: self.dir.join("server.key"),
            message: e.to_string(),
        })?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.certs("server.crt")?, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }

    /// The admin kubeconfig for a server at `https://127.0.0.1:<port>`, certificates embedded.
    pub fn kubeconfig(&self, port: u16) -> Result<String, TlsError> {
        let b64 = |file: &str| -> Result<String, TlsError> {
            Ok(base64::engine::general_purpose::STANDARD.encode(self.read(file)?))
        };
        Ok(format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: tug\n  cluster:\n    server: https://127.0.0.1:{port}\n    certificate-authority-data: {}\ncontexts:\n- name: tug\n  context:\n    cluster: tug\n    user: admin\ncurrent-context: tug\npreferences: {{}}\nusers:\n- name: admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
            b64("ca.crt")?,
            b64("admin.crt")?,
            b64("admin.key")?,
        ))
    }
}

/// Writes `contents` to `path`, readable by the owner only.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| TlsError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    file.write_all(contents).map_err(io)
}

fn name(common_name: &str, organization: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    if let Some(o) = organization {
        dn.push(DnType::OrganizationName, o);
    }
    dn
}

/// localhost, 127.0.0.1, ::1, the host name, and the in-cluster names of the API.
fn server_names() -> Vec<SanType> {
    let mut names: Vec<SanType> = [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]
    .iter()
    .filter_map(|n| Some(SanType::DnsName((*n).try_into().ok()?)))
    .collect();
    if let Some(host) = hostname() {
        if let Ok(dns) = host.as_str().try_into() {
            names.push(SanType::DnsName(dns));
        }
    }
    for ip in ["127.0.0.1", "::1", "10.43.0.1"] {
        if let Ok(ip) = ip.parse::<IpAddr>() {
            names.push(SanType::IpAddress(ip));
        }
    }
    names
}

fn hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}
