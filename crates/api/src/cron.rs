//! CronJob schedules: the five-field cron syntax Kubernetes accepts (minute, hour, day of
//! month, month, day of week; `*`, `?`, numbers, names like `jan` and `mon`, ranges,
//! lists and steps) and the macros `@yearly`/`@annually`, `@monthly`, `@weekly`,
//! `@daily`/`@midnight`, `@hourly`; times are UTC. Validation reports the problem as a
//! sentence; the CronJob controller asks for the next run time.

use k8s_openapi::jiff::civil::{Date, DateTime};
use k8s_openapi::jiff::tz::TimeZone;
use k8s_openapi::jiff::{Timestamp, ToSpan};

/// A parsed schedule: for each field, the set of allowed values as bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// Both day fields were restricted: a day matches if either does (as cron does).
    either_day: bool,
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// One field's bits from its text, values within `min..=max`.
fn field(text: &str, what: &str, min: u32, max: u32, names: &[&str]) -> Result<u64, String> {
    let value = |s: &str| -> Result<u32, String> {
        let lower = s.to_ascii_lowercase();
        if let Some(i) = names.iter().position(|n| *n == lower) {
            return Ok(min + i as u32);
        }
        let n: u32 = s.parse().map_err(|_| format!("failed to parse int from {s}: {what} field"))?;
        if n < min || n > max {
            return Err(format!("{what} value {n} out of range ({min}-{max})"));
        }
        Ok(n)
    };
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().map_err(|_| format!("failed to parse int from {step}: {what} step"))?;
                if step == 0 {
                    return Err(format!("step of range should be a positive number: {part}"));
                }
                (range, Some(step))
            }
            None => (part, None),
        };
        let (lo, hi) = match range {
            "*" | "?" => (min, max),
            _ => match range.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                None => {
                    let a = value(range)?;
                    (a, if step.is_some() { max } else { a })
                }
            },
        };
        if lo > hi {
            return Err(format!("beginning of range ({lo}) beyond end of range ({hi}): {part}"));
        }
        for v in (lo..=hi).step_by(step.unwrap_or(1) as usize) {
            bits |= 1 << v;
        }
    }
    Ok(bits)
}

/// Parses a schedule; the error is a sentence saying what is wrong.
pub fn parse(spec: &str) -> Result<Schedule, String> {
    let spec = spec.trim();
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        return Err("cannot use TZ or CRON_TZ in schedule, use timeZone field instead".into());
    }
    let expanded = match spec {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        other if other.starts_with('@') => return Err(format!("unrecognized descriptor: {other}")),
        other => other,
    };
    let fields: Vec<&str> = expanded.split_whitespace().collect();
    let [minute, hour, day, month, weekday] = fields.as_slice() else {
        return Err(format!("expected exactly 5 fields, found {}: {spec}", fields.len()));
    };
    let mut weekdays = field(weekday, "day of week", 0, 7, &WEEKDAYS)?;
    if weekdays & (1 << 7) != 0 {
        weekdays = (weekdays & !(1 << 7)) | 1;
    }
    let restricted = |f: &str| !f.starts_with('*') && !f.starts_with('?');
    Ok(Schedule {
        minutes: field(minute, "minute", 0, 59, &[])?,
        hours: field(hour, "hour", 0, 23, &[])?,
        days: field(day, "day of month", 1, 31, &[])?,
        months: field(month, "month", 1, 12, &MONTHS)?,
        weekdays,
        either_day: restricted(day) && restricted(weekday),
    })
}

impl Schedule {
    fn day_matches(&self, date: Date) -> bool {
        let dom = self.days & (1 << date.day()) != 0;
        let dow = self.weekdays & (1 << date.weekday().to_sunday_zero_offset()) != 0;
        if self.either_day { dom || dow } else { dom && dow }
    }

    /// The first run time strictly after `after` (within the next five years).
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let start = after.to_zoned(TimeZone::UTC).datetime();
        let mut t: DateTime = start.with().second(0).subsec_nanosecond(0).build().ok()?.checked_add(1.minute()).ok()?;
        let limit = start.checked_add(5.years()).ok()?;
        while t < limit {
            if self.months & (1 << t.month()) == 0 {
                t = t.first_of_month().checked_add(1.month()).ok()?.start_of_day();
            } else if !self.day_matches(t.date()) {
                t = t.date().tomorrow().ok()?.to_datetime(Default::default());
            } else if self.hours & (1 << t.hour()) == 0 {
                t = t.with().minute(0).build().ok()?.checked_add(1.hour()).ok()?;
            } else if self.minutes & (1 << t.minute()) == 0 {
                t = t.checked_add(1.minute()).ok()?;
            } else {
                return t.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next(spec: &str, after: &str) -> String {
        parse(spec).unwrap().next_after(after.parse().unwrap()).unwrap().to_string()
    }

    #[test]
    fn next_times_follow_the_fields() {
        assert_eq!(next("*/15 * * * *", "2026-11-27T03:07:30Z"), "2026-11-27T03:15:00Z");
        assert_eq!(next("@hourly", "2026-11-27T03:00:00Z"), "2026-11-27T04:00:00Z");
        assert_eq!(next("@daily", "2026-11-27T03:00:00Z"), "2026-11-28T00:00:00Z");
        assert_eq!(next("@weekly", "2026-11-27T03:00:00Z"), "2026-11-29T00:00:00Z");
        assert_eq!(next("@yearly", "2026-11-27T03:00:00Z"), "2027-01-01T00:00:00Z");
        assert_eq!(next("30 9 * feb mon-fri", "2026-11-27T03:00:00Z"), "2027-02-01T09:30:00Z");
        // Both day fields restricted: either matches (the 13th, or a Friday).
        assert_eq!(next("0 0 13 * 5", "2026-11-27T03:00:00Z"), "2026-12-04T00:00:00Z");
        assert_eq!(next("0 12 29 2 *", "2026-11-27T03:00:00Z"), "2028-02-29T12:00:00Z");
        assert_eq!(next("0 0 * * 7", "2026-11-27T03:00:00Z"), "2026-11-29T00:00:00Z");
    }

    #[test]
    fn bad_schedules_say_why() {
        assert_eq!(parse("* * * *").unwrap_err(), "expected exactly 5 fields, found 4: * * * *");
        assert_eq!(parse("61 * * * *").unwrap_err(), "minute value 61 out of range (0-59)");
        assert_eq!(parse("@sometimes").unwrap_err(), "unrecognized descriptor: @sometimes");
        assert!(parse("*/0 * * * *").unwrap_err().contains("positive"));
        assert!(parse("5-2 * * * *").unwrap_err().contains("beyond end"));
        assert!(parse("TZ=UTC * * * * *").unwrap_err().contains("timeZone"));
        assert!(parse("* * * smarch *").is_err());
    }
}
