use std::io::Write;

use crate::cli::StatusArgs;
use crate::config::Config;
use crate::error::{EXIT_OK, Error, Result, show};
use crate::store::Store;

pub fn exec(config: &Config, args: StatusArgs) -> Result<i32> {
    let mut out = std::io::stdout().lock();
    let Some(mut store) = Store::open_existing(&config.store)? else {
        return match args.campaign {
            Some(id) => Err(Error::input(format!(
                "no campaign `{id}` in `{}`",
                show(&config.store)
            ))),
            None => {
                writeln!(
                    out,
                    "no campaigns yet (delivery log `{}` does not exist)",
                    show(&config.store)
                )
                .map_err(Error::stdout)?;
                Ok(EXIT_OK)
            }
        };
    };
    let one = args.campaign.is_some();
    let campaigns = match &args.campaign {
        Some(id) => vec![store.campaign(id)?.ok_or_else(|| {
            Error::input(format!("no campaign `{id}` in `{}`", show(&config.store)))
        })?],
        None => store.campaigns()?,
    };
    if campaigns.is_empty() {
        writeln!(out, "no campaigns yet").map_err(Error::stdout)?;
        return Ok(EXIT_OK);
    }
    writeln!(
        out,
        "{:<16} {:>8} {:>8} {:>8} {:>8} {:>10} {:>9} {:>8} {:>8} {:>10}  {:<24} {:<24}",
        "campaign",
        "members",
        "accepted",
        "deferred",
        "failed",
        "suppressed",
        "uncertain",
        "pending",
        "bounced",
        "complained",
        "started",
        "finished"
    )
    .map_err(Error::stdout)?;
    for c in campaigns {
        row(&mut out, &mut store, config, &c)?;
        if one {
            sent_as(&mut out, &store, config, &c)?;
        }
    }
    Ok(EXIT_OK)
}

/// Campaign `c`'s line of the table: its counts (its journal folded in first) and when it
/// started and finished (or that it is sending now).
fn row(
    out: &mut impl Write,
    store: &mut Store,
    config: &Config,
    c: &crate::store::CampaignInfo,
) -> Result<()> {
    // A run that died may have left its last events in its journal; a run sending now
    // folds its own every second.
    let running = match crate::store::journal::settle(store, &config.store, &c.id) {
        Ok(running) => running,
        // One campaign's journal must not hide the others.
        Err(e) => {
            eprintln!("warning: campaign `{}`: {e}", c.id);
            None
        }
    };
    let n = store.counts(&c.id)?;
    let finished = match (running, &c.finished_at) {
        (Some(pid), _) => format!("sending now (process {pid})"),
        (None, Some(at)) => at.clone(),
        (None, None) => "-".to_string(),
    };
    writeln!(
        out,
        "{:<16} {:>8} {:>8} {:>8} {:>8} {:>10} {:>9} {:>8} {:>8} {:>10}  {:<24} {:<24}",
        c.id,
        n.members,
        n.accepted,
        n.deferred,
        n.failed,
        n.suppressed,
        n.uncertain,
        n.pending,
        n.bounced,
        n.complained,
        c.started_at,
        finished
    )
    .map_err(Error::stdout)?;
    Ok(())
}

/// One campaign's `status`: what it was sent as, from the store (never today's files): the
/// subject, and its web edition's address when it has one.
fn sent_as(
    out: &mut impl Write,
    store: &Store,
    config: &Config,
    c: &crate::store::CampaignInfo,
) -> Result<()> {
    writeln!(out, "subject: {}", c.subject).map_err(Error::stdout)?;
    let Some((revision, master)) = store.master(&c.id)? else {
        return Ok(());
    };
    if revision > 1 {
        writeln!(out, "sources: revision {revision} (changes accepted)").map_err(Error::stdout)?;
    }
    if master.web.is_some()
        && let Some(url) = config.web.web_url(&c.id)
    {
        writeln!(out, "web edition: {url}").map_err(Error::stdout)?;
    }
    Ok(())
}
