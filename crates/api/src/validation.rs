//! Validation with field paths, as the Kubernetes API server reports it:
//! every problem is a [`FieldError`] naming the field (`metadata.name`,
//! `spec.template.spec.containers[0].image`), which the API server turns into
//! a 422 Invalid Status with one cause per error.

use serde_json::{Map, Value};

use crate::ResourceType;

mod apps;
mod policy;
mod stateful;

/// What is wrong with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    Invalid,
    Required,
    NotSupported,
    Duplicate,
    Forbidden,
}

impl ErrorType {
    /// The `reason` of a Status cause.
    pub fn reason(self) -> &'static str {
        match self {
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::Required => "FieldValueRequired",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::Forbidden => "FieldValueForbidden",
        }
    }
}

/// One invalid field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub kind: ErrorType,
    /// The value at fault, as Kubernetes prints it (quoted strings); empty for Required.
    pub value: String,
    pub detail: String,
}

impl FieldError {
    fn invalid(field: impl Into<String>, value: &Value, detail: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            kind: ErrorType::Invalid,
            value: value.to_string(),
            detail: detail.into(),
        }
    }

    fn required(field: impl Into<String>, detail: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            kind: ErrorType::Required,
            value: String::new(),
            detail: detail.into(),
        }
    }

    /// The cause message without the field: `Invalid value: "x": detail`.
    pub fn message(&self) -> String {
        let head = match self.kind {
            ErrorType::Invalid => format!("Invalid value: {}", self.value),
            ErrorType::Required => "Required value".to_string(),
            ErrorType::NotSupported => format!("Unsupported value: {}", self.value),
            ErrorType::Duplicate => format!("Duplicate value: {}", self.value),
            ErrorType::Forbidden => "Forbidden".to_string(),
        };
        if self.detail.is_empty() {
            head
        } else {
            format!("{head}: {}", self.detail)
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message())
    }
}

/// What an update may not change: the contents of a ConfigMap or Secret marked
/// `immutable: true` (nor the mark itself). An empty answer means allowed.
pub fn validate_update(rt: &ResourceType, old: &Value, new: &Value) -> Vec<FieldError> {
    let sealed = rt.group.is_empty() && matches!(rt.plural, "configmaps" | "secrets") && old.get("immutable") == Some(&Value::Bool(true));
    if !sealed {
        return Vec::new();
    }
    let fields: &[&str] = if rt.plural == "secrets" { &["data", "type", "immutable"] } else { &["data", "binaryData", "immutable"] };
    fields
        .iter()
        .filter(|f| old.get(**f) != new.get(**f))
        .map(|f| FieldError {
            field: (*f).to_string(),
            kind: ErrorType::Forbidden,
            value: String::new(),
            detail: "field is immutable when `immutable` is set".into(),
        })
        .collect()
}

/// Validates an object of type `rt` (after defaulting). An empty answer means valid.
pub fn validate(rt: &ResourceType, object: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let empty = Map::new();
    let meta = object
        .get("metadata")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    metadata(rt, meta, &mut errors);
    let spec = object
        .get("spec")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    match (rt.group, rt.kind) {
        ("", "Pod") => pod_spec(spec, "spec", &mut errors),
        ("", "Service") => service_spec(spec, &mut errors),
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => {
            workload(spec, true, &mut errors);
            stateful::apps(rt.kind, spec, &mut errors);
        }
        ("", "ReplicationController") => workload(spec, false, &mut errors),
        ("batch", "Job") => stateful::job(spec, "spec", &mut errors),
        ("batch", "CronJob") => stateful::cron_job(spec, &mut errors),
        ("", "ResourceQuota") => policy::resource_quota(spec, &mut errors),
        ("", "LimitRange") => policy::limit_range(spec, &mut errors),
        _ => {}
    }
    if rt.group == "apps" {
        apps::validate(rt.kind, spec, &mut errors);
    }
    errors
}

fn metadata(rt: &ResourceType, meta: &Map<String, Value>, errors: &mut Vec<FieldError>) {
    match meta.get("name") {
        Some(Value::String(name)) if !name.is_empty() => {
            let problem = match rt.kind {
                "Namespace" => dns1123_label(name),
                "Service" => dns1035_label(name),
                "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => path_segment(name),
                _ => dns1123_subdomain(name),
            };
            if let Some(detail) = problem {
                errors.push(FieldError::invalid(
                    "metadata.name",
                    &Value::String(name.clone()),
                    detail,
                ));
            }
        }
        _ => errors.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        )),
    }
    if let Some(Value::Object(labels)) = meta.get("labels") {
        label_map(labels, "metadata.labels", errors);
    }
    if let Some(Value::Object(annotations)) = meta.get("annotations") {
        for key in annotations.keys() {
            if let Some(detail) = qualified_name(key) {
                errors.push(FieldError::invalid(
                    "metadata.annotations",
                    &Value::String(key.clone()),
                    detail,
                ));
            }
        }
        let size: usize = annotations
            .iter()
            .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
            .sum();
        if size > 256 * 1024 {
            errors.push(FieldError {
                field: "metadata.annotations".into(),
                kind: ErrorType::Invalid,
                value: String::new(),
                detail: "must have at most 262144 bytes".into(),
            });
        }
    }
}

/// Checks label keys and values.
fn label_map(labels: &Map<String, Value>, field: &str, errors: &mut Vec<FieldError>) {
    for (key, value) in labels {
        if let Some(detail) = qualified_name(key) {
            errors.push(FieldError::invalid(
                field,
                &Value::String(key.clone()),
                detail,
            ));
        }
        let value_str = value.as_str().unwrap_or_default();
        if let Some(detail) = label_value(value_str) {
            errors.push(FieldError::invalid(field, value, detail));
        }
    }
}

/// Workloads with a selector and a pod template: the selector must select the template.
fn workload(spec: &Map<String, Value>, required_selector: bool, errors: &mut Vec<FieldError>) {
    let labels = spec
        .get("template")
        .and_then(|t| t.get("metadata"))
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object);
    match spec.get("selector") {
        None | Some(Value::Null) if required_selector => {
            errors.push(FieldError::required("spec.selector", ""))
        }
        None | Some(Value::Null) => {}
        Some(selector) => {
            let matches = match required_selector {
                true => selector_matches(selector, labels),
                false => selector.as_object().is_some_and(|s| {
                    s.iter()
                        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
                }),
            };
            let empty = required_selector
                && selector
                    .get("matchLabels")
                    .and_then(Value::as_object)
                    .is_none_or(Map::is_empty)
                && selector
                    .get("matchExpressions")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty);
            if empty {
                errors.push(FieldError::invalid(
                    "spec.selector",
                    selector,
                    "empty selector is invalid for deployment",
                ));
            } else if !matches {
                let shown = Value::Object(labels.cloned().unwrap_or_default());
                errors.push(FieldError::invalid(
                    "spec.template.metadata.labels",
                    &shown,
                    "`selector` does not match template `labels`",
                ));
            }
        }
    }
    template(spec, "spec.template", errors);
}

fn template(spec: &Map<String, Value>, path: &str, errors: &mut Vec<FieldError>) {
    let template = spec.get("template");
    if let Some(Value::Object(labels)) = template
        .and_then(|t| t.get("metadata"))
        .and_then(|m| m.get("labels"))
    {
        label_map(labels, &format!("{path}.metadata.labels"), errors);
    }
    match template
        .and_then(|t| t.get("spec"))
        .and_then(Value::as_object)
    {
        Some(pod) => pod_spec(pod, &format!("{path}.spec"), errors),
        None => errors.push(FieldError::required(format!("{path}.spec.containers"), "")),
    }
}

/// Whether a LabelSelector (matchLabels and matchExpressions) selects `labels`.
fn selector_matches(selector: &Value, labels: Option<&Map<String, Value>>) -> bool {
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    let match_labels = selector.get("matchLabels").and_then(Value::as_object);
    let labels_ok = match_labels.is_none_or(|m| m.iter().all(|(k, v)| get(k) == v.as_str()));
    let expressions = selector.get("matchExpressions").and_then(Value::as_array);
    let exprs_ok = expressions.is_none_or(|exprs| {
        exprs.iter().all(|e| {
            let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match e.get("operator").and_then(Value::as_str) {
                Some("In") => get(key).is_some_and(|v| values.contains(&v)),
                Some("NotIn") => get(key).is_none_or(|v| !values.contains(&v)),
                Some("Exists") => get(key).is_some(),
                Some("DoesNotExist") => get(key).is_none(),
                _ => false,
            }
        })
    });
    labels_ok && exprs_ok
}

fn pod_spec(spec: &Map<String, Value>, path: &str, errors: &mut Vec<FieldError>) {
    match spec.get("containers").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => {}
        _ => errors.push(FieldError::required(format!("{path}.containers"), "")),
    }
    for list in ["initContainers", "containers"] {
        let Some(containers) = spec.get(list).and_then(Value::as_array) else {
            continue;
        };
        let mut names = Vec::new();
        for (i, c) in containers.iter().enumerate() {
            let at = format!("{path}.{list}[{i}]");
            match c.get("name").and_then(Value::as_str) {
                Some(name) if !name.is_empty() => {
                    if let Some(detail) = dns1123_label(name) {
                        errors.push(FieldError::invalid(
                            format!("{at}.name"),
                            &c["name"],
                            detail,
                        ));
                    } else if names.contains(&name) {
                        errors.push(FieldError {
                            field: format!("{at}.name"),
                            kind: ErrorType::Duplicate,
                            value: c["name"].to_string(),
                            detail: String::new(),
                        });
                    }
                    names.push(name);
                }
                _ => errors.push(FieldError::required(format!("{at}.name"), "")),
            }
            if c.get("image")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                errors.push(FieldError::required(format!("{at}.image"), ""));
            }
            for (j, port) in c
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let value = port.get("containerPort").cloned().unwrap_or(Value::Null);
                if !value.as_i64().is_some_and(|p| (1..=65535).contains(&p)) {
                    errors.push(FieldError::invalid(
                        format!("{at}.ports[{j}].containerPort"),
                        &value,
                        "must be between 1 and 65535, inclusive",
                    ));
                }
            }
        }
    }
}

fn service_spec(spec: &Map<String, Value>, errors: &mut Vec<FieldError>) {
    let ports = spec
        .get("ports")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let kind = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    if !["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(&kind) {
        errors.push(FieldError {
            field: "spec.type".into(),
            kind: ErrorType::NotSupported,
            value: spec["type"].to_string(),
            detail:
                "supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""
                    .into(),
        });
    }
    if ports.is_empty()
        && kind != "ExternalName"
        && spec.get("clusterIP").and_then(Value::as_str) != Some("None")
    {
        errors.push(FieldError::required("spec.ports", ""));
    }
    for (i, port) in ports.iter().enumerate() {
        let value = port.get("port").cloned().unwrap_or(Value::Null);
        if !value.as_i64().is_some_and(|p| (1..=65535).contains(&p)) {
            errors.push(FieldError::invalid(
                format!("spec.ports[{i}].port"),
                &value,
                "must be between 1 and 65535, inclusive",
            ));
        }
        if ports.len() > 1
            && port
                .get("name")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            errors.push(FieldError::required(format!("spec.ports[{i}].name"), ""));
        }
    }
}

const LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";

/// `Some(why)` unless `s` is an RFC 1123 label.
pub fn dns1123_label(s: &str) -> Option<String> {
    if s.len() > 63 {
        return Some("must be no more than 63 characters".into());
    }
    (!is_label(s)).then(|| format!("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '{LABEL_FMT}')"))
}

/// `Some(why)` unless `s` is an RFC 1035 label (a 1123 label that starts with a letter).
pub fn dns1035_label(s: &str) -> Option<String> {
    if s.len() > 63 {
        return Some("must be no more than 63 characters".into());
    }
    let ok = is_label(s) && s.starts_with(|c: char| c.is_ascii_lowercase());
    (!ok).then(|| "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".to_string())
}

/// `Some(why)` unless `s` is an RFC 1123 subdomain.
pub fn dns1123_subdomain(s: &str) -> Option<String> {
    if s.len() > 253 {
        return Some("must be no more than 253 characters".into());
    }
    (!s.split('.').all(is_label)).then(|| format!("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '{LABEL_FMT}(\\.{LABEL_FMT})*')"))
}

fn path_segment(s: &str) -> Option<String> {
    if s == "." || s == ".." {
        return Some(format!("may not be '{s}'"));
    }
    s.contains(['/', '%']).then(|| {
        format!(
            "may not contain '{}'",
            if s.contains('/') { '/' } else { '%' }
        )
    })
}

fn is_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// A label value or the name part of a qualified name: `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`.
fn is_name_part(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
}

/// `Some(why)` unless `key` is a qualified name (`[prefix/]name`), as label and annotation keys are.
pub fn qualified_name(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if let Some(why) = dns1123_subdomain(prefix) {
            return Some(format!("prefix part {why}"));
        }
    }
    if name.len() > 63 {
        return Some("name part must be no more than 63 characters".into());
    }
    (!is_name_part(name)).then(|| "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')".to_string())
}

/// `Some(why)` unless `value` is a valid label value.
pub fn label_value(value: &str) -> Option<String> {
    if value.len() > 63 {
        return Some("must be no more than 63 characters".into());
    }
    (!value.is_empty() && !is_name_part(value)).then(|| "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')".to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::registry::by_kind;

    fn fields(kind: (&str, &str), object: Value) -> Vec<String> {
        validate(by_kind(kind.0, kind.1).unwrap(), &object)
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn names_follow_the_rule_of_their_kind() {
        assert_eq!(
            fields(("v1", "ConfigMap"), json!({"metadata": {"name": "a.b-c"}})),
            Vec::<String>::new()
        );
        assert_eq!(
            fields(
                ("v1", "ConfigMap"),
                json!({"metadata": {"name": "Bad_Name"}})
            ),
            vec!["metadata.name"]
        );
        assert_eq!(
            fields(("v1", "Namespace"), json!({"metadata": {"name": "a.b"}})),
            vec!["metadata.name"]
        );
        assert_eq!(
            fields(("v1", "ConfigMap"), json!({"metadata": {}})),
            vec!["metadata.name"]
        );
        assert!(fields(
            ("rbac.authorization.k8s.io/v1", "ClusterRole"),
            json!({"metadata": {"name": "system:admin"}})
        )
        .is_empty());
    }

    #[test]
    fn labels_are_checked_by_key_and_value() {
        let errors = fields(
            ("v1", "ConfigMap"),
            json!({"metadata": {"name": "a", "labels": {"ok/k": "v", "bad key": "v", "k": "-bad"}}}),
        );
        assert_eq!(errors, vec!["metadata.labels", "metadata.labels"]);
        assert!(qualified_name("app.kubernetes.io/name").is_none());
    }

    #[test]
    fn deployment_selector_must_match_template_labels() {
        let d = json!({"metadata": {"name": "d"}, "spec": {
            "selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        assert_eq!(
            fields(("apps/v1", "Deployment"), d),
            vec!["spec.template.metadata.labels"]
        );
    }

    #[test]
    fn containers_need_a_name_and_an_image() {
        let p = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}, {"image": "i"}]}});
        assert_eq!(
            fields(("v1", "Pod"), p),
            vec!["spec.containers[0].image", "spec.containers[1].name"]
        );
    }

    #[test]
    fn messages_read_as_kubernetes_prints_them() {
        let e = &validate(
            by_kind("v1", "ConfigMap").unwrap(),
            &json!({"metadata": {"name": "A"}}),
        )[0];
        assert!(
            e.to_string()
                .starts_with("metadata.name: Invalid value: \"A\": a lowercase RFC 1123 subdomain"),
            "{e}"
        );
    }
}
