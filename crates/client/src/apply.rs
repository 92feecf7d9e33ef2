//! `apply`, `create -f`, `delete -f`: objects from manifests against the server.
//! Apply is kubectl's client-side apply: create when missing, else a three-way patch
//! against the `kubectl.kubernetes.io/last-applied-configuration` annotation; or, with
//! `--server-side`, one apply patch per object that the server merges and tracks by field
//! manager.

use serde_json::{Map, Value};

use crate::client::PatchType;
use crate::error::{Error, Result};
use crate::manifest::SourcedObject;
use crate::patch::{self, Schemas};
use crate::resources::ResourceInfo;
use crate::session::Session;

pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// What kubectl adds to a server-side apply conflict.
const APPLY_CONFLICT_HINT: &str = "Please review the fields above--they currently have other managers. Here
are the ways you can resolve this warning:
* If you intend to manage all of these fields, please re-run the apply
  command with the `--force-conflicts` flag.
* If you do not intend to manage all of the fields, please edit your
  manifest to remove references to the fields that should keep their
  current managers.
* You may co-own fields by updating your manifest to match the existing
  value; in this case, you'll become the manager if the other manager(s)
  stop managing the field (remove it from their configuration).
See https://kubernetes.io/docs/reference/using-api/server-side-apply/#conflicts";

/// How `apply` writes objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyMode {
    /// kubectl's three-way strategic merge patch from the last-applied annotation.
    ClientSide,
    /// Server-side apply under `manager` (kubectl's default manager is "kubectl"), taking
    /// conflicting fields over when `force`.
    ServerSide { manager: String, force: bool },
}

/// What apply did to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Configured,
    Unchanged,
    ServerSideApplied,
}

impl Outcome {
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Configured => "configured",
            Outcome::Unchanged => "unchanged",
            Outcome::ServerSideApplied => "serverside-applied",
        }
    }
}

fn name_of(obj: &Value) -> String {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// The annotation value: the configuration as compact JSON with sorted keys, without the
/// annotation itself, and a final newline (as kubectl writes it).
pub fn last_applied_of(obj: &Value) -> String {
    let mut o = obj.clone();
    if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        let ann = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(a) = ann.as_object_mut() {
            a.remove(LAST_APPLIED);
        }
    }
    let mut s = serde_json::to_string(&crate::printers::sorted(&o)).unwrap_or_default();
    s.push('\n');
    s
}

fn set_annotation(obj: &mut Value, key: &str, value: String) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        let ann = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if !ann.is_object() {
            *ann = Value::Object(Map::new());
        }
        if let Some(a) = ann.as_object_mut() {
            a.insert(key.to_string(), Value::String(value));
        }
    }
}

/// A deleted object: its type, namespace, name and uid.
pub type Deleted = (ResourceInfo, Option<String>, String, String);

impl Session {
    /// The namespace an object from a file goes to (None for cluster-scoped types),
    /// written into the object as kubectl does.
    pub fn object_namespace(&self, ri: &ResourceInfo, obj: &mut Value) -> Result<Option<String>> {
        if !ri.namespaced {
            return Ok(None);
        }
        let in_obj = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from);
        let ns = match in_obj {
            Some(ns) if self.explicit_namespace && ns != self.namespace => {
                return Err(Error::client(format!(
                    "the namespace from the provided object \"{ns}\" does not match the namespace \"{}\". You must pass '--namespace={ns}' to perform this operation.",
                    self.namespace
                )));
            }
            Some(ns) => ns,
            None => self.namespace.clone(),
        };
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("namespace".into(), Value::String(ns.clone()));
        }
        Ok(Some(ns))
    }

    /// The OpenAPI schemas of a group/version, fetched from `/openapi/v3` once.
    pub async fn schemas(&mut self, group: &str, version: &str) -> Option<&Schemas> {
        let key = format!("{group}/{version}");
        if !self.schema_cache.contains_key(&key) {
            let path = if group.is_empty() {
                format!("/openapi/v3/api/{version}")
            } else {
                format!("/openapi/v3/apis/{group}/{version}")
            };
            let s = self
                .conn
                .get_path(&path)
                .await
                .ok()
                .map(|doc| Schemas::new(&doc));
            self.schema_cache.insert(key.clone(), s);
        }
        self.schema_cache.get(&key).and_then(Option::as_ref)
    }

    /// Applies one object.
    pub async fn apply_one(
        &mut self,
        src: &SourcedObject,
    ) -> Result<(ResourceInfo, String, Outcome)> {
        let mut obj = src.object.clone();
        let ri = self.resolver.for_object(&obj).await?;
        let ns = self.object_namespace(&ri, &mut obj)?;
        let name = name_of(&obj);
        if name.is_empty() {
            return Err(Error::client(format!("error when retrieving current configuration of {} from {}: resource name may not be empty", ri.kind, src.source)));
        }
        let annotation = last_applied_of(&obj);
        let mut modified = obj.clone();
        set_annotation(&mut modified, LAST_APPLIED, annotation);
        let ctx = |verb: &str| format!("error when {verb} \"{}\"", src.source);
        for attempt in 0..5 {
            let current = match self.conn.get(&ri, ns.as_deref(), &name).await {
                Ok(c) => c,
                Err(e) if e.is_not_found() => {
                    match self.conn.create(&ri, ns.as_deref(), &modified).await {
                        Ok(_) => return Ok((ri, name, Outcome::Created)),
                        Err(e) if e.is_conflict() && attempt < 4 => continue,
                        Err(e) => return Err(e.context(&ctx("creating"))),
                    }
                }
                Err(e) => return Err(e.context(&ctx("retrieving current configuration of"))),
            };
            let original: Option<Value> = current
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(LAST_APPLIED))
                .and_then(Value::as_str)
                .and_then(|s| serde_json::from_str(s).ok());
            if original.is_none() {
                eprintln!(
                    "Warning: resource {} is missing the {LAST_APPLIED} annotation which is required by tug apply. tug apply should only be used on resources created declaratively by either tug create --save-config or tug apply. The missing annotation will be patched automatically.",
                    ri.group_resource() + "/" + &name
                );
            }
            // Strategic merge patches are for built-in kinds only; the API server takes
            // a JSON merge patch for a custom kind, as kubectl sends it.
            let api_version = if ri.group.is_empty() { ri.version.clone() } else { format!("{}/{}", ri.group, ri.version) };
            let schema = tug_api::registry::by_kind(&api_version, &ri.kind).is_some()
                && self
                    .schemas(&ri.group, &ri.version)
                    .await
                    .and_then(|s| s.kind(&ri.group, &ri.version, &ri.kind))
                    .is_some();
            let (patch, pt) = {
                let schemas = if schema {
                    self.schema_cache
                        .get(&format!("{}/{}", ri.group, ri.version))
                        .and_then(Option::as_ref)
                } else {
                    None
                };
                let node = schemas.and_then(|s| s.kind(&ri.group, &ri.version, &ri.kind));
                let p = patch::three_way(original.as_ref(), &modified, &current, node);
                (
                    p,
                    if node.is_some() {
                        PatchType::Strategic
                    } else {
                        PatchType::Merge
                    },
                )
            };
            if patch.as_object().is_some_and(Map::is_empty) {
                return Ok((ri, name, Outcome::Unchanged));
            }
            match self.conn.patch(&ri, ns.as_deref(), &name, pt, &patch).await {
                Ok(_) => return Ok((ri, name, Outcome::Configured)),
                Err(e) if e.is_conflict() && attempt < 4 => continue,
                Err(e) => return Err(e.context(&ctx("applying patch to"))),
            }
        }
        Err(Error::client(format!(
            "{}: too many conflicts applying {name}",
            src.source
        )))
    }

    /// Server-side applies one object.
    pub async fn apply_server_side(
        &mut self,
        src: &SourcedObject,
        manager: &str,
        force: bool,
    ) -> Result<(ResourceInfo, String, Outcome)> {
        let mut obj = src.object.clone();
        let ri = self.resolver.for_object(&obj).await?;
        let ns = self.object_namespace(&ri, &mut obj)?;
        let name = name_of(&obj);
        if name.is_empty() {
            return Err(Error::client(format!("error when retrieving current configuration of {} from {}: resource name may not be empty", ri.kind, src.source)));
        }
        self.conn
            .apply_patch(&ri, ns.as_deref(), &name, manager, force, &obj)
            .await
            .map_err(|e| match e {
                // kubectl turns a conflict into its own error with advice on resolving it.
                Error::Api { code: 409, message, .. } => Error::client(format!("{message}\n{APPLY_CONFLICT_HINT}")),
                e => e.context(&format!("error when applying patch to \"{}\"", src.source)),
            })?;
        Ok((ri, name, Outcome::ServerSideApplied))
    }

    /// `apply -f/-k`: each object in order; returns the lines printed and the errors.
    pub async fn apply_all(
        &mut self,
        objs: &[SourcedObject],
        mode: &ApplyMode,
        out: &mut dyn FnMut(&str),
    ) -> Vec<Error> {
        let mut errors = Vec::new();
        for o in objs {
            let result = match mode {
                ApplyMode::ClientSide => self.apply_one(o).await,
                ApplyMode::ServerSide { manager, force } => self.apply_server_side(o, manager, *force).await,
            };
            match result {
                Ok((ri, name, outcome)) => {
                    out(&format!("{}/{} {}", ri.kind_group(), name, outcome.word()))
                }
                Err(e) => errors.push(e),
            }
        }
        errors
    }

    /// `create -f`.
    pub async fn create_all(
        &mut self,
        objs: &[SourcedObject],
        save_config: bool,
        out: &mut dyn FnMut(&str),
    ) -> Vec<Error> {
        let mut errors = Vec::new();
        for o in objs {
            let r: Result<String> = async {
                let mut obj = o.object.clone();
                let ri = self.resolver.for_object(&obj).await?;
                let ns = self.object_namespace(&ri, &mut obj)?;
                if save_config {
                    let a = last_applied_of(&obj);
                    set_annotation(&mut obj, LAST_APPLIED, a);
                }
                let created = self
                    .conn
                    .create(&ri, ns.as_deref(), &obj)
                    .await
                    .map_err(|e| e.context(&format!("error when creating \"{}\"", o.source)))?;
                Ok(format!("{}/{} created", ri.kind_group(), name_of(&created)))
            }
            .await;
            match r {
                Ok(line) => out(&line),
                Err(e) => errors.push(e),
            }
        }
        errors
    }

    /// `delete -f/-k`: deletes in manifest order, as kubectl does; waits until the objects
    /// are gone when `wait`.
    pub async fn delete_objects(
        &mut self,
        objs: &[SourcedObject],
        ignore_not_found: bool,
        wait: bool,
        out: &mut dyn FnMut(&str),
    ) -> Vec<Error> {
        let mut errors = Vec::new();
        let mut deleted: Vec<Deleted> = Vec::new();
        for o in objs {
            let r: Result<Option<Deleted>> = async {
                let mut obj = o.object.clone();
                let ri = self.resolver.for_object(&obj).await?;
                let ns = self.object_namespace(&ri, &mut obj)?;
                let name = name_of(&obj);
                match self.conn.delete(&ri, ns.as_deref(), &name, self.propagation).await {
                    Ok(v) => Ok(Some((ri, ns, name, uid_of(&v)))),
                    Err(e) if e.is_not_found() && ignore_not_found => Ok(None),
                    Err(e) => Err(e.context(&format!("error when deleting \"{}\"", o.source))),
                }
            }
            .await;
            match r {
                Ok(Some(d)) => {
                    out(&format!("{} \"{}\" deleted", d.0.kind_group(), d.2));
                    deleted.push(d);
                }
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
        if wait {
            self.wait_deleted(&deleted).await;
        }
        errors
    }

    /// Polls until each deleted object is gone (or replaced by another with a new uid).
    pub async fn wait_deleted(&self, objs: &[Deleted]) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        for (ri, ns, name, uid) in objs {
            while std::time::Instant::now() < deadline {
                match self.conn.get(ri, ns.as_deref(), name).await {
                    Ok(v) if uid.is_empty() || uid_of(&v) == *uid => {
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await
                    }
                    _ => break,
                }
            }
        }
    }
}

fn uid_of(v: &Value) -> String {
    // A DELETE answers with the object (being deleted) or a Status naming the uid.
    v.pointer("/metadata/uid")
        .or_else(|| v.pointer("/details/uid"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}
