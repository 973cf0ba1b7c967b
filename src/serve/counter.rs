//! The counting behind tracked links and open pixels: a request hands what it counts to a
//! bounded queue ([`QUEUED`]) without waiting ([`Counter::count`]), and one writer task
//! ([`record_loop`]) puts what is waiting into the store in one transaction.
//!
//! Counting never delays or breaks the answer. The trade-off, chosen for counts rather than
//! promises: what is queued is lost if the service dies, and while the store stays busy and
//! the queue is full, requests are answered but not counted (said on stderr, with how
//! many). Unsubscribes, which are promises, are written to disk before their answer instead.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::error::Result;
use crate::store::Store;

/// Items waiting for the writer, at most; beyond, a request is answered but not counted.
pub const QUEUED: usize = 4096;

/// How long the writer waits before trying a busy store again, and how many tries a batch
/// gets before its counts are given up (said on stderr).
const RETRY: Duration = Duration::from_secs(1);
const TRIES: u32 = 30;

/// The requests' side of one counter.
pub struct Counter<T> {
    queue: mpsc::Sender<T>,
    /// Items not counted because the queue was full.
    dropped: AtomicU64,
    /// What the warning calls them: `clicks redirected`, `opens answered`.
    what: &'static str,
}

impl<T> Counter<T> {
    /// A counter and its queue's receiving end, for [`record_loop`].
    pub fn new(what: &'static str) -> (Counter<T>, mpsc::Receiver<T>) {
        let (queue, receiver) = mpsc::channel(QUEUED);
        let counter = Counter {
            queue,
            dropped: AtomicU64::new(0),
            what,
        };
        (counter, receiver)
    }

    /// Queues `item` for the writer, never waiting; when the queue is full it is dropped,
    /// and said so on stderr (the first time and every thousandth).
    pub fn count(&self, item: T) {
        if self.queue.try_send(item).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n == 1 || n.is_multiple_of(1000) {
                eprintln!(
                    "warning: {n} {} but not counted: the store is busy",
                    self.what
                );
            }
        }
    }
}

/// Writes the queued items into the store at `path` with `write`, what is waiting in one
/// call; ends when every sender is gone and the queue is empty. `what` names them in
/// warnings (`clicks`, `opens`).
pub async fn record_loop<T: Send + 'static>(
    path: PathBuf,
    mut queue: mpsc::Receiver<T>,
    write: fn(&mut Store, &[T]) -> Result<()>,
    what: &'static str,
) {
    let mut store: Option<Store> = None;
    let mut batch = Vec::new();
    while queue.recv_many(&mut batch, QUEUED).await > 0 {
        let mut items = std::mem::take(&mut batch);
        for tried in 1..=TRIES {
            let path = path.clone();
            let mut open = store.take();
            let done = tokio::task::spawn_blocking(move || {
                let written = match &mut open {
                    Some(s) => write(s, &items),
                    None => Store::connect(&path).and_then(|mut s| {
                        let r = write(&mut s, &items);
                        open = Some(s);
                        r
                    }),
                };
                (written, open, items)
            })
            .await;
            let Ok((written, open, back)) = done else {
                eprintln!("warning: {what} not counted: the writer failed");
                break;
            };
            items = back;
            match written {
                Ok(()) => {
                    store = open;
                    break;
                }
                Err(e) if tried == TRIES => {
                    eprintln!("warning: {} {what} not counted: {e}", items.len());
                }
                Err(_) => tokio::time::sleep(RETRY).await,
            }
        }
    }
}
