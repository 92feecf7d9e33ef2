//! JSON as Go's encoding/json writes it, base64/base32, hashes.

use sha1::Digest as _;

use super::{s, Funcs, Kind};
use crate::value::Value;

/// Go's encoding/json float formatting.
fn json_float(f: f64) -> String {
    if f == 0.0 {
        return "0".into();
    }
    let a = f.abs();
    if !(1e-6..1e21).contains(&a) {
        // 'e' format with Go's cleanup: e-07 → e-7.
        let g = format!("{f:e}");
        let (m, e) = g.split_once('e').unwrap_or((&g, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        let sign = if e < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{}", e.abs());
    }
    let mut s = format!("{f}");
    if s.contains('e') {
        s = format!("{f:.}");
    }
    s
}

fn json_string(s: &str, escape_html: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if escape_html => out.push_str(&format!("\\u{:04x}", c as u32)),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `json.Marshal` (compact) or `json.MarshalIndent(v, "", indent)`.
pub(crate) fn to_json(v: &Value, escape_html: bool, indent: Option<&str>) -> String {
    let mut out = String::new();
    write_json(v, escape_html, indent, 0, &mut out);
    out
}

fn write_json(v: &Value, esc: bool, indent: Option<&str>, depth: usize, out: &mut String) {
    let nl = |out: &mut String, d: usize| {
        if let Some(ind) = indent {
            out.push('\n');
            for _ in 0..d {
                out.push_str(ind);
            }
        }
    };
    match v {
        Value::Missing | Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&json_float(*f)),
        Value::String(s) => json_string(s, esc, out),
        Value::List(l) => {
            if l.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (k, e) in l.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                nl(out, depth + 1);
                write_json(e, esc, indent, depth + 1, out);
            }
            nl(out, depth);
            out.push(']');
        }
        Value::Map(m) => {
            let entries = m.entries();
            if entries.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (k, (key, e)) in entries.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                nl(out, depth + 1);
                json_string(key, esc, out);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                write_json(e, esc, indent, depth + 1, out);
            }
            nl(out, depth);
            out.push('}');
        }
        Value::Object(o) => write_json(&o.to_value(), esc, indent, depth, out),
    }
}

/// Go's json.Unmarshal into interface{}: numbers are float64.
pub(crate) fn from_json(s: &str) -> Result<Value, String> {
    let j: serde_json::Value = serde_json::from_str(s).map_err(|e| go_json_error(s, &e))?;
    Ok(Value::from(&j).ints_to_floats())
}

/// serde_json's error in the words of Go's encoding/json.
fn go_json_error(src: &str, e: &serde_json::Error) -> String {
    if e.is_eof() {
        return "unexpected end of JSON input".into();
    }
    let line = src.lines().nth(e.line().saturating_sub(1)).unwrap_or("");
    let c = line.chars().nth(e.column().saturating_sub(1));
    match c {
        Some(c) if e.to_string().starts_with("expected value") => {
            format!("invalid character '{c}' looking for beginning of value")
        }
        Some(c) if e.to_string().starts_with("trailing characters") => {
            format!("invalid character '{c}' after top-level value")
        }
        _ => e.to_string(),
    }
}

const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

pub(crate) fn b64enc(data: &[u8]) -> String {
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                out.push(B64[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub(crate) fn b64dec(s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim_end_matches(['\r', '\n']);
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    let body = s.trim_end_matches('=');
    if !s.len().is_multiple_of(4) {
        return Err(format!("illegal base64 data at input byte {}", s.len() - s.len() % 4));
    }
    for (k, c) in body.bytes().enumerate() {
        let v = B64.iter().position(|&x| x == c).ok_or_else(|| format!("illegal base64 data at input byte {k}"))?;
        buf = (buf << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

fn b32enc(data: &[u8]) -> String {
    let mut out = String::new();
    for c in data.chunks(5) {
        let mut n: u64 = 0;
        for k in 0..5 {
            n = (n << 8) | u64::from(*c.get(k).unwrap_or(&0));
        }
        let chars = (c.len() * 8).div_ceil(5);
        for k in 0..8 {
            if k < chars {
                out.push(B32[((n >> (35 - 5 * k)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b32dec(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(8) {
        return Err(format!("illegal base32 data at input byte {}", s.len() - s.len() % 8));
    }
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u64, 0);
    for (k, c) in s.trim_end_matches('=').bytes().enumerate() {
        let v = B32.iter().position(|&x| x == c).ok_or_else(|| format!("illegal base32 data at input byte {k}"))?;
        buf = (buf << 5) | v as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

pub(super) fn register(f: &mut Funcs) {
    use Kind::*;
    f.pure("b64enc", &[Str], None, |a| Ok(Value::from(b64enc(s(&a[0]).as_bytes()))));
    f.pure("b64dec", &[Str], None, |a| {
        Ok(Value::from(match b64dec(s(&a[0])) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => e,
        }))
    });
    f.pure("b32enc", &[Str], None, |a| Ok(Value::from(b32enc(s(&a[0]).as_bytes()))));
    f.pure("b32dec", &[Str], None, |a| {
        Ok(Value::from(match b32dec(s(&a[0])) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => e,
        }))
    });
    f.pure("sha256sum", &[Str], None, |a| Ok(Value::from(hex(&sha2::Sha256::digest(s(&a[0]).as_bytes())))));
    f.pure("sha512sum", &[Str], None, |a| Ok(Value::from(hex(&sha2::Sha512::digest(s(&a[0]).as_bytes())))));
    f.pure("sha1sum", &[Str], None, |a| Ok(Value::from(hex(&sha1::Sha1::digest(s(&a[0]).as_bytes())))));
    f.pure("adler32sum", &[Str], None, |a| Ok(Value::from(adler32(s(&a[0]).as_bytes()).to_string())));
    f.must_pair("toJson", &[Any], None, Value::str(""), |a| Ok(Value::from(to_json(&a[0], true, None))));
    f.must_pair("toPrettyJson", &[Any], None, Value::str(""), |a| {
        Ok(Value::from(to_json(&a[0], true, Some("  "))))
    });
    f.must_pair("toRawJson", &[Any], None, Value::str(""), |a| Ok(Value::from(to_json(&a[0], false, None))));
    f.pure("fromJson", &[Str], None, |a| {
        Ok(match from_json(s(&a[0])) {
            Ok(v @ Value::Map(_)) => v,
            Ok(v) => {
                let m = crate::value::Map::new();
                m.insert("Error", Value::from(format!("json: cannot unmarshal {} into Go value of type map[string]interface {{}}", json_kind(&v))));
                Value::Map(m)
            }
            Err(e) => {
                let m = crate::value::Map::new();
                m.insert("Error", Value::from(e));
                Value::Map(m)
            }
        })
    });
    f.pure("mustFromJson", &[Str], None, |a| from_json(s(&a[0])));
    f.pure("fromJsonArray", &[Str], None, |a| {
        Ok(match from_json(s(&a[0])) {
            Ok(v @ Value::List(_)) => v,
            Ok(v) => Value::list(vec![Value::from(format!(
                "json: cannot unmarshal {} into Go value of type []interface {{}}",
                json_kind(&v)
            ))]),
            Err(e) => Value::list(vec![Value::from(e)]),
        })
    });
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Map(_) => "object",
        Value::List(_) => "array",
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        Value::Int(_) | Value::Float(_) => "number",
        _ => "null",
    }
}
