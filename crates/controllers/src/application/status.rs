//! An Application's `status` as the controller builds it: the phase, the latest revision,
//! the workflow's steps, one entry per component in `services` (its workload's health and
//! traits), the health policies' roll-ups in `policy`, conditions (a condition's
//! `lastTransitionTime` moves only when its status does) and `appliedResources`. It is
//! written only when it changed, so a reconcile that changes nothing writes nothing.

use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{json, Map, Value};
use tug_oam::health::Health;
use tug_oam::render::RenderedComponent;
use tug_oam::workflow::{Step, StepPhase};

use super::resources::Ref;
use super::Application;

/// The status being built, starting from the stored one.
pub struct Status {
    status: Map<String, Value>,
    previous: Vec<Value>,
}

impl Status {
    pub fn from(old: &Value, generation: Option<i64>) -> Status {
        let mut status = old.as_object().cloned().unwrap_or_default();
        let previous = status.get("conditions").and_then(Value::as_array).cloned().unwrap_or_default();
        if let Some(generation) = generation {
            status.insert("observedGeneration".into(), json!(generation));
        }
        Status { status, previous }
    }

    pub fn phase(&mut self, phase: &str) {
        self.status.insert("status".into(), json!(phase));
    }

    /// Sets condition `kind` (kept in the order first set).
    pub fn condition(&mut self, kind: &str, ok: bool, reason: &str, message: &str) {
        let state = if ok { "True" } else { "False" };
        let since = self
            .previous
            .iter()
            .find(|c| c["type"] == kind && c["status"] == state)
            .and_then(|c| c.get("lastTransitionTime").cloned())
            .unwrap_or_else(|| json!(Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()));
        let condition = json!({"type": kind, "status": state, "reason": reason, "message": message, "lastTransitionTime": since});
        let conditions = self.status.entry("conditions").or_insert_with(|| json!([]));
        if let Some(list) = conditions.as_array_mut() {
            match list.iter_mut().find(|c| c["type"] == kind) {
                Some(existing) => *existing = condition,
                None => list.push(condition),
            }
        }
    }

    pub fn latest_revision(&mut self, name: &str, number: i64) {
        self.status.insert("latestRevision".into(), json!({"name": name, "revision": number}));
    }

    pub fn applied(&mut self, refs: &[Ref]) {
        self.status.insert("appliedResources".into(), refs.iter().map(Ref::to_status).collect());
    }

    /// The steps that already succeeded for revision `revision` (none for another revision:
    /// a new revision runs its workflow from the start).
    pub fn succeeded_steps(&self, revision: &str) -> Vec<String> {
        let workflow = self.status.get("workflow");
        if workflow.and_then(|w| w.get("appRevision")).and_then(Value::as_str) != Some(revision) {
            return Vec::new();
        }
        let steps = workflow.and_then(|w| w.get("steps")).and_then(Value::as_array).into_iter().flatten();
        steps.filter(|s| s["phase"] == "succeeded").filter_map(|s| s["name"].as_str().map(String::from)).collect()
    }

    pub fn workflow(&mut self, revision: &str, steps: &[Step], phases: &[StepPhase]) {
        let list: Vec<Value> = steps.iter().zip(phases).map(|(s, p)| json!({"name": s.name, "type": s.kind, "phase": p.as_str()})).collect();
        let suspended = phases.contains(&StepPhase::Suspending);
        let finished = phases.iter().all(|p| *p == StepPhase::Succeeded);
        self.status.insert("workflow".into(), json!({"appRevision": revision, "suspend": suspended, "finished": finished, "steps": list}));
    }

    pub fn services(&mut self, services: Vec<Value>) {
        self.status.insert("services".into(), Value::Array(services));
    }

    /// Each component's name and health, from `services`.
    pub fn service_health(&self) -> Vec<(String, bool)> {
        let services = self.status.get("services").and_then(Value::as_array).into_iter().flatten();
        services.map(|s| (s["name"].as_str().unwrap_or_default().to_string(), s["healthy"] == true)).collect()
    }

    /// What is unhealthy, one line per component.
    pub fn unhealthy(&self) -> Vec<String> {
        let services = self.status.get("services").and_then(Value::as_array).into_iter().flatten();
        services.filter(|s| s["healthy"] != true).map(|s| format!("component {}: {}", s["name"], s["message"].as_str().unwrap_or_default())).collect()
    }

    pub fn policies(&mut self, groups: Vec<(String, (bool, String))>) {
        let list: Vec<Value> = groups.into_iter().map(|(name, (healthy, message))| json!({"name": name, "type": "health", "healthy": healthy, "message": message})).collect();
        if list.is_empty() {
            self.status.remove("policy");
        } else {
            self.status.insert("policy".into(), Value::Array(list));
        }
    }

    /// Writes the status if it differs from `old`.
    pub async fn write(&self, apps: &Api<Application>, name: &str, old: &Value) -> Result<(), kube::Error> {
        let status = Value::Object(self.status.clone());
        if &status == old {
            return Ok(());
        }
        // A merge patch replaces lists whole and leaves keys this status does not set.
        apps.patch_status(name, &PatchParams::default(), &Patch::Merge(&json!({"status": status}))).await?;
        Ok(())
    }
}

/// A component's entry in `status.services`.
pub fn service(spec: &Value, component: &RenderedComponent, namespace: &str, health: Option<&Health>) -> Value {
    let written = spec.get("components").and_then(Value::as_array).into_iter().flatten().find(|c| c["name"] == component.name.as_str());
    let traits: Vec<Value> = written
        .and_then(|c| c.get("traits"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| json!({"type": t["type"], "healthy": true}))
        .collect();
    let (healthy, message) = match health {
        Some(h) => (h.healthy, h.message.clone()),
        None => (false, "its workload could not be applied".into()),
    };
    json!({
        "name": component.name, "namespace": namespace, "healthy": healthy, "message": message,
        "workloadDefinition": {"apiVersion": component.workload["apiVersion"], "kind": component.workload["kind"]},
        "traits": traits,
    })
}
