//! Sprig's date functions over Go-like `time.Time` values: `now`, `date`,
//! `dateInZone`, `htmlDate`, `htmlDateInZone`, `dateModify`, `toDate`, `unixEpoch`,
//! `ago`, `duration`, `durationRound` (and their `must` forms).
//!
//! Formatting and parsing use Go's reference-time layouts (`2006-01-02T15:04:05Z07:00`);
//! durations print as Go's `time.Duration` does (`1h2m3.5s`).

use std::sync::Arc;

use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

use super::{s, to_int, Funcs, Kind};
use crate::value::{Object, Value};

/// A `time.Time` in templates.
pub struct GoTime(pub Zoned);

impl GoTime {
    fn value(z: Zoned) -> Value {
        Value::Object(Arc::new(GoTime(z)))
    }
}

impl Object for GoTime {
    fn type_name(&self) -> &str {
        "time.Time"
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let z = &self.0;
        Some(Ok(match name {
            "Format" => Value::from(format(
                z,
                args.first().and_then(Value::as_str).unwrap_or(""),
            )),
            "String" => Value::from(format(z, GO_STRING_LAYOUT)),
            "Unix" => Value::Int(z.timestamp().as_second()),
            "UnixNano" => Value::Int(z.timestamp().as_nanosecond() as i64),
            "UnixMilli" => Value::Int(z.timestamp().as_millisecond()),
            "Year" => Value::Int(z.year().into()),
            "Month" => Value::str(MONTHS[z.month() as usize - 1]),
            "Day" => Value::Int(z.day().into()),
            "Hour" => Value::Int(z.hour().into()),
            "Minute" => Value::Int(z.minute().into()),
            "Second" => Value::Int(z.second().into()),
            "Nanosecond" => Value::Int(z.subsec_nanosecond().into()),
            "YearDay" => Value::Int(z.day_of_year().into()),
            "Weekday" => Value::str(DAYS[z.weekday().to_sunday_zero_offset() as usize]),
            "IsZero" => Value::Bool(z.timestamp() == zero_time().timestamp()),
            "UTC" => GoTime::value(z.with_time_zone(TimeZone::UTC)),
            "Local" => GoTime::value(z.with_time_zone(TimeZone::system())),
            "Add" => {
                let ns = args.first().map(to_int).unwrap_or(0);
                return Some(add_nanos(z, ns as i128).map(GoTime::value));
            }
            _ => return None,
        }))
    }
    fn display(&self) -> String {
        format(&self.0, GO_STRING_LAYOUT)
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn to_value(&self) -> Value {
        Value::from(format(&self.0, "2006-01-02T15:04:05.999999999Z07:00"))
    }
}

const GO_STRING_LAYOUT: &str = "2006-01-02 15:04:05.999999999 -0700 MST";
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Go's zero `time.Time`: January 1, year 1, 00:00:00 UTC.
fn zero_time() -> Zoned {
    jiff::civil::date(1, 1, 1)
        .at(0, 0, 0, 0)
        .to_zoned(TimeZone::UTC)
        .unwrap_or_else(|_| Zoned::now())
}

fn add_nanos(z: &Zoned, ns: i128) -> Result<Zoned, String> {
    let d = jiff::SignedDuration::from_nanos_i128(ns);
    z.checked_add(d).map_err(|e| e.to_string())
}

/// Go's `time.LoadLocation`: "" and "UTC" are UTC, "Local" the system zone.
fn location(name: &str) -> Result<TimeZone, String> {
    match name {
        "" | "UTC" => Ok(TimeZone::UTC),
        "Local" => Ok(TimeZone::system()),
        n => TimeZone::get(n).map_err(|_| format!("unknown time zone {n}")),
    }
}

/// The time a date function's argument means, as Sprig's `dateInZone` reads it:
/// a time, or Unix seconds as an integer; anything else is now.
fn time_arg(v: &Value) -> Zoned {
    match v {
        Value::Object(o) => match o.as_any().downcast_ref::<GoTime>() {
            Some(t) => t.0.clone(),
            None => Zoned::now(),
        },
        Value::Int(n) => Timestamp::from_second(*n)
            .map(|t| t.to_zoned(TimeZone::system()))
            .unwrap_or_else(|_| Zoned::now()),
        _ => Zoned::now(),
    }
}

fn date_in_zone(layout: &str, t: &Value, zone: &str) -> String {
    let tz = location(zone).unwrap_or(TimeZone::UTC);
    format(&time_arg(t).with_time_zone(tz), layout)
}

fn zoned_from_time(v: &Value) -> Result<Zoned, String> {
    match v {
        Value::Object(o) => o.as_any().downcast_ref::<GoTime>().map(|t| t.0.clone()),
        _ => None,
    }
    .ok_or_else(|| {
        format!(
            "wrong type for value; expected time.Time; got {}",
            v.type_name()
        )
    })
}

pub(super) fn register(f: &mut Funcs) {
    use Kind::*;
    f.pure("now", &[], None, |_| Ok(GoTime::value(Zoned::now())));
    f.pure("date", &[Str, Any], None, |a| {
        Ok(Value::from(date_in_zone(s(&a[0]), &a[1], "Local")))
    });
    f.pure("dateInZone", &[Str, Any, Str], None, |a| {
        Ok(Value::from(date_in_zone(s(&a[0]), &a[1], s(&a[2]))))
    });
    f.pure("htmlDate", &[Any], None, |a| {
        Ok(Value::from(date_in_zone("2006-01-02", &a[0], "Local")))
    });
    f.pure("htmlDateInZone", &[Any, Str], None, |a| {
        Ok(Value::from(date_in_zone("2006-01-02", &a[0], s(&a[1]))))
    });
    f.pure("unixEpoch", &[Any], None, |a| {
        Ok(Value::from(
            zoned_from_time(&a[0])?.timestamp().as_second().to_string(),
        ))
    });
    f.pure("ago", &[Any], None, |a| {
        let then = time_arg(&a[0]).timestamp();
        let secs = Timestamp::now().as_second() - then.as_second();
        Ok(Value::from(duration_string(secs as i128 * 1_000_000_000)))
    });
    f.pure("duration", &[Any], None, |a| {
        let secs = match &a[0] {
            Value::String(x) => x.parse::<i64>().unwrap_or(0),
            v => to_int(v),
        };
        Ok(Value::from(duration_string(secs as i128 * 1_000_000_000)))
    });
    f.pure("durationRound", &[Any], None, |a| {
        let ns = match &a[0] {
            Value::String(x) => parse_duration(x).unwrap_or(0),
            Value::Object(_) => {
                let then = time_arg(&a[0]).timestamp();
                Timestamp::now().as_nanosecond() - then.as_nanosecond()
            }
            v => to_int(v) as i128,
        };
        Ok(Value::from(round_duration(ns)))
    });
    let modify = |a: Vec<Value>| -> Result<Value, String> {
        let t = zoned_from_time(&a[1])?;
        let d = parse_duration(s(&a[0]))?;
        add_nanos(&t, d).map(GoTime::value)
    };
    f.pure("mustDateModify", &[Str, Any], None, modify);
    f.pure("dateModify", &[Str, Any], None, move |a| {
        let original = a[1].clone();
        Ok(modify(a).unwrap_or(original))
    });
    f.pure("mustToDate", &[Str, Str], None, |a| {
        parse(s(&a[0]), s(&a[1]), &TimeZone::system()).map(GoTime::value)
    });
    f.pure("toDate", &[Str, Str], None, |a| {
        Ok(GoTime::value(
            parse(s(&a[0]), s(&a[1]), &TimeZone::system()).unwrap_or_else(|_| zero_time()),
        ))
    });
}

/// Go's `time.Duration.String`.
pub fn duration_string(ns: i128) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        // Below a second: one unit with a fraction.
        let (unit, scale) = match u {
            x if x < 1_000 => ("ns", 1u128),
            x if x < 1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        out.push_str(&fraction(u, scale));
        out.push_str(unit);
    } else {
        let h = u / 3_600_000_000_000;
        let m = (u / 60_000_000_000) % 60;
        let sec_ns = u % 60_000_000_000;
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&fraction(sec_ns, 1_000_000_000));
        out.push('s');
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// `n / scale` with the fraction's trailing zeros dropped.
fn fraction(n: u128, scale: u128) -> String {
    let whole = n / scale;
    let rest = n % scale;
    if rest == 0 {
        return whole.to_string();
    }
    let digits = scale.to_string().len() - 1;
    let frac = format!("{rest:0digits$}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// Sprig's `durationRound`: the largest whole unit (y, mo, d, h, m, s).
fn round_duration(ns: i128) -> String {
    let u = ns.unsigned_abs();
    let second = 1_000_000_000u128;
    let units = [
        (second * 3600 * 24 * 365, "y"),
        (second * 3600 * 24 * 30, "mo"),
        (second * 3600 * 24, "d"),
        (second * 3600, "h"),
        (second * 60, "m"),
        (second, "s"),
    ];
    for (size, name) in units {
        if u > size {
            return format!("{}{name}", u / size);
        }
    }
    "0s".into()
}

/// Go's `time.ParseDuration`, in nanoseconds.
pub fn parse_duration(text: &str) -> Result<i128, String> {
    let bad = || format!("time: invalid duration {}", crate::format::go_quote(text));
    let (neg, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let num = &rest[..num_end];
        if num.is_empty() || num == "." {
            return Err(bad());
        }
        let n: f64 = num.parse().map_err(|_| bad())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => {
                return Err(format!(
                    "time: missing unit in duration {}",
                    crate::format::go_quote(text)
                ))
            }
            u => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    crate::format::go_quote(u),
                    crate::format::go_quote(text)
                ))
            }
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    let ns = total.round() as i128;
    Ok(if neg { -ns } else { ns })
}

/// A piece of a Go layout.
#[derive(Debug, Clone, PartialEq)]
enum Chunk {
    Literal(String),
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekday,
    Weekday,
    Day,
    UnderDay,
    ZeroDay,
    YearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    ZoneName,
    /// A numeric zone; `z` writes `Z` for UTC, `colons` separates, `seconds`/`minutes` say which parts.
    Offset {
        z: bool,
        colons: bool,
        minutes: bool,
        seconds: bool,
    },
    /// `.000` (fixed) or `.999` (trailing zeros dropped), with the separator.
    Fraction {
        sep: char,
        digits: usize,
        fixed: bool,
    },
}

/// Splits a Go layout into chunks, longest match first, as Go's `nextStdChunk` reads it.
fn layout_chunks(layout: &str) -> Vec<Chunk> {
    let table: &[(&str, Chunk)] = &[
        ("January", Chunk::LongMonth),
        ("Jan", Chunk::Month),
        ("Monday", Chunk::LongWeekday),
        ("Mon", Chunk::Weekday),
        ("MST", Chunk::ZoneName),
        ("2006", Chunk::LongYear),
        ("002", Chunk::ZeroYearDay),
        ("__2", Chunk::YearDay),
        ("_2", Chunk::UnderDay),
        ("01", Chunk::ZeroMonth),
        ("02", Chunk::ZeroDay),
        ("03", Chunk::ZeroHour12),
        ("04", Chunk::ZeroMinute),
        ("05", Chunk::ZeroSecond),
        ("06", Chunk::Year),
        ("15", Chunk::Hour),
        ("1", Chunk::NumMonth),
        ("2", Chunk::Day),
        ("3", Chunk::Hour12),
        ("4", Chunk::Minute),
        ("5", Chunk::Second),
        ("PM", Chunk::PM),
        ("pm", Chunk::Pm),
        (
            "Z070000",
            Chunk::Offset {
                z: true,
                colons: false,
                minutes: true,
                seconds: true,
            },
        ),
        (
            "Z07:00:00",
            Chunk::Offset {
                z: true,
                colons: true,
                minutes: true,
                seconds: true,
            },
        ),
        (
            "Z0700",
            Chunk::Offset {
                z: true,
                colons: false,
                minutes: true,
                seconds: false,
            },
        ),
        (
            "Z07:00",
            Chunk::Offset {
                z: true,
                colons: true,
                minutes: true,
                seconds: false,
            },
        ),
        (
            "Z07",
            Chunk::Offset {
                z: true,
                colons: false,
                minutes: false,
                seconds: false,
            },
        ),
        (
            "-070000",
            Chunk::Offset {
                z: false,
                colons: false,
                minutes: true,
                seconds: true,
            },
        ),
        (
            "-07:00:00",
            Chunk::Offset {
                z: false,
                colons: true,
                minutes: true,
                seconds: true,
            },
        ),
        (
            "-0700",
            Chunk::Offset {
                z: false,
                colons: false,
                minutes: true,
                seconds: false,
            },
        ),
        (
            "-07:00",
            Chunk::Offset {
                z: false,
                colons: true,
                minutes: true,
                seconds: false,
            },
        ),
        (
            "-07",
            Chunk::Offset {
                z: false,
                colons: false,
                minutes: false,
                seconds: false,
            },
        ),
    ];
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    let b = layout.as_bytes();
    'outer: while i < layout.len() {
        // Fractional seconds: a separator and a run of 0s or 9s not followed by a digit.
        if (b[i] == b'.' || b[i] == b',')
            && i + 1 < b.len()
            && (b[i + 1] == b'0' || b[i + 1] == b'9')
        {
            let d = b[i + 1];
            let mut j = i + 1;
            while j < b.len() && b[j] == d {
                j += 1;
            }
            if j >= b.len() || !b[j].is_ascii_digit() {
                flush(&mut lit, &mut out);
                out.push(Chunk::Fraction {
                    sep: b[i] as char,
                    digits: j - i - 1,
                    fixed: d == b'0',
                });
                i = j;
                continue;
            }
        }
        for (pat, chunk) in table {
            if layout[i..].starts_with(pat) {
                // "Jan"/"Mon" must not run into a lowercase letter (Go: "Janet" is literal).
                let next = layout[i + pat.len()..].bytes().next();
                if matches!(*pat, "Jan" | "Mon" | "January" | "Monday")
                    && next.is_some_and(|c| c.is_ascii_lowercase())
                {
                    continue;
                }
                flush(&mut lit, &mut out);
                out.push(chunk.clone());
                i += pat.len();
                continue 'outer;
            }
        }
        let ch = layout[i..].chars().next().unwrap_or(' ');
        lit.push(ch);
        i += ch.len_utf8();
    }
    flush(&mut lit, &mut out);
    out
}

fn flush(lit: &mut String, out: &mut Vec<Chunk>) {
    if !lit.is_empty() {
        out.push(Chunk::Literal(std::mem::take(lit)));
    }
}

/// Go's `Time.Format`.
pub fn format(z: &Zoned, layout: &str) -> String {
    let mut out = String::new();
    let hour12 = |h: i8| if h % 12 == 0 { 12 } else { h % 12 };
    for c in layout_chunks(layout) {
        match c {
            Chunk::Literal(s) => out.push_str(&s),
            Chunk::LongMonth => out.push_str(MONTHS[z.month() as usize - 1]),
            Chunk::Month => out.push_str(&MONTHS[z.month() as usize - 1][..3]),
            Chunk::NumMonth => out.push_str(&z.month().to_string()),
            Chunk::ZeroMonth => out.push_str(&format!("{:02}", z.month())),
            Chunk::LongWeekday => out.push_str(DAYS[z.weekday().to_sunday_zero_offset() as usize]),
            Chunk::Weekday => {
                out.push_str(&DAYS[z.weekday().to_sunday_zero_offset() as usize][..3])
            }
            Chunk::Day => out.push_str(&z.day().to_string()),
            Chunk::UnderDay => out.push_str(&format!("{:>2}", z.day())),
            Chunk::ZeroDay => out.push_str(&format!("{:02}", z.day())),
            Chunk::YearDay => out.push_str(&format!("{:>3}", z.day_of_year())),
            Chunk::ZeroYearDay => out.push_str(&format!("{:03}", z.day_of_year())),
            Chunk::Hour => out.push_str(&format!("{:02}", z.hour())),
            Chunk::Hour12 => out.push_str(&hour12(z.hour()).to_string()),
            Chunk::ZeroHour12 => out.push_str(&format!("{:02}", hour12(z.hour()))),
            Chunk::Minute => out.push_str(&z.minute().to_string()),
            Chunk::ZeroMinute => out.push_str(&format!("{:02}", z.minute())),
            Chunk::Second => out.push_str(&z.second().to_string()),
            Chunk::ZeroSecond => out.push_str(&format!("{:02}", z.second())),
            Chunk::LongYear => out.push_str(&format!("{:04}", z.year())),
            Chunk::Year => out.push_str(&format!("{:02}", z.year().rem_euclid(100))),
            Chunk::PM => out.push_str(if z.hour() >= 12 { "PM" } else { "AM" }),
            Chunk::Pm => out.push_str(if z.hour() >= 12 { "pm" } else { "am" }),
            Chunk::ZoneName => {
                let abbr = z.strftime("%Z").to_string();
                if abbr.is_empty() || abbr.starts_with(['+', '-']) {
                    out.push_str(&offset_text(
                        z.offset().seconds(),
                        false,
                        false,
                        true,
                        false,
                    ));
                } else {
                    out.push_str(&abbr);
                }
            }
            Chunk::Offset {
                z: zee,
                colons,
                minutes,
                seconds,
            } => out.push_str(&offset_text(
                z.offset().seconds(),
                zee,
                colons,
                minutes,
                seconds,
            )),
            Chunk::Fraction { sep, digits, fixed } => {
                let ns = format!("{:09}", z.subsec_nanosecond());
                let mut frac = ns[..digits.min(9)].to_string();
                if !fixed {
                    frac = frac.trim_end_matches('0').to_string();
                }
                if !frac.is_empty() {
                    out.push(sep);
                    out.push_str(&frac);
                }
            }
        }
    }
    out
}

fn offset_text(secs: i32, z: bool, colons: bool, minutes: bool, seconds: bool) -> String {
    if z && secs == 0 {
        return "Z".into();
    }
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    let sep = if colons { ":" } else { "" };
    let mut s = format!("{sign}{:02}", a / 3600);
    if minutes {
        s.push_str(&format!("{sep}{:02}", (a / 60) % 60));
    }
    if seconds {
        s.push_str(&format!("{sep}{:02}", a % 60));
    }
    s
}

/// Go's `time.ParseInLocation` for the common layout elements.
pub fn parse(layout: &str, value: &str, tz: &TimeZone) -> Result<Zoned, String> {
    let err = |what: &str| {
        format!(
            "parsing time {} as {}: cannot parse {what}",
            crate::format::go_quote(value),
            crate::format::go_quote(layout)
        )
    };
    let (mut year, mut month, mut day, mut hour, mut minute, mut second, mut nanos) =
        (1i64, 1i64, 1i64, 0i64, 0i64, 0i64, 0i64);
    let mut pm: Option<bool> = None;
    let mut offset: Option<i32> = None;
    let mut rest = value;
    fn digits(s: &str, min: usize, max: usize) -> Option<(i64, &str)> {
        let n = s.bytes().take(max).take_while(u8::is_ascii_digit).count();
        if n < min {
            return None;
        }
        Some((s[..n].parse().ok()?, &s[n..]))
    }
    fn name<'a>(s: &'a str, names: &[&str], short: bool) -> Option<(i64, &'a str)> {
        names.iter().enumerate().find_map(|(i, n)| {
            let n = if short { &n[..3] } else { n };
            s.get(..n.len())
                .filter(|p| p.eq_ignore_ascii_case(n))
                .map(|_| (i as i64, &s[n.len()..]))
        })
    }
    for c in layout_chunks(layout) {
        let r = rest;
        let next = match c {
            Chunk::Literal(l) => r.strip_prefix(l.as_str()).map(|x| (0, x)),
            Chunk::LongYear => digits(r, 4, 4)
                .map(|(v, x)| (year = v, x).1)
                .map(|x| (0, x)),
            Chunk::Year => digits(r, 2, 2)
                .map(|(v, x)| (year = if v >= 69 { 1900 + v } else { 2000 + v }, x).1)
                .map(|x| (0, x)),
            Chunk::LongMonth => name(r, &MONTHS, false)
                .map(|(v, x)| (month = v + 1, x).1)
                .map(|x| (0, x)),
            Chunk::Month => name(r, &MONTHS, true)
                .map(|(v, x)| (month = v + 1, x).1)
                .map(|x| (0, x)),
            Chunk::NumMonth | Chunk::ZeroMonth => digits(r, 1, 2)
                .map(|(v, x)| (month = v, x).1)
                .map(|x| (0, x)),
            Chunk::LongWeekday => name(r, &DAYS, false),
            Chunk::Weekday => name(r, &DAYS, true),
            Chunk::Day | Chunk::ZeroDay => {
                digits(r, 1, 2).map(|(v, x)| (day = v, x).1).map(|x| (0, x))
            }
            Chunk::UnderDay => digits(r.trim_start_matches(' '), 1, 2)
                .map(|(v, x)| (day = v, x).1)
                .map(|x| (0, x)),
            Chunk::YearDay | Chunk::ZeroYearDay => digits(r.trim_start_matches(' '), 1, 3),
            Chunk::Hour => digits(r, 1, 2)
                .map(|(v, x)| (hour = v, x).1)
                .map(|x| (0, x)),
            Chunk::Hour12 | Chunk::ZeroHour12 => digits(r, 1, 2)
                .map(|(v, x)| (hour = v, x).1)
                .map(|x| (0, x)),
            Chunk::Minute | Chunk::ZeroMinute => digits(r, 1, 2)
                .map(|(v, x)| (minute = v, x).1)
                .map(|x| (0, x)),
            Chunk::Second | Chunk::ZeroSecond => {
                let (v, mut x) = digits(r, 1, 2).ok_or_else(|| err("second"))?;
                second = v;
                // Go accepts a fraction after seconds even when the layout has none.
                if x.starts_with('.') && x[1..].starts_with(|c: char| c.is_ascii_digit()) {
                    let n = x[1..].bytes().take_while(u8::is_ascii_digit).count();
                    nanos = format!("{:0<9}", &x[1..1 + n.min(9)]).parse().unwrap_or(0);
                    x = &x[1 + n..];
                }
                Some((0, x))
            }
            Chunk::Fraction { .. } => {
                if r.starts_with(['.', ',']) {
                    let n = r[1..].bytes().take_while(u8::is_ascii_digit).count();
                    nanos = format!("{:0<9}", &r[1..1 + n.min(9)]).parse().unwrap_or(0);
                    Some((0, &r[1 + n..]))
                } else {
                    Some((0, r))
                }
            }
            Chunk::PM | Chunk::Pm => match r.get(..2).map(|p| p.to_ascii_uppercase()) {
                Some(p) if p == "PM" => (pm = Some(true), Some((0, &r[2..]))).1,
                Some(p) if p == "AM" => (pm = Some(false), Some((0, &r[2..]))).1,
                _ => None,
            },
            Chunk::ZoneName => {
                let n = r.bytes().take_while(|b| b.is_ascii_uppercase()).count();
                if r[..n] == *"UTC" || r[..n] == *"GMT" {
                    offset = Some(0);
                }
                (n >= 3).then(|| (0, &r[n..]))
            }
            Chunk::Offset {
                z,
                colons,
                minutes,
                seconds,
            } => {
                if z && r.starts_with('Z') {
                    offset = Some(0);
                    Some((0, &r[1..]))
                } else {
                    let sign = match r.as_bytes().first() {
                        Some(b'+') => 1,
                        Some(b'-') => -1,
                        _ => return Err(err("zone offset")),
                    };
                    let (h, mut x) = digits(&r[1..], 2, 2).ok_or_else(|| err("zone offset"))?;
                    let mut total = h * 3600;
                    for (on, scale) in [(minutes, 60), (seconds, 1)] {
                        if on {
                            if colons {
                                x = x.strip_prefix(':').ok_or_else(|| err("zone offset"))?;
                            }
                            let (v, y) = digits(x, 2, 2).ok_or_else(|| err("zone offset"))?;
                            total += v * scale;
                            x = y;
                        }
                    }
                    offset = Some((sign * total) as i32);
                    Some((0, x))
                }
            }
        };
        rest = next.ok_or_else(|| err(&format!("{r:?}")))?.1;
    }
    if !rest.is_empty() {
        return Err(format!(
            "parsing time {}: extra text: {}",
            crate::format::go_quote(value),
            crate::format::go_quote(rest)
        ));
    }
    match pm {
        Some(true) if hour < 12 => hour += 12,
        Some(false) if hour == 12 => hour = 0,
        _ => {}
    }
    let dt = jiff::civil::DateTime::new(
        year as i16,
        month as i8,
        day as i8,
        hour as i8,
        minute as i8,
        second as i8,
        nanos as i32,
    )
    .map_err(|e| format!("parsing time {}: {e}", crate::format::go_quote(value)))?;
    let zone = match offset {
        Some(o) => TimeZone::fixed(jiff::tz::Offset::from_seconds(o).map_err(|e| e.to_string())?),
        None => tz.clone(),
    };
    dt.to_zoned(zone).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Zoned {
        let ts: Timestamp = s.parse().unwrap();
        ts.to_zoned(TimeZone::UTC)
    }

    #[test]
    fn formats_go_layouts() {
        let z = at("2024-03-05T07:08:09.120Z");
        assert_eq!(
            format(&z, "2006-01-02T15:04:05Z07:00"),
            "2024-03-05T07:08:09Z"
        );
        assert_eq!(format(&z, "20060102150405"), "20240305070809");
        assert_eq!(
            format(&z, "Mon Jan _2 3:4:5 PM 06"),
            "Tue Mar  5 7:8:9 AM 24"
        );
        assert_eq!(
            format(&z, "Monday, January 2 2006 .000 .999 -0700 MST"),
            "Tuesday, March 5 2024 .120 .12 +0000 UTC"
        );
        assert_eq!(format(&z, "002 Janet"), "065 Janet");
        let tokyo = z.with_time_zone(TimeZone::get("Asia/Tokyo").unwrap());
        assert_eq!(format(&tokyo, "15:04 -07:00 Z07:00"), "16:08 +09:00 +09:00");
    }

    #[test]
    fn parses_what_it_formats() {
        let t = parse(
            "2006-01-02 15:04:05 -0700",
            "2024-03-05 07:08:09 +0200",
            &TimeZone::UTC,
        )
        .unwrap();
        assert_eq!(
            t.timestamp().as_second(),
            at("2024-03-05T05:08:09Z").timestamp().as_second()
        );
        let t = parse("Jan 2 2006 3:04PM", "Mar 5 2024 7:08PM", &TimeZone::UTC).unwrap();
        assert_eq!(format(&t, "2006-01-02 15:04"), "2024-03-05 19:08");
        assert!(parse("2006-01-02", "2024-3-x", &TimeZone::UTC).is_err());
        assert!(parse("2006-01-02", "2024-03-05 extra", &TimeZone::UTC).is_err());
    }

    #[test]
    fn durations_print_and_parse_like_go() {
        assert_eq!(duration_string(0), "0s");
        assert_eq!(duration_string(90 * 1_000_000_000), "1m30s");
        assert_eq!(duration_string(3_723_500_000_000), "1h2m3.5s");
        assert_eq!(duration_string(1_500_000), "1.5ms");
        assert_eq!(duration_string(-2_000_000_000), "-2s");
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_duration("-1.5h").unwrap(), -5_400_000_000_000);
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("1x").is_err());
        assert_eq!(round_duration(3 * 86_400 * 1_000_000_000 + 5), "3d");
        assert_eq!(round_duration(400 * 86_400 * 1_000_000_000), "1y");
    }

    #[test]
    fn template_date_functions() {
        let r = |src: &str| crate::render(src, &Value::Nil).unwrap();
        assert_eq!(
            r(r#"{{ dateInZone "2006-01-02 15:04" 0 "UTC" }}"#),
            "1970-01-01 00:00"
        );
        assert_eq!(
            r(r#"{{ toDate "2006-01-02" "2024-02-29" | unixEpoch | len }}"#),
            "10"
        );
        assert_eq!(
            r(r#"{{ duration 95 }} {{ duration "3600" }}"#),
            "1m35s 1h0m0s"
        );
        assert_eq!(r(r#"{{ durationRound "2h10m" }}"#), "2h");
        assert_eq!(r(r#"{{ (toDate "2006-01-02" "bogus").Year }}"#), "1");
        assert_eq!(
            r(
                r#"{{ dateInZone "15:04" (dateModify "1h" (toDate "2006-01-02 MST" "2024-01-01 UTC")) "UTC" }}"#
            ),
            "01:00"
        );
        assert_eq!(r(r#"{{ now | date "2006" | len }}"#), "4");
        assert_eq!(r(r#"{{ ago now }}"#), "0s");
        assert!(crate::render(r#"{{ mustToDate "2006" "x" }}"#, &Value::Nil).is_err());
    }
}
