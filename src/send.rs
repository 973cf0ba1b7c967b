//! The send pipeline: preflight every member, then deliver through a fixed set of workers.
//!
//! 1. **Preflight** ([`prepare`]): the list is read and every member rendered and built into a
//!    message before anything leaves; any problem (bad row, undefined variable, MJML error)
//!    stops the campaign with every problem named, and nothing is sent.
//! 2. **Plan**: the campaign is recorded in the store and every member added as `pending`;
//!    members already accepted (or failed, unless `--retry-failed`) are skipped.
//! 3. **Deliver** ([`deliver`]): a coordinator feeds members through a bounded channel to
//!    `connections` workers. Each worker waits for the shared pacer, renders, sends on its own
//!    connection and reports the reply; the coordinator records it at once, schedules a retry
//!    with backoff for a transient reply, and stops everything on a systemic failure.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;

use crate::error::{Error, Result, show};
use crate::members::{Member, MemberList};
use crate::message::{self, Outgoing, Sender};
use crate::pacer::SharedPacer;
use crate::progress::{Progress, Tally};
use crate::render::{Bulletin, Rendered};
use crate::store::{Status, Store};
use crate::transport::{Fatal, Reply, ReplyKind, TransportSpec};

/// How many problems preflight lists before summarising the rest.
const MAX_LISTED: usize = 20;

/// Everything a member needs to become a message, shared by the workers.
pub struct Campaign {
    pub id: String,
    pub bulletin: Bulletin,
    pub vars: BTreeMap<String, String>,
    pub sender: Sender,
    /// Domain of the Message-IDs: the From address's.
    pub domain: String,
}

impl Campaign {
    /// Renders one member.
    pub fn render(&self, member: &Member) -> std::result::Result<Rendered, String> {
        let ctx = self.bulletin.context(&self.vars, member, &self.id)?;
        self.bulletin.render(&ctx)
    }

    /// Renders and builds one member's message; `test_to` redirects it (and marks the subject).
    pub fn build(
        &self,
        member: &Member,
        message_id: &str,
        test_to: Option<&str>,
    ) -> std::result::Result<Outgoing, String> {
        let rendered = self.render(member)?;
        match test_to {
            None => message::build(
                &self.sender,
                &member.email,
                member.display_name(),
                &rendered,
                None,
                message_id,
            ),
            Some(to) => {
                let subject = format!("[TEST] {}", rendered.subject);
                message::build(
                    &self.sender,
                    to,
                    None,
                    &rendered,
                    Some(&subject),
                    message_id,
                )
            }
        }
    }

    pub fn new_message_id(&self) -> String {
        message::new_message_id(&self.id, &self.domain)
    }
}

/// Checks a campaign ID: it names a folder of the outbox, so no path characters.
pub fn check_campaign_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 100
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::input(format!(
            "invalid campaign ID `{id}`: use letters, digits, `-`, `_` and `.` (e.g. `2023-04`)"
        )))
    }
}

/// The outcome of preflight.
pub struct Preflight {
    /// Members that rendered cleanly.
    pub members: u64,
    /// The first member's subject, for the prompt.
    pub subject: Option<String>,
}

/// Renders and builds every member; returns the count, or every problem found.
pub fn preflight(campaign: &mut Campaign, list: &MemberList) -> Result<Preflight> {
    let list_name = show(&list.path);
    // Problems grouped by their text, so one template error is reported once, with its members.
    let mut problems: Vec<(String, Vec<String>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut add = |problem: String, who: String| {
        let i = *index.entry(problem.clone()).or_insert_with(|| {
            problems.push((problem, Vec::new()));
            problems.len() - 1
        });
        problems[i].1.push(who);
    };
    let mut members = 0u64;
    let mut verified = 0;
    let mut subject = None;
    for row in list.rows()? {
        let m = match row {
            Ok(m) => m,
            Err(e) => {
                add(
                    format!(
                        "failed to read member list `{list_name}`: line {}: {}",
                        e.line, e.reason
                    ),
                    String::new(),
                );
                continue;
            }
        };
        // The first few members decide whether pre-rendered HTML gives the same bytes.
        if verified < 3
            && let Ok(ctx) = campaign.bulletin.context(&campaign.vars, &m, &campaign.id)
        {
            campaign.bulletin.verify(&ctx);
            verified += 1;
        }
        let built = campaign.render(&m).and_then(|r| {
            message::build(
                &campaign.sender,
                &m.email,
                m.display_name(),
                &r,
                None,
                "<preflight@localhost>",
            )?;
            Ok(r.subject)
        });
        match built {
            Ok(s) => {
                members += 1;
                subject.get_or_insert(s);
            }
            Err(e) => add(e, format!("line {} (`{}`)", m.line, m.email)),
        }
    }
    if problems.is_empty() {
        return Ok(Preflight { members, subject });
    }
    let total: usize = problems.len();
    let mut msg = String::new();
    for (problem, who) in problems.iter().take(MAX_LISTED) {
        msg.push_str(problem);
        let who: Vec<&String> = who.iter().filter(|w| !w.is_empty()).collect();
        if !who.is_empty() {
            let shown: Vec<&str> = who.iter().take(3).map(|s| s.as_str()).collect();
            msg.push_str(&format!(" (member on `{list_name}` {}", shown.join(", ")));
            if who.len() > 3 {
                msg.push_str(&format!(" and {} more", who.len() - 3));
            }
            msg.push(')');
        }
        msg.push('\n');
    }
    if total > MAX_LISTED {
        msg.push_str(&format!("... and {} more problems\n", total - MAX_LISTED));
    }
    msg.push_str(&format!(
        "nothing was sent: {total} problem{} found",
        if total == 1 { "" } else { "s" }
    ));
    Err(Error::input(msg))
}

/// Which members a run sends to.
#[derive(Debug, Clone, Copy)]
pub struct Selection {
    /// Also re-attempt failed members and those whose attempts ran out.
    pub retry_failed: bool,
    /// Send to at most this many members in this run.
    pub limit: Option<u64>,
}

/// Addresses (lowercased) this run must not send to.
pub fn skip_set(
    store: &Store,
    campaign: &str,
    sel: Selection,
    max_attempts: u32,
) -> Result<HashSet<String>> {
    let mut skip = store.with_status(campaign, &[Status::Accepted])?;
    if !sel.retry_failed {
        skip.extend(store.with_status(campaign, &[Status::Failed])?);
        skip.extend(store.exhausted(campaign, max_attempts)?);
    }
    Ok(skip)
}

/// One member on its way.
struct Job {
    member: Member,
    /// Tries so far in this run.
    tries: u32,
    message_id: String,
}

struct Done {
    job: Job,
    result: std::result::Result<Reply, Fatal>,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct RunSummary {
    pub tally: Tally,
    pub elapsed: Duration,
    /// Set when a systemic failure stopped the run early.
    pub stopped: Option<String>,
}

/// Delivery settings for one run.
pub struct Delivery {
    pub connections: usize,
    pub max_attempts: u32,
    pub retry_delay: Duration,
}

/// Backoff before retry number `tries` (1-based): `base * 2^(tries-1)`, +-20% jitter.
pub fn backoff(base: Duration, tries: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << (tries.saturating_sub(1)).min(16));
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    let jitter = 0.8 + 0.4 * (u16::from_le_bytes(b) as f64 / u16::MAX as f64);
    exp.mul_f64(jitter)
}

/// Delivers to `members` (already filtered), recording each reply in `store` as it arrives.
pub async fn deliver(
    campaign: Arc<Campaign>,
    members: impl Iterator<Item = Member>,
    total: u64,
    store: &mut Store,
    spec: &TransportSpec,
    pacer: Arc<SharedPacer>,
    settings: &Delivery,
) -> Result<RunSummary> {
    let workers = settings.connections.max(1);
    let (job_tx, job_rx) = mpsc::channel::<Job>(workers * 2);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, mut done_rx) = mpsc::channel::<Done>(workers * 4);
    let mut handles = Vec::new();
    for _ in 0..workers {
        let rx = job_rx.clone();
        let tx = done_tx.clone();
        let mut conn = spec.connect();
        let pacer = pacer.clone();
        let campaign = campaign.clone();
        handles.push(tokio::spawn(async move {
            loop {
                let job = { rx.lock().await.recv().await };
                let Some(job) = job else { break };
                pacer.acquire().await;
                let result = match campaign.build(&job.member, &job.message_id, None) {
                    Ok(msg) => conn.send(&msg).await,
                    // Preflight rendered this member; a failure now is not the member's fault.
                    Err(e) => Err(Fatal(format!("cannot render `{}`: {e}", job.member.email))),
                };
                if tx.send(Done { job, result }).await.is_err() {
                    break;
                }
            }
            conn.close().await;
        }));
    }
    drop(done_tx);

    let mut progress = Progress::new(total);
    let mut tally = Tally::default();
    let mut fresh = members.map(|member| Job {
        message_id: campaign.new_message_id(),
        member,
        tries: 0,
    });
    let mut fresh_done = false;
    let mut retries: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
    let mut waiting: HashMap<u64, Job> = HashMap::new();
    let mut seq = 0u64;
    let mut in_flight = 0usize;
    let mut stopped: Option<String> = None;
    let mut job_tx = Some(job_tx);

    loop {
        let now = Instant::now();
        let retry_ready = retries.peek().is_some_and(|Reverse((t, _))| *t <= now);
        let next_retry = retries.peek().map(|Reverse((t, _))| *t);
        let want_feed = stopped.is_none() && (retry_ready || !fresh_done);
        if in_flight == 0 && !want_feed && (stopped.is_some() || next_retry.is_none()) {
            break;
        }
        let tx = job_tx.as_ref().expect("open until the end");
        tokio::select! {
            biased;
            Some(done) = done_rx.recv(), if in_flight > 0 => {
                in_flight -= 1;
                let Done { mut job, result } = done;
                match result {
                    Err(Fatal(why)) => {
                        if stopped.is_none() {
                            stopped = Some(why);
                        }
                    }
                    Ok(reply) => {
                        job.tries += 1;
                        store.record(&campaign.id, &job.member.email, &job.message_id, &reply)?;
                        match reply.kind {
                            ReplyKind::Accepted => tally.accepted += 1,
                            ReplyKind::Permanent => tally.failed += 1,
                            ReplyKind::Transient if job.tries < settings.max_attempts && stopped.is_none() => {
                                tally.retries += 1;
                                seq += 1;
                                let at = Instant::now() + backoff(settings.retry_delay, job.tries);
                                retries.push(Reverse((at, seq)));
                                waiting.insert(seq, job);
                            }
                            ReplyKind::Transient => tally.deferred += 1,
                        }
                        progress.update(&tally);
                    }
                }
            }
            permit = tx.reserve(), if want_feed => {
                let Ok(permit) = permit else { break };
                let job = if retry_ready {
                    let Reverse((_, id)) = retries.pop().expect("peeked");
                    waiting.remove(&id)
                } else {
                    fresh.next()
                };
                match job {
                    Some(job) => {
                        permit.send(job);
                        in_flight += 1;
                    }
                    None => fresh_done = true,
                }
            }
            _ = tokio::time::sleep_until(next_retry.unwrap_or(now)), if next_retry.is_some() && !retry_ready && stopped.is_none() => {}
        }
    }
    // Members still waiting for a retry when the run stopped stay `deferred` in the store.
    tally.deferred += waiting.len() as u64;
    job_tx.take();
    for h in handles {
        let _ = h.await;
    }
    progress.finish();
    Ok(RunSummary {
        tally,
        elapsed: progress.elapsed(),
        stopped,
    })
}
