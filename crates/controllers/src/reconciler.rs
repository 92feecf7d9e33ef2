//! The reconcile loop every controller shares: kube-rs' `Controller` over the primary
//! kind, with the controller's reconcile function; errors are retried after a pause.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use kube::runtime::controller::{Action, Controller};
use kube::Resource;

/// How long a failed reconcile waits before it is tried again.
const RETRY: Duration = Duration::from_secs(2);

/// An error a reconcile returns: the API call that failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReconcileError(#[from] pub kube::Error);

/// Drives `controller` with `reconcile` until its watches end.
pub async fn run<K, F, Fut>(name: &'static str, controller: Controller<K>, reconcile: F) -> Result<(), crate::Error>
where
    K: Resource + Clone + Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Default + Clone + Debug + Eq + std::hash::Hash + Unpin,
    F: FnMut(Arc<K>, Arc<()>) -> Fut,
    Fut: Future<Output = Result<Action, ReconcileError>> + Send + 'static,
{
    controller
        .run(reconcile, |_, _: &ReconcileError, _| Action::requeue(RETRY), Arc::new(()))
        .for_each(|_| async {})
        .await;
    Err(crate::Error::Stopped {
        controller: name,
        message: "its watch ended".into(),
    })
}
