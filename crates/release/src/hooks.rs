//! Chart hooks: templates annotated `helm.sh/hook` run at points of a release's life
//! (pre/post-install, -upgrade, -delete, -rollback, and `test`), ordered by
//! `helm.sh/hook-weight` then name, cleaned up by `helm.sh/hook-delete-policy`
//! (`before-hook-creation` by default, `hook-succeeded`, `hook-failed`). Jobs and Pods
//! are waited for until they finish.

use std::time::Instant;

use serde_json::Value;

use crate::kube::Kube;
use crate::record::{now, Hook};
use crate::Error;
use tug_chart::order::{sort_by_kind, Manifest};

pub const EVENTS: &[&str] = &[
    "pre-install",
    "post-install",
    "pre-delete",
    "post-delete",
    "pre-upgrade",
    "post-upgrade",
    "pre-rollback",
    "post-rollback",
    "test",
];

/// Hook records from the rendered hook manifests (already in install order).
pub fn from_manifests(manifests: &[Manifest]) -> Result<Vec<Hook>, Error> {
    let mut out = Vec::new();
    for m in manifests {
        let docs = tug_client::manifest::parse(&m.content, &m.source)
            .map_err(|e| Error::Release(e.to_string()))?;
        let Some(doc) = docs.into_iter().next() else {
            continue;
        };
        let ann = |k: &str| {
            doc.pointer("/metadata/annotations")
                .and_then(|a| a.get(k))
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_default()
        };
        let list = |s: String| -> Vec<String> {
            s.split(',')
                .map(|e| e.trim().to_string())
                .filter(|e| !e.is_empty())
                .collect()
        };
        let events: Vec<String> = list(ann("helm.sh/hook"))
            .into_iter()
            .map(|e| {
                if e == "test-success" {
                    "test".into()
                } else {
                    e
                }
            })
            .filter(|e| EVENTS.contains(&e.as_str()))
            .collect();
        let weight_text = ann("helm.sh/hook-weight");
        let weight = if weight_text.trim().is_empty() {
            0
        } else {
            weight_text.trim().parse().map_err(|_| {
                Error::Release(format!(
                    "{}: helm.sh/hook-weight must be an integer, not {weight_text:?}",
                    m.source
                ))
            })?
        };
        let mut delete_policies = list(ann("helm.sh/hook-delete-policy"));
        if let Some(bad) = delete_policies.iter().find(|p| {
            !matches!(
                p.as_str(),
                "before-hook-creation" | "hook-succeeded" | "hook-failed"
            )
        }) {
            return Err(Error::Release(format!(
                "{}: unknown helm.sh/hook-delete-policy {bad:?} (use before-hook-creation, hook-succeeded or hook-failed)",
                m.source
            )));
        }
        if delete_policies.is_empty() {
            delete_policies.push("before-hook-creation".into());
        }
        out.push(Hook {
            name: doc
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            kind: m.kind.clone(),
            path: m.source.clone(),
            manifest: m.content.clone(),
            events,
            last_run: Default::default(),
            weight,
            delete_policies,
        });
    }
    Ok(out)
}

/// The hooks of one event, in the order they run: install order by kind, then weight,
/// then name.
fn for_event(hooks: &[Hook], event: &str) -> Vec<usize> {
    let mut by_kind: Vec<Manifest> = hooks
        .iter()
        .enumerate()
        .filter(|(_, h)| h.events.iter().any(|e| e == event))
        .map(|(i, h)| Manifest {
            source: i.to_string(),
            content: String::new(),
            kind: h.kind.clone(),
            hook: None,
        })
        .collect();
    sort_by_kind(&mut by_kind);
    let mut idx: Vec<usize> = by_kind
        .iter()
        .filter_map(|m| m.source.parse().ok())
        .collect();
    idx.sort_by(|a, b| {
        (hooks[*a].weight, &hooks[*a].name).cmp(&(hooks[*b].weight, &hooks[*b].name))
    });
    idx
}

fn has_policy(h: &Hook, p: &str) -> bool {
    h.delete_policies.iter().any(|x| x == p)
}

/// Runs the hooks of `event` in `ns`, recording each one's last run; stops at the first
/// that fails.
pub async fn run(
    kube: &mut Kube,
    hooks: &mut [Hook],
    event: &str,
    ns: &str,
    deadline: Instant,
) -> Result<(), Error> {
    for i in for_event(hooks, event) {
        let objs = kube.objects(&hooks[i].manifest, ns).await?;
        let Some(obj) = objs.into_iter().next() else {
            continue;
        };
        if has_policy(&hooks[i], "before-hook-creation") {
            kube.delete_and_wait(&obj, deadline).await?;
        }
        hooks[i].last_run.started_at = now();
        hooks[i].last_run.completed_at = String::new();
        hooks[i].last_run.phase = "Running".into();
        kube.create(&obj).await.map_err(|e| {
            Error::Release(format!(
                "warning: Hook {event} {} failed: {e}",
                hooks[i].path
            ))
        })?;
        let outcome = kube.wait_hook(&obj, deadline).await?;
        hooks[i].last_run.completed_at = now();
        match outcome {
            Ok(()) => {
                hooks[i].last_run.phase = "Succeeded".into();
                if has_policy(&hooks[i], "hook-succeeded") {
                    kube.delete(&obj).await?;
                }
            }
            Err(why) => {
                hooks[i].last_run.phase = "Failed".into();
                if has_policy(&hooks[i], "hook-failed") {
                    kube.delete(&obj).await?;
                }
                return Err(Error::Release(format!(
                    "{event} hook {} failed: {}: {why}",
                    hooks[i].path,
                    obj.describe()
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(kind: &str, content: &str) -> Manifest {
        Manifest {
            source: format!("c/templates/{kind}.yaml"),
            content: content.into(),
            kind: kind.into(),
            hook: Some("x".into()),
        }
    }

    #[test]
    fn reads_events_weights_and_policies() {
        let hooks = from_manifests(&[
            m("Job", "kind: Job\nmetadata:\n  name: b\n  annotations:\n    helm.sh/hook: pre-install, post-upgrade,crd-install\n    helm.sh/hook-weight: \"-5\"\n"),
            m("ConfigMap", "kind: ConfigMap\nmetadata:\n  name: a\n  annotations:\n    helm.sh/hook: pre-install\n    helm.sh/hook-delete-policy: hook-succeeded,hook-failed\n"),
            m("Pod", "kind: Pod\nmetadata:\n  name: t\n  annotations:\n    helm.sh/hook: test-success\n"),
        ])
        .unwrap();
        assert_eq!(hooks[0].events, vec!["pre-install", "post-upgrade"]);
        assert_eq!(hooks[0].weight, -5);
        assert_eq!(hooks[0].delete_policies, vec!["before-hook-creation"]);
        assert_eq!(
            hooks[1].delete_policies,
            vec!["hook-succeeded", "hook-failed"]
        );
        assert_eq!(hooks[2].events, vec!["test"]);
        let order: Vec<&str> = for_event(&hooks, "pre-install")
            .into_iter()
            .map(|i| hooks[i].name.as_str())
            .collect();
        assert_eq!(order, vec!["b", "a"], "weight -5 runs before weight 0");
        let e = from_manifests(&[m(
            "Job",
            "kind: Job\nmetadata:\n  name: b\n  annotations:\n    helm.sh/hook: pre-install\n    helm.sh/hook-delete-policy: never\n",
        )])
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("unknown helm.sh/hook-delete-policy \"never\""),
            "{e}"
        );
    }
}
