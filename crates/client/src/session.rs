//! A command's session: the connection, the type resolver and the namespace in effect,
//! with the read and edit commands (`get`, `describe`, `delete`, `edit`, `patch`, `label`,
//! `annotate`, `scale`, `explain`, `api-resources`).

use std::collections::HashMap;
use std::io::Write;

use futures_util::StreamExt;
use serde_json::{json, Map, Value};

use crate::client::{Conn, ListOptions, PatchType};
use crate::config::ConnectOptions;
use crate::error::{Error, Result};
use crate::patch::Schemas;
use crate::printers::{self, Output, TableOptions};
use crate::resources::{Resolver, ResourceInfo};

pub struct Session {
    pub conn: Conn,
    pub resolver: Resolver,
    /// `-n`, else the context's namespace, else "default".
    pub namespace: String,
    pub explicit_namespace: bool,
    /// How deletes cascade to dependents: Background (the default), Foreground or Orphan.
    pub propagation: &'static str,
    pub(crate) schema_cache: HashMap<String, Option<Schemas>>,
}

/// Flags of `get`.
#[derive(Debug, Clone, Default)]
pub struct GetOptions {
    pub all_namespaces: bool,
    pub list: ListOptions,
    pub output: Option<String>,
    pub watch: bool,
    pub watch_only: bool,
    pub ignore_not_found: bool,
    pub no_headers: bool,
    pub show_kind: bool,
    pub show_labels: bool,
    pub label_columns: Vec<String>,
    /// Keep `metadata.managedFields` in `-o json|yaml` output (kubectl drops them unless asked).
    pub show_managed_fields: bool,
}

/// Types and names from `TYPE[,TYPE] [NAME…]` or `TYPE/NAME…`.
pub async fn parse_targets(
    resolver: &mut Resolver,
    args: &[String],
) -> Result<Vec<(ResourceInfo, Vec<String>)>> {
    if args.is_empty() {
        return Err(Error::client("You must specify the type of resource to get. Use \"tug api-resources\" for a complete list of supported resources."));
    }
    let mut out: Vec<(ResourceInfo, Vec<String>)> = Vec::new();
    if args[0].contains('/') {
        for a in args {
            let (t, n) = a.split_once('/').ok_or_else(|| Error::client(format!("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'tug get resource/<resource_name>' instead of 'tug get resource resource/<resource_name>'): {a}")))?;
            if n.is_empty() {
                return Err(Error::client(format!(
                    "arguments in resource/name form must have a single resource and name: {a}"
                )));
            }
            let ri = resolver.resolve(t).await?;
            match out.iter_mut().find(|(r, _)| *r == ri) {
                Some((_, names)) => names.push(n.to_string()),
                None => out.push((ri, vec![n.to_string()])),
            }
        }
        return Ok(out);
    }
    let names: Vec<String> = args[1..].to_vec();
    if names.iter().any(|n| n.contains('/')) {
        return Err(Error::client("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form"));
    }
    for t in args[0].split(',').filter(|t| !t.is_empty()) {
        if t == "all" {
            for c in [
                "pods",
                "services",
                "daemonsets",
                "deployments",
                "replicasets",
                "statefulsets",
                "horizontalpodautoscalers",
                "cronjobs",
                "jobs",
            ] {
                out.push((resolver.resolve(c).await?, names.clone()));
            }
            continue;
        }
        out.push((resolver.resolve(t).await?, names.clone()));
    }
    Ok(out)
}

fn meta_name(v: &Value) -> &str {
    v.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

impl Session {
    pub async fn connect(opts: &ConnectOptions, namespace: Option<String>) -> Result<Session> {
        let conn = Conn::connect(opts).await?;
        let explicit_namespace = namespace.is_some();
        let namespace = namespace.unwrap_or_else(|| conn.default_namespace.clone());
        Ok(Session {
            resolver: Resolver::new(conn.clone()),
            conn,
            namespace,
            explicit_namespace,
            propagation: "Background",
            schema_cache: HashMap::new(),
        })
    }

    fn ns(&self, ri: &ResourceInfo, all: bool) -> Option<String> {
        if ri.namespaced && !all {
            Some(self.namespace.clone())
        } else {
            None
        }
    }

    /// `get`. Writes to `out`, errors (not-found names…) are returned after the rest printed.
    pub async fn get(
        &mut self,
        args: &[String],
        opts: &GetOptions,
        out: &mut dyn Write,
    ) -> Result<Vec<Error>> {
        let output = Output::parse(opts.output.as_deref())?;
        let targets = parse_targets(&mut self.resolver, args).await?;
        let multi = targets.len() > 1;
        let mut errors = Vec::new();
        let mut printed_any = false;
        let mut single_objects: Vec<(ResourceInfo, Value)> = Vec::new();
        let single = targets.len() == 1 && targets[0].1.len() == 1;
        for (ri, names) in &targets {
            let ns = self.ns(ri, opts.all_namespaces);
            if opts.watch || opts.watch_only {
                return self
                    .watch(
                        ri,
                        ns.as_deref(),
                        names.first().map(String::as_str),
                        opts,
                        &output,
                        out,
                    )
                    .await
                    .map(|_| errors);
            }
            if output.is_table() {
                let mut table: Option<Value> = None;
                if names.is_empty() {
                    table = Some(self.conn.table(ri, ns.as_deref(), None, &opts.list).await?);
                } else {
                    for n in names {
                        match self
                            .conn
                            .table(ri, ns.as_deref(), Some(n), &opts.list)
                            .await
                        {
                            Ok(t) => match &mut table {
                                None => table = Some(t),
                                Some(acc) => {
                                    let rows = t["rows"].as_array().cloned().unwrap_or_default();
                                    if let Some(a) = acc["rows"].as_array_mut() {
                                        a.extend(rows);
                                    }
                                }
                            },
                            Err(e) if e.is_not_found() && opts.ignore_not_found => {}
                            Err(e) => errors.push(e),
                        }
                    }
                }
                let Some(table) = table else { continue };
                if table["rows"].as_array().is_none_or(|r| r.is_empty()) {
                    continue;
                }
                let topts = TableOptions {
                    wide: matches!(output, Output::Wide),
                    no_headers: opts.no_headers,
                    with_namespace: opts.all_namespaces && ri.namespaced,
                    kind_prefix: (multi || opts.show_kind).then(|| ri.kind_group()),
                    show_labels: opts.show_labels,
                    label_columns: opts.label_columns.clone(),
                };
                if printed_any {
                    writeln!(out)?;
                }
                out.write_all(printers::print_table(&table, &topts).as_bytes())?;
                printed_any = true;
            } else {
                if names.is_empty() {
                    let list = self.conn.list(ri, ns.as_deref(), &opts.list).await?;
                    for item in list["items"].as_array().cloned().unwrap_or_default() {
                        single_objects.push((ri.clone(), item));
                    }
                } else {
                    for n in names {
                        match self.conn.get(ri, ns.as_deref(), n).await {
                            Ok(o) => single_objects.push((ri.clone(), o)),
                            Err(e) if e.is_not_found() && opts.ignore_not_found => {}
                            Err(e) => errors.push(e),
                        }
                    }
                }
            }
        }
        if !opts.show_managed_fields && matches!(output, Output::Json | Output::Yaml) {
            for (_, o) in &mut single_objects {
                if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.remove("managedFields");
                }
            }
        }
        if !output.is_table() {
            if single && single_objects.len() == 1 {
                let (ri, o) = single_objects.remove(0);
                out.write_all(printers::print_objects(&output, &ri, vec![o], true).as_bytes())?;
            } else if matches!(output, Output::Name) {
                for (ri, o) in &single_objects {
                    writeln!(out, "{}", printers::name_of(ri, o))?;
                }
            } else if !single_objects.is_empty() || errors.is_empty() {
                let items: Vec<Value> = single_objects
                    .into_iter()
                    .map(|(ri, o)| printers::with_type(&ri, o))
                    .collect();
                let empty_ri = targets[0].0.clone();
                out.write_all(
                    printers::print_objects(&output, &empty_ri, items, false).as_bytes(),
                )?;
            }
            printed_any = true;
        }
        if !printed_any && errors.is_empty() && !opts.ignore_not_found {
            let cluster = targets.iter().all(|(ri, _)| !ri.namespaced) || opts.all_namespaces;
            if cluster {
                eprintln!("No resources found");
            } else {
                eprintln!("No resources found in {} namespace.", self.namespace);
            }
        }
        Ok(errors)
    }

    async fn watch(
        &mut self,
        ri: &ResourceInfo,
        ns: Option<&str>,
        name: Option<&str>,
        opts: &GetOptions,
        output: &Output,
        out: &mut dyn Write,
    ) -> Result<()> {
        let mut list_opts = opts.list.clone();
        if let Some(n) = name {
            let f = format!("metadata.name={n}");
            list_opts.field_selector = Some(match list_opts.field_selector.take() {
                Some(s) if !s.is_empty() => format!("{s},{f}"),
                _ => f,
            });
        }
        let topts = TableOptions {
            wide: matches!(output, Output::Wide),
            no_headers: opts.no_headers,
            with_namespace: opts.all_namespaces && ri.namespaced,
            kind_prefix: opts.show_kind.then(|| ri.kind_group()),
            show_labels: opts.show_labels,
            label_columns: opts.label_columns.clone(),
        };
        let table = output.is_table();
        let mut widths = Vec::new();
        let rv;
        if table {
            let t = self.conn.table(ri, ns, None, &list_opts).await?;
            rv = t
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if !opts.watch_only {
                if t["rows"].as_array().is_some_and(|r| !r.is_empty()) {
                    out.write_all(
                        printers::align_with(&printers::table_rows(&t, &topts), &mut widths)
                            .as_bytes(),
                    )?;
                } else if name.is_none() {
                    eprintln!("No resources found in {} namespace.", ns.unwrap_or("all"));
                }
            }
        } else {
            let l = self.conn.list(ri, ns, &list_opts).await?;
            rv = l
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if !opts.watch_only {
                for item in l["items"].as_array().cloned().unwrap_or_default() {
                    out.write_all(
                        printers::print_objects(output, ri, vec![item], true).as_bytes(),
                    )?;
                }
            }
        }
        out.flush()?;
        let mut stream = Box::pin(self.conn.watch(ri, ns, &list_opts, &rv, table).await?);
        let mut row_opts = topts.clone();
        row_opts.no_headers = true;
        while let Some(ev) = stream.next().await {
            let ev = ev?;
            if ev.kind == "BOOKMARK" {
                continue;
            }
            if table {
                out.write_all(
                    printers::align_with(&printers::table_rows(&ev.object, &row_opts), &mut widths)
                        .as_bytes(),
                )?;
            } else {
                out.write_all(
                    printers::print_objects(output, ri, vec![ev.object], true).as_bytes(),
                )?;
            }
            out.flush()?;
        }
        Ok(())
    }

    /// The objects named by `TYPE NAME…`, `TYPE/NAME…` or `TYPE -l SEL` / `TYPE --all`.
    pub async fn select(
        &mut self,
        args: &[String],
        list: &ListOptions,
        all: bool,
        all_namespaces: bool,
    ) -> Result<(Vec<(ResourceInfo, Value)>, Vec<Error>)> {
        let targets = parse_targets(&mut self.resolver, args).await?;
        let mut objs = Vec::new();
        let mut errors = Vec::new();
        for (ri, names) in targets {
            let ns = self.ns(&ri, all_namespaces);
            if names.is_empty() {
                if !all && list.label_selector.is_none() && list.field_selector.is_none() {
                    return Err(Error::client(
                        "resource(s) were provided, but no name was specified",
                    ));
                }
                let l = self.conn.list(&ri, ns.as_deref(), list).await?;
                for item in l["items"].as_array().cloned().unwrap_or_default() {
                    objs.push((ri.clone(), item));
                }
            } else {
                for n in names {
                    match self.conn.get(&ri, ns.as_deref(), &n).await {
                        Ok(o) => objs.push((ri.clone(), o)),
                        Err(e) => errors.push(e),
                    }
                }
            }
        }
        Ok((objs, errors))
    }

    fn obj_ns(&self, ri: &ResourceInfo, obj: &Value) -> Option<String> {
        if !ri.namespaced {
            return None;
        }
        Some(
            obj.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(String::from)
                .unwrap_or_else(|| self.namespace.clone()),
        )
    }

    /// `delete TYPE NAME…` / `-l` / `--all`.
    pub async fn delete(
        &mut self,
        args: &[String],
        list: &ListOptions,
        all: bool,
        ignore_not_found: bool,
        wait: bool,
        out: &mut dyn FnMut(&str),
    ) -> Result<Vec<Error>> {
        let (objs, mut errors) = self.select(args, list, all, false).await?;
        if ignore_not_found {
            errors.retain(|e| !e.is_not_found());
        }
        if objs.is_empty() && errors.is_empty() && !ignore_not_found {
            eprintln!("No resources found");
        }
        let mut deleted = Vec::new();
        for (ri, o) in objs {
            let ns = self.obj_ns(&ri, &o);
            let name = meta_name(&o).to_string();
            match self.conn.delete(&ri, ns.as_deref(), &name, self.propagation).await {
                Ok(_) => {
                    out(&format!("{} \"{name}\" deleted", ri.kind_group()));
                    let uid = o
                        .pointer("/metadata/uid")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    deleted.push((ri, ns, name, uid));
                }
                Err(e) if e.is_not_found() && ignore_not_found => {}
                Err(e) => errors.push(e),
            }
        }
        if wait {
            self.wait_deleted(&deleted).await;
        }
        Ok(errors)
    }

    /// `patch TYPE NAME -p PATCH --type T`.
    pub async fn patch(
        &mut self,
        args: &[String],
        patch: &str,
        pt: PatchType,
        sub: Option<&str>,
    ) -> Result<String> {
        let (objs, errors) = self
            .select(args, &ListOptions::default(), false, false)
            .await?;
        if let Some(e) = errors.into_iter().next() {
            return Err(e);
        }
        let body: Value = serde_json::from_str(patch)
            .or_else(|_| {
                crate::manifest::parse(patch, "patch").and_then(|mut d| {
                    if d.len() == 1 {
                        Ok(d.remove(0))
                    } else {
                        Err(Error::client("the patch must be one document"))
                    }
                })
            })
            .map_err(|e| Error::client(format!("unable to parse \"{patch}\": {e}")))?;
        let mut lines = Vec::new();
        for (ri, o) in objs {
            let ns = self.obj_ns(&ri, &o);
            let before = o.pointer("/metadata/resourceVersion").cloned();
            let after = self
                .conn
                .patch_sub(&ri, ns.as_deref(), meta_name(&o), sub, pt, &body)
                .await?;
            let changed =
                after.pointer("/metadata/resourceVersion").cloned() != before || sub.is_some();
            lines.push(format!(
                "{}/{} {}",
                ri.kind_group(),
                meta_name(&o),
                if changed {
                    "patched"
                } else {
                    "patched (no change)"
                }
            ));
        }
        Ok(lines.join("\n"))
    }

    /// `label` / `annotate`: `k=v` sets, `k-` removes.
    pub async fn set_metadata(
        &mut self,
        field: &str,
        args: &[String],
        overwrite: bool,
        list: &ListOptions,
        all: bool,
    ) -> Result<String> {
        let split = args
            .iter()
            .position(|a| a.contains('=') || (a.ends_with('-') && !a.contains('/')))
            .unwrap_or(args.len());
        let (targets, changes) = args.split_at(split);
        if changes.is_empty() {
            return Err(Error::client(format!(
                "at least one {} update is required",
                if field == "labels" {
                    "label"
                } else {
                    "annotation"
                }
            )));
        }
        let (objs, errors) = self.select(targets, list, all, false).await?;
        if let Some(e) = errors.into_iter().next() {
            return Err(e);
        }
        let mut lines = Vec::new();
        for (ri, o) in objs {
            let existing = o
                .pointer(&format!("/metadata/{field}"))
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let mut m = Map::new();
            for c in changes {
                if let Some((k, v)) = c.split_once('=') {
                    if let Some(old) = existing.get(k).and_then(Value::as_str) {
                        if old != v && !overwrite {
                            return Err(Error::client(format!(
                                "'{k}' already has a value ({old}), and --overwrite is false"
                            )));
                        }
                    }
                    m.insert(k.to_string(), Value::String(v.to_string()));
                } else if let Some(k) = c.strip_suffix('-') {
                    if existing.contains_key(k) {
                        m.insert(k.to_string(), Value::Null);
                    } else if field == "labels" {
                        eprintln!("label \"{k}\" not found.");
                    }
                }
            }
            let ns = self.obj_ns(&ri, &o);
            let body = json!({"metadata": {field: m}});
            let before = o.pointer("/metadata/resourceVersion").cloned();
            let after = self
                .conn
                .patch(&ri, ns.as_deref(), meta_name(&o), PatchType::Merge, &body)
                .await?;
            let word = if field == "labels" {
                "labeled"
            } else {
                "annotated"
            };
            let changed = after.pointer("/metadata/resourceVersion").cloned() != before;
            lines.push(format!(
                "{}/{} {}",
                ri.kind_group(),
                meta_name(&o),
                if changed {
                    word.to_string()
                } else {
                    format!("{word} (no change)")
                }
            ));
        }
        Ok(lines.join("\n"))
    }

    /// `scale TYPE NAME --replicas N`, through the scale subresource.
    pub async fn scale(
        &mut self,
        args: &[String],
        replicas: i64,
        current_replicas: Option<i64>,
    ) -> Result<String> {
        let (objs, errors) = self
            .select(args, &ListOptions::default(), false, false)
            .await?;
        if let Some(e) = errors.into_iter().next() {
            return Err(e);
        }
        let mut lines = Vec::new();
        for (ri, o) in objs {
            if let Some(want) = current_replicas {
                let have = o
                    .pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                if have != want {
                    return Err(Error::client(format!(
                        "Expected replicas to be {want}, was {have}"
                    )));
                }
            }
            let ns = self.obj_ns(&ri, &o);
            let body = json!({"spec": {"replicas": replicas}});
            match self
                .conn
                .patch_sub(
                    &ri,
                    ns.as_deref(),
                    meta_name(&o),
                    Some("scale"),
                    PatchType::Merge,
                    &body,
                )
                .await
            {
                Ok(_) => {}
                Err(e) if e.is_not_found() || e.code() == Some(405) => {
                    return Err(Error::client(format!(
                        "cannot scale {}: it has no scale subresource",
                        ri.group_resource()
                    )));
                }
                Err(e) => return Err(e),
            }
            lines.push(format!("{}/{} scaled", ri.kind_group(), meta_name(&o)));
        }
        Ok(lines.join("\n"))
    }

    /// `edit TYPE NAME`: the object as YAML in `$KUBE_EDITOR`/`$EDITOR`, then a replace.
    pub async fn edit(&mut self, args: &[String]) -> Result<String> {
        let (objs, errors) = self
            .select(args, &ListOptions::default(), false, false)
            .await?;
        if let Some(e) = errors.into_iter().next() {
            return Err(e);
        }
        let editor = std::env::var("KUBE_EDITOR")
            .or_else(|_| std::env::var("EDITOR"))
            .unwrap_or_else(|_| "vi".into());
        let mut lines = Vec::new();
        for (ri, o) in objs {
            let o = printers::with_type(&ri, o);
            let original = printers::to_yaml(&o);
            let dir = std::env::temp_dir().join(format!(
                "tug-edit-{}-{}",
                std::process::id(),
                meta_name(&o)
            ));
            std::fs::create_dir_all(&dir)?;
            let file = dir.join(format!("{}.yaml", meta_name(&o)));
            let header = "# Please edit the object below. Lines beginning with a '#' will be ignored,\n# and an empty file will abort the edit.\n#\n";
            std::fs::write(&file, format!("{header}{original}"))?;
            let status = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("{editor} \"$1\""))
                .arg("sh")
                .arg(&file)
                .status();
            let edited = std::fs::read_to_string(&file);
            let _ = std::fs::remove_dir_all(&dir);
            match status {
                Ok(s) if s.success() => {}
                Ok(s) => return Err(Error::client(format!("the editor exited with {s}"))),
                Err(e) => {
                    return Err(Error::client(format!(
                        "cannot run the editor {editor}: {e}"
                    )))
                }
            }
            let edited = edited?;
            let body: String = edited
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n");
            if body.trim().is_empty() {
                return Ok("Edit cancelled, no changes made.".into());
            }
            let docs = crate::manifest::parse(&body, "edited file")?;
            let new = docs.into_iter().next().unwrap_or(Value::Null);
            if printers::sorted(&new) == printers::sorted(&o) {
                lines.push("Edit cancelled, no changes made.".to_string());
                continue;
            }
            // As kubectl: send only what the editor changed (a two-way merge patch with no
            // resourceVersion precondition), so a controller's write in the meantime
            // does not turn the edit into a conflict.
            let ns = self.obj_ns(&ri, &o);
            let patch = crate::patch::three_way(Some(&o), &new, &o, None);
            self.conn
                .patch(&ri, ns.as_deref(), meta_name(&o), PatchType::Merge, &patch)
                .await?;
            lines.push(format!("{}/{} edited", ri.kind_group(), meta_name(&o)));
        }
        Ok(lines.join("\n"))
    }

    /// `api-resources`.
    pub async fn api_resources(
        &mut self,
        namespaced: Option<bool>,
        api_group: Option<&str>,
        output: Option<&str>,
        no_headers: bool,
    ) -> Result<String> {
        let mut rs: Vec<ResourceInfo> = self.resolver.discover().await?.to_vec();
        // Preferred version only, as kubectl lists them.
        let mut seen: Vec<(String, String)> = Vec::new();
        rs.retain(|r| {
            let k = (r.group.clone(), r.plural.clone());
            if seen.contains(&k) {
                false
            } else {
                seen.push(k);
                true
            }
        });
        if let Some(n) = namespaced {
            rs.retain(|r| r.namespaced == n);
        }
        if let Some(g) = api_group {
            rs.retain(|r| r.group == g);
        }
        rs.sort_by(|a, b| {
            (a.group.as_str(), a.plural.as_str()).cmp(&(b.group.as_str(), b.plural.as_str()))
        });
        if output == Some("name") {
            return Ok(rs.iter().map(|r| r.group_resource() + "\n").collect());
        }
        let wide = output == Some("wide");
        let mut rows = Vec::new();
        if !no_headers {
            let mut h: Vec<String> = ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            if wide {
                h.push("VERBS".into());
                h.push("CATEGORIES".into());
            }
            rows.push(h);
        }
        for r in &rs {
            let mut row = vec![
                r.plural.clone(),
                r.short_names.join(","),
                r.api_version(),
                r.namespaced.to_string(),
                r.kind.clone(),
            ];
            if wide {
                row.push(format!("[{}]", r.verbs.join(" ")));
                row.push(r.categories.join(","));
            }
            rows.push(row);
        }
        Ok(printers::align(&rows))
    }
}
