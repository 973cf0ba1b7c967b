use std::io::Write;

use serde::ser::{SerializeSeq, Serializer};

use crate::cli::{LogArgs, LogFormat};
use crate::config::Config;
use crate::csv_safe::csv_safe;
use crate::error::{EXIT_OK, Error, Result, show};
use crate::store::Store;

pub fn exec(config: &Config, args: LogArgs) -> Result<i32> {
    let missing = || {
        Error::input(format!(
            "no campaign `{}` in `{}`",
            args.campaign,
            show(&config.store)
        ))
    };
    let mut store = Store::open_existing(&config.store)?.ok_or_else(missing)?;
    store.campaign(&args.campaign)?.ok_or_else(missing)?;
    // A run that died may have left its last events in its journal.
    crate::store::journal::settle(&mut store, &config.store, &args.campaign)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        LogFormat::Csv => {
            let mut w = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(&mut out);
            w.write_record([
                "email",
                "status",
                "attempts",
                "smtp_code",
                "enhanced_code",
                "smtp_reply",
                "message_id",
                "first_attempt_at",
                "last_attempt_at",
                "reason",
            ])
            .map_err(csv_error)?;
            store.each_log_row(&args.campaign, |r| {
                // Cells a spreadsheet would run as a formula (an address may start with `=`,
                // a reply text with `-`) get a leading `'` (see `csv_safe`).
                let text = |v: &Option<String>| csv_safe(v.as_deref().unwrap_or("")).into_owned();
                let number = |v: Option<u16>| v.map(|n| n.to_string()).unwrap_or_default();
                w.write_record([
                    csv_safe(&r.email).into_owned(),
                    r.status.to_string(),
                    r.attempts.to_string(),
                    number(r.smtp_code),
                    text(&r.enhanced_code),
                    text(&r.smtp_reply),
                    text(&r.message_id),
                    text(&r.first_attempt_at),
                    text(&r.last_attempt_at),
                    text(&r.reason),
                ])
                .map_err(csv_error)
            })?;
            w.flush().map_err(Error::stdout)?;
        }
        LogFormat::Json => {
            // Streamed: the same bytes as `to_writer_pretty` of the whole array.
            let mut ser = serde_json::Serializer::pretty(&mut out);
            let mut seq = ser.serialize_seq(None).map_err(json)?;
            store.each_log_row(&args.campaign, |r| seq.serialize_element(&r).map_err(json))?;
            seq.end().map_err(json)?;
            writeln!(out).map_err(Error::stdout)?;
        }
    }
    Ok(EXIT_OK)
}

/// A CSV row that could not be written to standard output.
fn csv_error(e: csv::Error) -> Error {
    match e.kind() {
        csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe => Error::BrokenPipe,
        _ => Error::runtime(format!("failed to write the log: {e}")),
    }
}

/// A JSON row that could not be written to standard output.
fn json(e: serde_json::Error) -> Error {
    match e.io_error_kind() {
        Some(std::io::ErrorKind::BrokenPipe) => Error::BrokenPipe,
        _ => Error::runtime(format!("failed to write the log: {e}")),
    }
}
