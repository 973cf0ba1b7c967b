//! One `send`, as the library runs it: the phases around the delivery engine.
//!
//! [`Send::run`]: **open** (the campaign's lock, the store, the journal a dead run left
//! folded in, its `sending` members marked `uncertain`, the template and list compared with
//! the campaign's, and its sources: [`changed_sources`]) -> **skip** (who this run leaves out) -> **check** (preflight: every member
//! rendered and the eligible counted, in one pass over the list; the inbox rules) ->
//! **confirm** (asked of the caller) -> **begin** (the campaign and every member recorded,
//! `pending`, in one pass; the sources with a new campaign or accepted changes) -> **deliver** ([`crate::deliver::deliver`], one pass) ->
//! **finish** (journal closed, unsubscribes folded in, the counts). Three passes over the
//! list in all, and a member is rendered twice (preflight, then its message); nothing of a
//! member is held between passes, so memory stays flat in the list size.
//!
//! [`Send::dry_run`] is skip and check on the store as it is; [`Send::proof`] is `--test-to`.
//! The library prints nothing and exits nothing: what a caller shows goes through its
//! [`Observer`], and each phase returns a value.

use std::sync::Arc;
use std::time::Duration;

use crate::compose::campaign::{Campaign, Preflight, preflight};
use crate::compose::lint::{self, Finding, Severity};
use crate::compose::render::Mode;
use crate::compose::sources::Sources;
use crate::config::{Config, Transport};
use crate::deliver::pacer::SharedPacer;
use crate::deliver::quota::Quota;
use crate::deliver::{Delivery, RunSummary};
use crate::error::{EXIT_FAILURES, EXIT_INTERRUPTED, EXIT_OK, EXIT_RUNTIME, Error, Result, show};
use crate::list::{Member, MemberList};
use crate::outcome::Reply;
use crate::store::journal::Journal;
use crate::store::{CampaignInfo, CampaignLock, Counts, LogRow, Skip, Store, now};
use crate::transport::{Go, TransportSpec};

/// How many problems, or unfinished members, a result names.
pub const MAX_NAMED: usize = 20;

/// Which members a run sends to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Selection {
    /// Also re-attempt failed members and those whose attempts ran out.
    pub retry_failed: bool,
    /// Also send to members whose last attempt was interrupted (`uncertain`).
    pub resend_uncertain: bool,
    /// Send to at most this many members in this run.
    pub limit: Option<u64>,
}

impl Selection {
    /// How many of `eligible` members this run sends to.
    pub fn to_send(&self, eligible: u64) -> u64 {
        self.limit.map_or(eligible, |l| eligible.min(l))
    }
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

/// What a send tells whoever started it, as it goes.
pub trait Observer {
    fn notice(&mut self, notice: Notice);
    /// Asked once everything is checked and before anything is recorded; an error cancels.
    fn confirm(&mut self, subject: &str, to_send: u64, via: &str) -> Result<()>;
}

/// Something to tell as a send goes.
#[derive(Debug)]
pub enum Notice {
    /// A warning of the inbox rules (errors stop the send instead).
    Finding(Finding),
    /// Dry run: another mailshot (this process ID) is sending the campaign now.
    BeingSent { pid: String },
    /// Members a run that died was sending: now `uncertain`.
    Recovered(u64),
    /// Recorded; the messages start to go.
    Sending {
        subject: String,
        to_send: u64,
        via: String,
    },
    /// `--test-to`: a copy went to `to` (rendered for `member`), or was refused.
    Proof {
        to: String,
        member: String,
        reply: Reply,
    },
}

/// What a dry run would do.
#[derive(Debug)]
pub struct DryRun {
    pub subject: String,
    pub via: String,
    pub to_send: u64,
    /// Members on the list that render.
    pub members: u64,
    /// Members left out: already sent, failed or suppressed.
    pub skipped: u64,
    pub mode: Mode,
}

/// What [`Send::run`] did.
#[derive(Debug)]
pub enum Outcome {
    /// Every member is done for this selection; nothing was sent.
    Nothing {
        counts: Counts,
        /// Members on the list that render (the campaign may record fewer).
        members: u64,
    },
    Sent(Sent),
}

/// A run that sent.
#[derive(Debug)]
pub struct Sent {
    pub run: RunSummary,
    /// The campaign's counts after the run.
    pub counts: Counts,
    /// Failed, deferred and uncertain members, the first [`MAX_NAMED`].
    pub unfinished: Vec<LogRow>,
}

/// Failed, deferred and uncertain members of a campaign.
pub fn unfinished(counts: &Counts) -> u64 {
    counts.failed + counts.deferred + counts.uncertain
}

impl Outcome {
    /// The exit status: interrupted, stopped early (a runtime error), members not reached, or
    /// ok.
    pub fn exit_code(&self) -> i32 {
        match self {
            Outcome::Sent(s) if s.run.interrupted => EXIT_INTERRUPTED,
            Outcome::Sent(s) if s.run.stopped.is_some() => EXIT_RUNTIME,
            Outcome::Sent(Sent { counts, .. }) | Outcome::Nothing { counts, .. }
                if unfinished(counts) > 0 =>
            {
                EXIT_FAILURES
            }
            _ => EXIT_OK,
        }
    }
}

/// The error that stops a send on preflight's or the rules' errors: each named (up to
/// [`MAX_NAMED`]), then how many. `None` when there are none.
pub fn refusal(found: &[Finding]) -> Option<Error> {
    let errors: Vec<_> = found
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    if errors.is_empty() {
        return None;
    }
    let mut msg: Vec<String> = errors
        .iter()
        .take(MAX_NAMED)
        .map(|f| f.message.clone())
        .collect();
    if errors.len() > MAX_NAMED {
        msg.push(format!(
            "... and {} more problems",
            errors.len() - MAX_NAMED
        ));
    }
    msg.push(format!(
        "nothing was sent: {} problem{} found",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    ));
    Some(Error::input(msg.join("\n")))
}

/// Why a later run of `campaign` must not go on: its sources differ from those the store
/// recorded for it (see [`crate::compose::sources`]), each change named. `None` when they
/// are the same, or the campaign has none recorded (new, or begun before the store kept them).
pub fn changed_sources(store: &Store, campaign: &Campaign) -> Result<Option<String>> {
    let Some((digest, was)) = store.campaign_sources(&campaign.id)? else {
        return Ok(None);
    };
    if digest == campaign.sources.digest() {
        return Ok(None);
    }
    let changes = campaign.sources.changes(&Sources(was));
    let what = match changes.is_empty() {
        true => "its sources changed".to_string(),
        false => changes.join(", "),
    };
    Ok(Some(format!(
        "campaign `{}` was first sent from other sources: {what}; members who already got it would see a different bulletin from those who get it now. Send it as it was (undo the changes), start a new campaign, or add --accept-changes",
        campaign.id
    )))
}

/// Delivery settings for a run, from `config`.
pub fn delivery(config: &Config) -> Delivery {
    Delivery {
        connections: match config.transport {
            Transport::File => 1,
            Transport::Smtp => config.smtp.connections,
        },
        max_attempts: config.rate.max_attempts,
        retry_delay: Duration::from_secs_f64(config.rate.retry_delay_secs),
        max_connection_failures: config.rate.max_connection_failures.max(1),
        max_quota_wait: Duration::from_secs(config.rate.max_quota_wait_secs),
    }
}

/// The async runtime a send under `config` runs on.
pub fn runtime(config: &Config) -> Result<tokio::runtime::Runtime> {
    // Unsigned and unpaced, a message costs the sender ~55-90 us of CPU, most of it building
    // the MIME: one thread does that for every connection, and a second cost more in wake-ups
    // and stolen tasks than it gave (docs/performance.md: 17-40% less CPU per message into
    // smtp-sink). RSA signing (~230 us a message) is worth a second core, and the pacer's
    // precise short sleeps (`block_in_place`) need a multi-thread runtime.
    let one_thread = config.dkim.is_none() && SharedPacer::is_unlimited(&config.rate);
    let mut runtime = match one_thread {
        true => tokio::runtime::Builder::new_current_thread(),
        false => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(2);
            b
        }
    };
    runtime
        .enable_all()
        .build()
        .map_err(|e| Error::runtime(format!("failed to start the async runtime: {e}")))
}

/// A send of a prepared campaign to a member list.
pub struct Send<'a> {
    pub config: &'a Config,
    pub campaign: Arc<Campaign>,
    pub list: &'a MemberList,
    pub spec: TransportSpec,
    pub selection: Selection,
    /// `--accept-changes`: go on when the sources differ from those the campaign was first
    /// sent from (and record the new ones).
    pub accept_changes: bool,
}

/// What the open phase holds for the rest of the run.
struct Opened {
    store: Store,
    journal: Journal,
    /// One sender per campaign at a time; held until the run ends.
    _lock: CampaignLock,
}

impl Send<'_> {
    fn id(&self) -> &str {
        &self.campaign.id
    }

    /// Where the messages go, for people.
    pub fn via(&self) -> String {
        self.config.destination(self.id())
    }

    /// Preflight (counting the members `skip` leaves in) and the inbox rules; stops on an
    /// error, tells the warnings.
    /// `changed`: [`changed_sources`]'s refusal, an error among the findings.
    fn check(
        &self,
        skip: &Skip,
        changed: Option<String>,
        obs: &mut dyn Observer,
    ) -> Result<Preflight> {
        let pre = preflight(&self.campaign, self.list, |email| {
            skip.contains(email).map(|s| !s)
        })?;
        let mut found: Vec<Finding> = changed
            .into_iter()
            .map(|message| Finding {
                severity: Severity::Error,
                message,
            })
            .collect();
        found.extend(lint::findings(self.config, &pre));
        // The web edition is rendered at the first send: one that cannot be is said now.
        found.extend(crate::compose::edition::finding(
            &self.campaign,
            &self.list.columns,
            &found,
        ));
        if let Some(e) = refusal(&found) {
            return Err(e);
        }
        for f in found {
            obs.notice(Notice::Finding(f));
        }
        Ok(pre)
    }

    /// What a run would do, on the store as it is: nothing is sent or recorded.
    pub fn dry_run(&self, obs: &mut dyn Observer) -> Result<DryRun> {
        let config = self.config;
        let (skip, changed) = match Store::open_existing(&config.store)? {
            Some(mut store) => {
                if let Some(pid) =
                    crate::store::journal::settle(&mut store, &config.store, self.id())?
                {
                    obs.notice(Notice::BeingSent { pid });
                }
                let skip = skip_set(&store, self.id(), self.selection, config.rate.max_attempts)?;
                (skip, self.refuse_changes(&store)?)
            }
            None => (Skip::none(), None),
        };
        let pre = self.check(&skip, changed, obs)?;
        Ok(DryRun {
            subject: pre.subject.clone().unwrap_or_default(),
            via: self.via(),
            to_send: self.selection.to_send(pre.eligible),
            members: pre.members,
            skipped: pre.members.saturating_sub(pre.eligible),
            mode: self.campaign.prepared().mode(),
        })
    }

    /// Sends to every member this run selects; see the module doc for the phases.
    pub fn run(&self, obs: &mut dyn Observer) -> Result<Outcome> {
        let mut opened = self.open(obs)?;
        let skip = skip_set(
            &opened.store,
            self.id(),
            self.selection,
            self.config.rate.max_attempts,
        )?;
        let pre = self.check(&skip, None, obs)?;
        let to_send = self.selection.to_send(pre.eligible);
        if to_send == 0 {
            return self.nothing(&mut opened.store, pre.members);
        }
        let subject = pre.subject.unwrap_or_default();
        let via = self.via();
        obs.confirm(&subject, to_send, &via)?;
        self.begin(&mut opened.store, &subject)?;
        obs.notice(Notice::Sending {
            subject,
            to_send,
            via,
        });
        let delivered = self.deliver(&mut opened, &skip, to_send)?;
        self.finish(opened, delivered)
    }

    /// Lock, store, journal (what a dead run left folded in), recovery; refuses a campaign
    /// started with another template or list, or first sent from other sources (unless
    /// `--accept-changes`).
    fn open(&self, obs: &mut dyn Observer) -> Result<Opened> {
        let config = self.config;
        let mut store = Store::open(&config.store)?;
        let lock = CampaignLock::acquire(&config.store, self.id())?;
        // What a run that died left in its journal goes in first, then its `sending` become
        // `uncertain`.
        let journal = Journal::open(&mut store, &config.store, self.id(), &lock)?;
        // Only in the build bench/send.py makes to price the journal (`--features
        // bench-hooks`), never in the shipped binary: a run without a journal records no
        // delivery.
        #[cfg(feature = "bench-hooks")]
        let journal = match std::env::var("MAILSHOT_BENCH_JOURNAL").as_deref() {
            Ok("off") => Journal::off(),
            _ => journal,
        };
        if let Some(existing) = store.campaign(self.id())? {
            let n = store.recover(self.id())?;
            if n > 0 {
                obs.notice(Notice::Recovered(n));
            }
            self.same_inputs(&existing)?;
            if let Some(changed) = self.refuse_changes(&store)? {
                return Err(Error::input(changed));
            }
        }
        Ok(Opened {
            store,
            journal,
            _lock: lock,
        })
    }

    /// A campaign keeps the template and list it was started with.
    fn same_inputs(&self, existing: &CampaignInfo) -> Result<()> {
        for (what, was, now_) in [
            ("template", &existing.template, show(&self.config.template)),
            ("list", &existing.list, show(&self.config.list)),
        ] {
            if *was != now_ {
                return Err(Error::input(format!(
                    "campaign `{}` was started with {what} `{was}`, not `{now_}`: use the same {what}, or a new campaign ID",
                    self.id()
                )));
            }
        }
        Ok(())
    }

    /// [`changed_sources`], unless `--accept-changes`.
    fn refuse_changes(&self, store: &Store) -> Result<Option<String>> {
        match self.accept_changes {
            true => Ok(None),
            false => changed_sources(store, &self.campaign),
        }
    }

    /// The sources [`Send::begin`] records: all of them at a campaign's first send; new ones
    /// (accepted changes) as its next revision, the earlier kept, for they are what earlier
    /// members got; none for a campaign begun before the store kept them (they would not be
    /// what it was first sent from) or when they are the same.
    fn sources_to_record(&self, store: &Store) -> Result<Option<crate::store::Frozen>> {
        let sources = &self.campaign.sources;
        if store.campaign(self.id())?.is_none() {
            return Ok(Some(sources.frozen()));
        }
        Ok(match store.campaign_sources(self.id())? {
            Some((digest, _)) if digest != sources.digest() => Some(sources.frozen()),
            _ => None,
        })
    }

    /// What the campaign is sent as, its web edition included (see
    /// [`crate::compose::edition`]); a web edition that does not render is an input error.
    fn master(&self) -> Result<crate::store::Master> {
        crate::compose::edition::master(&self.campaign, &self.list.columns).map_err(Error::input)
    }

    /// Nothing to send: the campaign's counts, suppressions applied.
    fn nothing(&self, store: &mut Store, members: u64) -> Result<Outcome> {
        if store.campaign(self.id())?.is_some() {
            store.apply_suppressions(self.id())?;
        }
        Ok(Outcome::Nothing {
            counts: store.counts(self.id())?,
            members,
        })
    }

    /// Records the campaign and every member of the list, `pending` (one pass, streamed: a
    /// million members need no list in memory); suppressed members marked so.
    fn begin(&self, store: &mut Store, subject: &str) -> Result<()> {
        let info = CampaignInfo {
            id: self.id().to_string(),
            template: show(&self.config.template),
            list: show(&self.config.list),
            subject: subject.to_string(),
            transport: self.via(),
            started_at: now(),
            finished_at: None,
        };
        let sources = self.sources_to_record(store)?;
        // Before its members are recorded: a reader who opens the message finds its images.
        store.put_images(Some(self.id()), &self.campaign.images.images)?;
        // What it is sent as goes with the sources it is rendered from.
        let master = match sources {
            Some(_) => Some(self.master()?),
            None => None,
        };
        store.begin_campaign_frozen(
            &info,
            sources.as_ref(),
            master.as_ref(),
            self.list.rows()?.flatten().map(|m| m.email),
        )?;
        store.set_campaign_rate(self.id(), self.config.rate.messages_per_second)?;
        store.apply_suppressions(self.id())?;
        Ok(())
    }

    /// The delivery engine over the members `skip` leaves in (one pass over the list).
    /// Also returns the first failed skip lookup, if any: its member was held back.
    fn deliver(
        &self,
        opened: &mut Opened,
        skip: &Skip,
        to_send: u64,
    ) -> Result<(RunSummary, Option<Error>)> {
        let config = self.config;
        // A member whose lookup fails is held back (still `pending`) and the error reported.
        let lookup_failed = std::cell::RefCell::new(None);
        let members = self
            .list
            .rows()?
            .flatten()
            .filter(|m| match skip.contains(&m.email) {
                Ok(skipped) => !skipped,
                Err(e) => {
                    lookup_failed.borrow_mut().get_or_insert(e);
                    false
                }
            })
            .take(self.selection.limit.map_or(usize::MAX, |n| n as usize));
        // The windows are shared with other runs on this store, through it.
        let mut quota = Quota::shared(
            config.rate.max_per_hour,
            config.rate.max_per_day,
            &config.store,
            crate::clock::now(),
        )?;
        let pacer = Arc::new(SharedPacer::new(&config.rate));
        // Asked again as each message is about to go: a lookup that fails then lets it go, as
        // it passed the same check moments before.
        let still_wanted = |email: &str| !matches!(skip.contains(email), Ok(true));
        let summary = runtime(self.config)?.block_on(crate::deliver::deliver(
            self.campaign.clone(),
            members,
            still_wanted,
            to_send,
            &mut opened.store,
            &mut opened.journal,
            &self.spec,
            pacer,
            &mut quota,
            &delivery(config),
        ))?;
        Ok((summary, lookup_failed.into_inner()))
    }

    /// Journal closed, unsubscribes folded in, suppressions applied; the campaign marked
    /// finished when nothing is left pending. `lookup_failed` is returned once that is done.
    fn finish(
        &self,
        opened: Opened,
        (run, lookup_failed): (RunSummary, Option<Error>),
    ) -> Result<Outcome> {
        let Opened {
            mut store,
            journal,
            _lock,
        } = opened;
        journal.close(&mut store)?;
        // Members suppressed while the run was sending (an unsubscribe) were left out: say
        // so, with the unsubscribes the service could not yet fold in.
        crate::store::unsubscribes::fold(&mut store, &self.config.store, crate::store::FOLD_WAIT)?;
        store.apply_suppressions(self.id())?;
        if let Some(e) = lookup_failed {
            return Err(e);
        }
        let counts = store.counts(self.id())?;
        if run.stopped.is_none() && counts.pending == 0 {
            store.finish_campaign(self.id())?;
        }
        // Named from the store, a page at a time: a million-member campaign is never loaded
        // whole.
        let unfinished = store.unfinished(self.id(), MAX_NAMED)?;
        Ok(Outcome::Sent(Sent {
            run,
            counts,
            unfinished,
        }))
    }

    /// `--test-to`: one member's rendering (the first member's, or `as_member`'s) to each
    /// address, not recorded; each copy told as a [`Notice::Proof`]. Its unsubscribe links
    /// carry a test token (see [`crate::compose::tokens::Tokens::test_token`]), never the
    /// member's. Rendered as the campaign was prepared: what that member would get.
    pub fn proof(
        &self,
        to: &[String],
        as_member: Option<&str>,
        obs: &mut dyn Observer,
    ) -> Result<()> {
        // Every address checked before the first copy goes.
        let to = to
            .iter()
            .map(|a| {
                crate::list::check_address(a.trim())
                    .map_err(|e| Error::input(format!("--test-to: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        if let Some(store) = Store::open_existing(&self.config.store)?
            && let Some(changed) = self.refuse_changes(&store)?
        {
            return Err(Error::input(changed));
        }
        // A copy with an image nobody can fetch would prove nothing.
        if let Some(e) = refusal(&self.campaign.images.findings) {
            return Err(e);
        }
        let member = self.proof_member(as_member)?;
        // Stored now, so the copy's images resolve once `mailshot serve` runs.
        if !self.campaign.images.images.is_empty() {
            Store::open(&self.config.store)?.put_images(None, &self.campaign.images.images)?;
        }
        let spec = match &self.spec {
            TransportSpec::File { dir } => TransportSpec::File {
                dir: dir.join("test"),
            },
            other => other.clone(),
        };
        let list_name = show(&self.list.path);
        runtime(self.config)?.block_on(async {
            let mut conn = spec.connect();
            for to in to {
                let msg = self
                    .campaign
                    .build(&member, &self.campaign.new_message_id(), Some(&to))
                    .map_err(|e| {
                        Error::input(format!(
                            "{e} (member on `{list_name}` line {} (`{}`))",
                            member.line, member.email
                        ))
                    })?;
                let reply = match conn.send(&msg, Go::now()).await {
                    Some(Ok(reply)) => reply,
                    Some(Err(fatal)) => return Err(Error::runtime(fatal.0)),
                    None => return Err(Error::runtime("the test message was not sent")),
                };
                obs.notice(Notice::Proof {
                    to,
                    member: member.email.clone(),
                    reply,
                });
            }
            conn.close().await;
            Ok(())
        })
    }

    /// The member a proof is rendered for: `as_member`, or the first on the list.
    fn proof_member(&self, as_member: Option<&str>) -> Result<Member> {
        let list_name = show(&self.list.path);
        for row in self.list.rows()? {
            let m = row.map_err(|e| e.in_list(&self.list.path))?;
            if as_member.is_none_or(|a| a.eq_ignore_ascii_case(&m.email)) {
                return Ok(m);
            }
        }
        Err(match as_member {
            Some(a) => Error::input(format!("--as: `{a}` is not in `{list_name}`")),
            None => Error::input(format!("member list `{list_name}` has no members")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::campaign::scratch;

    /// Records what a send tells; says no when `refuse`.
    #[derive(Default)]
    struct Recorder {
        refuse: bool,
        asked: Vec<(String, u64)>,
        notices: Vec<String>,
    }

    impl Observer for Recorder {
        fn notice(&mut self, notice: Notice) {
            self.notices.push(format!("{notice:?}"));
        }
        fn confirm(&mut self, subject: &str, to_send: u64, _via: &str) -> Result<()> {
            self.asked.push((subject.to_string(), to_send));
            if self.refuse {
                return Err(Error::runtime("cancelled"));
            }
            Ok(())
        }
    }

    const BODY: &str =
        "<mj-section><mj-column><mj-text>Dear {{ first_name }}</mj-text></mj-column></mj-section>";
    const THREE: &str =
        "email,first_name\nann@example.org,Ann\nbob@example.org,Bob\ncat@example.org,Cat\n";

    /// Runs `f` on a send of campaign `c` to `csv` with the file transport.
    fn with_send<T>(csv: &str, selection: Selection, f: impl FnOnce(&Send, &Config) -> T) -> T {
        let (_dir, config) = scratch(BODY, csv);
        let (campaign, list, _) = Campaign::open(&config, "c", None).unwrap();
        let send = Send {
            spec: TransportSpec::from_config(&config, "c").unwrap(),
            config: &config,
            campaign: Arc::new(campaign),
            list: &list,
            selection,
            accept_changes: false,
        };
        f(&send, &config)
    }

    #[test]
    fn a_limit_caps_what_is_sent_and_nothing_else() {
        let all = Selection::default();
        assert_eq!(all.to_send(12), 12);
        let five = Selection {
            limit: Some(5),
            ..all
        };
        assert_eq!(five.to_send(12), 5);
        assert_eq!(five.to_send(3), 3);
    }

    #[test]
    fn errors_refuse_the_send_naming_the_first_twenty_and_warnings_do_not() {
        let f = |severity, i| Finding {
            severity,
            message: format!("problem {i}"),
        };
        assert!(refusal(&[f(Severity::Warning, 0)]).is_none());
        let one = refusal(&[f(Severity::Error, 1), f(Severity::Warning, 2)]).unwrap();
        assert_eq!(
            one.to_string(),
            "problem 1\nnothing was sent: 1 problem found"
        );
        let many: Vec<_> = (0..23).map(|i| f(Severity::Error, i)).collect();
        let text = refusal(&many).unwrap().to_string();
        assert!(
            text.contains("problem 19\n... and 3 more problems\n"),
            "{text}"
        );
        assert!(!text.contains("problem 20"));
        assert!(text.ends_with("nothing was sent: 23 problems found"));
    }

    #[test]
    fn the_exit_status_says_interrupted_stopped_unfinished_or_done() {
        let sent = |interrupted, stopped: Option<&str>, failed| {
            Outcome::Sent(Sent {
                run: RunSummary {
                    interrupted,
                    stopped: stopped.map(str::to_string),
                    ..Default::default()
                },
                counts: Counts {
                    failed,
                    ..Default::default()
                },
                unfinished: Vec::new(),
            })
        };
        assert_eq!(sent(false, None, 0).exit_code(), EXIT_OK);
        assert_eq!(sent(false, None, 1).exit_code(), EXIT_FAILURES);
        assert_eq!(sent(false, Some("auth"), 0).exit_code(), EXIT_RUNTIME);
        assert_eq!(
            sent(true, Some("interrupted"), 0).exit_code(),
            EXIT_INTERRUPTED
        );
        let nothing = |uncertain| Outcome::Nothing {
            counts: Counts {
                uncertain,
                ..Default::default()
            },
            members: 3,
        };
        assert_eq!(nothing(0).exit_code(), EXIT_OK);
        assert_eq!(nothing(2).exit_code(), EXIT_FAILURES);
    }

    #[test]
    fn declining_records_nothing_and_a_second_run_has_nothing_to_send() {
        with_send(THREE, Selection::default(), |send, config| {
            let mut no = Recorder {
                refuse: true,
                ..Default::default()
            };
            assert!(send.run(&mut no).is_err());
            assert_eq!(no.asked, [("Hi Ann".to_string(), 3)]);
            let store = Store::open(&config.store).unwrap();
            assert!(store.campaign("c").unwrap().is_none(), "nothing recorded");
            drop(store);

            let mut yes = Recorder::default();
            let Outcome::Sent(sent) = send.run(&mut yes).unwrap() else {
                panic!("sent nothing")
            };
            assert_eq!((sent.run.tally.accepted, sent.counts.accepted), (3, 3));
            assert!(yes.notices.iter().any(|n| n.starts_with("Sending")));

            let mut again = Recorder::default();
            let Outcome::Nothing { counts, members } = send.run(&mut again).unwrap() else {
                panic!("sent again")
            };
            assert_eq!((counts.accepted, members), (3, 3));
            assert!(again.asked.is_empty(), "nothing to confirm");
        })
    }

    #[test]
    fn a_dry_run_counts_what_the_store_says_is_done_and_records_nothing() {
        let limit = Selection {
            limit: Some(2),
            ..Default::default()
        };
        with_send(THREE, limit, |send, config| {
            let dry = send.dry_run(&mut Recorder::default()).unwrap();
            assert_eq!((dry.to_send, dry.members, dry.skipped), (2, 3, 0));
            assert_eq!(dry.mode, Mode::Precompiled);
            assert!(!config.store.exists(), "no store made");
            send.run(&mut Recorder::default()).unwrap();
            let dry = send.dry_run(&mut Recorder::default()).unwrap();
            assert_eq!((dry.to_send, dry.members, dry.skipped), (1, 3, 2));
        })
    }

    #[test]
    fn a_campaign_keeps_its_template() {
        with_send(THREE, Selection::default(), |send, config| {
            send.run(&mut Recorder::default()).unwrap();
            let mut moved = config.clone();
            moved.template = config.template.with_file_name("other.mjml");
            let other = Send {
                config: &moved,
                campaign: send.campaign.clone(),
                list: send.list,
                spec: send.spec.clone(),
                selection: send.selection,
                accept_changes: false,
            };
            let e = other.run(&mut Recorder::default()).unwrap_err().to_string();
            assert!(
                e.starts_with("campaign `c` was started with template `"),
                "{e}"
            );
        })
    }

    #[test]
    fn a_campaign_is_frozen_at_its_first_send_unless_changes_are_accepted() {
        let (dir, config) = scratch(BODY, THREE);
        let send_with = |accept_changes, limit, f: &dyn Fn(&Send) -> Result<()>| {
            let (campaign, list, _) = Campaign::open(&config, "c", None).unwrap();
            f(&Send {
                spec: TransportSpec::from_config(&config, "c").unwrap(),
                config: &config,
                campaign: Arc::new(campaign),
                list: &list,
                selection: Selection {
                    limit,
                    ..Default::default()
                },
                accept_changes,
            })
        };
        let run = |s: &Send| s.run(&mut Recorder::default()).map(drop);
        send_with(false, Some(1), &run).unwrap();
        // The same sources go on.
        send_with(false, Some(1), &run).unwrap();
        let t = dir.path().join("t.mjml");
        let text = std::fs::read_to_string(&t).unwrap();
        std::fs::write(&t, text.replace("Dear", "Hello")).unwrap();
        let refused = "campaign `c` was first sent from other sources: `t.mjml` changed (line 1 first differs); members who already got it";
        let e = send_with(false, None, &run).unwrap_err();
        assert!(e.to_string().starts_with(refused), "{e}");
        assert_eq!(e.exit_code(), crate::error::EXIT_USAGE);
        let dry = |s: &Send| s.dry_run(&mut Recorder::default()).map(drop);
        let e = send_with(false, None, &dry).unwrap_err().to_string();
        assert!(e.starts_with(refused), "{e}");
        assert!(e.ends_with("nothing was sent: 1 problem found"), "{e}");
        let proof = |s: &Send| s.proof(&["me@example.org".into()], None, &mut Recorder::default());
        let e = send_with(false, None, &proof).unwrap_err().to_string();
        assert!(e.starts_with(refused), "{e}");
        let store = Store::open(&config.store).unwrap();
        assert_eq!(store.counts("c").unwrap().accepted, 2, "nothing more sent");
        drop(store);
        send_with(true, None, &run).unwrap();
        let store = Store::open(&config.store).unwrap();
        assert_eq!(store.counts("c").unwrap().accepted, 3);
        drop(store);
        // The accepted sources are the campaign's now.
        send_with(false, None, &dry).unwrap();
    }
}
