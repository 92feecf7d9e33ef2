//! Jobs: run pods from the template until `completions` of them succeeded (or, without
//! `completions`, until one succeeded and none is left running), at most `parallelism` at
//! once. More than `backoffLimit` failures (failed pods, and container restarts under
//! `restartPolicy: OnFailure`) fail the Job with BackoffLimitExceeded, running longer than
//! `activeDeadlineSeconds` with DeadlineExceeded; `suspend` stops its pods. Conditions are
//! Kubernetes' (SuccessCriteriaMet then Complete; FailureTarget then Failed; Suspended).
//! A finished Job with `ttlSecondsAfterFinished` is deleted that long after it finished.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{Job, JobCondition};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::owned_pods::{controlled_by, controller_ref, delete_ignoring_missing, is_active, is_ready, phase, record_event};
use crate::reconciler::{self, ReconcileError};

const COMPONENT: &str = "job-controller";
/// The label a Job's pods carry, naming the Job's uid (also its default selector).
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
/// The label a Job's pods carry, naming the Job.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
const RESYNC: Duration = Duration::from_secs(30);

/// Runs the controller until its watches end.
pub async fn run(client: Client) -> Result<(), crate::Error> {
    let controller = Controller::new(Api::<Job>::all(client.clone()), watcher::Config::default())
        .owns(Api::<Pod>::all(client.clone()), watcher::Config::default());
    reconciler::run("job", controller, move |job, _| reconcile(client.clone(), job)).await
}

/// Whether the job has a True condition of this type.
pub fn has_condition(job: &Job, type_: &str) -> bool {
    job.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|c| c.iter().any(|c| c.type_ == type_ && c.status == "True"))
}

/// Complete or Failed, and when.
pub fn finished(job: &Job) -> Option<(&'static str, Timestamp)> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    let done = conditions.iter().find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")?;
    let at = done.last_transition_time.as_ref().map_or_else(Timestamp::now, |t| t.0);
    Some((if done.type_ == "Complete" { "Complete" } else { "Failed" }, at))
}

fn condition(type_: &str, reason: &str, message: &str, now: Timestamp) -> JobCondition {
    JobCondition {
        type_: type_.into(),
        status: "True".into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// Sets (or adds) conditions, keeping transition times of those already True.
fn with_conditions(job: &Job, new: Vec<JobCondition>) -> Vec<JobCondition> {
    let mut conditions = job.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    for c in new {
        match conditions.iter_mut().find(|o| o.type_ == c.type_) {
            Some(old) if old.status == c.status => {}
            Some(old) => *old = c,
            None => conditions.push(c),
        }
    }
    conditions
}

fn pod_for(job: &Job) -> Pod {
    let spec = job.spec.as_ref();
    let template = spec.map(|s| s.template.clone()).unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    let mut labels = meta.labels.unwrap_or_default();
    let uid = job.metadata.uid.clone().unwrap_or_default();
    labels.insert(CONTROLLER_UID_LABEL.into(), uid.clone());
    labels.insert("controller-uid".into(), uid);
    labels.insert(JOB_NAME_LABEL.into(), job.name_any());
    labels.insert("job-name".into(), job.name_any());
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", job.name_any())),
            labels: Some(labels),
            annotations: meta.annotations,
            owner_references: Some(vec![controller_ref(job)]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

async fn reconcile(client: Client, job: Arc<Job>) -> Result<Action, ReconcileError> {
    let (Some(spec), Some(uid)) = (job.spec.as_ref(), job.metadata.uid.as_deref()) else {
        return Ok(Action::await_change());
    };
    if job.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = job.namespace().unwrap_or_default();
    let name = job.name_any();
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    let now = Timestamp::now();
    if let Some((_, at)) = finished(&job) {
        let Some(ttl) = spec.ttl_seconds_after_finished else { return Ok(Action::await_change()) };
        let expires = at + SignedDuration::from_secs(i64::from(ttl));
        if now >= expires {
            delete_ignoring_missing(&jobs, &name, &DeleteParams::background()).await?;
            return Ok(Action::await_change());
        }
        return Ok(Action::requeue(Duration::try_from(expires.duration_since(now)).unwrap_or(RESYNC)));
    }

    let pods_api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pods: Vec<Pod> = pods_api.list(&ListParams::default().labels(&format!("{CONTROLLER_UID_LABEL}={uid}"))).await?.items.into_iter().filter(|p| controlled_by(p, uid)).collect();
    let active: Vec<&Pod> = pods.iter().filter(|p| is_active(p)).collect();
    let succeeded = pods.iter().filter(|p| phase(p) == "Succeeded").count() as i32;
    let on_failure = spec.template.spec.as_ref().and_then(|s| s.restart_policy.as_deref()) == Some("OnFailure");
    let restarts: i32 = if on_failure {
        active.iter().flat_map(|p| p.status.iter().flat_map(|s| s.container_statuses.iter().flatten())).map(|c| c.restart_count).sum()
    } else {
        0
    };
    let failed = pods.iter().filter(|p| phase(p) == "Failed").count() as i32;
    let ready = active.iter().filter(|p| is_ready(p)).count() as i32;
    let start_time = job.status.as_ref().and_then(|s| s.start_time.as_ref()).map_or(now, |t| t.0);

    let mut status = json!({
        "active": active.len(), "succeeded": succeeded, "failed": failed, "ready": ready, "terminating": pods.iter().filter(|p| p.metadata.deletion_timestamp.is_some()).count(),
    });
    let mut requeue = RESYNC;
    let mut conditions = Vec::new();
    if spec.suspend == Some(true) {
        for pod in &active {
            delete_ignoring_missing(&pods_api, &pod.name_any(), &DeleteParams::default()).await?;
        }
        status["active"] = json!(0);
        conditions.push(condition("Suspended", "JobSuspended", "Job suspended", now));
    } else {
        status["startTime"] = json!(Time(start_time));
        if has_condition(&job, "Suspended") {
            conditions.push(JobCondition { status: "False".into(), ..condition("Suspended", "JobResumed", "Job resumed", now) });
        }
        let deadline = spec.active_deadline_seconds.map(|s| start_time + SignedDuration::from_secs(s));
        let complete = match spec.completions {
            Some(c) => succeeded >= c,
            None => succeeded >= 1 && active.is_empty(),
        };
        let failure = if failed + restarts > spec.backoff_limit.unwrap_or(6) {
            Some(("BackoffLimitExceeded", "Job has reached the specified backoff limit"))
        } else if deadline.is_some_and(|d| now >= d) {
            Some(("DeadlineExceeded", "Job was active longer than specified deadline"))
        } else {
            None
        };
        if let Some((reason, message)) = failure {
            for pod in &active {
                delete_ignoring_missing(&pods_api, &pod.name_any(), &DeleteParams::default()).await?;
            }
            status["active"] = json!(0);
            conditions.push(condition("FailureTarget", reason, message, now));
            conditions.push(condition("Failed", reason, message, now));
            record_event(&client, COMPONENT, job.as_ref(), "Warning", reason, message).await;
        } else if complete {
            for pod in &active {
                delete_ignoring_missing(&pods_api, &pod.name_any(), &DeleteParams::default()).await?;
            }
            status["active"] = json!(0);
            status["completionTime"] = json!(Time(now));
            conditions.push(condition("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods", now));
            conditions.push(condition("Complete", "CompletionsReached", "Reached expected number of succeeded pods", now));
            record_event(&client, COMPONENT, job.as_ref(), "Normal", "Completed", "Job completed").await;
            if let Some(ttl) = spec.ttl_seconds_after_finished {
                requeue = Duration::from_secs(u64::try_from(ttl).unwrap_or(0));
            }
        } else {
            let parallelism = spec.parallelism.unwrap_or(1).max(0);
            let wanted = match spec.completions {
                Some(c) => parallelism.min(c - succeeded),
                None if succeeded > 0 => 0,
                None => parallelism,
            }
            .max(0) as usize;
            for _ in active.len()..wanted {
                match pods_api.create(&PostParams::default(), &pod_for(&job)).await {
                    Ok(pod) => record_event(&client, COMPONENT, job.as_ref(), "Normal", "SuccessfulCreate", &format!("Created pod: {}", pod.name_any())).await,
                    Err(e) => {
                        record_event(&client, COMPONENT, job.as_ref(), "Warning", "FailedCreate", &format!("Error creating: {e}")).await;
                        return Err(e.into());
                    }
                }
            }
            // Too many (parallelism lowered): the newest go.
            let mut surplus: Vec<&&Pod> = active.iter().collect();
            surplus.sort_by_key(|p| std::cmp::Reverse(p.metadata.creation_timestamp.as_ref().map(|t| t.0)));
            for pod in surplus.into_iter().take(active.len().saturating_sub(wanted)) {
                delete_ignoring_missing(&pods_api, &pod.name_any(), &DeleteParams::default()).await?;
            }
            if let Some(d) = deadline {
                requeue = requeue.min(Duration::try_from(d.duration_since(now)).unwrap_or(Duration::ZERO) + Duration::from_millis(100));
            }
        }
    }
    if !conditions.is_empty() {
        status["conditions"] = json!(with_conditions(&job, conditions));
    }
    let old = serde_json::to_value(job.status.clone().unwrap_or_default()).unwrap_or_default();
    let changed = status.as_object().is_some_and(|m| m.iter().any(|(k, v)| old.get(k).unwrap_or(&json!(0)) != v));
    if changed {
        jobs.patch_status(&name, &PatchParams::default(), &Patch::Merge(json!({"status": status}))).await?;
    }
    Ok(Action::requeue(requeue))
}
