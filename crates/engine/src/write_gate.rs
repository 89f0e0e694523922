//! The write gate of one SQLite database file: this process's writers that must not wait long
//! (logins, audit entries, sessions, the dispatcher, a follower sync) take it in turn, first
//! come first served, instead of meeting in SQLite's busy handler — which is not fair: a writer
//! that commits and writes again at once (a sync) can keep one that sleeps in the handler
//! waiting for seconds. A long writer asks [`WriteGate::contended`] between statements and ends
//! its transaction when somebody waits.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{Mutex, OwnedMutexGuard};

#[derive(Clone, Debug, Default)]
pub struct WriteGate(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    turn: Arc<Mutex<()>>,
    waiting: AtomicUsize,
}

/// Counts a writer as waiting until it has its turn (or gave up waiting).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl WriteGate {
    /// Waits for this writer's turn; the turn lasts as long as the guard.
    pub async fn turn(&self) -> OwnedMutexGuard<()> {
        self.0.waiting.fetch_add(1, Ordering::AcqRel);
        let _waiting = Waiting(&self.0.waiting);
        self.0.turn.clone().lock_owned().await
    }

    /// Whether another writer waits for its turn.
    pub fn contended(&self) -> bool {
        self.0.waiting.load(Ordering::Acquire) > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiting_writer_is_seen_and_served_in_turn() {
        let gate = WriteGate::default();
        let first = gate.turn().await;
        assert!(!gate.contended());
        let other = gate.clone();
        let waiter = tokio::spawn(async move {
            let _turn = other.turn().await;
        });
        while !gate.contended() {
            tokio::task::yield_now().await;
        }
        drop(first);
        waiter.await.unwrap();
        assert!(!gate.contended());
    }
}
