//! The send pipeline: preflight every member, then deliver through a fixed set of workers.
//!
//! 1. **Preflight** ([`preflight`]): the list is read and every member rendered and built into a
//!    message before anything leaves; any problem (bad row, undefined variable, MJML error)
//!    stops the campaign with every problem named, and nothing is sent.
//! 2. **Plan**: the campaign is recorded in the store and every member added as `pending`;
//!    members already accepted (or failed, unless `--retry-failed`) are skipped.
//! 3. **Deliver** ([`deliver`]): a coordinator feeds members through a bounded channel to
//!    `connections` workers. Each worker waits for the shared pacer, renders, sends on its own
//!    connection and reports the reply; the coordinator records it at once, schedules a retry
//!    with backoff for a transient reply, and stops everything on a systemic failure.

pub mod pacer;
pub mod progress;
pub mod quota;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::time::Instant;

use crate::compose::message::{self, Outgoing, PerMember, Sender};
use crate::compose::render::{Bulletin, Rendered};
use crate::compose::tokens::Tokens;
use crate::config::Config;
use crate::deliver::pacer::SharedPacer;
use crate::deliver::progress::{Progress, Tally};
use crate::deliver::quota::Quota;
use crate::error::{Error, Result, show};
use crate::list::{Member, MemberList};
use crate::outcome::{Fatal, Reason, Reply, ReplyKind};
use crate::store::journal::Journal;
use crate::store::{Skip, Store};
use crate::transport::{Go, TransportSpec};

/// Policy rejections (5.7.x) in a row that stop a campaign: the sender, not the members,
/// is being refused.
pub const POLICY_STOP: u32 = 3;

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
            Some(d) => Some(Arc::new(crate::compose::dkim::Signer::load(d)?)),
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
        self.context_with(member, &self.tokens.token(&member.email))
    }

    /// [`Campaign::context`] with `token` for the unsubscribe link.
    fn context_with(
        &self,
        member: &Member,
        token: &str,
    ) -> std::result::Result<minijinja::Value, String> {
        let extra = [("token", token), ("list", self.sender.list_id_bare())];
        self.bulletin.context(&self.vars, member, &self.id, &extra)
    }

    /// Renders one member; also returns the member's unsubscribe URL (for the headers).
    fn render_with_url(
        &self,
        member: &Member,
        token: &str,
    ) -> std::result::Result<(Rendered, String), String> {
        let ctx = self.context_with(member, token)?;
        let rendered = self.bulletin.render(&ctx)?;
        let url = ctx
            .get_attr("unsubscribe_url")
            .ok()
            .map(|v| v.to_string())
            .unwrap_or_default();
        Ok((rendered, url))
    }

    /// Renders one member and checks what would go into its headers and envelope, without
    /// building MIME.
    pub fn check(&self, member: &Member) -> std::result::Result<Rendered, String> {
        let (rendered, url) = self.render_with_url(member, &self.tokens.token(&member.email))?;
        message::check_unsubscribe_url(&url)?;
        self.check_envelope(member)?;
        Ok(rendered)
    }

    /// Whether lettre can put `member` on an envelope. It reads the envelope back from the
    /// To header it writes, and some valid addresses do not survive that
    /// (`"d d"@example.org`); a configured bounce address must come out as an address too.
    /// The round trip alone, not a whole message: it runs for every member.
    fn check_envelope(&self, member: &Member) -> std::result::Result<(), String> {
        use lettre::message::{Mailbox, Mailboxes};
        let refused = |why: &dyn std::fmt::Display| {
            format!("`{}` cannot be put on an envelope: {why}", member.email)
        };
        let name = member.display_name();
        let user = member.email.rsplit_once('@').map_or("", |(u, _)| u);
        // A dot-atom address and a plain name are written and read back as they are; the
        // round trip (~50 us a member in a debug build) is for the rest.
        let plain =
            |s: &str, more: &[char]| s.chars().all(|c| c.is_alphanumeric() || more.contains(&c));
        if plain(
            user,
            &[
                '.', '-', '_', '+', '\'', '=', '!', '#', '$', '%', '&', '*', '/', '?', '^', '`',
                '{', '|', '}', '~',
            ],
        ) && name
            .as_deref()
            .is_none_or(|n| plain(n, &[' ', '.', '-', '\'']))
        {
            return self.check_bounce(member, &refused);
        }
        let to: lettre::Address = member.email.parse().map_err(|e| refused(&e))?;
        let written = Mailboxes::from(Mailbox::new(name, to.clone())).to_string();
        let read: Option<Mailboxes> = written.parse().ok();
        if !read.is_some_and(|r| r.iter().map(|m| &m.email).eq([&to])) {
            return Err(refused(&format_args!(
                "lettre cannot read back the To header it writes for it (`{written}`)"
            )));
        }
        self.check_bounce(member, &refused)
    }

    /// A configured bounce address must come out as an address for `member`.
    fn check_bounce(
        &self,
        member: &Member,
        refused: &dyn Fn(&dyn std::fmt::Display) -> String,
    ) -> std::result::Result<(), String> {
        if self.bounce_address.is_some() && self.envelope_from(member).is_none() {
            return Err(refused(&"the bounce address for it is not a valid address"));
        }
        Ok(())
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

    /// Renders and builds one member's message; `test_to` redirects it (and marks the subject,
    /// and gives its links a test token that unsubscribes nobody).
    pub fn build(
        &self,
        member: &Member,
        message_id: &str,
        test_to: Option<&str>,
    ) -> std::result::Result<Outgoing, String> {
        let token = match test_to {
            Some(to) => self.tokens.test_token(&self.id, to),
            None => self.tokens.token(&member.email),
        };
        let (rendered, url) = self.render_with_url(member, &token)?;
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
    /// Every problem found, each naming its file and line; nothing may be sent unless empty.
    pub problems: Vec<String>,
    /// Members whose address has a non-ASCII local part (they need SMTPUTF8), and the first
    /// few of them.
    pub utf8_local: (u64, Vec<String>),
}

/// Renders every member and checks its message's inputs; counts them and lists every problem.
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
    let mut utf8_local = (0, Vec::new());
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
        // Every member is rendered and its headers' inputs checked; the first few are also
        // built into whole messages (MIME encoding is the same for every member and costs
        // far more than rendering).
        let checked = if members < 3 {
            campaign
                .build(&m, "<preflight@localhost>", None)
                .and_then(|_| campaign.check(&m))
        } else {
            campaign.check(&m)
        };
        match checked {
            Ok(r) => {
                members += 1;
                if m.email
                    .rsplit_once('@')
                    .is_some_and(|(user, _)| !user.is_ascii())
                {
                    utf8_local.0 += 1;
                    if utf8_local.1.len() < 3 {
                        utf8_local.1.push(m.email.clone());
                    }
                }
                if first.is_none() {
                    subject = Some(r.subject.clone());
                    first = Some(r);
                }
            }
            Err(e) => add(e, format!("line {} (`{}`)", m.line, m.email)),
        }
    }
    // Each problem once, with the members it hit (a few by name).
    let problems = problems
        .into_iter()
        .map(|(problem, who)| {
            let who: Vec<&str> = who
                .iter()
                .filter(|w| !w.is_empty())
                .map(String::as_str)
                .collect();
            if who.is_empty() {
                return problem;
            }
            let more = if who.len() > 3 {
                format!(" and {} more", who.len() - 3)
            } else {
                String::new()
            };
            format!(
                "{problem} (member on `{list_name}` {}{more})",
                who[..who.len().min(3)].join(", ")
            )
        })
        .collect();
    Ok(Preflight {
        members,
        subject,
        first,
        problems,
        utf8_local,
    })
}

/// Which members a run sends to.
#[derive(Debug, Clone, Copy)]
pub struct Selection {
    /// Also re-attempt failed members and those whose attempts ran out.
    pub retry_failed: bool,
    /// Also send to members whose last attempt was interrupted (`uncertain`).
    pub resend_uncertain: bool,
    /// Send to at most this many members in this run.
    pub limit: Option<u64>,
}

/// The addresses this run must not send to (see [`Store::skip`]).
pub fn skip_set(store: &Store, campaign: &str, sel: Selection, max_attempts: u32) -> Result<Skip> {
    store.skip(
        campaign,
        sel.retry_failed,
        sel.resend_uncertain,
        max_attempts,
        crate::store::SKIP_IN_MEMORY,
    )
}

/// One member on its way.
struct Job {
    member: Member,
    /// Tries so far in this run (throttled replies do not count until there are many).
    tries: u32,
    /// Throttled replies (421, 4.7.x) so far in this run.
    throttles: u32,
    message_id: String,
}

/// What a worker tells the coordinator, in order, on one channel.
enum Event {
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

/// Throttled replies a member may get in one run before they count as tries.
const MAX_THROTTLES: u32 = 5;

/// Backoff before retry number `tries` (1-based): `base * 2^(tries-1)`, +-20% jitter.
pub fn backoff(base: Duration, tries: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << (tries.saturating_sub(1)).min(16));
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    let jitter = 0.8 + 0.4 * (u16::from_le_bytes(b) as f64 / u16::MAX as f64);
    exp.mul_f64(jitter)
}

/// Delivers to `members` (already filtered), recording each attempt before it goes and each
/// reply as it arrives. Stops early on a systemic failure, a quota it cannot wait for, or a
/// signal: the first Ctrl-C or SIGTERM lets messages in flight finish, a second exits at once.
/// `still_wanted` is asked again as each message is about to go (members are taken from the
/// list a few messages ahead, and a retry can come much later): a member unsubscribed
/// meanwhile is left out, still `pending`, for the caller to mark suppressed.
#[allow(clippy::too_many_arguments)]
pub async fn deliver(
    campaign: Arc<Campaign>,
    members: impl Iterator<Item = Member>,
    mut still_wanted: impl FnMut(&str) -> bool,
    total: u64,
    store: &mut Store,
    journal: &mut Journal,
    spec: &TransportSpec,
    pacer: Arc<SharedPacer>,
    quota: &mut Quota,
    settings: &Delivery,
) -> Result<RunSummary> {
    let workers = settings.connections.max(1);
    // Members `still_wanted` turned down as they were about to go.
    let mut withdrawn = std::collections::HashSet::new();
    let (job_tx, job_rx) = mpsc::channel::<Job>(workers);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (event_tx, mut events) = mpsc::channel::<Event>(workers * 4);
    // Extra pause before each message while the server is throttling us, in milliseconds.
    let slowdown = Arc::new(AtomicU64::new(0));
    // Set once the run stops: a worker waiting for the pacer or a throttling pause hands its
    // member back at once instead of sleeping on (the pause can be a minute).
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let mut handles = Vec::new();
    for _ in 0..workers {
        let rx = job_rx.clone();
        let tx = event_tx.clone();
        let mut conn = spec.connect();
        let pacer = pacer.clone();
        let campaign = campaign.clone();
        let slowdown = slowdown.clone();
        let mut stopping = stopping.clone();
        handles.push(tokio::spawn(async move {
            loop {
                let job = { rx.lock().await.recv().await };
                let Some(job) = job else { break };
                let ready = async {
                    pacer.acquire().await;
                    let pause = slowdown.load(Ordering::Relaxed);
                    if pause > 0 {
                        tokio::time::sleep(Duration::from_millis(pause)).await;
                    }
                };
                let stopped = tokio::select! {
                    _ = ready => false,
                    _ = stopping.wait_for(|s| *s) => true,
                };
                if stopped {
                    // Not attempted: it stays pending.
                    if tx.send(Event::Done { job, result: None }).await.is_err() {
                        break;
                    }
                    continue;
                }
                // The journal write overlaps the build: "starting" goes to the coordinator
                // first; the message is built while it is written. The transport then waits
                // for the word ("go") before the envelope (pipelining) or before DATA.
                let (go_tx, go_rx) = oneshot::channel();
                let starting = Event::Starting {
                    email: job.member.email.clone(),
                    message_id: job.message_id.clone(),
                    go: go_tx,
                };
                if tx.send(starting).await.is_err() {
                    break;
                }
                let mut go = Go::on(go_rx);
                let result = match campaign.build(&job.member, &job.message_id, None) {
                    Ok(msg) => conn.send(&msg, go).await,
                    // This member's message cannot be built: that member fails, the
                    // campaign goes on.
                    Err(e) => go.wait().await.then(|| Ok(Reply::unsendable(e))),
                };
                if tx.send(Event::Done { job, result }).await.is_err() {
                    break;
                }
            }
            conn.close().await;
        }));
    }
    drop(event_tx);

    let mut progress = Progress::new(total);
    let mut tally = Tally::default();
    let mut fresh = members.map(|member| Job {
        message_id: campaign.new_message_id(),
        member,
        tries: 0,
        throttles: 0,
    });
    let mut fresh_done = false;
    let mut retries: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
    let mut waiting: HashMap<u64, Job> = HashMap::new();
    let mut seq = 0u64;
    let mut in_flight = 0usize;
    let mut stopped: Option<String> = None;
    let mut interrupted = false;
    let mut policy_streak = 0u32;
    let mut connection_streak = 0u32;
    let mut quota_until: Option<Instant> = None;
    let mut job_tx = Some(job_tx);
    let mut signals = Signals::new();

    loop {
        if stopped.is_some() {
            stopping_tx.send_replace(true);
        }
        let now = Instant::now();
        if quota_until.is_some_and(|t| t <= now) {
            quota_until = None;
        }
        if stopped.is_none() && quota_until.is_none() && (!fresh_done || !retries.is_empty()) {
            check_quota(
                quota,
                settings.max_quota_wait,
                now,
                &mut quota_until,
                &mut stopped,
            );
        }
        let retry_ready = retries.peek().is_some_and(|Reverse((t, _))| *t <= now);
        let next_retry = retries.peek().map(|Reverse((t, _))| *t);
        let want_feed = stopped.is_none() && quota_until.is_none() && (retry_ready || !fresh_done);
        if in_flight == 0
            && !want_feed
            && (stopped.is_some() || (next_retry.is_none() && quota_until.is_none()))
        {
            break;
        }
        let wake = match (next_retry.filter(|_| !retry_ready), quota_until) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let fold_at = journal.fold_at(in_flight).map(Instant::from_std);
        let tx = job_tx.as_ref().expect("open until the end");
        tokio::select! {
            biased;
            _ = signals.recv() => {
                if interrupted {
                    eprintln!("\nstopping at once: members being sent now will be `uncertain`; resume with: mailshot send --campaign {}", campaign.id);
                    std::process::exit(crate::error::EXIT_INTERRUPTED);
                }
                interrupted = true;
                eprintln!("\ninterrupted: finishing the {in_flight} messages in flight (Ctrl-C again to stop at once)");
                stopped.get_or_insert_with(|| "interrupted".to_string());
            }
            Some(first) = events.recv(), if in_flight > 0 => {
                // Every event waiting now goes into the journal with one write, and the
                // workers hear "go" only once their `start` is written.
                let mut batch = vec![first];
                while batch.len() < 512 {
                    match events.try_recv() {
                        Ok(e) => batch.push(e),
                        Err(_) => break,
                    }
                }
                let mut acks = Vec::new();
                for event in batch {
                    match event {
                        Event::Starting { email, message_id, go } => {
                            // The quota is taken here, one message at a time (shared with
                            // other runs on the same store): jobs already queued must not
                            // overrun it.
                            if stopped.is_none() && quota_until.is_none() {
                                let taken = quota.take(crate::clock::now());
                                quota_wait(taken, settings.max_quota_wait, Instant::now(), &mut quota_until, &mut stopped);
                            }
                            let mut ok = stopped.is_none() && quota_until.is_none();
                            if ok && !still_wanted(&email) {
                                withdrawn.insert(email.clone());
                                ok = false;
                            }
                            if ok {
                                journal.start(&email, &message_id);
                            }
                            acks.push((go, ok));
                        }
                        Event::Done { mut job, result } => {
                            in_flight -= 1;
                            match result {
                                // Not sent: the run is stopping (it stays pending), or a quota window
                                // is full (it waits for the window).
                                // Unsubscribed since it was taken from the list.
                                None if withdrawn.remove(&job.member.email) => {}
                                None if stopped.is_none() => {
                                    seq += 1;
                                    retries.push(Reverse((quota_until.unwrap_or_else(Instant::now), seq)));
                                    waiting.insert(seq, job);
                                }
                                None => {}
                                Some(Err(Fatal(why))) => {
                                    // Fatal means the message was never offered.
                                    journal.unstart(&job.member.email);
                                    stopped.get_or_insert(why);
                                }
                                Some(Ok(reply)) => {
                                    journal.reply(&job.member.email, &job.message_id, &reply);
                                    let reason = reply.reason();
                                    policy_streak = if reason == Reason::Policy { policy_streak + 1 } else if reason == Reason::Accepted { 0 } else { policy_streak };
                                    connection_streak = if reply.connecting { connection_streak + 1 } else { 0 };
                                    if policy_streak >= POLICY_STOP && stopped.is_none() {
                                        stopped = Some(format!(
                                            "the server refused {POLICY_STOP} messages in a row for policy reasons (5.7.x), last: `{}`; check SPF, DKIM and DMARC for the From domain and the sending IP's reputation",
                                            reply.text
                                        ));
                                    }
                                    if connection_streak >= settings.max_connection_failures && stopped.is_none() {
                                        stopped = Some(format!(
                                            "{connection_streak} connection failures in a row, last: `{}`",
                                            reply.text
                                        ));
                                    }
                                    // Throttling slows the whole run down, and recovers gradually.
                                    let pause = slowdown.load(Ordering::Relaxed);
                                    if reason == Reason::Throttled {
                                        slowdown.store((pause * 2).clamp(500, 60_000), Ordering::Relaxed);
                                    } else if reason == Reason::Accepted && pause > 0 {
                                        slowdown.store(if pause < 50 { 0 } else { pause * 9 / 10 }, Ordering::Relaxed);
                                    }
                                    let counts_as_try = reason != Reason::Throttled || job.throttles >= MAX_THROTTLES;
                                    if reason == Reason::Throttled {
                                        job.throttles += 1;
                                    }
                                    if counts_as_try {
                                        job.tries += 1;
                                    }
                                    match reply.kind {
                                        ReplyKind::Accepted => tally.accepted += 1,
                                        ReplyKind::Permanent | ReplyKind::Unsendable => tally.failed += 1,
                                        // Never again in this run: it may have been delivered.
                                        ReplyKind::Uncertain => tally.uncertain += 1,
                                        ReplyKind::Transient if job.tries < settings.max_attempts && stopped.is_none() => {
                                            tally.retries += 1;
                                            seq += 1;
                                            let at = Instant::now() + backoff(settings.retry_delay, job.tries.max(job.throttles).max(1));
                                            retries.push(Reverse((at, seq)));
                                            waiting.insert(seq, job);
                                        }
                                        ReplyKind::Transient => tally.deferred += 1,
                                    }
                                    progress.update(&tally);
                                }
                            }
                        }
                    }
                }
                // In the operating system's hands before any of these messages may go.
                journal.write()?;
                for (go, ok) in acks {
                    let _ = go.send(ok);
                }
                if journal.fold_at(in_flight).is_some_and(|t| t <= std::time::Instant::now()) {
                    journal.fold_or_wait(store)?;
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
            _ = tokio::time::sleep_until(wake.unwrap_or(now)), if wake.is_some() && stopped.is_none() => {}
            _ = tokio::time::sleep_until(fold_at.unwrap_or(now)), if fold_at.is_some() => {
                journal.fold_or_wait(store)?;
            }
        }
    }
    // Members still waiting for a retry when the run stopped stay `deferred` in the store.
    tally.deferred += waiting.len() as u64;
    job_tx.take();
    for h in handles {
        let _ = h.await;
    }
    journal.fold(store)?;
    progress.finish();
    Ok(RunSummary {
        tally,
        elapsed: progress.elapsed(),
        stopped,
        interrupted,
    })
}

/// A full quota window: wait for it (set `until`) if not longer than `max_wait`, else stop
/// and say when to resume.
fn check_quota(
    quota: &mut Quota,
    max_wait: Duration,
    now: Instant,
    until: &mut Option<Instant>,
    stopped: &mut Option<String>,
) {
    if !quota.is_limited() {
        return;
    }
    let free = quota.next_allowed(crate::clock::now());
    quota_wait(free, max_wait, now, until, stopped);
}

/// What a quota's answer means for the run: go on (`None`), wait until the window reopens
/// (set `until`), or stop (set `stopped`) when that is further than `max_wait` or the quota
/// cannot be read.
fn quota_wait(
    free: Result<Option<chrono::DateTime<chrono::Utc>>>,
    max_wait: Duration,
    now: Instant,
    until: &mut Option<Instant>,
    stopped: &mut Option<String>,
) {
    let wall = crate::clock::now();
    match free {
        Ok(None) => {}
        Ok(Some(free)) => {
            let wait = (free - wall).to_std().unwrap_or_default();
            if wait <= max_wait {
                *until = Some(now + wait);
            } else {
                *stopped = Some(format!(
                    "the sending quota is used up (`max_per_hour`/`max_per_day`): resume after {} UTC",
                    free.format("%Y-%m-%d %H:%M")
                ));
            }
        }
        Err(e) => *stopped = Some(format!("cannot count the sending quota: {e}")),
    }
}

/// Ctrl-C and SIGTERM, as one stream.
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Signals {
        Signals {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok(),
        }
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        {
            let term = async {
                match &mut self.term {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
