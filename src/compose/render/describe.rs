//! Template errors worded for the user: minijinja's and mrml's, each naming the template file
//! and line it points at, an included file's own where the error is in one.

use std::fmt::Write as _;
use std::path::Path;

use minijinja::ErrorKind;
use mrml::prelude::parser::Origin;

use crate::error::{line_of, show};

/// For a parse error mrml places badly or not at all (an unclosed `<p>` is "unexpected end
/// of stream"), the tag that is not closed, by [`super::balance::unbalanced`], in the file
/// the error is in.
fn unbalanced_in(
    err: &mrml::prelude::parser::Error,
    root_name: &str,
    root_src: &str,
    root: &Path,
) -> Option<String> {
    use mrml::prelude::parser::Error as E;
    let origin = match err {
        E::EndOfStream { origin }
        | E::UnexpectedToken { origin, .. }
        | E::UnexpectedElement { origin, .. }
        | E::ParserError { origin, .. } => origin,
        _ => return None,
    };
    let (name, text) = match origin {
        Origin::Root => (root_name.to_string(), root_src.to_string()),
        Origin::Include { path } => {
            let p = root.join(path.trim_start_matches("file://"));
            (show(&p), std::fs::read_to_string(&p).ok()?)
        }
    };
    let found = super::balance::unbalanced(&text)?;
    Some(format!("template `{name}` {found}"))
}

/// Describes a minijinja error as `template `x` line N: what`.
pub(super) fn describe_jinja(err: &minijinja::Error) -> String {
    let mut msg = String::new();
    if let Some(name) = err.name() {
        let _ = write!(msg, "template `{name}`");
        if let Some(line) = err.line() {
            let _ = write!(msg, " line {line}");
        }
        msg.push_str(": ");
    }
    match err.kind() {
        ErrorKind::UndefinedError => {
            msg.push_str("undefined variable");
            if let Some(src) = err.template_source()
                && let Some(r) = err.range()
                && let Some(snippet) = src.get(r)
            {
                let _ = write!(msg, " in `{}`", snippet.trim());
            }
        }
        kind => {
            msg.push_str(&kind.to_string());
            if let Some(d) = err.detail() {
                let _ = write!(msg, ": {d}");
            }
        }
    }
    msg
}

/// Describes an mrml parse error with the file and line it points at.
/// `template `name` line N` for byte `pos` of the root template or of an included file.
fn located(origin: &Origin, pos: usize, root_name: &str, root_src: &str, root: &Path) -> String {
    match origin {
        Origin::Root => format!("template `{root_name}` line {}", line_of(root_src, pos)),
        Origin::Include { path } => {
            let p = root.join(path.trim_start_matches("file://"));
            let line = std::fs::read_to_string(&p)
                .map(|s| line_of(&s, pos))
                .unwrap_or(0);
            format!("template `{}` line {line}", show(&p))
        }
    }
}

pub(super) fn describe_mrml(
    err: &mrml::prelude::parser::Error,
    root_name: &str,
    root_src: &str,
    root: &Path,
) -> String {
    use mrml::prelude::parser::Error as E;
    if let E::IncludeLoaderError { source, .. } = err
        && let Some(cause) = &source.cause
        && let Some(j) = cause.downcast_ref::<minijinja::Error>()
    {
        return describe_jinja(j);
    }
    if let Some(found) = unbalanced_in(err, root_name, root_src, root) {
        return found;
    }
    let located = |origin: &Origin, pos: usize| located(origin, pos, root_name, root_src, root);
    match err {
        E::UnexpectedElement { origin, position } => {
            format!("{}: unexpected element", located(origin, position.start))
        }
        E::UnexpectedToken { origin, position } => {
            format!("{}: unexpected token", located(origin, position.start))
        }
        E::MissingAttribute {
            name,
            origin,
            position,
        } => {
            format!(
                "{}: missing attribute `{name}`",
                located(origin, position.start)
            )
        }
        E::InvalidAttribute { origin, position } => {
            format!("{}: invalid attribute", located(origin, position.start))
        }
        E::InvalidFormat { origin, position } => {
            format!("{}: invalid format", located(origin, position.start))
        }
        E::IncludeLoaderError {
            origin,
            position,
            source,
        } => match &source.cause {
            Some(cause) => format!(
                "{}: cannot include `{}`: {cause}",
                located(origin, position.start),
                source.path,
            ),
            None => format!(
                "{}: cannot include `{}`: {}",
                located(origin, position.start),
                source.path,
                source.reason
            ),
        },
        E::ParserError { origin, source } => {
            let row = source.pos().row as usize;
            let at = match origin {
                Origin::Root => format!("template `{root_name}` line {row}"),
                Origin::Include { path } => format!(
                    "template `{}` line {row}",
                    show(&root.join(path.trim_start_matches("file://")))
                ),
            };
            format!("{at}: {source}")
        }
        other => format!("template `{root_name}`: {other}"),
    }
}
