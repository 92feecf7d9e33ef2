//! The operations of each served resource, in the shape kube-apiserver publishes them:
//! one path per collection, item and subresource, each operation tagged with
//! `x-kubernetes-action` and `x-kubernetes-group-version-kind`, and with the query
//! parameters the server honours (clients read these: kubectl looks for `fieldValidation`
//! on PATCH to decide whether the server validates fields, and for the strategic merge
//! patch media type to decide how `apply` patches).
//!
//! Operations are built once in a neutral form ([`Op`]) and rendered as Swagger 2.0 or
//! OpenAPI 3.0.

use super::types;
use crate::registry::{ResourceType, Subresource};
use serde_json::{Map, Value, json};

/// A query or path parameter.
#[derive(Clone, Copy)]
pub(crate) struct Param {
    pub name: &'static str,
    pub path: bool,
    pub ty: &'static str,
    pub description: &'static str,
}

const fn q(name: &'static str, ty: &'static str, description: &'static str) -> Param {
    Param { name, path: false, ty, description }
}

const NAMESPACE: Param = Param { name: "namespace", path: true, ty: "string", description: "object name and auth scope, such as for teams and projects" };
const NAME_OF: &str = "name of the object";
const PRETTY: Param = q("pretty", "string", "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).");
const DRY_RUN: Param = q("dryRun", "string", "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed");
const FIELD_MANAGER: Param = q("fieldManager", "string", "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.");
const FIELD_VALIDATION: Param = q("fieldValidation", "string", "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.");
const FORCE: Param = q("force", "boolean", "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.");
const WRITE: &[Param] = &[DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION];
const LIST: &[Param] = &[
    q("allowWatchBookmarks", "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion."),
    q("continue", "string", "The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue)."),
    q("fieldSelector", "string", "A selector to restrict the list of returned objects by their fields. Defaults to everything."),
    q("labelSelector", "string", "A selector to restrict the list of returned objects by their labels. Defaults to everything."),
    q("limit", "integer", "limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata to a value that can be used with the same initial query to retrieve the next set of results."),
    q("resourceVersion", "string", "resourceVersion sets a constraint on what resource versions a request may be served from. Defaults to unset"),
    q("resourceVersionMatch", "string", "resourceVersionMatch determines how resourceVersion is applied to list calls. Defaults to unset"),
    q("sendInitialEvents", "boolean", "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection."),
    q("timeoutSeconds", "integer", "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity."),
    q("watch", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion."),
];
const DELETE: &[Param] = &[
    DRY_RUN,
    q("gracePeriodSeconds", "integer", "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used. Defaults to a per object value if not specified. zero means delete immediately."),
    q("ignoreStoreReadErrorWithClusterBreakingPotential", "boolean", "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error."),
    q("orphanDependents", "boolean", "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned."),
    q("propagationPolicy", "string", "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. Acceptable values are: 'Orphan', 'Background', 'Foreground'."),
];
const LOG: &[Param] = &[
    q("container", "string", "The container for which to stream logs. Defaults to only container if there is one container in the pod."),
    q("follow", "boolean", "Follow the log stream of the pod. Defaults to false."),
    q("insecureSkipTLSVerifyBackend", "boolean", "insecureSkipTLSVerifyBackend indicates that the apiserver should not confirm the validity of the serving certificate of the backend it is connecting to."),
    q("limitBytes", "integer", "If set, the number of bytes to read from the server before terminating the log output."),
    q("previous", "boolean", "Return previous terminated container logs. Defaults to false."),
    q("sinceSeconds", "integer", "A relative time in seconds before the current time from which to show logs."),
    q("stream", "string", "Specify which container log stream to return to the client. Acceptable values are \"All\", \"Stdout\" and \"Stderr\". If not specified, \"All\" is used."),
    q("tailLines", "integer", "If set, the number of lines from the end of the logs to show."),
    q("timestamps", "boolean", "If true, add an RFC3339 or RFC3339Nano timestamp at the beginning of every line of log output. Defaults to false."),
];
const EXEC: &[Param] = &[
    q("command", "string", "Command is the remote command to execute. argv array. Not executed within a shell."),
    q("container", "string", "Container in which to execute the command. Defaults to only container if there is only one container in the pod."),
    q("stderr", "boolean", "Redirect the standard error stream of the pod for this call."),
    q("stdin", "boolean", "Redirect the standard input stream of the pod for this call. Defaults to false."),
    q("stdout", "boolean", "Redirect the standard output stream of the pod for this call."),
    q("tty", "boolean", "TTY if true indicates that a tty will be allocated for the exec call. Defaults to false."),
];
const ATTACH: &[Param] = &[
    q("container", "string", "The container in which to execute the command. Defaults to only container if there is only one container in the pod."),
    q("stderr", "boolean", "Stderr if true indicates that stderr is to be redirected for the attach call. Defaults to true."),
    q("stdin", "boolean", "Stdin if true, redirects the standard input stream of the pod for this call. Defaults to false."),
    q("stdout", "boolean", "Stdout if true indicates that stdout is to be redirected for the attach call. Defaults to true."),
    q("tty", "boolean", "TTY if true indicates that a tty will be allocated for the attach call. This is passed through the container runtime so the tty is allocated on the worker node by the container runtime. Defaults to false."),
];
const PORT_FORWARD: &[Param] = &[q("ports", "integer", "List of ports to forward Required when using WebSockets")];

/// A request or response body.
#[derive(Clone)]
pub(crate) enum Body {
    /// An object of the named definition.
    Def(String),
    /// A PATCH body in any of the patch media types; strategic merge only where the kind
    /// has patch strategies (built-in kinds: custom ones take merge patches instead).
    Patch { strategic: bool },
    /// Plain text (logs, streams).
    Text,
}

/// One operation on one path.
pub(crate) struct Op {
    pub method: &'static str,
    pub operation_id: String,
    pub description: String,
    pub action: &'static str,
    pub gvk: (String, String, String),
    pub params: Vec<Param>,
    /// The path parameter `name` is described per operation ("name of the Deployment").
    pub name_param: Option<String>,
    pub body: Option<Body>,
    pub response: Body,
    /// Extra success codes besides 200 ("201", "202").
    pub also: &'static [&'static str],
    pub tag: String,
}

/// One path with its operations.
pub(crate) struct Path {
    pub path: String,
    pub ops: Vec<Op>,
}

/// "apps" → "Apps", "rbac.authorization.k8s.io" → "RbacAuthorization", "" → "Core".
fn group_ident(group: &str) -> String {
    if group.is_empty() {
        return "Core".into();
    }
    group.trim_end_matches(".k8s.io").split(['.', '-']).map(capitalize).collect()
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The tag kube-apiserver files a group/version's operations under: "apps_v1", "core_v1".
pub(crate) fn tag(group: &str, version: &str) -> String {
    let g = group_ident(group);
    let mut g = g.chars();
    let first = g.next().map(|c| c.to_ascii_lowercase()).into_iter();
    format!("{}_{version}", first.chain(g).collect::<String>())
}

/// "/api/v1" or "/apis/apps/v1".
pub(crate) fn prefix(group: &str, version: &str) -> String {
    if group.is_empty() { format!("/api/{version}") } else { format!("/apis/{group}/{version}") }
}

/// Every path of one served resource, whose schema and list schema are the definitions
/// `kind_name` and `list_name`.
pub(crate) fn resource_paths(rt: &ResourceType, kind_name: &str, list_name: &str) -> Vec<Path> {
    let gv = format!("{}{}", group_ident(rt.group), capitalize(rt.version));
    let p = prefix(rt.group, rt.version);
    let tag = tag(rt.group, rt.version);
    let (kind_name, list_name) = (kind_name.to_string(), list_name.to_string());
    let gvk = (rt.group.to_string(), rt.version.to_string(), rt.kind.to_string());
    let (ns_seg, ns_id) = if rt.namespaced { ("/namespaces/{namespace}", "Namespaced") } else { ("", "") };
    let collection = format!("{p}{ns_seg}/{}", rt.plural);
    let item = format!("{collection}/{{name}}");
    let ns: Vec<Param> = if rt.namespaced { vec![NAMESPACE] } else { vec![] };
    let with = |extra: &[Param]| -> Vec<Param> {
        let mut v = ns.clone();
        v.push(PRETTY);
        v.extend_from_slice(extra);
        v
    };
    let op = |method, id: String, description: String, action, params, body, response, also| Op {
        method,
        operation_id: id,
        description,
        action,
        gvk: gvk.clone(),
        params,
        name_param: None,
        body,
        response,
        also,
        tag: tag.clone(),
    };
    let named = |mut o: Op, what: &str| {
        o.name_param = Some(format!("name of the {what}"));
        o
    };
    let k = rt.kind;
    let def = || Body::Def(kind_name.clone());
    let patch = || Body::Patch { strategic: !rt.custom };
    let mut paths = Vec::new();

    // A review is only created.
    if rt.create_only {
        paths.push(Path {
            path: collection,
            ops: vec![op("post", format!("create{gv}{ns_id}{k}"), format!("create a {k}"), "post", with(WRITE), Some(def()), def(), &["201", "202"])],
        });
        return paths;
    }
    // The collection: list, create, delete collection.
    paths.push(Path {
        path: collection.clone(),
        ops: vec![
            op("get", format!("list{gv}{ns_id}{k}"), format!("list or watch objects of kind {k}"), "list", with(LIST), None, Body::Def(list_name.clone()), &[]),
            op("post", format!("create{gv}{ns_id}{k}"), format!("create a {k}"), "post", with(WRITE), Some(def()), def(), &["201", "202"]),
            op("delete", format!("deletecollection{gv}{ns_id}{k}"), format!("delete collection of {k}"), "deletecollection", with(&[LIST, DELETE].concat()), Some(Body::Def(types::DELETE_OPTIONS.into())), Body::Def(types::STATUS.into()), &[]),
        ],
    });
    // The item: read, replace, patch, delete.
    let mut patch_params = WRITE.to_vec();
    patch_params.push(FORCE);
    paths.push(Path {
        path: item.clone(),
        ops: vec![
            named(op("get", format!("read{gv}{ns_id}{k}"), format!("read the specified {k}"), "get", with(&[]), None, def(), &[]), k),
            named(op("put", format!("replace{gv}{ns_id}{k}"), format!("replace the specified {k}"), "put", with(WRITE), Some(def()), def(), &["201"]), k),
            named(op("patch", format!("patch{gv}{ns_id}{k}"), format!("partially update the specified {k}"), "patch", with(&patch_params), Some(patch()), def(), &["201"]), k),
            named(op("delete", format!("delete{gv}{ns_id}{k}"), format!("delete a {k}"), "delete", with(DELETE), Some(Body::Def(types::DELETE_OPTIONS.into())), Body::Def(types::STATUS.into()), &["202"]), k),
        ],
    });
    // Namespaced kinds are also listed across all namespaces.
    if rt.namespaced {
        let mut params = vec![PRETTY];
        params.extend_from_slice(LIST);
        paths.push(Path {
            path: format!("{p}/{}", rt.plural),
            ops: vec![op("get", format!("list{gv}{k}ForAllNamespaces"), format!("list or watch objects of kind {k}"), "list", params.clone(), None, Body::Def(list_name.clone()), &[])],
        });
        paths.push(Path {
            path: format!("{p}/watch/{}", rt.plural),
            ops: vec![op("get", format!("watch{gv}{k}ListForAllNamespaces"), format!("watch individual changes to a list of {k}. deprecated: use the 'watch' parameter with a list operation instead."), "watchlist", params, None, Body::Def(types::WATCH_EVENT.into()), &[])],
        });
    }
    // The deprecated watch paths, still published by kube-apiserver.
    paths.push(Path {
        path: format!("{p}/watch{ns_seg}/{}", rt.plural),
        ops: vec![op("get", format!("watch{gv}{ns_id}{k}List"), format!("watch individual changes to a list of {k}. deprecated: use the 'watch' parameter with a list operation instead."), "watchlist", with(LIST), None, Body::Def(types::WATCH_EVENT.into()), &[])],
    });
    paths.push(Path {
        path: format!("{p}/watch{ns_seg}/{}/{{name}}", rt.plural),
        ops: vec![named(op("get", format!("watch{gv}{ns_id}{k}"), format!("watch changes to an object of kind {k}. deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."), "watch", with(LIST), None, Body::Def(types::WATCH_EVENT.into()), &[]), k)],
    });

    for sub in rt.subresources {
        let path = format!("{item}/{}", sub.name());
        let sub_gvk = |g: &str, v: &str, k: &str| (g.to_string(), v.to_string(), k.to_string());
        let ops = match sub {
            Subresource::Status => vec![
                named(op("get", format!("read{gv}{ns_id}{k}Status"), format!("read status of the specified {k}"), "get", with(&[]), None, def(), &[]), k),
                named(op("put", format!("replace{gv}{ns_id}{k}Status"), format!("replace status of the specified {k}"), "put", with(WRITE), Some(def()), def(), &["201"]), k),
                named(op("patch", format!("patch{gv}{ns_id}{k}Status"), format!("partially update status of the specified {k}"), "patch", with(&patch_params), Some(patch()), def(), &["201"]), k),
            ],
            Subresource::Scale => {
                let scale = || Body::Def(types::SCALE.into());
                let mut ops = vec![
                    named(op("get", format!("read{gv}{ns_id}{k}Scale"), format!("read scale of the specified {k}"), "get", with(&[]), None, scale(), &[]), "Scale"),
                    named(op("put", format!("replace{gv}{ns_id}{k}Scale"), format!("replace scale of the specified {k}"), "put", with(WRITE), Some(scale()), scale(), &["201"]), "Scale"),
                    named(op("patch", format!("patch{gv}{ns_id}{k}Scale"), format!("partially update scale of the specified {k}"), "patch", with(&patch_params), Some(patch()), scale(), &["201"]), "Scale"),
                ];
                for o in &mut ops {
                    o.gvk = sub_gvk("autoscaling", "v1", "Scale");
                }
                ops
            }
            Subresource::Binding => {
                let mut o = named(op("post", format!("create{gv}{ns_id}{k}Binding"), "create binding of a Pod".into(), "post", with(WRITE), Some(Body::Def(types::BINDING.into())), Body::Def(types::BINDING.into()), &["201", "202"]), "Binding");
                o.gvk = sub_gvk("", "v1", "Binding");
                vec![o]
            }
            Subresource::Eviction => {
                let mut o = named(op("post", format!("create{gv}{ns_id}{k}Eviction"), "create eviction of a Pod".into(), "post", with(WRITE), Some(Body::Def(types::EVICTION.into())), Body::Def(types::EVICTION.into()), &["201", "202"]), "Eviction");
                o.gvk = sub_gvk("policy", "v1", "Eviction");
                vec![o]
            }
            Subresource::Token => {
                let mut o = named(op("post", format!("create{gv}{ns_id}{k}Token"), format!("create token of a {k}"), "post", with(WRITE), Some(Body::Def(types::TOKEN_REQUEST.into())), Body::Def(types::TOKEN_REQUEST.into()), &["201", "202"]), "TokenRequest");
                o.gvk = sub_gvk("authentication.k8s.io", "v1", "TokenRequest");
                vec![o]
            }
            Subresource::Log => {
                let mut o = named(op("get", format!("read{gv}{ns_id}{k}Log"), format!("read log of the specified {k}"), "get", with(LOG), None, Body::Text, &[]), k);
                o.gvk = sub_gvk(rt.group, rt.version, k);
                vec![o]
            }
            Subresource::Exec | Subresource::Attach | Subresource::PortForward => {
                let (what, params) = match sub {
                    Subresource::Exec => ("Exec", EXEC),
                    Subresource::Attach => ("Attach", ATTACH),
                    _ => ("Portforward", PORT_FORWARD),
                };
                let what_opts = format!("{k}{what}Options");
                ["get", "post"]
                    .into_iter()
                    .map(|m| {
                        let mut o = named(op(m, format!("connect{}{gv}{ns_id}{k}{what}", capitalize(m)), format!("connect {m} requests to {} of {k}", sub.name()), "connect", with(params), None, Body::Text, &[]), &what_opts);
                        o.gvk = sub_gvk(rt.group, rt.version, &what_opts);
                        o.params.retain(|p| p.name != "pretty");
                        o
                    })
                    .collect()
            }
        };
        paths.push(Path { path, ops });
    }
    paths
}

/// `GET /apis/<group>/<version>/`: the group/version's resource list.
pub(crate) fn discovery_path(group: &str, version: &str) -> Path {
    let gv = format!("{}{}", group_ident(group), capitalize(version));
    Path {
        path: format!("{}/", prefix(group, version)),
        ops: vec![Op {
            method: "get",
            operation_id: format!("get{gv}APIResources"),
            description: "get available resources".into(),
            action: "",
            gvk: Default::default(),
            params: vec![],
            name_param: None,
            body: None,
            response: Body::Def(types::API_RESOURCE_LIST.into()),
            also: &[],
            tag: tag(group, version),
        }],
    }
}

const PRODUCES: &[&str] = &["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"];
const PRODUCES_WATCH: &[&str] = &["application/json", "application/yaml", "application/vnd.kubernetes.protobuf", "application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch"];
/// The media types a PATCH accepts.
fn patch_types(strategic: bool) -> Vec<&'static str> {
    let mut types = vec!["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"];
    if strategic {
        types.insert(2, "application/strategic-merge-patch+json");
    }
    types
}

impl Op {
    fn produces(&self) -> &'static [&'static str] {
        match (&self.response, self.action) {
            (Body::Text, _) => &["*/*"],
            (_, "list" | "watch" | "watchlist") => PRODUCES_WATCH,
            _ => PRODUCES,
        }
    }

    fn extensions(&self, out: &mut Map<String, Value>) {
        if !self.action.is_empty() {
            out.insert("x-kubernetes-action".into(), json!(self.action));
            let (g, v, k) = &self.gvk;
            out.insert("x-kubernetes-group-version-kind".into(), json!({"group": g, "kind": k, "version": v}));
        }
    }

    fn all_params(&self) -> Vec<(Param, Option<&str>)> {
        let mut out: Vec<(Param, Option<&str>)> = Vec::new();
        if let Some(d) = &self.name_param {
            out.push((Param { name: "name", path: true, ty: "string", description: NAME_OF }, Some(d.as_str())));
        }
        out.extend(self.params.iter().map(|p| (*p, None)));
        out
    }

    /// Swagger 2.0 operation object.
    pub fn v2(&self) -> Value {
        let mut params: Vec<Value> = self
            .all_params()
            .into_iter()
            .map(|(p, d)| {
                let mut v = json!({"name": p.name, "in": if p.path { "path" } else { "query" }, "description": d.unwrap_or(p.description), "type": p.ty, "uniqueItems": true});
                if p.path {
                    v["required"] = json!(true);
                }
                v
            })
            .collect();
        let consumes: Vec<&str> = match &self.body {
            Some(Body::Def(name)) => {
                params.push(json!({"name": "body", "in": "body", "required": true, "schema": {"$ref": format!("#/definitions/{name}")}}));
                vec!["*/*"]
            }
            Some(Body::Patch { strategic }) => {
                params.push(json!({"name": "body", "in": "body", "required": true, "schema": {"$ref": format!("#/definitions/{}", types::PATCH)}}));
                patch_types(*strategic)
            }
            _ => vec!["*/*"],
        };
        let schema = match &self.response {
            Body::Def(name) => json!({"$ref": format!("#/definitions/{name}")}),
            _ => json!({"type": "string"}),
        };
        let mut responses = Map::new();
        let label = |c: &str| match c {
            "201" => "Created",
            "202" => "Accepted",
            _ => "OK",
        };
        for code in std::iter::once(&"200").chain(self.also) {
            responses.insert(code.to_string(), json!({"description": label(code), "schema": schema}));
        }
        responses.insert("401".into(), json!({"description": "Unauthorized"}));
        let mut op = Map::new();
        op.insert("description".into(), json!(self.description));
        op.insert("consumes".into(), json!(consumes));
        op.insert("produces".into(), json!(self.produces()));
        op.insert("schemes".into(), json!(["https"]));
        op.insert("tags".into(), json!([self.tag]));
        op.insert("operationId".into(), json!(self.operation_id));
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        op.insert("responses".into(), Value::Object(responses));
        self.extensions(&mut op);
        Value::Object(op)
    }

    /// OpenAPI 3.0 operation object.
    pub fn v3(&self) -> Value {
        let params: Vec<Value> = self
            .all_params()
            .into_iter()
            .map(|(p, d)| {
                let mut v = json!({"name": p.name, "in": if p.path { "path" } else { "query" }, "description": d.unwrap_or(p.description), "schema": {"type": p.ty, "uniqueItems": true}});
                if p.path {
                    v["required"] = json!(true);
                }
                v
            })
            .collect();
        let reference = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
        let mut op = Map::new();
        op.insert("tags".into(), json!([self.tag]));
        op.insert("description".into(), json!(self.description));
        op.insert("operationId".into(), json!(self.operation_id));
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        match &self.body {
            Some(Body::Def(name)) => {
                op.insert("requestBody".into(), json!({"content": {"*/*": {"schema": reference(name)}}, "required": true}));
            }
            Some(Body::Patch { strategic }) => {
                let content: Map<String, Value> = patch_types(*strategic).iter().map(|t| (t.to_string(), json!({"schema": reference(types::PATCH)}))).collect();
                op.insert("requestBody".into(), json!({"content": content, "required": true}));
            }
            _ => {}
        }
        let content: Map<String, Value> = match &self.response {
            Body::Def(name) => self.produces().iter().map(|t| (t.to_string(), json!({"schema": reference(name)}))).collect(),
            _ => [("*/*".to_string(), json!({"schema": {"type": "string"}}))].into_iter().collect(),
        };
        let mut responses = Map::new();
        for code in std::iter::once(&"200").chain(self.also) {
            let label = match *code {
                "201" => "Created",
                "202" => "Accepted",
                _ => "OK",
            };
            responses.insert(code.to_string(), json!({"description": label, "content": content}));
        }
        responses.insert("401".into(), json!({"description": "Unauthorized"}));
        op.insert("responses".into(), Value::Object(responses));
        self.extensions(&mut op);
        Value::Object(op)
    }
}

/// Render paths into a `paths` object with `render` (Op::v2 or Op::v3).
pub(crate) fn render(paths: &[Path], render: fn(&Op) -> Value, out: &mut Map<String, Value>) {
    for p in paths {
        let mut item = Map::new();
        for op in &p.ops {
            item.insert(op.method.to_string(), render(op));
        }
        out.insert(p.path.clone(), Value::Object(item));
    }
}

/// Definition names the operations of `paths` refer to.
pub(crate) fn referenced(paths: &[Path]) -> Vec<String> {
    let mut out = Vec::new();
    for p in paths {
        for op in &p.ops {
            for b in op.body.iter().chain(std::iter::once(&op.response)) {
                match b {
                    Body::Def(name) => out.push(name.clone()),
                    Body::Patch { .. } => out.push(types::PATCH.to_string()),
                    Body::Text => {}
                }
            }
        }
    }
    out.push(types::STATUS.to_string());
    out.sort();
    out.dedup();
    out
}
