//! ResourceQuota: a created object is charged to every quota of its namespace that tracks
//! it. The new usage is checked against `status.hard` and written to the quota's
//! `status.used` with compare-and-swap before the object is stored, so concurrent creates
//! never overshoot a quota: a loser of the race reads the new usage and is checked again.
//! Deletes are not charged back here; the quota controller recomputes usage from scratch.

use serde_json::Value;
use tug_api::quota::{self, mask, parse_list, pretty, ResourceList};
use tug_store::KeyValue;

use super::{list, registered, Admit, Operation, Plugin, Request, Review};
use crate::object::to_bytes;
use crate::status::{ApiError, ApiResult};

/// How often the charge is tried again when a quota changes under it.
const ATTEMPTS: usize = 10;

pub struct ResourceQuota;

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
            if request.operation != Operation::Create || request.namespace.is_none() {
                return Ok(());
            }
            let usage = quota::usage(request.rt.group, request.rt.plural, object);
            let mut charged: Vec<String> = Vec::new();
            for _ in 0..ATTEMPTS {
                let quotas = list(request.store, "", "resourcequotas", request.namespace).await?;
                let mut conflict = false;
                for (kv, q) in &quotas {
                    let name = q
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    if charged.iter().any(|c| c == name) {
                        continue;
                    }
                    let Some(used) = charge(request, q, name, object, &usage)? else {
                        continue;
                    };
                    if request.dry_run || write_used(request, kv, q, &used).await? {
                        charged.push(name.to_string());
                    } else {
                        conflict = true;
                    }
                }
                if !conflict {
                    return Ok(());
                }
            }
            Err(ApiError::internal(
                "resource quotas kept changing while the request was charged to them; try again",
            ))
        })
    }
}

/// The quota's usage with `usage` added, if the quota tracks any of it; refused when over.
fn charge(
    request: &Request<'_>,
    q: &Value,
    name: &str,
    object: &Value,
    usage: &ResourceList,
) -> ApiResult<Option<ResourceList>> {
    let spec_hard = parse_list(q.pointer("/spec/hard"));
    if !quota::scopes_match(q, request.rt.group, request.rt.plural, object) {
        return Ok(None);
    }
    if request.is("", "Pod") {
        if let Some(missing) = quota::missing_container_resources(&spec_hard, object) {
            return Err(request.forbidden(format!("failed quota: {name}: must specify {missing}")));
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
        return Err(request.forbidden(format!(
            "status unknown for quota: {name}, resources: {}",
            unknown.join(",")
        )));
    }
    let used = parse_list(q.pointer("/status/used"));
    let new_used = quota::add(&used, &requested);
    let exceeded: ResourceList = new_used
        .iter()
        .filter(|(k, v)| hard.get(*k).is_some_and(|h| *v > h))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    if !exceeded.is_empty() {
        return Err(request.forbidden(format!(
            "exceeded quota: {name}, requested: {}, used: {}, limited: {}",
            pretty(&mask(&requested, &exceeded)),
            pretty(&mask(&used, &exceeded)),
            pretty(&mask(&hard, &exceeded)),
        )));
    }
    let mut all_used = used;
    all_used.extend(new_used);
    Ok(Some(all_used))
}

/// Writes the quota's new usage if the quota is unchanged since it was read; false if it was.
async fn write_used(
    request: &Request<'_>,
    kv: &KeyValue,
    q: &Value,
    used: &ResourceList,
) -> ApiResult<bool> {
    let rt = registered("", "resourcequotas")?;
    let mut q = q.clone();
    q["status"]["used"] = quota::to_json(used);
    match request
        .store
        .update(&kv.key, to_bytes(rt, &q), kv.mod_revision, None)
        .await
    {
        Ok(_) => Ok(true),
        Err(tug_store::Error::Conflict { .. } | tug_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
