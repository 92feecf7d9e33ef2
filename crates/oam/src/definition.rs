//! Component and trait definitions: a type's name, its parameter schema (JSON-schema
//! properties with `type`, `default` and `required`) and its Go-template, read from
//! ComponentDefinition / TraitDefinition objects; and the set of definitions in the box.
//!
//! A definition's `spec.schematic.gotemplate` holds `template` and `parameter`. A component
//! template renders a YAML stream whose first document is the workload and whose others are
//! auxiliary resources; a trait template renders a mapping with `patch` (merged into the
//! workload) and/or `outputs` (more resources). Both see `.parameter` and `.context`
//! (`name`, `appName`, `namespace`; traits also `output`, the workload so far).

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use tug_gotemplate::Template;

/// What a definition defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefinitionKind {
    Component,
    Trait,
}

impl DefinitionKind {
    /// The Kubernetes kind of such definitions.
    pub fn kind(self) -> &'static str {
        match self {
            DefinitionKind::Component => "ComponentDefinition",
            DefinitionKind::Trait => "TraitDefinition",
        }
    }
}

/// One definition, its template parsed.
#[derive(Clone)]
pub struct Definition {
    pub name: String,
    pub kind: DefinitionKind,
    /// The parameter schema (`properties`, `required`).
    pub parameter: Value,
    pub template: Template,
    /// What it is for (`definition.oam.dev/description`).
    pub description: String,
}

/// Why a definition cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    #[error("{kind} {name:?}: spec.schematic.gotemplate.template is missing: a definition needs a Go template (CUE templates are not supported)")]
    NoTemplate { kind: &'static str, name: String },
    #[error("{kind} {name:?}: spec.schematic.gotemplate.template: {message}")]
    Template { kind: &'static str, name: String, message: String },
    #[error("{0}: not a ComponentDefinition or TraitDefinition of core.oam.dev")]
    NotADefinition(String),
}

impl Definition {
    /// Reads a ComponentDefinition or TraitDefinition object.
    pub fn from_object(object: &Value) -> Result<Definition, DefinitionError> {
        let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        let kind = match object.get("kind").and_then(Value::as_str) {
            Some("ComponentDefinition") => DefinitionKind::Component,
            Some("TraitDefinition") => DefinitionKind::Trait,
            other => return Err(DefinitionError::NotADefinition(format!("{} {name:?}", other.unwrap_or("an object without kind")))),
        };
        let schematic = object.pointer("/spec/schematic/gotemplate");
        let source = schematic
            .and_then(|s| s.get("template"))
            .and_then(Value::as_str)
            .ok_or_else(|| DefinitionError::NoTemplate { kind: kind.kind(), name: name.clone() })?;
        let mut template = Template::new(&name);
        template.parse(&name, source).map_err(|e| DefinitionError::Template { kind: kind.kind(), name: name.clone(), message: e.to_string() })?;
        let parameter = schematic.and_then(|s| s.get("parameter")).cloned().unwrap_or_else(|| Value::Object(Map::new()));
        let description = object.pointer("/metadata/annotations/definition.oam.dev~1description").and_then(Value::as_str).unwrap_or_default().to_string();
        Ok(Definition { name, kind, parameter, template, description })
    }

    /// The properties with the schema's defaults filled in; the problems, each naming the
    /// property, if they do not fit it.
    pub fn parameters(&self, properties: &Value) -> Result<Value, Vec<String>> {
        let mut given = match properties {
            Value::Object(m) => m.clone(),
            Value::Null => Map::new(),
            other => return Err(vec![format!("properties must be an object, not {other}")]),
        };
        let mut problems = Vec::new();
        let declared = self.parameter.get("properties").and_then(Value::as_object);
        for (name, schema) in declared.into_iter().flatten() {
            match given.get(name) {
                None | Some(Value::Null) => {
                    if let Some(default) = schema.get("default") {
                        given.insert(name.clone(), default.clone());
                    }
                }
                Some(value) => {
                    if let Some(wanted) = schema.get("type").and_then(Value::as_str) {
                        if !fits(value, wanted) {
                            problems.push(format!("property {name:?} must be of type {wanted}, got {value}"));
                        }
                    }
                }
            }
        }
        for required in self.parameter.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if given.get(required).is_none_or(Value::is_null) {
                problems.push(format!("property {required:?} is required"));
            }
        }
        if problems.is_empty() { Ok(Value::Object(given)) } else { Err(problems) }
    }

    /// Runs the template over `data`.
    pub fn execute(&self, data: &Value) -> Result<String, String> {
        self.template.execute(&self.name, &tug_gotemplate::Value::from(data)).map_err(|e| e.to_string())
    }
}

fn fits(value: &Value, wanted: &str) -> bool {
    match wanted {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        _ => true,
    }
}

/// The definitions an Application may use, by kind and name.
#[derive(Clone, Default)]
pub struct Definitions {
    by_name: BTreeMap<(String, &'static str), Definition>,
    /// Definitions in the cluster that cannot be used, with the reason.
    broken: BTreeMap<(String, &'static str), String>,
}

/// The definitions in the box, as YAML objects.
const BUILTIN: [&str; 16] = [
    include_str!("../definitions/webservice.yaml"),
    include_str!("../definitions/worker.yaml"),
    include_str!("../definitions/task.yaml"),
    include_str!("../definitions/cron-task.yaml"),
    include_str!("../definitions/k8s-objects.yaml"),
    include_str!("../definitions/statefulservice.yaml"),
    include_str!("../definitions/storage.yaml"),
    include_str!("../definitions/sidecar.yaml"),
    include_str!("../definitions/resource.yaml"),
    include_str!("../definitions/gateway.yaml"),
    include_str!("../definitions/hpa.yaml"),
    include_str!("../definitions/scaler.yaml"),
    include_str!("../definitions/labels.yaml"),
    include_str!("../definitions/annotations.yaml"),
    include_str!("../definitions/env.yaml"),
    include_str!("../definitions/expose.yaml"),
];

impl Definitions {
    /// The built-in definitions.
    pub fn builtin() -> Definitions {
        let mut defs = Definitions::default();
        for source in BUILTIN {
            // The built-in definitions are tested to read (`builtin_definitions_read`).
            if let Some(def) = serde_saphyr::from_str::<Value>(source).ok().and_then(|v| Definition::from_object(&v).ok()) {
                defs.add(def);
            }
        }
        defs
    }

    /// Adds (or replaces) a definition: a user's definition of a built-in name wins.
    pub fn add(&mut self, def: Definition) {
        self.broken.remove(&(def.name.clone(), def.kind.kind()));
        self.by_name.insert((def.name.clone(), def.kind.kind()), def);
    }

    /// Adds a definition object from the cluster: a usable one replaces any of its name;
    /// one that cannot be read hides any of its name, and using it reports why.
    pub fn add_object(&mut self, object: &Value) {
        match Definition::from_object(object) {
            Ok(def) => self.add(def),
            Err(err) => {
                let kind = match object.get("kind").and_then(Value::as_str) {
                    Some("TraitDefinition") => DefinitionKind::Trait,
                    Some("ComponentDefinition") => DefinitionKind::Component,
                    _ => return,
                };
                let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
                self.by_name.remove(&(name.clone(), kind.kind()));
                self.broken.insert((name, kind.kind()), err.to_string());
            }
        }
    }

    /// Why the definition of this kind and name in the cluster cannot be used, if it cannot.
    pub fn broken(&self, kind: DefinitionKind, name: &str) -> Option<&str> {
        self.broken.get(&(name.to_string(), kind.kind())).map(String::as_str)
    }

    /// Every usable definition, components first, each sorted by name.
    pub fn all(&self) -> impl Iterator<Item = &Definition> {
        let of = |kind| self.by_name.values().filter(move |d: &&Definition| d.kind == kind);
        of(DefinitionKind::Component).chain(of(DefinitionKind::Trait))
    }

    pub fn get(&self, kind: DefinitionKind, name: &str) -> Option<&Definition> {
        self.by_name.get(&(name.to_string(), kind.kind()))
    }

    /// The names of one kind of definition, sorted.
    pub fn names(&self, kind: DefinitionKind) -> Vec<&str> {
        self.by_name.values().filter(|d| d.kind == kind).map(|d| d.name.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn builtin_definitions_read() {
        for source in BUILTIN {
            let value: Value = serde_saphyr::from_str(source).expect("built-in definitions are YAML");
            Definition::from_object(&value).unwrap_or_else(|e| panic!("{e}"));
        }
        let defs = Definitions::builtin();
        assert_eq!(defs.names(DefinitionKind::Component), ["cron-task", "k8s-objects", "statefulservice", "task", "webservice", "worker"]);
        assert_eq!(defs.names(DefinitionKind::Trait), ["annotations", "env", "expose", "gateway", "hpa", "labels", "resource", "scaler", "sidecar", "storage"]);
    }

    #[test]
    fn parameters_get_defaults_and_name_what_is_wrong() {
        let defs = Definitions::builtin();
        let web = defs.get(DefinitionKind::Component, "webservice").unwrap();
        assert_eq!(web.parameters(&json!({"image": "nginx"})).unwrap(), json!({"image": "nginx", "exposeType": "ClusterIP"}));
        let scaler = defs.get(DefinitionKind::Trait, "scaler").unwrap();
        assert_eq!(scaler.parameters(&json!(null)).unwrap(), json!({"replicas": 1}));
        let problems = web.parameters(&json!({"port": "eighty"})).unwrap_err();
        assert!(problems.contains(&"property \"image\" is required".to_string()), "{problems:?}");
        assert!(problems.contains(&"property \"port\" must be of type integer, got \"eighty\"".to_string()), "{problems:?}");
    }

    #[test]
    fn a_definition_without_a_go_template_says_so() {
        let cue = json!({"kind": "ComponentDefinition", "metadata": {"name": "c"}, "spec": {"schematic": {"cue": {"template": "output: {}"}}}});
        let err = Definition::from_object(&cue).err().unwrap();
        assert!(err.to_string().contains("CUE templates are not supported"), "{err}");
        let broken = json!({"kind": "TraitDefinition", "metadata": {"name": "t"}, "spec": {"schematic": {"gotemplate": {"template": "{{ if }"}}}});
        assert!(matches!(Definition::from_object(&broken), Err(DefinitionError::Template { .. })));
    }
}
