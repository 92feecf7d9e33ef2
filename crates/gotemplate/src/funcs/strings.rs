//! Sprig's string functions.

use super::conv::to_string;
use super::lists::as_list;
use super::{i, s, Funcs, Kind};
use crate::format::go_quote;
use crate::value::Value;

fn st(x: impl Into<String>) -> super::FuncResult {
    Ok(Value::from(x.into()))
}

/// Go's `strings.Title`: upper-case the first letter of each word.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = !(c.is_alphanumeric() || c == '_' || c == '\'');
    }
    out
}

fn untitle(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_space = true;
    for c in s.chars() {
        if prev_space {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
        prev_space = c.is_whitespace();
    }
    out
}

/// Splits an identifier into lower-case words (`HTTPServer_id` → http, server, id).
fn words(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    for (k, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if c.is_uppercase() && !cur.is_empty() {
            let prev = chars[k - 1];
            let next_lower = chars.get(k + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                out.push(std::mem::take(&mut cur));
            }
        }
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn camel(s: &str) -> String {
    // xstrings.ToCamelCase: split on `_`, capitalise each part, keep the rest.
    s.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn wrap(width: i64, s: &str, newline: &str) -> String {
    // Word wrap at `width` columns, breaking only at spaces (like goutils.WrapCustom).
    let width = width.max(1) as usize;
    let mut out = Vec::new();
    for line in s.split('\n') {
        let mut cur = String::new();
        for word in line.split(' ').filter(|w| !w.is_empty()) {
            if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > width {
                out.push(std::mem::take(&mut cur));
            }
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(word);
        }
        out.push(cur);
    }
    out.join(newline)
}

pub(crate) fn rand_string(n: i64, set: &str) -> String {
    let chars: Vec<char> = set.chars().collect();
    (0..n.max(0)).map(|_| chars[(super::misc::random_u64() % chars.len() as u64) as usize]).collect()
}

pub(super) fn register(f: &mut Funcs) {
    use Kind::*;
    f.pure("trim", &[Str], None, |a| st(s(&a[0]).trim()));
    f.pure("trimAll", &[Str, Str], None, |a| st(s(&a[1]).trim_matches(|c| s(&a[0]).contains(c))));
    f.pure("trimPrefix", &[Str, Str], None, |a| st(s(&a[1]).strip_prefix(s(&a[0])).unwrap_or(s(&a[1]))));
    f.pure("trimSuffix", &[Str, Str], None, |a| st(s(&a[1]).strip_suffix(s(&a[0])).unwrap_or(s(&a[1]))));
    f.pure("upper", &[Str], None, |a| st(s(&a[0]).to_uppercase()));
    f.pure("lower", &[Str], None, |a| st(s(&a[0]).to_lowercase()));
    f.pure("title", &[Str], None, |a| st(title(s(&a[0]))));
    f.pure("untitle", &[Str], None, |a| st(untitle(s(&a[0]))));
    f.pure("repeat", &[Int, Str], None, |a| {
        if i(&a[0]) < 0 {
            return Err("strings: negative Repeat count".into());
        }
        st(s(&a[1]).repeat(i(&a[0]) as usize))
    });
    f.pure("substr", &[Int, Int, Str], None, |a| {
        let (start, end, str) = (i(&a[0]), i(&a[1]), s(&a[2]));
        let b = str.as_bytes();
        let len = b.len() as i64;
        let sub = if start < 0 {
            if end < 0 || end > len {
                return Err(format!("runtime error: slice bounds out of range [:{end}] with length {len}"));
            }
            &b[..end as usize]
        } else if end < 0 || end > len {
            if start > len {
                return Err(format!("runtime error: slice bounds out of range [{start}:{len}]"));
            }
            &b[start as usize..]
        } else {
            if start > end {
                return Err(format!("runtime error: slice bounds out of range [{start}:{end}]"));
            }
            &b[start as usize..end as usize]
        };
        st(String::from_utf8_lossy(sub).into_owned())
    });
    f.pure("nospace", &[Str], None, |a| st(s(&a[0]).chars().filter(|c| !c.is_whitespace()).collect::<String>()));
    f.pure("trunc", &[Int, Str], None, |a| {
        let (c, str) = (i(&a[0]), s(&a[1]));
        let len = str.len() as i64;
        let b = str.as_bytes();
        let out = if c >= 0 && len > c {
            &b[..c as usize]
        } else if c < 0 && len + c > 0 {
            &b[(len + c) as usize..]
        } else {
            b
        };
        st(String::from_utf8_lossy(out).into_owned())
    });
    f.pure("abbrev", &[Int, Str], None, |a| {
        let (w, str) = (i(&a[0]), s(&a[1]));
        if w < 4 || str.chars().count() as i64 <= w {
            return st(str);
        }
        st(str.chars().take((w - 3) as usize).collect::<String>() + "...")
    });
    f.pure("abbrevboth", &[Int, Int, Str], None, |a| {
        let (l, w, str) = (i(&a[0]).max(0) as usize, i(&a[1]), s(&a[2]));
        let n = str.chars().count();
        if w < 4 || n as i64 <= w {
            return st(str);
        }
        let w = w as usize;
        if l <= 4 {
            return st(str.chars().take(w - 3).collect::<String>() + "...");
        }
        let l = l.min(n.saturating_sub(w - 3));
        let rest: String = str.chars().skip(l).collect();
        if rest.chars().count() + 3 <= w {
            return st(format!("...{rest}"));
        }
        st(format!("...{}...", rest.chars().take(w - 6).collect::<String>()))
    });
    f.pure("initials", &[Str], None, |a| {
        st(s(&a[0]).split_whitespace().filter_map(|w| w.chars().next()).collect::<String>())
    });
    for (name, set) in [
        ("randAlpha", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"),
        ("randNumeric", "0123456789"),
        ("randAlphaNum", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
        ("randAscii", " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"),
    ] {
        f.pure(name, &[Int], None, move |a| st(rand_string(i(&a[0]), set)));
    }
    f.pure("wrap", &[Int, Str], None, |a| st(wrap(i(&a[0]), s(&a[1]), "\n")));
    f.pure("wrapWith", &[Int, Str, Str], None, |a| st(wrap(i(&a[0]), s(&a[2]), s(&a[1]))));
    f.pure("contains", &[Str, Str], None, |a| Ok(Value::Bool(s(&a[1]).contains(s(&a[0])))));
    f.pure("hasPrefix", &[Str, Str], None, |a| Ok(Value::Bool(s(&a[1]).starts_with(s(&a[0])))));
    f.pure("hasSuffix", &[Str, Str], None, |a| Ok(Value::Bool(s(&a[1]).ends_with(s(&a[0])))));
    f.pure("quote", &[], Some(Any), |a| {
        st(a.iter().filter(|v| !v.is_nil()).map(|v| go_quote(&to_string(v))).collect::<Vec<_>>().join(" "))
    });
    f.pure("squote", &[], Some(Any), |a| {
        st(a.iter().filter(|v| !v.is_nil()).map(|v| format!("'{}'", to_string(v))).collect::<Vec<_>>().join(" "))
    });
    f.pure("cat", &[], Some(Any), |a| {
        st(a.iter().filter(|v| !v.is_nil()).map(to_string).collect::<Vec<_>>().join(" "))
    });
    f.pure("indent", &[Int, Str], None, |a| {
        let pad = " ".repeat(i(&a[0]).max(0) as usize);
        st(format!("{pad}{}", s(&a[1]).replace('\n', &format!("\n{pad}"))))
    });
    f.pure("nindent", &[Int, Str], None, |a| {
        let pad = " ".repeat(i(&a[0]).max(0) as usize);
        st(format!("\n{pad}{}", s(&a[1]).replace('\n', &format!("\n{pad}"))))
    });
    f.pure("replace", &[Str, Str, Str], None, |a| st(s(&a[2]).replace(s(&a[0]), s(&a[1]))));
    f.pure("plural", &[Str, Str, Int], None, |a| Ok(if i(&a[2]) == 1 { a[0].clone() } else { a[1].clone() }));
    f.pure("snakecase", &[Str], None, |a| st(words(s(&a[0])).join("_")));
    f.pure("kebabcase", &[Str], None, |a| st(words(s(&a[0])).join("-")));
    f.pure("camelcase", &[Str], None, |a| st(camel(s(&a[0]))));
    f.pure("swapcase", &[Str], None, |a| {
        st(s(&a[0])
            .chars()
            .flat_map(|c| {
                if c.is_uppercase() {
                    c.to_lowercase().collect::<Vec<_>>()
                } else {
                    c.to_uppercase().collect::<Vec<_>>()
                }
            })
            .collect::<String>())
    });
    f.pure("shuffle", &[Str], None, |a| {
        let mut c: Vec<char> = s(&a[0]).chars().collect();
        for k in (1..c.len()).rev() {
            let j = (super::misc::random_u64() % (k as u64 + 1)) as usize;
            c.swap(k, j);
        }
        st(c.into_iter().collect::<String>())
    });
    f.pure("split", &[Str, Str], None, |a| {
        let m = crate::value::Map::new();
        for (k, part) in s(&a[1]).split(s(&a[0])).enumerate() {
            m.insert(format!("_{k}"), Value::str(part));
        }
        Ok(Value::Map(m))
    });
    f.pure("splitList", &[Str, Str], None, |a| {
        Ok(Value::list(go_split(s(&a[1]), s(&a[0]), -1).into_iter().map(Value::from).collect()))
    });
    f.pure("splitn", &[Str, Int, Str], None, |a| {
        let m = crate::value::Map::new();
        for (k, part) in go_split(s(&a[2]), s(&a[0]), i(&a[1])).into_iter().enumerate() {
            m.insert(format!("_{k}"), Value::from(part));
        }
        Ok(Value::Map(m))
    });
    f.pure("join", &[Str, Any], None, |a| {
        let items: Vec<String> = match &a[1] {
            Value::List(l) => l.iter().filter(|v| !v.is_nil()).map(to_string).collect(),
            Value::String(x) => vec![x.to_string()],
            v if v.is_nil() => vec![],
            v => vec![to_string(v)],
        };
        st(items.join(s(&a[0])))
    });
    f.pure("sortAlpha", &[Any], None, |a| {
        let mut v: Vec<String> = match &a[0] {
            Value::List(l) => l.iter().map(to_string).collect(),
            other => return Ok(Value::list(vec![Value::from(to_string(other))])),
        };
        v.sort();
        Ok(Value::list(v.into_iter().map(Value::from).collect()))
    });
    f.pure("toUpper", &[Str], None, |a| st(s(&a[0]).to_uppercase()));
    f.pure("toLower", &[Str], None, |a| st(s(&a[0]).to_lowercase()));
    let _ = as_list;
}

/// Go's `strings.SplitN` (n < 0: all; n == 0: none).
pub(crate) fn go_split(s: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        let chars: Vec<String> = s.chars().map(String::from).collect();
        if n > 0 && chars.len() > n as usize {
            let mut head: Vec<String> = chars[..n as usize - 1].to_vec();
            head.push(chars[n as usize - 1..].concat());
            return head;
        }
        return chars;
    }
    if n < 0 {
        s.split(sep).map(String::from).collect()
    } else {
        s.splitn(n as usize, sep).map(String::from).collect()
    }
}
