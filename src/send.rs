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
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;

use crate::config::Config;
use crate::error::{Error, Result, show};
use crate::members::{Member, MemberList};
use crate::message::{self, Outgoing, PerMember, Sender};
use crate::pacer::SharedPacer;
use crate::progress::{Progress, Tally};
use crate::render::{Bulletin, Rendered};
use crate::store::{Status, Store};
use crate::transport::{Fatal, Reply, ReplyKind, TransportSpec};
use crate::unsubscribe::Tokens;

/// Policy rejections (5.7.x) in a row that stop a campaign: the sender, not the members,
/// is being refused.
pub const POLICY_STOP: u32 = 3;

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
    /// Signs unsubscribe links and bounce addresses.
    pub tokens: Tokens,
    /// `bounces+{token}@domain`: the per-member envelope sender, if configured.
    pub bounce_address: Option<String>,
}

impl Campaign {
    /// Compiles the template and gathers sender, list headers, tokens and DKIM from `config`.
    /// Returns the warnings to show.
    pub fn from_config(
        config: &Config,
        id: &str,
        subject: Option<&str>,
    ) -> Result<(Campaign, Vec<String>)> {
        check_campaign_id(id)?;
        let bulletin = Bulletin::compile(&config.template, subject, &config.unsubscribe.url)?;
        let mut warnings = bulletin.warnings.clone();
        let (tokens, warning) = Tokens::from_config(config, true)?;
        warnings.extend(warning);
        let dkim = match &config.dkim {
            Some(d) => Some(Arc::new(message::dkim_config(d)?)),
            None => None,
        };
        let list_id = match &config.list_name {
            Some(name) => format!("\"{}\" <{}>", name.replace(['"', '\\'], ""), config.list_id),
            None => format!("<{}>", config.list_id),
        };
        let sender = Sender {
            from: config.from.clone(),
            reply_to: config.reply_to.clone(),
            list_id,
            feedback_id: config
                .feedback_id
                .as_ref()
                .map(|f| f.replace("{campaign}", id)),
            unsubscribe_mailto: config.unsubscribe.mailto.clone(),
            dkim,
        };
        let campaign = Campaign {
            id: id.to_string(),
            bulletin,
            vars: config.vars.clone(),
            sender,
            domain: config.from_domain(),
            tokens,
            bounce_address: config.bounce_address.clone(),
        };
        Ok((campaign, warnings))
    }

    /// The variables of one member, unsubscribe token and URL included.
    pub fn context(&self, member: &Member) -> std::result::Result<minijinja::Value, String> {
        let token = self.tokens.token(&member.email);
        let extra = [
            ("token", token.as_str()),
            ("list", self.sender.list_id_bare()),
        ];
        self.bulletin.context(&self.vars, member, &self.id, &extra)
    }

    /// Renders one member.
    pub fn render(&self, member: &Member) -> std::result::Result<Rendered, String> {
        self.bulletin.render(&self.context(member)?)
    }

    /// The envelope sender for `member`: the bounce address with its token, if configured.
    pub fn envelope_from(&self, member: &Member) -> Option<lettre::Address> {
        let template = self.bounce_address.as_ref()?;
        template
            .replace(
                "{token}",
                &self.tokens.bounce_token(&self.id, &member.email),
            )
            .parse()
            .ok()
    }

    /// Renders and builds one member's message; `test_to` redirects it (and marks the subject).
    pub fn build(
        &self,
        member: &Member,
        message_id: &str,
        test_to: Option<&str>,
    ) -> std::result::Result<Outgoing, String> {
        let ctx = self.context(member)?;
        let rendered = self.bulletin.render(&ctx)?;
        let url = ctx
            .get_attr("unsubscribe_url")
            .ok()
            .map(|v| v.to_string())
            .unwrap_or_default();
        let test_subject = test_to.map(|_| format!("[TEST] {}", rendered.subject));
        let per = PerMember {
            to: test_to.unwrap_or(&member.email),
            name: if test_to.is_some() {
                None
            } else {
                member.display_name()
            },
            message_id,
            unsubscribe_url: &url,
            subject: test_subject.as_deref(),
            envelope_from: if test_to.is_some() {
                None
            } else {
                self.envelope_from(member)
            },
        };
        message::build(&self.sender, &per, &rendered)
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
    /// The first member's rendering, for the checks.
    pub first: Option<Rendered>,
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
    let mut first = None;
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
            && let Ok(ctx) = campaign.context(&m)
        {
            campaign.bulletin.verify(&ctx);
            verified += 1;
        }
        match campaign.build(&m, "<preflight@localhost>", None) {
            Ok(_) => {
                members += 1;
                if first.is_none() {
                    first = campaign.render(&m).ok();
                    subject = first.as_ref().map(|r| r.subject.clone());
                }
            }
            Err(e) => add(e, format!("line {} (`{}`)", m.line, m.email)),
        }
    }
    if problems.is_empty() {
        return Ok(Preflight {
            members,
            subject,
            first,
        });
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
    let mut skip = store.with_status(campaign, &[Status::Accepted, Status::Suppressed])?;
    skip.extend(store.suppressed_set()?);
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
    /// `None`: not attempted, because the run was stopping.
    result: Option<std::result::Result<Reply, Fatal>>,
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
    let stopping = Arc::new(AtomicBool::new(false));
    for _ in 0..workers {
        let rx = job_rx.clone();
        let tx = done_tx.clone();
        let mut conn = spec.connect();
        let pacer = pacer.clone();
        let campaign = campaign.clone();
        let stopping = stopping.clone();
        handles.push(tokio::spawn(async move {
            loop {
                let job = { rx.lock().await.recv().await };
                let Some(job) = job else { break };
                pacer.acquire().await;
                // Jobs already queued when the run stops are handed back unsent.
                let result = if stopping.load(Ordering::SeqCst) {
                    None
                } else {
                    Some(match campaign.build(&job.member, &job.message_id, None) {
                        Ok(msg) => conn.send(&msg).await,
                        // Preflight rendered this member; a failure now is not the member's fault.
                        Err(e) => Err(Fatal(format!("cannot render `{}`: {e}", job.member.email))),
                    })
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
    let mut policy_streak = 0u32;
    let mut job_tx = Some(job_tx);

    loop {
        if stopped.is_some() {
            stopping.store(true, Ordering::SeqCst);
        }
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
                    None => {}
                    Some(Err(Fatal(why))) => {
                        if stopped.is_none() {
                            stopped = Some(why);
                        }
                    }
                    Some(Ok(reply)) => {
                        job.tries += 1;
                        store.record(&campaign.id, &job.member.email, &job.message_id, &reply)?;
                        match reply.reason() {
                            "policy" => policy_streak += 1,
                            "accepted" => policy_streak = 0,
                            _ => {}
                        }
                        if policy_streak >= POLICY_STOP && stopped.is_none() {
                            stopped = Some(format!(
                                "the server refused {POLICY_STOP} messages in a row for policy reasons (5.7.x), last: `{}`; check SPF, DKIM and DMARC for the From domain and the sending IP's reputation",
                                reply.text
                            ));
                        }
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
