//! An Application into Kubernetes resources: each component's definition renders its
//! workload (and any auxiliary resources) from the component's properties, then each of
//! its traits patches the workload or adds resources. Every resource is labelled with its
//! application and component (`app.oam.dev/name`, `app.oam.dev/component`) and placed in the
//! application's namespace. Errors name the application, the component, the type or trait
//! and what to fix.

use serde_json::{json, Map, Value};

use crate::definition::{Definition, DefinitionKind, Definitions};
use crate::merge::merge;

/// The resources an Application renders to, component by component.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub components: Vec<RenderedComponent>,
}

/// One component's resources: its workload first.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedComponent {
    pub name: String,
    pub workload: Value,
    /// Auxiliary resources of the component definition and trait outputs.
    pub outputs: Vec<Value>,
}

impl Rendered {
    /// Every resource, workloads before their outputs, in component order.
    pub fn resources(&self) -> Vec<&Value> {
        self.components.iter().flat_map(|c| std::iter::once(&c.workload).chain(&c.outputs)).collect()
    }
}

/// Why an Application does not render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("not an Application: {0}")]
    NotAnApplication(String),
    #[error("Application {app:?}: spec.components[{index}] ({component:?}): unknown component type {kind:?}; known types: {known} (or apply a ComponentDefinition named {kind:?})")]
    UnknownComponentType { app: String, index: usize, component: String, kind: String, known: String },
    #[error("Application {app:?}: component {component:?}: unknown trait type {kind:?}; known traits: {known} (or apply a TraitDefinition named {kind:?})")]
    UnknownTrait { app: String, component: String, kind: String, known: String },
    #[error("Application {app:?}: component {component:?}: {definition} {name:?}: {}", problems.join("; "))]
    Parameters { app: String, component: String, definition: &'static str, name: String, problems: Vec<String> },
    #[error("Application {app:?}: component {component:?} uses a {definition} that cannot be used: {message}")]
    BrokenDefinition { app: String, component: String, definition: &'static str, message: String },
    #[error("Application {app:?}: component {component:?}: {definition} {name:?} failed to render: {message}")]
    Template { app: String, component: String, definition: &'static str, name: String, message: String },
}

/// Renders `app` with `defs`.
pub fn render(app: &Value, defs: &Definitions) -> Result<Rendered, RenderError> {
    if app.get("kind").and_then(Value::as_str) != Some("Application") {
        return Err(RenderError::NotAnApplication(format!("kind is {}", app.get("kind").unwrap_or(&Value::Null))));
    }
    let app_name = app.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
    let namespace = app.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default").to_string();
    let mut components = Vec::new();
    for (index, component) in app.pointer("/spec/components").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let name = component.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        let kind = component.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
        let Some(def) = defs.get(DefinitionKind::Component, &kind) else {
            if let Some(message) = defs.broken(DefinitionKind::Component, &kind) {
                return Err(RenderError::BrokenDefinition { app: app_name, component: name, definition: "ComponentDefinition", message: message.into() });
            }
            return Err(RenderError::UnknownComponentType {
                app: app_name,
                index,
                component: name,
                kind,
                known: defs.names(DefinitionKind::Component).join(", "),
            });
        };
        let step = Step { app: &app_name, namespace: &namespace, component: &name };
        let properties = component.get("properties").unwrap_or(&Value::Null);
        let text = step.execute(def, properties, None)?;
        let mut rendered = documents(&text).map_err(|message| step.template_error(def, message))?.into_iter();
        let mut workload = rendered.next().ok_or_else(|| step.template_error(def, "it rendered no workload".into()))?;
        let mut outputs: Vec<Value> = rendered.collect();
        for t in component.get("traits").and_then(Value::as_array).into_iter().flatten() {
            let trait_kind = t.get("type").and_then(Value::as_str).unwrap_or_default();
            let Some(trait_def) = defs.get(DefinitionKind::Trait, trait_kind) else {
                if let Some(message) = defs.broken(DefinitionKind::Trait, trait_kind) {
                    return Err(RenderError::BrokenDefinition { app: app_name, component: name, definition: "TraitDefinition", message: message.into() });
                }
                return Err(RenderError::UnknownTrait {
                    app: app_name.clone(),
                    component: name.clone(),
                    kind: trait_kind.to_string(),
                    known: defs.names(DefinitionKind::Trait).join(", "),
                });
            };
            let text = step.execute(trait_def, t.get("properties").unwrap_or(&Value::Null), Some(&workload))?;
            let result = documents(&text).map_err(|message| step.template_error(trait_def, message))?.into_iter().next().unwrap_or(Value::Null);
            if let Some(patch) = result.get("patch") {
                merge(&mut workload, patch);
            }
            outputs.extend(result.get("outputs").and_then(Value::as_array).into_iter().flatten().cloned());
        }
        step.stamp(&mut workload);
        outputs.iter_mut().for_each(|o| step.stamp(o));
        components.push(RenderedComponent { name, workload, outputs });
    }
    Ok(Rendered { components })
}

/// Where in the Application a definition is being rendered.
struct Step<'a> {
    app: &'a str,
    namespace: &'a str,
    component: &'a str,
}

impl Step<'_> {
    fn execute(&self, def: &Definition, properties: &Value, output: Option<&Value>) -> Result<String, RenderError> {
        let parameter = def.parameters(properties).map_err(|problems| RenderError::Parameters {
            app: self.app.into(),
            component: self.component.into(),
            definition: def.kind.kind(),
            name: def.name.clone(),
            problems,
        })?;
        let mut context = json!({"name": self.component, "appName": self.app, "namespace": self.namespace});
        if let Some(output) = output {
            context["output"] = output.clone();
        }
        def.execute(&json!({"parameter": parameter, "context": context})).map_err(|message| self.template_error(def, message))
    }

    fn template_error(&self, def: &Definition, message: String) -> RenderError {
        RenderError::Template { app: self.app.into(), component: self.component.into(), definition: def.kind.kind(), name: def.name.clone(), message }
    }

    /// Labels a resource with its application and component and puts it in the namespace.
    fn stamp(&self, resource: &mut Value) {
        if !resource.get("metadata").is_some_and(Value::is_object) {
            resource["metadata"] = json!({});
        }
        let meta = &mut resource["metadata"];
        if meta.get("namespace").is_none() {
            meta["namespace"] = json!(self.namespace);
        }
        if !meta.get("labels").is_some_and(Value::is_object) {
            meta["labels"] = Value::Object(Map::new());
        }
        meta["labels"]["app.oam.dev/name"] = json!(self.app);
        meta["labels"]["app.oam.dev/component"] = json!(self.component);
    }
}

/// The YAML documents of a rendered template (empty documents dropped).
pub(crate) fn documents(text: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines().chain(std::iter::once("---")) {
        if line.trim_end() == "---" {
            if !current.trim().is_empty() {
                let value = serde_saphyr::from_str::<Value>(&current).map_err(|e| format!("its output is not YAML ({e}):\n{current}"))?;
                if !value.is_null() {
                    out.push(value);
                }
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(components: Value) -> Value {
        json!({"apiVersion": "core.oam.dev/v1beta1", "kind": "Application", "metadata": {"name": "shop", "namespace": "prod"}, "spec": {"components": components}})
    }

    #[test]
    fn a_webservice_with_traits_renders_its_deployment_and_service() {
        let rendered = render(
            &app(json!([{"name": "front", "type": "webservice", "properties": {"image": "nginx:1.27", "port": 80, "cpu": "100m"},
                "traits": [{"type": "scaler", "properties": {"replicas": 3}}, {"type": "env", "properties": {"env": {"MODE": "prod", "N": 2}}},
                           {"type": "labels", "properties": {"tier": "web"}}, {"type": "expose", "properties": {"port": [80]}}]}])),
            &Definitions::builtin(),
        )
        .unwrap();
        let c = &rendered.components[0];
        let d = &c.workload;
        assert_eq!((d["kind"].clone(), d["metadata"]["name"].clone(), d["metadata"]["namespace"].clone()), (json!("Deployment"), json!("front"), json!("prod")));
        assert_eq!(d["spec"]["replicas"], 3);
        assert_eq!(d["metadata"]["labels"], json!({"tier": "web", "app.oam.dev/name": "shop", "app.oam.dev/component": "front"}));
        let container = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["image"], "nginx:1.27");
        assert_eq!(container["ports"], json!([{"containerPort": 80, "name": "port-80"}]));
        assert_eq!(container["env"], json!([{"name": "MODE", "value": "prod"}, {"name": "N", "value": "2"}]));
        assert_eq!(container["resources"]["limits"], json!({"cpu": "100m"}));
        assert_eq!(d["spec"]["template"]["metadata"]["labels"]["tier"], "web");
        let svc = &c.outputs[0];
        assert_eq!((svc["kind"].clone(), svc["spec"]["selector"].clone()), (json!("Service"), json!({"app.oam.dev/component": "front"})));
        assert_eq!(svc["spec"]["ports"], json!([{"name": "port-80", "port": 80, "targetPort": 80}]));
    }

    #[test]
    fn gateway_and_hpa_add_an_ingress_and_an_autoscaler() {
        let rendered = render(
            &app(json!([{"name": "api", "type": "webservice", "properties": {"image": "api:1", "port": 8080},
                "traits": [{"type": "gateway", "properties": {"domain": "api.example.com", "http": {"/": 8080}}},
                           {"type": "hpa", "properties": {"max": 5, "mem": {"type": "AverageValue", "value": "200Mi"}}}]}])),
            &Definitions::builtin(),
        )
        .unwrap();
        let kinds: Vec<&Value> = rendered.resources().into_iter().map(|r| &r["kind"]).collect();
        assert_eq!(kinds, [&json!("Deployment"), &json!("Service"), &json!("Ingress"), &json!("HorizontalPodAutoscaler")]);
        let ingress = &rendered.components[0].outputs[1];
        assert_eq!(ingress["metadata"]["annotations"], json!({"kubernetes.io/ingress.class": "nginx"}));
        assert_eq!(ingress["spec"]["rules"][0]["host"], "api.example.com");
        assert_eq!(ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"], json!({"service": {"name": "api", "port": {"number": 8080}}}));
        let hpa = &rendered.components[0].outputs[2];
        assert_eq!((hpa["spec"]["minReplicas"].clone(), hpa["spec"]["maxReplicas"].clone()), (json!(1), json!(5)));
        assert_eq!(hpa["spec"]["metrics"], json!([
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "200Mi"}}}]));
    }

    #[test]
    fn a_statefulservice_with_storage_mounts_its_volumes_and_makes_its_claims() {
        let rendered = render(
            &app(json!([{"name": "db", "type": "statefulservice", "properties": {"image": "busybox", "port": 5432},
                "traits": [{"type": "storage", "properties": {
                    "pvc": [{"name": "data", "mountPath": "/data", "resources": {"requests": {"storage": "1Gi"}}}],
                    "configMap": [{"name": "conf", "mountPath": "/etc/conf", "data": {"a": "1"}}],
                    "secret": [{"name": "creds", "mountPath": "/etc/creds"}],
                    "emptyDir": [{"name": "tmp", "mountPath": "/tmp"}]}}]}])),
            &Definitions::builtin(),
        )
        .unwrap();
        let c = &rendered.components[0];
        assert_eq!((c.workload["kind"].clone(), c.workload["spec"]["serviceName"].clone()), (json!("StatefulSet"), json!("db")));
        let pod = &c.workload["spec"]["template"]["spec"];
        assert_eq!(pod["volumes"], json!([
            {"name": "pvc-data", "persistentVolumeClaim": {"claimName": "data"}},
            {"name": "configmap-conf", "configMap": {"name": "conf", "defaultMode": 420}},
            {"name": "secret-creds", "secret": {"secretName": "creds", "defaultMode": 420}},
            {"name": "emptydir-tmp", "emptyDir": {"medium": ""}}]));
        let mounts: Vec<&Value> = pod["containers"][0]["volumeMounts"].as_array().unwrap().iter().map(|m| &m["mountPath"]).collect();
        assert_eq!(mounts, [&json!("/data"), &json!("/etc/conf"), &json!("/etc/creds"), &json!("/tmp")]);
        let kinds: Vec<&Value> = c.outputs.iter().map(|o| &o["kind"]).collect();
        assert_eq!(kinds, [&json!("Service"), &json!("PersistentVolumeClaim"), &json!("ConfigMap")]);
        assert_eq!(c.outputs[0]["spec"]["clusterIP"], "None");
        assert_eq!(c.outputs[1]["spec"]["resources"], json!({"requests": {"storage": "1Gi"}}));
        assert_eq!(c.outputs[2]["data"], json!({"a": "1"}));
    }

    #[test]
    fn a_broken_user_definition_is_reported_where_it_is_used() {
        let mut defs = Definitions::builtin();
        defs.add_object(&json!({"kind": "ComponentDefinition", "metadata": {"name": "webservice"}, "spec": {"schematic": {"gotemplate": {"template": "{{ if }"}}}}));
        let err = render(&app(json!([{"name": "w", "type": "webservice", "properties": {"image": "a"}}])), &defs).unwrap_err().to_string();
        assert!(err.starts_with("Application \"shop\": component \"w\" uses a ComponentDefinition that cannot be used: ComponentDefinition \"webservice\": spec.schematic.gotemplate.template:"), "{err}");
    }

    #[test]
    fn unknown_types_and_bad_properties_are_named() {
        let defs = Definitions::builtin();
        let err = render(&app(json!([{"name": "db", "type": "mysql"}])), &defs).unwrap_err().to_string();
        assert!(err.starts_with("Application \"shop\": spec.components[0] (\"db\"): unknown component type \"mysql\"; known types: cron-task, k8s-objects, statefulservice, task, webservice, worker"), "{err}");
        let err = render(&app(json!([{"name": "w", "type": "worker", "properties": {"image": "a"}, "traits": [{"type": "route"}]}])), &defs).unwrap_err().to_string();
        assert!(err.contains("component \"w\": unknown trait type \"route\""), "{err}");
        let err = render(&app(json!([{"name": "w", "type": "worker", "properties": {}}])), &defs).unwrap_err().to_string();
        assert_eq!(err, "Application \"shop\": component \"w\": ComponentDefinition \"worker\": property \"image\" is required");
    }
}
