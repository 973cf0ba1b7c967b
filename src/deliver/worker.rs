//! A send worker: one connection, fed jobs through a shared bounded channel; it waits for the
//! pacer and any throttling pause, asks the coordinator whether the member may go, builds the
//! message while the `start` is written, sends once told "go", and reports the outcome.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, mpsc, oneshot, watch};

use crate::compose::campaign::Campaign;
use crate::deliver::coordinator::Job;
use crate::deliver::pacer::SharedPacer;
use crate::outcome::{Fatal, Reply};
use crate::transport::{Connection, Go};

/// What a worker tells the coordinator, in order, on one channel.
pub(crate) enum Event {
    /// About to hand `job` to the server: may it go? The coordinator writes the attempt to
    /// the journal first and answers `true`, or answers `false` when the run is stopping.
    Starting {
        email: String,
        message_id: String,
        go: oneshot::Sender<bool>,
    },
    /// The outcome; `None` if the job was not attempted.
    Done {
        job: Job,
        result: Option<std::result::Result<Reply, Fatal>>,
    },
}

/// What the workers share with the shell.
#[derive(Clone)]
pub(crate) struct Shared {
    pub jobs: Arc<Mutex<mpsc::Receiver<Job>>>,
    pub events: mpsc::Sender<Event>,
    pub pacer: Arc<SharedPacer>,
    pub campaign: Arc<Campaign>,
    /// Extra pause before each message while the server is throttling us, in milliseconds.
    pub slowdown: Arc<AtomicU64>,
    /// Set once the run stops: a worker waiting for the pacer or a throttling pause hands its
    /// member back at once instead of sleeping on (the pause can be a minute).
    pub stopping: watch::Receiver<bool>,
}

/// Runs one worker until the job channel closes or the coordinator is gone.
pub(crate) async fn run(mut shared: Shared, mut conn: Connection) {
    loop {
        let job = { shared.jobs.lock().await.recv().await };
        let Some(job) = job else { break };
        let ready = async {
            shared.pacer.acquire().await;
            let pause = shared.slowdown.load(Ordering::Relaxed);
            if pause > 0 {
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
        };
        let stopped = tokio::select! {
            _ = ready => false,
            _ = shared.stopping.wait_for(|s| *s) => true,
        };
        let result = match stopped {
            // Not attempted: it stays pending.
            true => None,
            false => match attempt(&shared, &mut conn, &job).await {
                Ok(result) => result,
                Err(Gone) => break,
            },
        };
        if shared
            .events
            .send(Event::Done { job, result })
            .await
            .is_err()
        {
            break;
        }
    }
    conn.close().await;
}

/// The coordinator is gone.
struct Gone;

/// One attempt: the journal write overlaps the build. "Starting" goes to the coordinator
/// first; the message is built while it is written. The transport then waits for the word
/// ("go") before the envelope (pipelining) or before DATA.
async fn attempt(
    shared: &Shared,
    conn: &mut Connection,
    job: &Job,
) -> Result<Option<std::result::Result<Reply, Fatal>>, Gone> {
    let (go_tx, go_rx) = oneshot::channel();
    let starting = Event::Starting {
        email: job.member.email.clone(),
        message_id: job.message_id.clone(),
        go: go_tx,
    };
    shared.events.send(starting).await.map_err(|_| Gone)?;
    let mut go = Go::on(go_rx);
    Ok(
        match shared.campaign.build(&job.member, &job.message_id, None) {
            Ok(msg) => conn.send(&msg, go).await,
            // This member's message cannot be built: that member fails, the campaign goes on.
            Err(e) => go.wait().await.then(|| Ok(Reply::unsendable(e))),
        },
    )
}
