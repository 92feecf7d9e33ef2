//! A fast reader for the plain block-style YAML that charts and rendered manifests are
//! written in: block mappings and sequences, comments, plain and quoted one-line
//! scalars, `|` literals, empty `[]`/`{}`. Anything else (flow collections, anchors,
//! tags, folded or multi-line scalars, escapes, numbers other than plain decimals,
//! words YAML might read as booleans or nulls) makes it give up, and the caller parses
//! the text with the full parser. So it never reads a document differently from the
//! full parser, only faster; `tests/yaml_block.rs` checks that on every YAML file of
//! the conformance data.

use std::collections::BTreeMap;

use crate::value::Value;

/// The document as [`super::yaml::from_yaml`] reads it, or `None` when the text uses
/// YAML this reader does not handle.
pub fn read(text: &str) -> Option<Value> {
    if text.contains(['\r', '\t']) {
        return None;
    }
    let mut lines = Vec::new();
    for raw in text.split('\n') {
        let body = raw.trim_start_matches(' ');
        if raw.starts_with("---") || raw.starts_with("...") || raw.starts_with('%') {
            return None;
        }
        lines.push(Line {
            indent: raw.len() - body.len(),
            body,
            raw,
        });
    }
    let mut r = Reader { lines, at: 0 };
    let value = match r.peek() {
        None => Value::Nil,
        Some(l) => {
            let indent = l.indent;
            r.node(indent)?
        }
    };
    // Everything must have been read.
    r.peek().is_none().then_some(value)
}

#[derive(Clone, Copy)]
struct Line<'a> {
    indent: usize,
    /// The line without its indentation.
    body: &'a str,
    raw: &'a str,
}

impl Line<'_> {
    fn is_blank_or_comment(&self) -> bool {
        self.body.is_empty() || self.body.starts_with('#')
    }
}

struct Reader<'a> {
    lines: Vec<Line<'a>>,
    at: usize,
}

impl<'a> Reader<'a> {
    /// The next line with content, skipping blank and comment lines.
    fn peek(&mut self) -> Option<Line<'a>> {
        while let Some(l) = self.lines.get(self.at) {
            if !l.is_blank_or_comment() {
                return Some(*l);
            }
            self.at += 1;
        }
        None
    }

    /// A block node whose first line is the next one, at `indent`.
    fn node(&mut self, indent: usize) -> Option<Value> {
        let l = self.peek()?;
        if is_dash(l.body) {
            self.sequence(indent)
        } else if split_key(l.body).is_some() {
            self.mapping(indent)
        } else {
            None
        }
    }

    fn mapping(&mut self, indent: usize) -> Option<Value> {
        let mut out = BTreeMap::new();
        while let Some(l) = self.peek() {
            if l.indent < indent || (l.indent == indent && is_dash(l.body)) {
                break;
            }
            if l.indent > indent {
                return None;
            }
            let (key, rest) = split_key(l.body)?;
            self.at += 1;
            let value = self.value_after(rest, indent, true)?;
            if out.insert(key, value).is_some() {
                return None;
            }
        }
        Some(Value::map(out))
    }

    fn sequence(&mut self, indent: usize) -> Option<Value> {
        let mut out = Vec::new();
        while let Some(l) = self.peek() {
            if l.indent < indent || (l.indent == indent && !is_dash(l.body)) {
                break;
            }
            if l.indent > indent {
                return None;
            }
            let rest = &l.body[1..];
            let item = rest.trim_start_matches(' ');
            if item.is_empty() || item.starts_with('#') {
                self.at += 1;
                out.push(self.nested(indent, false)?);
            } else if is_dash(item) {
                return None;
            } else if split_key(item).is_some() {
                // `- key: value`: a mapping whose keys line up after the dash.
                let column = indent + 1 + (rest.len() - item.len());
                self.lines[self.at] = Line {
                    indent: column,
                    body: item,
                    raw: l.raw,
                };
                out.push(self.mapping(column)?);
            } else {
                self.at += 1;
                out.push(self.value_after(item, indent, false)?);
            }
        }
        Some(Value::list(out))
    }

    /// The value of a mapping key or sequence entry at `indent`, given the text after
    /// `key:` or `- ` on its line (the lines after it are read as needed).
    fn value_after(&mut self, rest: &'a str, indent: usize, in_mapping: bool) -> Option<Value> {
        let rest = rest.trim_start_matches(' ');
        if rest.is_empty() || rest.starts_with('#') {
            return self.nested(indent, in_mapping);
        }
        let value = match rest.as_bytes()[0] {
            b'|' => return self.literal(rest, indent),
            b'"' | b'\'' => {
                let (s, after) = quoted(rest)?;
                end_of_line(after)?;
                Value::from(s)
            }
            b'[' => {
                let (list, after) = flow_sequence(rest)?;
                end_of_line(after)?;
                list
            }
            b'{' => {
                end_of_line(rest.strip_prefix("{}")?)?;
                Value::empty_map()
            }
            _ => {
                let text = match rest.find(" #") {
                    Some(i) => &rest[..i],
                    None => rest,
                }
                .trim_end_matches(' ');
                if text.contains(": ") || text.ends_with(':') {
                    return None;
                }
                plain(text)?
            }
        };
        // A more indented line after a one-line scalar would continue it.
        match self.peek() {
            Some(next) if next.indent > indent => None,
            _ => Some(value),
        }
    }

    /// What follows `key:` or `-` with nothing after it: a more indented block, a
    /// sequence at the key's own indentation (under a mapping key), or null.
    fn nested(&mut self, indent: usize, in_mapping: bool) -> Option<Value> {
        match self.peek() {
            Some(next) if next.indent > indent => self.node(next.indent),
            Some(next) if in_mapping && next.indent == indent && is_dash(next.body) => {
                self.sequence(indent)
            }
            _ => Some(Value::Nil),
        }
    }

    /// A `|` or `|-` literal whose parent node sits at `indent`.
    fn literal(&mut self, header: &str, indent: usize) -> Option<Value> {
        let strip = header[1..].starts_with('-');
        end_of_line(&header[if strip { 2 } else { 1 }..])?;
        // The first line with content sets the indentation; blank lines before it may
        // not be longer than it.
        let mut i = self.at;
        while self.lines.get(i).is_some_and(|l| l.body.is_empty()) {
            i += 1;
        }
        let content = match self.lines.get(i) {
            Some(l) if l.indent > indent => l.indent,
            _ => usize::MAX,
        };
        if self.lines[self.at..i].iter().any(|l| l.raw.len() > content) {
            return None;
        }
        let mut lines = Vec::new();
        while let Some(l) = self.lines.get(self.at) {
            if l.body.is_empty() {
                lines.push(l.raw.get(content..).unwrap_or(""));
            } else if l.indent >= content {
                lines.push(&l.raw[content..]);
            } else {
                break;
            }
            self.at += 1;
        }
        // Trailing blank lines are not kept (`|+` is not read here); the last line
        // must end with a line break, which `|` keeps and `|-` drops.
        let mut out = String::new();
        if let Some(last) = lines.iter().rposition(|l| !l.is_empty()) {
            if self.at - lines.len() + last + 1 == self.lines.len() {
                return None;
            }
            for l in &lines[..=last] {
                out.push_str(l);
                out.push('\n');
            }
            if strip {
                out.pop();
            }
        }
        Some(Value::from(out))
    }
}

/// A one-line flow sequence of scalars (`[]`, `["ALL"]`, `[1, 2]`) and the text after it.
fn flow_sequence(s: &str) -> Option<(Value, &str)> {
    let mut items = Vec::new();
    let mut rest = s[1..].trim_start_matches(' ');
    if let Some(after) = rest.strip_prefix(']') {
        return Some((Value::list(items), after));
    }
    loop {
        let after = if rest.starts_with(['"', '\'']) {
            let (item, after) = quoted(rest)?;
            items.push(Value::from(item));
            after
        } else {
            let end = rest.find([',', ']'])?;
            let item = rest[..end].trim_end_matches(' ');
            if item.contains([':', '#', '[', ']', '{', '}']) {
                return None;
            }
            items.push(plain(item)?);
            &rest[end..]
        };
        let after = after.trim_start_matches(' ');
        if let Some(after) = after.strip_prefix(']') {
            return Some((Value::list(items), after));
        }
        rest = after.strip_prefix(',')?.trim_start_matches(' ');
    }
}

/// `-` alone or followed by a space: a sequence entry.
fn is_dash(body: &str) -> bool {
    body == "-" || body.starts_with("- ")
}

/// Only a comment (after a space) may follow a value on its line.
fn end_of_line(after: &str) -> Option<()> {
    let trimmed = after.trim_start_matches(' ');
    (trimmed.is_empty() || (trimmed.starts_with('#') && trimmed.len() < after.len())).then_some(())
}

/// `key: rest` or `key:` with a plain or quoted key that reads as a string.
fn split_key(body: &str) -> Option<(String, &str)> {
    let (key, after) = if body.starts_with(['"', '\'']) {
        let (key, after) = quoted(body)?;
        (key, after.trim_start_matches(' '))
    } else {
        let bytes = body.as_bytes();
        let colon = (0..bytes.len()).find(|&i| {
            bytes[i] == b':' && bytes.get(i + 1).is_none_or(|&b| b == b' ')
        })?;
        let key = &body[..colon];
        if key.is_empty() || key.contains(" #") || key.ends_with(' ') || key == "<<" {
            return None;
        }
        match plain(key)? {
            Value::String(_) => {}
            _ => return None,
        }
        (key.to_string(), &body[colon..])
    };
    let rest = after.strip_prefix(':')?;
    (rest.is_empty() || rest.starts_with(' ')).then_some((key, rest))
}

/// A one-line quoted scalar at the start of `s` (no escapes) and the text after it.
fn quoted(s: &str) -> Option<(String, &str)> {
    let q = s.as_bytes()[0];
    if q == b'"' {
        let end = s[1..].find('"')? + 1;
        let inner = &s[1..end];
        if inner.contains('\\') {
            return None;
        }
        Some((inner.to_string(), &s[end + 1..]))
    } else {
        let mut out = String::new();
        let mut rest = &s[1..];
        loop {
            let i = rest.find('\'')?;
            out.push_str(&rest[..i]);
            if rest[i + 1..].starts_with('\'') {
                out.push('\'');
                rest = &rest[i + 2..];
            } else {
                return Some((out, &rest[i + 1..]));
            }
        }
    }
}

/// A plain scalar: `null`/`~`, `true`/`false`, a plain decimal number (a float, as
/// Helm reads values), or a string that no YAML reading could take for anything else:
/// starting with a letter or `/` and not a word YAML 1.1 reads as a boolean, or
/// starting with a digit and holding a letter no number notation uses (`20Gi`, `100m`),
/// or a dotted version (`17.6.0`).
fn plain(s: &str) -> Option<Value> {
    match s {
        "null" | "~" => return Some(Value::Nil),
        "true" => return Some(Value::Bool(true)),
        "false" => return Some(Value::Bool(false)),
        _ => {}
    }
    let first = s.bytes().next()?;
    if first.is_ascii_digit() {
        // Letters of hex, octal, exponents and timestamps excluded.
        let unit = s
            .bytes()
            .any(|b| b.is_ascii_alphabetic() && !b"abcdefABCDEFxXoOtTzZ".contains(&b));
        // `17.6.0`: a version, which no number notation reads.
        let version = s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && s.matches('.').count() > 1
            && !s.contains("..")
            && !s.ends_with('.');
        if unit || version {
            return Some(Value::str(s));
        }
    }
    // `-c`, `-Xmx512m`: options, not negative numbers.
    let option = first == b'-' && s.as_bytes().get(1).is_some_and(u8::is_ascii_alphabetic);
    if option && !["-inf", "-infinity", "-nan"].contains(&s.to_ascii_lowercase().as_str()) {
        return Some(Value::str(s));
    }
    if first.is_ascii_digit() || first == b'-' {
        return number(s).map(Value::Float);
    }
    if !first.is_ascii_alphabetic() && first != b'/' {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    let special = ["y", "n", "yes", "no", "on", "off", "true", "false", "null"];
    if special.contains(&lower.as_str()) {
        return None;
    }
    Some(Value::str(s))
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?` of at most 15 digits, which f64 holds exactly.
fn number(s: &str) -> Option<f64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || (int.len() > 1 && int.starts_with('0')) || digits.len() > 15 {
        return None;
    }
    if frac.is_some_and(|f| !all_digits(f)) {
        return None;
    }
    s.parse().ok()
}
