//! Template data: a dynamic value shaped like what Helm's Go code handles
//! (`map[string]interface{}`, `[]interface{}`, `string`, `int`, `float64`, `bool`, nil).
//!
//! Maps are shared and mutable, as Go maps are: Sprig's `set`, `unset` and `merge`
//! change a map in place and every holder of it sees the change. Lists are immutable
//! (Sprig's list functions always return new lists). Map keys iterate in sorted
//! order, which is the order Go's templates, `encoding/json` and YAML output use.

use std::collections::BTreeMap;
use std::fmt;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// A Go-like dynamic value.
#[derive(Clone, Default)]
pub enum Value {
    /// Go's "invalid" reflect value: what a missing map key yields under the
    /// default `missingkey` option. Prints as `<no value>`; functions receive nil.
    #[default]
    Missing,
    /// A nil interface (explicit `null`, a missing key under `missingkey=zero`).
    Nil,
    Bool(bool),
    /// Go's `int`/`int64` (template literals, `--set` integers, Sprig math results).
    Int(i64),
    /// Go's `float64` (every number of values.yaml, as Helm decodes YAML through JSON).
    Float(f64),
    String(Arc<str>),
    List(Arc<Vec<Value>>),
    Map(Map),
    /// A host object with fields and methods (`.Files`, `.Capabilities`, time values).
    Object(Arc<dyn Object>),
}

/// A host object reachable from templates: `.Files.Get "x"`, `.Capabilities.APIVersions.Has "v1"`.
pub trait Object: Send + Sync {
    /// The Go type name printed by `typeOf` and in error messages.
    fn type_name(&self) -> &str;
    /// A field or method of that name (`None` if there is none). Methods receive `args`;
    /// fields are called with no arguments.
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>>;
    /// How `{{ . }}` prints the object.
    fn display(&self) -> String {
        format!("{{{}}}", self.type_name())
    }
    /// Downcasting hook for functions that know the concrete type (dates).
    fn as_any(&self) -> &dyn std::any::Any;
    /// Whether the value counts as empty for `default`/`empty`.
    fn is_empty(&self) -> bool {
        false
    }
    /// The JSON/YAML form (`toJson`, `toYaml`); objects marshal as `{}` unless they say otherwise.
    fn to_value(&self) -> Value {
        Value::Map(Map::new())
    }
}

/// A shared, mutable map with sorted keys (a Go `map[string]interface{}`).
#[derive(Clone)]
pub struct Map {
    entries: Arc<RwLock<BTreeMap<String, Value>>>,
    /// The era it was made in (see [`Fence`]).
    era: u64,
}

impl Default for Map {
    fn default() -> Map {
        Map::from_btree(BTreeMap::new())
    }
}

impl Map {
    pub fn new() -> Map {
        Map::default()
    }
    pub fn from_btree(m: BTreeMap<String, Value>) -> Map {
        Map {
            entries: Arc::new(RwLock::new(m)),
            era: ERA.load(Ordering::Relaxed),
        }
    }
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Value>> {
        self.entries.read().unwrap_or_else(|e| e.into_inner())
    }
    /// The entries to change, unless this thread runs behind a fence made after the map
    /// (the write is then dropped and reported to the fence).
    fn write(&self) -> Option<std::sync::RwLockWriteGuard<'_, BTreeMap<String, Value>>> {
        let fenced_off = FENCED.with(|f| match f.get() {
            Some((era, _)) if self.era < era => {
                f.set(Some((era, true)));
                true
            }
            _ => false,
        });
        (!fenced_off).then(|| self.entries.write().unwrap_or_else(|e| e.into_inner()))
    }
    pub fn get(&self, key: &str) -> Option<Value> {
        self.read().get(key).cloned()
    }
    pub fn contains_key(&self, key: &str) -> bool {
        self.read().contains_key(key)
    }
    pub fn insert(&self, key: impl Into<String>, v: Value) {
        if let Some(mut entries) = self.write() {
            entries.insert(key.into(), v);
        }
    }
    pub fn remove(&self, key: &str) -> Option<Value> {
        self.write()?.remove(key)
    }
    pub fn len(&self) -> usize {
        self.read().len()
    }
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }
    pub fn keys(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }
    /// A copy of the entries (the map itself stays shared).
    pub fn snapshot(&self) -> BTreeMap<String, Value> {
        self.read().clone()
    }
    /// Entries in key order.
    pub fn entries(&self) -> Vec<(String, Value)> {
        self.read().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
    pub fn ptr_eq(&self, other: &Map) -> bool {
        Arc::ptr_eq(&self.entries, &other.entries)
    }
}

/// The era maps made now belong to; each [`Fence`] starts a new one.
static ERA: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// While this thread runs behind a fence: its era, and whether the code tried to
    /// change a map made before it.
    static FENCED: Cell<Option<(u64, bool)>> = const { Cell::new(None) };
}

/// A line between the maps made before it, which whatever runs after it may share, and
/// the maps made after. Code run behind the fence ([`Fence::run`]) may change the maps
/// it makes but not the older ones: such a change is dropped and reported. So templates
/// that only read shared values can run at the same time, and those that change them
/// (Sprig's `set` on `.Values`) can be run again one after another.
pub struct Fence(u64);

impl Fence {
    /// A fence here: maps made from now on are behind it.
    pub fn now() -> Fence {
        Fence(ERA.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// Runs `f` on this thread behind the fence; returns its result and whether it
    /// tried to change a map made before the fence (a change that was dropped).
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> (R, bool) {
        /// Puts back what was there before, also when `f` panics.
        struct Restore(Option<(u64, bool)>);
        impl Drop for Restore {
            fn drop(&mut self) {
                FENCED.set(self.0);
            }
        }
        let _restore = Restore(FENCED.replace(Some((self.0, false))));
        let r = f();
        let wrote = FENCED.get().is_some_and(|(_, wrote)| wrote);
        (r, wrote)
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.read().iter()).finish()
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Missing => write!(f, "Missing"),
            Value::Nil => write!(f, "Nil"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::List(l) => f.debug_list().entries(l.iter()).finish(),
            Value::Map(m) => m.fmt(f),
            Value::Object(o) => write!(f, "<{}>", o.type_name()),
        }
    }
}

impl PartialEq for Value {
    /// Deep equality, as Go's `reflect.DeepEqual` on these types.
    fn eq(&self, other: &Value) -> bool {
        deep_equal(self, other)
    }
}

/// Go's `reflect.DeepEqual` over values (no int/float cross-equality).
pub fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Missing | Value::Nil, Value::Missing | Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| deep_equal(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            if x.ptr_eq(y) {
                return true;
            }
            let (x, y) = (x.snapshot(), y.snapshot());
            x.len() == y.len()
                && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w)))
        }
        (Value::Object(x), Value::Object(y)) => Arc::ptr_eq(x, y),
        _ => false,
    }
}

impl Value {
    pub fn str(s: impl AsRef<str>) -> Value {
        Value::String(Arc::from(s.as_ref()))
    }
    pub fn list(v: Vec<Value>) -> Value {
        Value::List(Arc::new(v))
    }
    pub fn map(m: BTreeMap<String, Value>) -> Value {
        Value::Map(Map::from_btree(m))
    }
    pub fn empty_map() -> Value {
        Value::Map(Map::new())
    }

    /// Nil or missing.
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil | Value::Missing)
    }

    /// Missing becomes nil (what a function parameter of interface type receives).
    pub fn or_nil(self) -> Value {
        match self {
            Value::Missing => Value::Nil,
            v => v,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Go's type name of the value (`typeOf`, `%T`, error messages).
    pub fn type_name(&self) -> String {
        match self {
            Value::Missing | Value::Nil => "<nil>".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Float(_) => "float64".into(),
            Value::String(_) => "string".into(),
            Value::List(_) => "[]interface {}".into(),
            Value::Map(_) => "map[string]interface {}".into(),
            Value::Object(o) => o.type_name().into(),
        }
    }

    /// Go's reflect kind name (`kindOf`).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Missing | Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::List(_) => "slice",
            Value::Map(_) => "map",
            Value::Object(o) => {
                if o.type_name().starts_with('*') {
                    "ptr"
                } else {
                    "struct"
                }
            }
        }
    }

    /// Go template truth: false, 0, nil, empty string/list/map are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Missing | Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Object(_) => true,
        }
    }

    /// Sprig's notion of empty (`empty`, `default`, `coalesce`).
    pub fn is_empty(&self) -> bool {
        match self {
            Value::Object(o) => o.is_empty(),
            v => !v.truthy(),
        }
    }

    /// A deep copy: maps are fresh (no longer shared).
    pub fn deep_copy(&self) -> Value {
        match self {
            Value::List(l) => Value::list(l.iter().map(Value::deep_copy).collect()),
            Value::Map(m) => Value::map(
                m.entries().into_iter().map(|(k, v)| (k, v.deep_copy())).collect(),
            ),
            v => v.clone(),
        }
    }

    /// Every integer becomes a float64, as Helm's JSON round trip of YAML does.
    pub fn ints_to_floats(self) -> Value {
        match self {
            Value::Int(i) => Value::Float(i as f64),
            Value::List(l) => Value::list(l.iter().cloned().map(Value::ints_to_floats).collect()),
            Value::Map(m) => Value::map(
                m.entries().into_iter().map(|(k, v)| (k, v.ints_to_floats())).collect(),
            ),
            v => v,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::str(s)
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(Arc::from(s))
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Value {
        Value::list(v)
    }
}
impl From<BTreeMap<String, Value>> for Value {
    fn from(m: BTreeMap<String, Value>) -> Value {
        Value::map(m)
    }
}

impl From<&serde_json::Value> for Value {
    /// JSON integers stay integers here; use [`Value::ints_to_floats`] for Helm's float64 view.
    fn from(j: &serde_json::Value) -> Value {
        match j {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(0.0)),
            },
            serde_json::Value::String(s) => Value::str(s),
            serde_json::Value::Array(a) => Value::list(a.iter().map(Value::from).collect()),
            serde_json::Value::Object(o) => {
                Value::map(o.iter().map(|(k, v)| (k.clone(), Value::from(v))).collect())
            }
        }
    }
}

impl Value {
    /// Back to JSON (objects through [`Object::to_value`]); non-finite floats become null.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Missing | Value::Nil => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::String(s) => serde_json::Value::String(s.to_string()),
            Value::List(l) => serde_json::Value::Array(l.iter().map(Value::to_json).collect()),
            Value::Map(m) => serde_json::Value::Object(
                m.entries().into_iter().map(|(k, v)| (k, v.to_json())).collect(),
            ),
            Value::Object(o) => o.to_value().to_json(),
        }
    }
}

/// Deserializing any self-describing format (YAML, JSON) into a [`Value`]. Non-string
/// map keys become their string form, as Helm's YAML→JSON conversion does.
impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor { floats: false })
    }
}

/// A [`Value`] deserialized with every integer as a float64, as Helm's YAML→JSON
/// round trip yields (the same as [`Value::ints_to_floats`] after deserializing,
/// without rebuilding the tree).
pub struct FloatValue(pub Value);

impl<'de> serde::Deserialize<'de> for FloatValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<FloatValue, D::Error> {
        d.deserialize_any(ValueVisitor { floats: true }).map(FloatValue)
    }
}

#[derive(Clone, Copy)]
struct ValueVisitor {
    /// Integers become floats.
    floats: bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for ValueVisitor {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ValueVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(if self.floats { Value::Float(v as f64) } else { Value::Int(v) })
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(match i64::try_from(v) {
            Ok(i) if !self.floats => Value::Int(i),
            _ => Value::Float(v as f64),
        })
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::str(v))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = a.next_element_seed(self)? {
            out.push(v);
        }
        Ok(Value::list(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(k) = a.next_key::<Value>()? {
            let v = a.next_value_seed(self)?;
            let key = match k {
                Value::String(s) => s.to_string(),
                Value::Nil | Value::Missing => "null".to_string(),
                other => crate::format::sprint(&[other]),
            };
            out.insert(key, v);
        }
        Ok(Value::map(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behind_a_fence_only_maps_made_after_it_change() {
        let shared = Map::new();
        shared.insert("x", Value::Int(1));
        let fence = Fence::now();
        let ((), wrote) = fence.run(|| {
            let own = Map::new();
            own.insert("y", Value::Int(2));
            assert_eq!(own.get("y"), Some(Value::Int(2)));
            shared.insert("x", Value::Int(3));
            assert_eq!(shared.remove("x"), None);
        });
        assert!(wrote, "the write to the older map is reported");
        assert_eq!(shared.get("x"), Some(Value::Int(1)), "and dropped");
        let ((), wrote) = fence.run(|| Map::new().insert("z", Value::Nil));
        assert!(!wrote, "a map of its own is the code's to change");
        shared.insert("x", Value::Int(4));
        assert_eq!(shared.get("x"), Some(Value::Int(4)), "outside the fence, writes go through");
    }

    #[test]
    fn a_panic_behind_a_fence_lifts_it() {
        let shared = Map::new();
        let fence = Fence::now();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fence.run(|| panic!("boom"))));
        assert!(panicked.is_err());
        shared.insert("x", Value::Int(1));
        assert_eq!(shared.get("x"), Some(Value::Int(1)));
    }
}
