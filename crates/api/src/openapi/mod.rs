//! The OpenAPI documents kube-apiserver publishes, for the served types: Swagger 2.0 at
//! `/openapi/v2`, and OpenAPI 3.0 per group/version under `/openapi/v3/...` with an index at
//! `/openapi/v3`. Clients depend on them: `kubectl explain` walks the v3 schemas, `kubectl
//! apply` reads the list-merge extensions to compute strategic merge patches and checks the
//! PATCH operation's parameters to learn whether the server validates fields.
//!
//! Schemas come from the `k8s-openapi` types' `schemars` implementations, which already use
//! the Kubernetes definition names ("io.k8s.api.apps.v1.Deployment"). This module adds
//! what they do not carry: list kinds, `x-kubernetes-group-version-kind`, the list-merge
//! extensions (`extensions.rs`), the representation of int-or-string and quantity, and the
//! operations (`paths.rs`). Every document is built once, on first use, and cached.

mod custom;
mod extensions;
mod paths;
mod protobuf;
mod types;

use crate::registry;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

/// The Kubernetes version the documents describe (k8s-openapi's `v1_33` feature).
pub const KUBERNETES_VERSION: &str = "v1.33.0";

const V2_REF: &str = "#/definitions/";
const V3_REF: &str = "#/components/schemas/";
const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const JSON_ANY: &str = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON";

/// Swagger 2.0 document as kube-apiserver serves at `/openapi/v2`: `definitions` keyed like
/// "io.k8s.api.apps.v1.Deployment" with `x-kubernetes-group-version-kind`, and `paths` for
/// each served resource.
pub fn v2() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(build_v2)
}

/// [`v2`] serialized as JSON, for serving.
pub fn v2_json() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| serde_json::to_vec(v2()).expect("serializable"))
}

/// The media type under which kube-apiserver serves [`v2_protobuf`] (clients ask for it with
/// `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`; the `.v1.0` and
/// `@v1.0` spellings are both in use, and both should be accepted).
pub const V2_PROTOBUF_MEDIA_TYPE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// Whether an `Accept` header asks for the protocol-buffer form of `/openapi/v2` (which is
/// all client-go's `OpenAPISchema()`, and so kubectl, ever asks for). Anything else gets JSON.
pub fn v2_accepts_protobuf(accept: &str) -> bool {
    accept.split(',').any(|t| {
        let t = t.split(';').next().unwrap_or("").trim();
        t.eq_ignore_ascii_case("application/com.github.proto-openapi.spec.v2@v1.0+protobuf") || t.eq_ignore_ascii_case(V2_PROTOBUF_MEDIA_TYPE)
    })
}

/// [`v2`] as the gnostic `openapi.v2.Document` protocol buffer.
pub fn v2_protobuf() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| protobuf::encode(v2()))
}

/// Encode any Swagger 2.0 document as the gnostic `openapi.v2.Document` protocol buffer.
pub fn v2_to_protobuf(doc: &Value) -> Vec<u8> {
    protobuf::encode(doc)
}

pub use custom::{custom_v3, v3_hash_of};

/// The `/openapi/v3` index: `{"paths": {"api/v1": {"serverRelativeURL":
/// "/openapi/v3/api/v1?hash=..."}, "apis/apps/v1": {...}, ...}}`. The hash is of the
/// group/version document's JSON, so a client may cache the document by URL for good.
pub fn v3_index() -> &'static Value {
    static INDEX: OnceLock<Value> = OnceLock::new();
    INDEX.get_or_init(|| {
        let paths: Map<String, Value> = v3_docs()
            .iter()
            .map(|((g, v), doc)| {
                let path = v3_path(g, v);
                (path.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={}", doc.hash)}))
            })
            .collect();
        json!({"paths": paths})
    })
}

/// OpenAPI 3.0 document for one group/version ("" group = core): `components.schemas` keyed
/// "io.k8s.api.apps.v1.Deployment" etc., with `x-kubernetes-group-version-kind` on the kinds
/// and the list-merge extensions, and `paths` for the group/version's resources. `None` for a
/// group/version that is not served.
pub fn v3(group: &str, version: &str) -> Option<&'static Value> {
    v3_docs().get(&(group.to_string(), version.to_string())).map(|d| &d.doc)
}

/// [`v3`] serialized as JSON, for serving.
pub fn v3_json(group: &str, version: &str) -> Option<&'static [u8]> {
    v3_docs().get(&(group.to_string(), version.to_string())).map(|d| d.json.as_slice())
}

/// The hash the index puts in the group/version's URL (`?hash=`), usable as its ETag.
pub fn v3_hash(group: &str, version: &str) -> Option<&'static str> {
    v3_docs().get(&(group.to_string(), version.to_string())).map(|d| d.hash.as_str())
}

/// The group/version of a `/openapi/v3/<path>` path ("api/v1", "apis/apps/v1"), if served.
pub fn v3_group_version(path: &str) -> Option<(&'static str, &'static str)> {
    let path = path.trim_matches('/');
    registry::groups()
        .into_iter()
        .flat_map(|(g, vs)| vs.into_iter().map(move |v| (g, v)))
        .find(|(g, v)| v3_path(g, v) == path)
}

/// The `/openapi/v3/<path>` of a group/version ("api/v1", "apis/apps/v1").
pub fn v3_path(group: &str, version: &str) -> String {
    paths::prefix(group, version).trim_start_matches('/').to_string()
}

struct V3Doc {
    doc: Value,
    json: Vec<u8>,
    hash: String,
}

fn v3_docs() -> &'static BTreeMap<(String, String), V3Doc> {
    static DOCS: OnceLock<BTreeMap<(String, String), V3Doc>> = OnceLock::new();
    DOCS.get_or_init(|| {
        let mut out = BTreeMap::new();
        for (group, versions) in registry::groups() {
            for version in versions {
                let doc = build_v3(group, version);
                let json = serde_json::to_vec(&doc).expect("serializable");
                let hash = v3_hash_of(&json);
                out.insert((group.to_string(), version.to_string()), V3Doc { doc, json, hash });
            }
        }
        out
    })
}

/// Every definition, refs in the Swagger 2.0 form ("#/definitions/<name>"), extensions added.
pub(crate) fn definitions() -> &'static Map<String, Value> {
    static DEFS: OnceLock<Map<String, Value>> = OnceLock::new();
    DEFS.get_or_init(build_definitions)
}

fn build_definitions() -> Map<String, Value> {
    let mut generator = SchemaSettings::draft07()
        .with(|s| {
            s.transforms.clear();
            s.meta_schema = None;
        })
        .into_generator();
    for k in types::KINDS {
        (k.schema)(&mut generator);
    }
    for e in types::EXTRAS {
        (e.schema)(&mut generator);
    }
    let mut defs = generator.take_definitions(false);

    let gvk = |g: &str, v: &str, k: &str| json!({"group": g, "kind": k, "version": v});
    for k in types::KINDS {
        let name = (k.name)().into_owned();
        let list_name = k.list_name();
        if let Some(Value::Object(d)) = defs.get_mut(&name) {
            d.insert("x-kubernetes-group-version-kind".into(), json!([gvk(k.group, k.version, k.kind)]));
        }
        if k.list_kind.is_empty() {
            continue;
        }
        defs.insert(
            list_name,
            json!({
                "description": format!("{} is a list of {} objects.", k.list_kind, k.kind),
                "type": "object",
                "properties": {
                    "apiVersion": {"description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources", "type": "string"},
                    "items": {"description": format!("items is the list of {} objects.", k.kind), "type": "array", "items": {"$ref": format!("{V2_REF}{name}")}},
                    "kind": {"description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds", "type": "string"},
                    "metadata": {"$ref": format!("{V2_REF}{}", types::LIST_META), "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"},
                },
                "required": ["items"],
                "x-kubernetes-group-version-kind": [gvk(k.group, k.version, k.list_kind)],
            }),
        );
    }
    let every_gv: Vec<(&str, &str)> = std::iter::once(("", "v1"))
        .chain(registry::groups().into_iter().filter(|(g, _)| !g.is_empty()).flat_map(|(g, vs)| vs.into_iter().map(move |v| (g, v))))
        .collect();
    for e in types::EXTRAS {
        let Some((g, v, k)) = e.gvk else { continue };
        let list: Vec<Value> = if g == "*" { every_gv.iter().map(|(g, v)| gvk(g, v, k)).collect() } else { vec![gvk(g, v, k)] };
        if let Some(Value::Object(d)) = defs.get_mut(&*(e.name)()) {
            d.insert("x-kubernetes-group-version-kind".into(), Value::Array(list));
        }
    }
    extensions::apply(&mut defs);
    // JSON holds any value, not only objects.
    if let Some(Value::Object(d)) = defs.get_mut(JSON_ANY) {
        d.remove("type");
    }
    defs
}

fn description(defs: &Map<String, Value>, name: &str) -> Value {
    defs.get(name).and_then(|d| d.get("description")).cloned().unwrap_or(Value::Null)
}

fn info() -> Value {
    json!({"title": "Kubernetes", "version": KUBERNETES_VERSION})
}

/// All paths, grouped by group/version.
fn all_paths() -> Vec<((&'static str, &'static str), Vec<paths::Path>)> {
    let mut out: Vec<((&str, &str), Vec<paths::Path>)> = Vec::new();
    for rt in registry::all() {
        let kind = types::kind(rt.group, rt.version, rt.kind).expect("every served kind has a schema");
        let gv = (rt.group, rt.version);
        let i = match out.iter().position(|(k, _)| *k == gv) {
            Some(i) => i,
            None => {
                out.push((gv, vec![paths::discovery_path(rt.group, rt.version)]));
                out.len() - 1
            }
        };
        out[i].1.extend(paths::resource_paths(rt, &(kind.name)(), &kind.list_name()));
    }
    out
}

fn build_v2() -> Value {
    let mut defs = definitions().clone();
    // Swagger 2.0 has no oneOf: kube-apiserver publishes these as strings with a format.
    defs.insert(INT_OR_STRING.into(), json!({"description": description(&defs, INT_OR_STRING), "type": "string", "format": "int-or-string"}));
    defs.insert(QUANTITY.into(), json!({"description": description(&defs, QUANTITY), "type": "string"}));
    let mut path_map = Map::new();
    for (_, ps) in all_paths() {
        paths::render(&ps, paths::Op::v2, &mut path_map);
    }
    json!({
        "swagger": "2.0",
        "info": info(),
        "paths": path_map,
        "definitions": defs,
        "securityDefinitions": {"BearerToken": {"description": "Bearer Token authentication", "type": "apiKey", "name": "authorization", "in": "header"}},
        "security": [{"BearerToken": []}],
    })
}

fn build_v3(group: &str, version: &str) -> Value {
    let ps: Vec<paths::Path> = all_paths().into_iter().filter(|(gv, _)| *gv == (group, version)).flat_map(|(_, ps)| ps).collect();
    let mut path_map = Map::new();
    paths::render(&ps, paths::Op::v3, &mut path_map);

    let schemas = reachable_v3_schemas(paths::referenced(&ps));
    v3_document(path_map, schemas)
}

/// An OpenAPI 3.0 document of `paths` and `schemas`, as kube-apiserver frames one.
fn v3_document(paths: Map<String, Value>, schemas: Map<String, Value>) -> Value {
    json!({
        "openapi": "3.0.0",
        "info": info(),
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}},
        },
        "security": [{"BearerToken": []}],
    })
}

/// The built-in definitions reachable from `roots`, in their OpenAPI 3.0 form.
fn reachable_v3_schemas(roots: Vec<String>) -> Map<String, Value> {
    let defs = definitions();
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    let mut queue: Vec<String> = roots;
    while let Some(name) = queue.pop() {
        if !wanted.insert(name.clone()) {
            continue;
        }
        if let Some(d) = defs.get(&name) {
            collect_refs(d, &mut queue);
        }
    }
    let mut schemas = Map::new();
    for name in wanted {
        let Some(d) = defs.get(&name) else { continue };
        let schema = match name.as_str() {
            INT_OR_STRING => json!({"description": d["description"], "oneOf": [{"type": "integer"}, {"type": "string"}], "format": "int-or-string", "x-kubernetes-int-or-string": true}),
            QUANTITY => json!({"description": d["description"], "oneOf": [{"type": "string"}, {"type": "number"}], "x-kubernetes-int-or-string": true}),
            _ => to_v3(d),
        };
        schemas.insert(name, schema);
    }
    schemas
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.extend(r.strip_prefix(V2_REF).map(str::to_string)),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// A schema in the OpenAPI 3.0 form: refs point into `components/schemas`, and a ref with
/// siblings (a description, extensions) is wrapped in `allOf`, as kube-apiserver does.
fn to_v3(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            let mut reference = None;
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => reference = Some(r.replacen(V2_REF, V3_REF, 1)),
                    // Extension values are data, not schemas.
                    (k, v) if k.starts_with("x-") => {
                        out.insert(k.to_string(), v.clone());
                    }
                    ("properties" | "definitions", Value::Object(props)) => {
                        out.insert(k.clone(), Value::Object(props.iter().map(|(k, v)| (k.clone(), to_v3(v))).collect()));
                    }
                    (_, v @ (Value::Object(_) | Value::Array(_))) => {
                        out.insert(k.clone(), to_v3(v));
                    }
                    _ => {
                        out.insert(k.clone(), v.clone());
                    }
                }
            }
            match reference {
                Some(r) if out.is_empty() => json!({"$ref": r}),
                Some(r) => {
                    out.insert("allOf".into(), json!([{"$ref": r}]));
                    Value::Object(out)
                }
                None => Value::Object(out),
            }
        }
        Value::Array(a) => Value::Array(a.iter().map(to_v3).collect()),
        _ => v.clone(),
    }
}

#[cfg(test)]
mod tests;
