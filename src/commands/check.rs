//! `mailshot check`: preflight every member, then the inbox rules; `send` runs the same.

use crate::cli::CheckArgs;
use crate::config::Config;
use crate::error::{EXIT_OK, EXIT_USAGE, Result};
use crate::lint::{self, Finding, Severity};
use crate::members::MemberList;
use crate::send::{self, Campaign};

/// Everything `check` and `send` check: problems found by preflight and by the rules.
/// Returns the preflight (if it passed) and the findings, errors first.
pub fn findings(
    config: &Config,
    campaign: &mut Campaign,
    list: &MemberList,
) -> (Option<send::Preflight>, Vec<Finding>) {
    let mut out = Vec::new();
    let pre = match send::preflight(campaign, list) {
        Ok(p) => Some(p),
        Err(e) => {
            let text = e.to_string();
            // The last line is preflight's own tally; the rest are its problems.
            for line in text.lines().filter(|l| !l.starts_with("nothing was sent:")) {
                out.push(Finding {
                    severity: Severity::Error,
                    message: line.to_string(),
                });
            }
            None
        }
    };
    out.extend(lint::lint(
        config,
        pre.as_ref().and_then(|p| p.first.as_ref()),
    ));
    out.sort_by_key(|f| f.severity);
    (pre, out)
}

/// Applies `--template`, `--list` and `--var` to the config.
pub fn apply_overrides(config: &mut Config, render: &crate::cli::RenderArgs) {
    if let Some(t) = &render.template {
        config.template = t.clone();
    }
    if let Some(l) = &render.list {
        config.list = l.clone();
    }
    for (k, v) in &render.vars {
        config.vars.insert(k.clone(), v.clone());
    }
}

pub fn exec(mut config: Config, args: CheckArgs) -> Result<i32> {
    apply_overrides(&mut config, &args.render);
    let (mut campaign, warnings) =
        Campaign::from_config(&config, &args.campaign, args.render.subject.as_deref())?;
    let list = MemberList::open(&config.list)?;
    let (pre, mut found) = findings(&config, &mut campaign, &list);
    found.extend(warnings.into_iter().map(|message| Finding {
        severity: Severity::Warning,
        message,
    }));
    for f in &found {
        println!("{f}");
    }
    let errors = found
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = found.len() - errors;
    if found.is_empty() {
        let members = pre.map_or(0, |p| p.members);
        println!("check: no problems found ({members} members rendered)");
    } else {
        let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
        println!(
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
