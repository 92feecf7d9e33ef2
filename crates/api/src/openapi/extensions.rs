//! What the `k8s-openapi` schemas do not carry: how lists merge. The real API's Go types
//! mark their lists with `patchStrategy`/`patchMergeKey` (strategic merge patch, which
//! `kubectl apply` computes from the OpenAPI document) and `listType`/`listMapKey`
//! (server-side apply). This table restates those markers for the served types, field
//! by field, and `apply` writes them into the definitions as the `x-kubernetes-*`
//! extensions kube-apiserver publishes.

use serde_json::{Map, Value, json};

/// One list field of one definition.
pub(crate) struct ListField {
    /// Definition name without the "io.k8s." prefix, e.g. "api.core.v1.PodSpec".
    pub def: &'static str,
    pub field: &'static str,
    /// `x-kubernetes-patch-strategy`: "merge" or "merge,retainKeys".
    pub strategy: Option<&'static str>,
    /// `x-kubernetes-patch-merge-key`.
    pub merge_key: Option<&'static str>,
    /// `x-kubernetes-list-type`: "atomic", "set" or "map".
    pub list_type: &'static str,
    /// `x-kubernetes-list-map-keys`, for list type "map".
    pub map_keys: &'static [&'static str],
}

/// A list merged by key: both patch strategy and list-map.
const fn keyed(def: &'static str, field: &'static str, strategy: &'static str, key: &'static str, map_keys: &'static [&'static str]) -> ListField {
    ListField { def, field, strategy: Some(strategy), merge_key: Some(key), list_type: "map", map_keys }
}

/// A list replaced as a whole.
const fn atomic(def: &'static str, field: &'static str) -> ListField {
    ListField { def, field, strategy: None, merge_key: None, list_type: "atomic", map_keys: &[] }
}

/// A list of scalars merged as a set.
const fn set(def: &'static str, field: &'static str) -> ListField {
    ListField { def, field, strategy: Some("merge"), merge_key: None, list_type: "set", map_keys: &[] }
}

const M: &str = "merge";
const MR: &str = "merge,retainKeys";
const NAME: &[&str] = &["name"];
const TYPE: &[&str] = &["type"];
const IP: &[&str] = &["ip"];

pub(crate) static LIST_FIELDS: &[ListField] = &[
    // meta/v1
    set("apimachinery.pkg.apis.meta.v1.ObjectMeta", "finalizers"),
    keyed("apimachinery.pkg.apis.meta.v1.ObjectMeta", "ownerReferences", M, "uid", &["uid"]),
    atomic("apimachinery.pkg.apis.meta.v1.ObjectMeta", "managedFields"),
    atomic("apimachinery.pkg.apis.meta.v1.LabelSelector", "matchExpressions"),
    atomic("apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement", "values"),
    atomic("apimachinery.pkg.apis.meta.v1.StatusDetails", "causes"),
    // core/v1 Pod
    keyed("api.core.v1.PodSpec", "volumes", MR, "name", NAME),
    keyed("api.core.v1.PodSpec", "initContainers", M, "name", NAME),
    keyed("api.core.v1.PodSpec", "containers", M, "name", NAME),
    keyed("api.core.v1.PodSpec", "ephemeralContainers", M, "name", NAME),
    keyed("api.core.v1.PodSpec", "imagePullSecrets", M, "name", NAME),
    atomic("api.core.v1.PodSpec", "tolerations"),
    keyed("api.core.v1.PodSpec", "hostAliases", M, "ip", IP),
    atomic("api.core.v1.PodSpec", "readinessGates"),
    keyed("api.core.v1.PodSpec", "topologySpreadConstraints", M, "topologyKey", &["topologyKey", "whenUnsatisfiable"]),
    keyed("api.core.v1.PodSpec", "resourceClaims", MR, "name", NAME),
    keyed("api.core.v1.PodSpec", "schedulingGates", M, "name", NAME),
    keyed("api.core.v1.PodStatus", "conditions", M, "type", TYPE),
    keyed("api.core.v1.PodStatus", "podIPs", M, "ip", IP),
    keyed("api.core.v1.PodStatus", "hostIPs", M, "ip", IP),
    atomic("api.core.v1.PodStatus", "initContainerStatuses"),
    atomic("api.core.v1.PodStatus", "containerStatuses"),
    atomic("api.core.v1.PodStatus", "ephemeralContainerStatuses"),
    keyed("api.core.v1.PodStatus", "resourceClaimStatuses", MR, "name", NAME),
    atomic("api.core.v1.HostAlias", "hostnames"),
    // core/v1 containers (Container and EphemeralContainer have the same fields)
    atomic("api.core.v1.Container", "command"),
    atomic("api.core.v1.Container", "args"),
    keyed("api.core.v1.Container", "ports", M, "containerPort", &["containerPort", "protocol"]),
    atomic("api.core.v1.Container", "envFrom"),
    keyed("api.core.v1.Container", "env", M, "name", NAME),
    keyed("api.core.v1.Container", "volumeMounts", M, "mountPath", &["mountPath"]),
    keyed("api.core.v1.Container", "volumeDevices", M, "devicePath", &["devicePath"]),
    atomic("api.core.v1.Container", "resizePolicy"),
    atomic("api.core.v1.EphemeralContainer", "command"),
    atomic("api.core.v1.EphemeralContainer", "args"),
    keyed("api.core.v1.EphemeralContainer", "ports", M, "containerPort", &["containerPort", "protocol"]),
    atomic("api.core.v1.EphemeralContainer", "envFrom"),
    keyed("api.core.v1.EphemeralContainer", "env", M, "name", NAME),
    keyed("api.core.v1.EphemeralContainer", "volumeMounts", M, "mountPath", &["mountPath"]),
    keyed("api.core.v1.EphemeralContainer", "volumeDevices", M, "devicePath", &["devicePath"]),
    atomic("api.core.v1.EphemeralContainer", "resizePolicy"),
    atomic("api.core.v1.Capabilities", "add"),
    atomic("api.core.v1.Capabilities", "drop"),
    atomic("api.core.v1.PodSecurityContext", "supplementalGroups"),
    atomic("api.core.v1.PodSecurityContext", "sysctls"),
    atomic("api.core.v1.PodDNSConfig", "nameservers"),
    atomic("api.core.v1.PodDNSConfig", "searches"),
    atomic("api.core.v1.PodDNSConfig", "options"),
    atomic("api.core.v1.NodeSelector", "nodeSelectorTerms"),
    atomic("api.core.v1.NodeSelectorTerm", "matchExpressions"),
    atomic("api.core.v1.NodeSelectorTerm", "matchFields"),
    atomic("api.core.v1.NodeSelectorRequirement", "values"),
    atomic("api.core.v1.NodeAffinity", "preferredDuringSchedulingIgnoredDuringExecution"),
    atomic("api.core.v1.PodAffinity", "requiredDuringSchedulingIgnoredDuringExecution"),
    atomic("api.core.v1.PodAffinity", "preferredDuringSchedulingIgnoredDuringExecution"),
    atomic("api.core.v1.PodAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution"),
    atomic("api.core.v1.PodAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution"),
    atomic("api.core.v1.PodAffinityTerm", "namespaces"),
    atomic("api.core.v1.PodAffinityTerm", "matchLabelKeys"),
    atomic("api.core.v1.PodAffinityTerm", "mismatchLabelKeys"),
    atomic("api.core.v1.TopologySpreadConstraint", "matchLabelKeys"),
    atomic("api.core.v1.ProjectedVolumeSource", "sources"),
    atomic("api.core.v1.ConfigMapVolumeSource", "items"),
    atomic("api.core.v1.SecretVolumeSource", "items"),
    atomic("api.core.v1.ConfigMapProjection", "items"),
    atomic("api.core.v1.SecretProjection", "items"),
    atomic("api.core.v1.DownwardAPIVolumeSource", "items"),
    atomic("api.core.v1.DownwardAPIProjection", "items"),
    atomic("api.core.v1.ExecAction", "command"),
    atomic("api.core.v1.HTTPGetAction", "httpHeaders"),
    // core/v1 other kinds
    keyed("api.core.v1.ServiceSpec", "ports", M, "port", &["port", "protocol"]),
    atomic("api.core.v1.ServiceSpec", "clusterIPs"),
    atomic("api.core.v1.ServiceSpec", "externalIPs"),
    atomic("api.core.v1.ServiceSpec", "loadBalancerSourceRanges"),
    atomic("api.core.v1.ServiceSpec", "ipFamilies"),
    keyed("api.core.v1.ServiceStatus", "conditions", M, "type", TYPE),
    atomic("api.core.v1.LoadBalancerStatus", "ingress"),
    atomic("api.core.v1.LoadBalancerIngress", "ports"),
    atomic("api.core.v1.Endpoints", "subsets"),
    atomic("api.core.v1.EndpointSubset", "addresses"),
    atomic("api.core.v1.EndpointSubset", "notReadyAddresses"),
    atomic("api.core.v1.EndpointSubset", "ports"),
    keyed("api.core.v1.ServiceAccount", "secrets", M, "name", NAME),
    atomic("api.core.v1.ServiceAccount", "imagePullSecrets"),
    set("api.core.v1.NodeSpec", "podCIDRs"),
    atomic("api.core.v1.NodeSpec", "taints"),
    keyed("api.core.v1.NodeStatus", "conditions", M, "type", TYPE),
    keyed("api.core.v1.NodeStatus", "addresses", M, "type", TYPE),
    atomic("api.core.v1.NodeStatus", "images"),
    atomic("api.core.v1.NodeStatus", "volumesInUse"),
    atomic("api.core.v1.NodeStatus", "volumesAttached"),
    atomic("api.core.v1.NamespaceSpec", "finalizers"),
    keyed("api.core.v1.NamespaceStatus", "conditions", M, "type", TYPE),
    atomic("api.core.v1.PersistentVolumeSpec", "accessModes"),
    atomic("api.core.v1.PersistentVolumeSpec", "mountOptions"),
    atomic("api.core.v1.PersistentVolumeClaimSpec", "accessModes"),
    atomic("api.core.v1.PersistentVolumeClaimStatus", "accessModes"),
    keyed("api.core.v1.PersistentVolumeClaimStatus", "conditions", M, "type", TYPE),
    keyed("api.core.v1.ReplicationControllerStatus", "conditions", M, "type", TYPE),
    atomic("api.core.v1.LimitRangeSpec", "limits"),
    atomic("api.core.v1.ResourceQuotaSpec", "scopes"),
    atomic("api.core.v1.ScopeSelector", "matchExpressions"),
    // apps/v1
    keyed("api.apps.v1.DeploymentStatus", "conditions", M, "type", TYPE),
    keyed("api.apps.v1.ReplicaSetStatus", "conditions", M, "type", TYPE),
    keyed("api.apps.v1.StatefulSetStatus", "conditions", M, "type", TYPE),
    keyed("api.apps.v1.DaemonSetStatus", "conditions", M, "type", TYPE),
    atomic("api.apps.v1.StatefulSetSpec", "volumeClaimTemplates"),
    // batch/v1
    ListField { def: "api.batch.v1.JobStatus", field: "conditions", strategy: Some(M), merge_key: Some("type"), list_type: "atomic", map_keys: &[] },
    atomic("api.batch.v1.CronJobStatus", "active"),
    atomic("api.batch.v1.PodFailurePolicy", "rules"),
    atomic("api.batch.v1.SuccessPolicy", "rules"),
    // autoscaling/v2
    atomic("api.autoscaling.v2.HorizontalPodAutoscalerSpec", "metrics"),
    keyed("api.autoscaling.v2.HorizontalPodAutoscalerStatus", "conditions", M, "type", TYPE),
    atomic("api.autoscaling.v2.HorizontalPodAutoscalerStatus", "currentMetrics"),
    atomic("api.autoscaling.v2.HPAScalingRules", "policies"),
    // networking.k8s.io/v1
    atomic("api.networking.v1.IngressSpec", "rules"),
    atomic("api.networking.v1.IngressSpec", "tls"),
    atomic("api.networking.v1.IngressTLS", "hosts"),
    atomic("api.networking.v1.HTTPIngressRuleValue", "paths"),
    atomic("api.networking.v1.NetworkPolicySpec", "ingress"),
    atomic("api.networking.v1.NetworkPolicySpec", "egress"),
    atomic("api.networking.v1.NetworkPolicySpec", "policyTypes"),
    // rbac.authorization.k8s.io/v1
    atomic("api.rbac.v1.Role", "rules"),
    atomic("api.rbac.v1.ClusterRole", "rules"),
    atomic("api.rbac.v1.RoleBinding", "subjects"),
    atomic("api.rbac.v1.ClusterRoleBinding", "subjects"),
    atomic("api.rbac.v1.PolicyRule", "verbs"),
    atomic("api.rbac.v1.PolicyRule", "apiGroups"),
    atomic("api.rbac.v1.PolicyRule", "resources"),
    atomic("api.rbac.v1.PolicyRule", "resourceNames"),
    atomic("api.rbac.v1.PolicyRule", "nonResourceURLs"),
    // discovery.k8s.io/v1
    atomic("api.discovery.v1.EndpointSlice", "endpoints"),
    atomic("api.discovery.v1.EndpointSlice", "ports"),
    set("api.discovery.v1.Endpoint", "addresses"),
    // storage.k8s.io/v1
    atomic("api.storage.v1.StorageClass", "mountOptions"),
    atomic("api.storage.v1.StorageClass", "allowedTopologies"),
    // apiextensions.k8s.io/v1
    atomic("apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionSpec", "versions"),
    keyed("apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionStatus", "conditions", M, "type", TYPE),
];

/// Structures that server-side apply treats as one value (`x-kubernetes-map-type: atomic`).
pub(crate) static ATOMIC_STRUCTS: &[&str] = &[
    "apimachinery.pkg.apis.meta.v1.LabelSelector",
    "api.core.v1.LocalObjectReference",
    "api.core.v1.ObjectReference",
    "api.core.v1.NodeSelector",
    "api.core.v1.NodeSelectorTerm",
    "api.core.v1.ConfigMapKeySelector",
    "api.core.v1.SecretKeySelector",
    "api.core.v1.ObjectFieldSelector",
    "api.core.v1.ResourceFieldSelector",
    "api.core.v1.TopologySelectorTerm",
];

/// Write the table's extensions into `defs` (definition name → schema).
pub(crate) fn apply(defs: &mut Map<String, Value>) {
    for f in LIST_FIELDS {
        let name = format!("io.k8s.{}", f.def);
        let Some(prop) = defs.get_mut(&name).and_then(|d| d.pointer_mut(&format!("/properties/{}", f.field))).and_then(Value::as_object_mut) else {
            continue; // a field this version's types do not have
        };
        if let Some(strategy) = f.strategy {
            prop.insert("x-kubernetes-patch-strategy".into(), json!(strategy));
        }
        if let Some(key) = f.merge_key {
            prop.insert("x-kubernetes-patch-merge-key".into(), json!(key));
        }
        prop.insert("x-kubernetes-list-type".into(), json!(f.list_type));
        if !f.map_keys.is_empty() {
            prop.insert("x-kubernetes-list-map-keys".into(), json!(f.map_keys));
        }
    }
    for def in ATOMIC_STRUCTS {
        if let Some(d) = defs.get_mut(&format!("io.k8s.{def}")).and_then(Value::as_object_mut) {
            d.insert("x-kubernetes-map-type".into(), json!("atomic"));
        }
    }
}
