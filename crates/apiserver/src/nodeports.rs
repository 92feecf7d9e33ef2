//! Service node ports, allocated from 30000–32767 (kube-apiserver's default
//! `--service-node-port-range`) for NodePort and LoadBalancer Services. Each allocation
//! is a key in the store (`/registry/tug/servicenodeports/<port>`, value: the owning
//! Service's `namespace/name`), so two Services never share a port and allocations
//! survive restarts. A port the Service already holds stays its own (an update, or the
//! same number for TCP and UDP); one asked for that another Service holds, or outside
//! the range, is a 422 naming `spec.ports[i].nodePort`. Other Service types carry no
//! node ports: they are dropped and given back, as kube-apiserver does on a type change.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use tug_api::{validation, FieldError, ResourceType};
use tug_store::{Error as StoreError, KeyRange, RangeRequest, Store};

use crate::object::meta_str;
use crate::status::{ApiError, ApiResult};

const PREFIX: &str = "/registry/tug/servicenodeports/";
/// The node port range.
pub const RANGE: std::ops::RangeInclusive<u16> = 30000..=32767;

/// What [`assign`] changed: ports claimed now (given back if the write fails) and ports
/// the old object held that the new one does not (given back once the write succeeds).
#[derive(Debug, Default)]
pub struct Assigned {
    pub claimed: Vec<u16>,
    pub dropped: Vec<u16>,
}

/// Gives each port of the Service `object` its node port (`old`: the stored object on update).
pub async fn assign(store: &dyn Store, rt: &ResourceType, object: &mut Value, old: Option<&Value>) -> ApiResult<Assigned> {
    let mut assigned = Assigned::default();
    if (rt.group, rt.kind) != ("", "Service") {
        return Ok(assigned);
    }
    let held: BTreeSet<u16> = node_ports(old);
    let owner = format!("{}/{}", meta_str(object, "namespace").unwrap_or_default(), meta_str(object, "name").unwrap_or_default());
    let name = meta_str(object, "name").unwrap_or_default().to_string();
    let wants_ports = match object.pointer("/spec/type").and_then(Value::as_str) {
        Some("NodePort") => true,
        Some("LoadBalancer") => object.pointer("/spec/allocateLoadBalancerNodePorts").and_then(Value::as_bool) != Some(false),
        _ => false,
    };
    let count = object.pointer("/spec/ports").and_then(Value::as_array).map_or(0, Vec::len);
    let mut result = Ok(());
    for i in 0..count {
        let Some(port) = object.pointer_mut(&format!("/spec/ports/{i}")) else { continue };
        if !wants_ports {
            if let Some(p) = port.as_object_mut() {
                p.remove("nodePort");
            }
            continue;
        }
        let requested = port.get("nodePort").and_then(Value::as_i64).filter(|p| *p != 0);
        let number = match requested {
            Some(n) => {
                let field = |detail: String| FieldError {
                    field: format!("spec.ports[{i}].nodePort"),
                    kind: validation::ErrorType::Invalid,
                    value: n.to_string(),
                    detail,
                };
                let Some(n16) = u16::try_from(n).ok().filter(|n| RANGE.contains(n)) else {
                    result = Err(ApiError::invalid(rt, &name, &[field(format!("provided port is not in the valid range. The range of valid ports is {}-{}", RANGE.start(), RANGE.end()))]));
                    break;
                };
                match claim(store, n16, &owner).await {
                    Ok(true) => n16,
                    Ok(false) => {
                        result = Err(ApiError::invalid(rt, &name, &[field("provided port is already allocated".into())]));
                        break;
                    }
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            None => match claim_free(store, &owner).await {
                Ok(n) => n,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            },
        };
        if !held.contains(&number) && !assigned.claimed.contains(&number) {
            assigned.claimed.push(number);
        }
        port["nodePort"] = json!(number);
    }
    if let Err(e) = result {
        release(store, &assigned.claimed).await?;
        return Err(e);
    }
    let kept = node_ports(Some(object));
    assigned.dropped = held.difference(&kept).copied().collect();
    Ok(assigned)
}

/// The node ports a stored Service holds.
pub fn node_ports(service: Option<&Value>) -> BTreeSet<u16> {
    service
        .and_then(|s| s.pointer("/spec/ports"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("nodePort")?.as_u64())
        .filter_map(|p| u16::try_from(p).ok())
        .collect()
}

/// Claims `port` for `owner`: true if it is now (or already was) the owner's.
async fn claim(store: &dyn Store, port: u16, owner: &str) -> ApiResult<bool> {
    let key = format!("{PREFIX}{port}");
    match store.create(&key, owner.as_bytes().to_vec(), None).await {
        Ok(_) => Ok(true),
        Err(StoreError::AlreadyExists { .. }) => {
            let holder = store.get(&key).await?.map(|kv| kv.value);
            Ok(holder.as_deref() == Some(owner.as_bytes()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Ports at the bottom of the range that automatic allocation leaves for Services that
/// ask for a port by number, as kube-apiserver's static subrange: min(max(16, size/32), 128).
fn static_band() -> u16 {
    let size = RANGE.end() - RANGE.start() + 1;
    (size / 32).clamp(16, 128)
}

/// Claims a free port for `owner`: the lowest above the static band, else the lowest in it.
async fn claim_free(store: &dyn Store, owner: &str) -> ApiResult<u16> {
    let used: BTreeSet<u16> = store
        .range(RangeRequest::new(KeyRange::prefix(PREFIX)))
        .await?
        .kvs
        .into_iter()
        .filter_map(|kv| kv.key[PREFIX.len()..].parse().ok())
        .collect();
    let split = RANGE.start() + static_band();
    let dynamic_first = (split..=*RANGE.end()).chain(*RANGE.start()..split);
    for port in dynamic_first.filter(|p| !used.contains(p)) {
        match store.create(&format!("{PREFIX}{port}"), owner.as_bytes().to_vec(), None).await {
            Ok(_) => return Ok(port),
            Err(StoreError::AlreadyExists { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::internal("the node port range 30000-32767 is full"))
}

/// Gives `ports` back (ports not allocated are ignored).
pub async fn release(store: &dyn Store, ports: &[u16]) -> ApiResult<()> {
    for port in ports {
        match store.delete(&format!("{PREFIX}{port}"), None).await {
            Ok(_) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
