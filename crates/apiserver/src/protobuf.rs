//! Kubernetes' protobuf encoding, for the kinds kubectl's typed clients
//! write with it (`kubectl create namespace|configmap|secret|serviceaccount|
//! token|role|rolebinding|clusterrole|clusterrolebinding|deployment`, `kubectl auth
//! whoami|can-i`): the `k8s\0` envelope around a `runtime.Unknown`, and the
//! fields of those kinds' messages, numbered as in the Kubernetes
//! `generated.proto` files. Other kinds answer 415, and clients that can send
//! JSON do so.

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::status::{ApiError, ApiResult};

/// How one message field becomes JSON.
enum Field {
    Str(&'static str),
    Int(&'static str),
    Bool(&'static str),
    StrList(&'static str),
    StrMap(&'static str),
    /// map<string, bytes>: JSON holds the values in base64.
    BytesMap(&'static str),
    Message(&'static str, Schema),
    /// A repeated message: a JSON list of objects.
    MessageList(&'static str, Schema),
}

type Schema = &'static [(u64, Field)];

const OBJECT_META: Schema = &[
    (1, Field::Str("name")),
    (2, Field::Str("generateName")),
    (3, Field::Str("namespace")),
    (5, Field::Str("uid")),
    (6, Field::Str("resourceVersion")),
    (7, Field::Int("generation")),
    (11, Field::StrMap("labels")),
    (12, Field::StrMap("annotations")),
    (14, Field::StrList("finalizers")),
];

const NAMESPACE: Schema = &[
    (1, Field::Message("metadata", OBJECT_META)),
    (
        2,
        Field::Message("spec", &[(1, Field::StrList("finalizers"))]),
    ),
    (3, Field::Message("status", &[(1, Field::Str("phase"))])),
];

const CONFIG_MAP: Schema = &[
    (1, Field::Message("metadata", OBJECT_META)),
    (2, Field::StrMap("data")),
    (3, Field::BytesMap("binaryData")),
    (4, Field::Bool("immutable")),
];

const SECRET: Schema = &[
    (1, Field::Message("metadata", OBJECT_META)),
    (2, Field::BytesMap("data")),
    (3, Field::Str("type")),
    (4, Field::StrMap("stringData")),
    (5, Field::Bool("immutable")),
];

const OBJECT_REFERENCE: Schema = &[
    (1, Field::Str("kind")),
    (2, Field::Str("namespace")),
    (3, Field::Str("name")),
    (4, Field::Str("uid")),
    (5, Field::Str("apiVersion")),
    (6, Field::Str("resourceVersion")),
    (7, Field::Str("fieldPath")),
];

const SERVICE_ACCOUNT: Schema = &[
    (1, Field::Message("metadata", OBJECT_META)),
    (2, Field::MessageList("secrets", OBJECT_REFERENCE)),
    (
        3,
        Field::MessageList("imagePullSecrets", &[(1, Field::Str("name"))]),
    ),
    (4, Field::Bool("automountServiceAccountToken")),
];

/// authentication.k8s.io/v1 TokenRequest (`kubectl create token`).
const TOKEN_REQUEST: Schema = &[
    (1, Field::Message("metadata", OBJECT_META)),
    (
        2,
        Field::Message(
            "spec",
            &[
                (1, Field::StrList("audiences")),
                (
                    3,
                    Field::Message(
                        "boundObjectRef",
                        &[
                            (1, Field::Str("kind")),
                            (2, Field::Str("apiVersion")),
                            (3, Field::Str("name")),
                            (4, Field::Str("uid")),
                        ],
                    ),
                ),
                (4, Field::Int("expirationSeconds")),
            ],
        ),
    ),
];

const POLICY_RULE: Schema = &[
    (1, Field::StrList("verbs")),
    (2, Field::StrList("apiGroups")),
    (3, Field::StrList("resources")),
    (4, Field::StrList("resourceNames")),
    (5, Field::StrList("nonResourceURLs")),
];

const LABEL_SELECTOR: Schema = &[
    (1, Field::StrMap("matchLabels")),
    (
        2,
        Field::MessageList(
            "matchExpressions",
            &[(1, Field::Str("key")), (2, Field::Str("operator")), (3, Field::StrList("values"))],
        ),
    ),
];

/// core/v1 Container: the fields `kubectl create deployment` sets (name, image, command, ports).
const CONTAINER: Schema = &[
    (1, Field::Str("name")),
    (2, Field::Str("image")),
    (3, Field::StrList("command")),
    (4, Field::StrList("args")),
    (5, Field::Str("workingDir")),
    (
        6,
        Field::MessageList(
            "ports",
            &[(1, Field::Str("name")), (2, Field::Int("hostPort")), (3, Field::Int("containerPort")), (4, Field::Str("protocol"))],
        ),
    ),
    (7, Field::MessageList("env", &[(1, Field::Str("name")), (2, Field::Str("value"))])),
    (14, Field::Str("imagePullPolicy")),
];

/// core/v1 PodTemplateSpec, with the pod spec fields a generated Deployment carries.
const POD_TEMPLATE_SPEC: Schema = &[
    (1, Field::Message("metadata", OBJECT_META)),
    (
        2,
        Field::Message(
            "spec",
            &[
                (2, Field::MessageList("containers", CONTAINER)),
                (3, Field::Str("restartPolicy")),
                (4, Field::Int("terminationGracePeriodSeconds")),
                (6, Field::Str("dnsPolicy")),
                (7, Field::StrMap("nodeSelector")),
                (8, Field::Str("serviceAccountName")),
            ],
        ),
    ),
];

/// apps/v1 Deployment (`kubectl create deployment`).
const DEPLOYMENT: Schema = &[
    (1, Field::Message("metadata", OBJECT_META)),
    (
        2,
        Field::Message(
            "spec",
            &[
                (1, Field::Int("replicas")),
                (2, Field::Message("selector", LABEL_SELECTOR)),
                (3, Field::Message("template", POD_TEMPLATE_SPEC)),
                (4, Field::Message("strategy", &[(1, Field::Str("type"))])),
                (5, Field::Int("minReadySeconds")),
                (6, Field::Int("revisionHistoryLimit")),
                (7, Field::Bool("paused")),
                (9, Field::Int("progressDeadlineSeconds")),
            ],
        ),
    ),
];

/// rbac.authorization.k8s.io/v1 Role and ClusterRole.
const ROLE: Schema = &[
    (1, Field::Message("metadata", OBJECT_META)),
    (2, Field::MessageList("rules", POLICY_RULE)),
    (
        3,
        Field::Message("aggregationRule", &[(1, Field::MessageList("clusterRoleSelectors", LABEL_SELECTOR))]),
    ),
];

/// rbac.authorization.k8s.io/v1 RoleBinding and ClusterRoleBinding.
const BINDING: Schema = &[
    (1, Field::Message("metadata", OBJECT_META)),
    (
        2,
        Field::MessageList(
            "subjects",
            &[(1, Field::Str("kind")), (2, Field::Str("apiGroup")), (3, Field::Str("name")), (4, Field::Str("namespace"))],
        ),
    ),
    (
        3,
        Field::Message("roleRef", &[(1, Field::Str("apiGroup")), (2, Field::Str("kind")), (3, Field::Str("name"))]),
    ),
];

const RESOURCE_ATTRIBUTES: Schema = &[
    (1, Field::Str("namespace")),
    (2, Field::Str("verb")),
    (3, Field::Str("group")),
    (4, Field::Str("version")),
    (5, Field::Str("resource")),
    (6, Field::Str("subresource")),
    (7, Field::Str("name")),
];

const NON_RESOURCE_ATTRIBUTES: Schema = &[(1, Field::Str("path")), (2, Field::Str("verb"))];

/// authorization.k8s.io/v1 SubjectAccessReview, LocalSubjectAccessReview and
/// SelfSubjectAccessReview (whose spec has only the first two fields).
const ACCESS_REVIEW: Schema = &[
    (1, Field::Message("metadata", OBJECT_META)),
    (
        2,
        Field::Message(
            "spec",
            &[
                (1, Field::Message("resourceAttributes", RESOURCE_ATTRIBUTES)),
                (2, Field::Message("nonResourceAttributes", NON_RESOURCE_ATTRIBUTES)),
                (3, Field::Str("user")),
                (4, Field::StrList("groups")),
                (6, Field::Str("uid")),
            ],
        ),
    ),
];

/// authentication.k8s.io/v1 TokenReview.
const TOKEN_REVIEW: Schema = &[
    (1, Field::Message("metadata", OBJECT_META)),
    (
        2,
        Field::Message(
            "spec",
            &[(1, Field::Str("token")), (2, Field::StrList("audiences"))],
        ),
    ),
];

/// authentication.k8s.io/v1 SelfSubjectReview (`kubectl auth whoami`): only metadata is sent.
const SELF_SUBJECT_REVIEW: Schema = &[(1, Field::Message("metadata", OBJECT_META))];

const RULES_REVIEW: Schema = &[
    (1, Field::Message("metadata", OBJECT_META)),
    (2, Field::Message("spec", &[(1, Field::Str("namespace"))])),
];

/// Decodes a protobuf-encoded object body into its JSON form.
pub fn decode(bytes: &[u8]) -> ApiResult<Value> {
    let bad = |why: &str| ApiError::bad_request(format!("error decoding protobuf: {why}"));
    let unknown = bytes
        .strip_prefix(b"k8s\0")
        .ok_or_else(|| bad("missing the k8s envelope"))?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (number, value) in fields(unknown).map_err(|e| bad(&e))? {
        match (number, value) {
            (1, Wire::Bytes(type_meta)) => {
                for (n, v) in fields(type_meta).map_err(|e| bad(&e))? {
                    match (n, v) {
                        (1, Wire::Bytes(s)) => {
                            api_version = String::from_utf8_lossy(s).into_owned()
                        }
                        (2, Wire::Bytes(s)) => kind = String::from_utf8_lossy(s).into_owned(),
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(r)) => raw = r,
            _ => {}
        }
    }
    let schema = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => NAMESPACE,
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("v1", "Secret") => SECRET,
        ("v1", "ServiceAccount") => SERVICE_ACCOUNT,
        ("authentication.k8s.io/v1", "TokenRequest") => TOKEN_REQUEST,
        ("authentication.k8s.io/v1", "TokenReview") => TOKEN_REVIEW,
        ("authentication.k8s.io/v1", "SelfSubjectReview") => SELF_SUBJECT_REVIEW,
        ("rbac.authorization.k8s.io/v1", "Role" | "ClusterRole") => ROLE,
        ("rbac.authorization.k8s.io/v1", "RoleBinding" | "ClusterRoleBinding") => BINDING,
        (
            "authorization.k8s.io/v1",
            "SubjectAccessReview" | "LocalSubjectAccessReview" | "SelfSubjectAccessReview",
        ) => ACCESS_REVIEW,
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => RULES_REVIEW,
        ("apps/v1", "Deployment") => DEPLOYMENT,
        _ => {
            return Err(ApiError::unsupported_media_type(&format!(
                "application/vnd.kubernetes.protobuf ({api_version} {kind}; send JSON)"
            )))
        }
    };
    let mut object = message(raw, schema).map_err(|e| bad(&e))?;
    object.insert("apiVersion".into(), json!(api_version));
    object.insert("kind".into(), json!(kind));
    Ok(Value::Object(object))
}

fn message(bytes: &[u8], schema: Schema) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for (number, value) in fields(bytes)? {
        let Some((_, field)) = schema.iter().find(|(n, _)| *n == number) else {
            continue;
        };
        match (field, value) {
            // Go writes unset (empty) strings too; JSON omits them, and defaulting fills them.
            (Field::Str(_), Wire::Bytes([])) => {}
            (Field::Str(name), Wire::Bytes(b)) => {
                out.insert((*name).into(), json!(text(b)?));
            }
            (Field::Int(name), Wire::Varint(v)) => {
                out.insert((*name).into(), json!(v as i64));
            }
            (Field::Bool(name), Wire::Varint(v)) => {
                out.insert((*name).into(), json!(v != 0));
            }
            (Field::StrList(name), Wire::Bytes(b)) => {
                let list = out.entry(*name).or_insert_with(|| json!([]));
                if let Value::Array(items) = list {
                    items.push(json!(text(b)?));
                }
            }
            (Field::StrMap(name) | Field::BytesMap(name), Wire::Bytes(entry)) => {
                let (mut key, mut value) = (String::new(), Vec::new());
                for (n, v) in fields(entry)? {
                    match (n, v) {
                        (1, Wire::Bytes(k)) => key = text(k)?,
                        (2, Wire::Bytes(v)) => value = v.to_vec(),
                        _ => {}
                    }
                }
                let value = match field {
                    Field::BytesMap(_) => base64::engine::general_purpose::STANDARD.encode(&value),
                    _ => text(&value)?,
                };
                if let Value::Object(map) = out.entry(*name).or_insert_with(|| json!({})) {
                    map.insert(key, json!(value));
                }
            }
            (Field::Message(name, inner), Wire::Bytes(b)) => {
                out.insert((*name).into(), Value::Object(message(b, inner)?));
            }
            (Field::MessageList(name, inner), Wire::Bytes(b)) => {
                let item = Value::Object(message(b, inner)?);
                if let Value::Array(items) = out.entry(*name).or_insert_with(|| json!([])) {
                    items.push(item);
                }
            }
            _ => return Err(format!("field {number} has an unexpected wire type")),
        }
    }
    Ok(out)
}

fn text(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| "a string field is not UTF-8".to_string())
}

/// A field's value on the wire.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// The (field number, value) pairs of a message.
fn fields(mut bytes: &[u8]) -> Result<Vec<(u64, Wire<'_>)>, String> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let tag = varint(&mut bytes)?;
        let value = match tag & 7 {
            0 => Wire::Varint(varint(&mut bytes)?),
            2 => {
                let len = usize::try_from(varint(&mut bytes)?)
                    .map_err(|_| "length overflows".to_string())?;
                if len > bytes.len() {
                    return Err("a field runs past the end of the message".into());
                }
                let (field, rest) = bytes.split_at(len);
                bytes = rest;
                Wire::Bytes(field)
            }
            wire @ (1 | 5) => {
                let len = if wire == 1 { 8 } else { 4 };
                bytes = bytes
                    .get(len..)
                    .ok_or("a fixed-size field runs past the end")?;
                Wire::Fixed
            }
            other => return Err(format!("unsupported wire type {other}")),
        };
        out.push((tag >> 3, value));
    }
    Ok(out)
}

fn varint(bytes: &mut &[u8]) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first().ok_or("a varint runs past the end")?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("a varint is too long".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn a_configmap_decodes_from_its_envelope() {
        let meta = [
            field(1, b"cfg"),
            field(11, &[field(1, b"app"), field(2, b"web")].concat()),
        ]
        .concat();
        let object = [
            field(1, &meta),
            field(2, &[field(1, b"k"), field(2, b"v")].concat()),
        ]
        .concat();
        let type_meta = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &type_meta), field(2, &object)].concat();
        let value = decode(&body).unwrap();
        assert_eq!(
            value,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "labels": {"app": "web"}}, "data": {"k": "v"}})
        );
    }

    #[test]
    fn a_deployment_decodes_with_its_template() {
        let labels = field(11, &[field(1, b"app"), field(2, b"web")].concat());
        let container = [field(1, b"busybox"), field(2, b"busybox"), field(3, b"sleep"), field(3, b"3600")].concat();
        let template = [field(1, &labels), field(2, &field(2, &container))].concat();
        let selector = field(1, &[field(1, b"app"), field(2, b"web")].concat());
        let spec = [vec![1 << 3, 3], field(2, &selector), field(3, &template), field(4, &field(1, b""))].concat();
        let object = [field(1, &[field(1, b"web"), labels.clone()].concat()), field(2, &spec), field(3, &[])].concat();
        let type_meta = [field(1, b"apps/v1"), field(2, b"Deployment")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &type_meta), field(2, &object)].concat();
        assert_eq!(
            decode(&body).unwrap(),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
                "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "strategy": {},
                    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "busybox", "image": "busybox", "command": ["sleep", "3600"]}]}}}})
        );
    }

    #[test]
    fn other_kinds_are_unsupported_media() {
        let type_meta = [field(1, b"apps/v1"), field(2, b"StatefulSet")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &type_meta)].concat();
        assert_eq!(decode(&body).unwrap_err().code, 415);
        assert_eq!(decode(b"nope").unwrap_err().code, 400);
    }
}
