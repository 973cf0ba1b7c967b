//! `mailshot suppress`: the addresses that are never mailed again.

use crate::cli::{LogFormat, SuppressAction, SuppressArgs};
use crate::config::Config;
use crate::deliver::progress::{plural, thousands};
use crate::error::{EXIT_FAILURES, EXIT_OK, Error, Result, show};
use crate::list::check_address;
use crate::store::Store;

const REASONS: [&str; 4] = ["unsubscribed", "hard-bounce", "complaint", "manual"];

fn check_reason(r: &str) -> Result<()> {
    if REASONS.contains(&r) {
        Ok(())
    } else {
        Err(Error::input(format!(
            "unknown reason `{r}`: use one of {}",
            REASONS.join(", ")
        )))
    }
}

fn address(raw: &str) -> Result<String> {
    check_address(raw).map_err(Error::input)
}

pub fn exec(config: &Config, args: SuppressArgs) -> Result<i32> {
    match args.action {
        SuppressAction::Add { emails, reason } => {
            check_reason(&reason)?;
            let emails: Vec<String> = emails.iter().map(|e| address(e)).collect::<Result<_>>()?;
            let store = Store::open(&config.store)?;
            for e in emails {
                if store.suppress(&e, &reason, Some("mailshot suppress add"))? {
                    println!("suppressed {e} ({reason})");
                } else {
                    println!("{e} was already suppressed");
                }
            }
            Ok(EXIT_OK)
        }
        SuppressAction::Remove { emails } => {
            let emails: Vec<String> = emails.iter().map(|e| address(e)).collect::<Result<_>>()?;
            let store = Store::open(&config.store)?;
            let mut code = EXIT_OK;
            for e in emails {
                if store.unsuppress(&e)? {
                    println!("lifted the suppression of {e}");
                } else {
                    eprintln!("error: {e} is not suppressed");
                    code = EXIT_FAILURES;
                }
            }
            Ok(code)
        }
        SuppressAction::List { format } => {
            let list = match Store::open_existing(&config.store)? {
                Some(s) => s.suppressions()?,
                None => Vec::new(),
            };
            match format {
                LogFormat::Csv => {
                    let mut w = csv::Writer::from_writer(std::io::stdout());
                    w.write_record(["email", "reason", "source", "at"])
                        .map_err(|e| Error::runtime(e.to_string()))?;
                    for s in &list {
                        w.write_record([
                            &s.email,
                            &s.reason,
                            s.source.as_deref().unwrap_or(""),
                            &s.at,
                        ])
                        .map_err(|e| Error::runtime(e.to_string()))?;
                    }
                    w.flush().map_err(|e| Error::runtime(e.to_string()))?;
                }
                LogFormat::Json => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&list)
                            .map_err(|e| Error::runtime(e.to_string()))?
                    );
                }
            }
            Ok(EXIT_OK)
        }
        SuppressAction::Import {
            file,
            reason,
            delimiter,
            encoding,
        } => {
            check_reason(&reason)?;
            let name = show(&file);
            let source = format!("mailshot suppress import {name}");
            let store = Store::open(&config.store)?;
            let (mut added, mut already, mut bad) = (0u64, 0u64, 0u64);
            crate::list::import::addresses(&file, encoding, delimiter, |line, cell| {
                match check_address(cell) {
                    Ok(e) => {
                        if store.suppress(&e, &reason, Some(&source))? {
                            added += 1;
                        } else {
                            already += 1;
                        }
                    }
                    Err(r) => {
                        eprintln!("`{name}` line {line}: {r}");
                        bad += 1;
                    }
                }
                Ok(())
            })?;
            println!(
                "suppressed {} ({} already suppressed, {} not valid)",
                plural(added, "address", "addresses"),
                thousands(already),
                thousands(bad)
            );
            Ok(if bad > 0 { EXIT_FAILURES } else { EXIT_OK })
        }
    }
}
