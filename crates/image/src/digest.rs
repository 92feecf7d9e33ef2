//! SHA-256 digests of content: computing them while data streams through a reader or
//! writer, parsing them, and turning them into file names.
//!
//! The store holds sha256 content only; a digest of another algorithm is refused with
//! an error naming it rather than being hashed differently.

use std::io::{self, Read, Write};
use std::str::FromStr;

use oci_spec::image::{Digest, DigestAlgorithm};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// Parses `sha256:<64 hex>` (the only algorithm the store holds).
pub fn parse(input: &str) -> Result<Digest> {
    let digest = Digest::from_str(input).map_err(|e| Error::InvalidDigest {
        input: input.to_string(),
        reason: e.to_string(),
    })?;
    sha256_hex(&digest)?;
    Ok(digest)
}

/// The hex part of a sha256 digest; an error for other algorithms. Safe to use as a
/// file name: it is exactly 64 lowercase hex characters.
pub fn sha256_hex(digest: &Digest) -> Result<&str> {
    if *digest.algorithm() != DigestAlgorithm::Sha256 {
        return Err(Error::InvalidDigest {
            input: digest.to_string(),
            reason: format!("unsupported algorithm {}", digest.algorithm()),
        });
    }
    Ok(digest.digest())
}

/// The sha256 digest of `bytes`.
pub fn of_bytes(bytes: &[u8]) -> Digest {
    let mut h = Hasher::new();
    h.update(bytes);
    h.finish()
}

/// An incremental sha256 that also counts bytes.
#[derive(Clone, Default)]
pub struct Hasher {
    sha: Sha256,
    len: u64,
}

impl Hasher {
    pub fn new() -> Hasher {
        Hasher::default()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.sha.update(bytes);
        self.len += bytes.len() as u64;
    }

    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn finish(self) -> Digest {
        let out = self.sha.finalize();
        let mut hex = String::with_capacity(7 + 64);
        hex.push_str("sha256:");
        for b in out.iter() {
            hex.push(char::from(HEX[usize::from(b >> 4)]));
            hex.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        // A sha256 of 64 lowercase hex characters always parses.
        Digest::from_str(&hex).expect("sha256 digest string is well formed")
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A reader that hashes everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Hasher::new(),
        }
    }

    /// Bytes read so far.
    pub fn len(&self) -> u64 {
        self.hasher.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }

    /// Reads the rest of the stream (so that the digest covers all of it) and returns
    /// the digest and the total size.
    pub fn finish(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        let len = self.hasher.len();
        Ok((self.hasher.finish(), len))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A writer that hashes everything written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Hasher::new(),
        }
    }

    /// The digest and size of what was written, and the inner writer.
    pub fn finish(self) -> (Digest, u64, W) {
        let len = self.hasher.len();
        (self.hasher.finish(), len, self.inner)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_input_has_the_well_known_sha256() {
        assert_eq!(
            of_bytes(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn reader_and_writer_agree_with_one_shot_hash() {
        let data = b"hello layers".repeat(1000);
        let (d, n) = HashingReader::new(&data[..]).finish().unwrap();
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(&data).unwrap();
        let (d2, n2, out) = w.finish();
        assert_eq!((d.clone(), n), (of_bytes(&data), data.len() as u64));
        assert_eq!((d2, n2), (d, n));
        assert_eq!(out, data);
    }

    #[test]
    fn parse_refuses_other_algorithms_and_bad_hex() {
        assert!(parse("sha256:abc").is_err());
        let sha512 = format!("sha512:{}", "a".repeat(128));
        let err = parse(&sha512).unwrap_err().to_string();
        assert!(err.contains("unsupported algorithm sha512"), "{err}");
        parse(&format!("sha256:{}", "0".repeat(64))).unwrap();
    }
}
