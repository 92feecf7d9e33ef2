//! An HPA's `behavior`, as kube-controller-manager applies it: the stabilization window
//! (the highest recommendation of the last `scaleDown.stabilizationWindowSeconds`, 300 s
//! by default, when scaling down; the lowest of the last `scaleUp` window, 0 s by default,
//! when scaling up), then the rate policies (`Pods`/`Percent` per `periodSeconds`, chosen
//! by `selectPolicy` Max, Min or Disabled) against the scale events of each period, then
//! minReplicas/maxReplicas — with the reason the count was limited, for the
//! `ScalingLimited` condition.
//!
//! Pure: the recommendations and scale events are the controller's memory of each HPA.

use k8s_openapi::api::autoscaling::v2::{HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscalerBehavior};

/// One direction's rules with Kubernetes' defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub stabilization_seconds: i64,
    /// "Max", "Min" or "Disabled".
    pub select: String,
    /// (type "Pods" or "Percent", value, periodSeconds)
    pub policies: Vec<(String, i32, i64)>,
}

/// Both directions' rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Behavior {
    pub up: Rules,
    pub down: Rules,
}

impl Behavior {
    /// The HPA's behavior with the API's defaults for what it leaves out: up — no
    /// stabilization, 100% or 4 pods per 15 s, whichever is more; down — 300 s
    /// stabilization, 100% per 15 s.
    pub fn of(behavior: Option<&HorizontalPodAutoscalerBehavior>) -> Behavior {
        let rules = |given: Option<&HPAScalingRules>, stabilization: i64, default: Vec<(String, i32, i64)>| {
            let policies = given.and_then(|r| r.policies.as_ref()).filter(|p| !p.is_empty());
            Rules {
                stabilization_seconds: given.and_then(|r| r.stabilization_window_seconds).map_or(stabilization, i64::from),
                select: given.and_then(|r| r.select_policy.clone()).unwrap_or_else(|| "Max".into()),
                policies: policies.map_or(default, |p| p.iter().map(policy).collect()),
            }
        };
        Behavior {
            up: rules(behavior.and_then(|b| b.scale_up.as_ref()), 0, vec![("Percent".into(), 100, 15), ("Pods".into(), 4, 15)]),
            down: rules(behavior.and_then(|b| b.scale_down.as_ref()), 300, vec![("Percent".into(), 100, 15)]),
        }
    }
}

fn policy(p: &HPAScalingPolicy) -> (String, i32, i64) {
    (p.type_.clone(), p.value, i64::from(p.period_seconds))
}

/// A past recommendation or scale event, at a time in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dated {
    pub at: f64,
    pub replicas: i32,
}

/// Why the count was limited, for `ScalingLimited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    None,
    TooManyReplicas,
    TooFewReplicas,
    ScaleUpLimit,
    ScaleDownLimit,
}

impl Limit {
    /// The condition's reason and message.
    pub fn reason(self) -> (&'static str, &'static str) {
        match self {
            Limit::None => ("DesiredWithinRange", "the desired count is within the acceptable range"),
            Limit::TooManyReplicas => ("TooManyReplicas", "the desired replica count is more than the maximum replica count"),
            Limit::TooFewReplicas => ("TooFewReplicas", "the desired replica count is less than the minimum replica count"),
            Limit::ScaleUpLimit => ("ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"),
            Limit::ScaleDownLimit => ("ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate"),
        }
    }
}

/// The stabilized recommendation: `desired` held between the lowest recommendation of
/// the up window and the highest of the down window (`recommendations` are the earlier
/// ones, `now` in seconds); true when stabilization changed it.
pub fn stabilize(behavior: &Behavior, recommendations: &[Dated], now: f64, current: i32, desired: i32) -> (i32, bool) {
    let (mut up, mut down) = (desired, desired);
    for r in recommendations {
        if r.at > now - behavior.up.stabilization_seconds as f64 {
            up = up.min(r.replicas);
        }
        if r.at > now - behavior.down.stabilization_seconds as f64 {
            down = down.max(r.replicas);
        }
    }
    let mut recommendation = current;
    if recommendation < up {
        recommendation = up;
    }
    if recommendation > down {
        recommendation = down;
    }
    (recommendation, recommendation != desired)
}

/// `desired` limited by the rate policies (scale events: `up_events` replicas added and
/// `down_events` removed, at times in seconds) and by min/max.
pub fn limit_rate(behavior: &Behavior, up_events: &[Dated], down_events: &[Dated], now: f64, current: i32, desired: i32, min: i32, max: i32) -> (i32, Limit) {
    if desired > current {
        let scale_up_limit = scale_up_limit(&behavior.up, up_events, down_events, now, current).max(current);
        let (allowed, reason) = if max > scale_up_limit { (scale_up_limit, Limit::ScaleUpLimit) } else { (max, Limit::TooManyReplicas) };
        if desired > allowed {
            return (allowed, reason);
        }
    } else if desired < current {
        let scale_down_limit = scale_down_limit(&behavior.down, up_events, down_events, now, current).min(current);
        let (allowed, reason) = if min < scale_down_limit { (scale_down_limit, Limit::ScaleDownLimit) } else { (min, Limit::TooFewReplicas) };
        if desired < allowed {
            return (allowed, reason);
        }
    }
    if desired > max {
        return (max, Limit::TooManyReplicas);
    }
    if desired < min {
        return (min, Limit::TooFewReplicas);
    }
    (desired, Limit::None)
}

fn in_period(events: &[Dated], now: f64, period: i64) -> i32 {
    events.iter().filter(|e| e.at > now - period as f64).map(|e| e.replicas).sum()
}

fn scale_up_limit(rules: &Rules, up: &[Dated], down: &[Dated], now: f64, current: i32) -> i32 {
    if rules.select == "Disabled" {
        return current;
    }
    let limits = rules.policies.iter().map(|(kind, value, period)| {
        let start = current - in_period(up, now, *period) + in_period(down, now, *period);
        if kind == "Pods" { start + value } else { (f64::from(start) * (1.0 + f64::from(*value) / 100.0)).ceil() as i32 }
    });
    if rules.select == "Min" { limits.min().unwrap_or(current) } else { limits.max().unwrap_or(current) }
}

fn scale_down_limit(rules: &Rules, up: &[Dated], down: &[Dated], now: f64, current: i32) -> i32 {
    if rules.select == "Disabled" {
        return current;
    }
    let limits = rules.policies.iter().map(|(kind, value, period)| {
        let start = current + in_period(down, now, *period) - in_period(up, now, *period);
        if kind == "Pods" { start - value } else { (f64::from(start) * (1.0 - f64::from(*value) / 100.0)) as i32 }
    });
    // Max allows the biggest change: the lowest limit.
    if rules.select == "Min" { limits.max().unwrap_or(current) } else { limits.min().unwrap_or(current) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(at: f64, replicas: i32) -> Dated {
        Dated { at, replicas }
    }

    #[test]
    fn defaults_are_the_apis() {
        let b = Behavior::of(None);
        assert_eq!((b.up.stabilization_seconds, b.down.stabilization_seconds), (0, 300));
        assert_eq!(b.up.policies, vec![("Percent".to_string(), 100, 15), ("Pods".to_string(), 4, 15)]);
        let given = HorizontalPodAutoscalerBehavior {
            scale_down: Some(HPAScalingRules { stabilization_window_seconds: Some(10), ..Default::default() }),
            ..Default::default()
        };
        let b = Behavior::of(Some(&given));
        assert_eq!((b.down.stabilization_seconds, b.down.policies.len(), b.down.select.as_str()), (10, 1, "Max"));
    }

    #[test]
    fn scale_down_waits_for_the_highest_recent_recommendation() {
        let b = Behavior::of(None);
        // 5 was recommended 100 s ago: a recommendation of 2 now stays at 5.
        assert_eq!(stabilize(&b, &[at(900.0, 5)], 1000.0, 5, 2), (5, true));
        // Older than 300 s: it no longer counts.
        assert_eq!(stabilize(&b, &[at(600.0, 5)], 1000.0, 5, 2), (2, false));
        // Scaling up is not held back by default.
        assert_eq!(stabilize(&b, &[at(999.0, 1)], 1000.0, 1, 4), (4, false));
    }

    #[test]
    fn rate_policies_limit_each_period() {
        let b = Behavior::of(None);
        // Up from 2: max(100% → 4, +4 pods → 6) = 6.
        assert_eq!(limit_rate(&b, &[], &[], 0.0, 2, 20, 1, 10), (6, Limit::ScaleUpLimit));
        // 4 pods were added 5 s ago (2 → 6): the period started at 2, still a limit of 6.
        assert_eq!(limit_rate(&b, &[at(-5.0, 4)], &[], 0.0, 6, 20, 1, 10), (6, Limit::ScaleUpLimit));
        // Max replicas lower than the rate limit.
        assert_eq!(limit_rate(&b, &[], &[], 0.0, 4, 20, 1, 5), (5, Limit::TooManyReplicas));
        // Down: 100% per 15 s allows anything; minReplicas holds.
        assert_eq!(limit_rate(&b, &[], &[], 0.0, 6, 0, 2, 10), (2, Limit::TooFewReplicas));
        assert_eq!(limit_rate(&b, &[], &[], 0.0, 6, 3, 2, 10), (3, Limit::None));
    }

    #[test]
    fn select_policy_picks_the_smaller_change_or_none() {
        let mut b = Behavior::of(None);
        b.down = Rules { stabilization_seconds: 0, select: "Min".into(), policies: vec![("Pods".into(), 1, 60), ("Percent".into(), 50, 60)] };
        // From 10: Pods → 9, Percent → 5; Min change → 9.
        assert_eq!(limit_rate(&b, &[], &[], 0.0, 10, 1, 1, 10), (9, Limit::ScaleDownLimit));
        b.down.select = "Max".into();
        assert_eq!(limit_rate(&b, &[], &[], 0.0, 10, 1, 1, 10), (5, Limit::ScaleDownLimit));
        b.down.select = "Disabled".into();
        assert_eq!(limit_rate(&b, &[], &[], 0.0, 10, 1, 1, 10), (10, Limit::ScaleDownLimit));
    }
}
