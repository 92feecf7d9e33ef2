//! The image config as the build holds it (Docker's JSON, so `Healthcheck`, `Shell` and
//! `OnBuild` survive): reading and setting `Env`, the SHELL in force, ENV/LABEL pairs,
//! history entries, and HEALTHCHECK values.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde_json::{json, Value};

use super::parser::{self, Instruction};

/// The config's `Env` as pairs.
pub(super) fn env_of(config: &Value) -> Vec<(String, String)> {
    config["config"]["Env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|s| match s.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (s.to_string(), String::new()),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn set_env(config: &mut Value, key: &str, value: &str) {
    let mut env = env_of(config);
    match env.iter_mut().find(|(k, _)| k == key) {
        Some(e) => e.1 = value.to_string(),
        None => env.push((key.to_string(), value.to_string())),
    }
    config["config"]["Env"] = json!(env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>());
}

/// The SHELL in force (default `/bin/sh -c`).
pub(super) fn shell_of(config: &Value) -> Vec<String> {
    config["config"]["Shell"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
}

/// `K=V K2=V2` or the legacy `K V...` form of ENV and LABEL.
pub(super) fn pairs(
    words: &[String],
    ins: &Instruction,
) -> std::result::Result<Vec<(String, String)>, String> {
    let Some(first) = words.first() else {
        return Err("requires at least one KEY=VALUE".into());
    };
    if !first.contains('=') {
        if words.len() < 2 {
            return Err(format!("{first} needs a value: write {first}=VALUE"));
        }
        return Ok(vec![(first.clone(), words[1..].join(" "))]);
    }
    words
        .iter()
        .map(|w| match w.split_once('=') {
            Some(("", _)) => Err(format!("{w:?}: the key is empty")),
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(format!("{}: {w:?} is not KEY=VALUE", ins.keyword)),
        })
        .collect()
}

/// Appends a history entry and updates `created`.
pub(crate) fn push_history(config: &mut Value, created_by: &str, empty_layer: bool) {
    let now = tug_runtime::state::rfc3339(SystemTime::now());
    let mut entry = json!({"created": now, "created_by": created_by});
    if empty_layer {
        entry["empty_layer"] = json!(true);
    }
    let mut history = config["history"].as_array().cloned().unwrap_or_default();
    history.push(entry);
    config["history"] = json!(history);
    config["created"] = json!(now);
}

/// HEALTHCHECK [--interval=…] CMD … | NONE → Docker's `Healthcheck` config.
pub(super) fn healthcheck(ins: &Instruction) -> std::result::Result<Value, String> {
    let rest = ins.rest.trim();
    if rest.eq_ignore_ascii_case("none") {
        return Ok(json!({"Test": ["NONE"]}));
    }
    let cmd = rest
        .get(..3)
        .filter(|w| w.eq_ignore_ascii_case("cmd"))
        .map(|_| rest[3..].trim())
        .ok_or("expected HEALTHCHECK [OPTIONS] CMD command, or HEALTHCHECK NONE")?;
    let test = match parser::json_array(cmd) {
        Some(a) => std::iter::once("CMD".to_string())
            .chain(a)
            .collect::<Vec<_>>(),
        None => vec!["CMD-SHELL".to_string(), cmd.to_string()],
    };
    let mut check: BTreeMap<&str, Value> = BTreeMap::new();
    check.insert("Test", json!(test));
    for (flag, field) in [
        ("interval", "Interval"),
        ("timeout", "Timeout"),
        ("start-period", "StartPeriod"),
        ("start-interval", "StartInterval"),
    ] {
        if let Some(v) = ins.flag(flag) {
            check.insert(
                field,
                json!(duration_ns(v).ok_or_else(|| format!(
                    "invalid --{flag}={v}: use a duration such as 30s or 1m30s"
                ))?),
            );
        }
    }
    if let Some(r) = ins.flag("retries") {
        check.insert(
            "Retries",
            json!(r
                .parse::<u32>()
                .map_err(|_| format!("invalid --retries={r}: give a whole number"))?),
        );
    }
    Ok(json!(check))
}

/// A Go duration (`1m30s`, `500ms`, `2h`) in nanoseconds.
pub(super) fn duration_ns(text: &str) -> Option<u64> {
    let mut total = 0f64;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let n: f64 = rest[..end].parse().ok()?;
        rest = &rest[end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    Some(total as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_to_nanoseconds() {
        assert_eq!(duration_ns("30s"), Some(30_000_000_000));
        assert_eq!(duration_ns("1m30s"), Some(90_000_000_000));
        assert_eq!(duration_ns("500ms"), Some(500_000_000));
        assert_eq!(duration_ns("1.5h"), Some(5_400_000_000_000));
        assert_eq!(duration_ns("soon"), None);
        assert_eq!(duration_ns("10"), None);
        assert_eq!(duration_ns(""), None);
    }

    #[test]
    fn env_is_replaced_in_place_and_appended_when_new() {
        let mut c = json!({"config": {"Env": ["A=1", "B=2"]}});
        set_env(&mut c, "A", "x=y");
        set_env(&mut c, "C", "3");
        assert_eq!(c["config"]["Env"], json!(["A=x=y", "B=2", "C=3"]));
        assert_eq!(env_of(&c)[0], ("A".to_string(), "x=y".to_string()));
    }
}
