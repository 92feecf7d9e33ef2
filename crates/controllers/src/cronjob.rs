//! CronJobs: a Job from `jobTemplate` at each time of the schedule (parsed by
//! `tug_api::cron`, UTC), named `CRONJOB-<minutes since the epoch>` so a time never runs
//! twice. A time missed by more than `startingDeadlineSeconds` is skipped;
//! `concurrencyPolicy` Forbid skips a time while a Job still runs, Replace deletes the
//! running ones first; `suspend` starts nothing; finished Jobs beyond
//! `successfulJobsHistoryLimit`/`failedJobsHistoryLimit` are deleted, oldest first.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;
use tug_api::cron;

use crate::job::finished;
use crate::owned_pods::{controlled_by, controller_ref, delete_ignoring_missing, record_event};
use crate::reconciler::{self, ReconcileError};

const COMPONENT: &str = "cronjob-controller";
const SCHEDULED_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// More missed times than this since the last run: only the latest is considered.
const MAX_MISSED: usize = 100;

/// Runs the controller until its watches end.
pub async fn run(client: Client) -> Result<(), crate::Error> {
    let controller = Controller::new(Api::<CronJob>::all(client.clone()), watcher::Config::default())
        .owns(Api::<Job>::all(client.clone()), watcher::Config::default());
    reconciler::run("cronjob", controller, move |cj, _| reconcile(client.clone(), cj)).await
}

fn job_ref(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        ..Default::default()
    }
}

/// The latest schedule time in `(since, now]`, and how many there were.
fn latest_due(schedule: &cron::Schedule, since: Timestamp, now: Timestamp) -> (Option<Timestamp>, usize) {
    let (mut latest, mut missed) = (None, 0);
    let mut t = since;
    while let Some(next) = schedule.next_after(t).filter(|n| *n <= now) {
        latest = Some(next);
        missed += 1;
        t = next;
        if missed > MAX_MISSED {
            // Jump to the last stretch instead of walking years of minutes.
            t = now - SignedDuration::from_hours(1).min(now.duration_since(t));
        }
    }
    (latest, missed)
}

/// Deletes the oldest finished Jobs of one outcome beyond `limit`.
async fn prune(jobs: &Api<Job>, mut finished_jobs: Vec<&Job>, limit: Option<i32>) -> Result<(), kube::Error> {
    let limit = usize::try_from(limit.unwrap_or(0).max(0)).unwrap_or(0);
    finished_jobs.sort_by_key(|j| j.metadata.creation_timestamp.as_ref().map(|t| t.0));
    let excess = finished_jobs.len().saturating_sub(limit);
    for job in finished_jobs.into_iter().take(excess) {
        delete_ignoring_missing(jobs, &job.name_any(), &DeleteParams::background()).await?;
    }
    Ok(())
}

async fn reconcile(client: Client, cj: Arc<CronJob>) -> Result<Action, ReconcileError> {
    let (Some(spec), Some(uid)) = (cj.spec.as_ref(), cj.metadata.uid.as_deref()) else {
        return Ok(Action::await_change());
    };
    if cj.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let schedule = match cron::parse(&spec.schedule) {
        Ok(s) => s,
        Err(problem) => {
            record_event(&client, COMPONENT, cj.as_ref(), "Warning", "UnparseableSchedule", &format!("unparseable schedule: {:?} : {problem}", spec.schedule)).await;
            return Ok(Action::await_change());
        }
    };
    let ns = cj.namespace().unwrap_or_default();
    let name = cj.name_any();
    let jobs_api: Api<Job> = Api::namespaced(client.clone(), &ns);
    let jobs: Vec<Job> = jobs_api.list(&ListParams::default()).await?.items.into_iter().filter(|j| controlled_by(j, uid) && j.metadata.deletion_timestamp.is_none()).collect();
    let mut active: Vec<&Job> = jobs.iter().filter(|j| finished(j).is_none()).collect();
    let succeeded: Vec<&Job> = jobs.iter().filter(|j| finished(j).is_some_and(|(t, _)| t == "Complete")).collect();
    let failed: Vec<&Job> = jobs.iter().filter(|j| finished(j).is_some_and(|(t, _)| t == "Failed")).collect();
    let last_successful = succeeded.iter().filter_map(|j| j.status.as_ref()?.completion_time.as_ref().map(|t| t.0)).max();
    prune(&jobs_api, succeeded, spec.successful_jobs_history_limit).await?;
    prune(&jobs_api, failed, spec.failed_jobs_history_limit).await?;

    let now = Timestamp::now();
    let status = cj.status.as_ref();
    let mut last_schedule = status.and_then(|s| s.last_schedule_time.as_ref()).map(|t| t.0);
    let mut created = None;
    if spec.suspend != Some(true) {
        let since = last_schedule.or_else(|| cj.metadata.creation_timestamp.as_ref().map(|t| t.0)).unwrap_or(now);
        let (due, missed) = latest_due(&schedule, since, now);
        if missed > MAX_MISSED {
            let message = format!("too many missed start times: {missed}. Set or decrease .spec.startingDeadlineSeconds or check clock skew");
            record_event(&client, COMPONENT, cj.as_ref(), "Warning", "TooManyMissedTimes", &message).await;
        }
        // A Job for that time exists already (this controller's view of the CronJob may be
        // older than its last status write): the time has run.
        let job_name = |t: Timestamp| format!("{name}-{}", t.as_second() / 60);
        if let Some(due) = due.filter(|t| jobs.iter().any(|j| j.name_any() == job_name(*t))) {
            last_schedule = last_schedule.max(Some(due));
        } else if let Some(due) = due {
            let too_late = spec.starting_deadline_seconds.is_some_and(|d| due + SignedDuration::from_secs(d) < now);
            let forbidden = spec.concurrency_policy.as_deref() == Some("Forbid") && !active.is_empty();
            if too_late {
                let message = format!("Missed scheduled time to start a job: {due}");
                record_event(&client, COMPONENT, cj.as_ref(), "Warning", "MissSchedule", &message).await;
                last_schedule = Some(due);
            } else if forbidden {
                let message = "Not starting job because prior execution is running and concurrency policy is Forbid";
                record_event(&client, COMPONENT, cj.as_ref(), "Normal", "JobAlreadyActive", message).await;
            } else {
                if spec.concurrency_policy.as_deref() == Some("Replace") {
                    for job in active.drain(..) {
                        delete_ignoring_missing(&jobs_api, &job.name_any(), &DeleteParams::background()).await?;
                        record_event(&client, COMPONENT, cj.as_ref(), "Normal", "SuccessfulDelete", &format!("Deleted job {}", job.name_any())).await;
                    }
                }
                let template = &spec.job_template;
                let meta = template.metadata.clone().unwrap_or_default();
                let mut annotations = meta.annotations.unwrap_or_default();
                annotations.insert(SCHEDULED_ANNOTATION.into(), due.to_string());
                let job = Job {
                    metadata: ObjectMeta {
                        name: Some(job_name(due)),
                        labels: meta.labels,
                        annotations: Some(annotations),
                        owner_references: Some(vec![controller_ref(cj.as_ref())]),
                        ..Default::default()
                    },
                    spec: template.spec.clone(),
                    status: None,
                };
                match jobs_api.create(&PostParams::default(), &job).await {
                    Ok(job) => {
                        record_event(&client, COMPONENT, cj.as_ref(), "Normal", "SuccessfulCreate", &format!("Created job {}", job.name_any())).await;
                        created = Some(job);
                    }
                    // Made before a restart: this time has run.
                    Err(kube::Error::Api(e)) if e.code == 409 => {}
                    Err(e) => {
                        record_event(&client, COMPONENT, cj.as_ref(), "Warning", "FailedCreate", &format!("Error creating job: {e}")).await;
                        return Err(e.into());
                    }
                }
                last_schedule = Some(due);
            }
        }
    }
    let mut refs: Vec<ObjectReference> = active.iter().map(|j| job_ref(j)).collect();
    refs.extend(created.as_ref().map(job_ref));
    let new_status = json!({
        "active": if refs.is_empty() { None } else { Some(refs) },
        "lastScheduleTime": last_schedule.map(Time),
        "lastSuccessfulTime": last_successful.or_else(|| status.and_then(|s| s.last_successful_time.as_ref()).map(|t| t.0)).map(Time),
    });
    let old = serde_json::to_value(status.cloned().unwrap_or_default()).unwrap_or_default();
    let changed = new_status.as_object().is_some_and(|m| m.iter().any(|(k, v)| old.get(k).unwrap_or(&json!(null)) != v));
    if changed {
        let api: Api<CronJob> = Api::namespaced(client.clone(), &ns);
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(json!({"status": new_status}))).await?;
    }
    if spec.suspend == Some(true) {
        return Ok(Action::await_change());
    }
    let wait = schedule.next_after(now).map_or(Duration::from_secs(60), |next| Duration::try_from(next.duration_since(now)).unwrap_or_default());
    Ok(Action::requeue(wait + Duration::from_millis(100)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_due_time_wins_and_missed_ones_are_counted() {
        let every_minute = cron::parse("* * * * *").unwrap();
        let since: Timestamp = "2026-11-27T03:00:30Z".parse().unwrap();
        let now: Timestamp = "2026-11-27T03:05:10Z".parse().unwrap();
        let (due, missed) = latest_due(&every_minute, since, now);
        assert_eq!(due.unwrap().to_string(), "2026-11-27T03:05:00Z");
        assert_eq!(missed, 5);
        let hourly = cron::parse("@hourly").unwrap();
        assert_eq!(latest_due(&hourly, since, now), (None, 0));
        // Two years of minutes missed: still answered, quickly, with the latest time.
        let long_ago: Timestamp = "2024-11-27T03:00:30Z".parse().unwrap();
        let (due, missed) = latest_due(&every_minute, long_ago, now);
        assert_eq!(due.unwrap().to_string(), "2026-11-27T03:05:00Z");
        assert!(missed > MAX_MISSED);
    }
}
