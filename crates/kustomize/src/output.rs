//! YAML output in kustomize's style: keys sorted, block style, sequences
//! flush with their parent key, multi-line strings as literal blocks,
//! documents separated by `---`.

use serde_json::Value;

/// Renders resources as one YAML stream.
pub fn to_yaml(resources: &[Value]) -> String {
    let mut out = String::new();
    for (i, r) in resources.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&document(r));
    }
    out
}

/// Renders one value as a YAML document (ends with a newline).
pub fn document(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, v, 0),
        Value::Array(a) if !a.is_empty() => write_seq(&mut out, v, 0),
        _ => {
            out.push_str(&scalar(v, 0));
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    }
}

fn write_map(out: &mut String, v: &Value, ind: usize) {
    let Value::Object(m) = v else { return };
    for (i, (k, val)) in m.iter().enumerate() {
        if i > 0 {
            indent(out, ind);
        }
        out.push_str(&key(k));
        out.push(':');
        match val {
            Value::Object(_) if is_block(val) => {
                out.push('\n');
                indent(out, ind + 2);
                write_map(out, val, ind + 2);
            }
            Value::Array(_) if is_block(val) => {
                out.push('\n');
                indent(out, ind);
                write_seq(out, val, ind);
            }
            _ => {
                out.push(' ');
                out.push_str(&scalar(val, ind + 2));
                out.push('\n');
            }
        }
    }
}

fn write_seq(out: &mut String, v: &Value, ind: usize) {
    let Value::Array(a) = v else { return };
    for (i, item) in a.iter().enumerate() {
        if i > 0 {
            indent(out, ind);
        }
        out.push_str("- ");
        match item {
            Value::Object(_) if is_block(item) => write_map(out, item, ind + 2),
            Value::Array(_) if is_block(item) => write_seq(out, item, ind + 2),
            _ => {
                out.push_str(&scalar(item, ind + 2));
                out.push('\n');
            }
        }
    }
}

fn key(k: &str) -> String {
    if plain_ok(k) {
        k.to_string()
    } else {
        quoted(k)
    }
}

/// A scalar (or an empty collection) on one line, or a literal block.
fn scalar(v: &Value, ind: usize) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        Value::String(s) => string(s, ind),
    }
}

fn string(s: &str, ind: usize) -> String {
    if s.contains('\n') && literal_ok(s) {
        let chomp = if !s.ends_with('\n') {
            "-"
        } else if s.ends_with("\n\n") {
            "+"
        } else {
            ""
        };
        let lead = if s.starts_with(' ') { "2" } else { "" };
        let mut out = format!("|{lead}{chomp}");
        let body = s.strip_suffix('\n').unwrap_or(s);
        for line in body.split('\n') {
            out.push('\n');
            if !line.is_empty() {
                out.push_str(&" ".repeat(ind));
                out.push_str(line);
            }
        }
        return out;
    }
    if plain_ok(s) {
        s.to_string()
    } else {
        quoted(s)
    }
}

/// Literal blocks cannot carry trailing spaces on lines or control characters.
fn literal_ok(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() && c != '\n')
        && !s.split('\n').any(|l| l.ends_with(' ') || l.ends_with('\t'))
}

fn quoted(s: &str) -> String {
    if s.chars().any(|c| c.is_control()) {
        // serde_json's escaping is valid YAML double-quoted style.
        return Value::String(s.to_string()).to_string();
    }
    if looks_typed(s) {
        return format!("\"{s}\"");
    }
    format!("'{}'", s.replace('\'', "''"))
}

/// Whether a plain scalar would read back as something other than this string.
fn looks_typed(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~" | ""
            | ".inf" | "-.inf" | "+.inf" | ".nan"
    ) || looks_numeric(s)
}

fn looks_numeric(s: &str) -> bool {
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    if t.is_empty() {
        return false;
    }
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0o")) {
        return !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit() || c == '_');
    }
    let first = t.as_bytes()[0];
    if !(first.is_ascii_digit() || first == b'.') {
        return false;
    }
    t.chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-' | '_' | ':'))
        && t.chars().any(|c| c.is_ascii_digit())
}

fn plain_ok(s: &str) -> bool {
    if s.is_empty() || looks_typed(s) {
        return false;
    }
    if s.starts_with(' ') || s.ends_with(' ') || s.contains('\n') || s.contains('\t') {
        return false;
    }
    let first = s.chars().next().unwrap_or(' ');
    if "!&*|>'\"%@`#,[]{}".contains(first) {
        return false;
    }
    if matches!(first, '-' | '?' | ':') {
        let second = s.chars().nth(1);
        if second.is_none_or(|c| c == ' ') || s == "---" {
            return false;
        }
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return false;
    }
    !s.chars().any(|c| c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sequences_sit_flush_under_their_key_and_strings_that_look_typed_are_quoted() {
        let v = json!({"kind": "ConfigMap", "data": {"a": "true", "b": "x: y", "n": "1.5", "t": "line1\nline2\n"},
                       "list": [{"name": "x", "port": 80}, "s"]});
        let y = document(&v);
        assert_eq!(
            y,
            "data:\n  a: \"true\"\n  b: 'x: y'\n  \"n\": \"1.5\"\n  t: |\n    line1\n    line2\nkind: ConfigMap\nlist:\n- name: x\n  port: 80\n- s\n"
        );
    }

    #[test]
    fn output_reads_back_to_the_same_values() {
        let v = json!({"a": ["", "-x", "- y", "#c", "it's", "tab\there", "no-newline\nend", "  lead\n"], "b": {}, "c": []});
        let y = to_yaml(&[v.clone(), v.clone()]);
        let back = crate::yaml::parse_documents(&y, std::path::Path::new("t")).unwrap();
        assert_eq!(back, vec![v.clone(), v]);
    }
}
