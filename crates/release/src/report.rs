//! What `status`, `list` and `history` print, laid out as Helm lays it out. Pure.

use tug_client::printers::align;

use crate::record::{status_time, table_time, Record};

/// `helm status` (and the tail of install/upgrade/rollback output).
pub fn status(r: &Record, show_description: bool) -> String {
    let mut out = format!(
        "NAME: {}\nLAST DEPLOYED: {}\nNAMESPACE: {}\nSTATUS: {}\nREVISION: {}\n",
        r.name,
        status_time(&r.info.last_deployed),
        r.namespace,
        r.info.status.as_str(),
        r.version
    );
    if show_description {
        out.push_str(&format!("DESCRIPTION: {}\n", r.info.description));
    }
    let tests: Vec<_> = r
        .hooks
        .iter()
        .filter(|h| h.events.iter().any(|e| e == "test") && !h.last_run.started_at.is_empty())
        .collect();
    if tests.is_empty() {
        out.push_str("TEST SUITE: None\n");
    }
    for h in tests {
        out.push_str(&format!(
            "TEST SUITE:     {}\nLast Started:   {}\nLast Completed: {}\nPhase:          {}\n",
            h.name,
            status_time(&h.last_run.started_at),
            status_time(&h.last_run.completed_at),
            h.last_run.phase
        ));
    }
    if !r.info.notes.trim().is_empty() {
        out.push_str(&format!("NOTES:\n{}\n", r.info.notes.trim_end()));
    }
    out
}

/// `helm list`: the latest revision of each release.
pub fn list(records: &[Record]) -> String {
    let mut rows = vec![vec![
        "NAME".to_string(),
        "NAMESPACE".into(),
        "REVISION".into(),
        "UPDATED".into(),
        "STATUS".into(),
        "CHART".into(),
        "APP VERSION".into(),
    ]];
    for r in records {
        rows.push(vec![
            r.name.clone(),
            r.namespace.clone(),
            r.version.to_string(),
            table_time(&r.info.last_deployed),
            r.info.status.as_str().into(),
            r.chart_ref(),
            r.app_version().into(),
        ]);
    }
    align(&rows)
}

/// `helm history`: every revision, oldest first.
pub fn history(records: &[Record]) -> String {
    let mut rows = vec![vec![
        "REVISION".to_string(),
        "UPDATED".into(),
        "STATUS".into(),
        "CHART".into(),
        "APP VERSION".into(),
        "DESCRIPTION".into(),
    ]];
    for r in records {
        rows.push(vec![
            r.version.to_string(),
            status_time(&r.info.last_deployed),
            r.info.status.as_str().into(),
            r.chart_ref(),
            r.app_version().into(),
            r.info.description.clone(),
        ]);
    }
    align(&rows)
}

/// `helm history -o json`'s rows.
pub fn history_json(records: &[Record]) -> serde_json::Value {
    serde_json::Value::Array(
        records
            .iter()
            .map(|r| {
                serde_json::json!({
                    "revision": r.version,
                    "updated": r.info.last_deployed,
                    "status": r.info.status.as_str(),
                    "chart": r.chart_ref(),
                    "app_version": r.app_version(),
                    "description": r.info.description,
                })
            })
            .collect(),
    )
}

/// `helm list -o json`'s rows.
pub fn list_json(records: &[Record]) -> serde_json::Value {
    serde_json::Value::Array(
        records
            .iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.name,
                    "namespace": r.namespace,
                    "revision": r.version.to_string(),
                    "updated": table_time(&r.info.last_deployed),
                    "status": r.info.status.as_str(),
                    "chart": r.chart_ref(),
                    "app_version": r.app_version(),
                })
            })
            .collect(),
    )
}
