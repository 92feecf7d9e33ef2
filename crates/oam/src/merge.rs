//! How a trait's `patch` changes the workload: objects merge key by key (a null removes
//! the key); lists of named objects (containers, env, ports, volumes) merge element by
//! element on `name`, new names appended; any other value is replaced.

use serde_json::Value;

/// Merges `patch` into `target`.
pub fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                    continue;
                }
                match target.get_mut(key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        // Merged into an empty value, so nulls nested in a new object remove
                        // nothing and are dropped rather than applied.
                        let mut fresh = if value.is_object() { Value::Object(Default::default()) } else { Value::Null };
                        merge(&mut fresh, value);
                        target.insert(key.clone(), fresh);
                    }
                }
            }
        }
        (Value::Array(target), Value::Array(patch)) if named(target) && named(patch) => {
            for element in patch {
                let name = element.get("name");
                match target.iter_mut().find(|t| t.get("name") == name) {
                    Some(existing) => merge(existing, element),
                    None => target.push(element.clone()),
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

/// Whether every element is an object with a string `name`.
fn named(list: &[Value]) -> bool {
    list.iter().all(|e| e.get("name").is_some_and(Value::is_string))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn named_lists_merge_by_name_and_nulls_remove() {
        let mut deployment = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "web", "image": "nginx", "env": [{"name": "A", "value": "1"}]}]}}}, "x": 1});
        merge(&mut deployment, &json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [
            {"name": "web", "env": [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}]},
            {"name": "sidecar", "image": "busybox"}]}}}, "x": null}));
        assert_eq!(deployment, json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [
            {"name": "web", "image": "nginx", "env": [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}]},
            {"name": "sidecar", "image": "busybox"}]}}}}));
        let mut bare = json!({"spec": {}});
        merge(&mut bare, &json!({"metadata": {"labels": {"a": "1", "gone": null}}}));
        assert_eq!(bare, json!({"spec": {}, "metadata": {"labels": {"a": "1"}}}), "a null in a new object is dropped");
        let mut args = json!({"args": ["a", "b"]});
        merge(&mut args, &json!({"args": ["c"]}));
        assert_eq!(args, json!({"args": ["c"]}));
    }
}
