//! `mailshot send`: the arguments into a [`Send`], then what it tells and returns, printed.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use crate::cli::SendArgs;
use crate::compose::campaign::Campaign;
use crate::compose::render::Mode;
use crate::config::Config;
use crate::deliver::progress::thousands;
use crate::deliver::run::{DryRun, Notice, Observer, Outcome, Selection, Send, Sent, unfinished};
use crate::error::{EXIT_FAILURES, EXIT_OK, Error, Result};
use crate::outcome::ReplyKind;
use crate::store::Counts;
use crate::transport::TransportSpec;

pub fn exec(mut config: Config, args: SendArgs) -> Result<i32> {
    super::check::apply_overrides(&mut config, &args.render);
    let (campaign, list, warnings) =
        Campaign::open(&config, &args.campaign, args.render.subject.as_deref())?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let send = Send {
        spec: TransportSpec::from_config(&config, &args.campaign)?,
        config: &config,
        campaign: Arc::new(campaign),
        list: &list,
        selection: Selection {
            retry_failed: args.retry_failed,
            resend_uncertain: args.resend_uncertain,
            limit: args.limit,
        },
        accept_changes: args.accept_changes,
    };
    let mut term = Terminal {
        yes: args.yes,
        campaign: args.campaign.clone(),
        via: send.via(),
        refused: false,
    };
    if !args.test_to.is_empty() {
        send.proof(&args.test_to, args.as_member.as_deref(), &mut term)?;
        say!("not recorded as a delivery of campaign `{}`", args.campaign);
        return Ok(if term.refused { EXIT_FAILURES } else { EXIT_OK });
    }
    if args.dry_run {
        print_dry_run(&send.dry_run(&mut term)?);
        return Ok(EXIT_OK);
    }
    let outcome = send.run(&mut term)?;
    match &outcome {
        Outcome::Nothing { counts, members } => print_nothing(&args.campaign, counts, *members),
        Outcome::Sent(sent) => print_sent(&args.campaign, sent),
    }
    Ok(outcome.exit_code())
}

/// Tells what a send tells, on standard output and error; asks on the terminal.
struct Terminal {
    /// `--yes`: nobody is asked.
    yes: bool,
    campaign: String,
    via: String,
    /// A `--test-to` copy was refused.
    refused: bool,
}

impl Observer for Terminal {
    fn notice(&mut self, notice: Notice) {
        let campaign = &self.campaign;
        match notice {
            Notice::Finding(f) => eprintln!("{f}"),
            Notice::BeingSent { pid } => eprintln!(
                "note: campaign `{campaign}` is being sent now (process {pid}): this is as of the last second"
            ),
            Notice::Recovered(n) => eprintln!(
                "warning: {n} members were being sent when the last run stopped: they are `uncertain` (they may have received it) and are not sent again unless `--resend-uncertain`"
            ),
            Notice::Sending {
                subject,
                to_send,
                via,
            } => eprintln!(
                "sending «{subject}» to {} members via {via}",
                thousands(to_send)
            ),
            Notice::Proof { to, member, reply } => match reply.kind {
                ReplyKind::Accepted => say!(
                    "test message (rendered for {member}) sent to {to} via {}: {}",
                    self.via,
                    reply.text
                ),
                _ => {
                    eprintln!("error: test message to {to} was refused: {}", reply.text);
                    self.refused = true;
                }
            },
        }
    }

    fn confirm(&mut self, subject: &str, to_send: u64, via: &str) -> Result<()> {
        if self.yes {
            return Ok(());
        }
        confirm(subject, to_send, via)
    }
}

fn print_dry_run(d: &DryRun) {
    let mode = match d.mode {
        Mode::Precompiled => "MJML rendered once, variables per member",
        Mode::Full => "MJML rendered per member",
    };
    say!(
        "dry run: would send «{}» to {} of {} members via {} ({} skipped: already sent, failed or suppressed); {mode}",
        d.subject,
        thousands(d.to_send),
        thousands(d.members),
        d.via,
        thousands(d.skipped),
    );
    say!("nothing was sent or recorded");
}

fn print_nothing(campaign: &str, counts: &Counts, members: u64) {
    let extra = suppressed_part(counts.suppressed, counts.uncertain);
    say!(
        "nothing to send: campaign `{campaign}` has {} accepted, {} failed, {} deferred{} of {} members",
        thousands(counts.accepted),
        thousands(counts.failed),
        thousands(counts.deferred),
        if extra.is_empty() {
            String::new()
        } else {
            format!(", {}", extra.trim_end_matches(", "))
        },
        thousands(counts.members.max(members)),
    );
    if counts.uncertain > 0 {
        say!(
            "to send the uncertain again (they may get a second copy): mailshot send --campaign {campaign} --resend-uncertain"
        );
    }
    if counts.failed + counts.deferred > 0 {
        say!(
            "to try the failed and deferred members again: mailshot send --campaign {campaign} --retry-failed"
        );
    }
}

fn print_sent(campaign: &str, sent: &Sent) {
    let t = sent.run.tally;
    let secs = sent.run.elapsed.as_secs_f64();
    say!(
        "sent {} in {secs:.1} s ({:.1}/s): {} accepted, {} failed, {} deferred{}{}",
        thousands(t.done()),
        t.done() as f64 / secs.max(1e-9),
        thousands(t.accepted),
        thousands(t.failed),
        thousands(t.deferred),
        if t.uncertain > 0 {
            format!(", {} uncertain", thousands(t.uncertain))
        } else {
            String::new()
        },
        if t.retries > 0 {
            format!(" ({} retries)", thousands(t.retries))
        } else {
            String::new()
        },
    );
    let counts = &sent.counts;
    say!(
        "campaign `{campaign}`: {} members, {} accepted, {} failed, {} deferred, {}{} pending",
        thousands(counts.members),
        thousands(counts.accepted),
        thousands(counts.failed),
        thousands(counts.deferred),
        suppressed_part(counts.suppressed, counts.uncertain),
        thousands(counts.pending)
    );
    for r in &sent.unfinished {
        say!(
            "  {} {}: {}",
            r.status,
            r.email,
            r.smtp_reply.as_deref().unwrap_or("")
        );
    }
    let named = sent.unfinished.len() as u64;
    if unfinished(counts) > named {
        say!(
            "  ... and {} more (mailshot log --campaign {campaign})",
            thousands(unfinished(counts) - named),
        );
    }
    print_next_steps(campaign, sent);
}

/// How to go on after a run: resume, continue, or retry.
fn print_next_steps(campaign: &str, sent: &Sent) {
    if sent.run.interrupted {
        eprintln!(
            "interrupted: every reply received was recorded; resume with: mailshot send --campaign {campaign}"
        );
        return;
    }
    if let Some(why) = &sent.run.stopped {
        eprintln!("error: the campaign stopped early: {why}");
        eprintln!("fix the cause, then resume with: mailshot send --campaign {campaign}");
        return;
    }
    let counts = &sent.counts;
    if counts.pending > 0 {
        say!(
            "{} members still pending: run the same command again to continue",
            thousands(counts.pending)
        );
    }
    if counts.uncertain > 0 {
        say!(
            "to send the uncertain again (they may get a second copy): mailshot send --campaign {campaign} --resend-uncertain"
        );
    }
    if counts.failed + counts.deferred > 0 {
        say!("to try them again: mailshot send --campaign {campaign} --retry-failed");
    }
}

/// `"N suppressed, M uncertain, "` for the counts that are not zero.
fn suppressed_part(suppressed: u64, uncertain: u64) -> String {
    let mut out = String::new();
    if suppressed > 0 {
        out.push_str(&format!("{} suppressed, ", thousands(suppressed)));
    }
    if uncertain > 0 {
        out.push_str(&format!("{} uncertain, ", thousands(uncertain)));
    }
    out
}

/// Asks on the terminal; refuses when there is no terminal to ask on.
fn confirm(subject: &str, n: u64, via: &str) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::input(
            "refusing to send without `--yes`: standard input is not a terminal, so nobody can confirm (check with `--dry-run`, then add `--yes`)",
        ));
    }
    eprint!(
        "Send «{subject}» to {} members via {via}? [y/N] ",
        thousands(n)
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::runtime(format!("failed to read the answer: {e}")))?;
    if matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(Error::runtime("cancelled: nothing was sent"))
    }
}
