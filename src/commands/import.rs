//! `mailshot import`: merge exports into the member list and say what happened.

use std::path::{Path, PathBuf};

use crate::cli::ImportArgs;
use crate::config::Config;
use crate::deliver::progress::{plural, thousands};
use crate::error::{EXIT_FAILURES, EXIT_OK, Result, show};
use crate::list::import::{self, Options, ReadAs, Summary};

pub fn exec(config: &Config, args: ImportArgs) -> Result<i32> {
    let into = args.into.clone().unwrap_or_else(|| config.list.clone());
    let report = args.report.clone();
    let (dry_run, replace) = (args.dry_run, args.replace);
    let s = import::import_honouring(&options(args, into.clone()), &config.store)?;
    print_formats(&s);
    print_counts(&s, dry_run, replace);
    print_written(&s, dry_run, &into);
    if s.changed > 0 {
        say!("{} changed:", plural(s.changed, "row", "rows"));
        list_rows(s.changed, &s.changed_rows);
    }
    if s.rejected == 0 {
        return Ok(EXIT_OK);
    }
    say!("rejected rows:");
    list_rows(s.rejected, &s.rejected_rows);
    match &report {
        Some(p) => say!("every rejected row is in `{}`", show(p)),
        None => say!("add `--report rejected.csv` to get every rejected row with its reason"),
    }
    Ok(EXIT_FAILURES)
}

fn options(args: ImportArgs, into: PathBuf) -> Options {
    Options {
        inputs: args.inputs,
        into,
        replace: args.replace,
        dry_run: args.dry_run,
        report: args.report,
        delimiter: args.delimiter,
        encoding: args.encoding,
        columns: import::ColumnNames {
            email: args.email_column,
            first_name: args.first_name_column,
            last_name: args.last_name_column,
        },
        sheet: args.sheet,
        memory_limit: import::MEMORY_LIMIT,
    }
}

/// How each input was read: encoding and delimiter, or the sheet.
fn print_formats(s: &Summary) {
    for (path, read_as) in &s.formats {
        match read_as {
            ReadAs::Text(f) => {
                let delimiter = match f.delimiter {
                    b'\t' => "tab".to_string(),
                    d => format!("`{}`", d as char),
                };
                say!(
                    "read `{}` as {}, delimiter {delimiter}",
                    show(path),
                    f.encoding.name()
                );
            }
            ReadAs::Sheet(sheet) => say!("read `{}`, sheet `{sheet}`", show(path)),
        }
    }
}

/// What became of the rows read, and of the members already on the list.
fn print_counts(s: &Summary, dry_run: bool, replace: bool) {
    // Every row read is counted once, so the figures add up to the first.
    say!(
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
        let verb = if dry_run { "would be" } else { "are now" };
        say!(
            "{} opted out ({columns}): {verb} suppressed (unsubscribed), never listed",
            plural(s.opted_out, "row", "rows")
        );
    }
    if s.removed > 0 {
        say!(
            "took {} off the list",
            plural(s.removed, "suppressed member", "suppressed members")
        );
    }
    if s.not_in_import == 0 {
        return;
    }
    let members = plural(s.not_in_import, "member", "members");
    if !replace {
        say!("kept {members} not in this import");
        return;
    }
    let more = s.not_in_import.saturating_sub(s.dropped.len() as u64);
    let more = if more > 0 {
        format!(" and {} more", thousands(more))
    } else {
        String::new()
    };
    say!(
        "dropped {members} not in this import: {}{more}",
        s.dropped.join(", ")
    );
}

/// The list written (or that would have been).
fn print_written(s: &Summary, dry_run: bool, into: &Path) {
    let members = plural(s.members, "member", "members");
    if dry_run {
        say!(
            "dry run: `{}` would have {members}; nothing was written",
            show(into)
        );
    } else {
        say!("wrote `{}`: {members}", show(into));
    }
}

/// The first rows named, and how many more there are of `count`.
fn list_rows(count: u64, named: &[import::Noted]) {
    for r in named {
        say!("  {} line {}: {}", r.file, r.line, r.reason);
    }
    if count > named.len() as u64 {
        say!("  ... and {} more", thousands(count - named.len() as u64));
    }
}
