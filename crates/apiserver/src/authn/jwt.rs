//! Signed JSON Web Tokens (JWS compact form) with ES256 (ECDSA P-256 and
//! SHA-256): the ServiceAccount signing key, created at first start beside
//! the cluster's other TLS files, signing claims, verifying tokens, and the
//! key as a JWK set for OIDC discovery.
//!
//! Verification accepts only `"alg": "ES256"` (never `none`, never an HMAC
//! algorithm keyed with the public key) and a signature by this key.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivatePkcs8KeyDer;
use serde_json::{json, Value};

/// The file of the signing key under `<data-dir>/tls/`.
pub const KEY_FILE: &str = "service-account.key";

/// What can go wrong loading or creating the key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("failed to {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid ServiceAccount signing key {}: {message} (delete it to have a new one generated; tokens signed by it stop working)", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("failed to generate the ServiceAccount signing key: {0}")]
    Generate(#[from] rcgen::Error),
}

/// Why a token does not verify. Never carries any part of the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the token is not a JWT")]
    Malformed,
    #[error("the token's signing algorithm is not ES256")]
    Algorithm,
    #[error("the token's signature does not verify")]
    Signature,
    #[error("failed to sign the token")]
    Sign,
}

/// The ServiceAccount signing key.
pub struct SigningKey {
    pair: EcdsaKeyPair,
    /// The key id: base64url of the SHA-256 of the public key.
    kid: String,
    rng: SystemRandom,
}

impl SigningKey {
    /// Loads `<tls_dir>/service-account.key`, generating it if absent.
    pub fn load_or_create(tls_dir: &Path) -> Result<SigningKey, KeyError> {
        let path = tls_dir.join(KEY_FILE);
        if !path.exists() {
            let pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?.serialize_pem();
            crate::tls::write_private(&path, pem.as_bytes()).map_err(|e| KeyError::Invalid {
                path: path.clone(),
                message: e.to_string(),
            })?;
        }
        let pem = std::fs::read(&path).map_err(|source| KeyError::Io {
            action: "read",
            path: path.clone(),
            source,
        })?;
        let invalid = |message: String| KeyError::Invalid {
            path: path.clone(),
            message,
        };
        let der = PrivatePkcs8KeyDer::from_pem_slice(&pem).map_err(|e| invalid(e.to_string()))?;
        SigningKey::from_pkcs8(der.secret_pkcs8_der()).map_err(invalid)
    }

    /// A key from its PKCS#8 DER form.
    pub fn from_pkcs8(der: &[u8]) -> Result<SigningKey, String> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
            .map_err(|e| format!("not a PKCS#8 P-256 key: {e}"))?;
        let digest = ring::digest::digest(&ring::digest::SHA256, pair.public_key().as_ref());
        let kid = URL_SAFE_NO_PAD.encode(digest.as_ref());
        Ok(SigningKey { pair, kid, rng })
    }

    /// The signed token carrying `claims`.
    pub fn sign(&self, claims: &Value) -> Result<String, JwtError> {
        let header = json!({"alg": "ES256", "kid": self.kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .pair
            .sign(&self.rng, input.as_bytes())
            .map_err(|_| JwtError::Sign)?;
        Ok(format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }

    /// The claims of a token this key signed.
    pub fn verify(&self, token: &str) -> Result<Value, JwtError> {
        let (input, signature) = token.rsplit_once('.').ok_or(JwtError::Malformed)?;
        let (header, claims) = input.split_once('.').ok_or(JwtError::Malformed)?;
        let header = decode_json(header)?;
        if header.get("alg").and_then(Value::as_str) != Some("ES256") {
            return Err(JwtError::Algorithm);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| JwtError::Malformed)?;
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, self.pair.public_key().as_ref())
            .verify(input.as_bytes(), &signature)
            .map_err(|_| JwtError::Signature)?;
        decode_json(claims)
    }

    /// The public key as a JWK set (`/openid/v1/jwks`).
    pub fn jwks(&self) -> Value {
        // An uncompressed P-256 point: 0x04, then X and Y of 32 bytes each.
        let point = self.pair.public_key().as_ref();
        let (x, y) = point
            .get(1..)
            .unwrap_or_default()
            .split_at(point.len().saturating_sub(1) / 2);
        json!({"keys": [{
            "use": "sig", "kty": "EC", "kid": self.kid, "crv": "P-256", "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
        }]})
    }
}

/// The claims of a JWT-shaped token, not verified: only to see whose token it is.
pub fn unverified_claims(token: &str) -> Result<Value, JwtError> {
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(claims), Some(_), None) => decode_json(claims),
        _ => Err(JwtError::Malformed),
    }
}

fn decode_json(part: &str) -> Result<Value, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed)?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(JwtError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        let pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .unwrap()
            .serialize_der();
        SigningKey::from_pkcs8(&pem).unwrap()
    }

    #[test]
    fn signed_claims_verify_with_the_same_key_only() {
        let (a, b) = (key(), key());
        let token = a.sign(&json!({"sub": "x"})).unwrap();
        assert_eq!(a.verify(&token).unwrap()["sub"], "x");
        assert_eq!(b.verify(&token), Err(JwtError::Signature));
        assert_eq!(unverified_claims(&token).unwrap()["sub"], "x");
    }

    #[test]
    fn tampered_tokens_and_other_algorithms_are_refused() {
        let k = key();
        let token = k.sign(&json!({"sub": "x"})).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(json!({"sub": "admin"}).to_string());
        let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
        assert_eq!(k.verify(&tampered), Err(JwtError::Signature));
        for alg in ["none", "HS256", "RS256"] {
            let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg}).to_string());
            let token = format!("{header}.{}.", parts[1]);
            assert_eq!(k.verify(&token), Err(JwtError::Algorithm), "{alg}");
        }
        for garbage in ["", "a", "a.b", "a.b.c", "....", "é.é.é"] {
            assert_eq!(k.verify(garbage), Err(JwtError::Malformed), "{garbage}");
        }
    }

    #[test]
    fn the_jwks_holds_the_public_point() {
        let k = key();
        let jwks = k.jwks();
        let x = URL_SAFE_NO_PAD
            .decode(jwks["keys"][0]["x"].as_str().unwrap())
            .unwrap();
        let y = URL_SAFE_NO_PAD
            .decode(jwks["keys"][0]["y"].as_str().unwrap())
            .unwrap();
        assert_eq!((x.len(), y.len()), (32, 32));
        assert_eq!(jwks["keys"][0]["kid"], k.kid);
    }
}
