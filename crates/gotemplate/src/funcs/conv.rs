//! Type conversion: int, int64, float64, toString, toStrings, atoi, toDecimal.

use super::{Funcs, Kind};
use crate::format;
use crate::value::Value;

/// Sprig's `toString` (`strval`): strings as is, everything else `%v`.
pub fn to_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        Value::Missing | Value::Nil => "<nil>".to_string(),
        v => format::to_v(v),
    }
}

/// Sprig's `toInt64` (cast.ToInt64E, errors to 0).
pub fn to_int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Float(f)
            if f.is_finite() => {
                *f as i64
            }
        Value::Bool(b) => i64::from(*b),
        Value::String(s) => parse_int_str(s).unwrap_or(0),
        _ => 0,
    }
}

fn parse_int_str(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(i) = s.parse::<i64>() {
        return Some(i);
    }
    // cast uses strconv.ParseInt(s, 0, 0): base prefixes allowed.
    let (neg, b) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let l = b.to_ascii_lowercase();
    let v = if let Some(h) = l.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = l.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(bb) = l.strip_prefix("0b") {
        i64::from_str_radix(bb, 2).ok()
    } else if l.len() > 1 && l.starts_with('0') {
        i64::from_str_radix(&l[1..], 8).ok()
    } else {
        None
    }?;
    Some(if neg { -v } else { v })
}

/// Sprig's `toFloat64`.
pub fn to_float(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(s) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

pub(super) fn register(f: &mut Funcs) {
    use Kind::*;
    f.pure("int", &[Any], None, |a| Ok(Value::Int(to_int(&a[0]))));
    f.pure("int64", &[Any], None, |a| Ok(Value::Int(to_int(&a[0]))));
    f.pure("float64", &[Any], None, |a| Ok(Value::Float(to_float(&a[0]))));
    f.pure("toString", &[Any], None, |a| Ok(Value::from(to_string(&a[0]))));
    f.pure("toStrings", &[Any], None, |a| {
        Ok(Value::list(super::lists::as_list(&a[0]).iter().map(|v| Value::from(to_string(v))).collect()))
    });
    f.pure("atoi", &[Str], None, |a| Ok(Value::Int(super::s(&a[0]).parse().unwrap_or(0))));
    f.pure("toDecimal", &[Any], None, |a| {
        Ok(Value::Int(i64::from_str_radix(&to_string(&a[0]), 8).unwrap_or(0)))
    });
    f.pure("toBool", &[Any], None, |a| {
        Ok(Value::Bool(match &a[0] {
            Value::Bool(b) => *b,
            Value::String(s) => matches!(&**s, "1" | "t" | "T" | "TRUE" | "true" | "True"),
            Value::Int(i) => *i != 0,
            Value::Float(x) => *x != 0.0,
            _ => false,
        }))
    });
}
