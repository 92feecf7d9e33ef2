//! The release operations. Each one writes a record before touching objects (status
//! `pending-*`), so an interrupted operation is visible and recoverable by `rollback`,
//! and ends with the record `deployed` or `failed`. A failed install removes the objects
//! it created (the `failed` record stays, unless `--atomic` uninstalls it); a failed
//! upgrade with `--atomic` rolls back to the last deployed revision.

use std::time::{Duration, Instant};

use serde_json::Value;
use tug_client::{ConnectOptions, Session};

use crate::hooks;
use crate::kube::{ownership_error, set_owner, Kube, Object};
use crate::record::{chart_json, now, Hook, Info, Record, Status};
use crate::storage::Storage;
use crate::{cluster, Error};
use tug_chart::order::{render_split, Split, TemplateOptions};
use tug_chart::Capabilities;
use tug_chart::Chart;
use tug_chart::{Lookup, Release};

/// What `install` (and the install half of `upgrade --install`) takes.
#[derive(Clone, Debug)]
pub struct InstallOptions {
    pub name: String,
    pub namespace: String,
    /// The values the user supplied (`-f`, `--set`…), merged.
    pub values: tug_gotemplate::Value,
    pub capabilities: Capabilities,
    pub atomic: bool,
    pub wait: bool,
    pub timeout: Duration,
    pub create_namespace: bool,
    pub skip_crds: bool,
    pub skip_schema_validation: bool,
    pub description: Option<String>,
}

/// What `upgrade` takes beyond the install options.
#[derive(Clone, Debug)]
pub struct UpgradeOptions {
    pub common: InstallOptions,
    /// Install when the release does not exist.
    pub install: bool,
    pub reuse_values: bool,
    pub reset_values: bool,
}

#[derive(Clone, Debug)]
pub struct RollbackOptions {
    pub name: String,
    pub namespace: String,
    /// 0: the revision before the latest.
    pub revision: i64,
    pub wait: bool,
    pub timeout: Duration,
}

/// A chart rendered for one revision.
struct Rendered {
    manifest: String,
    hooks: Vec<Hook>,
    notes: String,
    crds: String,
}

/// Helm's release-name rule.
fn check_name(name: &str) -> Result<(), Error> {
    let re = regex_lite::Regex::new(
        r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
    )
    .map_err(|e| Error::Release(e.to_string()))?;
    if name.len() > 53 || !re.is_match(name) {
        return Err(Error::Release(format!("release name \"{name}\": invalid release name, must match regex ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$ and the length must not be longer than 53")));
    }
    Ok(())
}

fn render(
    chart: &Chart,
    o: &InstallOptions,
    values: &tug_gotemplate::Value,
    revision: i64,
    upgrade: bool,
    lookup: Lookup,
) -> Result<Rendered, Error> {
    let opts = TemplateOptions {
        release: Release {
            name: o.name.clone(),
            namespace: o.namespace.clone(),
            revision,
            is_install: !upgrade,
            is_upgrade: upgrade,
        },
        capabilities: o.capabilities.clone(),
        values: values.clone(),
        skip_schema_validation: o.skip_schema_validation,
        lookup: Some(lookup),
        ..TemplateOptions::default()
    };
    let Split { chart: processed, rendered, generic, hooks: hook_manifests } = render_split(chart, &opts)?;
    let mut manifest = String::new();
    for m in &generic {
        manifest.push_str(&format!("---\n# Source: {}\n{}\n", m.source, m.content));
    }
    let notes = rendered
        .get(&format!("{}/templates/NOTES.txt", processed.name()))
        .cloned()
        .unwrap_or_default();
    let mut crds = String::new();
    if !o.skip_crds {
        tug_chart::order::crds(&processed, processed.name(), &mut crds);
    }
    Ok(Rendered {
        manifest,
        hooks: hooks::from_manifests(&hook_manifests)?,
        notes,
        crds,
    })
}

fn to_json_map(v: &tug_gotemplate::Value) -> serde_json::Map<String, Value> {
    match v.to_json() {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// Releases in one cluster.
pub struct Releases {
    kube: Kube,
    storage: Storage,
    /// For `lookup` in templates, which reads the cluster on a connection of its own.
    connect: ConnectOptions,
}

impl Releases {
    pub async fn connect(opts: &ConnectOptions) -> Result<Releases, Error> {
        let mut session = Session::connect(opts, None)
            .await
            .map_err(|e| Error::Release(e.to_string()))?;
        let secrets = session
            .resolver
            .resolve("secrets")
            .await
            .map_err(cluster("finding the secrets resource"))?;
        Ok(Releases {
            storage: Storage::new(session.conn.clone(), secrets),
            kube: Kube { session },
            connect: opts.clone(),
        })
    }

    /// `lookup` for templates, against this cluster.
    fn lookup(&self) -> Lookup {
        crate::lookup::cluster(self.connect.clone())
    }

    /// The namespace of the kubeconfig's current context.
    pub fn default_namespace(&self) -> &str {
        &self.kube.session.conn.default_namespace
    }

    pub async fn history(&self, ns: &str, name: &str) -> Result<Vec<Record>, Error> {
        self.storage.history(ns, name).await
    }

    /// Every release's latest revision, in `ns` or everywhere.
    pub async fn list(&self, ns: Option<&str>) -> Result<Vec<Record>, Error> {
        let mut latest: Vec<Record> = Vec::new();
        for r in self.storage.all(ns).await? {
            match latest.last_mut() {
                Some(l) if l.name == r.name && l.namespace == r.namespace => *l = r,
                _ => latest.push(r),
            }
        }
        Ok(latest)
    }

    /// The latest revision (or `revision` when not 0).
    pub async fn get(&self, ns: &str, name: &str, revision: i64) -> Result<Record, Error> {
        let history = self.storage.history(ns, name).await?;
        let found = if revision == 0 {
            history.into_iter().last()
        } else {
            history.into_iter().find(|r| r.version == revision)
        };
        found.ok_or_else(|| Error::Release("release: not found".into()))
    }

    async fn objects(&mut self, manifest: &str, r: &Record) -> Result<Vec<Object>, Error> {
        let mut objs = self.kube.objects(manifest, &r.namespace).await?;
        for o in &mut objs {
            set_owner(&mut o.obj, &r.name, &r.namespace);
        }
        Ok(objs)
    }

    /// Creates the CRDs that are missing and waits until they are served.
    async fn install_crds(&mut self, text: &str, ns: &str, deadline: Instant) -> Result<(), Error> {
        if text.trim().is_empty() {
            return Ok(());
        }
        let crds = self.kube.objects(text, ns).await?;
        let mut created = Vec::new();
        for c in crds {
            if self.kube.live(&c).await?.is_none() {
                self.kube.create(&c).await?;
                created.push(c);
            }
        }
        if !created.is_empty() {
            self.kube.wait_ready(&created, deadline).await?;
            self.kube.rediscover();
        }
        Ok(())
    }

    pub async fn install(&mut self, chart: &Chart, o: &InstallOptions) -> Result<Record, Error> {
        check_name(&o.name)?;
        let history = self.storage.history(&o.namespace, &o.name).await?;
        let version = match history.last() {
            Some(last) if last.info.status != Status::Uninstalled => {
                return Err(Error::Release(
                    "cannot re-use a name that is still in use".into(),
                ))
            }
            Some(last) => last.version + 1,
            None => 1,
        };
        let rendered = render(chart, o, &o.values, version, false, self.lookup())?;
        let deadline = Instant::now() + o.timeout;
        if o.create_namespace {
            self.create_namespace(&o.namespace).await?;
        }
        let t = now();
        let mut record = Record {
            name: o.name.clone(),
            info: Info {
                first_deployed: t.clone(),
                last_deployed: t,
                deleted: String::new(),
                description: "Initial install underway".into(),
                status: Status::PendingInstall,
                notes: rendered.notes.clone(),
            },
            chart: chart_json(chart),
            config: to_json_map(&o.values),
            manifest: rendered.manifest.clone(),
            hooks: rendered.hooks,
            version,
            namespace: o.namespace.clone(),
        };
        self.storage.create(&record).await?;
        let mut created = Vec::new();
        let result = self
            .perform_install(&mut record, &rendered.crds, o.wait, deadline, &mut created)
            .await;
        match result {
            Ok(()) => {
                record.info.status = Status::Deployed;
                record.info.description = o
                    .description
                    .clone()
                    .unwrap_or_else(|| "Install complete".into());
                self.storage.update(&record).await?;
                Ok(record)
            }
            Err(e) => {
                record.info.status = Status::Failed;
                record.info.description = format!("Release \"{}\" failed: {e}", o.name);
                let mut cleanup = Vec::new();
                for c in created.iter().rev() {
                    if let Err(d) = self.kube.delete(c).await {
                        cleanup.push(d.to_string());
                    }
                }
                if o.atomic {
                    for r in self.storage.history(&o.namespace, &o.name).await? {
                        self.storage
                            .delete(&r.namespace, &r.name, r.version)
                            .await?;
                    }
                    return Err(Error::Release(format!(
                        "release {} failed, and has been uninstalled due to atomic being set: {e}",
                        o.name
                    )));
                }
                self.storage.update(&record).await?;
                if !cleanup.is_empty() {
                    return Err(Error::Release(format!(
                        "{e}; and removing what it created failed: {}",
                        cleanup.join("; ")
                    )));
                }
                Err(e)
            }
        }
    }

    async fn create_namespace(&mut self, ns: &str) -> Result<(), Error> {
        let text = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n");
        let objs = self.kube.objects(&text, ns).await?;
        for o in objs {
            if self.kube.live(&o).await?.is_none() {
                self.kube.create(&o).await?;
            }
        }
        Ok(())
    }

    async fn perform_install(
        &mut self,
        record: &mut Record,
        crds: &str,
        wait: bool,
        deadline: Instant,
        created: &mut Vec<Object>,
    ) -> Result<(), Error> {
        self.install_crds(crds, &record.namespace, deadline).await?;
        let manifest = record.manifest.clone();
        let objs = self.objects(&manifest, record).await?;
        let mut adopt = Vec::new();
        for o in &objs {
            if let Some(live) = self.kube.live(o).await? {
                let live = Object {
                    obj: live,
                    ..o.clone()
                };
                if let Some(why) = ownership_error(&live, &record.name, &record.namespace) {
                    return Err(Error::Release(format!("rendered manifests contain a resource that already exists. Unable to continue with install: {why}")));
                }
                adopt.push(o.key());
            }
        }
        let ns = record.namespace.clone();
        hooks::run(
            &mut self.kube,
            &mut record.hooks,
            "pre-install",
            &ns,
            deadline,
        )
        .await?;
        for o in &objs {
            if adopt.contains(&o.key()) {
                self.kube.update(None, o).await?;
            } else {
                self.kube.create(o).await?;
                created.push(o.clone());
            }
        }
        if wait {
            self.kube.wait_ready(&objs, deadline).await?;
        }
        hooks::run(
            &mut self.kube,
            &mut record.hooks,
            "post-install",
            &ns,
            deadline,
        )
        .await
    }

    /// Moves the live objects from `old_manifest` to `new`'s, running the `event` hooks
    /// around it (`upgrade` or `rollback`).
    async fn perform_update(
        &mut self,
        old_manifest: &str,
        new: &mut Record,
        event: &str,
        wait: bool,
        deadline: Instant,
    ) -> Result<(), Error> {
        let old = self.objects(old_manifest, new).await?;
        let manifest = new.manifest.clone();
        let objs = self.objects(&manifest, new).await?;
        for o in &objs {
            if old.iter().any(|x| x.key() == o.key()) {
                continue;
            }
            if let Some(live) = self.kube.live(o).await? {
                let live = Object {
                    obj: live,
                    ..o.clone()
                };
                if let Some(why) = ownership_error(&live, &new.name, &new.namespace) {
                    return Err(Error::Release(format!("rendered manifests contain a resource that already exists. Unable to continue with update: {why}")));
                }
            }
        }
        let ns = new.namespace.clone();
        hooks::run(
            &mut self.kube,
            &mut new.hooks,
            &format!("pre-{event}"),
            &ns,
            deadline,
        )
        .await?;
        for o in &objs {
            let before = old.iter().find(|x| x.key() == o.key());
            self.kube.update(before, o).await?;
        }
        for o in old.iter().rev() {
            if !o.keep() && !objs.iter().any(|x| x.key() == o.key()) {
                self.kube.delete(o).await?;
            }
        }
        if wait {
            self.kube.wait_ready(&objs, deadline).await?;
        }
        hooks::run(
            &mut self.kube,
            &mut new.hooks,
            &format!("post-{event}"),
            &ns,
            deadline,
        )
        .await
    }

    /// Marks every earlier deployed (or interrupted) revision superseded.
    async fn supersede(&self, history: &[Record], except: i64) -> Result<(), Error> {
        for r in history {
            if r.version != except
                && (r.info.status == Status::Deployed || r.info.status.is_pending())
            {
                let mut r = r.clone();
                r.info.status = Status::Superseded;
                self.storage.update(&r).await?;
            }
        }
        Ok(())
    }

    pub async fn upgrade(&mut self, chart: &Chart, u: &UpgradeOptions) -> Result<Record, Error> {
        let o = &u.common;
        check_name(&o.name)?;
        let history = self.storage.history(&o.namespace, &o.name).await?;
        let Some(last) = history.last().cloned() else {
            if u.install {
                return self.install(chart, o).await;
            }
            return Err(Error::Release(format!(
                "\"{}\" has no deployed releases",
                o.name
            )));
        };
        if last.info.status == Status::Uninstalled && u.install {
            return self.install(chart, o).await;
        }
        if last.info.status.is_pending() {
            return Err(Error::Release(format!(
                "another operation (install/upgrade/rollback) is in progress (revision {} of \"{}\" is {}; if it was interrupted, `tug chart rollback {}` recovers)",
                last.version, o.name, last.info.status.as_str(), o.name
            )));
        }
        let current = history
            .iter()
            .rev()
            .find(|r| r.info.status == Status::Deployed)
            .cloned()
            .unwrap_or_else(|| last.clone());
        let user = to_json_map(&o.values);
        let values = if u.reset_values {
            user
        } else if u.reuse_values {
            let merged = tug_gotemplate::Value::from(&Value::Object(current.config.clone()));
            if let (tug_gotemplate::Value::Map(dst), tug_gotemplate::Value::Map(src)) =
                (&merged, &o.values)
            {
                tug_chart::values::merge_maps(dst, src);
            }
            to_json_map(&merged)
        } else if user.is_empty() {
            current.config.clone()
        } else {
            user
        };
        let values_tv = tug_gotemplate::Value::from(&Value::Object(values.clone()));
        let rendered = render(chart, o, &values_tv, last.version + 1, true, self.lookup())?;
        let deadline = Instant::now() + o.timeout;
        let mut record = Record {
            name: o.name.clone(),
            info: Info {
                first_deployed: current.info.first_deployed.clone(),
                last_deployed: now(),
                deleted: String::new(),
                description: "Preparing upgrade".into(),
                status: Status::PendingUpgrade,
                notes: rendered.notes,
            },
            chart: chart_json(chart),
            config: values,
            manifest: rendered.manifest,
            hooks: rendered.hooks,
            version: last.version + 1,
            namespace: o.namespace.clone(),
        };
        self.storage.create(&record).await?;
        let result = match self
            .install_crds(&rendered.crds, &o.namespace, deadline)
            .await
        {
            Ok(()) => {
                self.perform_update(&current.manifest, &mut record, "upgrade", o.wait, deadline)
                    .await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                self.supersede(&history, record.version).await?;
                record.info.status = Status::Deployed;
                record.info.description = o
                    .description
                    .clone()
                    .unwrap_or_else(|| "Upgrade complete".into());
                self.storage.update(&record).await?;
                Ok(record)
            }
            Err(e) => {
                record.info.status = Status::Failed;
                record.info.description = format!("Upgrade \"{}\" failed: {e}", o.name);
                self.storage.update(&record).await?;
                if !o.atomic {
                    return Err(e);
                }
                if current.info.status != Status::Deployed {
                    return Err(Error::Release(format!(
                        "{e}; no deployed revision to roll back to"
                    )));
                }
                let back = RollbackOptions {
                    name: o.name.clone(),
                    namespace: o.namespace.clone(),
                    revision: current.version,
                    wait: o.wait,
                    timeout: o.timeout,
                };
                match self.rollback(&back).await {
                    Ok(_) => Err(Error::Release(format!(
                        "release {} failed, and has been rolled back due to atomic being set: {e}",
                        o.name
                    ))),
                    Err(r) => Err(Error::Release(format!("an error occurred while rolling back the release. original upgrade error: {e}: {r}"))),
                }
            }
        }
    }

    pub async fn rollback(&mut self, o: &RollbackOptions) -> Result<Record, Error> {
        let history = self.storage.history(&o.namespace, &o.name).await?;
        let Some(last) = history.last().cloned() else {
            return Err(Error::Release("release: not found".into()));
        };
        let want = if o.revision == 0 {
            last.version - 1
        } else {
            o.revision
        };
        if want < 1 {
            return Err(Error::Release(format!(
                "no revision for release \"{}\"",
                o.name
            )));
        }
        let Some(target) = history.iter().find(|r| r.version == want).cloned() else {
            return Err(Error::Release(format!("release has no {want} version")));
        };
        let deadline = Instant::now() + o.timeout;
        let mut record = Record {
            info: Info {
                first_deployed: last.info.first_deployed.clone(),
                last_deployed: now(),
                deleted: String::new(),
                description: format!("Rollback to {want}"),
                status: Status::PendingRollback,
                notes: target.info.notes.clone(),
            },
            version: last.version + 1,
            ..target.clone()
        };
        for h in &mut record.hooks {
            h.last_run = Default::default();
        }
        self.storage.create(&record).await?;
        let result = self
            .perform_update(&last.manifest, &mut record, "rollback", o.wait, deadline)
            .await;
        match result {
            Ok(()) => {
                self.supersede(&history, record.version).await?;
                record.info.status = Status::Deployed;
                self.storage.update(&record).await?;
                Ok(record)
            }
            Err(e) => {
                record.info.status = Status::Failed;
                record.info.description = format!("Rollback \"{}\" failed: {e}", o.name);
                self.storage.update(&record).await?;
                Err(e)
            }
        }
    }

    /// Uninstalls a release; returns the objects kept by `helm.sh/resource-policy: keep`.
    pub async fn uninstall(
        &mut self,
        ns: &str,
        name: &str,
        keep_history: bool,
        timeout: Duration,
    ) -> Result<Vec<String>, Error> {
        let history = self.storage.history(ns, name).await?;
        let Some(mut last) = history.last().cloned() else {
            return Err(Error::Release(format!(
                "uninstall: Release not loaded: {name}: release: not found"
            )));
        };
        let deadline = Instant::now() + timeout;
        let mut kept = Vec::new();
        if last.info.status != Status::Uninstalled {
            last.info.status = Status::Uninstalling;
            self.storage.update(&last).await?;
            hooks::run(&mut self.kube, &mut last.hooks, "pre-delete", ns, deadline).await?;
            let manifest = last.manifest.clone();
            let objs = self.objects(&manifest, &last).await?;
            for o in objs.iter().rev() {
                if o.keep() {
                    kept.push(format!("[{}] {}", o.ri.kind, o.name));
                } else {
                    self.kube.delete(o).await?;
                }
            }
            hooks::run(&mut self.kube, &mut last.hooks, "post-delete", ns, deadline).await?;
        } else if keep_history {
            return Err(Error::Release(format!("\"{name}\" is already deleted")));
        }
        if keep_history {
            last.info.status = Status::Uninstalled;
            last.info.deleted = now();
            last.info.description = "Uninstallation complete".into();
            self.storage.update(&last).await?;
        } else {
            for r in &history {
                self.storage
                    .delete(&r.namespace, &r.name, r.version)
                    .await?;
            }
        }
        Ok(kept)
    }

    /// Runs the release's `test` hooks and records their runs.
    pub async fn test(
        &mut self,
        ns: &str,
        name: &str,
        timeout: Duration,
    ) -> Result<(Record, Result<(), Error>), Error> {
        let mut r = self.get(ns, name, 0).await?;
        let deadline = Instant::now() + timeout;
        let result = hooks::run(&mut self.kube, &mut r.hooks, "test", ns, deadline).await;
        self.storage.update(&r).await?;
        Ok((r, result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_names_as_helm_checks_them() {
        assert!(check_name("web-1").is_ok());
        assert!(check_name("a.b").is_ok());
        let e = check_name("Web").unwrap_err().to_string();
        assert!(e.contains("invalid release name"), "{e}");
        assert!(check_name(&"a".repeat(54)).is_err());
    }
}
