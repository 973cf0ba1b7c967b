//! `mailshot send`: preflight, plan, confirm, deliver, summarise.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use crate::cli::SendArgs;
use crate::compose::lint::Severity;
use crate::compose::render::Mode;
use crate::config::{Config, Transport};
use crate::deliver::pacer::SharedPacer;
use crate::deliver::progress::thousands;
use crate::deliver::quota::Quota;
use crate::deliver::{self, Campaign, Delivery, Selection};
use crate::error::{EXIT_FAILURES, EXIT_OK, Error, Result, show};
use crate::list::MemberList;
use crate::outcome::ReplyKind;
use crate::store::journal::Journal;
use crate::store::{CampaignInfo, CampaignLock, Store, now};
use crate::transport::{Go, TransportSpec};

/// How many problems, or unfinished members, a summary lists by name.
const MAX_NAMED: usize = 20;

pub fn exec(mut config: Config, args: SendArgs) -> Result<i32> {
    super::check::apply_overrides(&mut config, &args.render);
    let (mut campaign, warnings) =
        Campaign::from_config(&config, &args.campaign, args.render.subject.as_deref())?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let list = MemberList::open(&config.list)?;
    let spec = TransportSpec::from_config(&config, &args.campaign)?;
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
    let runtime = runtime
        .enable_all()
        .build()
        .map_err(|e| Error::runtime(format!("failed to start the async runtime: {e}")))?;

    if !args.test_to.is_empty() {
        return runtime.block_on(test_send(
            &campaign,
            &list,
            &spec,
            &config,
            &args.test_to,
            args.as_member.as_deref(),
        ));
    }

    let (pre, found) = super::check::findings(&config, &mut campaign, &list)?;
    let errors: Vec<_> = found
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    if !errors.is_empty() {
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
        return Err(Error::input(msg.join("\n")));
    }
    for f in &found {
        eprintln!("{f}");
    }

    let subject = pre.subject.clone().unwrap_or_default();
    let selection = Selection {
        retry_failed: args.retry_failed,
        resend_uncertain: args.resend_uncertain,
        limit: args.limit,
    };
    let via = config.destination(&args.campaign);
    let mode = match campaign.bulletin.mode() {
        Mode::Precompiled => "MJML rendered once, variables per member",
        Mode::Full => "MJML rendered per member",
    };

    if args.dry_run {
        let skip = match Store::open_existing(&config.store)? {
            Some(mut store) => {
                if let Some(pid) =
                    crate::store::journal::settle(&mut store, &config.store, &args.campaign)?
                {
                    eprintln!(
                        "note: campaign `{}` is being sent now (process {pid}): this is as of the last second",
                        args.campaign
                    );
                }
                deliver::skip_set(&store, &args.campaign, selection, config.rate.max_attempts)?
            }
            None => crate::store::Skip::none(),
        };
        let eligible = count_eligible(&list, &skip)?;
        let to_send = args.limit.map_or(eligible, |l| eligible.min(l));
        println!(
            "dry run: would send «{subject}» to {} of {} members via {via} ({} skipped: already sent, failed or suppressed); {mode}",
            thousands(to_send),
            thousands(pre.members),
            thousands(pre.members.saturating_sub(eligible)),
        );
        println!("nothing was sent or recorded");
        return Ok(EXIT_OK);
    }

    let mut store = Store::open(&config.store)?;
    // One sender per campaign at a time; held until this process exits.
    let lock = CampaignLock::acquire(&config.store, &args.campaign)?;
    // What a run that died left in its journal goes in first, then its `sending` become
    // `uncertain`.
    let journal = Journal::open(&mut store, &config.store, &args.campaign, &lock)?;
    // Only in the build bench/send.py makes to price the journal (`--features bench-hooks`),
    // never in the shipped binary: a run without a journal records no delivery.
    #[cfg(feature = "bench-hooks")]
    let journal = match std::env::var("MAILSHOT_BENCH_JOURNAL").as_deref() {
        Ok("off") => Journal::off(),
        _ => journal,
    };
    let mut journal = journal;
    if store.campaign(&args.campaign)?.is_some() {
        let n = store.recover(&args.campaign)?;
        if n > 0 {
            eprintln!(
                "warning: {n} members were being sent when the last run stopped: they are `uncertain` (they may have received it) and are not sent again unless `--resend-uncertain`"
            );
        }
    }
    let rel = |p: &std::path::Path| show(p);
    if let Some(existing) = store.campaign(&args.campaign)? {
        for (what, was, now_) in [
            ("template", &existing.template, rel(&config.template)),
            ("list", &existing.list, rel(&config.list)),
        ] {
            if *was != now_ {
                return Err(Error::input(format!(
                    "campaign `{}` was started with {what} `{was}`, not `{now_}`: use the same {what}, or a new campaign ID",
                    args.campaign
                )));
            }
        }
    }
    let skip = deliver::skip_set(&store, &args.campaign, selection, config.rate.max_attempts)?;
    let eligible = count_eligible(&list, &skip)?;
    let to_send = args.limit.map_or(eligible, |l| eligible.min(l));
    if to_send == 0 {
        if store.campaign(&args.campaign)?.is_some() {
            store.apply_suppressions(&args.campaign)?;
        }
        let counts = store.counts(&args.campaign)?;
        println!(
            "nothing to send: campaign `{}` has {} accepted, {} failed, {} deferred{} of {} members",
            args.campaign,
            thousands(counts.accepted),
            thousands(counts.failed),
            thousands(counts.deferred),
            {
                let extra = suppressed_part(counts.suppressed, counts.uncertain);
                if extra.is_empty() {
                    String::new()
                } else {
                    format!(", {}", extra.trim_end_matches(", "))
                }
            },
            thousands(counts.members.max(pre.members)),
        );
        if counts.uncertain > 0 {
            println!(
                "to send the uncertain again (they may get a second copy): mailshot send --campaign {} --resend-uncertain",
                args.campaign
            );
        }
        if counts.failed + counts.deferred > 0 {
            println!(
                "to try the failed and deferred members again: mailshot send --campaign {} --retry-failed",
                args.campaign
            );
        }
        return Ok(if counts.failed + counts.deferred + counts.uncertain > 0 {
            EXIT_FAILURES
        } else {
            EXIT_OK
        });
    }
    if !args.yes {
        confirm(&subject, to_send, &via)?;
    }

    let info = CampaignInfo {
        id: args.campaign.clone(),
        template: rel(&config.template),
        list: rel(&config.list),
        subject: subject.clone(),
        transport: via.clone(),
        started_at: now(),
        finished_at: None,
    };
    // Streamed from the file: a million members need no list in memory.
    store.begin_campaign(&info, list.rows()?.flatten().map(|m| m.email))?;
    store.apply_suppressions(&args.campaign)?;

    eprintln!(
        "sending «{subject}» to {} members via {via}",
        thousands(to_send)
    );
    // A member whose lookup fails is held back (still `pending`) and the error reported.
    let lookup_failed = std::cell::RefCell::new(None);
    let members = list
        .rows()?
        .flatten()
        .filter(|m| match skip.contains(&m.email) {
            Ok(skipped) => !skipped,
            Err(e) => {
                lookup_failed.borrow_mut().get_or_insert(e);
                false
            }
        })
        .take(args.limit.map_or(usize::MAX, |n| n as usize));
    let connections = match config.transport {
        Transport::File => 1,
        Transport::Smtp => config.smtp.connections,
    };
    let delivery = Delivery {
        connections,
        max_attempts: config.rate.max_attempts,
        retry_delay: Duration::from_secs_f64(config.rate.retry_delay_secs),
        max_connection_failures: config.rate.max_connection_failures.max(1),
        max_quota_wait: Duration::from_secs(config.rate.max_quota_wait_secs),
    };
    // The windows are shared with other runs on this store, through it.
    let mut quota = Quota::shared(
        config.rate.max_per_hour,
        config.rate.max_per_day,
        &config.store,
        crate::clock::now(),
    )?;
    let pacer = Arc::new(SharedPacer::new(&config.rate));
    let campaign = Arc::new(campaign);
    // Asked again as each message is about to go: a lookup that fails then lets it go, as it
    // passed the same check moments before.
    let still_wanted = |email: &str| !matches!(skip.contains(email), Ok(true));
    let summary = runtime.block_on(deliver::deliver(
        campaign,
        members,
        still_wanted,
        to_send,
        &mut store,
        &mut journal,
        &spec,
        pacer,
        &mut quota,
        &delivery,
    ))?;

    journal.close(&mut store)?;
    // Members suppressed while the run was sending (an unsubscribe) were left out: say so,
    // with the unsubscribes the service could not yet fold in.
    crate::store::unsubscribes::fold(&mut store, &config.store, crate::store::FOLD_WAIT)?;
    store.apply_suppressions(&args.campaign)?;
    if let Some(e) = lookup_failed.into_inner() {
        return Err(e);
    }
    let counts = store.counts(&args.campaign)?;
    if summary.stopped.is_none() && counts.pending == 0 {
        store.finish_campaign(&args.campaign)?;
    }
    let t = summary.tally;
    let secs = summary.elapsed.as_secs_f64();
    println!(
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
    println!(
        "campaign `{}`: {} members, {} accepted, {} failed, {} deferred, {}{} pending",
        args.campaign,
        thousands(counts.members),
        thousands(counts.accepted),
        thousands(counts.failed),
        thousands(counts.deferred),
        suppressed_part(counts.suppressed, counts.uncertain),
        thousands(counts.pending)
    );
    // Named from the store, a page at a time: a million-member campaign is never loaded whole.
    let unfinished = store.unfinished(&args.campaign, MAX_NAMED)?;
    let unfinished_total = counts.failed + counts.deferred + counts.uncertain;
    for r in &unfinished {
        println!(
            "  {} {}: {}",
            r.status,
            r.email,
            r.smtp_reply.as_deref().unwrap_or("")
        );
    }
    if unfinished_total > unfinished.len() as u64 {
        println!(
            "  ... and {} more (mailshot log --campaign {})",
            thousands(unfinished_total - unfinished.len() as u64),
            args.campaign
        );
    }
    if summary.interrupted {
        eprintln!(
            "interrupted: every reply received was recorded; resume with: mailshot send --campaign {}",
            args.campaign
        );
        return Ok(crate::error::EXIT_INTERRUPTED);
    }
    if let Some(why) = summary.stopped {
        eprintln!("error: the campaign stopped early: {why}");
        eprintln!(
            "fix the cause, then resume with: mailshot send --campaign {}",
            args.campaign
        );
        return Ok(crate::error::EXIT_RUNTIME);
    }
    if counts.pending > 0 {
        println!(
            "{} members still pending: run the same command again to continue",
            thousands(counts.pending)
        );
    }
    if counts.uncertain > 0 {
        println!(
            "to send the uncertain again (they may get a second copy): mailshot send --campaign {} --resend-uncertain",
            args.campaign
        );
    }
    if counts.failed + counts.deferred > 0 {
        println!(
            "to try them again: mailshot send --campaign {} --retry-failed",
            args.campaign
        );
    }
    if unfinished_total > 0 {
        return Ok(EXIT_FAILURES);
    }
    Ok(EXIT_OK)
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

/// Members of the list this run may send to.
fn count_eligible(list: &MemberList, skip: &crate::store::Skip) -> Result<u64> {
    let mut n = 0;
    for m in list.rows()?.flatten() {
        if !skip.contains(&m.email)? {
            n += 1;
        }
    }
    Ok(n)
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

/// `--test-to`: one member's rendering to each address, not recorded. Its unsubscribe links
/// carry a test token (see [`crate::compose::tokens::Tokens::test_token`]), never the member's.
async fn test_send(
    campaign: &Campaign,
    list: &MemberList,
    spec: &TransportSpec,
    config: &Config,
    to: &[String],
    as_member: Option<&str>,
) -> Result<i32> {
    // Every address checked before the first copy goes.
    let to = to
        .iter()
        .map(|a| {
            crate::list::check_address(a.trim())
                .map_err(|e| Error::input(format!("--test-to: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let list_name = show(&list.path);
    let mut chosen = None;
    for row in list.rows()? {
        let m = row.map_err(|e| e.in_list(&list.path))?;
        if as_member.is_none_or(|a| a.eq_ignore_ascii_case(&m.email)) {
            chosen = Some(m);
            break;
        }
    }
    let member = chosen.ok_or_else(|| match as_member {
        Some(a) => Error::input(format!("--as: `{a}` is not in `{list_name}`")),
        None => Error::input(format!("member list `{list_name}` has no members")),
    })?;
    let spec = match spec {
        TransportSpec::File { dir } => TransportSpec::File {
            dir: dir.join("test"),
        },
        other => other.clone(),
    };
    let via = config.destination(&campaign.id);
    let mut conn = spec.connect();
    let mut code = EXIT_OK;
    for to in &to {
        let msg = campaign
            .build(&member, &campaign.new_message_id(), Some(to))
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
        match reply.kind {
            ReplyKind::Accepted => println!(
                "test message (rendered for {}) sent to {to} via {via}: {}",
                member.email, reply.text
            ),
            _ => {
                eprintln!("error: test message to {to} was refused: {}", reply.text);
                code = EXIT_FAILURES;
            }
        }
    }
    conn.close().await;
    println!("not recorded as a delivery of campaign `{}`", campaign.id);
    Ok(code)
}
