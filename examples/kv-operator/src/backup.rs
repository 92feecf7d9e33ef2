//! Backups and restores of a KeyValueStore's data, the way a real operator does them:
//! one Job per member that mounts the member's data claim (`data-STORE-N`) beside the
//! store's backup claim (`STORE-backups`, which outlives the store) and runs `tar`.
//! A KeyValueBackup writes `/backups/BACKUP/member-N.tar`; a KeyValueRestore unpacks
//! them back over each member's `/data/kv`. Both are done once: a Completed or Failed
//! one is left alone. A missing store or backup is reported as a condition and retried.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::{Client, Resource, ResourceExt};
use serde_json::{json, Value};

use crate::render::{data_claim, labels};
use crate::resources::{Condition, JobStatus, KeyValueBackup, KeyValueRestore, KeyValueStore};
use crate::Error;

/// The claim every backup of `store` is written to.
pub fn backups_claim(store: &str) -> String {
    format!("{store}-backups")
}

/// What a member's Job does.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Work {
    Backup,
    Restore,
}

/// The shell a member's Job runs for `backup`.
fn script(work: Work, backup: &str, ordinal: i32) -> String {
    let file = format!("/backups/{backup}/member-{ordinal}.tar");
    match work {
        Work::Backup => format!("set -e; mkdir -p /backups/{backup}; tar -cf {file}.partial -C /data kv; mv {file}.partial {file}"),
        // Unpack beside the live copy, then swap it in.
        Work::Restore => format!("set -e; rm -rf /data/.restore; mkdir /data/.restore; tar -xf {file} -C /data/.restore; rm -rf /data/kv; mv /data/.restore/kv /data/kv; rmdir /data/.restore"),
    }
}

/// The Job `JOB` that backs up or restores member `ordinal` of `store`.
pub fn member_job(work: Work, job: &str, owner: &OwnerReference, store: &KeyValueStore, backup: &str, ordinal: i32) -> Value {
    let name = store.name_any();
    let component = if work == Work::Backup { "backup" } else { "restore" };
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job, "labels": labels(&name, component), "ownerReferences": [owner]},
        "spec": {
            "backoffLimit": 2,
            "template": {
                "metadata": {"labels": labels(&name, component)},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{
                        "name": component,
                        "image": store.spec.image,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["sh", "-c", script(work, backup, ordinal)],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "backups", "mountPath": "/backups"}],
                    }],
                    "volumes": [
                        {"name": "data", "persistentVolumeClaim": {"claimName": data_claim(&name, ordinal)}},
                        {"name": "backups", "persistentVolumeClaim": {"claimName": backups_claim(&name)}},
                    ],
                },
            },
        },
    })
}

/// The status that a set of member Jobs adds up to.
pub fn jobs_status(members: i32, jobs: &[Job]) -> JobStatus {
    let finished = |job: &Job, type_: &str| {
        job.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|c| c.iter().any(|c| c.type_ == type_ && c.status == "True"))
    };
    let succeeded = jobs.iter().filter(|j| finished(j, "Complete")).count() as i32;
    let (phase, condition) = if let Some(failed) = jobs.iter().find(|j| finished(j, "Failed")) {
        let name = failed.name_any();
        ("Failed", Condition::new("Complete", false, "JobFailed", format!("job {name} failed: see `kubectl logs job/{name}`")))
    } else if succeeded == members {
        ("Completed", Condition::new("Complete", true, "AllMembersDone", format!("{succeeded}/{members} members done")))
    } else {
        ("Running", Condition::new("Complete", false, "InProgress", format!("{succeeded}/{members} members done")))
    };
    JobStatus { phase: phase.into(), members, succeeded, conditions: vec![condition] }
}

/// A status for work that cannot start yet, saying why.
fn blocked(reason: &str, message: String) -> JobStatus {
    JobStatus { phase: "Pending".into(), members: 0, succeeded: 0, conditions: vec![Condition::new("Complete", false, reason, message)] }
}

/// Reconciles a KeyValueBackup.
pub async fn reconcile_backup(backup: Arc<KeyValueBackup>, client: Arc<Client>) -> Result<Action, Error> {
    let ns = backup.namespace().unwrap_or_default();
    let name = backup.name_any();
    let api = Api::<KeyValueBackup>::namespaced((*client).clone(), &ns);
    let status = backup.status.clone().unwrap_or_default();
    if is_finished(&status) {
        return Ok(Action::await_change());
    }
    let store_name = &backup.spec.store;
    let Some(store) = Api::<KeyValueStore>::namespaced((*client).clone(), &ns).get_opt(store_name).await? else {
        let message = format!("KeyValueStore {ns}/{store_name} does not exist: fix spec.store of KeyValueBackup {name}");
        return report(&api, &name, &backup.status, blocked("StoreNotFound", message)).await;
    };
    // A backup covers the members the store had when it began.
    let members = if status.members > 0 { status.members } else { store.spec.replicas };
    let owner = owner(backup.as_ref())?;
    let jobs = run_jobs(&client, &ns, Work::Backup, &owner, &store, &name, &name, members).await?;
    report(&api, &name, &backup.status, jobs_status(members, &jobs)).await
}

/// Reconciles a KeyValueRestore.
pub async fn reconcile_restore(restore: Arc<KeyValueRestore>, client: Arc<Client>) -> Result<Action, Error> {
    let ns = restore.namespace().unwrap_or_default();
    let name = restore.name_any();
    let api = Api::<KeyValueRestore>::namespaced((*client).clone(), &ns);
    if restore.status.as_ref().is_some_and(is_finished) {
        return Ok(Action::await_change());
    }
    let (store_name, backup_name) = (&restore.spec.store, &restore.spec.backup);
    let Some(backup) = Api::<KeyValueBackup>::namespaced((*client).clone(), &ns).get_opt(backup_name).await? else {
        let message = format!("KeyValueBackup {ns}/{backup_name} does not exist: fix spec.backup of KeyValueRestore {name} (`kubectl get kvb -n {ns}` lists the backups)");
        return report(&api, &name, &restore.status, blocked("BackupNotFound", message)).await;
    };
    let backup_status = backup.status.unwrap_or_default();
    if backup_status.phase != "Completed" {
        let message = format!("KeyValueBackup {ns}/{backup_name} is {}, not Completed", if backup_status.phase.is_empty() { "new" } else { &backup_status.phase });
        return report(&api, &name, &restore.status, blocked("BackupNotComplete", message)).await;
    }
    if &backup.spec.store != store_name {
        let message = format!("KeyValueBackup {ns}/{backup_name} is of store {}, not {store_name}: a restore reads the backups of its own store", backup.spec.store);
        return report(&api, &name, &restore.status, blocked("BackupOfAnotherStore", message)).await;
    }
    let Some(store) = Api::<KeyValueStore>::namespaced((*client).clone(), &ns).get_opt(store_name).await? else {
        let message = format!("KeyValueStore {ns}/{store_name} does not exist: fix spec.store of KeyValueRestore {name}");
        return report(&api, &name, &restore.status, blocked("StoreNotFound", message)).await;
    };
    // Members beyond the store's current size have no running claim to restore into.
    let members = backup_status.members.min(store.spec.replicas);
    let owner = owner(restore.as_ref())?;
    let jobs = run_jobs(&client, &ns, Work::Restore, &owner, &store, &name, backup_name, members).await?;
    report(&api, &name, &restore.status, jobs_status(members, &jobs)).await
}

fn is_finished(status: &JobStatus) -> bool {
    status.phase == "Completed" || status.phase == "Failed"
}

/// The controller owner reference to `object` (it has a uid: it came from the API).
fn owner<K: Resource<DynamicType = ()>>(object: &K) -> Result<OwnerReference, Error> {
    object.controller_owner_ref(&()).ok_or_else(|| Error::NoUid(object.meta().name.clone().unwrap_or_default()))
}

/// Makes the backup claim and the Jobs `PREFIX-N` for members 0..members if missing;
/// returns the Jobs as they are now.
#[allow(clippy::too_many_arguments)]
async fn run_jobs(client: &Client, ns: &str, work: Work, owner: &OwnerReference, store: &KeyValueStore, prefix: &str, backup: &str, members: i32) -> Result<Vec<Job>, Error> {
    let claims = Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns);
    let claim = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": backups_claim(&store.name_any()), "labels": labels(&store.name_any(), "backup")},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "256Mi"}}},
    });
    create_if_missing(&claims, &serde_json::from_value(claim)?).await?;
    let jobs = Api::<Job>::namespaced(client.clone(), ns);
    let mut out = Vec::new();
    for ordinal in 0..members {
        let job: Job = serde_json::from_value(member_job(work, &format!("{prefix}-{ordinal}"), owner, store, backup, ordinal))?;
        out.push(create_if_missing(&jobs, &job).await?);
    }
    Ok(out)
}

/// Creates `object` unless one of its name exists; returns the stored one.
async fn create_if_missing<K>(api: &Api<K>, object: &K) -> Result<K, Error>
where
    K: Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    match api.create(&PostParams::default(), object).await {
        Ok(created) => Ok(created),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(api.get(&object.meta().name.clone().unwrap_or_default()).await?),
        Err(e) => Err(e.into()),
    }
}

/// Writes `status` if it differs from `old`; finished work waits for a change, the rest
/// is looked at again soon (its Jobs' changes wake it too).
async fn report<K>(api: &Api<K>, name: &str, old: &Option<JobStatus>, status: JobStatus) -> Result<Action, Error>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    if old.as_ref() != Some(&status) {
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(json!({"status": status}))).await?;
    }
    Ok(if is_finished(&status) { Action::await_change() } else { Action::requeue(Duration::from_secs(10)) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{JobCondition, JobStatus as K8sJobStatus};

    fn job(name: &str, condition: Option<&str>) -> Job {
        let mut job = Job::default();
        job.metadata.name = Some(name.into());
        job.status = Some(K8sJobStatus {
            conditions: condition.map(|c| vec![JobCondition { type_: c.into(), status: "True".into(), ..JobCondition::default() }]),
            ..K8sJobStatus::default()
        });
        job
    }

    #[test]
    fn member_jobs_add_up_to_one_phase() {
        assert_eq!(jobs_status(2, &[job("b-0", Some("Complete")), job("b-1", None)]).phase, "Running");
        let done = jobs_status(2, &[job("b-0", Some("Complete")), job("b-1", Some("Complete"))]);
        assert_eq!((done.phase.as_str(), done.succeeded), ("Completed", 2));
        let failed = jobs_status(2, &[job("b-0", Some("Complete")), job("b-1", Some("Failed"))]);
        assert_eq!(failed.phase, "Failed");
        assert_eq!(failed.conditions[0].message, "job b-1 failed: see `kubectl logs job/b-1`");
    }

    #[test]
    fn a_member_job_mounts_the_member_data_and_the_backup_claim() {
        let mut store = KeyValueStore::new("cache", serde_json::from_value(json!({"image": "kv:1"})).unwrap());
        store.metadata.namespace = Some("default".into());
        let job: Job = serde_json::from_value(member_job(Work::Backup, "nightly-1", &OwnerReference::default(), &store, "nightly", 1)).unwrap();
        let pod = job.spec.unwrap().template.spec.unwrap();
        let claims: Vec<String> = pod.volumes.unwrap().into_iter().filter_map(|v| Some(v.persistent_volume_claim?.claim_name)).collect();
        assert_eq!(claims, ["data-cache-1", "cache-backups"]);
        assert!(pod.containers[0].command.as_ref().unwrap()[2].contains("tar -cf /backups/nightly/member-1.tar.partial -C /data kv"));
    }
}
