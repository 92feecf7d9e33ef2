//! The HorizontalPodAutoscaler's replica count for one per-pod metric, as
//! kube-controller-manager's replica calculator computes it: the ratio of the current
//! average to the target, applied to the pods that reported, within a 10% tolerance;
//! pods with no metric count as at the target when scaling down and as 0 when scaling
//! up, and (for CPU) pods that are not ready count as 0 when scaling up — and if that
//! turns the direction around or into the tolerance, the count stays.
//!
//! `Object` metrics (one value for a whole object) use [`object_value`] and
//! [`object_average`], as the replica calculator's object paths do.
//!
//! Pure functions over numbers: the controller (`autoscaler`) gathers them.

/// `--horizontal-pod-autoscaler-tolerance`: changes within 10% of the target are ignored.
pub const TOLERANCE: f64 = 0.1;

/// One pod as the calculation sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PodSample {
    /// The pod's usage (for Utilization targets: the summed usage of its containers), if reported.
    pub value: Option<f64>,
    /// Ready (for CPU, unready pods are counted as 0 when scaling up).
    pub ready: bool,
    /// The pod's request for the resource (Utilization targets only).
    pub request: f64,
}

/// What the calculation found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Proposal {
    pub replicas: i32,
    /// The current average over the pods that reported: a utilization in percent of the
    /// requests, or an average value.
    pub current: f64,
}

/// How the target is expressed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// A percentage of the pods' requests.
    Utilization(f64),
    /// An average value per pod.
    AverageValue(f64),
}

/// The replica count for `pods` (the pods the target's selector picks, neither failed
/// nor being deleted) against `target`; `unready_counts` says whether unready pods are
/// set aside (CPU) or counted as they report. `None` when no pod reported a value or
/// the requests sum to zero.
pub fn replicas(current_replicas: i32, pods: &[PodSample], target: Target, unready_counts: bool) -> Option<Proposal> {
    let counted = |p: &&PodSample| p.value.is_some() && (p.ready || unready_counts);
    let reporting: Vec<&PodSample> = pods.iter().filter(counted).collect();
    if reporting.is_empty() {
        return None;
    }
    let missing = pods.iter().filter(|p| p.value.is_none()).count();
    let unready = pods.iter().filter(|p| p.value.is_some() && !p.ready && !unready_counts).count();
    let (ratio, current) = usage_ratio(&reporting, target)?;
    if missing == 0 && unready == 0 {
        if (ratio - 1.0).abs() <= TOLERANCE {
            return Some(Proposal { replicas: current_replicas, current });
        }
        return Some(Proposal { replicas: ceil(ratio * reporting.len() as f64), current });
    }
    // Fill in the missing and the unready pods, then look again.
    let scale_up = ratio > 1.0;
    let mut filled: Vec<PodSample> = reporting.iter().map(|p| **p).collect();
    for pod in pods.iter().filter(|p| p.value.is_none()) {
        let assumed = match (scale_up, target) {
            (true, _) => 0.0,
            (false, Target::Utilization(percent)) => pod.request * percent / 100.0,
            (false, Target::AverageValue(value)) => value,
        };
        filled.push(PodSample { value: Some(assumed), ..*pod });
    }
    if scale_up {
        for pod in pods.iter().filter(|p| p.value.is_some() && !p.ready && !unready_counts) {
            filled.push(PodSample { value: Some(0.0), ..*pod });
        }
    }
    let filled_refs: Vec<&PodSample> = filled.iter().collect();
    let (new_ratio, _) = usage_ratio(&filled_refs, target)?;
    let turned = (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0);
    if (new_ratio - 1.0).abs() <= TOLERANCE || turned {
        return Some(Proposal { replicas: current_replicas, current });
    }
    let proposed = ceil(new_ratio * filled.len() as f64);
    // Never a step in the other direction than the pods that reported asked for.
    let replicas = if (new_ratio < 1.0 && proposed > current_replicas) || (new_ratio > 1.0 && proposed < current_replicas) { current_replicas } else { proposed };
    Some(Proposal { replicas, current })
}

/// The replica count for an `Object` metric with a `Value` target: the ratio of the
/// object's value to the target applied to the ready pods (`current` when within the
/// tolerance; from zero replicas, the ratio itself). `None` for a target that is not positive.
pub fn object_value(current_replicas: i32, value: f64, target: f64, ready_pods: usize) -> Option<i32> {
    if target <= 0.0 {
        return None;
    }
    let ratio = value / target;
    if current_replicas == 0 {
        return Some(ceil(ratio));
    }
    if (ratio - 1.0).abs() <= TOLERANCE {
        return Some(current_replicas);
    }
    Some(ceil(ratio * ready_pods as f64))
}

/// The replica count for an `Object` metric with an `AverageValue` target: as many
/// replicas as the object's value holds targets, unless the value spread over the
/// `current` replicas is within the tolerance. `None` for a target that is not positive.
pub fn object_average(current_replicas: i32, value: f64, target: f64) -> Option<i32> {
    if target <= 0.0 {
        return None;
    }
    let ratio = value / (target * f64::from(current_replicas));
    if (ratio - 1.0).abs() <= TOLERANCE {
        return Some(current_replicas);
    }
    Some(ceil(value / target))
}

/// The ratio of the current average to the target, and the current average.
fn usage_ratio(pods: &[&PodSample], target: Target) -> Option<(f64, f64)> {
    let total: f64 = pods.iter().filter_map(|p| p.value).sum();
    match target {
        Target::Utilization(percent) => {
            let requests: f64 = pods.iter().map(|p| p.request).sum();
            if requests <= 0.0 || percent <= 0.0 {
                return None;
            }
            let utilization = total * 100.0 / requests;
            Some((utilization / percent, utilization))
        }
        Target::AverageValue(value) => {
            let average = total / pods.len() as f64;
            (value > 0.0).then(|| (average / value, average))
        }
    }
}

fn ceil(x: f64) -> i32 {
    // A float's noise (2.0000000001) is not a reason for one more pod.
    let rounded = (x * 1e6).round() / 1e6;
    rounded.ceil().clamp(0.0, f64::from(i32::MAX)) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(value: Option<f64>, ready: bool) -> PodSample {
        PodSample { value, ready, request: 100.0 }
    }

    #[test]
    fn the_ratio_scales_the_pods_that_reported() {
        // 3 pods at 90% of a 50% target: ceil(1.8 * 3) = 6.
        let pods = [pod(Some(90.0), true), pod(Some(90.0), true), pod(Some(90.0), true)];
        assert_eq!(replicas(3, &pods, Target::Utilization(50.0), false), Some(Proposal { replicas: 6, current: 90.0 }));
        // Down: 2 pods at 10% of 50%: ceil(0.2 * 2) = 1.
        let pods = [pod(Some(10.0), true), pod(Some(10.0), true)];
        assert_eq!(replicas(2, &pods, Target::Utilization(50.0), false).unwrap().replicas, 1);
    }

    #[test]
    fn within_the_tolerance_nothing_changes() {
        let pods = [pod(Some(54.0), true), pod(Some(54.0), true)];
        assert_eq!(replicas(2, &pods, Target::Utilization(50.0), false).unwrap().replicas, 2);
        let pods = [pod(Some(56.0), true), pod(Some(56.0), true)];
        assert_eq!(replicas(2, &pods, Target::Utilization(50.0), false).unwrap().replicas, 3);
    }

    #[test]
    fn average_values_ignore_requests() {
        let pods = [PodSample { value: Some(300.0), ready: true, request: 0.0 }; 2];
        assert_eq!(replicas(2, &pods, Target::AverageValue(100.0), true), Some(Proposal { replicas: 6, current: 300.0 }));
        assert_eq!(replicas(2, &pods, Target::Utilization(50.0), false), None, "no requests, no utilization");
    }

    #[test]
    fn missing_pods_dampen_a_scale_up_and_a_scale_down() {
        // Up: one pod at 200% and one missing (counted as 0): 100% average of a 50% target → 4.
        let pods = [pod(Some(200.0), true), pod(None, true)];
        assert_eq!(replicas(2, &pods, Target::Utilization(50.0), false).unwrap().replicas, 4);
        // Down: one pod at 0% and one missing (counted at the target): 25% → ceil(0.5 * 2) = 1.
        let pods = [pod(Some(0.0), true), pod(None, true)];
        assert_eq!(replicas(2, &pods, Target::Utilization(50.0), false).unwrap().replicas, 1);
        // Up turned into down by the missing ones: stay.
        let pods = [pod(Some(60.0), true), pod(None, true), pod(None, true)];
        assert_eq!(replicas(3, &pods, Target::Utilization(50.0), false).unwrap().replicas, 3);
    }

    #[test]
    fn object_values_scale_the_ready_pods_and_averages_the_replicas() {
        // 25 against a target of 10 with 2 ready pods: ceil(2.5 * 2) = 5.
        assert_eq!(object_value(2, 25.0, 10.0, 2), Some(5));
        // Within 10%: stay; from zero replicas: the ratio.
        assert_eq!(object_value(2, 10.5, 10.0, 2), Some(2));
        assert_eq!(object_value(0, 25.0, 10.0, 0), Some(3));
        assert_eq!(object_value(2, 1.0, 0.0, 2), None);
        // 30 spread over targets of 10 per replica: 3; 21 over 2 replicas is within 10% of 2 x 10.
        assert_eq!(object_average(1, 30.0, 10.0), Some(3));
        assert_eq!(object_average(2, 21.0, 10.0), Some(2));
        assert_eq!(object_average(4, 5.0, 10.0), Some(1));
    }

    #[test]
    fn unready_pods_count_as_idle_only_for_cpu_scale_ups() {
        let pods = [pod(Some(100.0), true), pod(Some(100.0), false)];
        // CPU: the unready pod counts as 0 → 50% average of 50%: within tolerance, stay.
        assert_eq!(replicas(2, &pods, Target::Utilization(50.0), false).unwrap().replicas, 2);
        // Memory: it counts as it reports → 100% of 50% → 4.
        assert_eq!(replicas(2, &pods, Target::Utilization(50.0), true).unwrap().replicas, 4);
        // No pod reported at all: no proposal.
        assert_eq!(replicas(2, &[pod(None, true)], Target::Utilization(50.0), false), None);
    }
}
