//! Release records in the cluster: Helm 3's Secrets driver over `tug-client`.

use serde_json::{json, Value};
use tug_client::resources::ResourceInfo;
use tug_client::{Conn, ListOptions};

use crate::record::{secret_name, Record};
use crate::{cluster, Error};

/// The release Secrets of one API server.
pub struct Storage {
    conn: Conn,
    secrets: ResourceInfo,
}

fn unix_now() -> String {
    jiff::Timestamp::now().as_second().to_string()
}

impl Storage {
    pub fn new(conn: Conn, secrets: ResourceInfo) -> Storage {
        Storage { conn, secrets }
    }

    async fn records(&self, ns: Option<&str>, selector: String) -> Result<Vec<Record>, Error> {
        let list = self
            .conn
            .list(
                &self.secrets,
                ns,
                &ListOptions {
                    label_selector: Some(selector),
                    field_selector: None,
                },
            )
            .await
            .map_err(cluster("listing release secrets"))?;
        let mut out = Vec::new();
        let items = list["items"].as_array().into_iter().flatten();
        for s in items.filter(|s| s["type"] == crate::record::SECRET_TYPE) {
            out.push(Record::from_secret(s)?);
        }
        out.sort_by(|a, b| {
            (&a.namespace, &a.name, a.version).cmp(&(&b.namespace, &b.name, b.version))
        });
        Ok(out)
    }

    /// Every revision of a release, oldest first.
    pub async fn history(&self, ns: &str, name: &str) -> Result<Vec<Record>, Error> {
        self.records(Some(ns), format!("owner=helm,name={name}"))
            .await
    }

    /// Every revision of every release in `ns` (all namespaces when `None`).
    pub async fn all(&self, ns: Option<&str>) -> Result<Vec<Record>, Error> {
        self.records(ns, "owner=helm".into()).await
    }

    pub async fn create(&self, r: &Record) -> Result<(), Error> {
        let mut s = r.to_secret()?;
        s["metadata"]["labels"]["createdAt"] = json!(unix_now());
        self.conn
            .create(&self.secrets, Some(&r.namespace), &s)
            .await
            .map_err(cluster(&format!(
                "storing release {} v{}",
                r.name, r.version
            )))?;
        Ok(())
    }

    pub async fn update(&self, r: &Record) -> Result<(), Error> {
        let name = r.secret_name();
        let current = self
            .conn
            .get(&self.secrets, Some(&r.namespace), &name)
            .await
            .map_err(cluster(&format!(
                "reading release {} v{}",
                r.name, r.version
            )))?;
        let mut s = r.to_secret()?;
        if let Some(labels) = current.pointer("/metadata/labels/createdAt") {
            s["metadata"]["labels"]["createdAt"] = labels.clone();
        }
        s["metadata"]["labels"]["modifiedAt"] = json!(unix_now());
        s["metadata"]["resourceVersion"] = current
            .pointer("/metadata/resourceVersion")
            .cloned()
            .unwrap_or(Value::Null);
        self.conn
            .replace(&self.secrets, Some(&r.namespace), &name, &s)
            .await
            .map_err(cluster(&format!(
                "updating release {} v{}",
                r.name, r.version
            )))?;
        Ok(())
    }

    pub async fn delete(&self, ns: &str, name: &str, version: i64) -> Result<(), Error> {
        match self
            .conn
            .delete(
                &self.secrets,
                Some(ns),
                &secret_name(name, version),
                "Background",
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(cluster(&format!("deleting release {name} v{version}"))(e)),
        }
    }
}
