//! `mailshot import`: merge exports into the member list and say what happened.

use crate::cli::ImportArgs;
use crate::config::Config;
use crate::deliver::progress::{plural, thousands};
use crate::error::{EXIT_FAILURES, EXIT_OK, Result, show};
use crate::list::import::{self, Options, ReadAs};
use crate::store::Store;

pub fn exec(config: &Config, args: ImportArgs) -> Result<i32> {
    let into = args.into.clone().unwrap_or_else(|| config.list.clone());
    let suppressed = match Store::open_existing(&config.store)? {
        Some(store) => store.suppressed_set()?,
        None => Default::default(),
    };
    // Opt-out columns suppress in the store before the list without them is written.
    let mut record = |opt_outs: &[import::OptOut]| -> Result<()> {
        let mut store = Store::open(&config.store)?;
        store.suppress_all(
            opt_outs
                .iter()
                .map(|o| (o.email.as_str(), o.source.as_str())),
            "unsubscribed",
        )?;
        Ok(())
    };
    let opts = Options {
        inputs: args.inputs,
        into: into.clone(),
        replace: args.replace,
        dry_run: args.dry_run,
        report: args.report.clone(),
        delimiter: args.delimiter,
        encoding: args.encoding,
        columns: import::ColumnNames {
            email: args.email_column,
            first_name: args.first_name_column,
            last_name: args.last_name_column,
        },
        sheet: args.sheet,
        memory_limit: import::MEMORY_LIMIT,
    };
    let s = import::import(&opts, &suppressed, &mut record)?;
    for (path, read_as) in &s.formats {
        match read_as {
            ReadAs::Text(f) => {
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
            ReadAs::Sheet(sheet) => println!("read `{}`, sheet `{sheet}`", show(path)),
        }
    }
    // Every row read is counted once, so the figures add up to the first.
    println!(
        "{} read: {} added, {} updated, {} unchanged, {}, {} rejected, {} suppressed",
        plural(s.read, "row", "rows"),
        thousands(s.added),
        thousands(s.updated),
        thousands(s.unchanged),
        plural(s.duplicates, "duplicate", "duplicates"),
        thousands(s.rejected),
        thousands(s.suppressed)
    );
    if s.opted_out > 0 {
        let columns = s
            .opt_out_columns
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let verb = if args.dry_run { "would be" } else { "are now" };
        println!(
            "{} opted out ({columns}): {verb} suppressed (unsubscribed), never listed",
            plural(s.opted_out, "row", "rows")
        );
    }
    if s.removed > 0 {
        println!(
            "took {} off the list",
            plural(s.removed, "suppressed member", "suppressed members")
        );
    }
    if s.not_in_import > 0 {
        if args.replace {
            let more = s.not_in_import.saturating_sub(s.dropped.len() as u64);
            let more = if more > 0 {
                format!(" and {} more", thousands(more))
            } else {
                String::new()
            };
            println!(
                "dropped {} not in this import: {}{more}",
                plural(s.not_in_import, "member", "members"),
                s.dropped.join(", ")
            );
        } else {
            println!(
                "kept {} not in this import",
                plural(s.not_in_import, "member", "members")
            );
        }
    }
    if args.dry_run {
        println!(
            "dry run: `{}` would have {}; nothing was written",
            show(&into),
            plural(s.members, "member", "members")
        );
    } else {
        println!(
            "wrote `{}`: {}",
            show(&into),
            plural(s.members, "member", "members")
        );
    }
    if s.changed > 0 {
        println!("{} changed:", plural(s.changed, "row", "rows"));
        list_rows(s.changed, &s.changed_rows);
    }
    if s.rejected > 0 {
        println!("rejected rows:");
        list_rows(s.rejected, &s.rejected_rows);
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

/// The first rows named, and how many more there are of `count`.
fn list_rows(count: u64, named: &[import::Noted]) {
    for r in named {
        println!("  {} line {}: {}", r.file, r.line, r.reason);
    }
    if count > named.len() as u64 {
        println!("  ... and {} more", thousands(count - named.len() as u64));
    }
}
