//! A session with one registry: where it is (https, or plain http for loopback and
//! insecure registries), and the authorization its requests carry (Basic credentials,
//! or a Bearer token from the registry's token service for the scopes in use).
//!
//! Requests are built by closures so that one answered `401` can be retried once with
//! the authorization the challenge asks for.

use std::collections::BTreeSet;
use std::sync::{Mutex, Once};
use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{AUTHORIZATION, LOCATION, WWW_AUTHENTICATE};
use reqwest::{StatusCode, Url};
use serde::Deserialize;

use super::auth::{self, Challenge, Credentials};
use super::Options;
use crate::error::{Error, Result};

pub(crate) struct Session {
    /// The registry as references name it (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    http: Client,
    base: Url,
    credentials: Option<Credentials>,
    state: Mutex<AuthState>,
}

#[derive(Default)]
struct AuthState {
    challenge: Option<Challenge>,
    /// Scopes the token must cover (`repository:library/busybox:pull`).
    scopes: BTreeSet<String>,
    token: Option<String>,
}

/// The host that serves a reference's domain.
fn registry_host(domain: &str) -> &str {
    if domain == crate::reference::DEFAULT_DOMAIN {
        "registry-1.docker.io"
    } else {
        domain
    }
}

/// Loopback registries are reached over plain http unless they speak TLS (as Docker
/// treats `localhost`).
fn is_loopback(host: &str) -> bool {
    let h = host
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|c| c.is_ascii_digit()))
        .map_or(host, |(h, _)| h);
    let h = h.trim_start_matches('[').trim_end_matches(']');
    h == "localhost"
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Fails only if another provider was installed first, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// An error's message with its causes, `a: b: c`.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

impl Session {
    /// Finds the registry serving `domain` and how it wants to be authenticated.
    pub fn connect(domain: &str, options: &Options, scopes: &[String]) -> Result<Session> {
        install_crypto_provider();
        let host = registry_host(domain);
        let credentials = match &options.credentials {
            Some(c) => Some(c.clone()),
            None => {
                let files = match &options.auth_file {
                    Some(f) => vec![f.clone()],
                    None => auth::default_auth_files(),
                };
                auth::lookup_credentials(&files, domain)?
            }
        };
        let relaxed = options.insecure || is_loopback(host);
        let mut candidates: Vec<(&str, bool)> = Vec::new();
        if !options.plain_http {
            candidates.push(("https", relaxed));
        }
        if options.plain_http || relaxed {
            candidates.push(("http", false));
        }
        let mut errors = Vec::new();
        for (scheme, skip_verify) in candidates {
            let http = Client::builder()
                .user_agent(concat!("tug/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(30))
                .timeout(None)
                .tls_danger_accept_invalid_certs(skip_verify)
                .build()
                .map_err(|e| Error::Registry {
                    registry: domain.to_string(),
                    message: format!("failed to set up HTTP client: {}", chain(&e)),
                })?;
            let base = Url::parse(&format!("{scheme}://{host}/")).map_err(|e| Error::Registry {
                registry: domain.to_string(),
                message: format!("bad registry address: {e}"),
            })?;
            let ping = match http.get(base.join("/v2/").expect("static path")).send() {
                Ok(r) => r,
                Err(e) => {
                    errors.push(format!("{scheme}: {}", chain(&e)));
                    continue;
                }
            };
            let session = Session {
                registry: domain.to_string(),
                http,
                base,
                credentials,
                state: Mutex::new(AuthState {
                    scopes: scopes.iter().cloned().collect(),
                    ..AuthState::default()
                }),
            };
            match ping.status() {
                s if s.is_success() => {}
                StatusCode::UNAUTHORIZED => session.learn_challenge(&ping),
                _ => {
                    return Err(session.status_error("ping /v2/", ping));
                }
            }
            return Ok(session);
        }
        Err(Error::Registry {
            registry: domain.to_string(),
            message: format!("cannot reach registry at {host}: {}", errors.join("; ")),
        })
    }

    pub fn err(&self, message: impl Into<String>) -> Error {
        Error::Registry {
            registry: self.registry.clone(),
            message: message.into(),
        }
    }

    /// `base` + an absolute path (`/v2/...`).
    pub fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(path)
            .map_err(|e| self.err(format!("bad URL path {path}: {e}")))
    }

    /// The `Location` of a response, resolved against the registry's address.
    pub fn location(&self, resp: &Response) -> Result<Url> {
        let loc = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| self.err(format!("{} answer without Location", resp.url())))?;
        resp.url()
            .join(loc)
            .map_err(|e| self.err(format!("bad Location {loc:?}: {e}")))
    }

    /// Makes the token (if any) cover `scope` too.
    pub fn add_scope(&self, scope: &str) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.scopes.insert(scope.to_string()) {
            st.token = None;
        }
    }

    fn learn_challenge(&self, resp: &Response) {
        let challenges: Vec<Challenge> = resp
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(auth::parse_challenges)
            .collect();
        // Prefer the token flow when both are offered.
        let chosen = challenges
            .iter()
            .find(|c| matches!(c, Challenge::Bearer { .. }))
            .or(challenges.first())
            .cloned();
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(Challenge::Bearer {
            scope: Some(scope), ..
        }) = &chosen
        {
            for s in scope.split(' ').filter(|s| !s.is_empty()) {
                st.scopes.insert(s.to_string());
            }
        }
        if chosen.is_some() {
            st.challenge = chosen;
        }
        st.token = None;
    }

    /// The Authorization header value for the next request, fetching a token if needed.
    fn authorization(&self) -> Result<Option<String>> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match st.challenge.clone() {
            None => Ok(None),
            Some(Challenge::Basic { .. }) => Ok(self
                .credentials
                .as_ref()
                .map(|c| format!("Basic {}", c.encoded()))),
            Some(Challenge::Bearer { realm, service, .. }) => {
                if st.token.is_none() {
                    let token = self.fetch_token(&realm, service.as_deref(), &st.scopes)?;
                    st.token = Some(token);
                }
                Ok(st.token.as_ref().map(|t| format!("Bearer {t}")))
            }
        }
    }

    /// The token flow: `GET realm?service=..&scope=..` with Basic credentials if any.
    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &BTreeSet<String>,
    ) -> Result<String> {
        let mut url = Url::parse(realm)
            .or_else(|_| self.base.join(realm))
            .map_err(|e| self.err(format!("bad token realm {realm:?}: {e}")))?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            for s in scopes {
                q.append_pair("scope", s);
            }
        }
        let mut req = self.http.get(url.clone());
        if let Some(c) = &self.credentials {
            req = req.basic_auth(&c.username, Some(&c.password));
        }
        let resp = req
            .send()
            .map_err(|e| self.err(format!("token request to {realm} failed: {}", chain(&e))))?;
        if !resp.status().is_success() {
            let status = resp.status();
            let hint = if status == StatusCode::UNAUTHORIZED && self.credentials.is_none() {
                " (no credentials given: use --username/--password or an auth file)"
            } else {
                ""
            };
            return Err(self.err(format!("token request to {realm} refused: {status}{hint}")));
        }
        #[derive(Deserialize)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
        }
        let body: TokenResponse = resp
            .json_limited(1 << 20)
            .map_err(|e| self.err(format!("token response from {realm}: {e}")))?;
        body.token
            .or(body.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| self.err(format!("token response from {realm} holds no token")))
    }

    /// Sends the request `build` makes, with authorization; one `401` is answered by
    /// learning the challenge and sending again. `what` names the request in errors.
    pub fn send(&self, what: &str, build: &dyn Fn(&Client) -> RequestBuilder) -> Result<Response> {
        for attempt in 0..2 {
            let mut req = build(&self.http);
            if let Some(h) = self.authorization()? {
                req = req.header(AUTHORIZATION, h);
            }
            let resp = req
                .send()
                .map_err(|e| self.err(format!("{what}: {}", chain(&e))))?;
            if resp.status() == StatusCode::UNAUTHORIZED && attempt == 0 {
                self.learn_challenge(&resp);
                let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if st.challenge.is_none() {
                    drop(st);
                    return Err(self.status_error(what, resp));
                }
                continue;
            }
            return Ok(resp);
        }
        unreachable!("the loop returns on its second attempt")
    }

    /// An error for an unexpected answer, with the registry's own error codes and
    /// messages (`{"errors":[{"code":..,"message":..}]}`) when it sent them.
    pub fn status_error(&self, what: &str, resp: Response) -> Error {
        let status = resp.status();
        let body = read_limited(resp, 64 << 10).unwrap_or_default();
        #[derive(Deserialize)]
        struct Errors {
            errors: Vec<ErrorEntry>,
        }
        #[derive(Deserialize)]
        struct ErrorEntry {
            code: Option<String>,
            message: Option<String>,
        }
        let mut detail = match serde_json::from_slice::<Errors>(&body) {
            Ok(e) if !e.errors.is_empty() => e
                .errors
                .iter()
                .map(|e| {
                    let code = e.code.as_deref().unwrap_or("");
                    let msg = e.message.as_deref().unwrap_or("");
                    match (code.is_empty(), msg.is_empty()) {
                        (false, false) => format!("{code}: {msg}"),
                        (false, true) => code.to_string(),
                        _ => msg.to_string(),
                    }
                })
                .collect::<Vec<_>>()
                .join("; "),
            _ => String::from_utf8_lossy(&body)
                .trim()
                .chars()
                .take(200)
                .collect(),
        };
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let hint = if self.credentials.is_none() {
                "authentication required (use --username/--password or an auth file)"
            } else {
                "credentials refused"
            };
            detail = if detail.is_empty() {
                hint.to_string()
            } else {
                format!("{hint}: {detail}")
            };
        }
        if detail.is_empty() {
            self.err(format!("{what}: {status}"))
        } else {
            self.err(format!("{what}: {status}: {detail}"))
        }
    }
}

/// Reads at most `limit` bytes of a response body; more is an error.
pub(crate) fn read_limited(resp: Response, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    resp.take(limit + 1).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "body larger than {limit} bytes"
        )));
    }
    Ok(out)
}

trait JsonLimited {
    fn json_limited<T: serde::de::DeserializeOwned>(
        self,
        limit: u64,
    ) -> std::result::Result<T, String>;
}

impl JsonLimited for Response {
    fn json_limited<T: serde::de::DeserializeOwned>(
        self,
        limit: u64,
    ) -> std::result::Result<T, String> {
        let bytes = read_limited(self, limit).map_err(|e| e.to_string())?;
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognized_with_and_without_ports() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["example.com", "10.0.0.1:5000", "localhost.example.com"] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn docker_hub_is_served_by_registry_1() {
        assert_eq!(registry_host("docker.io"), "registry-1.docker.io");
        assert_eq!(registry_host("quay.io"), "quay.io");
    }
}
