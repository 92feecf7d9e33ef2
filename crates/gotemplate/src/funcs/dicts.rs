//! Sprig's dictionary functions. Maps are shared: `set`, `unset`, `merge` change them in place.

use super::conv::to_string;
use super::{s, Funcs, Kind};
use crate::value::{Map, Value};

fn map_of(v: &Value) -> Map {
    match v {
        Value::Map(m) => m.clone(),
        _ => Map::new(),
    }
}

/// mergo's notion of an empty value.
fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Object(_) => false,
        v => v.is_empty(),
    }
}

/// mergo.Merge (without override: fill missing or empty keys) and with override
/// (non-empty source values win). Nested maps merge recursively.
pub(crate) fn merge_into(dst: &Map, src: &Map, overwrite: bool) {
    if dst.ptr_eq(src) {
        return;
    }
    for (k, sv) in src.entries() {
        match (dst.get(&k), &sv) {
            (Some(Value::Map(dm)), Value::Map(sm)) => merge_into(&dm, sm, overwrite),
            (dv, sv) => {
                let dst_missing_or_empty = dv.as_ref().is_none_or(is_empty_value);
                if overwrite || dv.is_none() || (!is_empty_value(sv) && dst_missing_or_empty) {
                    dst.insert(k, sv.clone());
                }
            }
        }
    }
}

pub(super) fn register(f: &mut Funcs) {
    use Kind::*;
    f.pure("dict", &[], Some(Any), |a| {
        let m = crate::value::Map::new();
        for pair in a.chunks(2) {
            let k = to_string(&pair[0]);
            m.insert(k, pair.get(1).cloned().unwrap_or(Value::str("")));
        }
        Ok(Value::Map(m))
    });
    f.pure("get", &[Map, Str], None, |a| Ok(map_of(&a[0]).get(s(&a[1])).unwrap_or(Value::str(""))));
    f.pure("set", &[Map, Str, Any], None, |a| {
        let m = map_of(&a[0]);
        m.insert(s(&a[1]), a[2].clone());
        Ok(Value::Map(m))
    });
    f.pure("unset", &[Map, Str], None, |a| {
        let m = map_of(&a[0]);
        m.remove(s(&a[1]));
        Ok(Value::Map(m))
    });
    f.pure("hasKey", &[Map, Str], None, |a| Ok(Value::Bool(map_of(&a[0]).contains_key(s(&a[1])))));
    f.pure("pluck", &[Str], Some(Map), |a| {
        Ok(Value::list(a[1..].iter().filter_map(|d| map_of(d).get(s(&a[0]))).collect()))
    });
    f.pure("dig", &[Any], Some(Any), |a| {
        if a.len() < 3 {
            return Err("dig needs at least three arguments".into());
        }
        let dict = match &a[a.len() - 1] {
            Value::Map(m) => m.clone(),
            v => return Err(format!("interface conversion: interface {{}} is {}, not map[string]interface {{}}", v.type_name())),
        };
        let default = a[a.len() - 2].clone();
        let keys = &a[..a.len() - 2];
        let mut cur = Value::Map(dict);
        for k in keys {
            let key = k.as_str().ok_or_else(|| format!("interface conversion: interface {{}} is {}, not string", k.type_name()))?;
            match &cur {
                Value::Map(m) => match m.get(key) {
                    Some(v) => cur = v,
                    None => return Ok(default),
                },
                _ => return Ok(default),
            }
        }
        Ok(cur)
    });
    for (name, over) in [("merge", false), ("mergeOverwrite", true)] {
        f.pure(name, &[Map], Some(Map), move |a| {
            let dst = map_of(&a[0]);
            for src in &a[1..] {
                merge_into(&dst, &map_of(src), over);
            }
            Ok(Value::Map(dst))
        });
        let must = format!("must{}{}", name[..1].to_uppercase(), &name[1..]);
        f.pure(&must, &[Map], Some(Map), move |a| {
            let dst = map_of(&a[0]);
            for src in &a[1..] {
                merge_into(&dst, &map_of(src), over);
            }
            Ok(Value::Map(dst))
        });
    }
    f.pure("keys", &[], Some(Map), |a| {
        let mut out = Vec::new();
        for d in &a {
            out.extend(map_of(d).keys().into_iter().map(Value::from));
        }
        Ok(Value::list(out))
    });
    f.pure("values", &[Map], None, |a| Ok(Value::list(map_of(&a[0]).entries().into_iter().map(|(_, v)| v).collect())));
    f.pure("pick", &[Map], Some(Str), |a| {
        let src = map_of(&a[0]);
        let out = crate::value::Map::new();
        for k in &a[1..] {
            if let Some(v) = src.get(s(k)) {
                out.insert(s(k), v);
            }
        }
        Ok(Value::Map(out))
    });
    f.pure("omit", &[Map], Some(Str), |a| {
        let out = crate::value::Map::new();
        for (k, v) in map_of(&a[0]).entries() {
            if !a[1..].iter().any(|x| s(x) == k) {
                out.insert(k, v);
            }
        }
        Ok(Value::Map(out))
    });
    f.must_pair("deepCopy", &[Any], None, Value::Nil, |a| Ok(a[0].deep_copy()));
}
