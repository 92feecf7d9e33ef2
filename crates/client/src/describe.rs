//! `describe`: a readable summary of an object — metadata, labels and annotations, the
//! spec and status as indented fields (containers, ports and other named lists one per
//! element), conditions as a table, and the object's events.

use serde_json::Value;

use crate::client::ListOptions;
use crate::error::Result;
use crate::printers::align;
use crate::resources::ResourceInfo;
use crate::session::Session;

/// "clusterIP" → "Cluster IP", "podCIDRs" → "Pod CID Rs" (kubectl's generic labels).
pub fn smart_label(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if i == 0 {
            out.extend(c.to_uppercase());
            continue;
        }
        let prev = chars[i - 1];
        let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
        if c.is_uppercase() && (prev.is_lowercase() || (prev.is_uppercase() && next_lower)) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<none>".into(),
        other => other.to_string(),
    }
}

fn map_lines(label: &str, m: Option<&Value>, sep: &str, out: &mut String) {
    let width = 20usize.max(label.len() + 2);
    let pad = |s: &str| format!("{s}{}", " ".repeat(width.saturating_sub(s.len())));
    match m.and_then(Value::as_object).filter(|m| !m.is_empty()) {
        None => out.push_str(&format!("{}<none>\n", pad(&format!("{label}:")))),
        Some(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for (i, k) in keys.iter().enumerate() {
                let head = if i == 0 {
                    pad(&format!("{label}:"))
                } else {
                    " ".repeat(width)
                };
                let mut v = scalar(&m[k.as_str()]);
                if v.len() > 200 {
                    v = format!(
                        "{}...",
                        &v[..v.char_indices().nth(200).map(|(i, _)| i).unwrap_or(v.len())]
                    );
                }
                out.push_str(&format!("{head}{k}{sep}{v}\n"));
            }
        }
    }
}

/// Fields whose keys are data (label keys, config keys, resource names), printed as they are.
const MAP_FIELDS: &[&str] = &[
    "labels",
    "annotations",
    "matchLabels",
    "data",
    "binaryData",
    "stringData",
    "nodeSelector",
    "requests",
    "limits",
    "capacity",
    "allocatable",
    "hard",
    "used",
    "parameters",
];

/// Writes a value as nested "Label:  value" lines.
fn fields(v: &Value, indent: usize, out: &mut String) {
    fields_in(v, indent, false, out)
}

fn fields_in(v: &Value, indent: usize, raw_keys: bool, out: &mut String) {
    let ind = " ".repeat(indent);
    let smart_label = |k: &str| {
        if raw_keys {
            k.to_string()
        } else {
            smart_label(k)
        }
    };
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let data = MAP_FIELDS.contains(&k.as_str());
                match x {
                    Value::Object(o) if o.is_empty() => {
                        out.push_str(&format!("{ind}{}:\n", smart_label(k)))
                    }
                    Value::Object(_) => {
                        out.push_str(&format!("{ind}{}:\n", smart_label(k)));
                        fields_in(x, indent + 2, data, out);
                    }
                    Value::Array(a) if a.iter().all(|e| !e.is_object() && !e.is_array()) => {
                        let items: Vec<String> = a.iter().map(scalar).collect();
                        out.push_str(&format!(
                            "{ind}{}:  {}\n",
                            smart_label(k),
                            if items.is_empty() {
                                "<none>".into()
                            } else {
                                items.join(", ")
                            }
                        ));
                    }
                    Value::Array(a) => {
                        out.push_str(&format!("{ind}{}:\n", smart_label(k)));
                        for e in a {
                            // Name an element by its "name" when it has one, kubectl-style.
                            match e.get("name").and_then(Value::as_str) {
                                Some(n) => {
                                    out.push_str(&format!("{ind}  {n}:\n"));
                                    let mut rest = e.clone();
                                    if let Some(o) = rest.as_object_mut() {
                                        o.remove("name");
                                    }
                                    fields(&rest, indent + 4, out);
                                }
                                None => {
                                    out.push_str(&format!("{ind}  -\n"));
                                    fields(e, indent + 4, out);
                                }
                            }
                        }
                    }
                    _ => out.push_str(&format!("{ind}{}:  {}\n", smart_label(k), scalar(x))),
                }
            }
        }
        other => out.push_str(&format!("{ind}{}\n", scalar(other))),
    }
}

/// Relative age like kubectl's ("5s", "3m", "2d").
pub fn age(ts: &str) -> String {
    let Ok(t) = ts.parse::<jiff::Timestamp>() else {
        return "<unknown>".into();
    };
    let secs = jiff::Timestamp::now().as_second() - t.as_second();
    let secs = secs.max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 3 * 3600 => format!("{}m", s / 60),
        s if s < 8 * 3600 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

impl Session {
    /// Describes one object.
    pub async fn describe_object(&mut self, ri: &ResourceInfo, obj: &Value) -> Result<String> {
        let mut out = String::new();
        let meta = obj.get("metadata").cloned().unwrap_or(Value::Null);
        let s = |p: &str| {
            meta.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let line = |k: &str, v: &str| format!("{:<20}{v}\n", format!("{k}:"));
        out.push_str(&line("Name", &s("/name")));
        if ri.namespaced {
            out.push_str(&line("Namespace", &s("/namespace")));
        }
        map_lines("Labels", meta.get("labels"), "=", &mut out);
        let mut ann = meta.get("annotations").cloned();
        if let Some(a) = ann.as_mut().and_then(Value::as_object_mut) {
            a.remove(crate::apply::LAST_APPLIED);
        }
        map_lines("Annotations", ann.as_ref(), ": ", &mut out);
        let created = s("/creationTimestamp");
        if !created.is_empty() {
            let pretty = created
                .parse::<jiff::Timestamp>()
                .map(|t| t.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string())
                .unwrap_or(created.clone());
            out.push_str(&format!("CreationTimestamp:  {pretty}\n"));
        }
        if let Some(refs) = meta.get("ownerReferences").and_then(Value::as_array) {
            for r in refs {
                out.push_str(&line(
                    "Controlled By",
                    &format!("{}/{}", scalar(&r["kind"]), scalar(&r["name"])),
                ));
            }
        }
        if let Some(d) = meta.get("deletionTimestamp").and_then(Value::as_str) {
            out.push_str(&line("Terminating", d));
        }
        if let Some(m) = obj.as_object() {
            for (k, v) in m {
                if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                let mut v = v.clone();
                let conditions = v.as_object_mut().and_then(|o| o.remove("conditions"));
                if v.as_object().is_some_and(|o| !o.is_empty()) || !v.is_object() {
                    out.push_str(&format!("{}:\n", smart_label(k)));
                    if v.is_object() {
                        fields(&v, 2, &mut out);
                    } else {
                        out.push_str(&format!("  {}\n", scalar(&v)));
                    }
                }
                if let Some(Value::Array(c)) = conditions {
                    out.push_str("Conditions:\n");
                    let mut rows = vec![
                        vec!["  Type".to_string(), "Status".into(), "Reason".into()],
                        vec!["  ----".into(), "------".into(), "------".into()],
                    ];
                    for cond in &c {
                        rows.push(vec![
                            format!("  {}", scalar(&cond["type"])),
                            scalar(&cond["status"]),
                            cond["reason"].as_str().unwrap_or("").to_string(),
                        ]);
                    }
                    out.push_str(&align(&rows));
                }
            }
        }
        out.push_str(&self.events_for(ri, obj).await);
        Ok(out)
    }

    /// The "Events:" section: core/v1 Events whose involvedObject is this object.
    async fn events_for(&mut self, ri: &ResourceInfo, obj: &Value) -> String {
        let uid = obj
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("");
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string();
        let Ok(events_ri) = self.resolver.resolve("events").await else {
            return "Events:  <none>\n".into();
        };
        let list = match self
            .conn
            .list(&events_ri, Some(&ns), &ListOptions::default())
            .await
        {
            Ok(l) => l,
            Err(_) => return "Events:  <none>\n".into(),
        };
        let mut evs: Vec<Value> = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| {
                let io = &e["involvedObject"];
                (!uid.is_empty() && io["uid"].as_str() == Some(uid))
                    || (io["name"].as_str() == Some(name)
                        && io["kind"].as_str() == Some(ri.kind.as_str()))
            })
            .cloned()
            .collect();
        if evs.is_empty() {
            return "Events:  <none>\n".into();
        }
        let ts = |e: &Value| {
            e["lastTimestamp"]
                .as_str()
                .or(e["eventTime"].as_str())
                .or(e
                    .pointer("/metadata/creationTimestamp")
                    .and_then(Value::as_str))
                .unwrap_or("")
                .to_string()
        };
        evs.sort_by_key(ts);
        let mut rows = vec![
            vec![
                "  Type".to_string(),
                "Reason".into(),
                "Age".into(),
                "From".into(),
                "Message".into(),
            ],
            vec![
                "  ----".into(),
                "------".into(),
                "----".into(),
                "----".into(),
                "-------".into(),
            ],
        ];
        for e in &evs {
            let from = e
                .pointer("/source/component")
                .and_then(Value::as_str)
                .or(e["reportingComponent"].as_str())
                .unwrap_or("")
                .to_string();
            rows.push(vec![
                format!("  {}", scalar(&e["type"])),
                scalar(&e["reason"]),
                age(&ts(e)),
                from,
                e["message"].as_str().unwrap_or("").trim().to_string(),
            ]);
        }
        format!("Events:\n{}", align(&rows))
    }

    /// `describe TYPE [NAME…]` (all objects of the type, or those selected, when no name).
    pub async fn describe(
        &mut self,
        args: &[String],
        list: &ListOptions,
        all_namespaces: bool,
    ) -> Result<(String, Vec<crate::error::Error>)> {
        let all = args.len() == 1 && !args[0].contains('/');
        let (objs, errors) = self.select(args, list, all, all_namespaces).await?;
        let mut parts = Vec::new();
        for (ri, o) in &objs {
            parts.push(self.describe_object(ri, o).await?);
        }
        if objs.is_empty() && errors.is_empty() {
            eprintln!("No resources found in {} namespace.", self.namespace);
        }
        Ok((parts.join("\n\n"), errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_split_camel_case() {
        assert_eq!(smart_label("clusterIP"), "Cluster IP");
        assert_eq!(smart_label("replicas"), "Replicas");
        assert_eq!(
            smart_label("revisionHistoryLimit"),
            "Revision History Limit"
        );
    }
}
