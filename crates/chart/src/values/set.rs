//! Helm's `--set` syntax: `a.b=c,d[0]=e,list={x,y}`, with `\` escaping `,` `.` `=`
//! `[` and `{`, list indexes that grow lists with nulls, and per-flag value typing
//! (`--set` infers booleans, `null` and integers; `--set-string` keeps text;
//! `--set-json` reads JSON; `--set-file` reads a file; `--set-literal` takes the rest).

use tug_gotemplate::{Map, Value};

/// How a flag turns the text after `=` into a value.
pub enum Mode<'a> {
    /// `--set`: `true`/`false` (any case) are booleans, `null` is null, integers without
    /// a leading zero are integers; everything else is a string.
    Typed,
    /// `--set-string`.
    String,
    /// `--set-json`: the value is JSON (numbers as Helm's float64).
    Json,
    /// `--set-file`: the value is a path, and the file's text the value.
    File(&'a dyn Fn(&str) -> Result<String, String>),
    /// `--set-literal`: one key, the whole rest taken verbatim.
    Literal,
}

/// The biggest list index `--set` accepts (guards against huge allocations).
const MAX_INDEX: usize = 65536;

#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

/// Parses one flag's argument and sets each assignment into `dest`.
pub fn parse_into(input: &str, dest: &Map, mode: &Mode) -> Result<(), String> {
    if let Mode::Json = mode {
        if input.trim_start().starts_with('{') {
            let json: serde_json::Value = serde_json::from_str(input)
                .map_err(|e| format!("failed parsing --set-json data {input:?}: {e}"))?;
            if let Value::Map(m) = Value::from(&json).ints_to_floats() {
                for (k, v) in m.entries() {
                    dest.insert(k, v);
                }
            }
            return Ok(());
        }
    }
    let chars: Vec<char> = input.chars().collect();
    let mut pos = 0;
    while pos < chars.len() {
        let path = parse_key(&chars, &mut pos)?;
        let value = parse_value(&chars, &mut pos, mode, &path)?;
        let root = Value::Map(dest.clone());
        set_path(Some(root), &path, value)?;
    }
    Ok(())
}

fn key_text(path: &[Seg]) -> String {
    path.iter()
        .map(|s| match s {
            Seg::Key(k) => k.clone(),
            Seg::Index(i) => format!("[{i}]"),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Reads `a.b[0].c=` up to and including the `=`.
fn parse_key(c: &[char], pos: &mut usize) -> Result<Vec<Seg>, String> {
    let mut path = Vec::new();
    let mut cur = String::new();
    loop {
        let Some(&ch) = c.get(*pos) else {
            path.push(Seg::Key(cur));
            return Err(format!("key {:?} has no value", key_text(&path)));
        };
        *pos += 1;
        match ch {
            '\\' => {
                if let Some(&n) = c.get(*pos) {
                    cur.push(n);
                    *pos += 1;
                }
            }
            '=' => {
                if !cur.is_empty() || path.is_empty() {
                    path.push(Seg::Key(std::mem::take(&mut cur)));
                }
                if matches!(path.first(), Some(Seg::Key(k)) if k.is_empty()) {
                    return Err("key has no name".into());
                }
                return Ok(path);
            }
            '.' => {
                if !cur.is_empty() {
                    path.push(Seg::Key(std::mem::take(&mut cur)));
                } else if !matches!(path.last(), Some(Seg::Index(_))) {
                    return Err(format!("key {:?} has an empty part", key_text(&path)));
                }
            }
            '[' => {
                if !cur.is_empty() {
                    path.push(Seg::Key(std::mem::take(&mut cur)));
                }
                let start = *pos;
                while c.get(*pos).is_some_and(|x| *x != ']') {
                    *pos += 1;
                }
                let digits: String = c[start..(*pos).min(c.len())].iter().collect();
                *pos += 1;
                let i: usize = digits.trim().parse().map_err(|_| {
                    format!("failed to parse index {digits:?}: not a non-negative integer")
                })?;
                if i > MAX_INDEX {
                    return Err(format!(
                        "index of {i} is greater than maximum supported index of {MAX_INDEX}"
                    ));
                }
                path.push(Seg::Index(i));
            }
            ',' => {
                path.push(Seg::Key(cur));
                return Err(format!(
                    "key {:?} has no value (cannot end with ,)",
                    key_text(&path)
                ));
            }
            ch => cur.push(ch),
        }
    }
}

/// Reads a value up to an unescaped `,` (or a `{a,b}` list), consuming the `,`.
fn parse_value(c: &[char], pos: &mut usize, mode: &Mode, path: &[Seg]) -> Result<Value, String> {
    match mode {
        Mode::Literal => {
            let s: String = c[*pos..].iter().collect();
            *pos = c.len();
            return Ok(Value::from(s));
        }
        Mode::Json => {
            let rest: String = c[*pos..].iter().collect();
            let mut stream =
                serde_json::Deserializer::from_str(&rest).into_iter::<serde_json::Value>();
            let v = match stream.next() {
                Some(Ok(v)) => v,
                Some(Err(e)) => {
                    return Err(format!(
                        "failed to parse JSON for key {:?}: {e}",
                        key_text(path)
                    ))
                }
                None => serde_json::Value::Null,
            };
            let used = rest[..stream.byte_offset()].chars().count();
            *pos += used;
            match c.get(*pos) {
                None => {}
                Some(',') => *pos += 1,
                Some(x) => {
                    return Err(format!(
                        "unexpected character {x:?} after JSON value for key {:?}",
                        key_text(path)
                    ))
                }
            }
            return Ok(Value::from(&v).ints_to_floats());
        }
        _ => {}
    }
    if c.get(*pos) == Some(&'{') && !matches!(mode, Mode::File(_)) {
        *pos += 1;
        let mut items = Vec::new();
        loop {
            let (text, end) = read_until(c, pos, &[',', '}']);
            match end {
                Some('}') => {
                    if !(text.is_empty() && items.is_empty()) {
                        items.push(typed(&text, mode)?);
                    }
                    break;
                }
                Some(_) => items.push(typed(&text, mode)?),
                None => {
                    return Err(format!(
                        "list for key {:?} is not closed with }}",
                        key_text(path)
                    ))
                }
            }
        }
        match c.get(*pos) {
            None => {}
            Some(',') => *pos += 1,
            Some(x) => {
                return Err(format!(
                    "unexpected character {x:?} after list for key {:?}",
                    key_text(path)
                ))
            }
        }
        return Ok(Value::list(items));
    }
    let (text, _) = read_until(c, pos, &[',']);
    typed(&text, mode)
}

/// Reads until one of `stops` (unescaped), consuming it; returns the text and the stop.
fn read_until(c: &[char], pos: &mut usize, stops: &[char]) -> (String, Option<char>) {
    let mut out = String::new();
    while let Some(&ch) = c.get(*pos) {
        *pos += 1;
        if ch == '\\' {
            if let Some(&n) = c.get(*pos) {
                out.push(n);
                *pos += 1;
            }
        } else if stops.contains(&ch) {
            return (out, Some(ch));
        } else {
            out.push(ch);
        }
    }
    (out, None)
}

fn typed(text: &str, mode: &Mode) -> Result<Value, String> {
    Ok(match mode {
        Mode::String | Mode::Literal | Mode::Json => Value::str(text),
        Mode::File(read) => Value::from(read(text)?),
        Mode::Typed => {
            if text.eq_ignore_ascii_case("true") {
                Value::Bool(true)
            } else if text.eq_ignore_ascii_case("false") {
                Value::Bool(false)
            } else if text.eq_ignore_ascii_case("null") {
                Value::Nil
            } else if text == "0" {
                Value::Int(0)
            } else if !text.starts_with('0') && !text.starts_with("+0") && !text.starts_with("-0") {
                text.parse::<i64>()
                    .map(Value::Int)
                    .unwrap_or_else(|_| Value::str(text))
            } else {
                Value::str(text)
            }
        }
    })
}

/// Sets `value` at `path` below `cur`, creating maps and growing lists as needed.
fn set_path(cur: Option<Value>, path: &[Seg], value: Value) -> Result<Value, String> {
    let Some((seg, rest)) = path.split_first() else {
        return Ok(value);
    };
    match seg {
        Seg::Key(k) => {
            let m = match cur {
                Some(Value::Map(m)) => m,
                _ => Map::new(),
            };
            let next = set_path(m.get(k), rest, value)?;
            m.insert(k.clone(), next);
            Ok(Value::Map(m))
        }
        Seg::Index(i) => {
            let mut list = match cur {
                Some(Value::List(l)) => l.as_ref().clone(),
                _ => Vec::new(),
            };
            if list.len() <= *i {
                list.resize(*i + 1, Value::Nil);
            }
            list[*i] = set_path(Some(list[*i].clone()), rest, value)?;
            Ok(Value::list(list))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str, mode: Mode) -> serde_json::Value {
        let m = Map::new();
        parse_into(s, &m, &mode).unwrap();
        Value::Map(m).to_json()
    }

    #[test]
    fn nested_keys_and_type_inference() {
        assert_eq!(
            set(
                "a.b=c,n=42,t=TRUE,z=0,lead=007,f=1.5,nul=null,e=",
                Mode::Typed
            ),
            serde_json::json!({"a": {"b": "c"}, "n": 42, "t": true, "z": 0, "lead": "007", "f": "1.5", "nul": null, "e": ""})
        );
        assert_eq!(
            set("n=42,t=true", Mode::String),
            serde_json::json!({"n": "42", "t": "true"})
        );
    }

    #[test]
    fn lists_by_index_and_braces() {
        assert_eq!(
            set("a[1]=x,b[0].c=d,l={1,two,}", Mode::Typed),
            serde_json::json!({"a": [null, "x"], "b": [{"c": "d"}], "l": [1, "two", ""]})
        );
        assert_eq!(
            set("m[0][1]=x", Mode::Typed),
            serde_json::json!({"m": [[null, "x"]]})
        );
        assert_eq!(set("e={}", Mode::Typed), serde_json::json!({"e": []}));
    }

    #[test]
    fn escapes_keep_separators() {
        assert_eq!(
            set(r"a=x\,y,b\.c=d,n\=k=v", Mode::Typed),
            serde_json::json!({"a": "x,y", "b.c": "d", "n=k": "v"})
        );
        assert_eq!(
            set("k=a,b=c", Mode::Literal),
            serde_json::json!({"k": "a,b=c"})
        );
    }

    #[test]
    fn json_values() {
        assert_eq!(
            set(r#"a={"x":[1,2]},b="s""#, Mode::Json),
            serde_json::json!({"a": {"x": [1.0, 2.0]}, "b": "s"})
        );
        assert_eq!(
            set(r#"{"top":true}"#, Mode::Json),
            serde_json::json!({"top": true})
        );
    }

    #[test]
    fn file_values_are_read() {
        let read = |p: &str| Ok(format!("content of {p}"));
        assert_eq!(
            set("k=/x/y", Mode::File(&read)),
            serde_json::json!({"k": "content of /x/y"})
        );
    }

    #[test]
    fn malformed_input_is_an_error() {
        let m = Map::new();
        assert!(parse_into("a", &m, &Mode::Typed)
            .unwrap_err()
            .contains("has no value"));
        assert!(parse_into("a,b=c", &m, &Mode::Typed).is_err());
        assert!(parse_into("a[x]=1", &m, &Mode::Typed).is_err());
        assert!(parse_into("a[999999999]=1", &m, &Mode::Typed).is_err());
        assert!(parse_into("a={1,2", &m, &Mode::Typed).is_err());
    }
}
