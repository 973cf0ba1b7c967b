//! What mailbox providers check, verified by code we did not write: Python's email package for
//! MIME defects and RFC 2047, dkimpy for DKIM (tests/support/check_message.py), SpamAssassin.

use std::path::Path;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::support::{Project, openssl, repo};

/// Checks every `.eml` in `dir` with check_message.py; one JSON value per message.
fn check_all(dir: &Path, dns: &[String]) -> Vec<serde_json::Value> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    let mut cmd = Command::new("python3");
    cmd.arg(repo().join("tests/support/check_message.py"));
    for d in dns {
        cmd.arg("--dkim-dns").arg(d);
    }
    let out = cmd.args(&files).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(v.len(), files.len());
    v
}

fn with_dkim(p: &Project, algorithm: &str, key_file: &str) {
    p.edit("config.toml", "\n[file]\n", &format!("\n[dkim]\ndomain = \"example.org\"\nselector = \"s1\"\nkey_file = \"{key_file}\"\nalgorithm = \"{algorithm}\"\n\n[file]\n"));
}

fn assert_clean_and_signed(results: &[serde_json::Value], algorithm: &str) {
    for r in results {
        assert_eq!(r["defects"], serde_json::json!([]), "{r}");
        assert_eq!(r["long_lines"], 0, "{r}");
        assert_eq!(
            r["parts"],
            serde_json::json!(["multipart/alternative", "text/plain", "text/html"]),
            "{r}"
        );
        let dkim = &r["dkim"];
        assert_eq!(dkim["valid"], true, "{r}");
        assert_eq!(dkim["a"], algorithm);
        assert_eq!(dkim["c"], "relaxed/relaxed");
        assert_eq!(dkim["d"], "example.org");
        let signed: Vec<&str> = dkim["signed_headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap())
            .collect();
        for h in [
            "from",
            "to",
            "subject",
            "date",
            "message-id",
            "mime-version",
            "content-type",
            "list-unsubscribe",
            "list-unsubscribe-post",
            "list-id",
        ] {
            assert!(signed.contains(&h), "{h} not signed: {signed:?}");
        }
    }
}

#[test]
fn rsa_signatures_verify_and_cover_the_list_headers() {
    let p = Project::example();
    openssl(
        p.dir.path(),
        &["genrsa", "-traditional", "-out", "dkim.pem", "2048"],
    );
    let public = openssl(
        p.dir.path(),
        &["rsa", "-in", "dkim.pem", "-pubout", "-outform", "DER"],
    );
    with_dkim(&p, "rsa-sha256", "dkim.pem");
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dns = format!(
        "s1._domainkey.example.org=v=DKIM1; k=rsa; p={}",
        STANDARD.encode(&public)
    );
    let results = check_all(&p.path("outbox/c"), std::slice::from_ref(&dns));
    assert_eq!(results.len(), 12);
    assert_clean_and_signed(&results, "rsa-sha256");
    // The example month written in Markdown, signed alike.
    let md = Project::with_issues();
    std::fs::copy(p.path("dkim.pem"), md.path("dkim.pem")).unwrap();
    with_dkim(&md, "rsa-sha256", "dkim.pem");
    let r = md.run(&["send", "--campaign", "2023-04", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let results = check_all(&md.path("outbox/2023-04"), &[dns]);
    assert_eq!(results.len(), 12);
    assert_clean_and_signed(&results, "rsa-sha256");

    // A signature from another key does not verify: the check can fail.
    openssl(
        p.dir.path(),
        &["genrsa", "-traditional", "-out", "other.pem", "2048"],
    );
    let other = openssl(
        p.dir.path(),
        &["rsa", "-in", "other.pem", "-pubout", "-outform", "DER"],
    );
    let wrong = format!(
        "s1._domainkey.example.org=v=DKIM1; k=rsa; p={}",
        STANDARD.encode(&other)
    );
    assert!(
        check_all(&p.path("outbox/c"), &[wrong])
            .iter()
            .all(|r| r["dkim"]["valid"] == false)
    );
}

#[test]
fn ed25519_signatures_verify() {
    let p = Project::example();
    openssl(
        p.dir.path(),
        &[
            "genpkey",
            "-algorithm",
            "ed25519",
            "-outform",
            "DER",
            "-out",
            "ed.der",
        ],
    );
    let private = std::fs::read(p.path("ed.der")).unwrap();
    let public = openssl(
        p.dir.path(),
        &[
            "pkey", "-inform", "DER", "-in", "ed.der", "-pubout", "-outform", "DER",
        ],
    );
    // The last 32 bytes of each DER are the seed and the public key.
    p.write(
        "ed25519.key",
        &STANDARD.encode(&private[private.len() - 32..]),
    );
    with_dkim(&p, "ed25519-sha256", "ed25519.key");
    let r = p.run(&["send", "--campaign", "c", "--yes", "--limit", "3"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dns = format!(
        "s1._domainkey.example.org=v=DKIM1; k=ed25519; p={}",
        STANDARD.encode(&public[public.len() - 32..])
    );
    let results = check_all(&p.path("outbox/c"), &[dns]);
    assert_eq!(results.len(), 3);
    assert_clean_and_signed(&results, "ed25519-sha256");
}

#[test]
fn non_ascii_names_and_subjects_survive_rfc_2047() {
    let p = Project::example();
    let subject = "Nouvelles – l'été de Zoë, Łukasz & Siân ✓";
    let r = p.run(&["send", "--campaign", "c", "--yes", "--subject", subject]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let results = check_all(&p.path("outbox/c"), &[]);
    for r in &results {
        assert_eq!(r["defects"], serde_json::json!([]), "{r}");
        assert_eq!(r["headers"]["subject"], subject);
        assert_eq!(
            r["headers"]["from"],
            "Northvale Health Technology Cluster <news@example.org>"
        );
        assert!(r["dkim"].is_null());
    }
    let to: Vec<&str> = results
        .iter()
        .map(|r| r["headers"]["to"].as_str().unwrap())
        .collect();
    for expected in [
        "Zoë Hartley <zoe.hartley@medtech.example.org>",
        "Łukasz Nowak <lukasz.nowak@example.org>",
        "Siân Pritchard <sian.pritchard@example.org>",
    ] {
        assert!(to.contains(&expected), "{expected} not in {to:?}");
    }
    // The raw header lines are ASCII: the names went through encoded words.
    let raw = std::fs::read(p.path("outbox/c/zoe.hartley@medtech.example.org.eml")).unwrap();
    let head = &raw[..raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap()];
    assert!(head.is_ascii());
}

/// SpamAssassin (Debian's, local rules only, no Bayes) on a message: (score, rules hit).
fn spamassassin(eml: &Path) -> (f64, Vec<String>) {
    let out = Command::new("spamassassin")
        .args([
            "-L",
            "-t",
            "-x",
            "-p",
            "/dev/null",
            "-C",
            "/usr/share/spamassassin",
            "--siteconfigpath",
            "/etc/spamassassin",
        ])
        .args([
            "--cf",
            "use_bayes 0",
            "--cf",
            "bayes_auto_learn 0",
            "--cf",
            "use_auto_whitelist 0",
        ])
        .stdin(std::fs::File::open(eml).unwrap())
        .output()
        .expect("spamassassin must be installed (tests/install-deps.sh)");
    let text = String::from_utf8_lossy(&out.stdout);
    let status: String = text
        .split("\nX-Spam-Status: ")
        .nth(1)
        .expect("an X-Spam-Status header")
        .split("\n")
        .take_while(|l| {
            !l.contains(": ")
                || l.starts_with('\t')
                || l.starts_with(' ')
                || l.starts_with("No,")
                || l.starts_with("Yes,")
        })
        .collect::<Vec<_>>()
        .join(" ");
    let score: f64 = status
        .split("score=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let tests = status
        .split("tests=")
        .nth(1)
        .unwrap()
        .split(" autolearn")
        .next()
        .unwrap();
    let rules = tests
        .split(',')
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty() && r != "none")
        .collect();
    (score, rules)
}

#[test]
fn spamassassin_finds_nothing_against_the_example_bulletin() {
    spamassassin_finds_nothing(&Project::example(), "c");
}

#[test]
fn spamassassin_finds_nothing_against_the_example_with_clicks_and_opens_tracked_per_member() {
    // Tracked links and the 1x1 open pixel are what bulk-mail filters look hard at.
    let p = Project::example();
    for key in ["clicks", "opens", "per_member"] {
        p.edit(
            "config.toml",
            &format!("\n{key} = false\n"),
            &format!("\n{key} = true\n"),
        );
    }
    spamassassin_finds_nothing(&p, "c");
    let eml = p.read("outbox/c/hannah.obi@example.org.eml");
    assert!(eml.contains("https://example.org/o/") && eml.contains("https://example.org/c/"));
}

#[test]
fn spamassassin_finds_nothing_against_the_example_month_in_markdown() {
    spamassassin_finds_nothing(&Project::with_issues(), "2023-04");
}

#[test]
fn spamassassin_finds_nothing_against_an_mj_preview_on_a_coloured_body() {
    // mjml and mrml 6.0.1 wrote mj-preview's hidden text white: on this grey body
    // SpamAssassin scored it HTML_FONT_LOW_CONTRAST (+0.7).
    let p = Project::example();
    let preview =
        "Programme news, the next Topical Tuesday, awards nominations and our member spotlight.";
    let raw = p
        .read("templates/bulletin.mjml")
        .lines()
        .find(|l| l.contains(preview))
        .unwrap()
        .to_string();
    p.edit("templates/bulletin.mjml", &raw, "");
    p.edit(
        "templates/bulletin.mjml",
        "  </mj-head>",
        &format!("    <mj-preview>{preview}</mj-preview>\n  </mj-head>"),
    );
    assert!(
        p.read("templates/bulletin.mjml")
            .contains("background-color=\"#eef2f4\"")
    );
    spamassassin_finds_nothing(&p, "c");
    let eml = p.read("outbox/c/zoe.hartley@medtech.example.org.eml");
    assert!(
        eml.contains("Programme news, the next Topical"),
        "the preview is sent"
    );
}

#[test]
fn spamassassin_finds_nothing_against_the_parity_fixtures() {
    // Each MJML component as the parity suite renders it (tests/e2e/parity.rs), sent with the
    // footer every bulletin needs (`send` refuses without it).
    let fixtures = repo().join("tests/fixtures/parity");
    let footer = "    <mj-section background-color=\"#ffffff\"><mj-column><mj-text>Northvale Health Technology Cluster, Northvale Innovation Centre, 12 Quayside Road, Northvale NV1 4AB. <a href=\"{{ unsubscribe_url }}\">Unsubscribe</a></mj-text></mj-column></mj-section>\n  </mj-body>";
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "mjml") {
            continue;
        }
        let p = Project::example();
        let mjml = std::fs::read_to_string(&path).unwrap();
        p.write(
            "templates/bulletin.mjml",
            &mjml.replace("  </mj-body>", footer),
        );
        for partial in std::fs::read_dir(fixtures.join("partials")).unwrap() {
            let partial = partial.unwrap().path();
            let name = partial.file_name().unwrap().to_string_lossy().to_string();
            p.write(
                &format!("templates/partials/{name}"),
                &std::fs::read_to_string(&partial).unwrap(),
            );
        }
        let r = p.run(&["send", "--campaign", "c", "--yes"]);
        assert_eq!(r.code, 0, "{}: {}{}", path.display(), r.stdout, r.stderr);
        let (score, rules) = spamassassin(&p.path("outbox/c/zoe.hartley@medtech.example.org.eml"));
        let unexpected: Vec<String> = rules
            .into_iter()
            .filter(|r| !["HTML_MESSAGE", "NO_RECEIVED", "NO_RELAYS"].contains(&r.as_str()))
            .collect();
        if !unexpected.is_empty() || score > 0.0 {
            hits.push(format!(
                "{}: {unexpected:?} (score {score})",
                path.display()
            ));
        }
    }
    assert!(hits.is_empty(), "SpamAssassin scored:\n{}", hits.join("\n"));
}

fn spamassassin_finds_nothing(p: &Project, campaign: &str) {
    assert_eq!(p.run(&["send", "--campaign", campaign, "--yes"]).code, 0);
    // Allowed: HTML_MESSAGE (0.001: any HTML mail) and NO_RECEIVED/NO_RELAYS (-0.001: the file
    // has not passed a relay yet). Anything else scoring is a finding against the bulletin.
    let allowed = ["HTML_MESSAGE", "NO_RECEIVED", "NO_RELAYS"];
    for member in [
        "zoe.hartley@medtech.example.org",
        "lukasz.nowak@example.org",
        "hannah.obi@example.org",
    ] {
        let (score, rules) = spamassassin(&p.path(&format!("outbox/{campaign}/{member}.eml")));
        let unexpected: Vec<&String> = rules
            .iter()
            .filter(|r| !allowed.contains(&r.as_str()))
            .collect();
        assert!(
            unexpected.is_empty(),
            "{member}: SpamAssassin hit {unexpected:?} (score {score})"
        );
        assert!(score <= 0.0, "{member}: score {score}");
    }
}

#[test]
fn member_data_in_the_subject_and_the_to_name_displays_as_typed_and_never_makes_an_overlong_line() {
    let p = Project::example();
    // A value shaped like an RFC 2047 encoded word ("PayPal: your account is locked" in
    // base64) and one word of 1,000 characters (the longest a field may be), in the subject
    // and in the name the To header carries.
    let lure = "=?utf-8?b?UGF5UGFsOiB5b3VyIGFjY291bnQgaXMgbG9ja2Vk?=";
    let long = "x".repeat(1000);
    p.write(
        "lists/members.csv",
        &format!(
            "email,first_name,last_name,organisation\nann@example.org,{lure},Lee,Org\nbob@example.org,Bob,{long},{long}\n"
        ),
    );
    let r = p.run(&[
        "send",
        "--campaign",
        "c",
        "--yes",
        "--subject",
        "News for {{ first_name }} of {{ organisation }}",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let results = check_all(&p.path("outbox/c"), &[]);
    let subjects: Vec<&str> = results
        .iter()
        .map(|r| r["headers"]["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        subjects,
        vec![
            format!("News for {lure} of Org"),
            format!("News for Bob of {long}")
        ]
    );
    for r in &results {
        assert_eq!(r["defects"], serde_json::json!([]), "{r}");
        assert_eq!(r["long_lines"], 0, "{r}");
    }
}
