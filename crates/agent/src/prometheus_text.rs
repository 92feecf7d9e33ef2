//! The Prometheus text exposition format (version 0.0.4, what `/metrics` endpoints
//! serve), read into samples: `# TYPE` lines give each family its type, `# HELP` and
//! other comments are skipped, and each sample line is a name, optional `{labels}`
//! (with `\\`, `\"` and `\n` escapes in the values), a value (`NaN`, `+Inf` and `-Inf`
//! included) and an optional timestamp. A sample is a [`Kind::Counter`] when its family
//! is a counter, or is a histogram's or summary's `_bucket`, `_sum` or `_count`; every
//! other sample (gauges, untyped lines, summary quantiles) is a [`Kind::Gauge`].

use std::collections::{BTreeMap, HashMap};

/// How a sample's value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A value at the moment of the scrape.
    Gauge,
    /// A running total: only its rate of change says something.
    Counter,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    pub kind: Kind,
}

/// A line that is not in the format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// Reads a whole exposition.
pub fn parse(text: &str) -> Result<Vec<Sample>, ParseError> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let fail = |message: String| ParseError { line: index + 1, message };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.split_whitespace();
            if words.next() == Some("TYPE") {
                let (Some(name), Some(kind)) = (words.next(), words.next()) else {
                    return Err(fail(format!("a TYPE line needs a metric name and a type: {line:?}")));
                };
                if !matches!(kind, "counter" | "gauge" | "histogram" | "summary" | "untyped") {
                    return Err(fail(format!("unknown metric type {kind:?} for {name}: use counter, gauge, histogram, summary or untyped")));
                }
                types.insert(name.to_string(), kind.to_string());
            }
            continue;
        }
        let (name, labels, rest) = sample_parts(line).map_err(fail)?;
        let mut fields = rest.split_whitespace();
        let value = fields.next().ok_or_else(|| fail(format!("{name} has no value")))?;
        let value = number(value).ok_or_else(|| fail(format!("the value {value:?} of {name} is not a number")))?;
        if let Some(stamp) = fields.next() {
            stamp.parse::<i64>().map_err(|_| fail(format!("the timestamp {stamp:?} of {name} is not an integer (milliseconds)")))?;
        }
        if fields.next().is_some() {
            return Err(fail(format!("unexpected text after the value and timestamp of {name}")));
        }
        let kind = kind_of(&name, &types);
        samples.push(Sample { name, labels, value, kind });
    }
    Ok(samples)
}

/// The kind of a sample named `name` given the families' declared types.
fn kind_of(name: &str, types: &HashMap<String, String>) -> Kind {
    let declared = |family: &str| types.get(family).map(String::as_str);
    if declared(name) == Some("counter") || name.strip_suffix("_total").is_some_and(|f| declared(f) == Some("counter")) {
        return Kind::Counter;
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(family) = name.strip_suffix(suffix) {
            match declared(family) {
                Some("histogram") => return Kind::Counter,
                Some("summary") if suffix != "_bucket" => return Kind::Counter,
                _ => {}
            }
        }
    }
    Kind::Gauge
}

/// A float as the format writes it.
fn number(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok().filter(|v: &f64| v.is_finite()),
    }
}

fn is_name_char(c: char, first: bool) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':' || (!first && c.is_ascii_digit())
}

/// The metric name, its labels and what follows them.
fn sample_parts(line: &str) -> Result<(String, BTreeMap<String, String>, &str), String> {
    let end = line.char_indices().find(|(i, c)| !is_name_char(*c, *i == 0)).map_or(line.len(), |(i, _)| i);
    if end == 0 {
        return Err(format!("a sample line must start with a metric name: {line:?}"));
    }
    let name = line[..end].to_string();
    let rest = line[end..].trim_start();
    let Some(mut rest) = rest.strip_prefix('{') else {
        return Ok((name, BTreeMap::new(), rest));
    };
    let mut labels = BTreeMap::new();
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((name, labels, after));
        }
        let key_end = rest.char_indices().find(|(i, c)| !(is_name_char(*c, *i == 0) && *c != ':')).map_or(rest.len(), |(i, _)| i);
        if key_end == 0 {
            return Err(format!("a label name is expected in the labels of {name}"));
        }
        let key = rest[..key_end].to_string();
        rest = rest[key_end..].trim_start();
        rest = rest.strip_prefix('=').ok_or_else(|| format!("label {key} of {name} needs =\"value\""))?.trim_start();
        rest = rest.strip_prefix('"').ok_or_else(|| format!("the value of label {key} of {name} must be quoted"))?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let close = loop {
            match chars.next() {
                None => return Err(format!("the value of label {key} of {name} is not closed by a quote")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    other => return Err(format!("unknown escape \\{} in label {key} of {name}", other.map_or(' ', |(_, c)| c))),
                },
                Some((_, c)) => value.push(c),
            }
        };
        labels.insert(key, value);
        rest = rest[close + 1..].trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err(format!("labels of {name} must be separated by commas and closed by }}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exposition_with_every_kind_of_line() {
        let text = r#"
# HELP http_requests_total Requests served.
# TYPE http_requests_total counter
http_requests_total{method="get",path="/a \"b\"\\c"} 1027 1395066363000
http_requests_total{method="post",} 3
# TYPE queue_depth gauge
queue_depth 4.5
# TYPE latency histogram
latency_bucket{le="+Inf"} 7
latency_sum 1.5
latency_count 7
# TYPE rpc summary
rpc{quantile="0.99"} 0.25
rpc_count 9
untyped_thing -Inf
weird:name_1 NaN
"#;
        let samples = parse(text).unwrap();
        let kinds: Vec<(&str, Kind)> = samples.iter().map(|s| (s.name.as_str(), s.kind)).collect();
        use Kind::*;
        assert_eq!(
            kinds,
            [
                ("http_requests_total", Counter),
                ("http_requests_total", Counter),
                ("queue_depth", Gauge),
                ("latency_bucket", Counter),
                ("latency_sum", Counter),
                ("latency_count", Counter),
                ("rpc", Gauge),
                ("rpc_count", Counter),
                ("untyped_thing", Gauge),
                ("weird:name_1", Gauge),
            ]
        );
        assert_eq!(samples[0].labels.get("path").map(String::as_str), Some("/a \"b\"\\c"));
        assert_eq!((samples[0].value, samples[1].value), (1027.0, 3.0));
        assert_eq!(samples[2].value, 4.5);
        assert!(samples[8].value.is_infinite() && samples[9].value.is_nan());
    }

    #[test]
    fn an_openmetrics_counter_family_covers_its_total_samples() {
        let samples = parse("# TYPE jobs counter\njobs_total 5\n").unwrap();
        assert_eq!(samples[0].kind, Kind::Counter);
    }

    #[test]
    fn bad_lines_say_where_and_why() {
        let error = |text: &str| parse(text).unwrap_err().to_string();
        assert_eq!(error("ok 1\n{a=\"b\"} 2"), "line 2: a sample line must start with a metric name: \"{a=\\\"b\\\"} 2\"");
        assert_eq!(error("x"), "line 1: x has no value");
        assert_eq!(error("x one"), "line 1: the value \"one\" of x is not a number");
        assert_eq!(error("x{a=b} 1"), "line 1: the value of label a of x must be quoted");
        assert_eq!(error("x{a=\"b} 1"), "line 1: the value of label a of x is not closed by a quote");
        assert_eq!(error("x{a=\"b\" c=\"d\"} 1"), "line 1: labels of x must be separated by commas and closed by }");
        assert_eq!(error("x 1 2 3"), "line 1: unexpected text after the value and timestamp of x");
        assert_eq!(error("# TYPE x meter"), "line 1: unknown metric type \"meter\" for x: use counter, gauge, histogram, summary or untyped");
    }
}
