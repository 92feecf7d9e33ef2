//! The Application controller (`core.oam.dev/v1beta1`): renders each Application through
//! the built-in definitions and the ComponentDefinitions/TraitDefinitions in its namespace
//! and in `vela-system` (tug-oam), records an ApplicationRevision per distinct spec
//! ([`revision`]), runs the workflow — its steps apply components (server-side apply, the
//! Application as controlling owner, [`resources`]), suspend until resumed, or wait for
//! another Application — deletes what the spec no longer renders, and reports it all in
//! `status` ([`status`]): the phase (`rendering`, `runningWorkflow`, `workflowSuspending`,
//! `running`, `unhealthy`, `deleting`), each component's health, the health policies'
//! roll-ups and conditions whose messages name what to fix.
//!
//! The objects an Application applied are listed in `status.appliedResources` (written
//! before they are applied), which is what a new revision garbage-collects from and what
//! deletion removes, under the finalizer `app.oam.dev/resource-tracker-finalizer`.
//! Annotations drive the imperative verbs: `app.oam.dev/rollback-revision: N` puts revision
//! N's spec back, `app.oam.dev/resume` resumes a suspended workflow.

pub mod resources;
pub mod revision;
pub mod status;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tug_oam::workflow::{self, Action as StepAction, StepPhase};
use tug_oam::{health, policy, Definitions, APP_LABEL, RESUME_ANNOTATION as RESUME, ROLLBACK_ANNOTATION as ROLLBACK};

use crate::reconciler::{self, ReconcileError};
use resources::Ref;
use status::Status;

pub const API_VERSION: &str = "core.oam.dev/v1beta1";
/// Held by every Application until the controller has deleted what it applied.
pub const FINALIZER: &str = "app.oam.dev/resource-tracker-finalizer";
/// Where definitions every namespace may use live (KubeVela's name for it).
pub const SYSTEM_NAMESPACE: &str = "vela-system";

/// An Application as the controller reads it; spec and status stay JSON (tug-oam reads them).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Application {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
}

impl Resource for Application {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        "Application".into()
    }
    fn group(_: &()) -> Cow<'_, str> {
        "core.oam.dev".into()
    }
    fn version(_: &()) -> Cow<'_, str> {
        "v1beta1".into()
    }
    fn plural(_: &()) -> Cow<'_, str> {
        "applications".into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl Application {
    /// The whole object as JSON, as tug-oam renders it.
    fn to_value(&self) -> Value {
        json!({"apiVersion": API_VERSION, "kind": "Application", "metadata": self.metadata, "spec": self.spec})
    }
}

/// Installs (creates or updates) the core.oam.dev CustomResourceDefinitions; the server
/// calls it at start, so Applications are served before anything else runs.
pub async fn install_definitions(client: &Client) -> Result<(), kube::Error> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    for definition in tug_oam::crds::definitions() {
        let name = definition.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        api.patch(&name, &PatchParams::apply(resources::MANAGER).force(), &Patch::Apply(&definition)).await?;
    }
    Ok(())
}

struct Ctx {
    client: Client,
}

/// Runs the controller until its watches end.
pub async fn run(client: Client) -> Result<(), crate::Error> {
    let labelled = || watcher::Config::default().labels(APP_LABEL);
    let controller = Controller::new(Api::<Application>::all(client.clone()), watcher::Config::default())
        .watches(Api::<Deployment>::all(client.clone()), labelled(), |o| app_of(&o))
        .watches(Api::<StatefulSet>::all(client.clone()), labelled(), |o| app_of(&o))
        .watches(Api::<Job>::all(client.clone()), labelled(), |o| app_of(&o));
    let ctx = Arc::new(Ctx { client });
    reconciler::run("application", controller, move |app, _| reconcile(ctx.clone(), app)).await
}

/// The Application a rendered workload belongs to.
fn app_of<K: Resource>(object: &K) -> Option<ObjectRef<Application>> {
    let name = object.labels().get(APP_LABEL)?;
    Some(ObjectRef::new(name).within(&object.namespace().unwrap_or_default()))
}

async fn reconcile(ctx: Arc<Ctx>, app: Arc<Application>) -> Result<Action, ReconcileError> {
    let client = &ctx.client;
    let name = app.name_any();
    let namespace = app.namespace().unwrap_or_else(|| "default".into());
    let apps: Api<Application> = Api::namespaced(client.clone(), &namespace);
    let old = app.status.clone().unwrap_or_else(|| json!({}));
    let mut status = Status::from(&old, app.metadata.generation);
    let tracked: Vec<Ref> = old.get("appliedResources").and_then(Value::as_array).into_iter().flatten().filter_map(Ref::from_status).collect();
    let finalizers = app.finalizers();
    let rv = app.resource_version().unwrap_or_default();

    if app.metadata.deletion_timestamp.is_some() {
        if !finalizers.iter().any(|f| f == FINALIZER) {
            return Ok(Action::await_change());
        }
        status.phase("deleting");
        status.write(&apps, &name, &old).await?;
        for r in &tracked {
            resources::delete(client, r).await?;
        }
        let revisions = revision::api(client, &namespace);
        for rev in revisions.list(&ListParams::default().labels(&format!("{APP_LABEL}={name}"))).await?.items {
            let _ = revisions.delete(&rev.name_any(), &Default::default()).await;
        }
        let kept: Vec<&String> = finalizers.iter().filter(|f| *f != FINALIZER).collect();
        let patch = json!({"metadata": {"finalizers": kept, "resourceVersion": rv}});
        apps.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        return Ok(Action::await_change());
    }
    if !finalizers.iter().any(|f| f == FINALIZER) {
        let mut all: Vec<String> = finalizers.to_vec();
        all.push(FINALIZER.into());
        let patch = json!({"metadata": {"finalizers": all, "resourceVersion": rv}});
        apps.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        return Ok(Action::await_change());
    }
    if let Some(wanted) = app.annotations().get(ROLLBACK) {
        return rollback(client, &apps, &app, wanted, status, &old).await;
    }

    // Render.
    let defs = definitions(client, &namespace).await?;
    let object = app.to_value();
    let parsed = policy::read(&app.spec).and_then(|groups| workflow::steps(&app.spec).map(|steps| (groups, steps)));
    let rendered = parsed.and_then(|(groups, steps)| tug_oam::render(&object, &defs).map(|r| (groups, steps, r)).map_err(|e| e.to_string()));
    let (groups, steps, rendered) = match rendered {
        Ok(all) => all,
        Err(message) => {
            status.phase("rendering");
            status.condition("Rendered", false, "RenderFailed", &message);
            status.write(&apps, &name, &old).await?;
            return Ok(Action::requeue(Duration::from_secs(10)));
        }
    };
    status.condition("Rendered", true, "Rendered", &format!("{} component(s) rendered", rendered.components.len()));
    let owner = json!({"apiVersion": API_VERSION, "kind": "Application", "name": name, "uid": app.uid().unwrap_or_default(), "controller": true, "blockOwnerDeletion": true});
    let (revision_name, revision_number) = revision::ensure(client, &object, &rendered.resources(), &owner).await?;
    status.latest_revision(&revision_name, revision_number);

    // What this revision renders joins the tracked objects before anything is applied, so
    // an interrupted reconcile never leaves an object nobody will delete.
    let wanted: Vec<Ref> = rendered.components.iter().flat_map(|c| std::iter::once(&c.workload).chain(&c.outputs).map(|o| Ref::of(o, &c.name))).collect();
    let mut tracking = wanted.clone();
    tracking.extend(tracked.iter().filter(|t| !wanted.iter().any(|w| w.same_object(t))).cloned());
    if tracking.len() != tracked.len() || tracking.iter().any(|t| !tracked.contains(t)) {
        status.applied(&tracking);
        status.write(&apps, &name, &old).await?;
    }

    // Run the workflow.
    let mut phases: BTreeMap<String, StepPhase> = status.succeeded_steps(&revision_name).into_iter().map(|s| (s, StepPhase::Succeeded)).collect();
    let resume = app.annotations().contains_key(RESUME);
    let mut apply_errors = Vec::new();
    let mut services = Vec::new();
    let mut waiting = Vec::new();
    for step in &steps {
        let done = phases.get(&step.name) == Some(&StepPhase::Succeeded);
        let ready = step.depends_on.iter().all(|d| phases.get(d) == Some(&StepPhase::Succeeded));
        let phase = match &step.action {
            _ if !done && !ready => StepPhase::Pending,
            StepAction::ApplyComponent(component) => {
                let Some(c) = rendered.components.iter().find(|c| &c.name == component) else { continue };
                let mut live = None;
                for (i, o) in std::iter::once(&c.workload).chain(&c.outputs).enumerate() {
                    match resources::apply(client, o, &owner).await {
                        Ok(object) if i == 0 => live = Some(object),
                        Ok(_) => {}
                        Err(e) => apply_errors.push(format!("component {component:?}: {}: {}", Ref::of(o, component), api_message(&e))),
                    }
                }
                let health = live.as_ref().map(health::of);
                services.push(status::service(&app.spec, c, &namespace, health.as_ref()));
                match health {
                    Some(h) if h.healthy || done => StepPhase::Succeeded,
                    _ => StepPhase::Running,
                }
            }
            _ if done => StepPhase::Succeeded,
            StepAction::Suspend if resume => StepPhase::Succeeded,
            StepAction::Suspend => StepPhase::Suspending,
            StepAction::DependsOn { name: other, namespace: other_ns } => {
                let api: Api<Application> = Api::namespaced(client.clone(), other_ns.as_deref().unwrap_or(&namespace));
                let phase = api.get_opt(other).await?.and_then(|a| a.status).and_then(|s| s.get("status").and_then(Value::as_str).map(String::from));
                if phase.as_deref() == Some("running") {
                    StepPhase::Succeeded
                } else {
                    waiting.push(format!("step {:?} waits for Application {other:?} to be running (it is {})", step.name, phase.as_deref().unwrap_or("missing")));
                    StepPhase::Running
                }
            }
        };
        phases.insert(step.name.clone(), phase);
    }
    let ordered: Vec<StepPhase> = steps.iter().map(|s| phases.get(&s.name).copied().unwrap_or(StepPhase::Pending)).collect();
    let all_healthy = services.iter().all(|s| s["healthy"] == true);
    let phase = workflow::app_phase(&ordered, all_healthy);
    status.phase(phase);
    status.workflow(&revision_name, &steps, &ordered);
    status.services(services);
    let health: Vec<(String, bool)> = status.service_health();
    status.policies(groups.iter().map(|g| (g.name.clone(), g.roll_up(&health))).collect());
    match apply_errors.is_empty() {
        true => status.condition("Applied", true, "Applied", "every resource of the started steps is applied"),
        false => status.condition("Applied", false, "ApplyFailed", &apply_errors.join("; ")),
    }
    let finished = ordered.iter().all(|p| *p == StepPhase::Succeeded);
    match (finished, phase) {
        (true, _) => status.condition("WorkflowFinished", true, "Succeeded", "every step succeeded"),
        (false, "workflowSuspending") => status.condition("WorkflowFinished", false, "Suspended", "a suspend step waits: resume with `tug app resume` or the app.oam.dev/resume annotation"),
        (false, _) => {
            let mut message = "waiting for steps to succeed".to_string();
            if !waiting.is_empty() {
                message = waiting.join("; ");
            }
            status.condition("WorkflowFinished", false, "Running", &message)
        }
    }
    let sick: Vec<String> = status.unhealthy();
    match sick.is_empty() {
        true => status.condition("Ready", true, "Healthy", "every applied component is healthy"),
        false => status.condition("Ready", false, "Unhealthy", &sick.join("; ")),
    }

    // Garbage-collect what this revision no longer renders.
    let mut kept = wanted.clone();
    for gone in tracking.iter().filter(|t| !wanted.iter().any(|w| w.same_object(t))) {
        if let Err(e) = resources::delete(client, gone).await {
            apply_errors.push(format!("deleting {gone}: {}", api_message(&e)));
            kept.push(gone.clone());
        }
    }
    status.applied(&kept);
    status.write(&apps, &name, &old).await?;
    if resume {
        let patch = json!({"metadata": {"annotations": {RESUME: null}}});
        apps.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
    }
    Ok(Action::requeue(Duration::from_secs(match phase {
        "running" => 60,
        "workflowSuspending" => 30,
        _ => 2,
    })))
}

/// Puts revision `wanted`'s spec back (the annotation goes in the same write); a revision
/// that does not exist is reported in the `RolledBack` condition and the annotation removed.
async fn rollback(client: &Client, apps: &Api<Application>, app: &Application, wanted: &str, mut status: Status, old: &Value) -> Result<Action, ReconcileError> {
    let name = app.name_any();
    let namespace = app.namespace().unwrap_or_default();
    let spec = match wanted.trim_start_matches('v').parse::<i64>() {
        Ok(n) => revision::spec_of(client, &namespace, &name, n).await?,
        Err(_) => None,
    };
    let number = wanted.trim_start_matches('v').parse::<i64>().unwrap_or(0);
    let mut object = app.to_value();
    if let Some(annotations) = object.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
        annotations.remove(ROLLBACK);
    }
    match spec {
        Some(spec) => {
            object["spec"] = spec;
            status.condition("RolledBack", true, "RolledBack", &format!("the spec of revision {} was put back", revision::name(&name, number)));
        }
        None => status.condition("RolledBack", false, "NoSuchRevision", &format!("{ROLLBACK}: {wanted:?} is not a revision of Application {name:?}; `kubectl get applicationrevisions -l {APP_LABEL}={name}` lists them")),
    }
    status.write(apps, &name, old).await?;
    // A replace with the resourceVersion read: a concurrent edit wins and this runs again.
    let object: DynamicObject = serde_json::from_value(object).map_err(|e| ReconcileError(kube::Error::SerdeError(e)))?;
    let resource = ApiResource::erase::<Application>(&());
    Api::<DynamicObject>::namespaced_with(client.clone(), &namespace, &resource).replace(&name, &Default::default(), &object).await?;
    Ok(Action::await_change())
}

/// The built-in definitions, then `vela-system`'s, then the namespace's (the nearer wins).
async fn definitions(client: &Client, namespace: &str) -> Result<Definitions, kube::Error> {
    let mut defs = Definitions::builtin();
    let mut namespaces = vec![SYSTEM_NAMESPACE];
    if namespace != SYSTEM_NAMESPACE {
        namespaces.push(namespace);
    }
    for ns in namespaces {
        for (kind, plural) in [("ComponentDefinition", "componentdefinitions"), ("TraitDefinition", "traitdefinitions")] {
            let resource = ApiResource { group: "core.oam.dev".into(), version: "v1beta1".into(), api_version: API_VERSION.into(), kind: kind.into(), plural: plural.into() };
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource);
            for object in api.list(&ListParams::default()).await?.items {
                let mut value = serde_json::to_value(object).unwrap_or_default();
                value["kind"] = json!(kind);
                defs.add_object(&value);
            }
        }
    }
    Ok(defs)
}

/// The server's message for an API error, else the error.
fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}
