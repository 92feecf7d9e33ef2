//! Defaults, flow, reflection, paths, uuids and randomness.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{s, Funcs, Kind};
use crate::value::{deep_equal, Value};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Non-cryptographic randomness (rand* functions, uuidv4, shuffle), seeded per process.
pub(crate) fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// Go's `path.Clean`.
pub(crate) fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let j = parts.join("/");
    match (rooted, j.is_empty()) {
        (true, _) => format!("/{j}"),
        (false, true) => ".".into(),
        (false, false) => j,
    }
}

fn base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

fn dir(p: &str) -> String {
    let d = match p.rfind('/') {
        Some(i) => &p[..i + 1],
        None => "",
    };
    clean(d)
}

fn ext(p: &str) -> String {
    let b = p.rsplit('/').next().unwrap_or(p);
    match b.rfind('.') {
        Some(i) => b[i..].to_string(),
        None => String::new(),
    }
}

pub(super) fn register(f: &mut Funcs) {
    use Kind::*;
    f.pure("default", &[Any], Some(Any), |a| {
        // default DEFAULT GIVEN: GIVEN unless empty (or absent).
        match a.get(1) {
            Some(g) if !g.is_empty() => Ok(g.clone()),
            _ => Ok(a[0].clone()),
        }
    });
    f.pure("empty", &[Any], None, |a| Ok(Value::Bool(a[0].is_empty())));
    f.pure("coalesce", &[], Some(Any), |a| Ok(a.into_iter().find(|v| !v.is_empty()).unwrap_or(Value::Nil)));
    f.pure("all", &[], Some(Any), |a| Ok(Value::Bool(a.iter().all(|v| !v.is_empty()))));
    f.pure("any", &[], Some(Any), |a| Ok(Value::Bool(a.iter().any(|v| !v.is_empty()))));
    f.pure("ternary", &[Any, Any, Bool], None, |a| {
        Ok(if matches!(a[2], Value::Bool(true)) { a[0].clone() } else { a[1].clone() })
    });
    f.pure("fail", &[Str], None, |a| Err(s(&a[0]).to_string()));
    f.pure("typeOf", &[Any], None, |a| Ok(Value::from(a[0].type_name())));
    f.pure("kindOf", &[Any], None, |a| Ok(Value::str(a[0].kind_name())));
    f.pure("typeIs", &[Str, Any], None, |a| Ok(Value::Bool(s(&a[0]) == a[1].type_name())));
    f.pure("typeIsLike", &[Str, Any], None, |a| {
        let t = a[1].type_name();
        Ok(Value::Bool(s(&a[0]) == t || s(&a[0]) == format!("*{t}")))
    });
    f.pure("kindIs", &[Str, Any], None, |a| Ok(Value::Bool(s(&a[0]) == a[1].kind_name())));
    f.pure("deepEqual", &[Any, Any], None, |a| Ok(Value::Bool(deep_equal(&a[0], &a[1]))));
    f.pure("base", &[Str], None, |a| Ok(Value::from(base(s(&a[0])))));
    f.pure("dir", &[Str], None, |a| Ok(Value::from(dir(s(&a[0])))));
    f.pure("ext", &[Str], None, |a| Ok(Value::from(ext(s(&a[0])))));
    f.pure("clean", &[Str], None, |a| Ok(Value::from(clean(s(&a[0])))));
    f.pure("isAbs", &[Str], None, |a| Ok(Value::Bool(s(&a[0]).starts_with('/'))));
    f.pure("uuidv4", &[], None, |_| {
        let (x, y) = (random_u64(), random_u64());
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&x.to_le_bytes());
        b[8..].copy_from_slice(&y.to_le_bytes());
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h: String = b.iter().map(|v| format!("{v:02x}")).collect();
        Ok(Value::from(format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])))
    });
    f.pure("getHostByName", &[Str], None, |_| Ok(Value::str("")));
}
