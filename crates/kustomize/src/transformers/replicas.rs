//! `replicas`: sets the replica count of named workloads.

use serde_json::Value;

use crate::error::Result;
use crate::fieldspec::{visit_specs, FieldSpec};
use crate::kustomization::ReplicaEntry;
use crate::resource::Resource;

pub fn set(resources: &mut [Resource], specs: &[FieldSpec], entries: &[ReplicaEntry]) -> Result<()> {
    for e in entries {
        for res in resources.iter_mut().filter(|r| r.had_name(&e.name)) {
            visit_specs(res, specs, &mut |v| {
                *v = Value::from(e.count);
                Ok(())
            })?;
        }
    }
    Ok(())
}
