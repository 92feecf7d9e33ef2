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

/// Deletes every object of a definition that was just deleted.
pub async fn delete_instances(store: &dyn Store, definition: &Value) -> ApiResult<()> {
    let Ok(def) = tug_api::crd::read(definition) else {
        return Ok(());
    };
    let Some(version) = def.versions.first() else {
        return Ok(());
    };
    let prefix = version.rt.prefix(None);
    let objects = store.range(RangeRequest::new(KeyRange::prefix(prefix))).await?;
    for kv in objects.kvs {
        match store.delete(&kv.key, None).await {
            Ok(_) | Err(tug_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
