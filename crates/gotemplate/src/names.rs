//! Hash maps keyed by template and function names. They use FNV-1a: the names are
//! short and looked up on every function call and `include`, where SipHash's setup
//! cost more than the lookup itself.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map from names.
pub type NameMap<V> = HashMap<String, V, BuildHasherDefault<Fnv>>;

/// The 64-bit FNV-1a hash.
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}
