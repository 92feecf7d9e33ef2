//! Go's predefined template functions.

use super::{Funcs, Kind};
use crate::format::{self, sprint};
use crate::value::Value;

pub(super) fn register(f: &mut Funcs) {
    use Kind::*;
    // `and`/`or` are evaluated lazily by the executor; registered so they parse.
    f.pure("and", &[Any], Some(Any), |_| Ok(Value::Nil));
    f.pure("or", &[Any], Some(Any), |_| Ok(Value::Nil));
    f.pure("not", &[Any], None, |a| Ok(Value::Bool(!a[0].truthy())));
    f.pure("len", &[Any], None, |a| length(&a[0]).map(Value::Int));
    f.pure("index", &[Any], Some(Any), |a| index(&a[0], &a[1..]));
    f.pure("slice", &[Any], Some(Any), |a| slice(&a[0], &a[1..]));
    f.pure("print", &[], Some(Any), |a| Ok(Value::from(sprint(&a))));
    f.pure("println", &[], Some(Any), |a| Ok(Value::from(format::sprintln(&a))));
    f.pure("printf", &[Str], Some(Any), |a| Ok(Value::from(format::sprintf(super::s(&a[0]), &a[1..]))));
    f.pure("html", &[], Some(Any), |a| Ok(Value::from(html_escape(&eval_args(&a)))));
    f.pure("js", &[], Some(Any), |a| Ok(Value::from(js_escape(&eval_args(&a)))));
    f.pure("urlquery", &[], Some(Any), |a| Ok(Value::from(query_escape(&eval_args(&a)))));
    f.pure("call", &[Any], Some(Any), |a| match &a[0] {
        Value::Nil | Value::Missing => Err("call of nil".into()),
        v => Err(format!("non-function of type {}", v.type_name())),
    });
    f.pure("eq", &[Any], Some(Any), |a| eq(&a[0], &a[1..]).map(Value::Bool));
    f.pure("ne", &[Any, Any], None, |a| eq(&a[0], &a[1..2]).map(|b| Value::Bool(!b)));
    f.pure("lt", &[Any, Any], None, |a| lt(&a[0], &a[1]).map(Value::Bool));
    f.pure("le", &[Any, Any], None, |a| {
        Ok(Value::Bool(lt(&a[0], &a[1])? || eq(&a[0], &a[1..2])?))
    });
    f.pure("gt", &[Any, Any], None, |a| {
        Ok(Value::Bool(!lt(&a[0], &a[1])? && !eq(&a[0], &a[1..2])?))
    });
    f.pure("ge", &[Any, Any], None, |a| Ok(Value::Bool(!lt(&a[0], &a[1])?)));
}

/// Go's `evalArgs`: one string argument as is, else `fmt.Sprint`.
fn eval_args(a: &[Value]) -> String {
    match a {
        [Value::String(s)] => s.to_string(),
        a => sprint(a),
    }
}

pub(crate) fn length(v: &Value) -> Result<i64, String> {
    match v {
        Value::Missing | Value::Nil => Err("len of nil pointer".into()),
        Value::String(s) => Ok(s.len() as i64),
        Value::List(l) => Ok(l.len() as i64),
        Value::Map(m) => Ok(m.len() as i64),
        v => Err(format!("len of type {}", v.type_name())),
    }
}

fn index_arg(i: &Value, cap: usize) -> Result<usize, String> {
    match i {
        Value::Int(x) => {
            if *x < 0 || *x as usize > cap {
                Err(format!("index out of range: {x}"))
            } else {
                Ok(*x as usize)
            }
        }
        Value::Missing | Value::Nil => Err("cannot index slice/array with nil".into()),
        v => Err(format!("cannot index slice/array with type {}", v.type_name())),
    }
}

fn index(item: &Value, idx: &[Value]) -> Result<Value, String> {
    let mut cur = item.clone();
    for i in idx {
        cur = match &cur {
            Value::Missing | Value::Nil => return Err("index of untyped nil".into()),
            Value::List(l) => {
                let x = index_arg(i, l.len())?;
                match l.get(x) {
                    Some(v) => v.clone(),
                    None => return Err(format!("index out of range: {x}")),
                }
            }
            Value::String(s) => {
                let x = index_arg(i, s.len())?;
                match s.as_bytes().get(x) {
                    Some(b) => Value::Int(*b as i64),
                    None => return Err(format!("index out of range: {x}")),
                }
            }
            Value::Map(m) => match i {
                Value::String(k) => m.get(k).unwrap_or(Value::Nil),
                Value::Missing | Value::Nil => Value::Nil,
                v => return Err(format!("value has type {}; should be string", v.type_name())),
            },
            v => return Err(format!("can't index item of type {}", v.type_name())),
        };
    }
    Ok(cur)
}

fn slice(item: &Value, idx: &[Value]) -> Result<Value, String> {
    if idx.len() > 3 {
        return Err(format!("too many slice indexes: {}", idx.len()));
    }
    let len = match item {
        Value::Missing | Value::Nil => return Err("slice of untyped nil".into()),
        Value::String(s) => {
            if idx.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            s.len()
        }
        Value::List(l) => l.len(),
        v => return Err(format!("can't slice item of type {}", v.type_name())),
    };
    let mut ix = [0usize, len, len];
    for (k, i) in idx.iter().enumerate() {
        ix[k] = index_arg(i, len)?;
    }
    if ix[0] > ix[1] {
        return Err(format!("invalid slice index: {} > {}", ix[0], ix[1]));
    }
    if idx.len() == 3 && ix[1] > ix[2] {
        return Err(format!("invalid slice index: {} > {}", ix[1], ix[2]));
    }
    match item {
        Value::String(s) => match s.get(ix[0]..ix[1]) {
            Some(sub) => Ok(Value::str(sub)),
            None => Ok(Value::from(String::from_utf8_lossy(&s.as_bytes()[ix[0]..ix[1]]).into_owned())),
        },
        Value::List(l) => Ok(Value::list(l[ix[0]..ix[1]].to_vec())),
        _ => Ok(Value::Nil),
    }
}

#[derive(PartialEq, Clone, Copy)]
enum BasicKind {
    Invalid,
    Bool,
    Int,
    Float,
    Str,
    Other,
}

fn basic_kind(v: &Value) -> BasicKind {
    match v {
        Value::Missing | Value::Nil => BasicKind::Invalid,
        Value::Bool(_) => BasicKind::Bool,
        Value::Int(_) => BasicKind::Int,
        Value::Float(_) => BasicKind::Float,
        Value::String(_) => BasicKind::Str,
        _ => BasicKind::Other,
    }
}

/// Go's `eq`: arg1 equals any of the others; nil compares unequal without error.
pub(crate) fn eq(a: &Value, others: &[Value]) -> Result<bool, String> {
    if others.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = basic_kind(a);
    for b in others {
        let k2 = basic_kind(b);
        let truth = if k1 != k2 {
            if !a.is_nil() && !b.is_nil() {
                return Err("incompatible types for comparison".into());
            }
            false
        } else {
            match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Int(x), Value::Int(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::String(x), Value::String(y)) => x == y,
                (x, y) if x.is_nil() || y.is_nil() => x.is_nil() && y.is_nil(),
                (Value::Object(x), Value::Object(y)) => std::sync::Arc::ptr_eq(x, y),
                (x, _) => return Err(format!("non-comparable type {}: {}", format::to_v(x), x.type_name())),
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

pub(crate) fn lt(a: &Value, b: &Value) -> Result<bool, String> {
    let (k1, k2) = (basic_kind(a), basic_kind(b));
    if matches!(k1, BasicKind::Invalid | BasicKind::Bool | BasicKind::Other) {
        return Err("invalid type for comparison".into());
    }
    if k1 != k2 {
        return Err("incompatible types for comparison".into());
    }
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => x < y,
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::String(x), Value::String(y)) => x < y,
        _ => return Err("invalid type for comparison".into()),
    })
}

pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
