//! Watch: a stream of newline-delimited JSON WatchEvents (ADDED, MODIFIED,
//! DELETED, BOOKMARK, ERROR) over the store's watch. Without a
//! resourceVersion (or with "0") the stream starts with an ADDED event per
//! existing object, as Kubernetes does. A compacted resourceVersion gets an
//! ERROR event holding a 410 Expired Status.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::time::Instant;
use tug_api::ResourceType;
use tug_store::{EventKind, KeyRange, RangeRequest, Store, WatchRequest};

use super::Ctx;
use crate::metrics::WatchGuard;
use crate::object::{from_kv, set_meta};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::{ApiError, ApiResult};
use crate::table::{self, Include};

/// How often a watch that allows bookmarks gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(10);
/// How long a watch lasts when the client sets no timeoutSeconds.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

struct Stream {
    rt: &'static ResourceType,
    labels: LabelSelector,
    fields: FieldSelector,
    table: Option<Include>,
    /// A custom kind's version, for its Table columns.
    custom: Option<Arc<tug_api::crd::Version>>,
    pending: VecDeque<Value>,
    watch: Option<tug_store::Watch>,
    deadline: Instant,
    bookmarks: bool,
    next_bookmark: Instant,
    last_revision: i64,
    _guard: WatchGuard,
}

/// Starts a watch on the collection `ctx` names.
pub async fn watch(ctx: &Ctx<'_>, table: Option<Include>) -> ApiResult<Response> {
    let q = ctx.query;
    let labels = LabelSelector::parse(q.get("labelSelector").unwrap_or_default())?;
    let fields = FieldSelector::parse(q.get("fieldSelector").unwrap_or_default())?;
    let timeout = q
        .number("timeoutSeconds")?
        .filter(|t| *t > 0)
        .map_or(DEFAULT_TIMEOUT, |t| Duration::from_secs(t as u64));
    let rt = ctx.target.rt;
    let range = KeyRange::prefix(rt.prefix(ctx.target.namespace.as_deref()));
    let store: &Arc<dyn Store> = &ctx.state.store;
    let mut stream = Stream {
        rt,
        labels,
        fields,
        table,
        custom: super::custom_version(ctx),
        pending: VecDeque::new(),
        watch: None,
        deadline: Instant::now() + timeout,
        bookmarks: q.flag("allowWatchBookmarks"),
        next_bookmark: Instant::now() + BOOKMARK_EVERY,
        last_revision: 0,
        _guard: ctx.state.metrics.watch_started(),
    };
    let start = match q.get("resourceVersion") {
        None | Some("0") => {
            let listed = store.range(RangeRequest::new(range.clone())).await?;
            for kv in &listed.kvs {
                let object = from_kv(rt, kv)?;
                if stream.selected(&object) {
                    let event = stream.event("ADDED", object);
                    stream.pending.push_back(event);
                }
            }
            listed.revision
        }
        Some(rv) => rv
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?,
    };
    stream.last_revision = start;
    match store
        .watch(WatchRequest {
            range,
            after_revision: Some(start),
        })
        .await
    {
        Ok(watch) => stream.watch = Some(watch),
        Err(e @ tug_store::Error::Compacted { .. }) => {
            let status = ApiError::from(e).to_status();
            stream
                .pending
                .push_back(json!({"type": "ERROR", "object": status}));
        }
        Err(e) => return Err(e.into()),
    }
    let body = futures_util::stream::unfold(stream, |mut s| async move {
        let event = s.next().await?;
        let mut line = event.to_string().into_bytes();
        line.push(b'\n');
        Some((Ok::<Bytes, std::convert::Infallible>(Bytes::from(line)), s))
    });
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

impl Stream {
    fn selected(&self, object: &Value) -> bool {
        self.labels.matches(object) && self.fields.matches(object)
    }

    fn event(&self, kind: &str, object: Value) -> Value {
        let object = match self.table {
            Some(include) => table::table(
                self.rt,
                self.custom.as_deref(),
                std::slice::from_ref(&object),
                json!({"resourceVersion": object.pointer("/metadata/resourceVersion")}),
                include,
            ),
            None => object,
        };
        json!({"type": kind, "object": object})
    }

    /// The next event to send, or `None` when the watch ends.
    async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            let watch = self.watch.as_mut()?;
            let bookmark_at = if self.bookmarks {
                self.next_bookmark
            } else {
                self.deadline
            };
            tokio::select! {
                change = watch.next() => match change {
                    Some(Ok(change)) => self.on_change(change),
                    Some(Err(tug_store::Error::WatchLagged { revision })) => {
                        self.watch = None;
                        let status = ApiError::expired(format!("too old resource version: {revision}")).to_status();
                        return Some(json!({"type": "ERROR", "object": status}));
                    }
                    Some(Err(e)) => {
                        self.watch = None;
                        return Some(json!({"type": "ERROR", "object": ApiError::internal(e.to_string()).to_status()}));
                    }
                    None => return None,
                },
                _ = tokio::time::sleep_until(self.deadline) => return None,
                _ = tokio::time::sleep_until(bookmark_at), if self.bookmarks => {
                    self.next_bookmark = Instant::now() + BOOKMARK_EVERY;
                    return Some(json!({"type": "BOOKMARK", "object": {
                        "kind": self.rt.kind, "apiVersion": self.rt.api_version(),
                        "metadata": {"resourceVersion": self.last_revision.to_string()}}}));
                }
            }
        }
    }

    /// Queues the watch event of a store change, if the selectors see one.
    fn on_change(&mut self, change: tug_store::Event) {
        self.last_revision = change.revision();
        let revision = json!(change.revision().to_string());
        let old = change
            .prev_kv
            .as_ref()
            .and_then(|kv| from_kv(self.rt, kv).ok())
            .filter(|o| self.selected(o));
        let new = match change.kind {
            EventKind::Put => from_kv(self.rt, &change.kv).ok().filter(|o| self.selected(o)),
            EventKind::Delete => None,
        };
        let event = match (old, new) {
            (Some(_), Some(new)) => self.event("MODIFIED", new),
            (None, Some(new)) => self.event("ADDED", new),
            (Some(mut old), None) => {
                set_meta(&mut old, "resourceVersion", revision);
                self.event("DELETED", old)
            }
            (None, None) => return,
        };
        self.pending.push_back(event);
    }
}
