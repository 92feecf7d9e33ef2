//! JSON Patch (RFC 6902): add, remove, replace, move, copy, test.

use serde::Deserialize;
use serde_json::Value;

/// One operation of a JSON patch.
#[derive(Debug, Clone, Deserialize)]
pub struct Operation {
    pub op: String,
    pub path: String,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub value: Option<Value>,
}

/// Why an operation failed; the caller adds file and resource.
#[derive(Debug, Clone, PartialEq)]
pub struct OpError {
    pub op: String,
    pub pointer: String,
    pub message: String,
}

/// Applies the operations in order; on error `doc` may be partly patched.
pub fn apply(doc: &mut Value, ops: &[Operation]) -> Result<(), OpError> {
    for op in ops {
        apply_one(doc, op).map_err(|message| OpError {
            op: op.op.clone(),
            pointer: op.path.clone(),
            message,
        })?;
    }
    Ok(())
}

fn apply_one(doc: &mut Value, op: &Operation) -> Result<(), String> {
    let value = || op.value.clone().ok_or_else(|| "missing 'value'".to_string());
    let from = || op.from.clone().ok_or_else(|| "missing 'from'".to_string());
    match op.op.as_str() {
        "add" => add(doc, &op.path, value()?),
        "remove" => remove(doc, &op.path).map(drop),
        "replace" => {
            let v = value()?;
            let target = get_mut(doc, &op.path)?;
            *target = v;
            Ok(())
        }
        "move" => {
            let from = from()?;
            let v = remove(doc, &from)?;
            add(doc, &op.path, v)
        }
        "copy" => {
            let v = get_mut(doc, &from()?)?.clone();
            add(doc, &op.path, v)
        }
        "test" => {
            let expected = value()?;
            if *get_mut(doc, &op.path)? == expected {
                Ok(())
            } else {
                Err(format!("value differs from {expected}"))
            }
        }
        other => Err(format!("unknown operation {other:?}")),
    }
}

fn tokens(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| "path must start with '/'".to_string())?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn index(token: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    let i: usize = token
        .parse()
        .map_err(|_| format!("{token:?} is not an array index"))?;
    if i < len || (allow_end && i == len) {
        Ok(i)
    } else {
        Err(format!("index {i} out of range (length {len})"))
    }
}

fn child_mut<'a>(v: &'a mut Value, token: &str) -> Result<&'a mut Value, String> {
    match v {
        Value::Object(m) => m
            .get_mut(token)
            .ok_or_else(|| format!("no field {token:?}")),
        Value::Array(a) => {
            let i = index(token, a.len(), false)?;
            Ok(&mut a[i])
        }
        _ => Err(format!("cannot descend into a scalar at {token:?}")),
    }
}

fn get_mut<'a>(doc: &'a mut Value, pointer: &str) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for t in tokens(pointer)? {
        cur = child_mut(cur, &t)?;
    }
    Ok(cur)
}

fn parent_mut<'a>(doc: &'a mut Value, pointer: &str) -> Result<(&'a mut Value, String), String> {
    let mut toks = tokens(pointer)?;
    let last = toks.pop().ok_or_else(|| "cannot address the whole document".to_string())?;
    let mut cur = doc;
    for t in toks {
        cur = child_mut(cur, &t)?;
    }
    Ok((cur, last))
}

fn add(doc: &mut Value, pointer: &str, value: Value) -> Result<(), String> {
    if pointer.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, last) = parent_mut(doc, pointer)?;
    match parent {
        Value::Object(m) => {
            m.insert(last, value);
            Ok(())
        }
        Value::Array(a) => {
            let i = if last == "-" { a.len() } else { index(&last, a.len(), true)? };
            a.insert(i, value);
            Ok(())
        }
        _ => Err("parent is not an object or array".into()),
    }
}

fn remove(doc: &mut Value, pointer: &str) -> Result<Value, String> {
    let (parent, last) = parent_mut(doc, pointer)?;
    match parent {
        Value::Object(m) => m.remove(&last).ok_or_else(|| format!("no field {last:?}")),
        Value::Array(a) => {
            let i = index(&last, a.len(), false)?;
            Ok(a.remove(i))
        }
        _ => Err("parent is not an object or array".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ops(v: Value) -> Vec<Operation> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn add_replace_remove_move_copy_and_test() {
        let mut d = json!({"a": {"b": [1, 2]}, "c/d": 1});
        apply(&mut d, &ops(json!([
            {"op": "add", "path": "/a/b/1", "value": 9},
            {"op": "add", "path": "/a/b/-", "value": 3},
            {"op": "replace", "path": "/c~1d", "value": 2},
            {"op": "copy", "from": "/c~1d", "path": "/e"},
            {"op": "move", "from": "/e", "path": "/f"},
            {"op": "remove", "path": "/a/b/0"},
            {"op": "test", "path": "/f", "value": 2}
        ]))).unwrap();
        assert_eq!(d, json!({"a": {"b": [9, 2, 3]}, "c/d": 2, "f": 2}));
    }

    #[test]
    fn op_on_a_missing_path_is_an_error_naming_the_path() {
        let mut d = json!({"spec": {}});
        let err = apply(&mut d, &ops(json!([{"op": "replace", "path": "/spec/x/y", "value": 1}]))).unwrap_err();
        assert_eq!(err.pointer, "/spec/x/y");
        assert!(err.message.contains("\"x\""), "{}", err.message);
        let err = apply(&mut d, &ops(json!([{"op": "remove", "path": "/spec/list/3"}]))).unwrap_err();
        assert_eq!(err.op, "remove");
    }
}
