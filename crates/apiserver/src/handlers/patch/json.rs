//! JSON Patch (RFC 6902): add, remove, replace, move, copy and test at JSON pointers.

use serde_json::Value;

use super::PatchError;

pub fn apply(original: &Value, patch: &Value) -> Result<Value, PatchError> {
    let ops = patch
        .as_array()
        .ok_or_else(|| PatchError("a JSON patch must be an array of operations".into()))?;
    let mut doc = original.clone();
    for (i, op) in ops.iter().enumerate() {
        let field = |name: &str| {
            op.get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| PatchError(format!("operation {i}: missing {name:?}")))
        };
        let path = field("path")?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| PatchError(format!("operation {i}: missing \"value\"")))
        };
        match field("op")? {
            "add" => add(&mut doc, path, value()?)?,
            "remove" => {
                remove(&mut doc, path)?;
            }
            "replace" => {
                remove(&mut doc, path)?;
                add(&mut doc, path, value()?)?;
            }
            "move" => {
                let moved = remove(&mut doc, field("from")?)?;
                add(&mut doc, path, moved)?;
            }
            "copy" => {
                let from = field("from")?;
                let copied = doc
                    .pointer(from)
                    .cloned()
                    .ok_or_else(|| PatchError(format!("copy: path {from:?} does not exist")))?;
                add(&mut doc, path, copied)?;
            }
            "test" => {
                // As Kubernetes' JSON Patch: a missing member tests equal to null (kube-rs
                // adds a first finalizer with `test /metadata/finalizers null`).
                if doc.pointer(path).unwrap_or(&Value::Null) != &value()? {
                    return Err(PatchError(format!(
                        "test failed: {path:?} does not hold the given value"
                    )));
                }
            }
            other => return Err(PatchError(format!("operation {i}: unknown op {other:?}"))),
        }
    }
    Ok(doc)
}

/// Splits a pointer into its parent pointer and its last (unescaped) token.
fn split(path: &str) -> Result<(&str, String), PatchError> {
    let at = path
        .rfind('/')
        .ok_or_else(|| PatchError(format!("path {path:?} is not a JSON pointer")))?;
    Ok((
        &path[..at],
        path[at + 1..].replace("~1", "/").replace("~0", "~"),
    ))
}

fn parent<'a>(doc: &'a mut Value, pointer: &str, path: &str) -> Result<&'a mut Value, PatchError> {
    doc.pointer_mut(pointer)
        .ok_or_else(|| PatchError(format!("doc is missing path: {path:?}")))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), PatchError> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (pointer, token) = split(path)?;
    match parent(doc, pointer, path)? {
        Value::Object(map) => {
            map.insert(token, value);
        }
        Value::Array(list) => {
            let index = if token == "-" {
                list.len()
            } else {
                token
                    .parse::<usize>()
                    .map_err(|_| PatchError(format!("invalid array index in {path:?}")))?
            };
            if index > list.len() {
                return Err(PatchError(format!("array index out of bounds in {path:?}")));
            }
            list.insert(index, value);
        }
        _ => return Err(PatchError(format!("doc is missing path: {path:?}"))),
    }
    Ok(())
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, PatchError> {
    let (pointer, token) = split(path)?;
    let missing = || PatchError(format!("doc is missing path: {path:?}"));
    match parent(doc, pointer, path)? {
        Value::Object(map) => map.remove(&token).ok_or_else(missing),
        Value::Array(list) => {
            let index = token
                .parse::<usize>()
                .ok()
                .filter(|i| *i < list.len())
                .ok_or_else(missing)?;
            Ok(list.remove(index))
        }
        _ => Err(missing()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn operations_apply_in_order() {
        let doc = json!({"metadata": {"labels": {"a": "1"}}, "list": [1, 2]});
        let patch = json!([
            {"op": "add", "path": "/metadata/labels/b", "value": "2"},
            {"op": "replace", "path": "/metadata/labels/a", "value": "x"},
            {"op": "add", "path": "/list/-", "value": 3},
            {"op": "remove", "path": "/list/0"},
            {"op": "copy", "from": "/metadata/labels/b", "path": "/c"},
            {"op": "move", "from": "/c", "path": "/d~1e"},
            {"op": "test", "path": "/d~1e", "value": "2"},
        ]);
        assert_eq!(
            apply(&doc, &patch).unwrap(),
            json!({"metadata": {"labels": {"a": "x", "b": "2"}}, "list": [2, 3], "d/e": "2"})
        );
    }

    #[test]
    fn a_missing_member_tests_equal_to_null() {
        let doc = json!({"metadata": {}});
        let patch = json!([{"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": ["f"]}]);
        assert_eq!(apply(&doc, &patch).unwrap(), json!({"metadata": {"finalizers": ["f"]}}));
        assert!(apply(&doc, &json!([{"op": "test", "path": "/metadata/x", "value": 1}])).is_err());
    }

    #[test]
    fn failures_name_the_path() {
        let doc = json!({"a": 1});
        assert!(apply(&doc, &json!([{"op": "remove", "path": "/b"}]))
            .unwrap_err()
            .0
            .contains("/b"));
        assert!(apply(&doc, &json!([{"op": "test", "path": "/a", "value": 2}])).is_err());
        assert!(apply(&doc, &json!({"op": "add"})).is_err());
    }
}
