//! Events the controllers record about what they do (`SuccessfulCreate`,
//! `ScalingReplicaSet`, …), worded as Kubernetes words them. Recording is best effort: a
//! failed event never fails a reconcile.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource};

/// Records events as one controller (its `reportingController`/`source.component`).
#[derive(Clone)]
pub struct Events {
    recorder: Recorder,
}

impl Events {
    pub fn new(client: Client, controller: &str) -> Events {
        let reporter = Reporter {
            controller: controller.into(),
            instance: None,
        };
        Events {
            recorder: Recorder::new(client, reporter),
        }
    }

    /// A Normal event about `object`.
    pub async fn normal<K: Resource<DynamicType = ()>>(&self, object: &K, reason: &str, note: String) {
        self.publish(object.object_ref(&()), EventType::Normal, reason, note).await;
    }

    /// A Warning event about `object`.
    pub async fn warning<K: Resource<DynamicType = ()>>(&self, object: &K, reason: &str, note: String) {
        self.publish(object.object_ref(&()), EventType::Warning, reason, note).await;
    }

    async fn publish(&self, reference: ObjectReference, type_: EventType, reason: &str, note: String) {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: reason.into(),
            secondary: None,
        };
        // Best effort, as kube-controller-manager's recorder: the reconcile goes on.
        let _ = self.recorder.publish(&event, &reference).await;
    }
}
