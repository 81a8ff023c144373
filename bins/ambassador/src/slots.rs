//! The `--max-conns` slots, and who gives one up when they are all taken: a connection that has
//! not sent a byte yet.
//!
//! A slot is taken before a connection is accepted, so that connection N+1 waits in the listen
//! backlog. But a socket that connects and says nothing (a port scanner, a broken client, one
//! client opening silent sockets on purpose) would hold its slot until the handshake timeout,
//! and a few of those a second keep every slot busy: real clients wait in the backlog until
//! they time out. So in server mode, where a TLS client always speaks first, a connection is
//! *silent* until its first byte arrives, and while every slot is taken and some connection is
//! silent, the next connection is accepted and the oldest silent one is closed to give it its
//! slot. A client that has started its handshake is never pushed out; one that stalls in the
//! middle is bounded by the handshake timeout.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

pub struct Slots {
    free: Arc<Semaphore>,
    /// The connections not heard from yet, oldest first.
    silent: Mutex<VecDeque<(u64, CancellationToken)>>,
    /// Wakes whoever waits for `silent` to fill or empty.
    changed: Notify,
    next_id: AtomicU64,
}

/// A connection's place among the silent ones, until it drops this (its first byte came, or it
/// ended). `evicted` fires when its slot is given to a newer connection.
pub struct Silent {
    slots: Arc<Slots>,
    id: u64,
    pub evicted: CancellationToken,
}

/// What the accept loop may do next.
pub enum Turn {
    /// A slot is free: accept, and use it.
    Free(OwnedSemaphorePermit),
    /// Every slot is taken but some connection is silent: accept, then [`Slots::take_silent`].
    Evict,
}

impl Slots {
    pub fn new(max_conns: usize) -> Arc<Slots> {
        Arc::new(Slots {
            free: Arc::new(Semaphore::new(max_conns)),
            silent: Mutex::new(VecDeque::new()),
            changed: Notify::new(),
            next_id: AtomicU64::new(0),
        })
    }

    /// Waits until a slot is free, or until every slot is taken and a connection is silent.
    pub async fn turn(&self) -> Turn {
        tokio::select! {
            // A free slot first: evicting while one is free would close a connection for nothing.
            biased;
            slot = self.free.clone().acquire_owned() => {
                Turn::Free(slot.expect("the semaphore is never closed"))
            }
            () = self.any_silent() => Turn::Evict,
        }
    }

    /// The slot for a connection accepted on [`Turn::Evict`]: a slot freed since, or the one of
    /// the oldest silent connection, which is told to give it up. If none is silent any more
    /// (they all spoke meanwhile), this waits for the next slot freed.
    pub async fn take_silent(&self) -> OwnedSemaphorePermit {
        if let Ok(slot) = self.free.clone().try_acquire_owned() {
            return slot;
        }
        let oldest = self.lock().pop_front();
        if let Some((_, evicted)) = oldest {
            evicted.cancel();
        }
        self.free
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// Counts a new connection among the silent ones.
    pub fn silent(self: &Arc<Self>) -> Silent {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let evicted = CancellationToken::new();
        self.lock().push_back((id, evicted.clone()));
        self.changed.notify_waiters();
        Silent {
            slots: self.clone(),
            id,
            evicted,
        }
    }

    /// Returns once some connection is silent.
    async fn any_silent(&self) {
        self.until(|silent| !silent.is_empty()).await;
    }

    /// Returns once no connection is silent: a [`Turn::Evict`] no longer holds, and the accept
    /// loop should wait for a free slot instead, leaving newcomers in the backlog.
    pub async fn none_silent(&self) {
        self.until(VecDeque::is_empty).await;
    }

    async fn until(&self, holds: impl Fn(&VecDeque<(u64, CancellationToken)>) -> bool) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before looking, so that a change in between still wakes it.
            changed.as_mut().enable();
            if holds(&self.lock()) {
                return;
            }
            changed.await;
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<(u64, CancellationToken)>> {
        self.silent.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.slots.lock().retain(|(id, _)| *id != self.id);
        self.slots.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn free(slots: &Slots) -> OwnedSemaphorePermit {
        match slots.turn().await {
            Turn::Free(slot) => slot,
            Turn::Evict => panic!("a free slot was expected"),
        }
    }

    #[tokio::test]
    async fn when_every_slot_is_taken_the_oldest_silent_connection_gives_its_slot_up() {
        let slots = Slots::new(2);
        let first = free(&slots).await;
        let first_silent = slots.silent();
        let _second = free(&slots).await;
        let second_silent = slots.silent();
        assert!(matches!(slots.turn().await, Turn::Evict));
        let third = tokio::spawn({
            let slots = slots.clone();
            async move { slots.take_silent().await }
        });
        first_silent.evicted.cancelled().await;
        assert!(!second_silent.evicted.is_cancelled());
        drop(first_silent);
        drop(first);
        let _third_slot = third.await.unwrap();
    }

    #[tokio::test]
    async fn connections_heard_from_are_never_evicted_and_the_next_one_waits() {
        let slots = Slots::new(1);
        let only = free(&slots).await;
        let heard = slots.silent();
        let evicted = heard.evicted.clone();
        drop(heard);
        let waiting = tokio::spawn({
            let slots = slots.clone();
            async move { matches!(slots.turn().await, Turn::Free(_)) }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "no slot and none silent: it waits");
        drop(only);
        assert!(waiting.await.unwrap(), "the freed slot");
        assert!(!evicted.is_cancelled());
    }
}
