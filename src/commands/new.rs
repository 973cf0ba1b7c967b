//! `mailshot new`: next month's Markdown issue started from the last one
//! ([`next_issue::start`]); prints what it wrote and what to do next.

use crate::cli::NewArgs;
use crate::compose::next_issue;
use crate::config::Config;
use crate::error::{EXIT_OK, Result, show};

pub fn exec(config: &Config, args: NewArgs) -> Result<i32> {
    let started = next_issue::start(&config.issues, &args.campaign, args.from.as_deref())?;
    let path = show(&started.path);
    let n = started.placeholders;
    say!(
        "wrote `{path}` from `{}`: {n} section{} to write",
        show(&started.from),
        if n == 1 { "" } else { "s" }
    );
    say!("next:");
    say!("  $EDITOR {path}");
    say!("  mailshot check --campaign {}", args.campaign);
    say!(
        "  mailshot send --campaign {} --test-to you@example.org",
        args.campaign
    );
    Ok(EXIT_OK)
}
