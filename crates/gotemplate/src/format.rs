//! Go's `fmt` formatting of template values: `%v` of maps, slices and floats,
//! `fmt.Sprint`/`Sprintln` spacing, `Sprintf` verbs with flags, width and precision.

use crate::value::Value;

/// `%v` of a value as it appears inside a map or slice (nil is `<nil>`).
pub fn fmt_v(v: &Value, out: &mut String) {
    match v {
        Value::Missing | Value::Nil => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&format_float_g(*f, None, false)),
        Value::String(s) => out.push_str(s),
        Value::List(l) => {
            out.push('[');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_v(e, out);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, e)) in m.entries().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                fmt_v(e, out);
            }
            out.push(']');
        }
        Value::Object(o) => out.push_str(&o.display()),
    }
}

/// `%v` as a string.
pub fn to_v(v: &Value) -> String {
    let mut s = String::new();
    fmt_v(v, &mut s);
    s
}

/// How a template action prints its value: nil and missing are `<no value>`.
pub fn print_value(v: &Value, out: &mut String) {
    match v {
        Value::Missing | Value::Nil => out.push_str("<no value>"),
        v => fmt_v(v, out),
    }
}

/// `fmt.Sprint`: spaces between operands when neither side is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Value::String(_)) && !matches!(args[i - 1], Value::String(_)) {
            out.push(' ');
        }
        fmt_v(a, &mut out);
    }
    out
}

/// `fmt.Sprintln`: always spaces, trailing newline.
pub fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        fmt_v(a, &mut out);
    }
    out.push('\n');
    out
}

/// The shortest decimal digits and decimal exponent of a finite, non-zero `f`:
/// `f = 0.d1d2d3… × 10^dp`.
fn shortest_digits(f: f64) -> (String, i32) {
    let e = format!("{:e}", f.abs()); // like "1.2345e6"
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = digits.trim_end_matches('0').to_string();
    let digits = if digits.is_empty() { "0".to_string() } else { digits };
    (digits, exp + 1)
}

/// Digits rounded to `n` significant figures (for precision-limited `%g`/`%e`).
fn rounded_digits(f: f64, n: usize) -> (String, i32) {
    let n = n.max(1);
    let e = format!("{:.*e}", n - 1, f.abs());
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    (digits, exp + 1)
}

fn exp_suffix(exp: i32) -> String {
    let sign = if exp < 0 { '-' } else { '+' };
    format!("e{}{:02}", sign, exp.abs())
}

/// Go's `%g` (and `%v`) of a float64: `strconv.FormatFloat(f, 'g', prec, 64)` with
/// strconv's exponent threshold (6 for shortest, else the precision).
pub fn format_float_g(f: f64, prec: Option<usize>, sharp: bool) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let neg = f.is_sign_negative();
    let sign = if neg { "-" } else { "" };
    if f == 0.0 {
        return format!("{sign}0");
    }
    let (digits, dp, eprec) = match prec {
        None => {
            let (d, dp) = shortest_digits(f);
            // shortest digits: strconv decides on exponent form with precision 6.
            (d, dp, 6)
        }
        Some(p) => {
            let p = if p == 0 { 1 } else { p };
            let (mut d, dp) = rounded_digits(f, p);
            if !sharp {
                d = d.trim_end_matches('0').to_string();
                if d.is_empty() {
                    d.push('0');
                }
            }
            let nd = d.len() as i32;
            let mut eprec = p as i32;
            if eprec > nd && nd >= dp {
                eprec = nd;
            }
            (d, dp, eprec)
        }
    };
    let exp = dp - 1;
    if exp < -4 || exp >= eprec {
        let mut s = String::from(sign);
        s.push_str(&digits[..1]);
        if digits.len() > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        s.push_str(&exp_suffix(exp));
        return s;
    }
    let mut s = String::from(sign);
    if dp <= 0 {
        s.push_str("0.");
        for _ in 0..(-dp) {
            s.push('0');
        }
        s.push_str(&digits);
    } else if (dp as usize) >= digits.len() {
        s.push_str(&digits);
        for _ in 0..(dp as usize - digits.len()) {
            s.push('0');
        }
    } else {
        s.push_str(&digits[..dp as usize]);
        s.push('.');
        s.push_str(&digits[dp as usize..]);
    }
    s
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`, the same as `%v`.
pub fn format_float_strconv(f: f64) -> String {
    format_float_g(f, None, false)
}

fn format_float_e(f: f64, prec: usize, upper: bool) -> String {
    let (d, dp) = rounded_digits(f, prec + 1);
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let mut s = format!("{sign}{}", &d[..1]);
    if prec > 0 {
        s.push('.');
        s.push_str(&d[1..]);
    }
    let exp = if f == 0.0 { 0 } else { dp - 1 };
    s.push_str(&exp_suffix(exp));
    if upper {
        s = s.to_uppercase();
    }
    s
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            '\u{fffd}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[derive(Default, Clone, Copy)]
struct Flags {
    minus: bool,
    plus: bool,
    sharp: bool,
    zero: bool,
    space: bool,
}

fn pad(s: String, width: Option<usize>, fl: Flags, numeric: bool) -> String {
    let Some(w) = width else { return s };
    let len = s.chars().count();
    if len >= w {
        return s;
    }
    let n = w - len;
    if fl.minus {
        return s + &" ".repeat(n);
    }
    if fl.zero && numeric {
        let (sign, rest) = match s.strip_prefix(['-', '+']) {
            Some(r) => (&s[..1], r),
            None => ("", s.as_str()),
        };
        return format!("{sign}{}{rest}", "0".repeat(n));
    }
    " ".repeat(n) + &s
}

fn bad_verb(verb: char, v: &Value) -> String {
    match v {
        Value::Missing | Value::Nil => format!("%!{verb}(<nil>)"),
        v => format!("%!{verb}({}={})", v.type_name(), to_v(v)),
    }
}

fn fmt_int(i: i64, verb: char, fl: Flags, prec: Option<usize>) -> String {
    let neg = i < 0;
    let u = i.unsigned_abs();
    let mut digits = match verb {
        'd' | 'v' => u.to_string(),
        'x' => format!("{u:x}"),
        'X' => format!("{u:X}"),
        'o' | 'O' => format!("{u:o}"),
        'b' => format!("{u:b}"),
        _ => u.to_string(),
    };
    if let Some(p) = prec {
        while digits.len() < p {
            digits.insert(0, '0');
        }
        if p == 0 && u == 0 {
            digits.clear();
        }
    }
    let prefix = match (verb, fl.sharp) {
        ('x', true) => "0x",
        ('X', true) => "0X",
        ('o', true) => "0",
        ('b', true) => "0b",
        ('O', _) => "0o",
        _ => "",
    };
    let sign = if neg {
        "-"
    } else if fl.plus {
        "+"
    } else if fl.space {
        " "
    } else {
        ""
    };
    format!("{sign}{prefix}{digits}")
}

fn fmt_float(f: f64, verb: char, fl: Flags, prec: Option<usize>) -> String {
    let mut s = match verb {
        'v' | 'g' => format_float_g(f, prec, fl.sharp),
        'G' => format_float_g(f, prec, fl.sharp).to_uppercase(),
        'f' | 'F' => {
            if f.is_finite() {
                format!("{:.*}", prec.unwrap_or(6), f)
            } else {
                format_float_g(f, None, false)
            }
        }
        'e' | 'E' => {
            if f.is_finite() {
                format_float_e(f, prec.unwrap_or(6), verb == 'E')
            } else {
                format_float_g(f, None, false)
            }
        }
        _ => return bad_verb(verb, &Value::Float(f)),
    };
    if (fl.plus || fl.space) && !s.starts_with(['-', '+']) {
        s.insert(0, if fl.plus { '+' } else { ' ' });
    }
    s
}

fn fmt_one(v: &Value, verb: char, fl: Flags, width: Option<usize>, prec: Option<usize>) -> String {
    let numeric;
    let s = match (verb, v) {
        ('T', v) => {
            numeric = false;
            v.type_name()
        }
        ('v', Value::Int(i)) | ('d', Value::Int(i)) => {
            numeric = true;
            fmt_int(*i, 'd', fl, prec)
        }
        ('x' | 'X' | 'o' | 'O' | 'b', Value::Int(i)) => {
            numeric = true;
            fmt_int(*i, verb, fl, prec)
        }
        ('c', Value::Int(i)) => {
            numeric = false;
            char::from_u32(*i as u32).unwrap_or('\u{fffd}').to_string()
        }
        ('q', Value::Int(i)) => {
            numeric = false;
            let c = char::from_u32(*i as u32).unwrap_or('\u{fffd}');
            format!("'{c}'")
        }
        ('v' | 'g' | 'G' | 'f' | 'F' | 'e' | 'E', Value::Float(f)) => {
            numeric = true;
            fmt_float(*f, verb, fl, prec)
        }
        ('v' | 's', Value::String(s)) => {
            numeric = false;
            match prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.to_string(),
            }
        }
        ('q', Value::String(s)) => {
            numeric = false;
            if fl.sharp && !s.contains('`') {
                format!("`{s}`")
            } else {
                go_quote(s)
            }
        }
        ('x' | 'X', Value::String(s)) => {
            numeric = false;
            let h: String = s.bytes().map(|b| format!("{b:02x}")).collect();
            if verb == 'X' {
                h.to_uppercase()
            } else {
                h
            }
        }
        ('v' | 't', Value::Bool(b)) => {
            numeric = false;
            b.to_string()
        }
        ('v', Value::Missing | Value::Nil) => {
            numeric = false;
            "<nil>".to_string()
        }
        ('v' | 's', Value::List(_) | Value::Map(_) | Value::Object(_)) => {
            numeric = false;
            if verb == 's' {
                fmt_composite_verb(v, 's')
            } else {
                to_v(v)
            }
        }
        ('d', Value::List(_) | Value::Map(_)) => {
            numeric = false;
            fmt_composite_verb(v, 'd')
        }
        ('q', Value::List(_) | Value::Map(_)) => {
            numeric = false;
            fmt_composite_verb(v, 'q')
        }
        (verb, v) => return bad_verb(verb, v),
    };
    pad(s, width, fl, numeric)
}

/// A verb applied element-wise inside a slice or map (`%s` of `[]interface{}`).
fn fmt_composite_verb(v: &Value, verb: char) -> String {
    match v {
        Value::List(l) => {
            let parts: Vec<String> = l
                .iter()
                .map(|e| if e.is_nil() { "<nil>".to_string() } else { fmt_one(e, verb, Flags::default(), None, None) })
                .collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Map(m) => {
            let parts: Vec<String> = m
                .entries()
                .iter()
                .map(|(k, e)| {
                    format!(
                        "{}:{}",
                        fmt_one(&Value::str(k), verb, Flags::default(), None, None),
                        fmt_one(e, verb, Flags::default(), None, None)
                    )
                })
                .collect();
            format!("map[{}]", parts.join(" "))
        }
        Value::Missing | Value::Nil => format!("%!{verb}(<nil>)"),
        v => fmt_one(v, verb, Flags::default(), None, None),
    }
}

/// Go's `fmt.Sprintf`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut argi = 0;
    let mut chars = format.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut fl = Flags::default();
        while let Some(&(_, f)) = chars.peek() {
            match f {
                '-' => fl.minus = true,
                '+' => fl.plus = true,
                '#' => fl.sharp = true,
                '0' => fl.zero = true,
                ' ' => fl.space = true,
                _ => break,
            }
            chars.next();
        }
        let mut width = None;
        if let Some(&(_, '*')) = chars.peek() {
            chars.next();
            if let Some(Value::Int(w)) = args.get(argi) {
                if *w < 0 {
                    fl.minus = true;
                }
                width = Some(w.unsigned_abs() as usize);
            } else {
                out.push_str("%!(BADWIDTH)");
            }
            argi += 1;
        } else {
            let mut w = String::new();
            while let Some(&(_, d)) = chars.peek() {
                if d.is_ascii_digit() {
                    w.push(d);
                    chars.next();
                } else {
                    break;
                }
            }
            if !w.is_empty() {
                width = w.parse().ok();
            }
        }
        let mut prec = None;
        if let Some(&(_, '.')) = chars.peek() {
            chars.next();
            if let Some(&(_, '*')) = chars.peek() {
                chars.next();
                if let Some(Value::Int(p)) = args.get(argi) {
                    prec = Some((*p).max(0) as usize);
                } else {
                    out.push_str("%!(BADPREC)");
                }
                argi += 1;
            } else {
                let mut p = String::new();
                while let Some(&(_, d)) = chars.peek() {
                    if d.is_ascii_digit() {
                        p.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                prec = Some(p.parse().unwrap_or(0));
            }
        }
        let Some((_, verb)) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(argi) {
            None => out.push_str(&format!("%!{verb}(MISSING)")),
            Some(a) => out.push_str(&fmt_one(a, verb, fl, width, prec)),
        }
        argi += 1;
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[argi..]
            .iter()
            .map(|a| match a {
                Value::Missing | Value::Nil => "<nil>".to_string(),
                a => format!("{}={}", a.type_name(), to_v(a)),
            })
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_v() {
        assert_eq!(format_float_g(1.0, None, false), "1");
        assert_eq!(format_float_g(1.5, None, false), "1.5");
        assert_eq!(format_float_g(1e6, None, false), "1e+06");
        assert_eq!(format_float_g(123456.0, None, false), "123456");
        assert_eq!(format_float_g(0.0001, None, false), "0.0001");
        assert_eq!(format_float_g(0.00001, None, false), "1e-05");
        assert_eq!(format_float_g(-2.5e10, None, false), "-2.5e+10");
        assert_eq!(format_float_g(3.14659, Some(3), false), "3.15");
    }

    #[test]
    fn sprintf_verbs() {
        let a = [Value::Int(3), Value::str("s"), Value::Float(3.14659)];
        assert_eq!(sprintf("%d %s %5.2f|%-4d|%04d", &[a[0].clone(), a[1].clone(), a[2].clone(), Value::Int(7), Value::Int(-7)]), "3 s  3.15|7   |-007");
        assert_eq!(sprintf("%d", &[Value::Float(3.0)]), "%!d(float64=3)");
        assert_eq!(sprintf("%s %s", &[Value::str("x")]), "x %!s(MISSING)");
        assert_eq!(sprintf("%s", &[Value::str("x"), Value::Int(1)]), "x%!(EXTRA int=1)");
        assert_eq!(sprintf("%q %x %v", &[Value::str("a\"b"), Value::Int(255), Value::Nil]), "\"a\\\"b\" ff <nil>");
        assert_eq!(sprintf("%e", &[Value::Float(1234.5678)]), "1.234568e+03");
    }
}
