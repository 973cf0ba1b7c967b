//! The send pipeline: preflight every member, then deliver through a fixed set of workers.
//!
//! 1. **Preflight** ([`preflight`]): the list is read and every member rendered and built into a
//!    message before anything leaves; any problem (bad row, undefined variable, MJML error)
//!    stops the campaign with every problem named, and nothing is sent.
//! 2. **Plan**: the campaign is recorded in the store and every member added as `pending`;
//!    members already accepted (or failed, unless `--retry-failed`) are skipped.
//! 3. **Deliver** ([`deliver`]): a thin async shell feeds members through a bounded channel
//!    to `connections` workers (`worker.rs`). Each worker waits for the shared pacer, renders,
//!    sends on its own connection and reports the reply; the shell journals it at once. What
//!    happens next (a retry with backoff, a slowdown, a stop on a systemic failure, a quota
//!    wait, the end of the run) is decided by the [`coordinator::Coordinator`], a synchronous
//!    state machine that takes events with an explicit `now` and is unit-tested without I/O.

pub mod coordinator;
pub mod pacer;
pub mod progress;
pub mod quota;
mod signals;
mod worker;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;

use crate::compose::message::{self, Outgoing, PerMember, Sender};
use crate::compose::render::{Bulletin, Rendered};
use crate::compose::tokens::Tokens;
use crate::config::Config;
use crate::deliver::coordinator::{Coordinator, Job, OnSignal, Rules};
use crate::deliver::pacer::SharedPacer;
use crate::deliver::progress::{Progress, Tally};
use crate::deliver::quota::Quota;
use crate::deliver::signals::{Interrupts, Signals};
use crate::deliver::worker::Event;
use crate::error::{Error, Result, show};
use crate::list::{Member, MemberList};
use crate::outcome::{Fatal, Reply};
use crate::store::journal::Journal;
use crate::store::{Skip, Store};
use crate::transport::TransportSpec;

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
                add(e.in_list(&list.path).to_string(), String::new());
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
                _ = interrupts.recv() => self.on_signal(),
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

    fn on_signal(&mut self) {
        match self.coordinator.on_signal() {
            OnSignal::Exit => {
                eprintln!(
                    "\nstopping at once: members being sent now will be `uncertain`; resume with: mailshot send --campaign {}",
                    self.campaign
                );
                std::process::exit(crate::error::EXIT_INTERRUPTED);
            }
            OnSignal::Finish { in_flight } => eprintln!(
                "\ninterrupted: finishing the {in_flight} messages in flight (Ctrl-C again to stop at once)"
            ),
        }
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
    use crate::outcome::ReplyKind;
    use crate::store::journal::Journal;
    use crate::store::{CampaignInfo, CampaignLock, Status};
    use crate::transport::stub::Stub;

    /// The repository's sample config and bulletin, for the file transport's development secret.
    fn campaign() -> Arc<Campaign> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let config = Config::parse(&path, &text).unwrap();
        Arc::new(Campaign::from_config(&config, "t", None).unwrap().0)
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
