//! ResourceQuota: a created object is charged to every quota of its namespace that tracks
//! it. The new usage is checked against `status.hard` and written to the quota's
//! `status.used` with compare-and-swap before the object is stored, so concurrent creates
//! never overshoot a quota. Creates waiting on the same server are charged as a batch:
//! whoever gets the turn charges everything queued, one quota write per quota for the whole
//! batch, checking each create against the usage of those before it (as kube-apiserver's
//! quota evaluator does). A batch that loses a race with another writer is checked again.
//! Deletes are not charged back here; the quota controller recomputes usage from scratch.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use tokio::sync::oneshot;
use tug_api::quota::{self, mask, parse_list, pretty, ResourceList};
use tug_api::ResourceType;
use tug_store::{KeyValue, Store};

use super::{forbidden, list, registered, Admit, Operation, Plugin, Request, Review};
use crate::object::to_bytes;
use crate::status::{ApiError, ApiResult};

/// How often a batch is charged again when a quota changes under it.
const ATTEMPTS: usize = 10;

/// A create waiting for its charge.
struct Pending {
    rt: &'static ResourceType,
    namespace: String,
    name: String,
    object: Value,
    dry_run: bool,
    reply: oneshot::Sender<ApiResult<()>>,
}

#[derive(Default)]
pub struct ResourceQuota {
    waiting: std::sync::Mutex<Vec<Pending>>,
    /// Held by the request charging a batch.
    turn: tokio::sync::Mutex<()>,
}

impl Plugin for ResourceQuota {
    fn name(&self) -> &'static str {
        "ResourceQuota"
    }

    fn validate<'a>(
        &'a self,
        request: &'a Request<'a>,
        object: &'a Value,
        _review: &'a mut Review,
    ) -> Admit<'a> {
        Box::pin(async move {
            let (Operation::Create, Some(namespace)) = (request.operation, request.namespace)
            else {
                return Ok(());
            };
            if list(request.store, "", "resourcequotas", Some(namespace))
                .await?
                .is_empty()
            {
                return Ok(());
            }
            let (reply, mut answer) = oneshot::channel();
            self.queue().push(Pending {
                rt: request.rt,
                namespace: namespace.to_string(),
                name: request.name.to_string(),
                object: object.clone(),
                dry_run: request.dry_run,
                reply,
            });
            let _turn = self.turn.lock().await;
            match answer.try_recv() {
                Ok(result) => return result,
                Err(oneshot::error::TryRecvError::Closed) => {
                    return Err(ApiError::internal(
                        "the quota charge was abandoned; try again",
                    ))
                }
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let batch = std::mem::take(&mut *self.queue());
            charge_batch(request.store, batch).await;
            answer.await.unwrap_or_else(|_| {
                Err(ApiError::internal(
                    "the quota charge was abandoned; try again",
                ))
            })
        })
    }
}

impl ResourceQuota {
    fn queue(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Charges every pending create, namespace by namespace, and answers each.
async fn charge_batch(store: &dyn Store, batch: Vec<Pending>) {
    let mut by_namespace: BTreeMap<String, Vec<Pending>> = BTreeMap::new();
    for p in batch {
        by_namespace.entry(p.namespace.clone()).or_default().push(p);
    }
    for (namespace, pending) in by_namespace {
        let results = match charge_namespace(store, &namespace, &pending).await {
            Ok(results) => results,
            Err(e) => pending.iter().map(|_| Err(e.clone())).collect(),
        };
        for (p, result) in pending.into_iter().zip(results) {
            let _ = p.reply.send(result);
        }
    }
}

/// One quota as a batch charges it.
struct Running {
    kv: KeyValue,
    quota: Value,
    name: String,
    used: ResourceList,
    changed: bool,
}

/// The answers for the creates of one namespace, in order.
async fn charge_namespace(
    store: &dyn Store,
    namespace: &str,
    pending: &[Pending],
) -> ApiResult<Vec<ApiResult<()>>> {
    let usages: Vec<ResourceList> = pending
        .iter()
        .map(|p| quota::usage(p.rt.group, p.rt.plural, &p.object))
        .collect();
    let mut written: BTreeSet<String> = BTreeSet::new();
    for _ in 0..ATTEMPTS {
        let mut running: Vec<Running> = list(store, "", "resourcequotas", Some(namespace))
            .await?
            .into_iter()
            .map(|(kv, quota)| {
                let name = quota
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let used = parse_list(quota.pointer("/status/used"));
                Running {
                    kv,
                    quota,
                    name,
                    used,
                    changed: false,
                }
            })
            .filter(|r| !written.contains(&r.name))
            .collect();
        let mut results = Vec::with_capacity(pending.len());
        for (p, usage) in pending.iter().zip(&usages) {
            results.push(charge_all(p, usage, &mut running));
        }
        let mut conflict = false;
        for r in running.iter().filter(|r| r.changed) {
            if write_used(store, &r.kv, &r.quota, &r.used).await? {
                written.insert(r.name.clone());
            } else {
                conflict = true;
            }
        }
        if !conflict {
            return Ok(results);
        }
    }
    Err(ApiError::internal(
        "resource quotas kept changing while the request was charged to them; try again",
    ))
}

/// Charges one create to every quota, or to none if one refuses it.
fn charge_all(p: &Pending, usage: &ResourceList, running: &mut [Running]) -> ApiResult<()> {
    let mut charges = Vec::new();
    for (i, r) in running.iter().enumerate() {
        if let Some(used) = charge(p, &r.quota, &r.name, usage, &r.used)? {
            charges.push((i, used));
        }
    }
    if !p.dry_run {
        for (i, used) in charges {
            running[i].used = used;
            running[i].changed = true;
        }
    }
    Ok(())
}

/// The quota's usage `used` with the create's `usage` added, if the quota tracks any of it;
/// refused when over.
fn charge(
    p: &Pending,
    q: &Value,
    name: &str,
    usage: &ResourceList,
    used: &ResourceList,
) -> ApiResult<Option<ResourceList>> {
    let spec_hard = parse_list(q.pointer("/spec/hard"));
    if !quota::scopes_match(q, p.rt.group, p.rt.plural, &p.object) {
        return Ok(None);
    }
    if (p.rt.group, p.rt.kind) == ("", "Pod") {
        if let Some(missing) = quota::missing_container_resources(&spec_hard, &p.object) {
            return Err(forbidden(
                p.rt,
                &p.name,
                format!("failed quota: {name}: must specify {missing}"),
            ));
        }
    }
    let requested = mask(usage, &spec_hard);
    if requested.is_empty() {
        return Ok(None);
    }
    let hard = parse_list(q.pointer("/status/hard"));
    let unknown: Vec<&str> = requested
        .keys()
        .filter(|k| !hard.contains_key(*k))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(forbidden(
            p.rt,
            &p.name,
            format!(
                "status unknown for quota: {name}, resources: {}",
                unknown.join(",")
            ),
        ));
    }
    let new_used = quota::add(used, &requested);
    let exceeded: ResourceList = new_used
        .iter()
        .filter(|(k, v)| hard.get(*k).is_some_and(|h| *v > h))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    if !exceeded.is_empty() {
        return Err(forbidden(
            p.rt,
            &p.name,
            format!(
                "exceeded quota: {name}, requested: {}, used: {}, limited: {}",
                pretty(&mask(&requested, &exceeded)),
                pretty(&mask(used, &exceeded)),
                pretty(&mask(&hard, &exceeded)),
            ),
        ));
    }
    let mut all_used = used.clone();
    all_used.extend(new_used);
    Ok(Some(all_used))
}

/// Writes the quota's new usage if the quota is unchanged since it was read; false if it was.
async fn write_used(
    store: &dyn Store,
    kv: &KeyValue,
    q: &Value,
    used: &ResourceList,
) -> ApiResult<bool> {
    let rt = registered("", "resourcequotas")?;
    let mut q = q.clone();
    q["status"]["used"] = quota::to_json(used);
    match store
        .update(&kv.key, to_bytes(rt, &q), kv.mod_revision, None)
        .await
    {
        Ok(_) => Ok(true),
        Err(tug_store::Error::Conflict { .. } | tug_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
