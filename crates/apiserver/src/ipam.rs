//! Service cluster IPs, allocated from 10.43.0.0/16 (k3s' service CIDR).
//! Each allocation is a key in the store (`/registry/tug/serviceips/<ip>`,
//! value: the owning service's `namespace/name`), so allocations survive
//! restarts and two creates never get one address.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use tug_store::{Error as StoreError, KeyRange, RangeRequest, Store};

use crate::status::{ApiError, ApiResult};

const PREFIX: &str = "/registry/tug/serviceips/";
const NETWORK: u32 = u32::from_be_bytes([10, 43, 0, 0]);
/// 10.43.0.1 is the API's own service address; 10.43.0.10 cluster DNS (as in k3s).
const RESERVED: [u32; 3] = [0, 1, 10];

/// Whether `ip` is in the service CIDR.
pub fn in_range(ip: Ipv4Addr) -> bool {
    u32::from(ip) & 0xffff_0000 == NETWORK
}

/// Claims `requested`, or the lowest free address when `None`.
/// `Ok(None)` means the requested address is taken.
pub async fn allocate(
    store: &dyn Store,
    requested: Option<Ipv4Addr>,
    owner: &str,
) -> ApiResult<Option<Ipv4Addr>> {
    if let Some(ip) = requested {
        return match store
            .create(&format!("{PREFIX}{ip}"), owner.as_bytes().to_vec(), None)
            .await
        {
            Ok(_) => Ok(Some(ip)),
            Err(StoreError::AlreadyExists { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        };
    }
    let used: HashSet<String> = store
        .range(RangeRequest::new(KeyRange::prefix(PREFIX)))
        .await?
        .kvs
        .into_iter()
        .map(|kv| kv.key[PREFIX.len()..].to_string())
        .collect();
    for offset in (1..0xffff).filter(|o| !RESERVED.contains(o)) {
        let ip = Ipv4Addr::from(NETWORK + offset);
        if used.contains(&ip.to_string()) {
            continue;
        }
        match store
            .create(&format!("{PREFIX}{ip}"), owner.as_bytes().to_vec(), None)
            .await
        {
            Ok(_) => return Ok(Some(ip)),
            Err(StoreError::AlreadyExists { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::internal(
        "the service IP range 10.43.0.0/16 is full",
    ))
}

/// Frees an address (nothing happens if it was not allocated).
pub async fn release(store: &dyn Store, ip: &str) -> ApiResult<()> {
    match store.delete(&format!("{PREFIX}{ip}"), None).await {
        Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
