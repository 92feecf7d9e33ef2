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
        let ca = ca_params()?;
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, &ca_key);

        let (server_cert, server_key) = server_certificate(&issuer, &[])?;
        let (admin_cert, admin_key) = client_certificate("admin", &["system:masters"], &issuer)?;

        let contents = [ca_cert.pem(), ca_key.serialize_pem(), server_cert, server_key, admin_cert, admin_key];
        for (file, pem) in FILES.iter().zip(contents) {
            write_private(&self.dir.join(file), pem.as_bytes())?;
        }
        Ok(())
    }

    /// Makes sure the serving certificate also names `extra` (addresses or DNS names,
    /// `--tls-san`): a new one is signed by the cluster CA when the list changed. The
    /// list the certificate was made for is kept in `server-sans`.
    pub fn ensure_server_names(&self, extra: &[String]) -> Result<(), TlsError> {
        const SANS: &str = "server-sans";
        let mut wanted: Vec<&str> = extra.iter().map(|n| n.trim()).filter(|n| !n.is_empty()).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let had = std::fs::read_to_string(self.dir.join(SANS)).unwrap_or_default();
        if had.lines().collect::<Vec<_>>() == wanted {
            return Ok(());
        }
        let ca_pem = String::from_utf8_lossy(&self.read("ca.key")?).into_owned();
        let ca_key = KeyPair::from_pem(&ca_pem)?;
        let issuer = Issuer::new(ca_params()?, &ca_key);
        let (cert, key) = server_certificate(&issuer, &wanted)?;
        write_private(&self.dir.join("server.key"), key.as_bytes())?;
        write_private(&self.dir.join("server.crt"), cert.as_bytes())?;
        write_private(&self.dir.join(SANS), wanted.join("\n").as_bytes())
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
        let server = format!("https://127.0.0.1:{port}");
        self.kubeconfig_with(&server, "admin", &self.read("admin.crt")?, &self.read("admin.key")?)
    }

    /// A kubeconfig for `user` (in `groups`) at `server`, with a new client certificate
    /// signed by the cluster CA: how a user gets credentials (`tug kubeconfig --user`).
    pub fn user_kubeconfig(&self, server: &str, user: &str, groups: &[&str]) -> Result<String, TlsError> {
        let ca_pem = String::from_utf8_lossy(&self.read("ca.key")?).into_owned();
        let ca_key = KeyPair::from_pem(&ca_pem)?;
        let issuer = Issuer::new(ca_params()?, &ca_key);
        let (cert, key) = client_certificate(user, groups, &issuer)?;
        self.kubeconfig_with(server, user, cert.as_bytes(), key.as_bytes())
    }

    /// The client certificate the API server presents to node agents (kube-apiserver's
    /// `--kubelet-client-certificate`: CN `kube-apiserver-kubelet-client`, O `system:masters`),
    /// made at first use and kept as `kubelet-client.crt`/`.key`.
    pub fn kubelet_client(&self) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
        const CERT: &str = "kubelet-client.crt";
        const KEY: &str = "kubelet-client.key";
        if !self.dir.join(CERT).exists() || !self.dir.join(KEY).exists() {
            let ca_pem = String::from_utf8_lossy(&self.read("ca.key")?).into_owned();
            let ca_key = KeyPair::from_pem(&ca_pem)?;
            let issuer = Issuer::new(ca_params()?, &ca_key);
            let (cert, key) = client_certificate("kube-apiserver-kubelet-client", &["system:masters"], &issuer)?;
            write_private(&self.dir.join(KEY), key.as_bytes())?;
            write_private(&self.dir.join(CERT), cert.as_bytes())?;
        }
        let key = PrivateKeyDer::from_pem_slice(&self.read(KEY)?).map_err(|e| TlsError::Pem {
            path: self.dir.join(KEY),
            message: e.to_string(),
        })?;
        Ok((self.certs(CERT)?, key))
    }

    fn kubeconfig_with(&self, server: &str, user: &str, cert: &[u8], key: &[u8]) -> Result<String, TlsError> {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let user = serde_json::to_string(user).unwrap_or_default();
        Ok(format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: tug\n  cluster:\n    server: {server}\n    certificate-authority-data: {}\ncontexts:\n- name: tug\n  context:\n    cluster: tug\n    user: {user}\ncurrent-context: tug\npreferences: {{}}\nusers:\n- name: {user}\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
            b64(&self.read("ca.crt")?),
            b64(cert),
            b64(key),
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

fn name(common_name: &str, organizations: &[&str]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    for o in organizations {
        dn.push(DnType::OrganizationName, *o);
    }
    dn
}

/// The cluster CA's parameters (its subject is what signed certificates name as issuer).
fn ca_params() -> Result<CertificateParams, TlsError> {
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name = name("tug-ca", &[]);
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_after = rcgen::date_time_ymd(2036, 1, 1);
    Ok(ca)
}

/// A client certificate (CN = user, O = groups, as Kubernetes reads them) and its key, as PEM.
fn client_certificate(user: &str, groups: &[&str], issuer: &Issuer<'_, &KeyPair>) -> Result<(String, String), TlsError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = name(user, groups);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// The API server's serving certificate and key (PEM), for [`server_names`] and `extra`.
fn server_certificate(issuer: &Issuer<'_, &KeyPair>, extra: &[&str]) -> Result<(String, String), TlsError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = name("tug-apiserver", &[]);
    params.subject_alt_names = server_names();
    for name in extra {
        match name.parse::<IpAddr>() {
            Ok(ip) => params.subject_alt_names.push(SanType::IpAddress(ip)),
            Err(_) => params.subject_alt_names.push(SanType::DnsName((*name).try_into()?)),
        }
    }
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
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
