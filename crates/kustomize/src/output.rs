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
            out.push_str(&scalar(v, 0, 0));
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
                let col = ind + key(k).chars().count() + 2;
                out.push_str(&scalar(val, ind + 2, col));
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
                out.push_str(&scalar(item, ind + 2, ind + 2));
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

/// A scalar (or an empty collection) starting at column `col`, as a
/// literal block if multi-line; continuation lines are indented by `ind`.
fn scalar(v: &Value, ind: usize, col: usize) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        Value::String(s) => string(s, ind, col),
    }
}

fn string(s: &str, ind: usize, col: usize) -> String {
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
    let text = if plain_ok(s) { s.to_string() } else { quoted(s) };
    if text.starts_with('"') {
        text
    } else {
        fold(&text, ind, col)
    }
}

/// Breaks a long plain or single-quoted scalar at spaces past column 80,
/// as kustomize's YAML encoder does.
fn fold(text: &str, ind: usize, col: usize) -> String {
    const WIDTH: usize = 80;
    if col + text.chars().count() <= WIDTH {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 16);
    let mut column = col;
    for (i, &c) in chars.iter().enumerate() {
        let breakable = c == ' '
            && column > WIDTH
            && i > 0
            && chars[i - 1] != ' '
            && chars.get(i + 1).is_some_and(|n| *n != ' ')
            && i + 2 < chars.len();
        if breakable {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', ind));
            column = ind;
        } else {
            out.push(c);
            column += 1;
        }
    }
    out
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

/// Whether a plain scalar would be read as an integer or a float.
fn looks_numeric(s: &str) -> bool {
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    let digits = |d: &str, radix: u32| !d.is_empty() && d.chars().all(|c| c.is_digit(radix) || c == '_');
    if let Some(h) = t.strip_prefix("0x") {
        return digits(h, 16);
    }
    if let Some(o) = t.strip_prefix("0o") {
        return digits(o, 8);
    }
    if let Some(b) = t.strip_prefix("0b") {
        return digits(b, 2);
    }
    // Sexagesimal (YAML 1.1): 1:20:30.
    if t.contains(':') {
        return t.split(':').all(|p| digits(p, 10));
    }
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (int.is_empty() || digits(int, 10))
                && (frac.is_empty() || digits(frac, 10))
                && !(int.is_empty() && frac.is_empty())
        }
        None => digits(mantissa, 10),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e), 10));
    mantissa_ok && exponent_ok
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
    fn version_like_strings_stay_plain_and_numbers_are_quoted() {
        assert!(!looks_numeric("1.21.0"));
        assert!(!looks_numeric("800-867-5309"));
        assert!(looks_numeric("1.5") && looks_numeric("-3") && looks_numeric("1e3") && looks_numeric("0x1F"));
    }

    #[test]
    fn long_quoted_strings_fold_after_column_80() {
        let long = format!("| {}", "word ".repeat(20).trim_end());
        let y = document(&json!({"k": long}));
        assert!(y.lines().all(|l| l.len() <= 90), "{y}");
        let back = crate::yaml::parse_documents(&y, std::path::Path::new("t")).unwrap();
        assert_eq!(back[0]["k"], json!(long));
    }

    #[test]
    fn output_reads_back_to_the_same_values() {
        let v = json!({"a": ["", "-x", "- y", "#c", "it's", "tab\there", "no-newline\nend", "  lead\n"], "b": {}, "c": []});
        let y = to_yaml(&[v.clone(), v.clone()]);
        let back = crate::yaml::parse_documents(&y, std::path::Path::new("t")).unwrap();
        assert_eq!(back, vec![v.clone(), v]);
    }
}
