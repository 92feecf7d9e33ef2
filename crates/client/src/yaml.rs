//! YAML output as kubectl writes it (Go's yaml.v2 via sigs.k8s.io/yaml): block style,
//! sorted keys, lists at their key's indentation, strings that would read back as another
//! type double-quoted, strings with YAML-special characters single-quoted, multi-line
//! strings as literal blocks.

use serde_json::Value;

pub fn document(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => map(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => list(&mut out, a, 0),
        other => {
            out.push_str(&scalar(other, 0));
            out.push('\n');
        }
    }
    out
}

fn map(out: &mut String, m: &serde_json::Map<String, Value>, indent: usize) {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 || !out.ends_with("- ") {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(&string(k, indent));
        out.push(':');
        value(out, &m[k.as_str()], indent, true);
    }
}

fn list(out: &mut String, a: &[Value], indent: usize) {
    for (i, x) in a.iter().enumerate() {
        if i > 0 || !out.ends_with("- ") {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str("- ");
        match x {
            Value::Object(m) if !m.is_empty() => map(out, m, indent + 2),
            Value::Array(b) if !b.is_empty() => list(out, b, indent + 2),
            other => {
                out.push_str(&scalar(other, indent + 2));
                out.push('\n');
            }
        }
    }
}

/// After `key:`: a nested block on the next lines, or ` scalar`.
fn value(out: &mut String, v: &Value, indent: usize, _in_map: bool) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            map(out, m, indent + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            list(out, a, indent);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other, indent + 2));
            out.push('\n');
        }
    }
}

fn scalar(v: &Value, indent: usize) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s, indent),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

/// Whether a plain scalar would read back as something other than this string.
fn ambiguous(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "" | "~"
            | "null"
            | "true"
            | "false"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "y"
            | "n"
            | ".nan"
            | ".inf"
            | "-.inf"
            | "+.inf"
    ) {
        return true;
    }
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    let numeric = !t.is_empty()
        && (t.parse::<f64>().is_ok()
            && t.chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
            || t.strip_prefix("0x")
                .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
            || t.strip_prefix("0o")
                .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_digit(8)))
            || t.chars().all(|c| c.is_ascii_digit() || c == '_')
                && t.chars().any(|c| c.is_ascii_digit())
            || (t.contains(':')
                && t.split(':')
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit() || c == '.'))));
    numeric || timestamp(s)
}

/// YAML 1.1 timestamps: `2001-12-14`, `2001-12-14t21:59:43.10-05:00`, `2026-11-26T15:17:09Z`.
fn timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|x| x.iter().all(u8::is_ascii_digit))
    };
    if b.len() < 8 || !digits(0..4) || b[4] != b'-' {
        return false;
    }
    let rest = &s[5..];
    let (month, rest) = rest.split_once('-').unwrap_or((rest, ""));
    if month.is_empty() || month.len() > 2 || !month.bytes().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let day: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if day.is_empty() || day.len() > 2 {
        return false;
    }
    let tail = &rest[day.len()..];
    tail.is_empty() || tail.starts_with(['T', 't', ' ', '\t'])
}

fn plain_ok(s: &str) -> bool {
    let first = s.chars().next().unwrap_or(' ');
    if matches!(
        first,
        '-' | '?'
            | ':'
            | ','
            | '['
            | ']'
            | '{'
            | '}'
            | '#'
            | '&'
            | '*'
            | '!'
            | '|'
            | '>'
            | '\''
            | '"'
            | '%'
            | '@'
            | '`'
            | ' '
    ) {
        // "-x" and "?x"/":x" are plain when followed by a non-space.
        if !(matches!(first, '-' | '?' | ':') && s.len() > 1 && !s[1..].starts_with(' ')) {
            return false;
        }
    }
    let special = s.ends_with(' ')
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || s.chars().any(|c| c.is_control() || c == '\u{feff}');
    !special && !s.starts_with("---") && !s.starts_with("...")
}

fn string(s: &str, indent: usize) -> String {
    if s.contains('\n') && !s.chars().any(|c| c.is_control() && c != '\n') && !s.ends_with(' ') {
        let chomp = if s.ends_with("\n\n") {
            "+"
        } else if s.ends_with('\n') {
            ""
        } else {
            "-"
        };
        let lead = if s.starts_with(' ') { "2" } else { "" };
        let pad = " ".repeat(indent);
        let body: Vec<String> = s
            .strip_suffix('\n')
            .unwrap_or(s)
            .split('\n')
            .map(|l| {
                if l.is_empty() {
                    String::new()
                } else {
                    format!("{pad}{l}")
                }
            })
            .collect();
        return format!("|{lead}{chomp}\n{}", body.join("\n"));
    }
    if ambiguous(s) {
        return double_quoted(s);
    }
    if plain_ok(s) {
        return s.to_string();
    }
    if s.chars().any(|c| c.is_control()) {
        return double_quoted(s);
    }
    format!("'{}'", s.replace('\'', "''"))
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn like_kubectl() {
        let v = json!({"b": {"ts": "2026-11-26T15:17:09Z", "rv": "6", "t": "true", "s": "plain text", "j": "{\"a\":1}", "e": {}, "l": []},
            "a": [{"x": 1, "y": [1, 2]}, "str"], "m": "line1\nline2\n", "n": null, "c": "a: b", "star": "*"});
        assert_eq!(document(&v), "a:\n- x: 1\n  \"y\":\n  - 1\n  - 2\n- str\nb:\n  e: {}\n  j: '{\"a\":1}'\n  l: []\n  rv: \"6\"\n  s: plain text\n  t: \"true\"\n  ts: \"2026-11-26T15:17:09Z\"\nc: 'a: b'\nm: |\n  line1\n  line2\n\"n\": null\nstar: '*'\n");
    }
}
