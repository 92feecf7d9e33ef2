//! An Application's `spec.policies`. The one type tug runs is `health`: a named group of
//! components (`properties.components`; all of them when absent) whose health rolls up into
//! one verdict in `status.policy`, which is what OAM's application scopes (the HealthScope
//! KubeVela dropped) gave. Other types (`topology`, `override`, `garbage-collect`, …) are
//! refused with a message saying so, rather than silently ignored.

use serde_json::Value;

/// A `health` policy: a group of components with a rolled-up health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthGroup {
    pub name: String,
    /// The components in the group; empty means every component.
    pub components: Vec<String>,
}

/// The policy types tug runs.
pub const POLICY_TYPES: [&str; 1] = ["health"];

/// Reads the policies; the error names the policy and field at fault.
pub fn read(spec: &Value) -> Result<Vec<HealthGroup>, String> {
    let components: Vec<&str> = spec.get("components").and_then(Value::as_array).into_iter().flatten().filter_map(|c| c.get("name").and_then(Value::as_str)).collect();
    let mut groups = Vec::new();
    for (i, policy) in spec.get("policies").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let name = policy.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        match policy.get("type").and_then(Value::as_str).unwrap_or_default() {
            "health" => {
                let listed: Vec<String> = policy.pointer("/properties/components").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(String::from).collect();
                if let Some(missing) = listed.iter().find(|c| !components.contains(&c.as_str())) {
                    return Err(format!("spec.policies[{i}] ({name:?}).properties.components: no component named {missing:?}"));
                }
                groups.push(HealthGroup { name, components: listed });
            }
            other => {
                return Err(format!(
                    "spec.policies[{i}] ({name:?}): policy type {other:?} is not supported by tug (one cluster, no multi-cluster placement or overrides); supported: {}",
                    POLICY_TYPES.join(", ")
                ))
            }
        }
    }
    Ok(groups)
}

impl HealthGroup {
    /// Whether every component of the group is healthy, and a message (`2/3 healthy`, the
    /// unhealthy ones named), from each component's name and health.
    pub fn roll_up(&self, services: &[(String, bool)]) -> (bool, String) {
        let healthy = |name: &str| services.iter().any(|(n, h)| n == name && *h);
        // A listed component without a service (not applied yet) is not healthy.
        let members: Vec<&str> = if self.components.is_empty() { services.iter().map(|(n, _)| n.as_str()).collect() } else { self.components.iter().map(String::as_str).collect() };
        let sick: Vec<&str> = members.iter().copied().filter(|m| !healthy(m)).collect();
        let mut message = format!("{}/{} components healthy", members.len() - sick.len(), members.len());
        if !sick.is_empty() {
            message.push_str(&format!("; unhealthy: {}", sick.join(", ")));
        }
        (sick.is_empty(), message)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn health_groups_roll_up_and_other_types_are_refused() {
        let spec = json!({"components": [{"name": "a"}, {"name": "b"}], "policies": [{"name": "backend", "type": "health", "properties": {"components": ["b"]}}]});
        let groups = read(&spec).unwrap();
        assert_eq!(groups, [HealthGroup { name: "backend".into(), components: vec!["b".into()] }]);
        let services = [("a".to_string(), false), ("b".to_string(), true)];
        assert_eq!(groups[0].roll_up(&services), (true, "1/1 components healthy".into()));
        let all = HealthGroup { name: "all".into(), components: vec![] };
        assert_eq!(all.roll_up(&services), (false, "1/2 components healthy; unhealthy: a".into()));
        let missing = HealthGroup { name: "m".into(), components: vec!["b".into(), "c".into()] };
        assert_eq!(missing.roll_up(&services), (false, "1/2 components healthy; unhealthy: c".into()), "a component not yet applied is not healthy");
        let topology = json!({"components": [], "policies": [{"name": "where", "type": "topology"}]});
        assert!(read(&topology).unwrap_err().starts_with("spec.policies[0] (\"where\"): policy type \"topology\" is not supported by tug"));
    }
}
