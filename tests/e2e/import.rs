//! `mailshot import`: every export format generated here, the report, duplicates,
//! suppressions, `--replace`, atomicity, and arbitrary bytes.

use std::collections::HashSet;
use std::path::Path;

use mailshot::list::MemberList;
use mailshot::list::import::{Options, import};
use proptest::prelude::*;

use crate::support::Project;

/// Windows-1252 bytes for text (the characters used here all exist in it).
fn cp1252(s: &str) -> Vec<u8> {
    let (bytes, _, bad) = encoding_rs::WINDOWS_1252.encode(s);
    assert!(!bad);
    bytes.into_owned()
}

fn utf16(s: &str, big_endian: bool) -> Vec<u8> {
    let mut out = if big_endian {
        vec![0xFE, 0xFF]
    } else {
        vec![0xFF, 0xFE]
    };
    for u in s.encode_utf16() {
        out.extend(if big_endian {
            u.to_be_bytes()
        } else {
            u.to_le_bytes()
        });
    }
    out
}

/// An empty project: no member list yet.
fn project() -> Project {
    let p = Project::example();
    std::fs::remove_file(p.path("lists/members.csv")).unwrap();
    p
}

fn list_rows(p: &Project) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(p.path("lists/members.csv")).unwrap();
    let mut rows = vec![
        r.headers()
            .unwrap()
            .iter()
            .map(String::from)
            .collect::<Vec<_>>(),
    ];
    rows.extend(
        r.records()
            .map(|x| x.unwrap().iter().map(String::from).collect()),
    );
    rows
}

const EXPORT: &str = "E-mail Address,Forename,Surname,Company,Job Title\r\n\
    zoe@MedTech.Example.ORG,Zoë,Hartley,\"Hartley, Medical\",CEO\r\n\
    \"\"\"Siân Pritchard\"\" <sian@example.org>\",,,\"Pritchard \"\"Digital\"\" Health\",\r\n";

fn expected() -> Vec<Vec<String>> {
    [
        vec![
            "email",
            "first_name",
            "last_name",
            "organisation",
            "job_title",
        ],
        vec![
            "zoe@medtech.example.org",
            "Zoë",
            "Hartley",
            "Hartley, Medical",
            "CEO",
        ],
        vec![
            "sian@example.org",
            "Siân",
            "Pritchard",
            "Pritchard \"Digital\" Health",
            "",
        ],
    ]
    .iter()
    .map(|r| r.iter().map(|s| s.to_string()).collect())
    .collect()
}

#[test]
fn every_export_format_gives_the_same_clean_list() {
    let semicolons = EXPORT
        .replace(',', ";")
        .replace("Hartley; Medical", "Hartley, Medical");
    let tabs = EXPORT
        .replace(',', "\t")
        .replace("Hartley\t Medical", "Hartley, Medical");
    let formats: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "utf8.csv",
            EXPORT.as_bytes().to_vec(),
            "UTF-8, delimiter `,`",
        ),
        (
            "utf8-bom.csv",
            [&[0xEF, 0xBB, 0xBF][..], EXPORT.as_bytes()].concat(),
            "UTF-8, delimiter `,`",
        ),
        (
            "lf.csv",
            EXPORT.replace("\r\n", "\n").into_bytes(),
            "UTF-8, delimiter `,`",
        ),
        (
            "semicolon-1252.csv",
            cp1252(&semicolons),
            "windows-1252, delimiter `;`",
        ),
        (
            "excel-unicode.txt",
            utf16(&tabs, false),
            "UTF-16LE, delimiter tab",
        ),
        ("utf16be.txt", utf16(&tabs, true), "UTF-16BE, delimiter tab"),
        (
            "blank-lines.csv",
            EXPORT.replace("\r\n", "\r\n\r\n,,,,\r\n").into_bytes(),
            "UTF-8, delimiter `,`",
        ),
        // Excel keeps formatted-but-empty columns: empty headers, empty cells.
        (
            "trailing-columns.csv",
            EXPORT.replace("\r\n", ",,\r\n").into_bytes(),
            "UTF-8, delimiter `,`",
        ),
    ];
    for (name, bytes, seen) in formats {
        let p = project();
        p.write(name, "");
        std::fs::write(p.path(name), &bytes).unwrap();
        let r = p.run(&["import", name]);
        assert_eq!(r.code, 0, "{name}: {}{}", r.stdout, r.stderr);
        assert_eq!(
            r.stdout,
            format!(
                "read `{name}` as {seen}\n2 rows read: 2 added, 0 updated, 0 unchanged, 0 duplicates, 0 rejected, 0 suppressed\n\
                 wrote `lists/members.csv`: 2 members\n"
            ),
            "{name}"
        );
        assert_eq!(list_rows(&p), expected(), "{name}");
    }
}

#[test]
fn overrides_beat_detection() {
    let p = project();
    // Latin-1 bytes that happen to be valid UTF-8 would fool detection; --encoding decides.
    std::fs::write(
        p.path("x.csv"),
        cp1252("email|first_name\nann@example.org|Ann\n"),
    )
    .unwrap();
    let r = p.run(&[
        "import",
        "x.csv",
        "--delimiter",
        "|",
        "--encoding",
        "latin1",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .starts_with("read `x.csv` as windows-1252, delimiter `|`\n"),
        "{}",
        r.stdout
    );
    assert_eq!(list_rows(&p)[1], vec!["ann@example.org", "Ann"]);
    let r = p.run(&["import", "x.csv", "--encoding", "klingon"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("unknown encoding `klingon`"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_file_without_an_email_column_is_refused_naming_its_headers() {
    let p = project();
    p.write("x.csv", "Name,Phone\nAnn,123\n");
    let r = p.run(&["import", "x.csv"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "error: `x.csv` has no email column (headers found: `Name`, `Phone`)\n"
    );
    assert!(!p.path("lists/members.csv").exists());
}

#[test]
fn bad_rows_are_reported_with_file_line_and_reason_and_the_rest_imported() {
    let p = project();
    let long = "x".repeat(1001);
    p.write(
        "raw.csv",
        &format!(
            "Email,First Name,Notes\n\
             ok@example.org,Ok,\n\
             bob@@example.org,Bob,\n\
             ,Nobody,\n\
             multi@example.org,\"Mul\ntiple\",\"two\nlines\"\n\
             ctl@example.org,Ctl\u{7},\n\
             long@example.org,{long},\n\
             idn@bücher.example,Idn,\n\
             extra@example.org,Extra,,surplus\n\
             last@example.org,Last,\n\
             addr@example.org,Addr,\"1 High St\r\n\r\n  London \"\n"
        ),
    );
    let r = p.run(&["import", "raw.csv", "--report", "rejected.csv"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stdout.contains(
            "10 rows read: 4 added, 0 updated, 0 unchanged, 0 duplicates, 6 rejected, 0 suppressed\n\
             wrote `lists/members.csv`: 4 members\n\
             1 row changed:\n  \
             raw.csv line 13: line breaks turned into spaces in `notes`\n\
             rejected rows:\n"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("every rejected row is in `rejected.csv`"),
        "{}",
        r.stdout
    );
    let mut report = csv::Reader::from_path(p.path("rejected.csv")).unwrap();
    assert_eq!(
        report.headers().unwrap(),
        vec!["file", "line", "action", "reason", "record"]
    );
    let rows: Vec<(String, String, String)> = report
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[0].to_string(),
                r[1].to_string(),
                format!("{}: {}", &r[2], &r[3]),
            )
        })
        .collect();
    let expect = [
        (
            "3",
            "field `email`: `bob@@example.org` is not a valid address: Invalid email user",
        ),
        ("4", "field `email`: the address is empty"),
        ("5", "field `first_name` contains a line break"),
        (
            "8",
            "field `first_name` contains the control character U+0007",
        ),
        ("9", "field `first_name` is longer than 1000 characters"),
        ("11", "found 4 fields, the header has 3"),
    ];
    let expect = expect
        .map(|(line, reason)| (line, format!("rejected: {reason}")))
        .into_iter()
        .chain([(
            "13",
            "changed: line breaks turned into spaces in `notes`".to_string(),
        )]);
    assert_eq!(rows.len(), 7, "{rows:?}");
    for ((file, line, reason), (eline, ereason)) in rows.iter().zip(expect) {
        assert_eq!(
            (file.as_str(), line.as_str(), reason.as_str()),
            ("raw.csv", eline, ereason.as_str())
        );
    }
    let rows = list_rows(&p);
    let emails: Vec<&str> = rows.iter().skip(1).map(|r| r[0].as_str()).collect();
    assert_eq!(
        emails,
        vec![
            "ok@example.org",
            "idn@bücher.example",
            "last@example.org",
            "addr@example.org"
        ]
    );
    assert_eq!(
        rows[4],
        vec!["addr@example.org", "Addr", "1 High St London"]
    );
    // And `send` accepts what import wrote (the list has no organisation column: give one).
    let r = p.run(&[
        "send",
        "--campaign",
        "c",
        "--dry-run",
        "--var",
        "organisation=Member",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn duplicates_merge_later_non_empty_values_over_earlier_ones() {
    let p = project();
    p.write("lists/members.csv", "email,first_name,last_name,organisation\nann@example.org,Ann,Lee,Old Org\nkeep@example.org,Keep,Me,K\n");
    p.write(
        "a.csv",
        "Email,First Name,Company,Phone\nANN@example.org,,New Org,111\nbob@example.org,Bob,B Ltd,\nbob@EXAMPLE.org,Robert,,222\n",
    );
    p.write(
        "b.csv",
        "email;surname\nbob@example.org;Brown\nkeep@example.org;Me\n",
    );
    let r = p.run(&["import", "a.csv", "b.csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(
            "5 rows read: 1 added, 1 updated, 1 unchanged, 2 duplicates, 0 rejected, 0 suppressed\n"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("wrote `lists/members.csv`: 3 members\n"),
        "{}",
        r.stdout
    );
    let rows = list_rows(&p);
    assert_eq!(
        rows[0],
        vec!["email", "first_name", "last_name", "organisation", "phone"]
    );
    assert_eq!(
        rows[1],
        vec!["ann@example.org", "Ann", "Lee", "New Org", "111"]
    );
    assert_eq!(rows[2], vec!["keep@example.org", "Keep", "Me", "K", ""]);
    assert_eq!(
        rows[3],
        vec!["bob@example.org", "Robert", "Brown", "B Ltd", "222"]
    );
}

#[test]
fn suppressed_addresses_are_never_added_again() {
    let p = project();
    p.write(
        "lists/members.csv",
        "email,first_name\nann@example.org,Ann\ngone@example.org,Gone\n",
    );
    let r = p.run(&[
        "suppress",
        "add",
        "Gone@Example.org",
        "eve@example.org",
        "--reason",
        "unsubscribed",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "suppressed Gone@example.org (unsubscribed)\nsuppressed eve@example.org (unsubscribed)\n"
    );
    p.write(
        "crm.csv",
        "Email,First Name\neve@EXAMPLE.org,Eve\ngone@example.org,Gone\nnew@example.org,New\n",
    );
    // First: two import rows suppressed, and the suppressed member on the list taken off it.
    for took in ["took 1 suppressed member off the list\n", ""] {
        let r = p.run(&["import", "crm.csv"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(
            r.stdout
                .contains(&format!(", 2 suppressed\n{took}kept 1 member not")),
            "{}",
            r.stdout
        );
        let emails: Vec<String> = list_rows(&p).iter().skip(1).map(|r| r[0].clone()).collect();
        assert_eq!(emails, vec!["ann@example.org", "new@example.org"]);
    }
    let r = p.run(&["import", "crm.csv", "--replace"]);
    assert_eq!(r.code, 0);
    let emails: Vec<String> = list_rows(&p).iter().skip(1).map(|r| r[0].clone()).collect();
    assert_eq!(emails, vec!["new@example.org"]);
    let list = p.run(&["suppress", "list"]);
    assert!(
        list.stdout.starts_with(
            "email,reason,source,at\ngone@example.org,unsubscribed,mailshot suppress add,"
        ),
        "{}",
        list.stdout
    );
}

#[test]
fn replace_reports_who_dropped_out_and_dry_run_writes_nothing() {
    let p = project();
    let original =
        "email,first_name\nann@example.org,Ann\nbob@example.org,Bob\ncy@example.org,Cy\n";
    p.write("lists/members.csv", original);
    p.write(
        "new.csv",
        "email,first_name\nbob@example.org,Bob\ndee@example.org,Dee\n",
    );
    let r = p.run(&["import", "new.csv", "--replace", "--dry-run"]);
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stdout,
        "read `new.csv` as UTF-8, delimiter `,`\n2 rows read: 1 added, 0 updated, 1 unchanged, 0 duplicates, 0 rejected, 0 suppressed\n\
         dropped 2 members not in this import: ann@example.org, cy@example.org\n\
         dry run: `lists/members.csv` would have 2 members; nothing was written\n"
    );
    assert_eq!(p.read("lists/members.csv"), original);
    let r = p.run(&["import", "new.csv", "--replace"]);
    assert_eq!(r.code, 0);
    assert_eq!(
        p.read("lists/members.csv"),
        "email,first_name\nbob@example.org,Bob\ndee@example.org,Dee\n"
    );
}

#[test]
fn killing_an_import_midway_never_leaves_a_half_written_list() {
    let p = project();
    let original = "email,first_name\nann@example.org,Ann\n";
    p.write("lists/members.csv", original);
    let mut big = String::from("email,first_name,organisation\n");
    for i in 0..150_000 {
        big.push_str(&format!("member{i}@example.org,Name{i},Org {i}\n"));
    }
    p.write("big.csv", &big);
    let mut saw_old = false;
    let mut saw_new = false;
    for delay_ms in [20u64, 300, 900, 1800, 5000] {
        p.write("lists/members.csv", original);
        let mut child = std::process::Command::new(crate::support::BIN)
            .args(["import", "big.csv"])
            .current_dir(p.dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let now = p.read("lists/members.csv");
        if now == original {
            saw_old = true;
        } else {
            // Complete: the old member plus all 150,000, each a valid row.
            let rows: Vec<_> = MemberList::open(&p.path("lists/members.csv"))
                .unwrap()
                .rows()
                .unwrap()
                .collect();
            assert_eq!(rows.len(), 150_001, "after {delay_ms} ms");
            assert!(rows.iter().all(|r| r.is_ok()));
            saw_new = true;
        }
    }
    assert!(saw_old, "at least one kill landed before the rename");
    let _ = saw_new;
    // The next import cleans up what a killed one left and succeeds.
    let r = p.run(&["import", "big.csv"]);
    assert_eq!(r.code, 0);
    let leftovers: Vec<_> = std::fs::read_dir(p.path("lists"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "members.csv")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn import_bytes(bytes: &[u8]) -> (mailshot::list::import::Summary, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw.csv");
    std::fs::write(&raw, bytes).unwrap();
    let opts = Options {
        inputs: vec![raw],
        into: dir.path().join("members.csv"),
        replace: false,
        dry_run: false,
        report: Some(dir.path().join("report.csv")),
        delimiter: None,
        encoding: None,
        columns: Default::default(),
        sheet: None,
        memory_limit: mailshot::list::import::MEMORY_LIMIT,
    };
    match import(&opts, &HashSet::new(), &mut |_| Ok(())) {
        Ok(s) => (s, dir),
        // Refusing a file (no email column) is fine: then no list may have been written.
        Err(_) => {
            assert!(!dir.path().join("members.csv").exists());
            (Default::default(), dir)
        }
    }
}

fn assert_clean_list(dir: &Path) {
    let path = dir.join("members.csv");
    if !path.exists() {
        return;
    }
    let list = MemberList::open(&path).expect("the written list has a valid header");
    for row in list.rows().unwrap() {
        let m = row.expect("every written row passes send's checks");
        assert!(m.email.parse::<lettre::Address>().is_ok());
    }
}

/// Bytes that look like a CSV export: headers, addresses, junk, quotes, delimiters, BOMs.
fn csvish() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"Email".to_vec()),
        Just(b"E-mail Address".to_vec()),
        Just(b"First Name".to_vec()),
        Just(b"ann@example.org".to_vec()),
        Just(b"ANN@Example.org".to_vec()),
        Just(b"Bob <bob@example.org>".to_vec()),
        Just(b"x@@y".to_vec()),
        Just(b"@".to_vec()),
        Just(b",".to_vec()),
        Just(b";".to_vec()),
        Just(b"\t".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(vec![0xEF, 0xBB, 0xBF]),
        Just(vec![0xFF, 0xFE]),
        Just(vec![0xE9]),
        Just(vec![0]),
        proptest::collection::vec(any::<u8>(), 0..8),
    ];
    proptest::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_nor_write_an_invalid_address(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
        let (_, dir) = import_bytes(&bytes);
        assert_clean_list(dir.path());
    }

    #[test]
    fn csv_like_junk_never_panics_nor_writes_an_invalid_address(bytes in csvish()) {
        let (s, dir) = import_bytes(&[b"email,first_name\n".as_slice(), &bytes].concat());
        assert_clean_list(dir.path());
        // Every row read is accounted for exactly once (no list existed, nothing is suppressed).
        prop_assert_eq!(s.read, s.added + s.duplicates + s.rejected);
        prop_assert_eq!(s.members, s.added);
    }

    #[test]
    fn the_counts_always_add_up_to_the_rows_read(bytes in csvish()) {
        // An existing list, a suppressed address, an opt-out column: every row still counted once.
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("raw.csv");
        std::fs::write(&raw, [b"email,first_name,unsubscribed\n".as_slice(), &bytes].concat()).unwrap();
        let into = dir.path().join("members.csv");
        std::fs::write(&into, "email,first_name\nann@example.org,Ann\nbob@example.org,Bob\n").unwrap();
        let opts = Options {
            inputs: vec![raw],
            into,
            replace: false,
            dry_run: false,
            report: None,
            delimiter: None,
            encoding: None,
            columns: Default::default(),
            sheet: None,
            memory_limit: mailshot::list::import::MEMORY_LIMIT,
        };
        let suppressed: HashSet<String> = ["bob@example.org".to_string()].into();
        if let Ok(s) = import(&opts, &suppressed, &mut |_| Ok(())) {
            prop_assert_eq!(
                s.read,
                s.added + s.updated + s.unchanged + s.duplicates + s.rejected + s.suppressed
            );
            prop_assert_eq!(s.members, s.added + s.updated + s.unchanged + s.not_in_import);
        }
    }
}

/// The suppression list as (email, reason, source) rows.
fn suppressions(p: &Project) -> Vec<(String, String, String)> {
    let r = p.run(&["suppress", "list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut rows = csv::Reader::from_reader(r.stdout.as_bytes());
    rows.records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_string(), r[1].to_string(), r[2].to_string())
        })
        .collect()
}

#[test]
fn suppress_import_reads_quoted_commas_any_encoding_and_names_bad_lines() {
    let p = project();
    // A quoted comma in the name column used to shift Ann's address out of its column.
    std::fs::write(
        p.path("unsub.csv"),
        cp1252("Name;Email\r\n\"Lee; Ann\";ann@example.org\r\nZoë Hartley;zoe@example.org\r\nBob;bob@@example.org\r\n"),
    )
    .unwrap();
    let r = p.run(&["suppress", "import", "unsub.csv"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "suppressed 2 addresses (0 already suppressed, 1 not valid)\n"
    );
    assert_eq!(
        r.stderr,
        "`unsub.csv` line 4: `bob@@example.org` is not a valid address: Invalid email user\n"
    );
    let source = "mailshot suppress import unsub.csv".to_string();
    assert_eq!(
        suppressions(&p),
        vec![
            (
                "ann@example.org".into(),
                "unsubscribed".into(),
                source.clone()
            ),
            ("zoe@example.org".into(), "unsubscribed".into(), source),
        ]
    );
    p.write("commas.csv", "Name,Email\n\"Lee, Cy\",cy@example.org\n");
    let r = p.run(&["suppress", "import", "commas.csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "suppressed 1 address (0 already suppressed, 0 not valid)\n"
    );
    assert_eq!(suppressions(&p)[2].0, "cy@example.org");
    // One address per line, no header; a `Name <addr>` line gives its address.
    p.write(
        "plain.txt",
        "dee@example.org\n\n\"Eve E\" <eve@example.org>\nann@example.org\n",
    );
    let r = p.run(&["suppress", "import", "plain.txt"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "suppressed 2 addresses (1 already suppressed, 0 not valid)\n"
    );
    p.write("noemail.csv", "Name,Phone\nAnn,123\n");
    let r = p.run(&["suppress", "import", "noemail.csv"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "error: `noemail.csv` line 1: no email column (headers found: `Name`, `Phone`)\n"
    );
}

#[test]
fn crm_opt_out_columns_suppress_the_member_instead_of_becoming_a_variable() {
    let p = project();
    p.write(
        "lists/members.csv",
        "email,first_name\nann@example.org,Ann\nbob@example.org,Bob\ncy@example.org,Cy\n",
    );
    // Salesforce's flag, and HubSpot-like values in another file.
    p.write(
        "sf.csv",
        "Email,First Name,HasOptedOutOfEmail\nann@example.org,Ann,false\nBOB@example.org,Bob,TRUE\nnew@example.org,New,\nnew2@example.org,New2,x\nodd@example.org,Odd,maybe\n",
    );
    p.write(
        "hub.csv",
        "Email;Email Opt Out\ncy@example.org;No\nnew@example.org;Yes\n",
    );
    let r = p.run(&["import", "sf.csv", "hub.csv", "--report", "report.csv"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "read `sf.csv` as UTF-8, delimiter `,`\n\
         read `hub.csv` as UTF-8, delimiter `;`\n\
         7 rows read: 0 added, 0 updated, 2 unchanged, 0 duplicates, 1 rejected, 4 suppressed\n\
         3 rows opted out (`HasOptedOutOfEmail`, `Email Opt Out`): are now suppressed (unsubscribed), never listed\n\
         took 1 suppressed member off the list\n\
         wrote `lists/members.csv`: 2 members\n\
         rejected rows:\n  \
         sf.csv line 6: field `HasOptedOutOfEmail` (an opt-out column): `maybe` is neither yes nor no\n\
         every rejected row is in `report.csv`\n"
    );
    // The opt-out column is not a template variable; the opted-out are off the list.
    assert_eq!(
        p.read("lists/members.csv"),
        "email,first_name\nann@example.org,Ann\ncy@example.org,Cy\n"
    );
    assert_eq!(
        suppressions(&p),
        vec![
            (
                "bob@example.org".into(),
                "unsubscribed".into(),
                "mailshot import sf.csv line 3".into()
            ),
            (
                "new2@example.org".into(),
                "unsubscribed".into(),
                "mailshot import sf.csv line 5".into()
            ),
            (
                "new@example.org".into(),
                "unsubscribed".into(),
                "mailshot import hub.csv line 3".into()
            ),
        ]
    );
    let report = p.read("report.csv");
    assert!(
        report.starts_with(
            "file,line,action,reason,record\n\
             sf.csv,3,suppressed,field `HasOptedOutOfEmail` is `TRUE`: `BOB@example.org` suppressed (unsubscribed),\"BOB@example.org,Bob,TRUE\"\n"
        ),
        "{report}"
    );
    // A later import without the column does not bring them back.
    p.write("again.csv", "email\nbob@example.org\nnew@example.org\n");
    let r = p.run(&["import", "again.csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(", 2 suppressed\n"), "{}", r.stdout);
    assert!(!p.read("lists/members.csv").contains("bob@"));
    // A dry run suppresses nothing and says so.
    p.write("dry.csv", "email,unsubscribed\ncy@example.org,1\n");
    let r = p.run(&["import", "dry.csv", "--dry-run"]);
    assert!(
        r.stdout.contains(
            "1 row opted out (`unsubscribed`): would be suppressed (unsubscribed), never listed\n"
        ),
        "{}",
        r.stdout
    );
    assert_eq!(suppressions(&p).len(), 3);
}

#[test]
fn the_report_neutralises_cells_a_spreadsheet_would_run_as_formulas() {
    let p = project();
    p.write(
        "=evil.csv",
        "email,first_name\n\"=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",Eve\n@SUM(A1),At\n+1@@x.org,Plus\n-1@@x.org,Minus\n",
    );
    let r = p.run(&["import", "=evil.csv", "--report", "report.csv"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let mut report = csv::Reader::from_path(p.path("report.csv")).unwrap();
    let cells: Vec<(String, String, String)> = report
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[0].to_string(),
                r[3].chars().take(2).collect(),
                r[4].to_string(),
            )
        })
        .collect();
    assert_eq!(
        cells,
        vec![
            // Re-joined as CSV it starts with a quote: text to a spreadsheet already.
            (
                "'=evil.csv".into(),
                "fi".into(),
                "\"=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",Eve".into()
            ),
            ("'=evil.csv".into(), "fi".into(), "'@SUM(A1),At".into()),
            ("'=evil.csv".into(), "fi".into(), "'+1@@x.org,Plus".into()),
            ("'=evil.csv".into(), "fi".into(), "'-1@@x.org,Minus".into()),
        ]
    );
}

#[test]
fn named_columns_read_exports_whose_headers_cannot_be_guessed() {
    let p = project();
    // Google Contacts' CSV export.
    p.write(
        "contacts.csv",
        "Name,Given Name,Family Name,E-mail 1 - Type,E-mail 1 - Value,Phone 1 - Value\n\
         Ann Lee,Ann,Lee,* Home,ann@example.org,123\n\
         Bob Roe,Robert,Roe,* Work,bob@example.org,\n",
    );
    let r = p.run(&["import", "contacts.csv"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("has no email column"), "{}", r.stderr);
    let r = p.run(&[
        "import",
        "contacts.csv",
        "--email-column",
        "E-mail 1 - Value",
        "--first-name-column",
        "name",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        p.read("lists/members.csv"),
        "email,first_name,last_name,given_name,e_mail_1_type,phone_1_value\n\
         ann@example.org,Ann Lee,Lee,Ann,* Home,123\n\
         bob@example.org,Bob Roe,Roe,Robert,* Work,\n"
    );
    let r = p.run(&["import", "contacts.csv", "--email-column", "Mail"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "error: `contacts.csv` has no column `Mail` (given by --email-column; headers found: \
         `Name`, `Given Name`, `Family Name`, `E-mail 1 - Type`, `E-mail 1 - Value`, `Phone 1 - Value`)\n"
    );
    // A family-name header nothing would guess, named; it is not a variable of its own then.
    p.write("crm.csv", "Mail,Legal Surname\ncy@example.org,Lee\n");
    let r = p.run(&[
        "import",
        "crm.csv",
        "--into",
        "lists/crm.csv",
        "--email-column",
        "Mail",
        "--last-name-column",
        "Legal Surname",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        p.read("lists/crm.csv"),
        "email,last_name\ncy@example.org,Lee\n"
    );
}

#[test]
fn an_encoding_that_does_not_fit_the_bytes_is_an_error_naming_the_line() {
    let p = project();
    let original = "email,first_name\nzoe@example.org,Zoe\n";
    p.write("lists/members.csv", original);
    std::fs::write(
        p.path("x.csv"),
        cp1252("email,first_name\nann@example.org,Ann\nzoe@example.org,Zoë\n"),
    )
    .unwrap();
    let r = p.run(&["import", "x.csv", "--encoding", "utf-8"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert_eq!(
        r.stderr,
        "error: failed to read `x.csv`: line 3: bytes that are not valid UTF-8 \
         (give the file's encoding with --encoding, e.g. windows-1252)\n"
    );
    assert_eq!(r.stdout, "");
    assert_eq!(p.read("lists/members.csv"), original, "not a silent update");
    // UTF-16 with its BOM, ending in half a character.
    let mut bytes = vec![0xFF, 0xFE];
    for u in "email\nann@example.org\n".encode_utf16() {
        bytes.extend(u.to_le_bytes());
    }
    bytes.extend([0x00, 0xD8, b'a', 0]); // an unpaired surrogate
    std::fs::write(p.path("y.txt"), bytes).unwrap();
    let r = p.run(&["import", "y.txt"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr.starts_with(
            "error: failed to read `y.txt`: line 3: bytes that are not valid UTF-16LE"
        ),
        "{}",
        r.stderr
    );
    let r = p.run(&["suppress", "import", "x.csv", "--encoding", "utf-8"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .starts_with("error: failed to read `x.csv`: line 3: bytes that are not valid UTF-8"),
        "{}",
        r.stderr
    );
}

#[test]
fn one_of_a_thing_is_singular() {
    let p = project();
    p.write("one.csv", "email\nann@example.org\nANN@example.org\n");
    let r = p.run(&["import", "one.csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "read `one.csv` as UTF-8, delimiter `,`\n\
         2 rows read: 1 added, 0 updated, 0 unchanged, 1 duplicate, 0 rejected, 0 suppressed\n\
         wrote `lists/members.csv`: 1 member\n"
    );
    p.write("two.csv", "email\nbob@example.org\n");
    let r = p.run(&["import", "two.csv", "--replace", "--dry-run"]);
    assert_eq!(
        r.stdout,
        "read `two.csv` as UTF-8, delimiter `,`\n\
         1 row read: 1 added, 0 updated, 0 unchanged, 0 duplicates, 0 rejected, 0 suppressed\n\
         dropped 1 member not in this import: ann@example.org\n\
         dry run: `lists/members.csv` would have 1 member; nothing was written\n"
    );
}

/// Writes an .xlsx workbook with openpyxl (tests/support/requirements.txt): a `Members` sheet
/// with a blank first row, a date, a number, a boolean opt-out, and an `Events` sheet.
fn workbook(path: &Path) {
    let script = r#"
import datetime, sys, openpyxl
wb = openpyxl.Workbook()
ws = wb.active
ws.title = "Members"
ws.append([])
ws.append(["E-mail Address", "First Name", "Joined", "Member No", "Email Opt Out", "Notes"])
ws.append(["ann@example.org", "Ann", datetime.date(2024, 3, 1), 42, False, "line one\nline two"])
ws.append(["bob@example.org", "Bob", datetime.date(2023, 12, 31), 7.5, True, None])
ws.append(["Cy <cy@example.org>", None, None, None, None, "VIP"])
ev = wb.create_sheet("Events")
ev.append(["email", "event"])
ev.append(["dee@example.org", "AGM"])
wb.save(sys.argv[1])
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "openpyxl is needed (run tests/install-deps.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn xlsx_workbooks_are_read_by_content_and_other_binaries_refused() {
    let p = project();
    // Named .csv, as happens: recognised by its content, not its name.
    workbook(&p.path("crm-export.csv"));
    let r = p.run(&["import", "crm-export.csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "read `crm-export.csv`, sheet `Members`\n\
         3 rows read: 2 added, 0 updated, 0 unchanged, 0 duplicates, 0 rejected, 1 suppressed\n\
         1 row opted out (`Email Opt Out`): are now suppressed (unsubscribed), never listed\n\
         wrote `lists/members.csv`: 2 members\n\
         1 row changed:\n  \
         crm-export.csv line 3: line breaks turned into spaces in `notes`\n"
    );
    assert_eq!(
        p.read("lists/members.csv"),
        "email,first_name,last_name,joined,member_no,notes\n\
         ann@example.org,Ann,,2024-03-01,42,line one line two\n\
         cy@example.org,Cy,,,,VIP\n"
    );
    assert_eq!(
        suppressions(&p)[0].2,
        "mailshot import crm-export.csv line 4"
    );
    let r = p.run(&["import", "crm-export.csv", "--sheet", "Events"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .starts_with("read `crm-export.csv`, sheet `Events`\n1 row read: 1 added"),
        "{}",
        r.stdout
    );
    let r = p.run(&["import", "crm-export.csv", "--sheet", "Nope"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "error: `crm-export.csv` has no sheet `Nope` (sheets: `Members`, `Events`)\n"
    );
    // Excel 97-2003, a zip that is no workbook, and binary junk: refused, never read as text.
    let mut xls = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    xls.extend([0u8; 600]);
    std::fs::write(p.path("old.xls"), xls).unwrap();
    let r = p.run(&["import", "old.xls"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "error: `old.xls` is an Excel 97-2003 workbook (.xls), which mailshot does not read: \
         save it as CSV (or .xlsx) and import that\n"
    );
    std::fs::write(p.path("junk.zip"), b"PK\x03\x04\x14\x00\x00\x00junk").unwrap();
    let r = p.run(&["import", "junk.zip"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .starts_with("error: `junk.zip` is a zip archive but not an .xlsx workbook")
            && r.stderr.ends_with("save it as CSV and import that\n"),
        "{}",
        r.stderr
    );
    std::fs::write(
        p.path("image.png"),
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR email,x",
    )
    .unwrap();
    let r = p.run(&["import", "image.png"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "error: `image.png` is not text (it holds NUL bytes): if it is a spreadsheet, save it as \
         CSV and import that; if it is UTF-16 without a BOM, give --encoding utf-16le\n"
    );
    assert_eq!(r.stdout, "");
}

#[test]
fn the_merge_compares_addresses_by_their_key() {
    let p = project();
    // Precomposed and decomposed Ü, upper and lower case: one member.
    p.write(
        "k.csv",
        "email,first_name\nÜnal@Example.org,Ünal\nu\u{308}nal@example.org,\nZOE@example.org,Zoe\n",
    );
    let r = p.run(&["import", "k.csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(
            "3 rows read: 2 added, 0 updated, 0 unchanged, 1 duplicate, 0 rejected, 0 suppressed\n"
        ),
        "{}",
        r.stdout
    );
    assert_eq!(
        p.read("lists/members.csv"),
        "email,first_name\nÜnal@example.org,Ünal\nZOE@example.org,Zoe\n"
    );
}
