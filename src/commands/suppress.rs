//! `mailshot suppress`: the addresses that are never mailed again.

use std::io::Write;

use crate::cli::{LogFormat, SuppressAction, SuppressArgs};
use crate::config::Config;
use crate::deliver::progress::{plural, thousands};
use crate::error::{EXIT_FAILURES, EXIT_OK, Error, Result, show};
use crate::list::check_address;
use crate::store::Store;

const REASONS: [&str; 5] = [
    "unsubscribed",
    "hard-bounce",
    "soft-bounces",
    "complaint",
    "manual",
];

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
        SuppressAction::Add { emails, reason } => add(config, &emails, &reason),
        SuppressAction::Remove { emails } => remove(config, &emails),
        SuppressAction::List { format } => list(config, format),
        SuppressAction::Import {
            file,
            reason,
            delimiter,
            encoding,
        } => {
            check_reason(&reason)?;
            let store = Store::open(&config.store)?;
            let name = show(&file);
            let n = crate::list::import::suppress_file(
                &store,
                &file,
                &reason,
                encoding,
                delimiter,
                |line, why| eprintln!("`{name}` line {line}: {why}"),
            )?;
            say!(
                "suppressed {} ({} already suppressed, {} not valid)",
                plural(n.added, "address", "addresses"),
                thousands(n.already),
                thousands(n.bad)
            );
            Ok(if n.bad > 0 { EXIT_FAILURES } else { EXIT_OK })
        }
    }
}

fn add(config: &Config, emails: &[String], reason: &str) -> Result<i32> {
    check_reason(reason)?;
    let emails: Vec<String> = emails.iter().map(|e| address(e)).collect::<Result<_>>()?;
    let store = Store::open(&config.store)?;
    for e in emails {
        if store.suppress(&e, reason, Some("mailshot suppress add"))? {
            say!("suppressed {e} ({reason})");
        } else {
            say!("{e} was already suppressed");
        }
    }
    Ok(EXIT_OK)
}

fn remove(config: &Config, emails: &[String]) -> Result<i32> {
    let emails: Vec<String> = emails.iter().map(|e| address(e)).collect::<Result<_>>()?;
    let store = Store::open(&config.store)?;
    let mut code = EXIT_OK;
    for e in emails {
        if store.unsuppress(&e)? {
            say!("lifted the suppression of {e}");
        } else {
            eprintln!("error: {e} is not suppressed");
            code = EXIT_FAILURES;
        }
    }
    Ok(code)
}

fn list(config: &Config, format: LogFormat) -> Result<i32> {
    let list = match Store::open_existing(&config.store)? {
        Some(s) => s.suppressions()?,
        None => Vec::new(),
    };
    let csv_error = |e: csv::Error| match e.kind() {
        csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe => Error::BrokenPipe,
        _ => Error::runtime(e.to_string()),
    };
    match format {
        LogFormat::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            w.write_record(["email", "reason", "source", "at"])
                .map_err(csv_error)?;
            for s in &list {
                let source = s.source.as_deref().unwrap_or("");
                // Member data: neutralised for a spreadsheet, as `log` does; `suppress
                // import` reads it back.
                let safe = crate::csv_safe::csv_safe;
                w.write_record([&*safe(&s.email), &s.reason, &*safe(source), &s.at])
                    .map_err(csv_error)?;
            }
            w.flush().map_err(Error::stdout)?;
        }
        LogFormat::Json => {
            let json =
                serde_json::to_string_pretty(&list).map_err(|e| Error::runtime(e.to_string()))?;
            writeln!(std::io::stdout(), "{json}").map_err(Error::stdout)?;
        }
    }
    Ok(EXIT_OK)
}
