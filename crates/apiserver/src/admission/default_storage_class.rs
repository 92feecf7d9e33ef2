//! DefaultStorageClass: a PersistentVolumeClaim that names no storage class (the field
//! absent, not empty) gets the class annotated `storageclass.kubernetes.io/is-default-class`,
//! the newest one if several are.

use serde_json::{json, Value};

use super::{list, Admit, Operation, Plugin, Request, Review};

const ANNOTATIONS: [&str; 2] = [
    "storageclass.kubernetes.io~1is-default-class",
    "storageclass.beta.kubernetes.io~1is-default-class",
];

pub struct DefaultStorageClass;

impl Plugin for DefaultStorageClass {
    fn name(&self) -> &'static str {
        "DefaultStorageClass"
    }

    fn mutate<'a>(
        &'a self,
        request: &'a Request<'a>,
        claim: &'a mut Value,
        _review: &'a mut Review,
    ) -> Admit<'a> {
        Box::pin(async move {
            if request.operation != Operation::Create
                || !request.is("", "PersistentVolumeClaim")
                || claim
                    .pointer("/spec/storageClassName")
                    .is_some_and(|c| !c.is_null())
            {
                return Ok(());
            }
            let classes = list(request.store, "storage.k8s.io", "storageclasses", None).await?;
            let default = classes
                .iter()
                .map(|(_, class)| class)
                .filter(|class| {
                    ANNOTATIONS.iter().any(|a| {
                        class
                            .pointer(&format!("/metadata/annotations/{a}"))
                            .and_then(Value::as_str)
                            == Some("true")
                    })
                })
                .max_by(|a, b| {
                    let created = |c: &Value| {
                        c.pointer("/metadata/creationTimestamp")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string()
                    };
                    let name = |c: &Value| {
                        c.pointer("/metadata/name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string()
                    };
                    created(a)
                        .cmp(&created(b))
                        .then_with(|| name(b).cmp(&name(a)))
                });
            if let (Some(class), Some(spec)) = (
                default,
                claim.get_mut("spec").and_then(Value::as_object_mut),
            ) {
                spec.insert(
                    "storageClassName".into(),
                    json!(class.pointer("/metadata/name")),
                );
            }
            Ok(())
        })
    }
}
