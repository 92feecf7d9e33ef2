//! Every namespace that is not being deleted has a `default` ServiceAccount and the
//! `kube-root-ca.crt` ConfigMap holding the cluster CA (`ca.crt`), recreated if deleted and
//! put back if changed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::reconciler::{self, ReconcileError};

const ACCOUNT: &str = "default";
const CA_CONFIG_MAP: &str = "kube-root-ca.crt";

/// Runs the controller until its watches end.
pub async fn run(client: Client, root_ca_pem: String) -> Result<(), crate::Error> {
    let by_namespace = |meta: &ObjectMeta| meta.namespace.clone().map(|ns| ObjectRef::<Namespace>::new(&ns));
    let controller = Controller::new(Api::<Namespace>::all(client.clone()), watcher::Config::default())
        .watches(Api::<ServiceAccount>::all(client.clone()), watcher::Config::default().fields(&format!("metadata.name={ACCOUNT}")), move |a| by_namespace(&a.metadata))
        .watches(Api::<ConfigMap>::all(client.clone()), watcher::Config::default().fields(&format!("metadata.name={CA_CONFIG_MAP}")), move |c| by_namespace(&c.metadata));
    let root_ca = Arc::new(root_ca_pem);
    reconciler::run("serviceaccount", controller, move |ns, _| reconcile(client.clone(), root_ca.clone(), ns)).await
}

async fn reconcile(client: Client, root_ca: Arc<String>, namespace: Arc<Namespace>) -> Result<Action, ReconcileError> {
    if namespace.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = namespace.name_any();
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    if accounts.get_opt(ACCOUNT).await?.is_none() {
        let account = ServiceAccount {
            metadata: ObjectMeta { name: Some(ACCOUNT.into()), ..ObjectMeta::default() },
            ..ServiceAccount::default()
        };
        ignore_exists(accounts.create(&PostParams::default(), &account).await)?;
    }
    let maps: Api<ConfigMap> = Api::namespaced(client, &ns);
    let data = BTreeMap::from([("ca.crt".to_string(), root_ca.to_string())]);
    match maps.get_opt(CA_CONFIG_MAP).await? {
        None => {
            let map = ConfigMap {
                metadata: ObjectMeta { name: Some(CA_CONFIG_MAP.into()), ..ObjectMeta::default() },
                data: Some(data),
                ..ConfigMap::default()
            };
            ignore_exists(maps.create(&PostParams::default(), &map).await)?;
        }
        Some(mut map) if map.data.as_ref() != Some(&data) => {
            map.data = Some(data);
            maps.replace(CA_CONFIG_MAP, &PostParams::default(), &map).await?;
        }
        Some(_) => {}
    }
    Ok(Action::requeue(Duration::from_secs(600)))
}

/// A create that lost a race to another writer is fine: the object is there.
fn ignore_exists<T>(result: Result<T, kube::Error>) -> Result<(), kube::Error> {
    match result {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}
