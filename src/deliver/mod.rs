//! The delivery engine: members in, replies recorded, through a fixed set of workers.
//!
//! [`deliver`]: a thin async shell feeds members through a bounded channel to `connections`
//! workers (`worker.rs`). Each worker waits for the shared pacer, renders, sends on its own
//! connection and reports the reply; the shell journals it at once. What happens next (a
//! retry with backoff, a slowdown, a stop on a systemic failure, a quota wait, the end of the
//! run) is decided by the [`coordinator::Coordinator`], a synchronous state machine that
//! takes events with an explicit `now` and is unit-tested without I/O.
//!
//! What comes before (the campaign prepared and preflighted, [`crate::compose::campaign`])
//! and around it (lock, journal, recovery, the skip set, the `pending` rows, the summary) is
//! [`run`]'s.

pub mod coordinator;
pub mod pacer;
pub mod progress;
pub mod quota;
pub mod run;
pub(crate) mod signals;
mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;

use crate::compose::campaign::Campaign;
use crate::deliver::coordinator::{Coordinator, Job, OnSignal, Rules};
use crate::deliver::pacer::SharedPacer;
use crate::deliver::progress::{Progress, Tally};
use crate::deliver::quota::Quota;
use crate::deliver::signals::{Interrupts, Signals};
use crate::deliver::worker::Event;
use crate::error::Result;
use crate::list::Member;
use crate::outcome::{Fatal, Reply};
use crate::store::Store;
use crate::store::journal::Journal;
use crate::transport::TransportSpec;

/// What a run did.
#[derive(Debug, Default)]
pub struct RunSummary {
    pub tally: Tally,
    pub elapsed: Duration,
    /// Set when a systemic failure or a signal stopped the run early.
    pub stopped: Option<String>,
    /// Stopped by Ctrl-C or SIGTERM.
    pub interrupted: bool,
}

/// Delivery settings for one run.
pub struct Delivery {
    pub connections: usize,
    pub max_attempts: u32,
    pub retry_delay: Duration,
    /// Connection failures in a row that stop the run.
    pub max_connection_failures: u32,
    /// Longest wait for a quota window to reopen before stopping.
    pub max_quota_wait: Duration,
}

/// Backoff before retry number `tries` (1-based): `base * 2^(tries-1)`, +-20% jitter.
pub fn backoff(base: Duration, tries: u32) -> Duration {
    coordinator::backoff(base, tries, coordinator::random_jitter())
}

/// Where a run records and what it counts against: borrowed for the run.
struct Books<'a, W> {
    store: &'a mut Store,
    journal: &'a mut Journal,
    quota: &'a mut Quota,
    still_wanted: W,
    progress: Progress,
    /// The coordinator's slowdown, as the workers read it (milliseconds).
    slowdown: Arc<AtomicU64>,
}

/// Delivers to `members` (already filtered), recording each attempt before it goes and each
/// reply as it arrives. Stops early on a systemic failure, a quota it cannot wait for, or a
/// signal: the first Ctrl-C or SIGTERM lets messages in flight finish, a second exits at once.
/// `still_wanted` is asked again as each message is about to go (members are taken from the
/// list a few messages ahead, and a retry can come much later): a member unsubscribed
/// meanwhile is left out, still `pending`, for the caller to mark suppressed.
///
/// The decisions are the [`Coordinator`]'s; this is the shell that waits: workers, channels,
/// timers, signals.
#[allow(clippy::too_many_arguments)]
pub async fn deliver(
    campaign: Arc<Campaign>,
    members: impl Iterator<Item = Member>,
    still_wanted: impl FnMut(&str) -> bool,
    total: u64,
    store: &mut Store,
    journal: &mut Journal,
    spec: &TransportSpec,
    pacer: Arc<SharedPacer>,
    quota: &mut Quota,
    settings: &Delivery,
) -> Result<RunSummary> {
    let books = Books {
        store,
        journal,
        quota,
        still_wanted,
        progress: Progress::new(total),
        slowdown: Arc::new(AtomicU64::new(0)),
    };
    let rules = settings.rules();
    let ids = campaign.clone();
    let jobs = members.map(move |member| Job::new(member, ids.new_message_id()));
    let coordinator = Coordinator::new(rules, jobs);
    let interrupts = Interrupts::Os(Signals::new());
    run(
        campaign,
        coordinator,
        books,
        spec,
        pacer,
        settings.connections,
        interrupts,
    )
    .await
}

impl Delivery {
    fn rules(&self) -> Rules {
        Rules {
            max_attempts: self.max_attempts,
            retry_delay: self.retry_delay,
            max_connection_failures: self.max_connection_failures,
            max_quota_wait: self.max_quota_wait,
        }
    }
}

/// Runs `coordinator` with `connections` workers until it is finished.
async fn run<I: Iterator<Item = Job>, W: FnMut(&str) -> bool>(
    campaign: Arc<Campaign>,
    mut coordinator: Coordinator<I>,
    mut books: Books<'_, W>,
    spec: &TransportSpec,
    pacer: Arc<SharedPacer>,
    connections: usize,
    mut interrupts: Interrupts,
) -> Result<RunSummary> {
    let workers = connections.max(1);
    let (job_tx, job_rx) = mpsc::channel::<Job>(workers);
    let (event_tx, mut events) = mpsc::channel::<Event>(workers * 4);
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let shared = worker::Shared {
        jobs: Arc::new(Mutex::new(job_rx)),
        events: event_tx,
        pacer,
        campaign: campaign.clone(),
        slowdown: books.slowdown.clone(),
        stopping,
    };
    let handles: Vec<_> = (0..workers)
        .map(|_| tokio::spawn(worker::run(shared.clone(), spec.connect())))
        .collect();
    drop(shared);
    let mut shell = Shell {
        coordinator: &mut coordinator,
        books: &mut books,
        events: &mut events,
        jobs: &job_tx,
        stopping: &stopping_tx,
        campaign: &campaign.id,
    };
    shell.drive(&mut interrupts).await?;
    drop(job_tx);
    for h in handles {
        let _ = h.await;
    }
    books.journal.fold(books.store)?;
    books.progress.finish();
    let (tally, stopped, interrupted) = coordinator.finish();
    Ok(RunSummary {
        tally,
        elapsed: books.progress.elapsed(),
        stopped,
        interrupted,
    })
}

/// The shell's loop: feeds the coordinator what happens and does what it says.
struct Shell<'s, 'a, I, W> {
    coordinator: &'s mut Coordinator<I>,
    books: &'s mut Books<'a, W>,
    events: &'s mut mpsc::Receiver<Event>,
    jobs: &'s mpsc::Sender<Job>,
    stopping: &'s tokio::sync::watch::Sender<bool>,
    campaign: &'s str,
}

impl<I: Iterator<Item = Job>, W: FnMut(&str) -> bool> Shell<'_, '_, I, W> {
    async fn drive(&mut self, interrupts: &mut Interrupts) -> Result<()> {
        loop {
            let c = &mut *self.coordinator;
            if c.stop_reason().is_some() {
                self.stopping.send_replace(true);
            }
            let now = Instant::now();
            let quota = &mut *self.books.quota;
            if c.wants_quota(now) && quota.is_limited() {
                let free = quota.next_allowed(crate::clock::now());
                c.on_quota(free, crate::clock::now(), now);
            }
            if c.is_finished(now) {
                return Ok(());
            }
            let want_job = c.wants_job(now);
            let wake = c.poll_timeout(now);
            let in_flight = c.in_flight();
            let fold_at = self.books.journal.fold_at(in_flight).map(Instant::from_std);
            tokio::select! {
                biased;
                _ = interrupts.recv() => self.on_signal()?,
                Some(first) = self.events.recv(), if in_flight > 0 => self.on_events(first)?,
                permit = self.jobs.reserve(), if want_job => {
                    let Ok(permit) = permit else { return Ok(()) };
                    if let Some(job) = self.coordinator.next_job(now) {
                        permit.send(job);
                    }
                }
                _ = tokio::time::sleep_until(wake.unwrap_or(now)), if wake.is_some() => {}
                _ = tokio::time::sleep_until(fold_at.unwrap_or(now)), if fold_at.is_some() => {
                    self.books.journal.fold_or_wait(self.books.store)?;
                }
            }
        }
    }

    /// The first signal lets the messages in flight finish; the second ends the run at once,
    /// as an error: what is in flight stays `sending` in the journal, and the next run calls
    /// those members `uncertain`.
    fn on_signal(&mut self) -> Result<()> {
        match self.coordinator.on_signal() {
            OnSignal::Exit => {
                self.books.progress.finish();
                return Err(crate::error::Error::StoppedAtOnce {
                    campaign: self.campaign.to_string(),
                });
            }
            OnSignal::Finish { in_flight } => eprintln!(
                "\ninterrupted: finishing the {in_flight} messages in flight (Ctrl-C again to stop at once)"
            ),
        }
        Ok(())
    }

    /// Every event waiting now goes into the journal with one write, and the workers hear
    /// "go" only once their `start` is written.
    fn on_events(&mut self, first: Event) -> Result<()> {
        let mut batch = vec![first];
        while batch.len() < 512 {
            match self.events.try_recv() {
                Ok(e) => batch.push(e),
                Err(_) => break,
            }
        }
        let mut acks = Vec::new();
        for event in batch {
            match event {
                Event::Starting {
                    email,
                    message_id,
                    go,
                } => {
                    let ok = self.starting(&email);
                    if ok {
                        self.books.journal.start(&email, &message_id);
                    }
                    acks.push((go, ok));
                }
                Event::Done { job, result } => self.done(job, result),
            }
        }
        let books = &mut *self.books;
        // In the operating system's hands before any of these messages may go.
        books.journal.write()?;
        for (go, ok) in acks {
            let _ = go.send(ok);
        }
        let in_flight = self.coordinator.in_flight();
        if books
            .journal
            .fold_at(in_flight)
            .is_some_and(|t| t <= std::time::Instant::now())
        {
            books.journal.fold_or_wait(books.store)?;
        }
        Ok(())
    }

    /// Whether a member about to go may: the quota is taken here, one message at a time
    /// (shared with other runs on the same store), so jobs already queued cannot overrun
    /// it; and the member must still be wanted.
    fn starting(&mut self, email: &str) -> bool {
        let c = &mut *self.coordinator;
        if c.may_start() {
            let taken = self.books.quota.take(crate::clock::now());
            c.on_quota(taken, crate::clock::now(), Instant::now());
        }
        c.may_start() && {
            let wanted = (self.books.still_wanted)(email);
            c.on_starting(email, wanted)
        }
    }

    fn done(&mut self, job: Job, result: Option<std::result::Result<Reply, Fatal>>) {
        let journal = &mut *self.books.journal;
        match &result {
            Some(Ok(reply)) => journal.reply(&job.member.email, &job.message_id, reply),
            // Fatal means the message was never offered.
            Some(Err(_)) => journal.unstart(&job.member.email),
            None => {}
        }
        let c = &mut *self.coordinator;
        if c.on_done(job, result, Instant::now()) {
            self.books.progress.update(c.tally());
        }
        let pause = c.slowdown().as_millis() as u64;
        self.books.slowdown.store(pause, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::outcome::ReplyKind;
    use crate::store::journal::Journal;
    use crate::store::{CampaignInfo, CampaignLock, Status};
    use crate::transport::stub::Stub;

    /// The repository's sample config and bulletin, for the file transport's development secret.
    fn campaign() -> Arc<Campaign> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let config = Config::parse(&path, &text).unwrap();
        Arc::new(Campaign::open(&config, "t", None).unwrap().0)
    }

    fn members(emails: &[&str]) -> Vec<Member> {
        let columns = ["email", "first_name", "last_name", "organisation"];
        let columns: Arc<[String]> = columns.iter().map(|c| c.to_string()).collect();
        let row = |(i, e): (usize, &&str)| Member {
            line: i as u64 + 2,
            email: e.to_string(),
            columns: columns.clone(),
            values: [e, "Ann", "Lee", "Lee Ltd"].map(String::from).to_vec(),
        };
        emails.iter().enumerate().map(row).collect()
    }

    /// Runs a campaign to `emails` through `stub` with a real store and journal, scripted
    /// interrupts; returns the summary and each member's status and reason in the store.
    async fn send_through(
        stub: &Stub,
        emails: &[&str],
        interrupts: Interrupts,
    ) -> (RunSummary, Vec<(String, Status, Option<String>)>) {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let mut store = Store::open(&db).unwrap();
        let info = CampaignInfo {
            id: "t".into(),
            template: "t".into(),
            list: "l".into(),
            subject: "s".into(),
            transport: "stub".into(),
            started_at: crate::store::now(),
            finished_at: None,
        };
        store
            .begin_campaign(&info, emails.iter().map(|e| e.to_string()))
            .unwrap();
        let lock = CampaignLock::acquire(&db, "t").unwrap();
        let mut journal = Journal::open(&mut store, &db, "t", &lock).unwrap();
        let mut quota = Quota::new(0, 0, []);
        let books = Books {
            store: &mut store,
            journal: &mut journal,
            quota: &mut quota,
            still_wanted: |_: &str| true,
            progress: Progress::new(emails.len() as u64),
            slowdown: Arc::new(AtomicU64::new(0)),
        };
        let settings = Delivery {
            connections: 2,
            max_attempts: 3,
            retry_delay: Duration::from_secs(30),
            max_connection_failures: 10,
            max_quota_wait: Duration::from_secs(900),
        };
        let campaign = campaign();
        let ids = campaign.clone();
        let jobs = members(emails)
            .into_iter()
            .map(move |m| Job::new(m, ids.new_message_id()));
        let coordinator = Coordinator::new(settings.rules(), jobs).with_jitter(|| 0.5);
        let rate = crate::config::RateConfig {
            messages_per_second: 0.0,
            batch_size: 0,
            ..toml::from_str("").unwrap()
        };
        let pacer = Arc::new(SharedPacer::new(&rate));
        let spec = TransportSpec::Stub(stub.clone());
        let summary = run(campaign, coordinator, books, &spec, pacer, 2, interrupts)
            .await
            .unwrap();
        let mut rows = Vec::new();
        store
            .each_log_row("t", |r| {
                rows.push((r.email, r.status, r.reason));
                Ok(())
            })
            .unwrap();
        (summary, rows)
    }

    #[tokio::test(start_paused = true)]
    async fn a_small_campaign_goes_through_the_stub_with_a_retry_and_a_hard_bounce() {
        let stub = Stub::new();
        stub.replies(
            "bob@example.org",
            ReplyKind::Transient,
            "451 4.3.0 try later",
        );
        stub.replies(
            "eve@example.org",
            ReplyKind::Permanent,
            "550 5.1.1 no such user",
        );
        let emails = ["ann@example.org", "bob@example.org", "eve@example.org"];
        let (_never, interrupts) = tokio::sync::mpsc::unbounded_channel();
        let started = Instant::now();
        let (summary, rows) = send_through(&stub, &emails, Interrupts::Scripted(interrupts)).await;
        // Bob's retry waited its backoff (30 s, on tokio's paused clock).
        assert!(started.elapsed() >= Duration::from_secs(30), "{rows:?}");
        let t = summary.tally;
        assert_eq!((t.accepted, t.failed, t.retries, t.deferred), (2, 1, 1, 0));
        assert_eq!((summary.stopped, summary.interrupted), (None, false));
        let sent = stub.sent();
        let mut to: Vec<&str> = sent.iter().map(|s| s.to.as_str()).collect();
        to.sort();
        assert_eq!(
            to,
            [
                "ann@example.org",
                "bob@example.org",
                "bob@example.org",
                "eve@example.org"
            ]
        );
        for s in &sent {
            assert_eq!(s.from, "news@example.org");
            let text = String::from_utf8_lossy(&s.bytes);
            assert!(
                text.contains(&format!("To: \"Ann Lee\" <{}>", s.to)),
                "{text}"
            );
            assert!(text.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        }
        let row = |e: &str| rows.iter().find(|r| r.0 == e).cloned().unwrap();
        assert_eq!(row("ann@example.org").1, Status::Accepted);
        assert_eq!(row("bob@example.org").1, Status::Accepted);
        let eve = row("eve@example.org");
        assert_eq!(
            (eve.1, eve.2.as_deref()),
            (Status::Failed, Some("hard-bounce"))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_interrupt_before_anything_went_leaves_every_member_pending() {
        let stub = Stub::new();
        let (tx, interrupts) = tokio::sync::mpsc::unbounded_channel();
        tx.send(()).unwrap();
        let emails = ["ann@example.org", "bob@example.org"];
        let (summary, rows) = send_through(&stub, &emails, Interrupts::Scripted(interrupts)).await;
        assert_eq!(
            (summary.stopped.as_deref(), summary.interrupted),
            (Some("interrupted"), true)
        );
        assert!(stub.sent().is_empty());
        assert!(rows.iter().all(|r| r.1 == Status::Pending), "{rows:?}");
    }
}
