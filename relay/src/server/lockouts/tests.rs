//! Lockouts shared through one state store (R6): relays or processes on one
//! database add up each other's failures.

use std::sync::Arc;
use std::time::Duration;

use assent_proto::lockout::{LockoutError, LockoutPolicy};

use super::{LockoutBook, LockoutScope};
use crate::store::{DataKey, SqliteStore, StateStore};

fn policy() -> LockoutPolicy {
    LockoutPolicy {
        // Short waits would not matter: counting does not wait for them.
        base_wait: Duration::from_secs(5),
        max_wait: Duration::from_secs(60),
        burn_after: 6,
    }
}

/// Two stores opened on one file: what two relay processes have.
fn two_processes(dir: &tempfile::TempDir) -> (Arc<dyn StateStore>, Arc<dyn StateStore>) {
    let path = dir.path().join("relay.db");
    let key = DataKey::from_bytes([0x42; 32]);
    let first: Arc<dyn StateStore> = Arc::new(SqliteStore::open(&path, &key).unwrap());
    let second: Arc<dyn StateStore> = Arc::new(SqliteStore::open(&path, &key).unwrap());
    (first, second)
}

fn session() -> Vec<LockoutScope> {
    vec![LockoutScope::Session([7; 32])]
}

#[tokio::test]
async fn two_books_on_one_store_burn_the_password_after_their_combined_failures() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = two_processes(&dir);
    let a = LockoutBook::new(store.clone(), policy());
    let b = LockoutBook::new(store, policy());
    // Interleaved, so neither book's own memory can stand in for the store.
    for round in 1..=3 {
        let from_a = a.record_failure(&session()).await.unwrap();
        assert_eq!(failures(from_a), 2 * round - 1);
        let from_b = b.record_failure(&session()).await.unwrap();
        if round < 3 {
            assert_eq!(failures(from_b), 2 * round);
        } else {
            assert_eq!(from_b, LockoutError::Burned { failures: 6 });
        }
    }
    // Both books see the burn, including the one whose last write was earlier.
    assert_eq!(
        a.check(&session()).await,
        Err(LockoutError::Burned { failures: 6 })
    );
    assert_eq!(
        b.check(&session()).await,
        Err(LockoutError::Burned { failures: 6 })
    );
}

#[tokio::test]
async fn two_relay_processes_on_one_database_count_three_and_three_as_six() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = two_processes(&dir);
    let a = LockoutBook::new(first, policy());
    let b = LockoutBook::new(second, policy());
    for _ in 0..3 {
        a.record_failure(&session()).await.unwrap();
    }
    // `a` has the scope in memory; `b`'s failures must still reach it.
    for _ in 0..2 {
        b.record_failure(&session()).await.unwrap();
    }
    assert_eq!(
        a.record_failure(&session()).await.unwrap(),
        LockoutError::Burned { failures: 6 }
    );
    assert_eq!(
        b.check(&session()).await,
        Err(LockoutError::Burned { failures: 6 })
    );
}

#[tokio::test]
async fn a_lock_set_by_another_process_is_enforced_here() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = two_processes(&dir);
    let a = LockoutBook::new(first, policy());
    let b = LockoutBook::new(second, policy());
    // `a` has seen the scope unlocked; `b` then locks it.
    assert_eq!(a.check(&session()).await, Ok(()));
    b.record_failure(&session()).await.unwrap();
    assert!(matches!(
        a.check(&session()).await,
        Err(LockoutError::Locked { failures: 1, .. })
    ));
}

fn failures(outcome: LockoutError) -> u32 {
    match outcome {
        LockoutError::Locked { failures, .. } | LockoutError::Burned { failures } => failures,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_failures_in_two_processes_are_all_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = two_processes(&dir);
    let a = LockoutBook::new(first, policy());
    let b = LockoutBook::new(second, policy());
    // Three at once from each relay: a read-then-write would lose some.
    let mut attempts = tokio::task::JoinSet::new();
    for book in [
        a.clone(),
        b.clone(),
        a.clone(),
        b.clone(),
        a.clone(),
        b.clone(),
    ] {
        attempts.spawn(async move { book.record_failure(&session()).await.unwrap() });
    }
    let mut counts: Vec<u32> = Vec::new();
    while let Some(outcome) = attempts.join_next().await {
        counts.push(failures(outcome.unwrap()));
    }
    counts.sort_unstable();
    assert_eq!(counts, [1, 2, 3, 4, 5, 6], "each failure saw its own count");
    assert_eq!(
        a.check(&session()).await,
        Err(LockoutError::Burned { failures: 6 })
    );
}
