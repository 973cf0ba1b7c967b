//! `mailshot check`: the campaign prepared, every member preflighted, then the inbox rules
//! ([`lint::findings`], as `send` runs them), the web edition rendered, and, for a campaign already sent, its sources
//! compared with those it was first sent from; printed.

use crate::cli::CheckArgs;
use crate::compose::campaign::Campaign;
use crate::compose::lint::{self, Severity};
use crate::config::Config;
use crate::error::{EXIT_OK, EXIT_USAGE, Result};

/// Applies `--template`, `--list` and `--var` to the config.
pub fn apply_overrides(config: &mut Config, render: &crate::cli::RenderArgs) {
    if let Some(t) = &render.template {
        config.template = t.clone();
        config.use_issues = false;
    }
    if let Some(l) = &render.list {
        config.list = l.clone();
    }
    for (k, v) in &render.vars {
        config.vars.insert(k.clone(), v.clone());
        config.cli_vars.insert(k.clone(), v.clone());
    }
}

pub fn exec(mut config: Config, args: CheckArgs) -> Result<i32> {
    apply_overrides(&mut config, &args.render);
    let (campaign, list, warnings) =
        Campaign::open(&config, &args.campaign, args.render.subject.as_deref())?;
    // A campaign already sent from other sources: the refusal `send` would give.
    let changed = match crate::store::Store::open_existing(&config.store)? {
        Some(store) => crate::deliver::run::changed_sources(&store, &campaign)?,
        None => None,
    };
    let (pre, found) =
        lint::check_campaign(&config, &campaign, &list, warnings, changed, &|| false)?;
    for f in &found {
        say!("{f}");
    }
    let errors = found
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = found.len() - errors;
    if found.is_empty() {
        say!(
            "check: no problems found ({} members rendered)",
            pre.members
        );
    } else {
        let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
        say!(
            "check: {}, {}",
            plural(errors, "error"),
            plural(warnings, "warning")
        );
    }
    if errors > 0 {
        return Ok(EXIT_USAGE);
    }
    Ok(EXIT_OK)
}
