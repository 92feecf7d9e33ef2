//! An Application's workflow as steps to run: its `spec.workflow.steps` (types
//! `apply-component`, `suspend`, `depends-on`; each waits for the one before it, or for the
//! steps its `dependsOn` names), or by default one `apply-component` step per component,
//! ordered by the components' `dependsOn`. Which steps have run is the controller's state;
//! this module only reads and orders them, and says what phase the application is in.

use std::collections::BTreeSet;

use serde_json::Value;

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Applies a component's resources; done once its workload is healthy.
    ApplyComponent(String),
    /// Waits until resumed (`tug app resume`, the `app.oam.dev/resume` annotation).
    Suspend,
    /// Waits until another Application (in `namespace`, the app's by default) is running.
    DependsOn { name: String, namespace: Option<String> },
}

/// One step of the workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    /// The step type as written (`apply-component`, …).
    pub kind: String,
    pub action: Action,
    /// The steps that must have succeeded first.
    pub depends_on: Vec<String>,
}

/// The step types the workflow runs.
pub const STEP_TYPES: [&str; 3] = ["apply-component", "suspend", "depends-on"];

/// The steps of `spec` in an order that runs each after what it depends on; the error names
/// the field at fault.
pub fn steps(spec: &Value) -> Result<Vec<Step>, String> {
    let components: Vec<&Value> = spec.get("components").and_then(Value::as_array).into_iter().flatten().collect();
    let names: BTreeSet<&str> = components.iter().filter_map(|c| c.get("name").and_then(Value::as_str)).collect();
    let str_list = |v: Option<&Value>| -> Vec<String> { v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(String::from).collect() };
    let explicit = spec.pointer("/workflow/steps").and_then(Value::as_array).filter(|s| !s.is_empty());
    let steps = match explicit {
        Some(list) => {
            let mut steps: Vec<Step> = Vec::new();
            for (i, step) in list.iter().enumerate() {
                let field = format!("spec.workflow.steps[{i}]");
                let name = step.get("name").and_then(Value::as_str).ok_or(format!("{field}.name is required"))?.to_string();
                let kind = step.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
                let properties = step.get("properties").cloned().unwrap_or(Value::Null);
                let action = match kind.as_str() {
                    "apply-component" => {
                        let component = properties.get("component").and_then(Value::as_str).unwrap_or(&name).to_string();
                        if !names.contains(component.as_str()) {
                            return Err(format!("{field}.properties.component: no component named {component:?} in spec.components"));
                        }
                        Action::ApplyComponent(component)
                    }
                    "suspend" => Action::Suspend,
                    "depends-on" | "depends-on-app" => Action::DependsOn {
                        name: properties.get("name").and_then(Value::as_str).ok_or(format!("{field}.properties.name: the Application to wait for is required"))?.to_string(),
                        namespace: properties.get("namespace").and_then(Value::as_str).map(String::from),
                    },
                    other => return Err(format!("{field}.type: step type {other:?} is not supported; supported: {}", STEP_TYPES.join(", "))),
                };
                let mut depends_on = str_list(step.get("dependsOn"));
                if depends_on.is_empty() {
                    depends_on.extend(steps.last().map(|s| s.name.clone()));
                }
                if let Some(missing) = depends_on.iter().find(|d| !steps.iter().any(|s| &s.name == *d)) {
                    return Err(format!("{field}.dependsOn: {missing:?} is not a step before {name:?}"));
                }
                steps.push(Step { name, kind, action, depends_on });
            }
            steps
        }
        None => {
            let mut pending: Vec<Step> = Vec::new();
            for (i, c) in components.iter().enumerate() {
                let name = c.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
                let depends_on = str_list(c.get("dependsOn"));
                if let Some(missing) = depends_on.iter().find(|d| !names.contains(d.as_str())) {
                    return Err(format!("spec.components[{i}].dependsOn: no component named {missing:?}"));
                }
                pending.push(Step { name: name.clone(), kind: "apply-component".into(), action: Action::ApplyComponent(name), depends_on });
            }
            order(pending)?
        }
    };
    Ok(steps)
}

/// Orders steps so that each comes after those it depends on (stable otherwise).
fn order(mut pending: Vec<Step>) -> Result<Vec<Step>, String> {
    let mut ordered: Vec<Step> = Vec::new();
    while !pending.is_empty() {
        let ready = pending.iter().position(|s| s.depends_on.iter().all(|d| ordered.iter().any(|o| &o.name == d)));
        match ready {
            Some(i) => ordered.push(pending.remove(i)),
            None => {
                let names: Vec<&str> = pending.iter().map(|s| s.name.as_str()).collect();
                return Err(format!("spec.components: dependsOn forms a cycle among {}", names.join(", ")));
            }
        }
    }
    Ok(ordered)
}

/// Where one step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepPhase {
    /// Waiting for the steps it depends on.
    Pending,
    /// Started, not done (a component applied and not yet healthy, another app not running).
    Running,
    /// A suspend step waiting to be resumed.
    Suspending,
    Succeeded,
}

impl StepPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            StepPhase::Pending => "pending",
            StepPhase::Running => "running",
            StepPhase::Suspending => "suspending",
            StepPhase::Succeeded => "succeeded",
        }
    }
}

/// The Application's `status.status` from its steps' phases and whether every applied
/// workload is healthy now.
pub fn app_phase(phases: &[StepPhase], all_healthy: bool) -> &'static str {
    if phases.contains(&StepPhase::Suspending) {
        "workflowSuspending"
    } else if phases.iter().any(|p| *p != StepPhase::Succeeded) {
        "runningWorkflow"
    } else if all_healthy {
        "running"
    } else {
        "unhealthy"
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn names(steps: &[Step]) -> Vec<&str> {
        steps.iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn components_run_after_what_they_depend_on() {
        let spec = json!({"components": [{"name": "web", "type": "webservice", "dependsOn": ["db"]}, {"name": "db", "type": "worker"}, {"name": "cache", "type": "worker"}]});
        let steps = steps(&spec).unwrap();
        assert_eq!(names(&steps), ["db", "web", "cache"]);
        assert_eq!(steps[1].depends_on, ["db"]);
        let cycle = json!({"components": [{"name": "a", "dependsOn": ["b"]}, {"name": "b", "dependsOn": ["a"]}]});
        assert_eq!(super::steps(&cycle).unwrap_err(), "spec.components: dependsOn forms a cycle among a, b");
        let missing = json!({"components": [{"name": "a", "dependsOn": ["x"]}]});
        assert_eq!(super::steps(&missing).unwrap_err(), "spec.components[0].dependsOn: no component named \"x\"");
    }

    #[test]
    fn explicit_steps_run_in_order_and_bad_ones_are_named() {
        let spec = json!({"components": [{"name": "a"}, {"name": "b"}], "workflow": {"steps": [
            {"name": "first", "type": "apply-component", "properties": {"component": "a"}},
            {"name": "approve", "type": "suspend"},
            {"name": "b", "type": "apply-component"}]}});
        let steps = steps(&spec).unwrap();
        assert_eq!(steps[0].action, Action::ApplyComponent("a".into()));
        assert_eq!((steps[1].action.clone(), steps[1].depends_on.clone()), (Action::Suspend, vec!["first".to_string()]));
        assert_eq!(steps[2].action, Action::ApplyComponent("b".into()));
        let bad = json!({"components": [], "workflow": {"steps": [{"name": "n", "type": "notification"}]}});
        assert_eq!(super::steps(&bad).unwrap_err(), "spec.workflow.steps[0].type: step type \"notification\" is not supported; supported: apply-component, suspend, depends-on");
    }

    #[test]
    fn the_phase_follows_the_steps_and_health() {
        use StepPhase::*;
        assert_eq!(app_phase(&[Succeeded, Suspending, Pending], false), "workflowSuspending");
        assert_eq!(app_phase(&[Succeeded, Running], false), "runningWorkflow");
        assert_eq!(app_phase(&[Succeeded], true), "running");
        assert_eq!(app_phase(&[Succeeded], false), "unhealthy");
    }
}
