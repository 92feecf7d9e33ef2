//! Helm's own template functions: include, tpl, required, lookup, YAML/JSON/TOML.

use super::{s, Funcs, Kind};
use crate::exec::Ctx;
use crate::value::{Map, Value};

/// `include`/`tpl` nesting allowed, as Helm's recursion guard.
const MAX_INCLUDE_DEPTH: usize = 1000;

fn include(ctx: &Ctx, a: Vec<Value>) -> super::FuncResult {
    let name = s(&a[0]);
    if ctx.depth >= MAX_INCLUDE_DEPTH {
        return Err(format!("rendering template has a nested reference name exceeded max depth: {name}"));
    }
    if !ctx.set.has(name) {
        return Err(format!("template: no template {name:?} associated with template {:?}", ctx.set.name()));
    }
    ctx.execute(name, &a[1]).map(Value::from).map_err(|e| e.to_string())
}

fn tpl(ctx: &Ctx, a: Vec<Value>) -> super::FuncResult {
    let src = s(&a[0]);
    let data = &a[1];
    // Helm names the new template after the calling template (.Template.Name).
    let name = match data {
        Value::Map(m) => match m.get("Template") {
            Some(Value::Map(t)) => t.get("Name").and_then(|n| n.as_str().map(String::from)),
            _ => None,
        },
        _ => None,
    }
    .unwrap_or_else(|| "gotpl".to_string());
    let mut set = ctx.set.clone();
    set.parse(&name, src).map_err(|e| format!("cannot parse template {src:?}: {e}"))?;
    let sub = Ctx { set: &set, depth: ctx.depth };
    sub.execute(&name, data).map(Value::from).map_err(|e| e.to_string())
}

pub(super) fn register(f: &mut Funcs) {
    use Kind::*;
    f.add("include", &[Str, Any], None, include);
    f.add("tpl", &[Str, Any], None, tpl);
    f.pure("required", &[Str, Any], None, |a| match &a[1] {
        v if v.is_nil() => Err(s(&a[0]).to_string()),
        Value::String(x) if x.is_empty() => Err(s(&a[0]).to_string()),
        v => Ok(v.clone()),
    });
    f.pure("lookup", &[Str, Str, Str, Str], None, |_| Ok(Value::empty_map()));
    f.pure("toYaml", &[Any], None, |a| {
        Ok(Value::from(super::yaml::to_yaml(&a[0]).strip_suffix('\n').map(String::from).unwrap_or_default()))
    });
    f.pure("mustToYaml", &[Any], None, |a| {
        Ok(Value::from(super::yaml::to_yaml(&a[0]).strip_suffix('\n').map(String::from).unwrap_or_default()))
    });
    f.pure("fromYaml", &[Str], None, |a| {
        Ok(match super::yaml::from_yaml(s(&a[0])) {
            Ok(v @ Value::Map(_)) => v,
            Ok(Value::Nil) => Value::empty_map(),
            Ok(v) => error_map(format!("error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}", v.kind_name())),
            Err(e) => error_map(e),
        })
    });
    f.pure("fromYamlArray", &[Str], None, |a| {
        Ok(match super::yaml::from_yaml(s(&a[0])) {
            Ok(v @ Value::List(_)) => v,
            Ok(Value::Nil) => Value::list(vec![]),
            Ok(_) => Value::list(vec![Value::str("error unmarshaling JSON: while decoding JSON: json: cannot unmarshal object into Go value of type []interface {}")]),
            Err(e) => Value::list(vec![Value::from(e)]),
        })
    });
    f.pure("toToml", &[Any], None, |a| Ok(Value::from(to_toml(&a[0]))));
}

fn error_map(msg: String) -> Value {
    let m = Map::new();
    m.insert("Error", Value::from(msg));
    Value::Map(m)
}

/// A small TOML writer for maps of scalars, lists and nested tables.
fn to_toml(v: &Value) -> String {
    fn scalar(v: &Value) -> String {
        match v {
            Value::String(s) => crate::format::go_quote(s),
            Value::List(l) => format!("[{}]", l.iter().map(scalar).collect::<Vec<_>>().join(", ")),
            Value::Float(f) if f.fract() == 0.0 => format!("{}", *f as i64),
            v => crate::format::to_v(v),
        }
    }
    fn table(m: &Map, prefix: &str, out: &mut String) {
        let entries = m.entries();
        for (k, v) in &entries {
            if !matches!(v, Value::Map(_)) {
                out.push_str(&format!("{k} = {}\n", scalar(v)));
            }
        }
        for (k, v) in &entries {
            if let Value::Map(sub) = v {
                let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                out.push_str(&format!("\n[{name}]\n"));
                table(sub, &name, out);
            }
        }
    }
    let mut out = String::new();
    if let Value::Map(m) = v {
        table(m, "", &mut out);
    }
    out
}
