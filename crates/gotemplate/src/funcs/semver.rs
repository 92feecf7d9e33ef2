//! Semantic versions and constraints, with the semantics of the Masterminds
//! semver library that Sprig uses (`semver`, `semverCompare`).
//!
//! Versions are parsed loosely: a leading `v`, and a missing minor or patch
//! (`1.2` is `1.2.0`). Constraints are `||`-separated alternatives of `,`- or
//! space-separated comparisons: `=`, `!=`, `>`, `<`, `>=`, `<=`, `~` (same minor),
//! `^` (same major, or same minor below 1.0), hyphen ranges `1.2 - 1.4`, and
//! `x`/`X`/`*` wildcards. A version with a prerelease only satisfies a comparison
//! whose own version has a prerelease (so `>=1.21-0` admits `1.22.0-rc.1`).

use std::cmp::Ordering;
use std::sync::Arc;

use super::{s, Funcs, Kind};
use crate::value::{Object, Value};

/// A parsed semantic version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: String,
    pub metadata: String,
    pub original: String,
}

fn valid_ident(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

fn number(p: &str) -> Option<u64> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse().ok()
}

impl Version {
    /// Parses a version as Masterminds' `NewVersion` does (not strict).
    pub fn parse(text: &str) -> Result<Version, String> {
        let invalid = || "Invalid Semantic Version".to_string();
        let body = text.strip_prefix('v').unwrap_or(text);
        let (body, metadata) = match body.split_once('+') {
            Some((b, m)) if valid_ident(m) => (b, m.to_string()),
            Some(_) => return Err(invalid()),
            None => (body, String::new()),
        };
        let (core, pre) = match body.split_once('-') {
            Some((c, p)) if valid_ident(p) => (c, p.to_string()),
            Some(_) => return Err(invalid()),
            None => (body, String::new()),
        };
        let parts: Vec<&str> = core.split('.').collect();
        if parts.len() > 3 {
            return Err(invalid());
        }
        let mut nums = [0u64; 3];
        for (i, p) in parts.iter().enumerate() {
            nums[i] = number(p).ok_or_else(invalid)?;
        }
        Ok(Version {
            major: nums[0],
            minor: nums[1],
            patch: nums[2],
            pre,
            metadata,
            original: text.to_string(),
        })
    }

    /// Precedence as SemVer 2.0 defines it (metadata ignored).
    pub fn compare(&self, other: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| compare_prerelease(&self.pre, &other.pre))
    }

    fn core(major: u64, minor: u64, patch: u64) -> Version {
        Version {
            major,
            minor,
            patch,
            pre: String::new(),
            metadata: String::new(),
            original: String::new(),
        }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.metadata.is_empty() {
            write!(f, "+{}", self.metadata)?;
        }
        Ok(())
    }
}

/// No prerelease sorts after any prerelease; identifiers compare numerically when
/// both are numbers, numbers sort before words, and a shorter list sorts first.
fn compare_prerelease(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let (mut x, mut y) = (a.split('.'), b.split('.'));
    loop {
        match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) => {
                let o = match (number(p), number(q)) {
                    (Some(m), Some(n)) => m.cmp(&n),
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (None, None) => p.cmp(q),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Tilde,
    Caret,
}

/// One comparison: an operator and a version whose trailing parts may be wildcards.
#[derive(Clone, Debug)]
struct Comparison {
    op: Op,
    /// The version with wildcards read as 0.
    v: Version,
    /// How many leading parts were given (0 for `*`, 1 for `1.x`, 2 for `1.2.x`, 3 for `1.2.3`).
    fixed: u8,
}

/// A parsed constraint: alternatives (`||`) of conjunctions.
#[derive(Clone, Debug)]
pub struct Constraints(Vec<Vec<Comparison>>);

impl Constraints {
    pub fn parse(text: &str) -> Result<Constraints, String> {
        let mut alternatives = Vec::new();
        for alt in text.split("||") {
            let mut all = Vec::new();
            for part in alt.split(',') {
                parse_conjunction(part, &mut all).map_err(|e| {
                    format!(
                        "improper constraint: {}",
                        e.unwrap_or(part.trim().to_string())
                    )
                })?;
            }
            alternatives.push(all);
        }
        Ok(Constraints(alternatives))
    }

    /// Whether the version satisfies any alternative.
    pub fn check(&self, v: &Version) -> bool {
        self.0.iter().any(|all| all.iter().all(|c| c.check(v)))
    }
}

/// Space-separated comparisons (an operator may stand apart from its version) and hyphen ranges.
fn parse_conjunction(text: &str, out: &mut Vec<Comparison>) -> Result<(), Option<String>> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    if tokens.is_empty() {
        return Err(None);
    }
    let mut i = 0;
    while i < tokens.len() {
        if tokens.get(i + 1) == Some(&"-") && i + 2 < tokens.len() {
            out.push(comparison(&format!(">={}", tokens[i]))?);
            out.push(comparison(&format!("<={}", tokens[i + 2]))?);
            i += 3;
            continue;
        }
        let t = tokens[i];
        if t.bytes().all(|b| b"=!<>~^".contains(&b)) && i + 1 < tokens.len() {
            out.push(comparison(&format!("{t}{}", tokens[i + 1]))?);
            i += 2;
        } else {
            out.push(comparison(t)?);
            i += 1;
        }
    }
    Ok(())
}

fn comparison(text: &str) -> Result<Comparison, Option<String>> {
    let ops: [(&str, Op); 12] = [
        (">=", Op::Ge),
        ("=>", Op::Ge),
        ("<=", Op::Le),
        ("=<", Op::Le),
        ("!=", Op::Ne),
        ("~>", Op::Tilde),
        (">", Op::Gt),
        ("<", Op::Lt),
        ("=", Op::Eq),
        ("~", Op::Tilde),
        ("^", Op::Caret),
        ("", Op::Eq),
    ];
    let (op, rest) = ops
        .iter()
        .find_map(|(p, op)| text.strip_prefix(p).map(|r| (*op, r)))
        .unwrap_or((Op::Eq, text));
    let rest = rest.trim();
    let body = rest.strip_prefix('v').unwrap_or(rest);
    let (core, suffix) = match body.find(['-', '+']) {
        Some(i) => (&body[..i], &body[i..]),
        None => (body, ""),
    };
    let wildcard = |p: &str| matches!(p, "x" | "X" | "*");
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() > 3 || core.is_empty() {
        return Err(Some(text.to_string()));
    }
    let mut nums = [0u64; 3];
    let mut fixed = 0u8;
    for (i, p) in parts.iter().enumerate() {
        if wildcard(p) {
            break;
        }
        if fixed as usize != i {
            return Err(Some(text.to_string()));
        }
        nums[i] = number(p).ok_or_else(|| Some(text.to_string()))?;
        fixed += 1;
    }
    let full = format!("{}.{}.{}{suffix}", nums[0], nums[1], nums[2]);
    let v = Version::parse(&full).map_err(|_| Some(text.to_string()))?;
    Ok(Comparison { op, v, fixed })
}

impl Comparison {
    /// The smallest version above every version the wildcard pattern covers
    /// (`1.2.x` → 1.3.0, `1.x` → 2.0.0); `None` when unbounded (`*`).
    fn wildcard_end(&self) -> Option<Version> {
        let v = &self.v;
        match self.fixed {
            0 => None,
            1 => Some(Version::core(v.major + 1, 0, 0)),
            2 => Some(Version::core(v.major, v.minor + 1, 0)),
            _ => Some(Version::core(v.major, v.minor, v.patch + 1)),
        }
    }

    fn in_wildcard(&self, v: &Version) -> bool {
        v.compare(&self.v) != Ordering::Less
            && self
                .wildcard_end()
                .is_none_or(|end| v.compare(&end) == Ordering::Less)
    }

    fn check(&self, v: &Version) -> bool {
        if !v.pre.is_empty() && self.v.pre.is_empty() {
            return false;
        }
        let c = &self.v;
        let exact = self.fixed == 3;
        match self.op {
            Op::Eq if exact => v.compare(c) == Ordering::Equal,
            Op::Eq => self.in_wildcard(v),
            Op::Ne if exact => v.compare(c) != Ordering::Equal,
            Op::Ne => !self.in_wildcard(v),
            Op::Gt if exact => v.compare(c) == Ordering::Greater,
            Op::Gt => self
                .wildcard_end()
                .is_some_and(|end| v.compare(&end) != Ordering::Less),
            Op::Lt => v.compare(c) == Ordering::Less,
            Op::Ge => v.compare(c) != Ordering::Less,
            Op::Le if exact => v.compare(c) != Ordering::Greater,
            Op::Le => self
                .wildcard_end()
                .is_none_or(|end| v.compare(&end) == Ordering::Less),
            Op::Tilde => {
                // Same minor when one is given, else same major.
                let end = match self.fixed {
                    0 => None,
                    1 => Some(Version::core(c.major + 1, 0, 0)),
                    _ => Some(Version::core(c.major, c.minor + 1, 0)),
                };
                v.compare(c) != Ordering::Less
                    && end.is_none_or(|e| v.compare(&e) == Ordering::Less)
            }
            Op::Caret => {
                // The leftmost non-zero part given stays fixed.
                let end = if self.fixed == 0 {
                    None
                } else if c.major > 0 || self.fixed == 1 {
                    Some(Version::core(c.major + 1, 0, 0))
                } else if c.minor > 0 || self.fixed == 2 {
                    Some(Version::core(0, c.minor + 1, 0))
                } else {
                    Some(Version::core(0, 0, c.patch + 1))
                };
                v.compare(c) != Ordering::Less
                    && end.is_none_or(|e| v.compare(&e) == Ordering::Less)
            }
        }
    }
}

/// `semverCompare CONSTRAINT VERSION`.
pub fn semver_compare(constraint: &str, version: &str) -> Result<bool, String> {
    let c = Constraints::parse(constraint)?;
    let v = Version::parse(version)?;
    Ok(c.check(&v))
}

/// The template view of a version (Masterminds' `*semver.Version` methods).
struct VersionObject(Version);

impl Object for VersionObject {
    fn type_name(&self) -> &str {
        "*semver.Version"
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let v = &self.0;
        let other = || match args.first() {
            Some(Value::Object(o)) => match o.as_any().downcast_ref::<VersionObject>() {
                Some(x) => Ok(x.0.clone()),
                None => Err(format!(
                    "wrong type for value; expected *semver.Version; got {}",
                    o.type_name()
                )),
            },
            Some(x) => Err(format!(
                "wrong type for value; expected *semver.Version; got {}",
                x.type_name()
            )),
            None => Err("wrong number of args: got 0 want 1".to_string()),
        };
        let bump =
            |m: u64, n: u64, p: u64| Value::Object(Arc::new(VersionObject(Version::core(m, n, p))));
        Some(Ok(match name {
            "Major" => Value::Int(v.major as i64),
            "Minor" => Value::Int(v.minor as i64),
            "Patch" => Value::Int(v.patch as i64),
            "Prerelease" => Value::str(&v.pre),
            "Metadata" => Value::str(&v.metadata),
            "Original" => Value::str(&v.original),
            "String" => Value::from(v.to_string()),
            "IncMajor" => bump(v.major + 1, 0, 0),
            "IncMinor" => bump(v.major, v.minor + 1, 0),
            "IncPatch" if v.pre.is_empty() => bump(v.major, v.minor, v.patch + 1),
            "IncPatch" => bump(v.major, v.minor, v.patch),
            "Compare" => return Some(other().map(|o| Value::Int(v.compare(&o) as i64))),
            "LessThan" => {
                return Some(other().map(|o| Value::Bool(v.compare(&o) == Ordering::Less)))
            }
            "GreaterThan" => {
                return Some(other().map(|o| Value::Bool(v.compare(&o) == Ordering::Greater)))
            }
            "Equal" => return Some(other().map(|o| Value::Bool(v.compare(&o) == Ordering::Equal))),
            _ => return None,
        }))
    }
    fn display(&self) -> String {
        self.0.to_string()
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn to_value(&self) -> Value {
        Value::from(self.0.to_string())
    }
}

pub(super) fn register(f: &mut Funcs) {
    use Kind::*;
    f.pure("semverCompare", &[Str, Str], None, |a| {
        semver_compare(s(&a[0]), s(&a[1])).map(Value::Bool)
    });
    f.pure("semver", &[Str], None, |a| {
        Version::parse(s(&a[0])).map(|v| Value::Object(Arc::new(VersionObject(v))))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(c: &str, v: &str) -> bool {
        semver_compare(c, v).unwrap()
    }

    #[test]
    fn exact_and_ranges() {
        assert!(ok("1.2.3", "1.2.3"));
        assert!(ok("=1.2.3", "v1.2.3"));
        assert!(!ok("1.2.3", "1.2.4"));
        assert!(ok("!=1.2.3", "1.2.4"));
        assert!(!ok(">1.2", "1.2.1"));
        assert!(ok(">1.2", "1.3.0"));
        assert!(ok(">=1.2.3, <2", "1.9.9"));
        assert!(!ok(">=1.2.3, <2", "2.0.0"));
        assert!(ok(">=1.2.3 <2", "1.5.0"));
        assert!(ok("<1.0 || >=3.0", "3.1.0"));
        assert!(!ok("<1.0 || >=3.0", "2.0.0"));
        assert!(ok(">= 1.2, < 1.3", "1.2.9"));
        assert!(ok("1.2 - 1.4.5", "1.4.5"));
        assert!(!ok("1.2 - 1.4.5", "1.4.6"));
        assert!(ok("1.2 - 1.4", "1.4.9"));
    }

    #[test]
    fn wildcards() {
        assert!(ok("1.2.x", "1.2.9"));
        assert!(!ok("1.2.x", "1.3.0"));
        assert!(ok("1.x", "1.9.0"));
        assert!(ok("2.x.x", "2.31.10"));
        assert!(ok("*", "42.0.0"));
        assert!(!ok(">1.x", "1.9.0"));
        assert!(ok(">1.x", "2.0.0"));
        assert!(ok(">1.2.x", "1.3.0"));
        assert!(ok("<=1.2.x", "1.2.9"));
        assert!(!ok("<=1.2.x", "1.3.0"));
        assert!(ok("!=1.2.x", "1.3.0"));
        assert!(!ok("!=1.2.x", "1.2.5"));
    }

    #[test]
    fn tilde_and_caret() {
        assert!(ok("~1.2.3", "1.2.9"));
        assert!(!ok("~1.2.3", "1.3.0"));
        assert!(ok("~1", "1.9.0"));
        assert!(!ok("~1", "2.0.0"));
        assert!(ok("~>1.2", "1.2.7"));
        assert!(ok("^1.2.3", "1.9.0"));
        assert!(!ok("^1.2.3", "2.0.0"));
        assert!(ok("^0.2.3", "0.2.9"));
        assert!(!ok("^0.2.3", "0.3.0"));
        assert!(ok("^0.0.3", "0.0.3"));
        assert!(!ok("^0.0.3", "0.0.4"));
        assert!(ok("^0", "0.9.0"));
        assert!(!ok("^0.0", "0.1.0"));
        assert!(ok("^1.x", "1.5.0"));
    }

    #[test]
    fn prereleases_need_a_prerelease_constraint() {
        assert!(!ok(">=1.2.3", "1.3.0-beta.1"));
        assert!(ok(">=1.2.3-0", "1.3.0-beta.1"));
        assert!(ok(">=1.21-0", "v1.33.0"));
        assert!(ok(">=1.21-0", "v1.33.0-gke.100"));
        assert!(!ok("<1.19-0", "v1.33.0"));
        assert!(ok(">1.0.0-alpha", "1.0.0-beta"));
        assert!(ok(">1.0.0-beta.2", "1.0.0-beta.11"));
        assert!(!ok("*", "1.0.0-rc1"));
    }

    #[test]
    fn precedence_follows_semver() {
        let order = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
        ];
        for w in order.windows(2) {
            let (a, b) = (Version::parse(w[0]).unwrap(), Version::parse(w[1]).unwrap());
            assert_eq!(a.compare(&b), Ordering::Less, "{} < {}", w[0], w[1]);
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(semver_compare(">=1.2", "not-a-version").is_err());
        assert!(semver_compare(">=a.b", "1.2.3").is_err());
        assert!(semver_compare("", "1.2.3").is_err());
        assert!(Version::parse("1.2.3.4").is_err());
    }

    #[test]
    fn semver_function_exposes_parts() {
        let out = crate::render(r#"{{ $v := semver "v1.2.3-rc.1+b5" }}{{ $v.Major }}.{{ $v.Minor }}.{{ $v.Patch }} {{ $v.Prerelease }} {{ $v.Metadata }} {{ $v.Original }} {{ (semver "1.3.0").GreaterThan $v }}"#, &Value::Nil).unwrap();
        assert_eq!(out, "1.2.3 rc.1 b5 v1.2.3-rc.1+b5 true");
    }
}
