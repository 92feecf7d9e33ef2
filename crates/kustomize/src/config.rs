//! Transformer configuration: where labels, annotations, images, name
//! references and vars live in each kind. The defaults follow kustomize's
//! built-in tables; `configurations:` files add to them.

use serde::Deserialize;

use crate::fieldspec::FieldSpec;

/// Kinds that embed a pod template, with the path to the pod spec.
pub const POD_SPEC_PATHS: [(&str, &str); 8] = [
    ("Pod", "spec"),
    ("Deployment", "spec/template/spec"),
    ("ReplicaSet", "spec/template/spec"),
    ("DaemonSet", "spec/template/spec"),
    ("StatefulSet", "spec/template/spec"),
    ("Job", "spec/template/spec"),
    ("ReplicationController", "spec/template/spec"),
    ("CronJob", "spec/jobTemplate/spec/template/spec"),
];

/// One kind that others refer to by name, and where they do.
#[derive(Debug, Clone, Deserialize)]
pub struct NameReference {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    pub kind: String,
    #[serde(default, rename = "fieldSpecs")]
    pub field_specs: Vec<FieldSpec>,
}

/// The field spec tables of one build.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    #[serde(default)]
    pub common_labels: Vec<FieldSpec>,
    #[serde(default)]
    pub template_labels: Vec<FieldSpec>,
    #[serde(default)]
    pub common_annotations: Vec<FieldSpec>,
    #[serde(default)]
    pub images: Vec<FieldSpec>,
    #[serde(default)]
    pub name_reference: Vec<NameReference>,
    #[serde(default)]
    pub var_reference: Vec<FieldSpec>,
    #[serde(default)]
    pub replicas: Vec<FieldSpec>,
}

impl Config {
    pub fn is_empty(&self) -> bool {
        self.common_labels.is_empty()
            && self.template_labels.is_empty()
            && self.common_annotations.is_empty()
            && self.images.is_empty()
            && self.name_reference.is_empty()
            && self.var_reference.is_empty()
            && self.replicas.is_empty()
    }

    /// Adds another table's entries, skipping exact duplicates.
    pub fn merge(&mut self, other: &Config) {
        fn add(to: &mut Vec<FieldSpec>, from: &[FieldSpec]) {
            for f in from {
                if !to.contains(f) {
                    to.push(f.clone());
                }
            }
        }
        add(&mut self.common_labels, &other.common_labels);
        add(&mut self.template_labels, &other.template_labels);
        add(&mut self.common_annotations, &other.common_annotations);
        add(&mut self.images, &other.images);
        add(&mut self.var_reference, &other.var_reference);
        add(&mut self.replicas, &other.replicas);
        for nr in &other.name_reference {
            match self
                .name_reference
                .iter_mut()
                .find(|e| e.kind == nr.kind && e.group == nr.group)
            {
                Some(e) => add(&mut e.field_specs, &nr.field_specs),
                None => self.name_reference.push(nr.clone()),
            }
        }
    }

    /// kustomize's built-in tables.
    pub fn defaults() -> Config {
        let fs = FieldSpec::new;
        let workloads = ["Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job", "ReplicationController"];

        let mut template_labels = Vec::new();
        for k in workloads {
            template_labels.push(fs(k, "spec/template/metadata/labels", true));
        }
        template_labels.push(fs("CronJob", "spec/jobTemplate/metadata/labels", true));
        template_labels.push(fs("CronJob", "spec/jobTemplate/spec/template/metadata/labels", true));

        let mut common_labels = vec![fs("", "metadata/labels", true)];
        common_labels.extend(template_labels.iter().cloned());
        common_labels.extend([
            fs("Service", "spec/selector", true),
            fs("ReplicationController", "spec/selector", true),
            fs("Deployment", "spec/selector/matchLabels", true),
            fs("ReplicaSet", "spec/selector/matchLabels", true),
            fs("DaemonSet", "spec/selector/matchLabels", true),
            fs("StatefulSet", "spec/selector/matchLabels", true),
            fs("StatefulSet", "spec/volumeClaimTemplates[]/metadata/labels", true),
            fs("Job", "spec/selector/matchLabels", false),
            fs("CronJob", "spec/jobTemplate/spec/selector/matchLabels", false),
            fs("PodDisruptionBudget", "spec/selector/matchLabels", false),
            fs("NetworkPolicy", "spec/podSelector/matchLabels", false),
            fs("NetworkPolicy", "spec/ingress/from/podSelector/matchLabels", false),
            fs("NetworkPolicy", "spec/egress/to/podSelector/matchLabels", false),
        ]);
        for k in ["Deployment", "ReplicaSet", "DaemonSet", "StatefulSet"] {
            for aff in ["podAffinity", "podAntiAffinity"] {
                common_labels.push(fs(
                    k,
                    &format!("spec/template/spec/affinity/{aff}/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels"),
                    false,
                ));
                common_labels.push(fs(
                    k,
                    &format!("spec/template/spec/affinity/{aff}/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels"),
                    false,
                ));
            }
            common_labels.push(fs(k, "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels", false));
        }

        let mut common_annotations = vec![fs("", "metadata/annotations", true)];
        for k in workloads {
            common_annotations.push(fs(k, "spec/template/metadata/annotations", true));
        }
        common_annotations.push(fs("CronJob", "spec/jobTemplate/metadata/annotations", true));
        common_annotations.push(fs("CronJob", "spec/jobTemplate/spec/template/metadata/annotations", true));

        let mut var_reference = Vec::new();
        for (kind, pod) in POD_SPEC_PATHS {
            for c in ["containers", "initContainers"] {
                for f in ["command", "args", "env/value", "workingDir", "volumeMounts/mountPath"] {
                    var_reference.push(fs(kind, &format!("{pod}/{c}/{f}"), false));
                }
            }
            var_reference.push(fs(kind, &format!("{pod}/volumes/nfs/server"), false));
        }
        var_reference.extend([
            fs("Ingress", "spec/rules/host", false),
            fs("Ingress", "spec/tls/hosts", false),
            fs("Ingress", "spec/tls/secretName", false),
            fs("Ingress", "metadata/annotations", false),
            fs("ConfigMap", "data", false),
            fs("Service", "metadata/annotations", false),
        ]);

        let replicas = ["Deployment", "ReplicationController", "ReplicaSet", "StatefulSet"]
            .iter()
            .map(|k| fs(k, "spec/replicas", true))
            .collect();

        Config {
            common_labels,
            template_labels,
            common_annotations,
            images: Vec::new(),
            name_reference: default_name_references(),
            var_reference,
            replicas,
        }
    }
}

fn pod_refs(rel: &[&str]) -> Vec<FieldSpec> {
    let mut out = Vec::new();
    for (kind, pod) in POD_SPEC_PATHS {
        for r in rel {
            out.push(FieldSpec::new(kind, &format!("{pod}/{r}"), false));
        }
    }
    out
}

fn nr(kind: &str, field_specs: Vec<FieldSpec>) -> NameReference {
    NameReference {
        group: String::new(),
        version: String::new(),
        kind: kind.into(),
        field_specs,
    }
}

fn default_name_references() -> Vec<NameReference> {
    let fs = FieldSpec::new;
    let containers = ["containers", "initContainers", "ephemeralContainers"];
    let in_containers = |f: &str| -> Vec<String> { containers.iter().map(|c| format!("{c}/{f}")).collect() };

    let mut cm_rel: Vec<String> = vec!["volumes/configMap/name".into(), "volumes/projected/sources/configMap/name".into()];
    cm_rel.extend(in_containers("env/valueFrom/configMapKeyRef/name"));
    cm_rel.extend(in_containers("envFrom/configMapRef/name"));
    let config_map = pod_refs(&cm_rel.iter().map(String::as_str).collect::<Vec<_>>());

    let mut secret_rel: Vec<String> = vec![
        "volumes/secret/secretName".into(),
        "volumes/projected/sources/secret/name".into(),
        "imagePullSecrets/name".into(),
        "volumes/csi/nodePublishSecretRef/name".into(),
        "volumes/cephfs/secretRef/name".into(),
        "volumes/rbd/secretRef/name".into(),
    ];
    secret_rel.extend(in_containers("env/valueFrom/secretKeyRef/name"));
    secret_rel.extend(in_containers("envFrom/secretRef/name"));
    let mut secret = pod_refs(&secret_rel.iter().map(String::as_str).collect::<Vec<_>>());
    secret.extend([
        fs("ServiceAccount", "imagePullSecrets/name", false),
        fs("ServiceAccount", "secrets/name", false),
        fs("Ingress", "spec/tls/secretName", false),
        fs("StorageClass", "parameters/secretName", false),
    ]);

    let service = vec![
        fs("Ingress", "spec/rules/http/paths/backend/serviceName", false),
        fs("Ingress", "spec/backend/serviceName", false),
        fs("Ingress", "spec/rules/http/paths/backend/service/name", false),
        fs("Ingress", "spec/defaultBackend/service/name", false),
        fs("StatefulSet", "spec/serviceName", false),
        fs("APIService", "spec/service/name", false),
        fs("ValidatingWebhookConfiguration", "webhooks/clientConfig/service/name", false),
        fs("MutatingWebhookConfiguration", "webhooks/clientConfig/service/name", false),
    ];

    let mut service_account = pod_refs(&["serviceAccountName", "serviceAccount"]);
    service_account.extend([
        fs("RoleBinding", "subjects/name", false),
        fs("ClusterRoleBinding", "subjects/name", false),
    ]);

    let pvc = pod_refs(&["volumes/persistentVolumeClaim/claimName"]);
    let role = vec![fs("RoleBinding", "roleRef/name", false)];
    let cluster_role = vec![
        fs("RoleBinding", "roleRef/name", false),
        fs("ClusterRoleBinding", "roleRef/name", false),
    ];
    let scale_target = vec![fs("HorizontalPodAutoscaler", "spec/scaleTargetRef/name", false)];
    let priority = pod_refs(&["priorityClassName"]);
    let storage_class = vec![
        fs("PersistentVolume", "spec/storageClassName", false),
        fs("PersistentVolumeClaim", "spec/storageClassName", false),
        fs("StatefulSet", "spec/volumeClaimTemplates/spec/storageClassName", false),
    ];

    vec![
        nr("ConfigMap", config_map),
        nr("Secret", secret),
        nr("Service", service),
        nr("ServiceAccount", service_account),
        nr("PersistentVolumeClaim", pvc),
        nr("PersistentVolume", vec![fs("PersistentVolumeClaim", "spec/volumeName", false)]),
        nr("Role", role),
        nr("ClusterRole", cluster_role),
        nr("Deployment", scale_target.clone()),
        nr("StatefulSet", scale_target.clone()),
        nr("ReplicaSet", scale_target),
        nr("PriorityClass", priority),
        nr("StorageClass", storage_class),
    ]
}
