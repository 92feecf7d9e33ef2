use super::Funcs;
use crate::value::Value;

/// A list view of a list value (nil and others: empty).
pub(crate) fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::List(l) => l.to_vec(),
        _ => Vec::new(),
    }
}

pub(super) fn register(_f: &mut Funcs) {}
