//! Sprig's regular-expression functions (Go RE2 syntax through regex-lite).

use regex_lite::Regex;

use super::{i, s, Funcs, Kind};
use crate::value::Value;

fn re(p: &str) -> Result<Regex, String> {
    Regex::new(p).map_err(|e| format!("error parsing regexp: {e}"))
}

/// Go's `Expand` template syntax (`$1`, `${name}`) is also regex-lite's.
pub(super) fn register(f: &mut Funcs) {
    use Kind::*;
    f.must_pair("regexMatch", &[Str, Str], None, Value::Bool(false), |a| Ok(Value::Bool(re(s(&a[0]))?.is_match(s(&a[1])))));
    f.must_pair("regexFind", &[Str, Str], None, Value::str(""), |a| {
        Ok(Value::str(re(s(&a[0]))?.find(s(&a[1])).map(|m| m.as_str()).unwrap_or("")))
    });
    f.must_pair("regexFindAll", &[Str, Str, Int], None, Value::list(vec![]), |a| {
        let r = re(s(&a[0]))?;
        let n = i(&a[2]);
        let it = r.find_iter(s(&a[1])).map(|m| Value::str(m.as_str()));
        Ok(Value::list(if n < 0 { it.collect() } else { it.take(n as usize).collect() }))
    });
    f.must_pair("regexReplaceAll", &[Str, Str, Str], None, Value::str(""), |a| {
        Ok(Value::from(re(s(&a[0]))?.replace_all(s(&a[1]), s(&a[2])).into_owned()))
    });
    f.must_pair("regexReplaceAllLiteral", &[Str, Str, Str], None, Value::str(""), |a| {
        Ok(Value::from(re(s(&a[0]))?.replace_all(s(&a[1]), regex_lite::NoExpand(s(&a[2]))).into_owned()))
    });
    f.must_pair("regexSplit", &[Str, Str, Int], None, Value::list(vec![]), |a| {
        let r = re(s(&a[0]))?;
        let n = i(&a[2]);
        let parts: Vec<Value> = if n < 0 {
            r.split(s(&a[1])).map(Value::str).collect()
        } else if n == 0 {
            vec![]
        } else {
            r.splitn(s(&a[1]), n as usize).map(Value::str).collect()
        };
        Ok(Value::list(parts))
    });
    f.pure("regexQuoteMeta", &[Str], None, |a| Ok(Value::from(regex_lite::escape(s(&a[0])))));
}
