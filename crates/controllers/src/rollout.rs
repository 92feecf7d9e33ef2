//! The arithmetic of a Deployment rollout, as pure functions over ReplicaSet sizes (the
//! Deployment controller does the API calls): `maxSurge`/`maxUnavailable` from numbers or
//! percentages, how far the new ReplicaSet may grow, how far the old ones may shrink, and
//! proportional scaling when the Deployment is resized in the middle of a rollout.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// What the rollout math needs to know of one ReplicaSet.
#[derive(Debug, Clone, PartialEq)]
pub struct Set {
    /// `spec.replicas`.
    pub replicas: i32,
    /// `status.availableReplicas`.
    pub available: i32,
    /// The `deployment.kubernetes.io/max-replicas` annotation, when set.
    pub max_replicas: Option<i32>,
}

/// `value` (a number, or a percentage of `total` rounded up or down) as a count.
pub fn scaled_value(value: &IntOrString, total: i32, round_up: bool) -> Result<i32, String> {
    match value {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(s) => {
            let percent: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("invalid value for IntOrString: invalid type: string is not a percentage: {s:?}"))?;
            let scaled = percent * i64::from(total);
            let count = if round_up { (scaled + 99).div_euclid(100) } else { scaled.div_euclid(100) };
            Ok(i32::try_from(count).unwrap_or(i32::MAX))
        }
    }
}

/// `(maxSurge, maxUnavailable)` for `replicas`; both zero would stall, so unavailable becomes 1.
pub fn surge_and_unavailable(max_surge: Option<&IntOrString>, max_unavailable: Option<&IntOrString>, replicas: i32) -> Result<(i32, i32), String> {
    let default = IntOrString::String("25%".into());
    let surge = scaled_value(max_surge.unwrap_or(&default), replicas, true)?.max(0);
    let unavailable = scaled_value(max_unavailable.unwrap_or(&default), replicas, false)?.clamp(0, replicas.max(0));
    Ok(if surge == 0 && unavailable == 0 { (0, 1) } else { (surge, unavailable) })
}

/// The size the new ReplicaSet may grow to now: never more than `replicas + maxSurge` pods in all.
pub fn new_set_size(replicas: i32, surge: i32, new: &Set, all: &[Set]) -> i32 {
    if new.replicas >= replicas {
        return replicas;
    }
    let total: i32 = all.iter().map(|s| s.replicas).sum();
    let room = (replicas + surge - total).max(0);
    new.replicas + room.min(replicas - new.replicas)
}

/// How many pods the old ReplicaSets may lose now, never leaving fewer than
/// `replicas - maxUnavailable` available; unavailable old pods go first. Returns the new
/// size of each old set, oldest first as given.
pub fn old_set_sizes(replicas: i32, unavailable: i32, new: Option<&Set>, old: &[Set]) -> Vec<i32> {
    let mut sizes: Vec<i32> = old.iter().map(|s| s.replicas).collect();
    let old_total: i32 = sizes.iter().sum();
    if old_total == 0 {
        return sizes;
    }
    let all_total = old_total + new.map_or(0, |n| n.replicas);
    let min_available = replicas - unavailable;
    let new_unavailable = new.map_or(0, |n| (n.replicas - n.available).max(0));
    let mut budget = all_total - min_available - new_unavailable;
    if budget <= 0 {
        return sizes;
    }
    // First the old pods that are not available anyway.
    for (size, set) in sizes.iter_mut().zip(old) {
        let unhealthy = (*size - set.available).max(0).min(budget);
        *size -= unhealthy;
        budget -= unhealthy;
    }
    // Then available ones, while enough stay available.
    let available_now: i32 = old.iter().zip(&sizes).map(|(s, size)| s.available.min(*size)).sum::<i32>()
        + new.map_or(0, |n| n.available);
    let mut allowed = (available_now - min_available).min(budget);
    for size in sizes.iter_mut() {
        if allowed <= 0 {
            break;
        }
        let cut = (*size).min(allowed);
        *size -= cut;
        allowed -= cut;
    }
    sizes
}

/// New sizes when the Deployment's `replicas` changed while several ReplicaSets have pods:
/// each set keeps its share of `replicas + maxSurge`, the rounding left-over goes to the
/// largest (sets are given largest first).
pub fn proportional_sizes(replicas: i32, surge: i32, status_replicas: i32, sets: &[Set]) -> Vec<i32> {
    let allowed = if replicas > 0 { replicas + surge } else { 0 };
    let current: i32 = sets.iter().map(|s| s.replicas).sum();
    let to_add = allowed - current;
    let mut sizes: Vec<i32> = sets.iter().map(|s| s.replicas).collect();
    if to_add == 0 {
        return sizes;
    }
    let mut added = 0;
    for (size, set) in sizes.iter_mut().zip(sets) {
        if set.replicas == 0 {
            continue;
        }
        let fraction = if replicas == 0 {
            -set.replicas
        } else {
            let annotated = set.max_replicas.filter(|m| *m > 0).unwrap_or(status_replicas.max(1));
            let target = (f64::from(set.replicas) * f64::from(allowed) / f64::from(annotated)).round() as i32;
            target - set.replicas
        };
        let left = to_add - added;
        let share = if to_add > 0 { fraction.min(left) } else { fraction.max(left) };
        *size += share;
        added += share;
    }
    if let Some(first) = sizes.first_mut() {
        *first = (*first + to_add - added).max(0);
    }
    sizes
}

/// Kubernetes' alphabet for hashes in names (no vowels, no look-alikes).
const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The `pod-template-hash` of a template (its JSON, without the label) and the
/// Deployment's `collisionCount`: FNV-1a, its decimal digits written in the safe alphabet.
pub fn template_hash(template_json: &str, collision_count: Option<i32>) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u32::from(*b);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    };
    feed(template_json.as_bytes());
    if let Some(c) = collision_count {
        feed(&c.to_le_bytes());
    }
    hash.to_string()
        .bytes()
        .map(|b| SAFE[usize::from(b) % SAFE.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(replicas: i32, available: i32) -> Set {
        Set { replicas, available, max_replicas: None }
    }

    #[test]
    fn percentages_round_surge_up_and_unavailable_down() {
        let pct = |s: &str| IntOrString::String(s.into());
        assert_eq!(surge_and_unavailable(Some(&pct("25%")), Some(&pct("25%")), 10), Ok((3, 2)));
        assert_eq!(surge_and_unavailable(Some(&IntOrString::Int(0)), Some(&IntOrString::Int(0)), 3), Ok((0, 1)));
        assert_eq!(surge_and_unavailable(None, None, 1), Ok((1, 0)));
        assert!(surge_and_unavailable(Some(&pct("abc")), None, 3).is_err());
    }

    #[test]
    fn new_set_grows_only_within_surge() {
        // 4 replicas, surge 1: old has 4, new may have 1.
        assert_eq!(new_set_size(4, 1, &set(0, 0), &[set(4, 4), set(0, 0)]), 1);
        // Old shrank to 3: new may reach 2.
        assert_eq!(new_set_size(4, 1, &set(1, 1), &[set(3, 3), set(1, 1)]), 2);
        // Never past replicas.
        assert_eq!(new_set_size(4, 10, &set(0, 0), &[set(0, 0)]), 4);
        assert_eq!(new_set_size(4, 1, &set(6, 0), &[set(6, 0)]), 4);
    }

    #[test]
    fn old_sets_shrink_only_while_enough_stay_available() {
        // 4 replicas, unavailable 1, the new pod not yet available: one old may go.
        assert_eq!(old_set_sizes(4, 1, Some(&set(1, 0)), &[set(4, 4)]), vec![3]);
        // ... and none once three are left with the new one still unavailable.
        assert_eq!(old_set_sizes(4, 1, Some(&set(2, 0)), &[set(3, 3)]), vec![3]);
        // The new pod is available: one old may go... and one more, as 5 are available.
        assert_eq!(old_set_sizes(4, 1, Some(&set(1, 1)), &[set(4, 4)]), vec![2]);
        // Unavailable old pods go first, within the same budget.
        assert_eq!(old_set_sizes(4, 1, Some(&set(1, 0)), &[set(4, 2)]), vec![3]);
        assert_eq!(old_set_sizes(4, 2, Some(&set(1, 1)), &[set(4, 1)]), vec![1]);
        // Oldest set first.
        assert_eq!(old_set_sizes(2, 0, Some(&set(2, 2)), &[set(1, 1), set(1, 1)]), vec![0, 0]);
    }

    #[test]
    fn proportional_scaling_keeps_shares() {
        // 10 replicas (+3 surge) split 8 new / 5 old, scaled to 20 (+5): 13 → 25, 8:5 kept.
        let sets = [
            Set { replicas: 8, available: 8, max_replicas: Some(13) },
            Set { replicas: 5, available: 5, max_replicas: Some(13) },
        ];
        let sizes = proportional_sizes(20, 5, 13, &sets);
        assert_eq!(sizes.iter().sum::<i32>(), 25);
        assert_eq!(sizes, vec![15, 10]);
        assert_eq!(proportional_sizes(0, 0, 13, &sets), vec![0, 0]);
    }

    #[test]
    fn template_hashes_are_stable_and_change_with_the_collision_count() {
        let a = template_hash("{\"spec\":1}", None);
        assert_eq!(a, template_hash("{\"spec\":1}", None));
        assert_ne!(a, template_hash("{\"spec\":1}", Some(1)));
        assert!(a.bytes().all(|b| SAFE.contains(&b)));
    }
}
