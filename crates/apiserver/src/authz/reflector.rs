//! Keeps an in-memory view of a key prefix: lists it once, then follows a store
//! watch, listing again if the watch falls behind or ends. Authorizers decide
//! from these views, so a decision never waits on the store.

use std::sync::Arc;
use std::time::Duration;

use tug_store::{EventKind, KeyRange, KeyValue, RangeRequest, Store};

/// A change to the watched keys.
pub enum Change {
    /// Everything under the prefix, as of a (re)list: replaces what was known.
    Replace(Vec<KeyValue>),
    Put(KeyValue),
    Delete(String),
}

/// Lists `prefix` (the first view, before the caller serves requests) and returns the
/// revision the list saw.
pub async fn list(store: &dyn Store, prefix: &str) -> tug_store::Result<(Vec<KeyValue>, i64)> {
    let response = store
        .range(RangeRequest::new(KeyRange::prefix(prefix)))
        .await?;
    Ok((response.kvs, response.revision))
}

/// Follows the changes under `prefix` after `revision`, handing each to `apply` (with the
/// revision it brings the view to) until the store closes.
pub fn follow(
    store: Arc<dyn Store>,
    prefix: String,
    mut revision: i64,
    mut apply: impl FnMut(Change, i64) + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let request = tug_store::WatchRequest {
                range: KeyRange::prefix(prefix.clone()),
                after_revision: Some(revision),
            };
            if let Ok(mut watch) = store.watch(request).await {
                while let Some(Ok(event)) = watch.next().await {
                    revision = event.revision();
                    let change = match event.kind {
                        EventKind::Put => Change::Put(event.kv),
                        EventKind::Delete => Change::Delete(event.kv.key),
                    };
                    apply(change, revision);
                }
            }
            // The watch ended (lagged, compacted, or the store is closing): list again.
            tokio::time::sleep(Duration::from_millis(100)).await;
            match list(store.as_ref(), &prefix).await {
                Ok((kvs, at)) => {
                    revision = at;
                    apply(Change::Replace(kvs), at);
                }
                Err(tug_store::Error::Closed) => return,
                Err(_) => {}
            }
        }
    })
}
