//! The HTTPS server: TLS with optional client certificates, authentication,
//! the router, and startup (certificates, kubeconfig, default namespaces).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rustls::pki_types::CertificateDer;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower_service::Service;
use tug_store::Store;

use crate::admission;
use crate::crds;
use crate::authn::{self, Authenticator, Credentials, Outcome, User};
use crate::authz::{self, Attributes, Authorizer, Decision};
use crate::handlers;
use crate::metrics::{Metrics, RequestLabels};
use crate::respond;
use crate::status::ApiError;
use crate::tls::{self, Pki, TlsError};
use crate::{audit, discovery, openapi};

/// What a server needs to start.
pub struct Config {
    /// Where `tls/` and `kubeconfig.yaml` live.
    pub data_dir: PathBuf,
    /// Where to listen; port 0 picks a free one (the kubeconfig names the real one).
    pub listen: SocketAddr,
    pub store: Arc<dyn Store>,
    /// Admission plugins not to run (kube-apiserver's names, e.g. `ServiceAccount`).
    pub disabled_admission_plugins: Vec<String>,
    /// A static token file (`--token-auth-file`): `token,user,uid,"group1,group2"` lines.
    pub token_auth_file: Option<PathBuf>,
    /// Whether requests without credentials are served as `system:anonymous` (in
    /// `system:unauthenticated`, which RBAC lets read only health and version) instead of
    /// refused with 401. On by default, as in Kubernetes.
    pub anonymous_auth: bool,
    /// Where to append the audit log (JSON lines); `None`: no audit log.
    pub audit_log_path: Option<PathBuf>,
    /// The audit policy (`audit.k8s.io/v1` Policy); `None`: every request at Metadata level.
    pub audit_policy_file: Option<PathBuf>,
    /// More addresses or DNS names the serving certificate names (`--tls-san`), for
    /// clients that reach the server by an address other than localhost.
    pub tls_sans: Vec<String>,
    /// Where pods reach the server: the endpoint of the `kubernetes` Service
    /// (`--advertise-address`). Defaults to the listen address, or loopback when that is
    /// unspecified (the binary passes the node's address then).
    pub advertise_address: IpAddr,
}

impl Config {
    /// A server on `listen` keeping its files in `data_dir`, every option at its default;
    /// set the public fields to change one.
    pub fn new(data_dir: impl Into<PathBuf>, listen: SocketAddr, store: Arc<dyn Store>) -> Config {
        Config {
            data_dir: data_dir.into(),
            listen,
            store,
            disabled_admission_plugins: Vec::new(),
            token_auth_file: None,
            anonymous_auth: true,
            audit_log_path: None,
            audit_policy_file: None,
            tls_sans: Vec::new(),
            advertise_address: if listen.ip().is_unspecified() { IpAddr::from([127, 0, 0, 1]) } else { listen.ip() },
        }
    }
}

/// What can stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("failed to listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Admission(#[from] admission::UnknownPlugin),
    #[error(transparent)]
    TokenFile(#[from] authn::token_file::TokenFileError),
    #[error(transparent)]
    SigningKey(#[from] authn::jwt::KeyError),
    #[error("failed to create namespace {name}: {message}")]
    Namespace { name: String, message: String },
    #[error("failed to write the kubernetes Service: {0}")]
    KubernetesService(String),
    #[error("failed to load the authorization state: {0}")]
    Authorization(#[from] tug_store::Error),
    #[error(transparent)]
    DefaultRoles(#[from] authz::defaults::ReconcileError),
    #[error(transparent)]
    AuditPolicy(#[from] audit::PolicyError),
    #[error("failed to open the audit log {}: {source}", path.display())]
    AuditLog {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The state every handler shares.
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    pub authenticator: Arc<dyn Authenticator>,
    pub authorizer: Arc<dyn Authorizer>,
    pub admission: admission::Chain,
    /// Signs ServiceAccount tokens (TokenRequest, legacy token Secrets, OIDC discovery).
    pub tokens: Arc<authn::serviceaccount::TokenIssuer>,
    /// The RBAC view the authorizer decides from (escalation checks and rules reviews read it).
    pub rbac: Arc<authz::rbac::Rbac>,
    /// How pods' log/exec/attach/portforward reach node agents (with the kubelet client certificate).
    pub node_tls: tokio_rustls::TlsConnector,
    /// The cluster's certificates (node credentials are signed with its CA).
    pub pki: Pki,
    /// The kinds CustomResourceDefinitions add, as served now.
    pub crds: Arc<crds::CustomKinds>,
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    kubeconfig: PathBuf,
    accept: JoinHandle<()>,
}

impl Server {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin kubeconfig written at start.
    pub fn kubeconfig(&self) -> &std::path::Path {
        &self.kubeconfig
    }

    /// Stops accepting connections.
    pub fn shutdown(self) {
        self.accept.abort();
    }

    /// Serves until the accept loop ends.
    pub async fn wait(self) {
        let _ = self.accept.await;
    }
}

/// The namespaces every cluster has.
const SYSTEM_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

/// Prepares certificates, the kubeconfig and the system namespaces, then serves.
pub async fn start(config: Config) -> Result<Server, StartError> {
    let admission = admission::Chain::new(&config.disabled_admission_plugins)?;
    let advertise_address = config.advertise_address;
    let pki = Pki::load_or_create(&config.data_dir)?;
    pki.ensure_server_names(&config.tls_sans)?;
    let tls = tokio_rustls::TlsAcceptor::from(Arc::new(pki.server_config()?));
    let auditor = match &config.audit_log_path {
        None => None,
        Some(path) => {
            let policy = match &config.audit_policy_file {
                Some(file) => audit::policy::Policy::load(file)?,
                None => audit::policy::Policy::metadata_for_all(),
            };
            let auditor = audit::Auditor::open(path, policy).map_err(|source| StartError::AuditLog {
                path: path.clone(),
                source,
            })?;
            Some(Arc::new(auditor))
        }
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: config.listen,
        source,
    })?;
    let kubeconfig = config.data_dir.join("kubeconfig.yaml");
    tls::write_private(&kubeconfig, pki.kubeconfig(addr.port())?.as_bytes())?;

    let tokens = Arc::new(authn::serviceaccount::TokenIssuer {
        key: authn::jwt::SigningKey::load_or_create(&pki.dir)?,
        api_audiences: vec![authn::serviceaccount::ISSUER.to_string()],
        ca_pem: std::fs::read_to_string(pki.dir.join("ca.crt")).map_err(|source| TlsError::Io {
            action: "read",
            path: pki.dir.join("ca.crt"),
            source,
        })?,
    });
    let mut authenticators: Vec<Arc<dyn Authenticator>> = vec![Arc::new(
        authn::x509::ClientCertificate::new(pki.client_verifier()?),
    )];
    if let Some(path) = &config.token_auth_file {
        authenticators.push(Arc::new(authn::token_file::TokenFile::load(path)?));
    }
    authenticators.push(Arc::new(authn::bootstrap::BootstrapTokens {
        store: config.store.clone(),
    }));
    authenticators.push(Arc::new(authn::serviceaccount::ServiceAccountTokens {
        issuer: tokens.clone(),
        store: config.store.clone(),
    }));
    authz::defaults::reconcile(config.store.as_ref()).await?;
    let rbac = authz::rbac::Rbac::start(config.store.clone()).await?;
    authz::aggregation::spawn(config.store.clone(), rbac.clone());
    let nodes = authz::node::NodeAuthorizer::start(config.store.clone()).await?;
    let crds = crds::CustomKinds::start(config.store.clone()).await?;
    let state = Arc::new(AppState {
        store: config.store,
        metrics: Arc::new(Metrics::default()),
        authenticator: Arc::new(authn::Chain {
            authenticators,
            anonymous: config.anonymous_auth,
        }),
        authorizer: Arc::new(authz::Chain(vec![Arc::new(authz::Masters), nodes, rbac.clone()])),
        admission,
        tokens,
        rbac,
        node_tls: crate::handlers::node_connector(&pki)?,
        pki,
        crds,
    });
    create_system_namespaces(&state).await?;
    crate::kubernetes_service::reconcile(state.store.as_ref(), advertise_address, addr.port())
        .await
        .map_err(|e| StartError::KubernetesService(e.message))?;
    let mut app = router(state);
    if let Some(auditor) = auditor {
        app = app.layer(middleware::from_fn_with_state(auditor, audit::layer));
    }
    let accept = tokio::spawn(accept_loop(listener, tls, app));
    Ok(Server {
        addr,
        kubeconfig,
        accept,
    })
}

async fn create_system_namespaces(state: &AppState) -> Result<(), StartError> {
    let rt =
        tug_api::registry::find("", "v1", "namespaces").ok_or_else(|| StartError::Namespace {
            name: "default".into(),
            message: "namespaces are not registered".into(),
        })?;
    for name in SYSTEM_NAMESPACES {
        let object = json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "uid": crate::object::new_uid(), "creationTimestamp": crate::object::now(), "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"},
        });
        match state
            .store
            .create(
                &rt.key(None, name),
                crate::object::to_bytes(rt, &object),
                None,
            )
            .await
        {
            Ok(_) | Err(tug_store::Error::AlreadyExists { .. }) => {}
            Err(e) => {
                return Err(StartError::Namespace {
                    name: name.into(),
                    message: e.to_string(),
                })
            }
        }
    }
    Ok(())
}

/// The verified client certificates of a connection, given to each of its requests.
#[derive(Clone, Default)]
struct PeerCertificates(Option<Arc<Vec<CertificateDer<'static>>>>);

async fn accept_loop(listener: TcpListener, tls: tokio_rustls::TlsAcceptor, app: Router) {
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            continue;
        };
        // Without it, Nagle's algorithm holds small responses back up to 40 ms.
        let _ = tcp.set_nodelay(true);
        let tls = tls.clone();
        let app = app.clone();
        tokio::spawn(async move {
            // A client that fails the handshake (no TLS, bad certificate) only loses its own connection.
            let Ok(stream) = tls.accept(tcp).await else {
                return;
            };
            let certs = PeerCertificates(
                stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .map(|c| Arc::new(c.to_vec())),
            );
            let service =
                hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(certs.clone());
                    request.extensions_mut().insert(audit::PeerAddr(peer));
                    let mut app = app.clone();
                    async move { app.call(request.map(axum::body::Body::new)).await }
                });
            let builder =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            let _ = builder
                .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The routes: public health and version endpoints, the rest behind authentication.
pub fn router(state: Arc<AppState>) -> Router {
    let public = Router::new()
        .route("/healthz", get(ok_text))
        .route("/livez", get(ok_text))
        .route("/readyz", get(ok_text))
        .route(
            "/version",
            get(|| async { respond::ok(&discovery::version()) }),
        );
    let private = Router::new()
        .route("/metrics", get(metrics))
        .route(
            "/.well-known/openid-configuration",
            get(|State(state): State<Arc<AppState>>| async move {
                respond::ok(&state.tokens.discovery())
            }),
        )
        .route(
            "/openid/v1/jwks",
            get(|State(state): State<Arc<AppState>>| async move {
                respond::ok(&state.tokens.key.jwks())
            }),
        )
        .route(crate::node_credentials::PATH, axum::routing::post(crate::node_credentials::issue))
        .route("/openapi/v2", get(openapi::v2))
        .route("/openapi/v3", get(openapi::v3_index))
        .route("/openapi/v3/{*path}", get(openapi::v3))
        .route("/api", axum::routing::any(handlers::api))
        .route("/api/{*rest}", axum::routing::any(handlers::api))
        .route("/apis", axum::routing::any(handlers::api))
        .route("/apis/{*rest}", axum::routing::any(handlers::api))
        .fallback(handlers::not_found)
        // Layers run last-added first: authentication, then authorization.
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    public
        .merge(private)
        .fallback(handlers::not_found)
        .with_state(state)
}

async fn ok_text() -> Response {
    respond::text(StatusCode::OK, "ok".into())
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let started = Instant::now();
    let revision = state.store.current_revision().await.unwrap_or_default();
    let response = respond::text(StatusCode::OK, state.metrics.render(revision));
    state.metrics.record(
        RequestLabels {
            verb: "get",
            resource: "metrics".into(),
        },
        200,
        started.elapsed(),
    );
    response
}

/// Lets a request through only if some authenticator recognises it (401 Status otherwise),
/// as the user it impersonates if it asks to and may.
async fn authenticate(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let certs = request
        .extensions()
        .get::<PeerCertificates>()
        .cloned()
        .unwrap_or_default();
    let token = match authn::bearer_token(request.headers()) {
        Ok(token) => token,
        Err(_) => return ApiError::unauthorized().into_response(),
    };
    let credentials = Credentials {
        client_certificates: certs.0.as_deref().map(Vec::as_slice),
        token,
        audiences: &state.tokens.api_audiences,
    };
    let user = match state.authenticator.authenticate(&credentials).await {
        Outcome::Authenticated { user, .. } => user,
        Outcome::NotMine | Outcome::Rejected(_) => return ApiError::unauthorized().into_response(),
    };
    match authn::impersonation::impersonate(state.authorizer.as_ref(), user, request.headers())
        .await
    {
        Ok(user) => {
            request.extensions_mut().insert::<User>(user);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

/// Lets a request through only if the authorizer allows what it asks; 403 Status otherwise.
async fn authorize(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let user = request
        .extensions()
        .get::<User>()
        .cloned()
        .unwrap_or_else(User::anonymous);
    let attributes = Attributes::of_request_in(
        &state.crds,
        user,
        request.method(),
        request.uri().path(),
        request.uri().query(),
    );
    let started = Instant::now();
    let (decision, reason) = state.authorizer.decide_explained(&attributes).await;
    state
        .metrics
        .record_authorization(decision == Decision::Allow, started.elapsed());
    if let Some(slot) = request.extensions().get::<audit::Slot>() {
        let why = match &decision {
            Decision::Deny(r) => r,
            _ => &reason,
        };
        slot.record(&attributes, decision == Decision::Allow, why);
    }
    match decision {
        Decision::Allow => next.run(request).await,
        Decision::Deny(reason) => attributes.forbidden(&reason).into_response(),
        Decision::NoOpinion => attributes.forbidden(&reason).into_response(),
    }
}
