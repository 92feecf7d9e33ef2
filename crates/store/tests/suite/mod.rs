//! The behaviour every `Store` backend must show, written once.
//!
//! Each check takes a fresh store and works under its own key prefix, so a
//! backend whose stores share a server (etcd) can run them side by side.
//! `store_suite!(make)` turns every check into a test; `make` is an
//! expression giving `(Arc<S>, guard)` for some `S: Store + ?Sized`
//! (`Arc<dyn Store>` works), the guard living as long as the test (a
//! temporary data dir, say).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::timeout;
use tug_store::{
    Error, Event, EventKind, KeyRange, KeyValue, RangeRequest, Store, Watch, WatchRequest,
};

/// Generates one `#[tokio::test]` per check of the suite.
#[macro_export]
macro_rules! store_suite {
    ($make:expr) => {
        $crate::store_suite!(@tests $make;
            every_write_bumps_the_global_revision_by_one,
            versions_count_writes_since_creation,
            create_fails_if_the_key_is_live,
            update_is_a_compare_and_swap,
            delete_returns_the_deleted_value_and_can_be_conditional,
            get_sees_only_live_keys,
            range_returns_the_keys_within_its_bounds_in_order,
            range_pages_at_a_fixed_revision_while_writes_go_on,
            range_at_an_old_revision_sees_the_old_values,
            range_at_a_future_revision_fails,
            watch_delivers_puts_and_deletes_with_previous_values,
            watch_sees_only_its_range,
            watch_replays_from_an_old_revision_then_goes_live,
            watchers_see_every_change_in_order_under_concurrent_writers,
            compaction_fails_older_reads_and_watches_with_compacted,
            compaction_below_the_compacted_revision_is_harmless_and_above_the_current_fails,
            lease_expiry_deletes_its_keys_and_emits_deletes,
            keep_alive_holds_a_lease,
            revoking_a_lease_deletes_only_the_keys_still_attached,
            writes_with_an_unknown_lease_fail,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (store, _guard) = $make;
                suite::$name(store).await;
            }
        )*
    };
}

/// How long a check waits for an event that should come.
const PATIENCE: Duration = Duration::from_secs(10);

/// A unique key prefix for one check.
fn prefix(check: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "/registry/suite/{}-{}-{}/",
        check,
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

async fn next(watch: &mut Watch) -> Event {
    match timeout(PATIENCE, watch.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(e))) => panic!("watch failed: {e}"),
        Ok(None) => panic!("watch ended"),
        Err(_) => panic!("no event within {PATIENCE:?}"),
    }
}

async fn watch_from<S: Store + ?Sized>(
    store: &S,
    range: KeyRange,
    after_revision: Option<i64>,
) -> Watch {
    store
        .watch(WatchRequest {
            range,
            after_revision,
        })
        .await
        .expect("watch")
}

async fn list<S: Store + ?Sized>(
    store: &S,
    range: KeyRange,
    revision: Option<i64>,
) -> Vec<KeyValue> {
    let request = RangeRequest {
        range,
        limit: None,
        revision,
    };
    store.range(request).await.expect("range").kvs
}

fn keys(kvs: &[KeyValue]) -> Vec<&str> {
    kvs.iter().map(|kv| kv.key.as_str()).collect()
}

pub async fn every_write_bumps_the_global_revision_by_one<S: Store + ?Sized + 'static>(
    store: Arc<S>,
) {
    let p = prefix("revision");
    let (a, b) = (format!("{p}a"), format!("{p}b"));
    let start = store.current_revision().await.unwrap();
    assert!(start >= 1);
    let created = store.create(&a, b"1".to_vec(), None).await.unwrap();
    assert_eq!(created.mod_revision, start + 1);
    assert_eq!(created.create_revision, start + 1);
    let other = store.create(&b, b"x".to_vec(), None).await.unwrap();
    assert_eq!(other.mod_revision, start + 2);
    let updated = store
        .update(&a, b"2".to_vec(), created.mod_revision, None)
        .await
        .unwrap();
    assert_eq!(updated.mod_revision, start + 3);
    assert_eq!(
        updated.create_revision,
        start + 1,
        "an update keeps the create revision"
    );
    store.delete(&b, None).await.unwrap();
    assert_eq!(store.current_revision().await.unwrap(), start + 4);
    // A failed write does not bump it.
    assert!(store.create(&a, b"again".to_vec(), None).await.is_err());
    assert_eq!(store.current_revision().await.unwrap(), start + 4);
    let response = store
        .range(RangeRequest::new(KeyRange::prefix(&p)))
        .await
        .unwrap();
    assert_eq!(response.revision, start + 4);
}

pub async fn versions_count_writes_since_creation<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let key = format!("{}k", prefix("version"));
    let mut kv = store.create(&key, b"0".to_vec(), None).await.unwrap();
    assert_eq!(kv.version, 1);
    for n in 1..=3 {
        kv = store
            .update(&key, format!("{n}").into_bytes(), kv.mod_revision, None)
            .await
            .unwrap();
        assert_eq!(kv.version, n + 1);
    }
    store.delete(&key, Some(kv.mod_revision)).await.unwrap();
    let again = store.create(&key, b"new".to_vec(), None).await.unwrap();
    assert_eq!(again.version, 1, "a re-created key starts over");
    assert_eq!(again.create_revision, again.mod_revision);
    assert!(again.create_revision > kv.mod_revision);
}

pub async fn create_fails_if_the_key_is_live<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let key = format!("{}k", prefix("create"));
    let first = store.create(&key, b"first".to_vec(), None).await.unwrap();
    let err = store
        .create(&key, b"second".to_vec(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::AlreadyExists { key: k } if *k == key),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&key),
        "the message names the key: {err}"
    );
    let kv = store.get(&key).await.unwrap().unwrap();
    assert_eq!(kv.value, b"first");
    assert_eq!(kv, first);
    store.delete(&key, None).await.unwrap();
    store
        .create(&key, b"third".to_vec(), None)
        .await
        .expect("create after delete");
}

pub async fn update_is_a_compare_and_swap<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let key = format!("{}k", prefix("cas"));
    let v1 = store.create(&key, b"v1".to_vec(), None).await.unwrap();
    let v2 = store
        .update(&key, b"v2".to_vec(), v1.mod_revision, None)
        .await
        .unwrap();
    // A writer still holding v1 loses, and learns the current value.
    let err = store
        .update(&key, b"stale".to_vec(), v1.mod_revision, None)
        .await
        .unwrap_err();
    match &err {
        Error::Conflict {
            key: k,
            expected,
            current,
        } => {
            assert_eq!(k, &key);
            assert_eq!(*expected, v1.mod_revision);
            assert_eq!(**current, v2);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(err.to_string().contains(&key));
    assert_eq!(store.get(&key).await.unwrap().unwrap().value, b"v2");
    let missing = format!("{key}-missing");
    let err = store
        .update(&missing, b"x".to_vec(), 1, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { key: k } if *k == missing),
        "{err:?}"
    );
    // Many racing writers from the same revision: exactly one wins.
    let mut racers = Vec::new();
    for n in 0..8 {
        let (store, key) = (store.clone(), key.clone());
        racers.push(tokio::spawn(async move {
            store
                .update(
                    &key,
                    format!("racer {n}").into_bytes(),
                    v2.mod_revision,
                    None,
                )
                .await
        }));
    }
    let mut wins = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(_) => wins += 1,
            Err(Error::Conflict { .. }) => {}
            Err(other) => panic!("unexpected error {other}"),
        }
    }
    assert_eq!(wins, 1);
}

pub async fn delete_returns_the_deleted_value_and_can_be_conditional<
    S: Store + ?Sized + 'static,
>(
    store: Arc<S>,
) {
    let key = format!("{}k", prefix("delete"));
    let v1 = store.create(&key, b"v1".to_vec(), None).await.unwrap();
    let v2 = store
        .update(&key, b"v2".to_vec(), v1.mod_revision, None)
        .await
        .unwrap();
    let err = store.delete(&key, Some(v1.mod_revision)).await.unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { current, .. } if **current == v2),
        "{err:?}"
    );
    let deleted = store.delete(&key, Some(v2.mod_revision)).await.unwrap();
    assert_eq!(deleted, v2);
    assert_eq!(store.get(&key).await.unwrap(), None);
    let err = store.delete(&key, None).await.unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { key: k } if *k == key),
        "{err:?}"
    );
    assert!(err.to_string().contains(&key));
}

pub async fn get_sees_only_live_keys<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let p = prefix("get");
    let key = format!("{p}k");
    assert_eq!(store.get(&key).await.unwrap(), None);
    let kv = store
        .create(&key, vec![0, 159, 146, 150, 255], None)
        .await
        .unwrap();
    assert_eq!(
        store.get(&key).await.unwrap(),
        Some(kv),
        "values are bytes, not text"
    );
    assert_eq!(
        store.get(&p).await.unwrap(),
        None,
        "get is not a prefix match"
    );
    store.delete(&key, None).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), None);
}

pub async fn range_returns_the_keys_within_its_bounds_in_order<S: Store + ?Sized + 'static>(
    store: Arc<S>,
) {
    let p = prefix("range");
    for name in ["b", "a", "c/1", "c/2", "d"] {
        store
            .create(&format!("{p}{name}"), name.as_bytes().to_vec(), None)
            .await
            .unwrap();
    }
    store
        .create(
            &format!("{}x", &p[..p.len() - 1]),
            b"outside".to_vec(),
            None,
        )
        .await
        .unwrap();
    store.delete(&format!("{p}d"), None).await.unwrap();
    let all = list(&*store, KeyRange::prefix(&p), None).await;
    let expected: Vec<String> = ["a", "b", "c/1", "c/2"]
        .iter()
        .map(|n| format!("{p}{n}"))
        .collect();
    assert_eq!(keys(&all), expected);
    let sub = list(&*store, KeyRange::prefix(format!("{p}c/")), None).await;
    assert_eq!(keys(&sub), &expected[2..]);
    let between = list(
        &*store,
        KeyRange::between(format!("{p}b"), format!("{p}c/2")),
        None,
    )
    .await;
    assert_eq!(
        keys(&between),
        &expected[1..3],
        "start is inclusive, end exclusive"
    );
    let one = list(&*store, KeyRange::key(format!("{p}b")), None).await;
    assert_eq!(keys(&one), &expected[1..2]);
    assert!(
        list(&*store, KeyRange::key(format!("{p}d")), None)
            .await
            .is_empty(),
        "deleted keys are not listed"
    );
}

pub async fn range_pages_at_a_fixed_revision_while_writes_go_on<S: Store + ?Sized + 'static>(
    store: Arc<S>,
) {
    let p = prefix("paging");
    let range = KeyRange::prefix(&p);
    for n in 0..25 {
        store
            .create(&format!("{p}{n:02}"), format!("v{n}").into_bytes(), None)
            .await
            .unwrap();
    }
    let snapshot = list(&*store, range.clone(), None).await;
    let mut pages = Vec::new();
    let mut request = RangeRequest::new(range.clone()).limit(7);
    loop {
        let page = store.range(request.clone()).await.unwrap();
        assert!(page.kvs.len() <= 7);
        // Meanwhile: new keys before and after the cursor, updates, deletes.
        let n = pages.len();
        store
            .create(&format!("{p}{n:02}-new"), b"new".to_vec(), None)
            .await
            .unwrap();
        store
            .create(&format!("{p}99-{n}"), b"new".to_vec(), None)
            .await
            .unwrap();
        let victim = format!("{p}{:02}", 20 + n);
        if let Some(kv) = store.get(&victim).await.unwrap() {
            store
                .update(&victim, b"changed".to_vec(), kv.mod_revision, None)
                .await
                .unwrap();
        }
        store
            .delete(&format!("{p}{:02}", 24 - n), None)
            .await
            .unwrap();
        let last = page.kvs.last().map(|kv| kv.key.clone());
        let (more, revision) = (page.more, page.revision);
        pages.push(page);
        if !more {
            break;
        }
        let last = last.expect("a page that says more has keys");
        request = RangeRequest::new(range.after(&last))
            .limit(7)
            .at_revision(revision);
    }
    assert_eq!(pages.len(), 4, "25 keys in pages of 7");
    assert!(pages.windows(2).all(|w| w[0].revision == w[1].revision));
    let paged: Vec<KeyValue> = pages.into_iter().flat_map(|page| page.kvs).collect();
    assert_eq!(
        paged, snapshot,
        "the pages together are the list at the first page's revision"
    );
    // An exact fit says no more.
    let exact = store
        .range(RangeRequest::new(KeyRange::prefix(format!("{p}0"))).limit(10))
        .await
        .unwrap();
    let total = list(&*store, KeyRange::prefix(format!("{p}0")), None)
        .await
        .len();
    let exact_fit = store
        .range(RangeRequest::new(KeyRange::prefix(format!("{p}0"))).limit(total))
        .await
        .unwrap();
    assert!(exact.more == (total > 10));
    assert!(!exact_fit.more);
    let unlimited = store
        .range(RangeRequest::new(KeyRange::prefix(format!("{p}0"))).limit(0))
        .await
        .unwrap();
    assert_eq!(
        (unlimited.kvs.len(), unlimited.more),
        (total, false),
        "a limit of 0 is no limit, as in etcd"
    );
}

pub async fn range_at_an_old_revision_sees_the_old_values<S: Store + ?Sized + 'static>(
    store: Arc<S>,
) {
    let p = prefix("history");
    let range = KeyRange::prefix(&p);
    let a = store
        .create(&format!("{p}a"), b"a1".to_vec(), None)
        .await
        .unwrap();
    let b = store
        .create(&format!("{p}b"), b"b1".to_vec(), None)
        .await
        .unwrap();
    let r1 = b.mod_revision;
    store
        .update(&a.key, b"a2".to_vec(), a.mod_revision, None)
        .await
        .unwrap();
    store.delete(&b.key, None).await.unwrap();
    let c = store
        .create(&format!("{p}c"), b"c1".to_vec(), None)
        .await
        .unwrap();
    let at_r1 = list(&*store, range.clone(), Some(r1)).await;
    assert_eq!(at_r1, vec![a.clone(), b.clone()]);
    let before_b = list(&*store, range.clone(), Some(a.mod_revision)).await;
    assert_eq!(before_b, vec![a.clone()]);
    let now = list(&*store, range.clone(), None).await;
    assert_eq!(keys(&now), vec![a.key.as_str(), c.key.as_str()]);
    assert_eq!(now[0].value, b"a2");
    let response = store
        .range(RangeRequest::new(range).at_revision(r1))
        .await
        .unwrap();
    assert_eq!(
        response.revision, r1,
        "the answer says which revision it saw"
    );
}

pub async fn range_at_a_future_revision_fails<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let current = store.current_revision().await.unwrap();
    let request = RangeRequest::new(KeyRange::prefix(prefix("future"))).at_revision(current + 100);
    let err = store.range(request).await.unwrap_err();
    assert!(
        matches!(err, Error::FutureRevision { requested, .. } if requested == current + 100),
        "{err:?}"
    );
}

pub async fn watch_delivers_puts_and_deletes_with_previous_values<S: Store + ?Sized + 'static>(
    store: Arc<S>,
) {
    let p = prefix("watch");
    let key = format!("{p}k");
    let mut watch = watch_from(&*store, KeyRange::prefix(&p), None).await;
    let v1 = store.create(&key, b"v1".to_vec(), None).await.unwrap();
    let v2 = store
        .update(&key, b"v2".to_vec(), v1.mod_revision, None)
        .await
        .unwrap();
    let deleted = store.delete(&key, None).await.unwrap();
    let put = next(&mut watch).await;
    assert_eq!(
        (put.kind, &put.kv, &put.prev_kv),
        (EventKind::Put, &v1, &None)
    );
    let update = next(&mut watch).await;
    assert_eq!(
        (update.kind, &update.kv, &update.prev_kv),
        (EventKind::Put, &v2, &Some(v1.clone()))
    );
    let delete = next(&mut watch).await;
    assert_eq!(delete.kind, EventKind::Delete);
    assert_eq!(delete.kv.key, key);
    assert_eq!(delete.revision(), v2.mod_revision + 1);
    assert_eq!(delete.prev_kv, Some(deleted));
}

pub async fn watch_sees_only_its_range<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let p = prefix("watchrange");
    let mut watch = watch_from(&*store, KeyRange::prefix(format!("{p}in/")), None).await;
    let mut single = watch_from(&*store, KeyRange::key(format!("{p}one")), None).await;
    store
        .create(&format!("{p}out"), b"x".to_vec(), None)
        .await
        .unwrap();
    store
        .create(&format!("{p}in"), b"x".to_vec(), None)
        .await
        .unwrap();
    store
        .create(&format!("{p}one-more"), b"x".to_vec(), None)
        .await
        .unwrap();
    let inside = store
        .create(&format!("{p}in/a"), b"x".to_vec(), None)
        .await
        .unwrap();
    let one = store
        .create(&format!("{p}one"), b"x".to_vec(), None)
        .await
        .unwrap();
    assert_eq!(next(&mut watch).await.kv, inside);
    assert_eq!(next(&mut single).await.kv, one);
}

pub async fn watch_replays_from_an_old_revision_then_goes_live<S: Store + ?Sized + 'static>(
    store: Arc<S>,
) {
    let p = prefix("replay");
    let range = KeyRange::prefix(&p);
    let first = store
        .create(&format!("{p}a"), b"1".to_vec(), None)
        .await
        .unwrap();
    let mut expected = vec![first.mod_revision];
    for n in 2..=5 {
        let kv = store
            .create(&format!("{p}{n}"), b"x".to_vec(), None)
            .await
            .unwrap();
        expected.push(kv.mod_revision);
    }
    let updated = store
        .update(&first.key, b"2".to_vec(), first.mod_revision, None)
        .await
        .unwrap();
    expected.push(updated.mod_revision);
    // Watch after the first write: the rest replays.
    let mut watch = watch_from(&*store, range, Some(first.mod_revision)).await;
    for n in 6..=8 {
        let kv = store
            .create(&format!("{p}{n}"), b"x".to_vec(), None)
            .await
            .unwrap();
        expected.push(kv.mod_revision);
    }
    let mut seen = Vec::new();
    for _ in 1..expected.len() {
        let event = next(&mut watch).await;
        if event.kv.key == first.key {
            assert_eq!(
                event.prev_kv.as_ref(),
                Some(&first),
                "replayed changes carry their previous value"
            );
        }
        seen.push(event.revision());
    }
    assert_eq!(seen, expected[1..]);
    // Nothing more is pending.
    assert!(
        timeout(Duration::from_millis(200), watch.next())
            .await
            .is_err(),
        "no duplicates"
    );
}

pub async fn watchers_see_every_change_in_order_under_concurrent_writers<
    S: Store + ?Sized + 'static,
>(
    store: Arc<S>,
) {
    const WRITERS: usize = 4;
    const WRITES: usize = 60;
    let p = prefix("concurrent");
    let range = KeyRange::prefix(&p);
    let start = store.current_revision().await.unwrap();
    let early = watch_from(&*store, range.clone(), Some(start)).await;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (store, p) = (store.clone(), p.clone());
        writers.push(tokio::spawn(async move {
            let key = format!("{p}{w}");
            let mut kv = store.create(&key, b"0".to_vec(), None).await.unwrap();
            for n in 1..WRITES {
                if n % 10 == 0 {
                    store.delete(&key, Some(kv.mod_revision)).await.unwrap();
                    kv = store
                        .create(&key, n.to_string().into_bytes(), None)
                        .await
                        .unwrap();
                } else {
                    kv = store
                        .update(&key, n.to_string().into_bytes(), kv.mod_revision, None)
                        .await
                        .unwrap();
                }
            }
        }));
    }
    // Watchers that join while the writes go on, from the start (replaying
    // what they missed while new changes keep coming) and from now.
    let writes = (WRITERS * (WRITES + WRITES / 10 - 1)) as i64;
    let mut watchers = vec![(early, start)];
    for eighth in 1..8 {
        while store.current_revision().await.unwrap() < start + writes * eighth / 8 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        watchers.push((watch_from(&*store, range.clone(), Some(start)).await, start));
        let now = store.current_revision().await.unwrap();
        watchers.push((watch_from(&*store, range.clone(), Some(now)).await, now));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let end = store.current_revision().await.unwrap();
    assert_eq!(end - start, writes, "nothing else wrote");
    let last_joined = watchers.last().map_or(start, |(_, after)| *after);
    assert!(
        last_joined < end,
        "the late watchers joined while the writes went on"
    );
    for (watch, after) in &mut watchers {
        let after = *after;
        let mut state: BTreeMap<String, KeyValue> = BTreeMap::new();
        for revision in after + 1..=end {
            let event = next(watch).await;
            assert_eq!(event.revision(), revision, "gapless and in order");
            // Each event's previous value is what the watcher last saw of the key.
            let prev = match event.kind {
                EventKind::Put => state.insert(event.kv.key.clone(), event.kv.clone()),
                EventKind::Delete => state.remove(&event.kv.key),
            };
            if after == start {
                assert_eq!(prev, event.prev_kv, "previous value at revision {revision}");
            }
        }
        assert!(
            timeout(Duration::from_millis(100), watch.next())
                .await
                .is_err(),
            "nothing after the end"
        );
        if after == start {
            assert_eq!(
                state.into_values().collect::<Vec<_>>(),
                list(&*store, range.clone(), None).await
            );
        }
    }
}

pub async fn compaction_fails_older_reads_and_watches_with_compacted<
    S: Store + ?Sized + 'static,
>(
    store: Arc<S>,
) {
    let p = prefix("compact");
    let range = KeyRange::prefix(&p);
    let a1 = store
        .create(&format!("{p}a"), b"1".to_vec(), None)
        .await
        .unwrap();
    let b1 = store
        .create(&format!("{p}b"), b"1".to_vec(), None)
        .await
        .unwrap();
    let a2 = store
        .update(&a1.key, b"2".to_vec(), a1.mod_revision, None)
        .await
        .unwrap();
    store.delete(&b1.key, None).await.unwrap();
    let at = store.current_revision().await.unwrap();
    let a3 = store
        .update(&a1.key, b"3".to_vec(), a2.mod_revision, None)
        .await
        .unwrap();
    store.compact(at).await.unwrap();

    let err = store
        .range(RangeRequest::new(range.clone()).at_revision(at - 1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Compacted { requested, compacted } if requested == at - 1 && compacted == at),
        "{err:?}"
    );
    assert_eq!(
        list(&*store, range.clone(), Some(at)).await,
        vec![a2.clone()],
        "the compacted revision stays readable"
    );
    assert_eq!(list(&*store, range.clone(), None).await, vec![a3.clone()]);

    let err = store
        .watch(WatchRequest {
            range: range.clone(),
            after_revision: Some(at - 1),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Compacted { .. }), "{err:?}");
    assert!(err.to_string().contains("compacted"));
    let mut watch = watch_from(&*store, range, Some(at)).await;
    let event = next(&mut watch).await;
    assert_eq!(
        (event.kv, event.prev_kv),
        (a3, Some(a2)),
        "changes after it keep their previous values"
    );
}

pub async fn compaction_below_the_compacted_revision_is_harmless_and_above_the_current_fails<
    S: Store + ?Sized + 'static,
>(
    store: Arc<S>,
) {
    let key = format!("{}k", prefix("compact-twice"));
    let kv = store.create(&key, b"x".to_vec(), None).await.unwrap();
    store.compact(kv.mod_revision).await.unwrap();
    store.compact(kv.mod_revision).await.unwrap();
    store.compact(kv.mod_revision - 1).await.unwrap();
    let current = store.current_revision().await.unwrap();
    let err = store.compact(current + 1).await.unwrap_err();
    assert!(matches!(err, Error::FutureRevision { .. }), "{err:?}");
    assert_eq!(store.get(&key).await.unwrap(), Some(kv));
}

pub async fn lease_expiry_deletes_its_keys_and_emits_deletes<S: Store + ?Sized + 'static>(
    store: Arc<S>,
) {
    let p = prefix("lease-expiry");
    let lease = store.grant_lease(Duration::from_secs(1)).await.unwrap();
    let mut watch = watch_from(&*store, KeyRange::prefix(&p), None).await;
    let a = store
        .create(&format!("{p}a"), b"a".to_vec(), Some(lease))
        .await
        .unwrap();
    assert_eq!(a.lease, Some(lease));
    let b = store
        .create(&format!("{p}b"), b"b".to_vec(), Some(lease))
        .await
        .unwrap();
    let kept = store
        .create(&format!("{p}kept"), b"c".to_vec(), None)
        .await
        .unwrap();
    for _ in 0..3 {
        next(&mut watch).await;
    }
    let started = std::time::Instant::now();
    let mut deleted = [next(&mut watch).await, next(&mut watch).await];
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "expired in time"
    );
    deleted.sort_by(|x, y| x.kv.key.cmp(&y.kv.key));
    assert!(deleted.iter().all(|event| event.kind == EventKind::Delete));
    assert_eq!(deleted[0].prev_kv, Some(a.clone()));
    assert_eq!(deleted[1].prev_kv, Some(b.clone()));
    assert_eq!(store.get(&a.key).await.unwrap(), None);
    assert_eq!(store.get(&kept.key).await.unwrap(), Some(kept));
    let err = store.keep_alive(lease).await.unwrap_err();
    assert!(
        matches!(err, Error::LeaseNotFound { lease: l } if l == lease),
        "{err:?}"
    );
}

pub async fn keep_alive_holds_a_lease<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let key = format!("{}k", prefix("keep-alive"));
    let lease = store.grant_lease(Duration::from_secs(1)).await.unwrap();
    store
        .create(&key, b"x".to_vec(), Some(lease))
        .await
        .unwrap();
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let ttl = store.keep_alive(lease).await.unwrap();
        assert!(ttl >= Duration::from_secs(1), "{ttl:?}");
    }
    assert!(
        store.get(&key).await.unwrap().is_some(),
        "kept alive for twice its time to live"
    );
    let deadline = std::time::Instant::now() + PATIENCE;
    while store.get(&key).await.unwrap().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the lease never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn revoking_a_lease_deletes_only_the_keys_still_attached<S: Store + ?Sized + 'static>(
    store: Arc<S>,
) {
    let p = prefix("revoke");
    let lease = store.grant_lease(Duration::from_secs(60)).await.unwrap();
    let attached = store
        .create(&format!("{p}attached"), b"x".to_vec(), Some(lease))
        .await
        .unwrap();
    let moved = store
        .create(&format!("{p}detached"), b"x".to_vec(), Some(lease))
        .await
        .unwrap();
    let moved = store
        .update(&moved.key, b"y".to_vec(), moved.mod_revision, None)
        .await
        .unwrap();
    assert_eq!(moved.lease, None);
    let other = store.grant_lease(Duration::from_secs(60)).await.unwrap();
    assert_ne!(other, lease);
    let elsewhere = store
        .create(&format!("{p}elsewhere"), b"x".to_vec(), Some(other))
        .await
        .unwrap();
    store.revoke_lease(lease).await.unwrap();
    assert_eq!(store.get(&attached.key).await.unwrap(), None);
    assert_eq!(store.get(&moved.key).await.unwrap(), Some(moved));
    assert_eq!(store.get(&elsewhere.key).await.unwrap(), Some(elsewhere));
    let err = store.revoke_lease(lease).await.unwrap_err();
    assert!(matches!(err, Error::LeaseNotFound { .. }), "{err:?}");
    store.revoke_lease(other).await.unwrap();
}

pub async fn writes_with_an_unknown_lease_fail<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let key = format!("{}k", prefix("unknown-lease"));
    let lease = store.grant_lease(Duration::from_secs(60)).await.unwrap();
    store.revoke_lease(lease).await.unwrap();
    let before = store.current_revision().await.unwrap();
    let err = store
        .create(&key, b"x".to_vec(), Some(lease))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::LeaseNotFound { lease: l } if l == lease),
        "{err:?}"
    );
    let kv = store.create(&key, b"x".to_vec(), None).await.unwrap();
    let err = store
        .update(&key, b"y".to_vec(), kv.mod_revision, Some(lease))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::LeaseNotFound { .. }), "{err:?}");
    assert_eq!(store.current_revision().await.unwrap(), before + 1);
}
