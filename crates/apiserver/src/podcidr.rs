//! Node pod CIDRs: each Node gets a /24 of 10.42.0.0/16 (k3s' cluster CIDR) in
//! `spec.podCIDR` when it is created without one, as kube-controller-manager's
//! node IPAM does. Each allocation is a key in the store
//! (`/registry/tug/podcidrs/10.42.N.0-24`, value: the node's name), so two nodes
//! never share a range and allocations survive restarts.

use std::collections::HashSet;

use tug_store::{Error as StoreError, KeyRange, RangeRequest, Store};

use crate::status::{ApiError, ApiResult};

const PREFIX: &str = "/registry/tug/podcidrs/";

fn key(cidr: &str) -> String {
    format!("{PREFIX}{}", cidr.replace('/', "-"))
}

/// Claims the lowest free /24 for `node`.
pub async fn allocate(store: &dyn Store, node: &str) -> ApiResult<String> {
    let used: HashSet<String> = store
        .range(RangeRequest::new(KeyRange::prefix(PREFIX)))
        .await?
        .kvs
        .into_iter()
        .map(|kv| kv.key[PREFIX.len()..].replace('-', "/"))
        .collect();
    for n in 0..=255u8 {
        let cidr = format!("10.42.{n}.0/24");
        if used.contains(&cidr) {
            continue;
        }
        match store.create(&key(&cidr), node.as_bytes().to_vec(), None).await {
            Ok(_) => return Ok(cidr),
            Err(StoreError::AlreadyExists { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::internal(
        "the pod CIDR 10.42.0.0/16 has no free /24 left for another node",
    ))
}

/// Frees a node's range (nothing happens if it was not allocated).
pub async fn release(store: &dyn Store, cidr: &str) -> ApiResult<()> {
    match store.delete(&key(cidr), None).await {
        Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
