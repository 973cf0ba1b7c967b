//! `mailshot bounces`: reads the bounce mailbox (IMAP, or `--from` a Maildir or mbox) into
//! the store, a line per message left in place (every message with `--verbose`) and a
//! summary. Exit 0, or 1 when some message was left in place (unparseable, or about no
//! member of ours): someone should look at it.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::bounce::imap::{self, Spec};
use crate::bounce::mailbox::Mailbox;
use crate::bounce::{Outcome, Reader, Tally, describe};
use crate::cli::BouncesArgs;
use crate::config::Config;
use crate::error::{EXIT_FAILURES, EXIT_OK, Error, Result, show};
use crate::store::Store;

pub fn exec(config: &Config, args: BouncesArgs) -> Result<i32> {
    let mut reader = Reader::new(config)?;
    let (tally, folder) = match &args.from {
        Some(path) => (
            from_path(config, &mut reader, path, args.verbose)?,
            show(path),
        ),
        None => {
            let spec = Arc::new(Spec::of(config)?);
            let folder = spec.folder.clone();
            (from_imap(config, &mut reader, spec, &args)?, folder)
        }
    };
    say!("{}", tally.summary(&folder));
    Ok(match tally.unparseable + tally.unmatched {
        0 => EXIT_OK,
        _ => EXIT_FAILURES,
    })
}

/// Prints what reading the message at `place` did: always when it stays in place.
fn tell(place: &str, outcome: &Outcome, verbose: bool) {
    if verbose || !outcome.moves() {
        for line in describe(outcome) {
            say!("{place}: {line}");
        }
    }
}

fn from_path(config: &Config, reader: &mut Reader, path: &Path, verbose: bool) -> Result<Tally> {
    let mailbox = Mailbox::open(path)?;
    let mut store = Store::open(&config.store)?;
    let mut tally = Tally::default();
    for item in mailbox.messages()? {
        let outcome = reader.read(&mut store, &item.raw)?;
        tell(&item.name, &outcome, verbose);
        if outcome.moves() {
            mailbox.processed(&item, &config.bounces.processed_folder)?;
        }
        tally.add(&outcome);
    }
    Ok(tally)
}

/// Ctrl-C or SIGTERM, heard by a task: a flag checked between messages, and a wake-up for
/// the IDLE.
struct Stop {
    flag: AtomicBool,
    wake: tokio::sync::Notify,
}

impl Stop {
    fn stopped(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

fn from_imap(
    config: &Config,
    reader: &mut Reader,
    spec: Arc<Spec>,
    args: &BouncesArgs,
) -> Result<Tally> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::runtime(format!("failed to start the async runtime: {e}")))?;
    let mut store = Store::open(&config.store)?;
    let mut tally = Tally::default();
    runtime.block_on(async {
        let stop = Arc::new(Stop {
            flag: AtomicBool::new(false),
            wake: tokio::sync::Notify::new(),
        });
        let heard = stop.clone();
        tokio::spawn(async move {
            crate::deliver::signals::Signals::new().recv().await;
            heard.flag.store(true, Ordering::SeqCst);
            heard.wake.notify_one();
        });
        let mut run = Run {
            reader,
            store: &mut store,
            tally: &mut tally,
            verbose: args.verbose,
            left: HashSet::new(),
        };
        match args.watch {
            false => {
                let mut mailbox = imap::Mailbox::open(spec).await?;
                run.drain(&mut mailbox, &stop).await?;
                mailbox.close().await;
                Ok(())
            }
            true => run.watch(spec, &stop).await,
        }
    })?;
    Ok(tally)
}

/// One IMAP run's state.
struct Run<'a> {
    reader: &'a mut Reader,
    store: &'a mut Store,
    tally: &'a mut Tally,
    verbose: bool,
    /// UIDs left in place: not read again while watching.
    left: HashSet<u32>,
}

/// Longest wait before connecting again after a dropped connection, in seconds.
const MAX_BACKOFF_SECS: u64 = 60;

impl Run<'_> {
    /// Reads every message in the folder not left in place before.
    async fn drain(&mut self, mailbox: &mut imap::Mailbox, stop: &Stop) -> Result<()> {
        self.reader.refresh();
        for uid in mailbox.uids().await? {
            if stop.stopped() {
                break;
            }
            if self.left.contains(&uid) {
                continue;
            }
            let Some(message) = mailbox.fetch(uid).await? else {
                continue;
            };
            let outcome = self.reader.read(self.store, &message.raw)?;
            tell(&format!("UID {uid}"), &outcome, self.verbose);
            match outcome.moves() {
                true => mailbox.processed(uid).await?,
                false => {
                    self.left.insert(uid);
                }
            }
            self.tally.add(&outcome);
        }
        Ok(())
    }

    /// `--watch`: drain, IDLE, drain again, until stopped; a dropped connection is opened
    /// again with backoff (the first connection's failure is an error: nothing to resume).
    async fn watch(&mut self, spec: Arc<Spec>, stop: &Stop) -> Result<()> {
        let mut mailbox = imap::Mailbox::open(spec.clone()).await?;
        say!(
            "watching `{}` on `{}:{}` (Ctrl-C or SIGTERM stops)",
            spec.folder,
            spec.host,
            spec.port
        );
        let mut backoff = 1;
        loop {
            let round = async {
                self.drain(&mut mailbox, stop).await?;
                if stop.stopped() {
                    return Ok((mailbox, false));
                }
                mailbox.idle(stop.wake.notified()).await
            };
            match round.await {
                Ok((m, more)) if more && !stop.stopped() => {
                    mailbox = m;
                    backoff = 1;
                }
                Ok((m, _)) => {
                    m.close().await;
                    return Ok(());
                }
                Err(e) => {
                    eprintln!("warning: {e}; connecting again in {backoff} s");
                    mailbox = loop {
                        tokio::select! {
                            () = tokio::time::sleep(Duration::from_secs(backoff)) => {}
                            () = stop.wake.notified() => return Ok(()),
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF_SECS);
                        match imap::Mailbox::open(spec.clone()).await {
                            Ok(m) => break m,
                            Err(e) => eprintln!("warning: {e}; connecting again in {backoff} s"),
                        }
                    };
                }
            }
        }
    }
}
