use std::io::Write;

use crate::cli::{LogArgs, LogFormat};
use crate::config::Config;
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
    let store = Store::open_existing(&config.store)?.ok_or_else(missing)?;
    store.campaign(&args.campaign)?.ok_or_else(missing)?;
    let rows = store.log(&args.campaign)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let io = |e: std::io::Error| Error::runtime(format!("failed to write the log: {e}"));
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
            .map_err(|e| Error::runtime(e.to_string()))?;
            for r in &rows {
                w.serialize(r).map_err(|e| Error::runtime(e.to_string()))?;
            }
            w.flush().map_err(io)?;
        }
        LogFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &rows)
                .map_err(|e| Error::runtime(e.to_string()))?;
            writeln!(out).map_err(io)?;
        }
    }
    Ok(EXIT_OK)
}
