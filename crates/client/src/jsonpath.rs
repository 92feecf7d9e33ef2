//! kubectl's JSONPath templates (`-o jsonpath='{.items[*].metadata.name}'`): text
//! with `{…}` expressions; `.field`, `['field']`, `..field` (recursive), `[n]`, `[-n]`,
//! `[a:b]`, `[*]`, `.*`, filters `[?(@.a.b == "x")]`, `{range …}…{end}`, and quoted
//! literals (`{"\n"}`). Missing keys print nothing, as with `kubectl get`.

use serde_json::Value;

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
enum Seg {
    Field(String),
    Recursive(String),
    Wildcard,
    Index(i64),
    Slice(Option<i64>, Option<i64>),
    Filter(Vec<Seg>, Option<(String, Value)>),
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Path(Vec<Seg>),
    Range(Vec<Seg>, Vec<Node>),
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

impl Template {
    pub fn parse(src: &str) -> Result<Template> {
        let mut stack: Vec<(Vec<Seg>, Vec<Node>)> = vec![(vec![], vec![])];
        let mut rest = src;
        while !rest.is_empty() {
            match rest.find('{') {
                None => {
                    push(&mut stack, Node::Text(rest.to_string()));
                    break;
                }
                Some(i) => {
                    if i > 0 {
                        push(&mut stack, Node::Text(rest[..i].to_string()));
                    }
                    let body_start = i + 1;
                    let end = find_close(&rest[body_start..]).ok_or_else(|| {
                        Error::client(format!("error parsing jsonpath {src}: unclosed action"))
                    })?;
                    let expr = rest[body_start..body_start + end].trim();
                    rest = &rest[body_start + end + 1..];
                    if let Some(p) = expr.strip_prefix("range ") {
                        stack.push((parse_path(p.trim())?, vec![]));
                    } else if expr == "end" {
                        if stack.len() < 2 {
                            return Err(Error::client(format!(
                                "error parsing jsonpath {src}: not in range, nothing to end"
                            )));
                        }
                        let (path, body) = stack.pop().unwrap_or_default();
                        push(&mut stack, Node::Range(path, body));
                    } else if let Some(lit) = literal(expr) {
                        push(&mut stack, Node::Text(lit));
                    } else {
                        push(&mut stack, Node::Path(parse_path(expr)?));
                    }
                }
            }
        }
        if stack.len() != 1 {
            return Err(Error::client(format!(
                "error parsing jsonpath {src}: unclosed range"
            )));
        }
        Ok(Template {
            nodes: stack.pop().map(|(_, n)| n).unwrap_or_default(),
        })
    }

    pub fn render(&self, data: &Value) -> String {
        let mut out = String::new();
        render(&self.nodes, data, &mut out);
        out
    }
}

fn push(stack: &mut [(Vec<Seg>, Vec<Node>)], n: Node) {
    if let Some(last) = stack.last_mut() {
        last.1.push(n);
    }
}

/// The index of the `}` closing an action, skipping quoted strings.
fn find_close(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '}' => return Some(i),
            None => {}
        }
    }
    None
}

fn literal(expr: &str) -> Option<String> {
    let q = expr.chars().next()?;
    if (q != '"' && q != '\'') || expr.len() < 2 || !expr.ends_with(q) {
        return None;
    }
    let inner = &expr[1..expr.len() - 1];
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

fn parse_path(expr: &str) -> Result<Vec<Seg>> {
    let err = |m: &str| Error::client(format!("error parsing jsonpath {{{expr}}}: {m}"));
    let mut segs = Vec::new();
    let mut s = expr.trim();
    s = s
        .strip_prefix('$')
        .or_else(|| s.strip_prefix('@'))
        .unwrap_or(s);
    // kubectl also accepts "metadata.name" without the leading dot (the `first` case below).
    let b = s.as_bytes();
    let mut i = 0;
    let mut first = true;
    while i < b.len() {
        if s[i..].starts_with("..") {
            let start = i + 2;
            let end = ident_end(s, start);
            segs.push(Seg::Recursive(unescape(&s[start..end])));
            i = end;
        } else if b[i] == b'.' || (first && b[i] != b'[') {
            let start = if b[i] == b'.' { i + 1 } else { i };
            let end = ident_end(s, start);
            let name = &s[start..end];
            if name == "*" {
                segs.push(Seg::Wildcard);
            } else if !name.is_empty() {
                segs.push(Seg::Field(unescape(name)));
            }
            i = end.max(start);
            if i == start && i < b.len() && b[i] != b'[' && b[i] != b'.' {
                return Err(err("unexpected character"));
            }
        } else if b[i] == b'[' {
            let close = find_bracket(s, i).ok_or_else(|| err("unterminated ["))?;
            let inner = s[i + 1..close].trim();
            segs.push(
                parse_bracket(inner).ok_or_else(|| err(&format!("invalid array index {inner}")))?,
            );
            i = close + 1;
        } else {
            return Err(err("unexpected character"));
        }
        first = false;
    }
    Ok(segs)
}

/// The end of a field name; `\.` is a dot inside the name.
fn ident_end(s: &str, start: usize) -> usize {
    let b = s.as_bytes();
    let mut j = start;
    while j < b.len() && b[j] != b'.' && b[j] != b'[' {
        j += if b[j] == b'\\' { 2 } else { 1 };
    }
    j.min(b.len())
}

fn unescape(name: &str) -> String {
    name.replace("\\.", ".")
}

fn find_bracket(s: &str, open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    for (j, c) in s[open..].char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' => quote = Some(c),
                '[' => depth += 1,
                ']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(open + j);
                    }
                }
                _ => {}
            },
        }
    }
    None
}

fn parse_bracket(inner: &str) -> Option<Seg> {
    if inner == "*" {
        return Some(Seg::Wildcard);
    }
    if let Some(lit) = literal(inner) {
        return Some(Seg::Field(lit));
    }
    if let Some(f) = inner.strip_prefix("?(").and_then(|f| f.strip_suffix(')')) {
        for op in ["==", "!="] {
            if let Some((l, r)) = f.split_once(op) {
                let path = parse_path(l.trim()).ok()?;
                let r = r.trim();
                let value = literal(r)
                    .map(Value::String)
                    .or_else(|| serde_json::from_str(r).ok())
                    .unwrap_or(Value::String(r.to_string()));
                return Some(Seg::Filter(path, Some((op.to_string(), value))));
            }
        }
        return Some(Seg::Filter(parse_path(f.trim()).ok()?, None));
    }
    if let Some((a, b)) = inner.split_once(':') {
        let n = |x: &str| {
            if x.trim().is_empty() {
                Some(None)
            } else {
                x.trim().parse::<i64>().ok().map(Some)
            }
        };
        let b = b.split(':').next().unwrap_or("");
        return Some(Seg::Slice(n(a)?, n(b)?));
    }
    inner.parse::<i64>().ok().map(Seg::Index)
}

fn eval(segs: &[Seg], root: &Value) -> Vec<Value> {
    let mut cur = vec![root.clone()];
    for seg in segs {
        let mut next = Vec::new();
        for v in &cur {
            match seg {
                Seg::Field(f) => {
                    if let Some(x) = v.get(f.as_str()) {
                        next.push(x.clone());
                    }
                }
                Seg::Recursive(f) => recurse(v, f, &mut next),
                Seg::Wildcard => match v {
                    Value::Array(a) => next.extend(a.iter().cloned()),
                    Value::Object(m) => next.extend(m.values().cloned()),
                    _ => {}
                },
                Seg::Index(i) => {
                    if let Value::Array(a) = v {
                        let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                        if idx >= 0 && (idx as usize) < a.len() {
                            next.push(a[idx as usize].clone());
                        }
                    }
                }
                Seg::Slice(from, to) => {
                    if let Value::Array(a) = v {
                        let len = a.len() as i64;
                        let norm = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
                        let s = norm(from.unwrap_or(0));
                        let e = norm(to.unwrap_or(len));
                        if s < e {
                            next.extend(a[s as usize..e as usize].iter().cloned());
                        }
                    }
                }
                Seg::Filter(path, cond) => {
                    let items: Vec<Value> = match v {
                        Value::Array(a) => a.clone(),
                        other => vec![other.clone()],
                    };
                    for item in items {
                        let found = eval(path, &item);
                        let keep = match cond {
                            None => !found.is_empty(),
                            Some((op, want)) => {
                                let eq = found.iter().any(|f| {
                                    f == want
                                        || (f.is_number()
                                            && want.is_number()
                                            && f.as_f64() == want.as_f64())
                                });
                                if op == "==" {
                                    eq
                                } else {
                                    !eq && !found.is_empty()
                                }
                            }
                        };
                        if keep {
                            next.push(item);
                        }
                    }
                }
            }
        }
        cur = next;
    }
    cur
}

fn recurse(v: &Value, field: &str, out: &mut Vec<Value>) {
    match v {
        Value::Object(m) => {
            if field.is_empty() || field == "*" {
                out.extend(m.values().cloned());
            } else if let Some(x) = m.get(field) {
                out.push(x.clone());
            }
            for x in m.values() {
                recurse(x, field, out);
            }
        }
        Value::Array(a) => {
            for x in a {
                recurse(x, field, out);
            }
        }
        _ => {}
    }
}

/// How a value prints: strings raw, everything else as compact JSON.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn render(nodes: &[Node], data: &Value, out: &mut String) {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Path(p) => {
                let vals = eval(p, data);
                out.push_str(&vals.iter().map(text).collect::<Vec<_>>().join(" "));
            }
            Node::Range(p, body) => {
                let vals = eval(p, data);
                let items: Vec<Value> = if vals.len() == 1 {
                    match &vals[0] {
                        Value::Array(a) => a.clone(),
                        other => vec![other.clone()],
                    }
                } else {
                    vals
                };
                for item in &items {
                    render(body, item, out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(t: &str, v: &Value) -> String {
        Template::parse(t).unwrap().render(v)
    }

    #[test]
    fn paths_ranges_filters() {
        let v = json!({"kind": "List", "items": [
            {"metadata": {"name": "a", "labels": {"app": "x"}}, "spec": {"replicas": 1, "containers": [{"name": "c1", "image": "i1"}, {"name": "c2", "image": "i2"}]}},
            {"metadata": {"name": "b"}, "spec": {"replicas": 3, "containers": [{"name": "c3", "image": "i3"}]}}
        ]});
        assert_eq!(r("{.items[*].metadata.name}", &v), "a b");
        assert_eq!(r("{.items[0].metadata.name}", &v), "a");
        assert_eq!(r("{.items[-1].metadata.name}", &v), "b");
        assert_eq!(
            r(
                "{range .items[*]}{.metadata.name}={.spec.replicas}{\"\\n\"}{end}",
                &v
            ),
            "a=1\nb=3\n"
        );
        assert_eq!(
            r("{.items[?(@.metadata.name==\"b\")].spec.replicas}", &v),
            "3"
        );
        assert_eq!(r("{.items[?(@.spec.replicas==1)].metadata.name}", &v), "a");
        assert_eq!(r("{..image}", &v), "i1 i2 i3");
        assert_eq!(r("{.items[0].metadata.labels}", &v), "{\"app\":\"x\"}");
        assert_eq!(r("{.items[0].metadata['name']}", &v), "a");
        assert_eq!(r("names: {.items[0:2].metadata.name}", &v), "names: a b");
        assert_eq!(r("{.nothing}", &v), "");
        assert_eq!(r("{.a\\.b/c}", &json!({"a.b/c": "x"})), "x");
        assert_eq!(r("{items[1].metadata.name}", &v), "b");
        assert!(Template::parse("{.a").is_err());
        assert!(Template::parse("{range .items[*]}x").is_err());
    }
}
