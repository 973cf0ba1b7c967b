//! `mailshot check`: preflight every member, then the inbox rules; `send` runs the same.

use crate::cli::CheckArgs;
use crate::compose::lint::{self, Finding, Severity};
use crate::config::Config;
use crate::deliver::{self, Campaign};
use crate::error::{EXIT_OK, EXIT_USAGE, Result};
use crate::list::MemberList;

/// Everything `check` and `send` check: problems found by preflight and by the rules.
/// Returns the preflight (if it passed) and the findings, errors first.
pub fn findings(
    config: &Config,
    campaign: &mut Campaign,
    list: &MemberList,
) -> Result<(deliver::Preflight, Vec<Finding>)> {
    let pre = deliver::preflight(campaign, list)?;
    let mut out: Vec<Finding> = pre
        .problems
        .iter()
        .map(|p| Finding {
            severity: Severity::Error,
            message: p.clone(),
        })
        .collect();
    // The rendered checks need a rendering that preflight found sound.
    let rendered = if pre.problems.is_empty() {
        pre.first.as_ref()
    } else {
        None
    };
    out.extend(lint::lint(config, rendered));
    let (n, some) = &pre.utf8_local;
    if *n > 0 && config.transport == crate::config::Transport::Smtp {
        let more = if *n > some.len() as u64 {
            format!(" and {} more", n - some.len() as u64)
        } else {
            String::new()
        };
        out.push(Finding {
            severity: Severity::Warning,
            message: format!(
                "{n} member{} an address whose part before the `@` is not ASCII ({}{more}): {} SMTPUTF8 on the server, and fail{} without it",
                if *n == 1 { " has" } else { "s have" },
                some.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", "),
                if *n == 1 { "it needs" } else { "they need" },
                if *n == 1 { "s" } else { "" },
            ),
        });
    }
    out.sort_by_key(|f| f.severity);
    Ok((pre, out))
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
    let (pre, mut found) = findings(&config, &mut campaign, &list)?;
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
        println!(
            "check: no problems found ({} members rendered)",
            pre.members
        );
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
