//! The names the local-path storage parts agree on: the provisioner in the controllers
//! makes PersistentVolumes as directories under each node's storage root, the scheduler
//! picks the node for a WaitForFirstConsumer claim, and the node's agent makes, mounts and
//! finally removes the directory (as k3s' local-path-provisioner does per node).

/// `provisioner` of the default StorageClass.
pub const LOCAL_PATH_PROVISIONER: &str = "tugboat.dev/local-path";
/// Name of the default StorageClass.
pub const LOCAL_PATH_CLASS: &str = "local-path";
/// Node annotation: the directory under which the node's agent keeps local-path volumes.
pub const STORAGE_ROOT_ANNOTATION: &str = "tugboat.dev/local-path-root";
/// Finalizer on a provisioned PV, removed by its node's agent once the directory is gone.
pub const CLEANUP_FINALIZER: &str = "tugboat.dev/local-path-cleanup";
/// PVC annotation the scheduler sets for a WaitForFirstConsumer claim (as kube-scheduler).
pub const SELECTED_NODE_ANNOTATION: &str = "volume.kubernetes.io/selected-node";
/// The node label local PVs' node affinity names.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
