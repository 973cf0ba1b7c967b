//! `mailshot new`: next month's Markdown issue started from the last one.
//!
//! The new file keeps the previous issue's front matter (its month moved on by one) and its
//! skeleton: every `#`, `##` and `###` heading line, every `---` divider, the greeting (the
//! first paragraph) and the sign-off (everything after the last divider, when no heading
//! follows it). Each section's body becomes one placeholder line for the chair, an HTML
//! comment: the Markdown converter drops raw HTML, so a forgotten one never reaches a member,
//! and `check` warns about each one left ([`leftovers`]).
//!
//! In the front matter, a value that is a month and year (`"May 2023"`) becomes the next
//! month (`"June 2023"`, `"December 2023"` -> `"January 2024"`), and every `YYYY-MM` in a
//! value becomes the next month's; nothing else changes.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

use crate::compose::campaign::check_campaign_id;
use crate::error::{Error, Result, show};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A front-matter line `key = "value"` (a TOML basic string on one line).
static VALUE_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^(\s*[A-Za-z0-9_-]+\s*=\s*")((?:[^"\\]|\\.)*)("\s*(?:#.*)?)$"#)
        .expect("valid regex")
});
static YEAR_MONTH: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(\d{4})-(0[1-9]|1[0-2])\b").expect("valid regex"));
static PLACEHOLDER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^<!-- write the (.+) section here -->$").expect("valid regex"));

/// What [`start`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The new issue.
    pub path: PathBuf,
    /// The issue it was started from.
    pub from: PathBuf,
    /// How many placeholders the chair has to replace.
    pub placeholders: usize,
}

/// Writes `<folder>/<campaign>.md` from `<folder>/<from>.md`, or by default from the last
/// issue whose campaign ID sorts before `campaign`. Never replaces an existing file; the new
/// one appears whole or not at all.
pub fn start(folder: &Path, campaign: &str, from: Option<&str>) -> Result<Started> {
    check_campaign_id(campaign)?;
    let path = folder.join(format!("{campaign}.md"));
    if path.exists() {
        return Err(Error::input(format!(
            "issue `{}` already exists: edit it, or remove it to start again",
            show(&path)
        )));
    }
    let source = match from {
        Some(id) => {
            check_campaign_id(id)?;
            let p = folder.join(format!("{id}.md"));
            if !p.is_file() {
                return Err(Error::input(format!("no issue `{}` to start from", show(&p))));
            }
            p
        }
        None => previous(folder, campaign)?.ok_or_else(|| {
            Error::input(format!(
                "no issue before `{campaign}` in `{}` to start from: write the first one by hand (or name one with --from)",
                show(folder)
            ))
        })?,
    };
    let text = std::fs::read_to_string(&source)
        .map_err(|e| Error::input(format!("failed to read issue `{}`: {e}", show(&source))))?;
    let next = next_text(&text);
    write_new(&path, &next)?;
    Ok(Started {
        path,
        from: source,
        placeholders: leftovers(&next).len(),
    })
}

/// The last `<folder>/*.md` whose campaign ID sorts before `campaign`.
pub fn previous(folder: &Path, campaign: &str) -> Result<Option<PathBuf>> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", folder, e)),
    };
    let mut best: Option<String> = None;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("read", folder, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_suffix(".md") else {
            continue;
        };
        if id < campaign && !id.starts_with('.') && best.as_deref().is_none_or(|b| id > b) {
            best = Some(id.to_string());
        }
    }
    Ok(best.map(|id| folder.join(format!("{id}.md"))))
}

/// Writes `text` to a temporary file beside `path`, then links it into place unless `path`
/// exists by then.
fn write_new(path: &Path, text: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let fail = |e: std::io::Error| Error::io("write", path, e);
    let mut tmp = tempfile::Builder::new()
        .prefix(".mailshot-new-")
        .tempfile_in(dir)
        .map_err(fail)?;
    tmp.write_all(text.as_bytes()).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist_noclobber(path).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            Error::input(format!("issue `{}` already exists", show(path)))
        } else {
            fail(e.error)
        }
    })?;
    Ok(())
}

/// The next issue's text from the previous one's: front matter moved on a month, the body
/// reduced to its skeleton.
pub fn next_text(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let body_at = match lines.first() {
        Some(l) if l.trim_end() == "+++" => lines[1..]
            .iter()
            .position(|l| l.trim_end() == "+++")
            .map_or(0, |i| i + 2),
        _ => 0,
    };
    let mut out: Vec<String> = lines[..body_at]
        .iter()
        .map(|l| bump_line(l).unwrap_or_else(|| l.to_string()))
        .collect();
    out.extend(skeleton(&lines[body_at..]));
    let mut s = out.join("\n");
    s.push('\n');
    s
}

/// A front-matter line with its value moved on a month; `None` when nothing changes.
fn bump_line(line: &str) -> Option<String> {
    let c = VALUE_LINE.captures(line)?;
    let bumped = bump_value(&c[2])?;
    Some(format!("{}{bumped}{}", &c[1], &c[3]))
}

/// `value` moved on a month: a whole value that is a month and year, or every `YYYY-MM` in
/// it. `None` when it has neither.
pub fn bump_value(value: &str) -> Option<String> {
    if let Some((month, year)) = value.trim().split_once(' ')
        && let Some(i) = MONTHS.iter().position(|m| *m == month)
        && year.len() == 4
        && let Ok(y) = year.parse::<u32>()
    {
        let (y, i) = if i == 11 { (y + 1, 0) } else { (y, i + 1) };
        return Some(value.replace(value.trim(), &format!("{} {y}", MONTHS[i])));
    }
    if !YEAR_MONTH.is_match(value) {
        return None;
    }
    let out = YEAR_MONTH.replace_all(value, |c: &regex::Captures| {
        let y: u32 = c[1].parse().expect("four digits");
        let m: u32 = c[2].parse().expect("two digits");
        let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        format!("{y:04}-{m:02}")
    });
    Some(out.into_owned())
}

/// What a line of the body is to the skeleton.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    Heading,
    Divider,
    Other,
}

fn kind(line: &str) -> Line {
    let t = line.trim_end();
    let hashes = t.len() - t.trim_start_matches('#').len();
    if (1..=3).contains(&hashes) && (t.len() == hashes || t[hashes..].starts_with(' ')) {
        return Line::Heading;
    }
    let t = t.trim_start();
    let marks: String = t.chars().filter(|c| !c.is_whitespace()).collect();
    let first = marks.chars().next();
    if line.len() - t.len() < 4
        && marks.len() >= 3
        && matches!(first, Some('-' | '*' | '_'))
        && marks.chars().all(|c| Some(c) == first)
    {
        return Line::Divider;
    }
    Line::Other
}

/// Each line's kind; lines inside a fenced code block are `Other`.
fn kinds(body: &[&str]) -> Vec<Line> {
    let mut fence: Option<&str> = None;
    body.iter()
        .map(|l| {
            let t = l.trim_start();
            let mark = ["```", "~~~"].into_iter().find(|m| t.starts_with(m));
            match (fence, mark) {
                (None, Some(m)) => fence = Some(m),
                (Some(f), Some(m)) if f == m => fence = None,
                _ => {}
            }
            if fence.is_some() || mark.is_some() {
                Line::Other
            } else {
                kind(l)
            }
        })
        .collect()
}

fn placeholder(section: &str) -> String {
    format!(
        "<!-- write the {} section here -->",
        section.replace("--", "-")
    )
}

fn heading_text(line: &str) -> &str {
    line.trim()
        .trim_start_matches('#')
        .trim()
        .trim_end_matches('#')
        .trim()
}

/// The body's skeleton: headings, dividers, greeting and sign-off kept, each section's
/// text one placeholder line.
pub fn skeleton(body: &[&str]) -> Vec<String> {
    let kinds = kinds(body);
    let last_mark = kinds.iter().rposition(|k| *k != Line::Other);
    let mut out = Vec::new();
    let mut section: Option<&str> = None;
    let mut start = 0;
    while start <= body.len() {
        let end = (start..body.len())
            .find(|&i| kinds[i] != Line::Other)
            .unwrap_or(body.len());
        let chunk = &body[start..end];
        let blank = chunk.iter().all(|l| l.trim().is_empty());
        let sign_off = end == body.len() && last_mark.is_some_and(|i| kinds[i] == Line::Divider);
        if blank || sign_off {
            out.extend(chunk.iter().map(|l| l.to_string()));
        } else if start == 0 {
            out.extend(greeting(chunk));
        } else {
            let name = section.unwrap_or("introduction");
            out.extend(["", &placeholder(name), ""].map(String::from));
        }
        let Some(mark) = body.get(end) else { break };
        if kinds[end] == Line::Heading {
            section = Some(heading_text(mark));
        }
        out.push(mark.to_string());
        start = end + 1;
    }
    out
}

/// The text before the first heading or divider: its first paragraph (the greeting) kept,
/// the rest a placeholder.
fn greeting(chunk: &[&str]) -> Vec<String> {
    let first = chunk.iter().position(|l| !l.trim().is_empty()).unwrap_or(0);
    let end = chunk[first..]
        .iter()
        .position(|l| l.trim().is_empty())
        .map_or(chunk.len(), |i| first + i);
    let mut out: Vec<String> = chunk[..end].iter().map(|l| l.to_string()).collect();
    if chunk[end..].iter().any(|l| !l.trim().is_empty()) {
        out.extend(["", &placeholder("introduction"), ""].map(String::from));
    } else {
        out.extend(chunk[end..].iter().map(|l| l.to_string()));
    }
    out
}

/// The placeholders still in an issue's text: each one's line (1-based) and section.
pub fn leftovers(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| {
            PLACEHOLDER
                .captures(l.trim())
                .map(|c| (i + 1, c[1].to_string()))
        })
        .collect()
}

/// `check`'s warnings for the placeholders still in the issue `name` (its text `text`).
pub fn leftover_warnings(name: &str, text: &str) -> Vec<String> {
    leftovers(text)
        .into_iter()
        .map(|(line, section)| {
            format!("issue `{name}` line {line}: section `{section}` still has its placeholder")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_and_year_becomes_the_next_month() {
        assert_eq!(bump_value("May 2023").as_deref(), Some("June 2023"));
        assert_eq!(bump_value("December 2023").as_deref(), Some("January 2024"));
    }

    #[test]
    fn every_year_month_becomes_the_next() {
        assert_eq!(
            bump_value("Cluster News 2023-05").as_deref(),
            Some("Cluster News 2023-06")
        );
        assert_eq!(
            bump_value("from 2023-12 to 2023-11").as_deref(),
            Some("from 2024-01 to 2023-12")
        );
    }

    #[test]
    fn a_value_that_is_not_a_month_is_left_alone() {
        for v in [
            "Programme news and the awards",
            "May",
            "Maybe 2023",
            "since May 2023",
            "2023-13",
            "Cluster News – {{ month }}",
        ] {
            assert_eq!(bump_value(v), None, "{v}");
        }
    }

    #[test]
    fn the_front_matter_keeps_its_keys_with_the_month_moved_on() {
        let text = "+++\nsubject = \"News 2023-05 – {{ month }}\"\npreview = \"Since May 2023\"\n\n[vars]\nmonth = \"May 2023\" # shown in the banner\nyear = \"2023\"\n+++\n\nDear all,\n";
        let next = next_text(text);
        assert_eq!(
            next,
            "+++\nsubject = \"News 2023-06 – {{ month }}\"\npreview = \"Since May 2023\"\n\n[vars]\nmonth = \"June 2023\" # shown in the banner\nyear = \"2023\"\n+++\n\nDear all,\n"
        );
    }

    const ISSUE: &str = "\
Dear {{ first_name }},

Welcome to this month's round-up.

More words.

---

## Events

Last month's talk.

### Next talk

**Tuesday**, online.

```
## not a heading
```

## Regional news

### Forum

The forum meets.

---

I hope you find this useful.

With best wishes,
";

    #[test]
    fn the_skeleton_keeps_headings_dividers_greeting_and_sign_off() {
        let body: Vec<&str> = ISSUE.lines().collect();
        let out = skeleton(&body).join("\n");
        assert_eq!(
            out,
            "\
Dear {{ first_name }},

<!-- write the introduction section here -->

---

## Events

<!-- write the Events section here -->

### Next talk

<!-- write the Next talk section here -->

## Regional news

### Forum

<!-- write the Forum section here -->

---

I hope you find this useful.

With best wishes,"
        );
    }

    #[test]
    fn a_last_section_without_a_divider_after_it_is_a_placeholder_too() {
        let body: Vec<&str> = "Hi,\n\n## News\n\nText.\n".lines().collect();
        assert_eq!(
            skeleton(&body).join("\n"),
            "Hi,\n\n## News\n\n<!-- write the News section here -->\n"
        );
    }

    #[test]
    fn placeholders_left_are_found_with_their_lines() {
        let next = next_text(&format!("+++\n[vars]\nmonth = \"May 2023\"\n+++\n{ISSUE}"));
        let left = leftovers(&next);
        assert_eq!(
            left.iter().map(|(_, s)| s.as_str()).collect::<Vec<_>>(),
            ["introduction", "Events", "Next talk", "Forum"]
        );
        let lines: Vec<&str> = next.lines().collect();
        for (n, section) in &left {
            assert_eq!(lines[n - 1], placeholder(section));
        }
        assert_eq!(
            leftover_warnings("issues/x.md", &next)[1],
            format!(
                "issue `issues/x.md` line {}: section `Events` still has its placeholder",
                left[1].0
            )
        );
    }

    #[test]
    fn the_previous_issue_is_the_last_that_sorts_before() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["2023-04.md", "2023-05.md", "2023-07.md", "notes.txt"] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        let prev = |c: &str| previous(dir.path(), c).unwrap();
        assert_eq!(prev("2023-06"), Some(dir.path().join("2023-05.md")));
        assert_eq!(prev("2023-05"), Some(dir.path().join("2023-04.md")));
        assert_eq!(prev("2023-04"), None);
        assert_eq!(previous(&dir.path().join("none"), "2023-06").unwrap(), None);
    }

    #[test]
    fn start_never_overwrites_and_refuses_odd_ids() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("2023-05.md"), "Hi,\n\n## A\n\nText.\n").unwrap();
        let s = start(dir.path(), "2023-06", None).unwrap();
        assert_eq!(s.from, dir.path().join("2023-05.md"));
        assert_eq!(s.placeholders, 1);
        let e = start(dir.path(), "2023-06", None).unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
        assert!(start(dir.path(), "../x", None).is_err());
        let e = start(dir.path(), "2023-08", Some("2023-01")).unwrap_err();
        assert!(e.to_string().contains("no issue"), "{e}");
    }
}
