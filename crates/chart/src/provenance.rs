//! Provenance files (`CHART.tgz.prov`), as Helm writes and checks them: an OpenPGP
//! clear-signed document whose text is the chart's `Chart.yaml` metadata, a `...` line,
//! and `files: {NAME.tgz: sha256:HEX}`. [`verify`] checks the signature against a
//! keyring (binary, as `gpg --export` writes it, or ASCII-armored) and the archive
//! against its recorded hash; [`sign`] writes one with a secret key from a keyring
//! (`gpg --export-secret-keys`, unprotected or with its passphrase).
//!
//! Pure: callers read and write the files.

use std::collections::BTreeMap;
use std::io::Cursor;

use pgp::composed::{CleartextSignedMessage, PublicOrSecret, SignedPublicKey, SignedSecretKey};
use pgp::types::{KeyDetails, Password};

use crate::chartfile::Metadata;
use crate::repo::index::sha256_hex;
use crate::Error;

/// The separator between the metadata and the file sums in the signed text.
const SEPARATOR: &str = "\n...\n";

/// What a verified provenance file vouches for.
#[derive(Clone, Debug)]
pub struct Verified {
    /// The user IDs of the key that signed (`Name <email>`).
    pub signed_by: Vec<String>,
    /// The key's fingerprint, hex.
    pub fingerprint: String,
    /// `sha256:HEX` of the archive.
    pub hash: String,
    pub metadata: Metadata,
}

fn bad(file: &str, msg: impl std::fmt::Display) -> Error {
    Error::Provenance(format!("{file}: {msg}"))
}

/// Every key in a keyring file's bytes (binary or armored), public or secret.
fn keyring_keys(keyring: &[u8], name: &str) -> Result<Vec<PublicOrSecret>, Error> {
    let armored = keyring.starts_with(b"-----BEGIN");
    let keys: Result<Vec<PublicOrSecret>, _> = if armored {
        PublicOrSecret::from_armor_many(Cursor::new(keyring)).and_then(|(it, _)| it.collect())
    } else {
        PublicOrSecret::from_bytes_many(Cursor::new(keyring)).and_then(|it| it.collect())
    };
    let keys = keys.map_err(|e| bad(name, format!("not an OpenPGP keyring: {e}")))?;
    if keys.is_empty() {
        return Err(bad(name, "the keyring holds no keys"));
    }
    Ok(keys)
}

fn public_of(k: &PublicOrSecret) -> SignedPublicKey {
    match k {
        PublicOrSecret::Public(p) => p.clone(),
        PublicOrSecret::Secret(s) => s.to_public_key(),
    }
}

/// A key ID as gpg prints it (16 hex digits).
fn key_id_hex(id: &pgp::types::KeyId) -> String {
    id.as_ref().iter().map(|b| format!("{b:02X}")).collect()
}

fn user_ids(key: &SignedPublicKey) -> Vec<String> {
    key.details
        .users
        .iter()
        .map(|u| String::from_utf8_lossy(u.id.id()).into_owned())
        .collect()
}

/// The signed text Helm makes for an archive: its metadata as YAML, `...`, its sum.
pub fn message(metadata: &Metadata, archive_name: &str, archive: &[u8]) -> Result<String, Error> {
    let meta = serde_json::to_value(metadata)
        .map_err(|e| Error::Provenance(format!("encoding Chart.yaml: {e}")))?;
    let meta = tug_gotemplate::funcs::yaml::to_yaml(&tug_gotemplate::Value::from(&meta));
    let files = serde_json::json!({
        "files": { archive_name: format!("sha256:{}", sha256_hex(archive)) }
    });
    let files = tug_gotemplate::funcs::yaml::to_yaml(&tug_gotemplate::Value::from(&files));
    Ok(format!("{meta}{SEPARATOR}{files}"))
}

/// Checks `prov` (the `.prov` file's text) for the archive `archive_name` with bytes
/// `archive`: the signature must be good and made by a key of `keyring`, and the file
/// sums must name the archive with its sha256.
pub fn verify(
    prov: &str,
    archive_name: &str,
    archive: &[u8],
    keyring: &[u8],
    keyring_name: &str,
) -> Result<Verified, Error> {
    let prov_name = format!("{archive_name}.prov");
    let (msg, _) = CleartextSignedMessage::from_string(prov).map_err(|e| {
        bad(
            &prov_name,
            format!("not a clear-signed OpenPGP document: {e}"),
        )
    })?;
    let keys: Vec<SignedPublicKey> = keyring_keys(keyring, keyring_name)?
        .iter()
        .map(public_of)
        .collect();
    let issuers: Vec<String> = msg
        .signatures()
        .iter()
        .flat_map(|s| s.issuer_key_id())
        .map(key_id_hex)
        .collect();
    let mut signer = None;
    'keys: for key in &keys {
        if msg.verify(key).is_ok() {
            signer = Some(key);
            break;
        }
        for sub in &key.public_subkeys {
            if msg.verify(&sub.key).is_ok() {
                signer = Some(key);
                break 'keys;
            }
        }
    }
    let Some(signer) = signer else {
        let known = keys.iter().any(|k| {
            std::iter::once(k.legacy_key_id())
                .chain(k.public_subkeys.iter().map(|s| s.key.legacy_key_id()))
                .any(|id| issuers.contains(&key_id_hex(&id)))
        });
        return Err(if known {
            bad(
                &prov_name,
                "bad signature: the document or signature was altered",
            )
        } else {
            bad(
                &prov_name,
                format!(
                    "signed by unknown key {} (not in keyring {keyring_name})",
                    if issuers.is_empty() {
                        "(no issuer)".to_string()
                    } else {
                        issuers.join(", ")
                    }
                ),
            )
        });
    };
    // The signed text comes back with canonical CRLF line ends.
    let text = msg.signed_text().replace("\r\n", "\n");
    let (meta, sums) = text.split_once(SEPARATOR).ok_or_else(|| {
        bad(
            &prov_name,
            "the signed text has no `...` line between metadata and file sums",
        )
    })?;
    let metadata = Metadata::parse(meta).map_err(|e| bad(&prov_name, e))?;
    #[derive(serde::Deserialize)]
    struct Sums {
        #[serde(default)]
        files: BTreeMap<String, String>,
    }
    let sums: Sums = tug_gotemplate::funcs::yaml::from_yaml(sums)
        .map_err(|e| bad(&prov_name, format!("file sums: {e}")))
        .and_then(|v| {
            serde_json::from_value(v.to_json())
                .map_err(|e| bad(&prov_name, format!("file sums: {e}")))
        })?;
    let recorded = sums.files.get(archive_name).ok_or_else(|| {
        bad(
            &prov_name,
            format!("it records no sum for a file named {archive_name}"),
        )
    })?;
    let hash = format!("sha256:{}", sha256_hex(archive));
    if *recorded != hash {
        return Err(bad(
            &prov_name,
            format!("sha256 sum does not match for {archive_name}: the provenance says {recorded}, the archive is {hash}"),
        ));
    }
    Ok(Verified {
        signed_by: user_ids(signer),
        fingerprint: format!("{:X}", signer.fingerprint()),
        hash,
        metadata,
    })
}

/// A `.prov` for the archive, clear-signed with the secret key of `keyring` whose user
/// ID contains `key` (case-insensitive; it must match exactly one key), unlocked with
/// `passphrase` when protected.
pub fn sign(
    metadata: &Metadata,
    archive_name: &str,
    archive: &[u8],
    keyring: &[u8],
    keyring_name: &str,
    key: &str,
    passphrase: &str,
) -> Result<String, Error> {
    let wanted = key.to_lowercase();
    let secrets: Vec<SignedSecretKey> = keyring_keys(keyring, keyring_name)?
        .into_iter()
        .filter_map(|k| match k {
            PublicOrSecret::Secret(s) => Some(s),
            PublicOrSecret::Public(_) => None,
        })
        .filter(|s| {
            user_ids(&s.to_public_key())
                .iter()
                .any(|u| u.to_lowercase().contains(&wanted))
        })
        .collect();
    let secret = match secrets.as_slice() {
        [one] => one,
        [] => {
            return Err(bad(
                keyring_name,
                format!("no secret key with a user ID containing {key:?} (export one with gpg --export-secret-keys)"),
            ))
        }
        _ => return Err(bad(keyring_name, format!("several secret keys match {key:?}: be more specific"))),
    };
    let text = message(metadata, archive_name, archive)?;
    let password = Password::from(passphrase);
    let signed =
        CleartextSignedMessage::sign(rand::thread_rng(), &text, &secret.primary_key, &password)
            .map_err(|e| bad(keyring_name, format!("signing with {key:?}: {e}")))?;
    signed
        .to_armored_string(Default::default())
        .map_err(|e| Error::Provenance(format!("armoring the signature: {e}")))
}
