//! Sprig's list functions (and their `must` variants).

use super::conv::to_int;
use super::{i, Funcs, Kind};
use crate::value::{deep_equal, Value};

/// A list view of a list value (nil and others: empty).
pub(crate) fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::List(l) => l.to_vec(),
        _ => Vec::new(),
    }
}

fn need_list(v: &Value, op: &str) -> Result<Vec<Value>, String> {
    match v {
        Value::List(l) => Ok(l.to_vec()),
        v => Err(format!("Cannot {op} on type {}", v.type_name())),
    }
}

fn list(v: Vec<Value>) -> super::FuncResult {
    Ok(Value::list(v))
}

pub(super) fn register(f: &mut Funcs) {
    use Kind::*;
    f.pure("list", &[], Some(Any), list);
    f.pure("tuple", &[], Some(Any), list);
    f.must_pair("first", &[Any], None, Value::Nil, |a| {
        Ok(need_list(&a[0], "find first")?.first().cloned().unwrap_or(Value::Nil))
    });
    f.must_pair("last", &[Any], None, Value::Nil, |a| {
        Ok(need_list(&a[0], "find last")?.last().cloned().unwrap_or(Value::Nil))
    });
    f.must_pair("rest", &[Any], None, Value::Nil, |a| {
        let l = need_list(&a[0], "find rest")?;
        if l.is_empty() {
            return Ok(Value::Nil);
        }
        list(l[1..].to_vec())
    });
    f.must_pair("initial", &[Any], None, Value::Nil, |a| {
        let l = need_list(&a[0], "find initial")?;
        if l.is_empty() {
            return Ok(Value::Nil);
        }
        list(l[..l.len() - 1].to_vec())
    });
    for name in ["append", "push"] {
        f.must_pair(name, &[Any, Any], None, Value::Nil, |a| {
            let mut l = need_list(&a[0], "push")?;
            l.push(a[1].clone());
            list(l)
        });
    }
    f.must_pair("prepend", &[Any, Any], None, Value::Nil, |a| {
        let mut l = need_list(&a[0], "prepend")?;
        l.insert(0, a[1].clone());
        list(l)
    });
    f.pure("concat", &[], Some(Any), |a| {
        let mut out = Vec::new();
        for l in &a {
            match l {
                Value::List(x) => out.extend(x.iter().cloned()),
                v => return Err(format!("Cannot concat type {} as list", v.type_name())),
            }
        }
        list(out)
    });
    f.must_pair("reverse", &[Any], None, Value::Nil, |a| {
        let mut l = need_list(&a[0], "find reverse")?;
        l.reverse();
        list(l)
    });
    f.must_pair("uniq", &[Any], None, Value::Nil, |a| {
        let mut out: Vec<Value> = Vec::new();
        for v in need_list(&a[0], "find uniq")? {
            if !out.iter().any(|o| deep_equal(o, &v)) {
                out.push(v);
            }
        }
        list(out)
    });
    f.must_pair("without", &[Any], Some(Any), Value::Nil, |a| {
        let l = need_list(&a[0], "find without")?;
        list(l.into_iter().filter(|v| !a[1..].iter().any(|o| deep_equal(o, v))).collect())
    });
    f.must_pair("has", &[Any, Any], None, Value::Bool(false), |a| match &a[1] {
        Value::List(l) => Ok(Value::Bool(l.iter().any(|v| deep_equal(v, &a[0])))),
        v if v.is_nil() => Ok(Value::Bool(false)),
        v => Err(format!("Cannot find has on type {}", v.type_name())),
    });
    f.must_pair("compact", &[Any], None, Value::Nil, |a| {
        list(need_list(&a[0], "compact")?.into_iter().filter(|v| !v.is_empty()).collect())
    });
    f.must_pair("slice", &[Any], Some(Any), Value::Nil, |a| {
        let l = match &a[0] {
            Value::List(l) => l.to_vec(),
            v => return Err(format!("list should be type of slice or array but {}", v.kind_name())),
        };
        let len = l.len() as i64;
        let start = a.get(1).map(to_int).unwrap_or(0);
        let end = a.get(2).map(to_int).unwrap_or(len);
        if start < 0 || end > len || start > end {
            return Err(format!("runtime error: slice bounds out of range [{start}:{end}] with capacity {len}"));
        }
        list(l[start as usize..end as usize].to_vec())
    });
    f.pure("until", &[Int], None, |a| {
        let n = i(&a[0]);
        let step = if n < 0 { -1 } else { 1 };
        list(until_step(0, n, step))
    });
    f.pure("untilStep", &[Int, Int, Int], None, |a| list(until_step(i(&a[0]), i(&a[1]), i(&a[2]))));
    f.pure("seq", &[], Some(Any), |a| {
        let p: Vec<i64> = a.iter().map(to_int).collect();
        let (start, stop, step) = match p.as_slice() {
            [] => return Ok(Value::str("")),
            [n] => (1, *n, if *n >= 1 { 1 } else { -1 }),
            [s, e] => (*s, *e, if e >= s { 1 } else { -1 }),
            [s, st, e, ..] => (*s, *e, *st),
        };
        if step == 0 || (step > 0 && start > stop) || (step < 0 && start < stop) {
            return Ok(Value::str(""));
        }
        let mut v = Vec::new();
        let mut x = start;
        while (step > 0 && x <= stop) || (step < 0 && x >= stop) {
            v.push(x.to_string());
            x += step;
            if v.len() > 10_000_000 {
                break;
            }
        }
        Ok(Value::from(v.join(" ")))
    });
    f.pure("chunk", &[Int, Any], None, |a| {
        let size = i(&a[0]).max(1) as usize;
        list(as_list(&a[1]).chunks(size).map(|c| Value::list(c.to_vec())).collect())
    });
}

fn until_step(start: i64, stop: i64, step: i64) -> Vec<Value> {
    let mut v = Vec::new();
    if step == 0 || (step > 0 && start >= stop) || (step < 0 && start <= stop) {
        return v;
    }
    let mut x = start;
    while (step > 0 && x < stop) || (step < 0 && x > stop) {
        v.push(Value::Int(x));
        x += step;
        if v.len() > 10_000_000 {
            break;
        }
    }
    v
}
