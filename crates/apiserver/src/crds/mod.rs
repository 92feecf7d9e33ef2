//! Custom resources: the kinds CustomResourceDefinitions add, served by the same handlers
//! as the built-in kinds. [`view`] keeps the served kinds (fed by a store watch);
//! [`definitions`] checks a definition on write and sets its status; this module prunes,
//! defaults and validates custom resources against their version's schema and removes a
//! deleted definition's objects.

pub mod definitions;
pub mod view;

use serde_json::Value;
use tug_api::crd::{objects, Version};
use tug_api::{FieldError, ResourceType};
use tug_store::{KeyRange, RangeRequest, Store};

pub use view::CustomKinds;

use crate::status::{ApiError, ApiResult};

/// Whether `rt` is the CustomResourceDefinition kind itself.
pub fn is_definition(rt: &ResourceType) -> bool {
    (rt.group, rt.kind) == ("apiextensions.k8s.io", "CustomResourceDefinition")
}

/// The served version of a custom type; 404 once its definition is gone.
pub fn version_of(kinds: &CustomKinds, rt: &ResourceType) -> ApiResult<std::sync::Arc<Version>> {
    kinds.version(rt).ok_or_else(ApiError::no_route)
}

/// Drops the fields the schema does not declare (returning their paths) and fills in defaults.
pub fn prune_and_default(version: &Version, object: &mut Value) -> Vec<String> {
    let pruned = objects::prune(&version.schema, object);
    objects::default(&version.schema, object);
    pruned
}

/// The object's violations of its version's schema.
pub fn validate(version: &Version, object: &Value) -> Vec<FieldError> {
    objects::validate(&version.schema, object)
}

/// The finalizer a definition carries while its objects are being deleted.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// The key prefix of a definition's objects (every version shares it).
fn instances_prefix(definition: &Value) -> Option<String> {
    let def = tug_api::crd::read(definition).ok()?;
    Some(def.versions.first()?.rt.prefix(None))
}

/// Starts deleting a definition's objects: those without finalizers go at once, the others
/// are marked for deletion and wait for their finalizers. Returns how many remain.
pub async fn delete_instances(store: &dyn Store, definition: &Value) -> ApiResult<usize> {
    let Some(prefix) = instances_prefix(definition) else {
        return Ok(0);
    };
    let mut remaining = 0;
    for kv in store.range(RangeRequest::new(KeyRange::prefix(prefix))).await?.kvs {
        let mut current = kv;
        loop {
            let mut object: Value = serde_json::from_slice(&current.value).map_err(|e| ApiError::internal(format!("stored object {} is not JSON: {e}", current.key)))?;
            if !crate::object::has_finalizers(&object) {
                match store.delete(&current.key, Some(current.mod_revision)).await {
                    Ok(_) | Err(tug_store::Error::NotFound { .. }) => break,
                    Err(tug_store::Error::Conflict { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            } else {
                remaining += 1;
                if object.pointer("/metadata/deletionTimestamp").is_some() {
                    break;
                }
                crate::object::set_meta(&mut object, "deletionTimestamp", serde_json::json!(crate::object::now()));
                crate::object::set_meta(&mut object, "deletionGracePeriodSeconds", serde_json::json!(0));
                match store.update(&current.key, object.to_string().into_bytes(), current.mod_revision, None).await {
                    Ok(_) | Err(tug_store::Error::NotFound { .. }) => break,
                    Err(tug_store::Error::Conflict { .. }) => remaining -= 1,
                    Err(e) => return Err(e.into()),
                }
            }
            // Changed under us: look again.
            match store.get(&current.key).await? {
                Some(kv) => current = kv,
                None => break,
            }
        }
    }
    Ok(remaining)
}

/// Removes whatever objects of a definition that is going away are still stored.
pub async fn purge_instances(store: &dyn Store, definition: &Value) -> ApiResult<()> {
    let Some(prefix) = instances_prefix(definition) else {
        return Ok(());
    };
    for kv in store.range(RangeRequest::new(KeyRange::prefix(prefix))).await?.kvs {
        match store.delete(&kv.key, None).await {
            Ok(_) | Err(tug_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The store key of a custom kind's definition.
pub fn definition_key(rt: &ResourceType) -> String {
    format!("{}{}.{}", view::PREFIX, rt.plural, rt.group)
}

/// After an object of a custom kind is removed: if its definition is being deleted and
/// this was its last object, the definition goes too.
pub async fn instance_removed(store: &dyn Store, kinds: &CustomKinds, rt: &ResourceType) -> ApiResult<()> {
    let key = definition_key(rt);
    if !kinds.terminating(&key) {
        return Ok(());
    }
    let left = store.range(RangeRequest::new(KeyRange::prefix(rt.prefix(None))).limit(1)).await?;
    if !left.kvs.is_empty() {
        return Ok(());
    }
    match store.delete(&key, None).await {
        Ok(_) | Err(tug_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    kinds.written(&key, store.current_revision().await?).await;
    Ok(())
}
