//! `tug-kv-operator`: runs the operator (`run`, the default) with the kubeconfig of
//! `KUBECONFIG` or `~/.kube/config`, or in a pod with its service account; `crd` prints
//! the CustomResourceDefinitions to apply first.

use anyhow::{bail, Context, Result};

#[tokio::main]
async fn main() -> Result<()> {
    match std::env::args().nth(1).as_deref() {
        Some("crd") => print!("{}", tug_kv_operator::crds_yaml().context("render the CRDs")?),
        None | Some("run") => {
            let client = kube::Client::try_default().await.context("connect to the cluster (set KUBECONFIG)")?;
            eprintln!("tug-kv-operator: reconciling KeyValueStores, KeyValueBackups and KeyValueRestores");
            tug_kv_operator::run(client).await;
        }
        Some(other) => bail!("unknown command {other:?}: use `tug-kv-operator [run]` or `tug-kv-operator crd`"),
    }
    Ok(())
}
