//! The delivery engine's decisions, as a synchronous state machine (sans-I/O, in the manner
//! of quinn-proto): which member goes next, when a transient reply is retried (backoff with
//! jitter), how much to slow down while the server throttles (421, 4.7.x), when to stop (three
//! circuit breakers: connection failures in a row, a refused login or another [`Fatal`],
//! repeated policy refusals; a quota window it cannot wait for; a signal), and what a run
//! tallies. It never reads the clock, sleeps or does I/O: every method that depends on time
//! takes `now`, and the shell ([`crate::deliver::deliver`]) feeds it events (a worker about to
//! send, a worker done, the quota's answer, a signal) and does what it says.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::deliver::progress::Tally;
use crate::error::Result;
use crate::list::Member;
use crate::outcome::{Fatal, Reason, Reply, ReplyKind};

/// Policy rejections (5.7.x) in a row that stop a campaign: the sender, not the members,
/// is being refused.
pub const POLICY_STOP: u32 = 3;

/// Throttled replies a member may get in one run before they count as tries.
pub const MAX_THROTTLES: u32 = 5;

/// The pause before each message while the server throttles: doubled by each throttled
/// reply, between these bounds, in milliseconds.
const SLOWDOWN_MS: (u64, u64) = (500, 60_000);

/// One member on its way.
pub struct Job {
    pub member: Member,
    pub message_id: String,
    /// Tries so far in this run (throttled replies do not count until there are many).
    tries: u32,
    /// Throttled replies (421, 4.7.x) so far in this run.
    throttles: u32,
}

impl Job {
    pub fn new(member: Member, message_id: String) -> Job {
        Job {
            member,
            message_id,
            tries: 0,
            throttles: 0,
        }
    }
}

/// The rules of one run.
#[derive(Debug, Clone)]
pub struct Rules {
    pub max_attempts: u32,
    /// Backoff base: retry `n` waits `retry_delay * 2^(n-1)`, +-20%.
    pub retry_delay: Duration,
    /// Connection failures in a row that stop the run.
    pub max_connection_failures: u32,
    /// Longest wait for a quota window to reopen before stopping.
    pub max_quota_wait: Duration,
}

/// What a signal (Ctrl-C, SIGTERM) means now.
#[derive(Debug, PartialEq, Eq)]
pub enum OnSignal {
    /// The first: no new message goes; the `in_flight` ones finish.
    Finish { in_flight: usize },
    /// The second: stop at once (members being sent are left `uncertain`).
    Exit,
}

/// The decisions of one run (see the module doc).
pub struct Coordinator<I> {
    rules: Rules,
    /// The members not yet taken, as jobs; `None` once exhausted.
    fresh: Option<I>,
    /// Retries by due time (ties by order of scheduling), and the jobs they name.
    retries: BinaryHeap<Reverse<(Instant, u64)>>,
    waiting: HashMap<u64, Job>,
    seq: u64,
    in_flight: usize,
    stopped: Option<String>,
    interrupted: bool,
    policy_streak: u32,
    connection_streak: u32,
    /// A full quota window: nothing starts before this.
    quota_until: Option<Instant>,
    /// Pause before each message, in milliseconds, while the server throttles.
    slowdown_ms: u64,
    /// Members turned down as they were about to go (unsubscribed meanwhile).
    withdrawn: HashSet<String>,
    tally: Tally,
    /// A number in [0, 1] for the backoff's jitter.
    jitter: Box<dyn FnMut() -> f64 + Send>,
}

/// Backoff before retry number `tries` (1-based): `base * 2^(tries-1)`, scaled by
/// `0.8 + 0.4 * jitter` (`jitter` in [0, 1]: +-20%).
pub fn backoff(base: Duration, tries: u32, jitter: f64) -> Duration {
    let exp = base.saturating_mul(1u32 << (tries.saturating_sub(1)).min(16));
    exp.mul_f64(0.8 + 0.4 * jitter.clamp(0.0, 1.0))
}

/// A random number in [0, 1], for [`backoff`]'s jitter.
pub fn random_jitter() -> f64 {
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    u16::from_le_bytes(b) as f64 / u16::MAX as f64
}

impl<I: Iterator<Item = Job>> Coordinator<I> {
    /// A run over the jobs `fresh` yields, with random jitter ([`Coordinator::with_jitter`]
    /// fixes it).
    pub fn new(rules: Rules, fresh: I) -> Coordinator<I> {
        Coordinator {
            rules,
            fresh: Some(fresh),
            retries: BinaryHeap::new(),
            waiting: HashMap::new(),
            seq: 0,
            in_flight: 0,
            stopped: None,
            interrupted: false,
            policy_streak: 0,
            connection_streak: 0,
            quota_until: None,
            slowdown_ms: 0,
            withdrawn: HashSet::new(),
            tally: Tally::default(),
            jitter: Box::new(random_jitter),
        }
    }

    pub fn with_jitter(mut self, jitter: impl FnMut() -> f64 + Send + 'static) -> Self {
        self.jitter = Box::new(jitter);
        self
    }

    /// Why the run stopped early, if it did.
    pub fn stop_reason(&self) -> Option<&str> {
        self.stopped.as_deref()
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// The pause workers take before each message while the server throttles us.
    pub fn slowdown(&self) -> Duration {
        Duration::from_millis(self.slowdown_ms)
    }

    fn stop(&mut self, why: String) {
        self.stopped.get_or_insert(why);
    }

    /// Ends a quota wait that is over; whether the shell should ask the quota whether
    /// anything may go now (not for a run that has stopped, is waiting, or has nothing left).
    pub fn wants_quota(&mut self, now: Instant) -> bool {
        if self.quota_until.is_some_and(|t| t <= now) {
            self.quota_until = None;
        }
        self.stopped.is_none()
            && self.quota_until.is_none()
            && (self.fresh.is_some() || !self.retries.is_empty())
    }

    /// The quota's answer (`Some(time)`: nothing may go before it), as of the wall-clock
    /// `wall` and the monotonic `now`: wait if not longer than `max_quota_wait`, else stop
    /// and say when to resume; a quota that cannot be read stops the run.
    pub fn on_quota(
        &mut self,
        free: Result<Option<DateTime<Utc>>>,
        wall: DateTime<Utc>,
        now: Instant,
    ) {
        match free {
            Ok(None) => {}
            Ok(Some(free)) => {
                let wait = (free - wall).to_std().unwrap_or_default();
                if wait <= self.rules.max_quota_wait {
                    self.quota_until = Some(now + wait);
                } else {
                    self.stopped = Some(format!(
                        "the sending quota is used up (`max_per_hour`/`max_per_day`): resume after {} UTC",
                        free.format("%Y-%m-%d %H:%M")
                    ));
                }
            }
            Err(e) => self.stopped = Some(format!("cannot count the sending quota: {e}")),
        }
    }

    fn retry_ready(&self, now: Instant) -> bool {
        self.retries.peek().is_some_and(|Reverse((t, _))| *t <= now)
    }

    /// Whether a job should be handed to a worker now.
    pub fn wants_job(&self, now: Instant) -> bool {
        self.stopped.is_none()
            && self.quota_until.is_none()
            && (self.retry_ready(now) || self.fresh.is_some())
    }

    /// The next job for a worker (a retry that is due first, else the next member), counted
    /// in flight; `None` when there is none now.
    pub fn next_job(&mut self, now: Instant) -> Option<Job> {
        if !self.wants_job(now) {
            return None;
        }
        let job = if self.retry_ready(now) {
            let Reverse((_, id)) = self.retries.pop().expect("peeked");
            self.waiting.remove(&id)
        } else {
            let job = self.fresh.as_mut().and_then(Iterator::next);
            if job.is_none() {
                self.fresh = None;
            }
            job
        };
        self.in_flight += job.is_some() as usize;
        job
    }

    /// When the shell must wake the coordinator if nothing else happens: the next retry that
    /// is not due yet, or the end of a quota wait (the later of the two).
    pub fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        if self.stopped.is_some() {
            return None;
        }
        let next_retry = self.retries.peek().map(|Reverse((t, _))| *t);
        match (next_retry.filter(|t| *t > now), self.quota_until) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether the run is over: nothing in flight, and nothing left to send, or stopped.
    pub fn is_finished(&self, now: Instant) -> bool {
        self.in_flight == 0
            && !self.wants_job(now)
            && (self.stopped.is_some() || (self.retries.is_empty() && self.quota_until.is_none()))
    }

    /// Whether a message may still start (the run goes on, no quota wait); the shell asks
    /// the quota for one message only then.
    pub fn may_start(&self) -> bool {
        self.stopped.is_none() && self.quota_until.is_none()
    }

    /// A worker is about to hand `email`'s message over; `wanted`: the member is still to be
    /// sent to (not unsubscribed meanwhile). Whether it may go (the shell then writes its
    /// `start` to the journal first).
    pub fn on_starting(&mut self, email: &str, wanted: bool) -> bool {
        if !self.may_start() {
            return false;
        }
        if !wanted {
            self.withdrawn.insert(email.to_string());
        }
        wanted
    }

    /// A worker is done with `job`: `None` if it was not attempted, else the reply or the
    /// [`Fatal`] failure. Returns whether the tally changed (for the progress display).
    pub fn on_done(
        &mut self,
        job: Job,
        result: Option<std::result::Result<Reply, Fatal>>,
        now: Instant,
    ) -> bool {
        self.in_flight -= 1;
        match result {
            // Unsubscribed since it was taken from the list: left out.
            None if self.withdrawn.remove(&job.member.email) => false,
            // Not sent because a quota window is full: it waits for the window.
            None if self.stopped.is_none() => {
                self.schedule(job, self.quota_until.unwrap_or(now));
                false
            }
            // The run is stopping: it stays pending.
            None => false,
            // The message was never offered.
            Some(Err(Fatal(why))) => {
                self.stop(why);
                false
            }
            Some(Ok(reply)) => {
                self.on_reply(job, &reply, now);
                true
            }
        }
    }

    fn schedule(&mut self, job: Job, at: Instant) {
        self.seq += 1;
        self.retries.push(Reverse((at, self.seq)));
        self.waiting.insert(self.seq, job);
    }

    fn on_reply(&mut self, mut job: Job, reply: &Reply, now: Instant) {
        let reason = reply.reason();
        self.breakers(reason, reply);
        // Throttling slows the whole run down, and recovers gradually.
        let pause = self.slowdown_ms;
        if reason == Reason::Throttled {
            self.slowdown_ms = (pause * 2).clamp(SLOWDOWN_MS.0, SLOWDOWN_MS.1);
            job.throttles += 1;
            if job.throttles > MAX_THROTTLES {
                job.tries += 1;
            }
        } else {
            job.tries += 1;
            if reason == Reason::Accepted && pause > 0 {
                self.slowdown_ms = if pause < 50 { 0 } else { pause * 9 / 10 };
            }
        }
        match reply.kind {
            ReplyKind::Accepted => self.tally.accepted += 1,
            ReplyKind::Permanent | ReplyKind::Unsendable => self.tally.failed += 1,
            // Never again in this run: it may have been delivered.
            ReplyKind::Uncertain => self.tally.uncertain += 1,
            ReplyKind::Transient
                if job.tries < self.rules.max_attempts && self.stopped.is_none() =>
            {
                self.tally.retries += 1;
                let tries = job.tries.max(job.throttles).max(1);
                let at = now + backoff(self.rules.retry_delay, tries, (self.jitter)());
                self.schedule(job, at);
            }
            ReplyKind::Transient => self.tally.deferred += 1,
        }
    }

    /// The circuit breakers that look at replies: policy refusals and connection failures
    /// in a row.
    fn breakers(&mut self, reason: Reason, reply: &Reply) {
        self.policy_streak = match reason {
            Reason::Policy => self.policy_streak + 1,
            Reason::Accepted => 0,
            _ => self.policy_streak,
        };
        self.connection_streak = if reply.connecting {
            self.connection_streak + 1
        } else {
            0
        };
        if self.policy_streak >= POLICY_STOP {
            self.stop(format!(
                "the server refused {POLICY_STOP} messages in a row for policy reasons (5.7.x), last: `{}`; check SPF, DKIM and DMARC for the From domain and the sending IP's reputation",
                reply.text
            ));
        }
        if self.connection_streak >= self.rules.max_connection_failures {
            self.stop(format!(
                "{} connection failures in a row, last: `{}`",
                self.connection_streak, reply.text
            ));
        }
    }

    /// Ctrl-C or SIGTERM.
    pub fn on_signal(&mut self) -> OnSignal {
        if self.interrupted {
            return OnSignal::Exit;
        }
        self.interrupted = true;
        self.stop("interrupted".to_string());
        OnSignal::Finish {
            in_flight: self.in_flight,
        }
    }

    /// The run's tally (members still waiting for a retry count as deferred: they stay
    /// `deferred` in the store), why it stopped, and whether a signal stopped it.
    pub fn finish(mut self) -> (Tally, Option<String>, bool) {
        self.tally.deferred += self.waiting.len() as u64;
        (self.tally, self.stopped, self.interrupted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn member(n: usize) -> Member {
        Member {
            line: n as u64 + 2,
            email: format!("m{n}@example.org"),
            columns: Arc::from(vec!["email".to_string()]),
            values: vec![format!("m{n}@example.org")],
        }
    }

    fn rules() -> Rules {
        Rules {
            max_attempts: 3,
            retry_delay: Duration::from_secs(10),
            max_connection_failures: 4,
            max_quota_wait: Duration::from_secs(900),
        }
    }

    type Jobs = std::vec::IntoIter<Job>;

    /// `n` members, jitter fixed at the middle (no jitter: exactly the exponential).
    fn run(n: usize) -> Coordinator<Jobs> {
        let jobs: Vec<Job> = (0..n)
            .map(|i| Job::new(member(i), format!("<{i}@x>")))
            .collect();
        Coordinator::new(rules(), jobs.into_iter()).with_jitter(|| 0.5)
    }

    fn reply(code: u16, text: &str) -> Reply {
        let kind = match code / 100 {
            2 => ReplyKind::Accepted,
            4 => ReplyKind::Transient,
            _ => ReplyKind::Permanent,
        };
        Reply::of(kind, Some(code), text.to_string())
    }

    fn ok() -> Reply {
        reply(250, "250 2.0.0 Ok")
    }

    /// Takes the next job, lets it start and finishes it with `r`.
    fn send(c: &mut Coordinator<Jobs>, now: Instant, r: Reply) -> String {
        let job = c.next_job(now).expect("a job");
        let email = job.member.email.clone();
        assert!(c.on_starting(&email, true));
        c.on_done(job, Some(Ok(r)), now);
        email
    }

    #[test]
    fn members_go_in_order_and_the_run_finishes() {
        let t0 = Instant::now();
        let mut c = run(2);
        assert!(c.wants_job(t0));
        assert_eq!(send(&mut c, t0, ok()), "m0@example.org");
        assert_eq!(send(&mut c, t0, ok()), "m1@example.org");
        assert!(
            !c.is_finished(t0),
            "the list is not known to be exhausted yet"
        );
        assert!(c.next_job(t0).is_none());
        assert!(c.is_finished(t0));
        let (tally, stopped, interrupted) = c.finish();
        assert_eq!((tally.accepted, tally.retries), (2, 0));
        assert_eq!((stopped, interrupted), (None, false));
    }

    #[test]
    fn a_transient_reply_is_retried_with_exponential_backoff_then_deferred() {
        let t0 = Instant::now();
        let mut c = run(1);
        let busy = || reply(451, "451 4.3.0 try later");
        send(&mut c, t0, busy());
        assert!(c.next_job(t0).is_none(), "the list is exhausted");
        // Retry 1 after 10 s, retry 2 after 20 s more (jitter fixed at none).
        let first = t0 + Duration::from_secs(10);
        assert_eq!(c.poll_timeout(t0), Some(first));
        assert!(!c.wants_job(first - Duration::from_millis(1)));
        assert!(!c.is_finished(t0), "a retry is waiting");
        send(&mut c, first, busy());
        let second = first + Duration::from_secs(20);
        assert_eq!(c.poll_timeout(first), Some(second));
        send(&mut c, second, busy());
        assert_eq!(c.poll_timeout(second), None, "out of attempts");
        assert!(c.is_finished(second));
        let (tally, _, _) = c.finish();
        assert_eq!((tally.retries, tally.deferred), (2, 1));
    }

    #[test]
    fn the_backoff_jitter_is_twenty_percent_either_way() {
        let base = Duration::from_secs(10);
        assert_eq!(backoff(base, 1, 0.0), Duration::from_secs(8));
        assert_eq!(backoff(base, 1, 1.0), Duration::from_secs(12));
        assert_eq!(backoff(base, 3, 0.5), Duration::from_secs(40));
        assert_eq!(backoff(base, 40, 0.5), base * (1 << 16), "capped");
        let j = random_jitter();
        assert!((0.0..=1.0).contains(&j));
    }

    /// Sends the one member `n` times, throttled each time, each after its backoff; returns
    /// when the last reply came and the slowdowns after each.
    fn throttle(c: &mut Coordinator<Jobs>, n: u32) -> (Instant, Vec<u64>) {
        let (mut now, mut pauses) = (Instant::now(), Vec::new());
        for i in 0..n {
            if i > 0 {
                let due = c.poll_timeout(now).expect("retried");
                // Throttles use the backoff as tries do: 10 s, 20 s, 40 s...
                assert_eq!(due - now, Duration::from_secs(10) * (1 << (i - 1)));
                now = due;
            }
            send(c, now, reply(421, "421 4.7.28 rate limited"));
            pauses.push(c.slowdown().as_millis() as u64);
        }
        (now, pauses)
    }

    #[test]
    fn throttling_slows_the_run_down_and_does_not_use_up_attempts() {
        // 3 attempts, but the first MAX_THROTTLES throttled replies do not count as tries.
        let mut c = run(1);
        let (now, pauses) = throttle(&mut c, MAX_THROTTLES + 2);
        assert_eq!(pauses, [500, 1000, 2000, 4000, 8000, 16_000, 32_000]);
        let now = c.poll_timeout(now).expect("one attempt left");
        send(&mut c, now, ok());
        assert_eq!(
            c.slowdown(),
            Duration::from_millis(28_800),
            "recovers by a tenth"
        );
        assert_eq!((c.tally().accepted, c.tally().retries), (1, 7));
        // One more throttled reply and its attempts are used up.
        let mut c = run(1);
        let (now, pauses) = throttle(&mut c, MAX_THROTTLES + 3);
        assert_eq!(pauses.last(), Some(&60_000), "the pause is capped");
        assert_eq!(c.poll_timeout(now), None);
        assert_eq!(c.finish().0.deferred, 1);
    }

    #[test]
    fn connection_failures_in_a_row_stop_the_run() {
        let t0 = Instant::now();
        let mut c = run(10);
        let refused = || Reply::transient("cannot connect to smtp:25: refused".into());
        send(&mut c, t0, refused());
        send(&mut c, t0, refused());
        send(&mut c, t0, ok());
        for _ in 0..3 {
            send(&mut c, t0, refused());
        }
        assert_eq!(c.stop_reason(), None, "an acceptance broke the streak");
        send(&mut c, t0, refused());
        assert_eq!(
            c.stop_reason(),
            Some("4 connection failures in a row, last: `cannot connect to smtp:25: refused`")
        );
        assert!(!c.wants_job(t0));
        assert!(c.is_finished(t0), "retries are dropped once stopped");
        let (tally, _, _) = c.finish();
        assert_eq!(
            tally.deferred, 6,
            "the members waiting for a retry stay deferred"
        );
    }

    #[test]
    fn a_refused_login_stops_the_run_at_once() {
        let t0 = Instant::now();
        let mut c = run(3);
        let a = c.next_job(t0).unwrap();
        let b = c.next_job(t0).unwrap();
        assert!(c.on_starting(&a.member.email, true));
        let fatal = Fatal("smtp:587 refused the login for `news`: 535 5.7.8 bad".into());
        c.on_done(a, Some(Err(fatal)), t0);
        assert!(c.stop_reason().unwrap().contains("refused the login"));
        assert!(!c.on_starting(&b.member.email, true), "nothing more goes");
        c.on_done(b, None, t0);
        assert!(c.is_finished(t0));
        let (tally, _, _) = c.finish();
        assert_eq!(tally.done(), 0);
    }

    #[test]
    fn policy_refusals_in_a_row_stop_the_run() {
        let t0 = Instant::now();
        let mut c = run(10);
        let policy = || reply(550, "550 5.7.1 rejected by DMARC policy");
        send(&mut c, t0, policy());
        send(&mut c, t0, policy());
        // A hard bounce between them does not break the streak; an acceptance does.
        send(&mut c, t0, reply(550, "550 5.1.1 no such user"));
        send(&mut c, t0, ok());
        send(&mut c, t0, policy());
        send(&mut c, t0, policy());
        assert_eq!(c.stop_reason(), None);
        send(&mut c, t0, policy());
        assert!(c.stop_reason().unwrap().starts_with(
            "the server refused 3 messages in a row for policy reasons (5.7.x), last: `550 5.7.1"
        ));
        let (tally, _, _) = c.finish();
        assert_eq!((tally.failed, tally.accepted), (6, 1));
    }

    #[test]
    fn a_lost_final_reply_is_uncertain_and_never_retried_in_the_run() {
        let t0 = Instant::now();
        let mut c = run(1);
        let lost = "connection lost after the message was sent: delivery unknown";
        send(&mut c, t0, Reply::uncertain(lost.into()));
        assert!(c.next_job(t0).is_none());
        assert_eq!(c.poll_timeout(t0), None);
        assert!(c.is_finished(t0));
        let (tally, stopped, _) = c.finish();
        assert_eq!((tally.uncertain, tally.retries, tally.deferred), (1, 0, 0));
        assert_eq!(stopped, None, "one member's doubt does not stop the run");
    }

    #[test]
    fn a_full_quota_window_is_waited_for_then_the_run_goes_on() {
        let t0 = Instant::now();
        let wall = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .unwrap()
            .to_utc();
        let mut c = run(2);
        assert!(c.wants_quota(t0));
        c.on_quota(Ok(Some(wall + chrono::Duration::seconds(60))), wall, t0);
        assert!(!c.wants_job(t0) && !c.may_start());
        assert!(!c.wants_quota(t0), "already waiting");
        let reopens = t0 + Duration::from_secs(60);
        assert_eq!(c.poll_timeout(t0), Some(reopens));
        assert!(!c.is_finished(t0));
        assert!(c.wants_quota(reopens), "the wait is over: ask again");
        c.on_quota(Ok(None), wall, reopens);
        // A job already handed out when the window filled: it comes back for the window.
        let job = c.next_job(reopens).unwrap();
        c.on_quota(
            Ok(Some(wall + chrono::Duration::seconds(120))),
            wall,
            reopens,
        );
        assert!(!c.on_starting(&job.member.email, true));
        c.on_done(job, None, reopens);
        let later = reopens + Duration::from_secs(120);
        assert_eq!(c.poll_timeout(reopens), Some(later));
        assert!(c.wants_quota(later));
        assert_eq!(send(&mut c, later, ok()), "m0@example.org");
        assert_eq!(c.stop_reason(), None);
    }

    #[test]
    fn a_quota_window_too_far_away_stops_the_run_with_when_to_resume() {
        let t0 = Instant::now();
        let wall = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .unwrap()
            .to_utc();
        let mut c = run(2);
        c.on_quota(Ok(Some(wall + chrono::Duration::hours(2))), wall, t0);
        assert_eq!(
            c.stop_reason(),
            Some(
                "the sending quota is used up (`max_per_hour`/`max_per_day`): resume after 2026-11-24 12:00 UTC"
            )
        );
        assert!(c.is_finished(t0));
        let mut c = run(1);
        let unreadable = Err(crate::error::Error::runtime("database is locked"));
        c.on_quota(unreadable, wall, t0);
        assert_eq!(
            c.stop_reason(),
            Some("cannot count the sending quota: database is locked")
        );
    }

    #[test]
    fn the_first_signal_lets_messages_in_flight_finish_the_second_exits() {
        let t0 = Instant::now();
        let mut c = run(5);
        let a = c.next_job(t0).unwrap();
        let b = c.next_job(t0).unwrap();
        assert!(c.on_starting(&a.member.email, true));
        assert_eq!(c.on_signal(), OnSignal::Finish { in_flight: 2 });
        assert!(!c.wants_job(t0), "nothing new goes");
        assert!(
            !c.on_starting(&b.member.email, true),
            "not started: held back"
        );
        c.on_done(b, None, t0);
        assert!(!c.is_finished(t0), "one message still in flight");
        c.on_done(a, Some(Ok(reply(451, "451 4.3.0 later"))), t0);
        assert!(c.is_finished(t0));
        assert_eq!(c.on_signal(), OnSignal::Exit);
        let (tally, stopped, interrupted) = c.finish();
        assert_eq!(
            (tally.deferred, tally.retries),
            (1, 0),
            "not retried once stopping"
        );
        assert_eq!(
            (stopped.as_deref(), interrupted),
            (Some("interrupted"), true)
        );
    }

    #[test]
    fn a_member_unsubscribed_meanwhile_is_left_out() {
        let t0 = Instant::now();
        let mut c = run(2);
        let job = c.next_job(t0).unwrap();
        assert!(!c.on_starting(&job.member.email, false));
        c.on_done(job, None, t0);
        assert_eq!(c.poll_timeout(t0), None, "not scheduled again");
        assert_eq!(send(&mut c, t0, ok()), "m1@example.org");
        assert!(c.next_job(t0).is_none());
        assert!(c.is_finished(t0));
    }
}
