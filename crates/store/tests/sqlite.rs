//! The SQLite backend: the shared suite, plus what only an embedded store
//! has: a data dir that outlives the process, its lock, its watch buffer.

mod suite;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tug_store::{
    Durability, Error, KeyRange, RangeRequest, SqliteOptions, SqliteStore, Store, WatchRequest,
};

fn fresh() -> (Arc<SqliteStore>, TempDir) {
    let dir = tempfile::tempdir().expect("temporary dir");
    let store = SqliteStore::open(dir.path()).expect("open store");
    (Arc::new(store), dir)
}

/// The suite runs through `dyn Store`, as the API server holds a backend.
fn fresh_dyn() -> (Arc<dyn Store>, TempDir) {
    let (store, dir) = fresh();
    (store, dir)
}

store_suite!(fresh_dyn());

/// The role a re-executed test binary plays: a writer that never stops.
const CHILD_DIR: &str = "TUG_STORE_TEST_WRITER_DIR";
const CHILD_DURABILITY: &str = "TUG_STORE_TEST_WRITER_DURABILITY";

/// In the child: writes from four tasks at once until killed, printing
/// `ack <key>` once each write is acknowledged.
fn write_until_killed(dir: &str) -> ! {
    let durability = match std::env::var(CHILD_DURABILITY).as_deref() {
        Ok("process-crash") => Durability::ProcessCrash,
        _ => Durability::PowerLoss,
    };
    let options = SqliteOptions {
        durability,
        ..SqliteOptions::default()
    };
    let store = Arc::new(SqliteStore::open_with(dir, options).expect("child opens the store"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let mut tasks = Vec::new();
        for task in 0..4 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for n in 0.. {
                    let key = format!("/registry/durability/{task}-{n}");
                    store
                        .create(&key, key.as_bytes().to_vec(), None)
                        .await
                        .expect("child write");
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {key}")
                        .and_then(|()| out.flush())
                        .expect("child stdout");
                }
            }));
        }
        for task in tasks {
            let _ = task.await;
        }
    });
    std::process::exit(0)
}

/// Starts a writer child, kills it with SIGKILL after `acks` acknowledged
/// writes, and returns every key it acknowledged.
fn kill_writer_after(dir: &TempDir, durability: &str, acks: usize) -> Vec<String> {
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "acknowledged_writes_survive_kill_9",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
        .env(CHILD_DURABILITY, durability)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the writer");
    let stdout = child.stdout.take().expect("child stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut acked = Vec::new();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(60);
    while acked.len() < acks {
        assert!(
            Instant::now() < deadline,
            "the writer was too slow: {} acks",
            acked.len()
        );
        match lines.next() {
            Some(Ok(line)) => acked.extend(line.strip_prefix("ack ").map(String::from)),
            other => panic!("the writer stopped early: {other:?}"),
        }
    }
    eprintln!(
        "{durability}: {} writes acknowledged in {:?}, then SIGKILL",
        acked.len(),
        started.elapsed()
    );
    child.kill().expect("SIGKILL the writer");
    child.wait().expect("reap the writer");
    // Acknowledgements already in the pipe count too.
    acked.extend(
        lines
            .map_while(|line| line.ok())
            .filter_map(|line| line.strip_prefix("ack ").map(String::from)),
    );
    acked
}

fn assert_survivors(dir: &TempDir, acked: &[String]) {
    let store = SqliteStore::open(dir.path()).expect("reopen after SIGKILL");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let all = store
            .range(RangeRequest::new(KeyRange::prefix("/registry/durability/")))
            .await
            .unwrap();
        let stored: std::collections::HashSet<&str> =
            all.kvs.iter().map(|kv| kv.key.as_str()).collect();
        let lost: Vec<&String> = acked
            .iter()
            .filter(|key| !stored.contains(key.as_str()))
            .collect();
        assert!(
            lost.is_empty(),
            "{} of {} acknowledged writes lost, e.g. {:?}",
            lost.len(),
            acked.len(),
            &lost[..lost.len().min(5)]
        );
        assert!(
            all.kvs.iter().all(|kv| kv.value == kv.key.as_bytes()),
            "values intact"
        );
        assert_eq!(
            all.revision,
            all.kvs.len() as i64 + 1,
            "one revision per write, no holes"
        );
        // The store goes on working.
        store
            .create("/registry/durability/after", b"x".to_vec(), None)
            .await
            .expect("write after reopen");
    });
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        write_until_killed(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let acked = kill_writer_after(&dir, "power-loss", 300);
    assert_survivors(&dir, &acked);
}

#[test]
fn acknowledged_writes_survive_kill_9_without_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let acked = kill_writer_after(&dir, "process-crash", 2000);
    assert_survivors(&dir, &acked);
}

#[test]
fn a_data_dir_opens_in_one_store_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let err = SqliteStore::open(dir.path()).unwrap_err();
    assert!(
        err.to_string().contains("another process has it open"),
        "{err}"
    );
    drop(store);
    SqliteStore::open(dir.path()).expect("open again once closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revisions_compaction_and_leases_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (lease, revision) = {
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(
            store.current_revision().await.unwrap(),
            1,
            "a new store is at revision 1, as etcd"
        );
        let lease = store.grant_lease(Duration::from_secs(60)).await.unwrap();
        let kv = store
            .create("/registry/leased", b"x".to_vec(), Some(lease))
            .await
            .unwrap();
        store
            .update(
                "/registry/leased",
                b"y".to_vec(),
                kv.mod_revision,
                Some(lease),
            )
            .await
            .unwrap();
        store.compact(kv.mod_revision + 1).await.unwrap();
        (lease, store.current_revision().await.unwrap())
    };
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), revision);
    let err = store
        .range(RangeRequest::new(KeyRange::key("/registry/leased")).at_revision(revision - 1))
        .await;
    assert!(matches!(err, Err(Error::Compacted { .. })), "{err:?}");
    assert_eq!(
        store.keep_alive(lease).await.unwrap(),
        Duration::from_secs(60)
    );
    let next = store.grant_lease(Duration::from_secs(60)).await.unwrap();
    assert!(next.0 > lease.0, "lease ids are not reused");
    store.revoke_lease(lease).await.unwrap();
    assert_eq!(store.get("/registry/leased").await.unwrap(), None);
    assert_eq!(store.current_revision().await.unwrap(), revision + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_that_falls_behind_is_told_where_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions {
        watch_buffer: 8,
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open_with(dir.path(), options).unwrap();
    let range = KeyRange::prefix("/registry/lag/");
    let mut slow = store
        .watch(WatchRequest {
            range: range.clone(),
            after_revision: None,
        })
        .await
        .unwrap();
    let start = store.current_revision().await.unwrap();
    for n in 0..20 {
        store
            .create(&format!("/registry/lag/{n:02}"), b"x".to_vec(), None)
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let resume = loop {
        match slow.next().await {
            Some(Ok(event)) => seen.push(event.revision()),
            Some(Err(Error::WatchLagged { revision })) => break revision,
            other => panic!("expected a lag error, got {other:?}"),
        }
    };
    assert!(slow.next().await.is_none(), "the lagging watch has ended");
    assert_eq!(seen, (start + 1..=resume).collect::<Vec<_>>());
    let mut again = store
        .watch(WatchRequest {
            range,
            after_revision: Some(resume),
        })
        .await
        .unwrap();
    for revision in resume + 1..=start + 20 {
        let event = again.next().await.unwrap().unwrap();
        assert_eq!(event.revision(), revision);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_store_ends_its_watches() {
    let (store, _dir) = fresh();
    let mut watch = store
        .watch(WatchRequest {
            range: KeyRange::prefix("/"),
            after_revision: None,
        })
        .await
        .unwrap();
    drop(store);
    let ended = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("ends promptly");
    assert!(ended.is_none());
}
