//! YAML output as Helm's `toYaml` writes it: sigs.k8s.io/yaml (JSON first, then a
//! yaml.v2-style emitter): sorted keys, 2-space indent, sequences not indented under
//! their key, strings quoted only when a plain scalar would read back differently,
//! long plain strings folded past column 80, multi-line strings as literal blocks.

use std::borrow::Cow;

use crate::value::Value;

const WIDTH: usize = 80;

/// `toYaml`'s document text (with its trailing newline).
pub fn to_yaml(v: &Value) -> String {
    let v = as_json(v);
    let v = v.as_ref();
    let mut out = String::new();
    match v {
        Value::Map(m) if !m.is_empty() => write_map(v, 0, &mut out),
        Value::List(l) if !l.is_empty() => write_list(v, 0, &mut out),
        other => {
            out.push_str(&scalar(other, 2, 0));
            out.push('\n');
        }
    }
    out
}

/// The value as Helm's marshalling through JSON sees it: objects become their JSON
/// form, non-finite floats and missing values null. Everything else is unchanged, so it
/// is borrowed (the writers apply this at every level instead of copying the tree).
fn as_json(v: &Value) -> Cow<'_, Value> {
    match v {
        Value::Object(o) => Cow::Owned(Value::from(&o.to_value().to_json())),
        Value::Float(f) if !f.is_finite() => Cow::Owned(Value::Nil),
        Value::Missing => Cow::Owned(Value::Nil),
        v => Cow::Borrowed(v),
    }
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Map(m) => !m.is_empty(),
        Value::List(l) => !l.is_empty(),
        _ => false,
    }
}

fn pad(n: usize) -> String {
    " ".repeat(n)
}

fn write_map(v: &Value, indent: usize, out: &mut String) {
    let Value::Map(m) = v else { return };
    for (k, (key, val)) in m.entries().into_iter().enumerate() {
        let val = as_json(&val);
        let val = val.as_ref();
        if k > 0 || !out.ends_with("- ") {
            out.push_str(&pad(indent));
        }
        let ks = scalar(&Value::from(key.clone()), indent, indent);
        out.push_str(&ks);
        out.push(':');
        match val {
            Value::Map(_) if is_block(val) => {
                out.push('\n');
                write_map(val, indent + 2, out);
            }
            Value::List(_) if is_block(val) => {
                out.push('\n');
                write_list(val, indent, out);
            }
            _ => {
                out.push(' ');
                let col = indent + ks.chars().count() + 2;
                out.push_str(&scalar(val, indent + 2, col));
                out.push('\n');
            }
        }
    }
}

fn write_list(v: &Value, indent: usize, out: &mut String) {
    let Value::List(l) = v else { return };
    for item in l.iter() {
        let item = as_json(item);
        let item = item.as_ref();
        out.push_str(&pad(indent));
        out.push_str("- ");
        match item {
            Value::Map(_) if is_block(item) => write_map(item, indent + 2, out),
            Value::List(_) if is_block(item) => {
                // "- - a": the nested list starts on the same line.
                let mut inner = String::new();
                write_list(item, indent + 2, &mut inner);
                out.push_str(inner.trim_start());
            }
            _ => {
                out.push_str(&scalar(item, indent + 2, indent + 2));
                out.push('\n');
            }
        }
    }
}

fn scalar(v: &Value, indent: usize, col: usize) -> String {
    match v {
        Value::Missing | Value::Nil => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 9.2e18 {
                format!("{}", *f as i64)
            } else if f.is_nan() {
                ".nan".into()
            } else if f.is_infinite() {
                if *f > 0.0 { "+.inf".into() } else { "-.inf".into() }
            } else {
                crate::format::format_float_strconv(*f)
            }
        }
        Value::String(s) => string_scalar(s, indent, col),
        Value::Map(_) => "{}".into(),
        Value::List(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// Whether a plain scalar would be read back as something other than this string
/// (yaml.v2's resolve: null, bool, int, float, timestamp, base-60 float).
fn resolves_to_non_string(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True",
        "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", ".inf", ".Inf", ".INF", "+.inf",
        "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN", "<<",
    ];
    if SPECIAL.contains(&s) {
        return true;
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return false;
    }
    let plain: String = s.chars().filter(|&c| c != '_').collect();
    let p = plain.as_str();
    let body = p.strip_prefix(['-', '+']).unwrap_or(p);
    // ints: decimal, 0x, 0o/0 octal, 0b
    let lower = body.to_ascii_lowercase();
    let is_int = (!body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()))
        || lower.strip_prefix("0x").is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
        || lower.strip_prefix("0b").is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b == b'0' || b == b'1'))
        || lower.strip_prefix("0o").is_some_and(|h| !h.is_empty() && h.bytes().all(|b| (b'0'..=b'7').contains(&b)));
    if is_int {
        return true;
    }
    if is_yaml_float(p) || is_base60(s) || is_timestamp(s) {
        return true;
    }
    false
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - st
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

fn is_base60(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (main, _frac) = body.split_once('.').unwrap_or((body, ""));
    let mut parts = main.split(':');
    let Some(first) = parts.next() else { return false };
    let rest: Vec<&str> = parts.collect();
    !rest.is_empty()
        && first.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && first.bytes().all(|b| b.is_ascii_digit() || b == b'_')
        && rest.iter().all(|p| !p.is_empty() && p.len() <= 2 && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u32>().is_ok_and(|n| n < 60 || p.len() == 1))
        && _frac.bytes().all(|b| b.is_ascii_digit() || b == b'_')
}

/// yaml.v2 timestamps: `2006-1-2`, with optional time part.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let rest = &s[5..];
    let (date, time) = match rest.find(['T', 't', ' ']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let mut dp = date.split('-');
    let ok_num = |p: Option<&str>| p.is_some_and(|p| (1..=2).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    if !(ok_num(dp.next()) && ok_num(dp.next()) && dp.next().is_none()) {
        return false;
    }
    match time {
        None => true,
        Some(t) => {
            let t = t.trim_start();
            let hh = t.split(':').next().unwrap_or("");
            (1..=2).contains(&hh.len()) && hh.bytes().all(|b| b.is_ascii_digit()) && t.len() > hh.len() + 3
        }
    }
}

/// What libyaml's scalar analysis allows for a block-context string.
struct Analysis {
    plain: bool,
    single: bool,
    block: bool,
}

fn analyze(s: &str) -> Analysis {
    let chars: Vec<char> = s.chars().collect();
    let mut block_ind = false;
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) = (false, false, false, false);
    let (mut break_space, mut space_break, mut special, mut line_breaks) = (false, false, false, false);
    if s.starts_with("---") || s.starts_with("...") {
        block_ind = true;
    }
    let (mut prev_space, mut prev_break) = (false, false);
    let n = chars.len();
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let next_blank = next.is_none_or(|c| c == ' ' || c == '\t' || c == '\n' || c == '\r');
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`' => {
                    block_ind = true
                }
                '?' | ':' | '-' if next_blank => block_ind = true,
                _ => {}
            }
        } else {
            match c {
                ':' if next_blank => block_ind = true,
                '#' if prev_space || prev_break => block_ind = true,
                _ => {}
            }
        }
        let printable = c == '\n' || (' '..='~').contains(&c) || c == '\u{85}' || (c >= '\u{a0}' && c != '\u{feff}' && c != '\u{fffe}' && c != '\u{ffff}');
        if !printable {
            special = true;
        }
        if c == '\n' {
            line_breaks = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i == n - 1 {
                trailing_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if c == '\n' || c == '\r' {
            if i == 0 {
                leading_break = true;
            }
            if i == n - 1 {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
    }
    let mut a = Analysis { plain: true, single: true, block: true };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.plain = false;
    }
    if trailing_space {
        a.block = false;
    }
    if break_space {
        a.plain = false;
        a.single = false;
    }
    if space_break || special {
        a.plain = false;
        a.single = false;
        a.block = false;
    }
    if line_breaks {
        a.plain = false;
    }
    if block_ind {
        a.plain = false;
    }
    a
}

/// Emits words separated by single spaces, folding at a space once past the width.
fn fold(s: &str, indent: usize, mut col: usize) -> String {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut prev_space = false;
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let next_space = chars.get(i + 1) == Some(&' ');
            if !prev_space && col > WIDTH && !next_space && i != 0 && i + 1 != chars.len() {
                out.push('\n');
                out.push_str(&pad(indent));
                col = indent;
                prev_space = true;
                continue;
            }
            prev_space = true;
        } else {
            prev_space = false;
        }
        out.push(c);
        col += 1;
    }
    out
}

fn string_scalar(s: &str, indent: usize, col: usize) -> String {
    let a = analyze(s);
    if s.contains('\n') && a.block {
        return literal(s, indent);
    }
    let want_plain = !s.contains('\n') && !s.is_empty() && !resolves_to_non_string(s);
    if want_plain && a.plain {
        return fold(s, indent, col);
    }
    if want_plain && a.single {
        return format!("'{}'", fold(&s.replace('\'', "''"), indent, col + 1));
    }
    double_quoted(s)
}

fn literal(s: &str, indent: usize) -> String {
    let mut head = String::from("|");
    if s.starts_with(' ') || s.starts_with('\n') {
        head.push('2');
    }
    if !s.ends_with('\n') {
        head.push('-');
    } else if s.ends_with("\n\n") || s == "\n" {
        head.push('+');
    }
    let body = s.strip_suffix('\n').unwrap_or(s);
    let mut out = head;
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad(indent));
            out.push_str(line);
        }
    }
    if s.ends_with("\n\n") {
        // Keep-chomping: the trailing empty lines are part of the block.
    }
    out
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02X}", c as u32)),
            '\u{feff}' => out.push_str("\\uFEFF"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Parses YAML as Helm does (`sigs.k8s.io/yaml`: through JSON, so numbers are float64).
pub fn from_yaml(s: &str) -> Result<Value, String> {
    match super::yaml_block::read(s) {
        Some(v) => Ok(v),
        None => from_yaml_as::<crate::value::FloatValue>(s).map(|v| v.0),
    }
}

/// Parses YAML into any deserializable type, with [`from_yaml`]'s error wording (for
/// callers that need only part of a document and skip building the rest).
pub fn from_yaml_as<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    // Comments are still checked, but not kept (nothing here reads them): a sixth faster
    // on a chart's commented values.yaml.
    let mut options = serde_saphyr::Options::default();
    options.emit_comments = false;
    serde_saphyr::from_str_with_options(s, options)
        .map_err(|e| format!("error converting YAML to JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_follows_yaml_v2() {
        let v = Value::from(&serde_json::json!({
            "b": 1, "a": {"c": [1, 2]}, "s": "true", "e": "", "d": "- x", "k": "a: b", "date": "2024-01-02",
            "m": "line1\nline2\n", "n": "x\ny", "num": "123", "f": 1.5, "z": null, "l": [], "o": {}
        }));
        assert_eq!(
            to_yaml(&v),
            "a:\n  c:\n  - 1\n  - 2\nb: 1\nd: '- x'\ndate: \"2024-01-02\"\ne: \"\"\nf: 1.5\nk: 'a: b'\nl: []\nm: |\n  line1\n  line2\n\"n\": |-\n  x\n  y\nnum: \"123\"\no: {}\ns: \"true\"\nz: null\n"
        );
    }

    #[test]
    fn lists_of_maps() {
        let v = Value::from(&serde_json::json!([{"name": "http", "port": 80}, [1, 2], "x"]));
        assert_eq!(to_yaml(&v), "- name: http\n  port: 80\n- - 1\n  - 2\n- x\n");
    }
}
