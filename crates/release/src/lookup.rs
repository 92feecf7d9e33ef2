//! Helm's `lookup` against the cluster while a release renders. Templates run
//! synchronously (on the caller's thread, inside its runtime, and on the chart's helper
//! thread), so a thread of its own, with its own runtime and connection, answers each
//! call; it starts at the first call and ends with the last handle.

use std::sync::mpsc::{channel, sync_channel, Sender, SyncSender};
use std::sync::{Arc, Mutex};

use serde_json::json;
use tug_chart::Lookup;
use tug_client::{ConnectOptions, ListOptions, Session};
use tug_gotemplate::Value;

/// One call: apiVersion, kind, namespace, name, and where the answer goes.
type Call = ([String; 4], SyncSender<Result<Value, String>>);

/// A `lookup` that reads the cluster `opts` reach.
pub fn cluster(opts: ConnectOptions) -> Lookup {
    let calls: Mutex<Option<Sender<Call>>> = Mutex::new(None);
    Lookup(Arc::new(move |api_version, kind, ns, name| {
        let (answer, answered) = sync_channel(1);
        let call = ([api_version, kind, ns, name].map(String::from), answer);
        {
            let mut calls = calls.lock().unwrap_or_else(|e| e.into_inner());
            let sender = calls.get_or_insert_with(|| start(opts.clone()));
            sender
                .send(call)
                .map_err(|_| "lookup: the cluster connection ended".to_string())?;
        }
        answered
            .recv()
            .unwrap_or_else(|_| Err("lookup: the cluster connection ended".into()))
    }))
}

/// Starts the thread that answers calls.
fn start(opts: ConnectOptions) -> Sender<Call> {
    let (calls, incoming) = channel::<Call>();
    std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(r) => r,
            Err(e) => {
                for (_, answer) in incoming {
                    let _ = answer.send(Err(format!("lookup: {e}")));
                }
                return;
            }
        };
        runtime.block_on(async move {
            let mut session = Session::connect(&opts, None).await.map_err(|e| e.to_string());
            // Blocking between calls is fine: nothing else runs on this runtime.
            for (args, answer) in incoming {
                let result = match &mut session {
                    Ok(session) => find(session, &args).await,
                    Err(e) => Err(format!("lookup: {e}")),
                };
                let _ = answer.send(result);
            }
        });
    });
    calls
}

/// Helm's answer: the object, the list when no name is given, an empty map when the
/// object does not exist.
async fn find(session: &mut Session, [api_version, kind, ns, name]: &[String; 4]) -> Result<Value, String> {
    let ri = session
        .resolver
        .for_object(&json!({ "apiVersion": api_version, "kind": kind }))
        .await
        .map_err(|e| format!("lookup {api_version} {kind}: {e}"))?;
    let ns = (ri.namespaced && !ns.is_empty()).then_some(ns.as_str());
    let found = if name.is_empty() {
        session.conn.list(&ri, ns, &ListOptions::default()).await
    } else {
        session.conn.get(&ri, ns, name).await
    };
    match found {
        Ok(v) => Ok(Value::from(&v)),
        Err(e) if e.is_not_found() => Ok(Value::empty_map()),
        Err(e) => Err(format!("lookup {api_version} {kind} {name}: {e}")),
    }
}
