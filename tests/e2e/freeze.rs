//! A campaign is frozen at its first send: a later run with other sources refuses, naming
//! what changed, unless `--accept-changes`; stores from before are migrated and their
//! campaigns not checked.

use crate::support::{Project, repo};

/// The `.eml` files in `outbox/<campaign>` (the test copies' folder left out).
fn sent(p: &Project, campaign: &str) -> usize {
    std::fs::read_dir(p.path(&format!("outbox/{campaign}")))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .count()
        })
        .unwrap_or(0)
}

fn accepted(p: &Project, campaign: &str) -> usize {
    p.log(campaign)
        .iter()
        .filter(|r| r["status"] == "accepted")
        .count()
}

/// The refusal for campaign `c` with these changes, as printed.
fn refusal(campaign: &str, changes: &str) -> String {
    format!(
        "error: campaign `{campaign}` was first sent from other sources: {changes}; members who already got it would see a different bulletin from those who get it now. Send it as it was (undo the changes), start a new campaign, or add --accept-changes\n"
    )
}

/// The line of `rel` that first contains `what`, from 1.
fn line_of(p: &Project, rel: &str, what: &str) -> usize {
    p.read(rel).lines().position(|l| l.contains(what)).unwrap() + 1
}

#[test]
fn an_edited_template_is_refused_until_the_changes_are_accepted() {
    let p = Project::example();
    let r = p.run(&["send", "--campaign", "c", "--yes", "--limit", "3"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!((sent(&p, "c"), accepted(&p, "c")), (3, 3));
    let line = line_of(&p, "templates/bulletin.mjml", "Dear");
    p.edit("templates/bulletin.mjml", "Dear", "Hello");
    let changed = format!("`templates/bulletin.mjml` changed (line {line} first differs)");
    for extra in [&[][..], &["--retry-failed"], &["--resend-uncertain"]] {
        let r = p.run(&[&["send", "--campaign", "c", "--yes"][..], extra].concat());
        assert_eq!(r.code, 2, "{extra:?}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.ends_with(&refusal("c", &changed)), "{}", r.stderr);
    }
    let r = p.run(&["send", "--campaign", "c", "--test-to", "me@example.org"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.ends_with(&refusal("c", &changed)), "{}", r.stderr);
    // Nothing more sent or recorded.
    assert_eq!((sent(&p, "c"), accepted(&p, "c")), (3, 3));
    assert!(!p.path("outbox/c/test").exists());
    assert_eq!(p.log("c").len(), 12);

    let r = p.run(&["send", "--campaign", "c", "--yes", "--accept-changes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!((sent(&p, "c"), accepted(&p, "c")), (12, 12));
    // The accepted sources are the campaign's now.
    let r = p.run(&["send", "--campaign", "c", "--dry-run"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[test]
fn an_edited_markdown_issue_and_value_are_named_by_send_dry_run_and_check() {
    let p = Project::example();
    let issue = std::fs::read_to_string(repo().join("issues/2023-05.md")).unwrap();
    p.write("issues/2023-05.md", &issue);
    let r = p.run(&["send", "--campaign", "2023-05", "--yes", "--limit", "2"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // The front matter's month comes before the Markdown's "Dear": the first to differ.
    let line = line_of(&p, "issues/2023-05.md", "month = ");
    p.edit("issues/2023-05.md", "Dear", "Hello");
    p.edit(
        "issues/2023-05.md",
        "month = \"May 2023\"",
        "month = \"June 2023\"",
    );
    let changes = format!(
        "`issues/2023-05.md` changed (line {line} first differs), value `month` changed (`May 2023` -> `June 2023`)"
    );
    let r = p.run(&["send", "--campaign", "2023-05", "--yes"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.ends_with(&refusal("2023-05", &changes)),
        "{}",
        r.stderr
    );
    assert_eq!(sent(&p, "2023-05"), 2);

    let as_finding = refusal("2023-05", &changes);
    let r = p.run(&["send", "--campaign", "2023-05", "--dry-run"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .ends_with(&format!("{as_finding}nothing was sent: 1 problem found\n")),
        "{}",
        r.stderr
    );
    let r = p.run(&["check", "--campaign", "2023-05"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with(&as_finding), "{}", r.stdout);

    // Undone: sent as it was.
    p.write("issues/2023-05.md", &issue);
    let r = p.run(&["send", "--campaign", "2023-05", "--yes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(sent(&p, "2023-05"), 12);
}

/// The store's schema before it kept sources (version 1), as that build wrote it.
const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS campaigns (
    id TEXT PRIMARY KEY,
    template TEXT NOT NULL,
    list TEXT NOT NULL,
    subject TEXT NOT NULL,
    transport TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS deliveries (
    campaign TEXT NOT NULL REFERENCES campaigns(id),
    email TEXT NOT NULL COLLATE NOCASE,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    smtp_code INTEGER,
    enhanced_code TEXT,
    smtp_reply TEXT,
    reason TEXT,
    message_id TEXT,
    first_attempt_at TEXT,
    last_attempt_at TEXT,
    PRIMARY KEY (campaign, email)
);
CREATE TABLE IF NOT EXISTS attempts (
    campaign TEXT NOT NULL,
    email TEXT NOT NULL COLLATE NOCASE,
    attempt INTEGER NOT NULL,
    at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    smtp_code INTEGER,
    enhanced_code TEXT,
    smtp_reply TEXT,
    reason TEXT,
    message_id TEXT
);
-- No index by member: nothing queries one, and it cost a random page per attempt recorded.
DROP INDEX IF EXISTS attempts_by_member;
CREATE INDEX IF NOT EXISTS attempts_by_time ON attempts (at);
-- How far each campaign's journal file has been folded in (see `journal`).
CREATE TABLE IF NOT EXISTS journal_folds (
    campaign TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS suppressions (
    email TEXT PRIMARY KEY COLLATE NOCASE,
    reason TEXT NOT NULL,
    source TEXT,
    at TEXT NOT NULL
);
";

#[test]
fn a_store_from_before_sources_migrates_and_its_campaign_is_not_refused() {
    let p = Project::example();
    {
        let db = rusqlite::Connection::open(p.path("mailshot.db")).unwrap();
        db.execute_batch(SCHEMA_V1).unwrap();
        db.execute_batch(
            "PRAGMA user_version = 1;
             INSERT INTO campaigns (id, template, list, subject, transport, started_at)
             VALUES ('c', 'templates/bulletin.mjml', 'lists/members.csv', 'News',
                     'file transport `outbox/c`', '2023-04-01T09:00:00.000Z');",
        )
        .unwrap();
        let emails = p.read("lists/members.csv");
        for (i, line) in emails.lines().skip(1).enumerate() {
            let email = line.split(',').next().unwrap();
            let status = if i < 3 { "accepted" } else { "pending" };
            db.execute(
                "INSERT INTO deliveries (campaign, email, status, attempts) VALUES ('c', ?1, ?2, ?3)",
                rusqlite::params![email, status, (i < 3) as i64],
            )
            .unwrap();
        }
    }
    p.edit("templates/bulletin.mjml", "Dear", "Hello");
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!((sent(&p, "c"), accepted(&p, "c")), (9, 12));
    let db = rusqlite::Connection::open(p.path("mailshot.db")).unwrap();
    let version: i64 = db
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 3);
    // Version 3: the rate this run was sent at, for the report.
    let rate: Option<f64> = db
        .query_row("SELECT rate FROM campaigns WHERE id = 'c'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(rate, Some(10.0));
    // Not frozen afterwards either: these are not the sources it was first sent from.
    let digest: Option<String> = db
        .query_row(
            "SELECT sources_digest FROM campaigns WHERE id = 'c'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(digest, None);
}
