//! Each ResourceQuota's `status.hard` (its `spec.hard`) and `status.used`, recomputed from
//! scratch over every object the quota counts: so deletes give quota back, and whatever the
//! admission plugin charged for a write that then failed is corrected. Quotas are
//! reconciled when their spec changes, when an object they may count is deleted, and every
//! half minute (finished pods stop counting). The status is written with the quota's
//! resourceVersion, so a charge admission made meanwhile is never overwritten.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{stream, StreamExt};
use k8s_openapi::api::core::v1::ResourceQuota;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{predicates, reflector, PredicateConfig, WatchStreamExt};
use kube::{Client, ResourceExt};
use serde_json::Value;
use tug_api::quota::{self, parse_list, ResourceList};

use crate::reconciler::{self, ReconcileError};

const RESYNC: Duration = Duration::from_secs(30);
/// After losing a race with admission's charges: a burst of creates is under way, whose
/// charges are right; recount once it has passed rather than relist in its middle.
const CONFLICT_RETRY: Duration = Duration::from_secs(5);

/// The kinds whose deletion wakes the quotas.
const COUNTED: [(&str, &str); 6] = [
    ("", "pods"),
    ("", "services"),
    ("", "configmaps"),
    ("", "secrets"),
    ("", "persistentvolumeclaims"),
    ("", "replicationcontrollers"),
];

/// Runs the controller until its watches end.
pub async fn run(client: Client) -> Result<(), crate::Error> {
    let deletions = stream::select_all(COUNTED.iter().filter_map(|(group, plural)| {
        let resource = api_resource(group, plural)?;
        Some(deletions(Api::<DynamicObject>::all_with(client.clone(), &resource)).boxed())
    }));
    // Status writes (admission's charges, this controller's own) do not wake it: only spec
    // changes do, so a recount never races a burst of creates it was not asked about.
    let (reader, writer) = reflector::store();
    let quotas = watcher::watcher(
        Api::<ResourceQuota>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(writer)
    .applied_objects()
    .predicate_filter(predicates::generation, PredicateConfig::default());
    let controller = Controller::for_stream(quotas, reader).reconcile_all_on(deletions);
    reconciler::run("resourcequota", controller, move |q, _| {
        reconcile(client.clone(), q)
    })
    .await
}

/// A tick for every deleted object (every quota is then recomputed).
fn deletions(api: Api<DynamicObject>) -> impl futures_util::Stream<Item = ()> + Send {
    watcher::watcher(api, watcher::Config::default())
        .filter_map(|event| async move { matches!(event, Ok(Event::Delete(_))).then_some(()) })
}

/// How kube-rs reaches a registered resource.
fn api_resource(group: &str, plural: &str) -> Option<ApiResource> {
    crate::kinds::stored()
        .find(|t| t.group == group && t.plural == plural)
        .map(crate::kinds::api_resource)
}

/// The resources whose objects a quota's names count: (group, plural).
fn counted_resources(hard: &ResourceList) -> BTreeSet<(String, String)> {
    let mut resources = BTreeSet::new();
    for name in hard.keys() {
        let (group, plural) = if let Some(counted) = name.strip_prefix("count/") {
            match counted.split_once('.') {
                Some((plural, group)) => (group, plural),
                None => ("", counted),
            }
        } else if name == "pods"
            || ["cpu", "memory", "ephemeral-storage"].contains(&name.as_str())
            || name.starts_with("requests.") && name != "requests.storage"
            || name.starts_with("limits.")
        {
            ("", "pods")
        } else if name.starts_with("services") {
            ("", "services")
        } else if name == "requests.storage"
            || name.contains(".storageclass.storage.k8s.io/")
            || name == "persistentvolumeclaims"
        {
            ("", "persistentvolumeclaims")
        } else {
            ("", name.as_str())
        };
        resources.insert((group.to_string(), plural.to_string()));
    }
    resources
}

async fn reconcile(client: Client, q: Arc<ResourceQuota>) -> Result<Action, ReconcileError> {
    let ns = q.namespace().unwrap_or_default();
    let quota_json = serde_json::to_value(q.as_ref()).unwrap_or(Value::Null);
    let hard = parse_list(quota_json.pointer("/spec/hard"));
    let mut used: ResourceList = hard
        .keys()
        .map(|k| (k.clone(), Default::default()))
        .collect();
    for (group, plural) in counted_resources(&hard) {
        let Some(resource) = api_resource(&group, &plural) else {
            continue;
        };
        let api = Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &resource);
        for object in api.list(&ListParams::default()).await?.items {
            let object = serde_json::to_value(&object).unwrap_or(Value::Null);
            if quota::scopes_match(&quota_json, &group, &plural, &object) {
                used = quota::add(
                    &used,
                    &quota::mask(&quota::usage(&group, &plural, &object), &hard),
                );
            }
        }
    }
    let status = serde_json::json!({"hard": quota::to_json(&hard), "used": quota::to_json(&used)});
    if quota_json.get("status") != Some(&status) {
        let mut updated = q.as_ref().clone();
        updated.status = serde_json::from_value(status).ok();
        let api: Api<ResourceQuota> = Api::namespaced(client, &ns);
        match api
            .replace_status(&q.name_any(), &PostParams::default(), &updated)
            .await
        {
            Ok(_) => {}
            // Admission charged the quota meanwhile: count again later from the new version.
            Err(kube::Error::Api(e)) if e.code == 409 => {
                return Ok(Action::requeue(CONFLICT_RETRY))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Action::requeue(RESYNC))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_names_map_to_the_resources_they_count() {
        let hard: ResourceList = [
            "pods",
            "requests.cpu",
            "count/deployments.apps",
            "services.nodeports",
            "requests.storage",
            "secrets",
        ]
        .iter()
        .map(|k| (k.to_string(), Default::default()))
        .collect();
        let got: Vec<(String, String)> = counted_resources(&hard).into_iter().collect();
        let want: Vec<(String, String)> = [
            ("", "persistentvolumeclaims"),
            ("", "pods"),
            ("", "secrets"),
            ("", "services"),
            ("apps", "deployments"),
        ]
        .iter()
        .map(|(g, p)| (g.to_string(), p.to_string()))
        .collect();
        assert_eq!(got, want);
    }
}
