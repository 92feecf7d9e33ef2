//! `tug app`: OAM Applications for people who do not want to write YAML by hand. Listing
//! (one row per component, as `vela ls`), a readable status (`vela status`), deletion,
//! rollback to a revision and resuming a suspended workflow (annotations the Application
//! controller acts on), the definitions an Application may use, and a dry run that renders
//! locally through `tug-oam` without a cluster.

use std::time::Duration;

use serde_json::{json, Value};
use tug_oam::{DefinitionKind, Definitions, RESUME_ANNOTATION, ROLLBACK_ANNOTATION};

use crate::client::{ListOptions, PatchType};
use crate::describe::age;
use crate::error::{Error, Result};
use crate::printers::{align, as_list, to_json, to_yaml, with_type};
use crate::resources::ResourceInfo;
use crate::session::Session;

/// Where definitions every namespace may use live.
const SYSTEM_NAMESPACE: &str = "vela-system";

fn oam(kind: &str, plural: &str) -> ResourceInfo {
    ResourceInfo {
        group: "core.oam.dev".into(),
        version: "v1beta1".into(),
        kind: kind.into(),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        namespaced: true,
        short_names: vec![],
        verbs: vec![],
        categories: vec!["oam".into()],
    }
}

fn applications() -> ResourceInfo {
    oam("Application", "applications")
}

/// `-o yaml|json` of a value, or `None` for the human form.
fn structured(output: Option<&str>, value: &Value) -> Result<Option<String>> {
    match output {
        None | Some("") | Some("table") => Ok(None),
        Some("yaml") => Ok(Some(to_yaml(value))),
        Some("json") => Ok(Some(to_json(value))),
        Some(other) => Err(Error::client(format!("unable to match a printer suitable for the output format \"{other}\", allowed formats are: json,yaml"))),
    }
}

fn s<'a>(v: &'a Value, path: &str) -> &'a str {
    v.pointer(path).and_then(Value::as_str).unwrap_or_default()
}

impl Session {
    /// `tug app ls`: APP, COMPONENT, TYPE, TRAITS, PHASE, HEALTHY, STATUS, CREATED-TIME.
    pub async fn app_list(&mut self, all_namespaces: bool, output: Option<&str>) -> Result<String> {
        let ri = applications();
        let ns = (!all_namespaces).then(|| self.namespace.clone());
        let list = self.conn.list(&ri, ns.as_deref(), &ListOptions::default()).await?;
        let items: Vec<Value> = list["items"].as_array().cloned().unwrap_or_default().into_iter().map(|i| with_type(&ri, i)).collect();
        if let Some(text) = structured(output, &as_list(items.clone()))? {
            return Ok(text);
        }
        if items.is_empty() {
            return Ok(String::new());
        }
        let mut rows = vec![];
        let mut header: Vec<String> = ["APP", "COMPONENT", "TYPE", "TRAITS", "PHASE", "HEALTHY", "STATUS", "CREATED-TIME"].map(String::from).to_vec();
        if all_namespaces {
            header.insert(0, "NAMESPACE".into());
        }
        rows.push(header);
        for app in &items {
            let services = app.pointer("/status/services").and_then(Value::as_array).cloned().unwrap_or_default();
            let components = app.pointer("/spec/components").and_then(Value::as_array).cloned().unwrap_or_default();
            for (i, c) in components.iter().enumerate() {
                let name = s(c, "/name");
                let service = services.iter().find(|svc| svc["name"] == name);
                let traits: Vec<&str> = c.get("traits").and_then(Value::as_array).into_iter().flatten().filter_map(|t| t["type"].as_str()).collect();
                let healthy = match service.map(|svc| &svc["healthy"]) {
                    Some(Value::Bool(true)) => "healthy",
                    Some(_) => "unhealthy",
                    None => "",
                };
                let mut row = vec![
                    if i == 0 { s(app, "/metadata/name").to_string() } else { "├─".into() },
                    name.to_string(),
                    s(c, "/type").to_string(),
                    traits.join(","),
                    s(app, "/status/status").to_string(),
                    healthy.to_string(),
                    service.map(|svc| s(svc, "/message")).unwrap_or_default().to_string(),
                    age(s(app, "/metadata/creationTimestamp")),
                ];
                if all_namespaces {
                    row.insert(0, if i == 0 { s(app, "/metadata/namespace").to_string() } else { String::new() });
                }
                rows.push(row);
            }
        }
        Ok(align(&rows))
    }

    /// `tug app status APP`: the phase, revision, workflow steps, each component's health
    /// and traits, health policies and the conditions that are not met.
    pub async fn app_status(&mut self, name: &str, output: Option<&str>) -> Result<String> {
        let ri = applications();
        let app = with_type(&ri, self.conn.get(&ri, Some(&self.namespace), name).await?);
        if let Some(text) = structured(output, &app)? {
            return Ok(text);
        }
        let st = &app["status"];
        let mut out = String::from("About:\n\n");
        out += &format!("  Name:         {name}\n  Namespace:    {}\n  Created at:   {}\n  Status:       {}\n", self.namespace, s(&app, "/metadata/creationTimestamp"), s(st, "/status"));
        if let Some(rev) = st.get("latestRevision") {
            out += &format!("  Revision:     {}\n", s(rev, "/name"));
        }
        if let Some(steps) = st.pointer("/workflow/steps").and_then(Value::as_array) {
            out += "\nWorkflow:\n\n";
            out += &format!("  Finished:     {}\n  Suspended:    {}\n  Steps\n", st["workflow"]["finished"], st["workflow"]["suspend"]);
            for step in steps {
                out += &format!("  - name: {}\n    type: {}\n    phase: {}\n", s(step, "/name"), s(step, "/type"), s(step, "/phase"));
            }
        }
        out += "\nServices:\n\n";
        let components = app.pointer("/spec/components").and_then(Value::as_array).cloned().unwrap_or_default();
        for c in &components {
            let cname = s(c, "/name");
            let service = st.get("services").and_then(Value::as_array).into_iter().flatten().find(|svc| svc["name"] == cname);
            let health = match service {
                Some(svc) if svc["healthy"] == true => format!("Healthy {}", s(svc, "/message")),
                Some(svc) => format!("Unhealthy {}", s(svc, "/message")),
                None => "Not applied yet".into(),
            };
            out += &format!("  - Name: {cname}\n    Type: {}\n    {health}\n", s(c, "/type"));
            let traits: Vec<&str> = c.get("traits").and_then(Value::as_array).into_iter().flatten().filter_map(|t| t["type"].as_str()).collect();
            if !traits.is_empty() {
                out += &format!("    Traits:\n{}", traits.iter().map(|t| format!("      ✅ {t}\n")).collect::<String>());
            } else {
                out += "    No trait applied\n";
            }
        }
        if let Some(policies) = st.get("policy").and_then(Value::as_array) {
            out += "\nPolicies:\n\n";
            for p in policies {
                let verdict = if p["healthy"] == true { "Healthy" } else { "Unhealthy" };
                out += &format!("  - {} ({}): {verdict}, {}\n", s(p, "/name"), s(p, "/type"), s(p, "/message"));
            }
        }
        let unmet: Vec<&Value> = st.get("conditions").and_then(Value::as_array).into_iter().flatten().filter(|c| c["status"] != "True").collect();
        if !unmet.is_empty() {
            out += "\nConditions not met:\n\n";
            for c in unmet {
                out += &format!("  - {} ({}): {}\n", s(c, "/type"), s(c, "/reason"), s(c, "/message"));
            }
        }
        Ok(out)
    }

    /// `tug app delete APP`: deletes the Application (the controller deletes what it applied)
    /// and, with `wait`, returns once it is gone.
    pub async fn app_delete(&mut self, name: &str, wait: bool) -> Result<String> {
        let ri = applications();
        let ns = self.namespace.clone();
        self.conn.delete(&ri, Some(&ns), name, "Background").await?;
        if wait {
            for _ in 0..600 {
                match self.conn.get(&ri, Some(&ns), name).await {
                    Err(e) if e.is_not_found() => break,
                    Err(e) => return Err(e),
                    Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
        Ok(format!("application.core.oam.dev \"{name}\" deleted\n"))
    }

    /// `tug app rollback APP --revision N`: asks the controller to put revision N's spec back
    /// and waits for its answer.
    pub async fn app_rollback(&mut self, name: &str, revision: i64) -> Result<String> {
        let ri = applications();
        let ns = self.namespace.clone();
        let patch = json!({"metadata": {"annotations": {ROLLBACK_ANNOTATION: revision.to_string()}}});
        self.conn.patch(&ri, Some(&ns), name, PatchType::Merge, &patch).await?;
        for _ in 0..300 {
            let app = self.conn.get(&ri, Some(&ns), name).await?;
            if app.pointer(&format!("/metadata/annotations/{}", ROLLBACK_ANNOTATION.replace('/', "~1"))).is_none() {
                let condition = app.pointer("/status/conditions").and_then(Value::as_array).into_iter().flatten().find(|c| c["type"] == "RolledBack").cloned();
                return match condition {
                    Some(c) if c["status"] == "True" => Ok(format!("application.core.oam.dev/{name} rolled back to revision {name}-v{revision}\n")),
                    Some(c) => Err(Error::client(s(&c, "/message").to_string())),
                    None => Err(Error::client(format!("application {name:?} was changed while rolling back; check `tug app status {name}`"))),
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(Error::client(format!("timed out waiting for the Application controller to roll {name:?} back (is it running?)")))
    }

    /// `tug app resume APP`: resumes a suspended workflow.
    pub async fn app_resume(&mut self, name: &str) -> Result<String> {
        let ri = applications();
        let ns = self.namespace.clone();
        let app = self.conn.get(&ri, Some(&ns), name).await?;
        if app.pointer("/status/workflow/suspend") != Some(&Value::Bool(true)) {
            return Err(Error::client(format!("the workflow of application {name:?} is not suspended")));
        }
        let patch = json!({"metadata": {"annotations": {RESUME_ANNOTATION: "true"}}});
        self.conn.patch(&ri, Some(&ns), name, PatchType::Merge, &patch).await?;
        Ok(format!("application.core.oam.dev/{name} resumed\n"))
    }

    /// `tug app show-definitions`: the built-in definitions and those in the cluster
    /// (`vela-system` and the namespace; a nearer one of the same name wins).
    pub async fn app_definitions(&mut self, output: Option<&str>) -> Result<String> {
        let mut rows: Vec<(String, &str, String, String)> = Vec::new();
        let mut objects = Vec::new();
        let builtin = Definitions::builtin();
        for def in builtin.all() {
            let kind = if def.kind == DefinitionKind::Component { "component" } else { "trait" };
            rows.push((def.name.clone(), kind, "built-in".into(), def.description.clone()));
        }
        let mut namespaces = vec![SYSTEM_NAMESPACE.to_string()];
        if self.namespace != SYSTEM_NAMESPACE {
            namespaces.push(self.namespace.clone());
        }
        for ns in &namespaces {
            for (kind, plural, word) in [("ComponentDefinition", "componentdefinitions", "component"), ("TraitDefinition", "traitdefinitions", "trait")] {
                let ri = oam(kind, plural);
                let list = self.conn.list(&ri, Some(ns), &ListOptions::default()).await?;
                for item in list["items"].as_array().into_iter().flatten() {
                    let name = s(item, "/metadata/name").to_string();
                    rows.retain(|(n, k, _, _)| !(n == &name && *k == word));
                    let description = s(item, "/metadata/annotations/definition.oam.dev~1description").to_string();
                    rows.push((name, word, format!("namespace {ns}"), description));
                    objects.push(with_type(&ri, item.clone()));
                }
            }
        }
        let listing: Vec<Value> = rows.iter().map(|(n, k, src, d)| json!({"name": n, "kind": k, "source": src, "description": d})).collect();
        if let Some(text) = structured(output, &Value::Array(listing))? {
            return Ok(text);
        }
        let mut table = vec![["NAME", "KIND", "SOURCE", "DESCRIPTION"].map(String::from).to_vec()];
        rows.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        table.extend(rows.into_iter().map(|(n, k, src, d)| vec![n, k.to_string(), src, d]));
        Ok(align(&table))
    }
}

/// `tug app dry-run -f FILE`: renders each Application in `objects` through the built-in
/// definitions and the ComponentDefinitions/TraitDefinitions among `objects`, as one YAML
/// stream with a comment naming each resource's application and component.
pub fn dry_run(objects: &[Value]) -> Result<String> {
    let mut defs = Definitions::builtin();
    for o in objects.iter().filter(|o| matches!(o["kind"].as_str(), Some("ComponentDefinition" | "TraitDefinition"))) {
        defs.add_object(o);
    }
    let apps: Vec<&Value> = objects.iter().filter(|o| o["kind"] == "Application").collect();
    if apps.is_empty() {
        return Err(Error::client("no Application (core.oam.dev/v1beta1) in the given files"));
    }
    let mut out = String::new();
    for app in apps {
        let rendered = tug_oam::render(app, &defs).map_err(|e| Error::client(e.to_string()))?;
        for c in &rendered.components {
            for resource in std::iter::once(&c.workload).chain(&c.outputs) {
                out += &format!("---\n# Application({}) -- Component({})\n", s(app, "/metadata/name"), c.name);
                out += &to_yaml(resource);
            }
        }
    }
    Ok(out)
}

