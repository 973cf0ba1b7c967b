//! `mailshot import`: merge exports into the member list and say what happened.

use crate::cli::ImportArgs;
use crate::config::Config;
use crate::error::{EXIT_FAILURES, EXIT_OK, Result, show};
use crate::import::{self, Options};
use crate::progress::thousands;
use crate::store::Store;

pub fn exec(config: &Config, args: ImportArgs) -> Result<i32> {
    let into = args.into.clone().unwrap_or_else(|| config.list.clone());
    let suppressed = match Store::open_existing(&config.store)? {
        Some(store) => store.suppressed_set()?,
        None => Default::default(),
    };
    let opts = Options {
        inputs: args.inputs,
        into: into.clone(),
        replace: args.replace,
        dry_run: args.dry_run,
        report: args.report.clone(),
        delimiter: args.delimiter,
        encoding: args.encoding,
    };
    let s = import::import(&opts, &suppressed)?;
    for (path, f) in &s.formats {
        let delimiter = match f.delimiter {
            b'\t' => "tab".to_string(),
            d => format!("`{}`", d as char),
        };
        println!(
            "read `{}` as {}, delimiter {delimiter}",
            show(path),
            f.encoding.name()
        );
    }
    println!(
        "{} rows: {} added, {} updated, {} unchanged, {} duplicates, {} rejected, {} suppressed",
        thousands(s.read),
        thousands(s.added),
        thousands(s.updated),
        thousands(s.unchanged),
        thousands(s.duplicates),
        thousands(s.rejected),
        thousands(s.suppressed)
    );
    if s.not_in_import > 0 {
        if args.replace {
            let more = s.not_in_import.saturating_sub(s.dropped.len() as u64);
            let more = if more > 0 {
                format!(" and {} more", thousands(more))
            } else {
                String::new()
            };
            println!(
                "dropped {} members not in this import: {}{more}",
                thousands(s.not_in_import),
                s.dropped.join(", ")
            );
        } else {
            println!(
                "kept {} members not in this import",
                thousands(s.not_in_import)
            );
        }
    }
    if args.dry_run {
        println!(
            "dry run: `{}` would have {} members; nothing was written",
            show(&into),
            thousands(s.members)
        );
    } else {
        println!("wrote `{}`: {} members", show(&into), thousands(s.members));
    }
    if s.rejected > 0 {
        println!("rejected rows:");
        for r in &s.rejected_rows {
            println!("  {} line {}: {}", r.file, r.line, r.reason);
        }
        if s.rejected > s.rejected_rows.len() as u64 {
            println!(
                "  ... and {} more",
                thousands(s.rejected - s.rejected_rows.len() as u64)
            );
        }
        match &args.report {
            Some(p) => println!("every rejected row is in `{}`", show(p)),
            None => {
                println!("add `--report rejected.csv` to get every rejected row with its reason")
            }
        }
        return Ok(EXIT_FAILURES);
    }
    Ok(EXIT_OK)
}
