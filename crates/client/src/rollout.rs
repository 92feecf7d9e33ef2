//! `rollout status|history|undo|pause|resume|restart` and `autoscale`, as kubectl does them
//! for Deployments: status reads the Deployment's status and conditions until the rollout
//! finishes (one line per change, kubectl's wording); history and undo read the
//! Deployment's ReplicaSets and their `deployment.kubernetes.io/revision` annotations; an
//! undo writes the chosen set's pod template back into the Deployment (a client-side
//! patch, as kubectl's); pause, resume and restart are patches.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::{ListOptions, PatchType};
use crate::error::{Error, Result};
use crate::resources::ResourceInfo;
use crate::session::Session;

const REVISION: &str = "deployment.kubernetes.io/revision";
const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";
const TEMPLATE_HASH: &str = "pod-template-hash";

/// The one Deployment a rollout command is about, from `TYPE NAME` or `TYPE/NAME`.
async fn target(s: &mut Session, args: &[String]) -> Result<(ResourceInfo, String)> {
    let targets = crate::session::parse_targets(&mut s.resolver, args).await?;
    let [(ri, names)] = targets.as_slice() else {
        return Err(Error::client("exactly one resource type is required, e.g. deployment/web"));
    };
    let [name] = names.as_slice() else {
        return Err(Error::client("exactly one resource name is required"));
    };
    if (ri.group.as_str(), ri.kind.as_str()) != ("apps", "Deployment") {
        return Err(Error::client(format!("no rollout support for {}: tug rollout works on deployments", ri.kind_group())));
    }
    Ok((ri.clone(), name.clone()))
}

fn str_at<'a>(v: &'a Value, path: &str) -> &'a str {
    v.pointer(path).and_then(Value::as_str).unwrap_or("")
}

fn int_at(v: &Value, path: &str) -> i64 {
    v.pointer(path).and_then(Value::as_i64).unwrap_or(0)
}

/// kubectl's verdict on a Deployment's rollout: `Ok(Some(line))` still going, `Ok(None)`
/// with `done` set when finished.
pub fn status_line(d: &Value) -> Result<(String, bool)> {
    let name = str_at(d, "/metadata/name");
    if int_at(d, "/metadata/generation") > int_at(d, "/status/observedGeneration") {
        return Ok(("Waiting for deployment spec update to be observed...".into(), false));
    }
    let progressing = d
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Progressing"));
    if progressing.is_some_and(|c| c["reason"] == "ProgressDeadlineExceeded") {
        return Err(Error::client(format!("deployment {name:?} exceeded its progress deadline")));
    }
    let want = d.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let updated = int_at(d, "/status/updatedReplicas");
    let replicas = int_at(d, "/status/replicas");
    let available = int_at(d, "/status/availableReplicas");
    Ok(if updated < want {
        (format!("Waiting for deployment {name:?} rollout to finish: {updated} out of {want} new replicas have been updated..."), false)
    } else if replicas > updated {
        (format!("Waiting for deployment {name:?} rollout to finish: {} old replicas are pending termination...", replicas - updated), false)
    } else if available < updated {
        (format!("Waiting for deployment {name:?} rollout to finish: {available} of {updated} updated replicas are available..."), false)
    } else {
        (format!("deployment {name:?} successfully rolled out"), true)
    })
}

impl Session {
    /// `rollout status`: prints each new state until the rollout is done (or once, without `watch`).
    pub async fn rollout_status(&mut self, args: &[String], watch: bool, timeout: Option<Duration>, out: &mut dyn FnMut(&str)) -> Result<()> {
        let (ri, name) = target(self, args).await?;
        let ns = self.namespace.clone();
        let started = Instant::now();
        let mut last = String::new();
        loop {
            let d = self.conn.get(&ri, Some(&ns), &name).await?;
            let (line, done) = status_line(&d)?;
            if line != last {
                out(&line);
                last = line;
            }
            if done || !watch {
                return Ok(());
            }
            if timeout.is_some_and(|t| started.elapsed() > t) {
                return Err(Error::client("timed out waiting for the condition"));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The Deployment's ReplicaSets (those it controls), by revision.
    async fn revisions(&mut self, d: &Value) -> Result<Vec<(i64, Value)>> {
        let uid = str_at(d, "/metadata/uid");
        let rs_ri = self.resolver.resolve("replicasets.apps").await?;
        let ns = self.namespace.clone();
        let list = self.conn.list(&rs_ri, Some(&ns), &ListOptions::default()).await?;
        let mut sets: Vec<(i64, Value)> = list["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|rs| {
                rs.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid && r["controller"] == true))
            })
            .filter_map(|rs| {
                let revision = str_at(&rs, &format!("/metadata/annotations/{}", REVISION.replace('/', "~1"))).parse().ok()?;
                Some((revision, rs))
            })
            .collect();
        sets.sort_by_key(|(r, _)| *r);
        Ok(sets)
    }

    /// `rollout history [--revision N]`.
    pub async fn rollout_history(&mut self, args: &[String], revision: Option<i64>) -> Result<String> {
        let (ri, name) = target(self, args).await?;
        let ns = self.namespace.clone();
        let d = self.conn.get(&ri, Some(&ns), &name).await?;
        let sets = self.revisions(&d).await?;
        let heading = format!("{}/{name}", ri.kind_group());
        match revision {
            Some(n) => {
                let (_, rs) = sets.iter().find(|(r, _)| *r == n).ok_or_else(|| Error::client(format!("unable to find the specified revision {n}")))?;
                let template = pod_template(rs);
                let yaml = crate::yaml::document(&template);
                Ok(format!("{heading} with revision #{n}\nPod Template:\n{}", indent(&yaml)))
            }
            None => {
                let mut text = format!("{heading} \nREVISION  CHANGE-CAUSE\n");
                for (r, rs) in &sets {
                    let cause = rs.pointer(&format!("/metadata/annotations/{}", CHANGE_CAUSE.replace('/', "~1"))).and_then(Value::as_str).unwrap_or("<none>");
                    text.push_str(&format!("{:<10}{cause}\n", r));
                }
                Ok(text)
            }
        }
    }

    /// `rollout undo [--to-revision N]`: the revision's template back into the Deployment.
    pub async fn rollout_undo(&mut self, args: &[String], to_revision: i64) -> Result<String> {
        let (ri, name) = target(self, args).await?;
        let ns = self.namespace.clone();
        let d = self.conn.get(&ri, Some(&ns), &name).await?;
        if d.pointer("/spec/paused") == Some(&json!(true)) {
            return Err(Error::client(format!("you cannot rollback a paused deployment; resume it first with 'tug rollout resume {}/{name}' and try again", ri.kind_group())));
        }
        let sets = self.revisions(&d).await?;
        let chosen = if to_revision == 0 {
            // The previous revision: the highest below the current one.
            sets.iter().rev().nth(1)
        } else {
            sets.iter().find(|(r, _)| *r == to_revision)
        };
        let Some((revision, rs)) = chosen else {
            return Err(Error::client(if to_revision == 0 { "no rollout history found for deployment".to_string() } else { format!("unable to find specified revision {to_revision} in history") }));
        };
        let template = pod_template(rs);
        if d.pointer("/spec/template") == Some(&template) {
            return Ok(format!("{}/{name} skipped rollback (current template already matches revision {revision})", ri.kind_group()));
        }
        let patch = json!([{"op": "replace", "path": "/spec/template", "value": template}]);
        self.conn.patch(&ri, Some(&ns), &name, PatchType::Json, &patch).await?;
        Ok(format!("{}/{name} rolled back", ri.kind_group()))
    }

    /// `rollout pause` / `rollout resume`.
    pub async fn rollout_pause(&mut self, args: &[String], pause: bool) -> Result<String> {
        let (ri, name) = target(self, args).await?;
        let ns = self.namespace.clone();
        let d = self.conn.get(&ri, Some(&ns), &name).await?;
        let word = if pause { "paused" } else { "resumed" };
        if d.pointer("/spec/paused").and_then(Value::as_bool).unwrap_or(false) == pause {
            let state = if pause { "paused" } else { "not paused" };
            return Err(Error::client(format!("{}/{name} is already {state}", ri.kind_group())));
        }
        let patch = json!({"spec": {"paused": pause}});
        self.conn.patch(&ri, Some(&ns), &name, PatchType::Merge, &patch).await?;
        Ok(format!("{}/{name} {word}", ri.kind_group()))
    }

    /// `rollout restart`: a new template annotation, so every pod is replaced.
    pub async fn rollout_restart(&mut self, args: &[String]) -> Result<String> {
        let (ri, name) = target(self, args).await?;
        let ns = self.namespace.clone();
        let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let patch = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": now}}}}});
        self.conn.patch(&ri, Some(&ns), &name, PatchType::Strategic, &patch).await?;
        Ok(format!("{}/{name} restarted", ri.kind_group()))
    }

    /// `autoscale TYPE NAME --min --max [--cpu-percent]`: an autoscaling/v2 HorizontalPodAutoscaler.
    pub async fn autoscale(&mut self, args: &[String], min: Option<i32>, max: i32, cpu_percent: Option<i32>, hpa_name: Option<String>) -> Result<String> {
        let targets = crate::session::parse_targets(&mut self.resolver, args).await?;
        let [(ri, names)] = targets.as_slice() else {
            return Err(Error::client("exactly one resource type is required"));
        };
        let [name] = names.as_slice() else {
            return Err(Error::client("exactly one resource name is required"));
        };
        if max < 1 || min.is_some_and(|m| m < 1 || m > max) {
            return Err(Error::client(format!("--max={max} must be at least 1 and at least --min={}", min.unwrap_or(1))));
        }
        let ns = self.namespace.clone();
        // The target must exist and be scalable.
        self.conn.get(ri, Some(&ns), name).await?;
        let mut spec = json!({"scaleTargetRef": {"apiVersion": ri.api_version(), "kind": ri.kind, "name": name}, "maxReplicas": max});
        if let Some(m) = min {
            spec["minReplicas"] = json!(m);
        }
        if let Some(cpu) = cpu_percent {
            spec["metrics"] = json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu}}}]);
        }
        let hpa_name = hpa_name.unwrap_or_else(|| name.clone());
        let hpa = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": hpa_name}, "spec": spec});
        let hpa_ri = self.resolver.resolve("horizontalpodautoscalers.autoscaling").await?;
        self.conn.create(&hpa_ri, Some(&ns), &hpa).await?;
        Ok(format!("{}/{hpa_name} autoscaled", hpa_ri.kind_group()))
    }
}

/// A ReplicaSet's pod template as the Deployment had it (without `pod-template-hash`).
fn pod_template(rs: &Value) -> Value {
    let mut template = rs.pointer("/spec/template").cloned().unwrap_or(json!({}));
    if let Some(labels) = template.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
        labels.remove(TEMPLATE_HASH);
    }
    template
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_follow_kubectl() {
        let d = |gen: i64, observed: i64, updated: i64, replicas: i64, available: i64| {
            json!({"metadata": {"name": "web", "generation": gen}, "spec": {"replicas": 3},
                "status": {"observedGeneration": observed, "updatedReplicas": updated, "replicas": replicas, "availableReplicas": available}})
        };
        let line = |v: Value| status_line(&v).unwrap();
        assert_eq!(line(d(2, 1, 3, 3, 3)).0, "Waiting for deployment spec update to be observed...");
        assert_eq!(line(d(2, 2, 1, 4, 3)).0, "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated...");
        assert_eq!(line(d(2, 2, 3, 4, 3)).0, "Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination...");
        assert_eq!(line(d(2, 2, 3, 3, 2)).0, "Waiting for deployment \"web\" rollout to finish: 2 of 3 updated replicas are available...");
        assert_eq!(line(d(2, 2, 3, 3, 3)), ("deployment \"web\" successfully rolled out".into(), true));
        let mut stuck = d(2, 2, 1, 4, 3);
        stuck["status"]["conditions"] = json!([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]);
        assert!(status_line(&stuck).unwrap_err().to_string().contains("exceeded its progress deadline"));
    }
}
