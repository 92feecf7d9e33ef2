//! Watches: the stream a watcher reads, and the hub that fans committed
//! changes out to every watcher.
//!
//! How a watch from an old revision joins the live stream without a gap or a
//! repeat: the writer publishes each commit to the hub, in revision order,
//! under the hub's lock, after the commit is durable. A new watcher
//! subscribes under the same lock and learns the last published revision,
//! `through`; every later change reaches it through its channel. It then
//! replays the log from its start revision up to `through` (all committed,
//! so all readable), and only then reads the channel.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::keys::KeyRange;
use crate::kv::Event;

/// A stream of changes, oldest first. Ends (`None`) when the store closes.
#[derive(Debug)]
pub struct Watch {
    replay: VecDeque<Event>,
    live: mpsc::Receiver<Result<Event>>,
    /// Live changes at or below this revision were replayed or not asked for.
    skip_through: i64,
}

impl Watch {
    pub(crate) fn new(
        replay: Vec<Event>,
        live: mpsc::Receiver<Result<Event>>,
        skip_through: i64,
    ) -> Watch {
        Watch {
            replay: replay.into(),
            live,
            skip_through,
        }
    }

    /// The next change. An error ends the watch: [`Error::WatchLagged`] says
    /// from which revision to watch again.
    pub async fn next(&mut self) -> Option<Result<Event>> {
        if let Some(event) = self.replay.pop_front() {
            return Some(Ok(event));
        }
        loop {
            match self.live.recv().await? {
                Ok(event) if event.revision() <= self.skip_through => continue,
                other => return Some(other),
            }
        }
    }
}

/// Fans committed changes out to the live watchers.
#[derive(Debug)]
pub(crate) struct Hub {
    state: Mutex<HubState>,
    /// How many changes a watcher may leave unread before it is cut off.
    buffer: usize,
}

#[derive(Debug)]
struct HubState {
    /// The last revision published.
    revision: i64,
    watchers: Vec<Subscriber>,
}

#[derive(Debug)]
struct Subscriber {
    range: KeyRange,
    events: mpsc::Sender<Result<Event>>,
}

impl Hub {
    pub(crate) fn new(revision: i64, buffer: usize) -> Hub {
        Hub {
            state: Mutex::new(HubState {
                revision,
                watchers: Vec::new(),
            }),
            buffer: buffer.max(2),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The last revision published.
    pub(crate) fn revision(&self) -> i64 {
        self.lock().revision
    }

    /// Registers a watcher of `range`. Returns the last revision published
    /// before it (changes after it arrive through the receiver) and the
    /// receiver.
    pub(crate) fn subscribe(&self, range: KeyRange) -> (i64, mpsc::Receiver<Result<Event>>) {
        let (events, receiver) = mpsc::channel(self.buffer);
        let mut state = self.lock();
        state.watchers.push(Subscriber { range, events });
        (state.revision, receiver)
    }

    /// Delivers the changes of a commit that brought the store to `revision`.
    /// Never blocks: a watcher whose buffer is full gets
    /// [`Error::WatchLagged`] in its last slot and is dropped.
    pub(crate) fn publish(&self, revision: i64, events: &[Event]) {
        let mut state = self.lock();
        state.revision = revision;
        state.watchers.retain(|watcher| {
            for event in events.iter().filter(|e| watcher.range.contains(&e.kv.key)) {
                if watcher.events.capacity() > 1 {
                    if watcher.events.try_send(Ok(event.clone())).is_err() {
                        return false; // the watcher is gone
                    }
                } else {
                    let lagged = Error::WatchLagged {
                        revision: event.revision() - 1,
                    };
                    let _ = watcher.events.try_send(Err(lagged));
                    return false;
                }
            }
            !watcher.events.is_closed()
        });
    }
}
