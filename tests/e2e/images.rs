//! Local images (`images/x.png` in a Markdown issue or the MJML): published under a
//! content-hashed name at `[web] base_url`, sized from the file, checked, frozen with the
//! campaign, stored and served by `mailshot serve`.

use std::process::Command;

use mail_parser::MessageParser;
use sha2::{Digest, Sha256};

use crate::support::Project;
use crate::unsubscribe::Service;

/// A real PNG, `width` x `height`, one colour (stored deflate blocks: no compressor needed).
fn png(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut c = 0xffff_ffffu32;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend(kind);
        out.extend(data);
        let crc = crc32(&out[start..]);
        out.extend(crc.to_be_bytes());
    }
    // Each row: filter byte 0, then its pixels.
    let row: Vec<u8> = std::iter::once(0)
        .chain(rgb.iter().copied().cycle().take(3 * width as usize))
        .collect();
    let raw = row.repeat(height as usize);
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<_> = raw.chunks(65535).collect();
    for (i, b) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        z.extend((b.len() as u16).to_le_bytes());
        z.extend((!(b.len() as u16)).to_le_bytes());
        z.extend(*b);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &x in &raw {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    z.extend(((b << 16) | a).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// The name `bytes` is published under as `stem`.`ext`.
fn published(stem: &str, ext: &str, bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{stem}-{}.{ext}", &hex[..10])
}

const ISSUE: &str =
    "Dear {{ first_name or \"colleague\" }},\n\n![Our new banner](images/x.png)\n\nThat is all.\n";

/// The example project with campaign `c` a Markdown issue using `images/x.png` (line 3).
fn project(image: &[u8]) -> Project {
    let p = Project::example();
    p.write("issues/c.md", ISSUE);
    std::fs::write(p.path("images/x.png"), image).unwrap();
    p
}

pub(crate) fn html_of(p: &Project, rel: &str) -> String {
    let eml = std::fs::read(p.path(rel)).unwrap();
    let m = MessageParser::default().parse(&eml).unwrap();
    m.body_html(0).unwrap().into_owned()
}

#[test]
fn a_markdown_image_is_sent_at_its_published_address_with_the_files_width() {
    let image = png(120, 30, [11, 110, 116]);
    let p = project(&image);
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let html = html_of(&p, "outbox/c/zoe.hartley@medtech.example.org.eml");
    let url = format!(
        "https://example.org/bulletins/images/{}",
        published("x", "png", &image)
    );
    let tag = html
        .split("<img")
        .find(|t| t.contains("alt=\"Our new banner\""))
        .expect("the image is in the message");
    let tag = &tag[..tag.find('>').unwrap()];
    assert!(tag.contains(&format!("src=\"{url}\"")), "{tag}");
    assert!(tag.contains("width=\"120\""), "{tag}");
    // No fixed height: a phone scales the width down and the height with it.
    assert!(tag.contains("height=\"auto\""), "{tag}");
    assert!(!html.contains("images/x.png"));
}

/// `[web] base_url` replaced by `instead`: a sender with no public host, so no web edition
/// either, and the layout's link to it goes too.
fn without_base_url(p: &Project, instead: &str) {
    p.edit(
        "config.toml",
        "\nbase_url = \"https://example.org\"\n",
        instead,
    );
    p.edit(
        "templates/layout.mjml",
        " · <a href=\"{{ web_url }}\">View this issue in your browser</a>",
        "",
    );
}

#[test]
fn without_a_base_url_check_and_send_name_the_image_and_its_line() {
    let p = project(&png(4, 4, [0, 0, 0]));
    without_base_url(&p, "\n");
    let message = "error: issue `issues/c.md` line 3: local image `images/x.png` has nowhere to be published: set `[web] base_url` in the config (where `mailshot serve` answers), or give the image's full address";
    let r = p.run(&["check", "--campaign", "c"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, format!("{message}\ncheck: 1 error, 0 warnings\n"));
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .ends_with(&format!("{message}\nnothing was sent: 1 problem found\n")),
        "{}",
        r.stderr
    );
    // Nor a test copy.
    let r = p.run(&["send", "--campaign", "c", "--test-to", "chair@example.org"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(!p.path("outbox/c").exists());
}

#[test]
fn a_missing_file_or_one_that_is_no_image_is_an_error_with_its_line() {
    let p = project(b"not an image");
    p.edit("issues/c.md", "That is all.", "![Logo](images/gone.png)");
    let r = p.run(&["check", "--campaign", "c"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout,
        "error: issue `issues/c.md` line 3: image `images/x.png` is not a PNG, JPEG, GIF or WebP image\n\
         error: issue `issues/c.md` line 5: image `images/gone.png` not found (a local image's path is relative to the folder holding the config file)\n\
         check: 2 errors, 0 warnings\n"
    );
    // In an MJML template too, with its line.
    let p = Project::example();
    let t = p.edit(
        "templates/bulletin.mjml",
        "<mj-section",
        "<mj-section background-url=\"images/missing.jpg\"",
    );
    let line = t.lines().position(|l| l.contains("missing.jpg")).unwrap() + 1;
    check_fails_with(
        &p,
        "2023-04",
        &format!(
            "error: template `templates/bulletin.mjml` line {line}: image `images/missing.jpg` not found"
        ),
    );
}

/// `check --campaign campaign` fails (status 2), its first finding starting with `first`.
fn check_fails_with(p: &Project, campaign: &str, first: &str) {
    let r = p.run(&["check", "--campaign", campaign]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with(first), "{}", r.stdout);
}

#[test]
fn an_image_over_a_megabyte_is_a_warning_and_still_sends() {
    // 600 x 600 x 3 bytes, stored: ~1.03 MiB.
    let image = png(600, 600, [200, 10, 10]);
    assert!(image.len() > 1024 * 1024);
    let p = project(&image);
    let r = p.run(&["check", "--campaign", "c"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout,
        "warning: issue `issues/c.md` line 3: image `images/x.png` is 1.0 MB, over 1 MB: readers on phone data download all of it; make it smaller\n\
         check: 0 errors, 1 warning\n"
    );
}

#[test]
fn an_image_changed_after_the_first_send_is_refused_by_name() {
    let p = project(&png(10, 10, [1, 2, 3]));
    let r = p.run(&["send", "--campaign", "c", "--yes", "--limit", "2"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    std::fs::write(p.path("images/x.png"), png(10, 10, [9, 9, 9])).unwrap();
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("campaign `c` was first sent from other sources: image `images/x.png` changed (its bytes differ); members who already got it"),
        "{}",
        r.stderr
    );
    let r = p.run(&["check", "--campaign", "c"]);
    assert!(
        r.stdout
            .contains("image `images/x.png` changed (its bytes differ)"),
        "{}",
        r.stdout
    );
}

/// (status line and headers, body bytes) of a GET.
fn get(url: &str) -> (String, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body");
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10", "-D", "-", "-o"])
        .arg(&body)
        .arg(url)
        .output()
        .expect("curl must be installed");
    let head = String::from_utf8_lossy(&out.stdout).into_owned();
    (head, std::fs::read(&body).unwrap_or_default())
}

#[test]
fn serve_answers_a_sent_or_test_copys_image_with_its_bytes_and_type() {
    let image = png(16, 8, [0, 128, 255]);
    let p = project(&image);
    // A test copy stores the image too: its address works before the campaign goes.
    let r = p.run(&["send", "--campaign", "c", "--test-to", "chair@example.org"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let name = published("x", "png", &image);
    let service = Service::start(&p);
    let (head, body) = get(&format!("{}/bulletins/images/{name}", service.base));
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("\r\ncontent-type: image/png\r\n"), "{head}");
    assert!(
        head.contains("\r\ncache-control: public, max-age=31536000, immutable\r\n"),
        "{head}"
    );
    assert_eq!(body, image);
    for missing in ["x-0000000000.png", "..%2Fmailshot.db", ".x"] {
        let (head, _) = get(&format!("{}/bulletins/images/{missing}", service.base));
        assert!(head.starts_with("HTTP/1.1 404"), "{missing}: {head}");
    }
    drop(service);

    // A campaign's first send stores a changed image under its new name.
    let image = png(16, 8, [255, 0, 0]);
    std::fs::write(p.path("images/x.png"), &image).unwrap();
    let r = p.run(&["send", "--campaign", "c", "--yes"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let service = Service::start(&p);
    let (head, body) = get(&format!(
        "{}/bulletins/images/{}",
        service.base,
        published("x", "png", &image)
    ));
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(body, image);
}

/// Regression: `serve` read images through one connection opened at the first request and
/// kept: a store put in its place since (restored from a backup, say) was never seen.
#[test]
fn serve_reads_images_from_the_store_as_it_is_now() {
    let test_copy = |image: &[u8]| {
        let p = project(image);
        let r = p.run(&["send", "--campaign", "c", "--test-to", "chair@example.org"]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        p
    };
    let (first, second) = (png(16, 8, [0, 128, 255]), png(16, 8, [255, 0, 0]));
    let p = test_copy(&first);
    let service = Service::start(&p);
    let url = |image: &[u8]| {
        let name = published("x", "png", image);
        format!("{}/bulletins/images/{name}", service.base)
    };
    assert!(get(&url(&first)).0.starts_with("HTTP/1.1 200 OK\r\n"));
    // Another store, holding only the second image, renamed over this one.
    let other = test_copy(&second);
    std::fs::copy(other.path("mailshot.db"), p.path("replacement.db")).unwrap();
    std::fs::rename(p.path("replacement.db"), p.path("mailshot.db")).unwrap();
    let (head, body) = get(&url(&second));
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(body, second);
    assert!(get(&url(&first)).0.starts_with("HTTP/1.1 404"));
}

/// Every image of `html` as headless Chromium shows it at each of `widths` (see
/// tests/support/browser/images.mjs).
pub(crate) fn shown_in_chromium(p: &Project, html: &str, widths: &[&str]) -> serde_json::Value {
    let file = p.path("message.html");
    std::fs::write(&file, html).unwrap();
    let mut args = vec![file.display().to_string()];
    args.extend(widths.iter().map(|w| w.to_string()));
    crate::support::in_browser("images.mjs", &args)
}

#[test]
fn in_a_real_browser_the_images_load_from_serve_unstretched_and_in_proportion() {
    // A small image (it must not be stretched to the column) and a wide one (capped to the
    // column, then scaled down on a phone with its height).
    let small = png(120, 30, [11, 110, 116]);
    let p = project(&small);
    std::fs::write(p.path("images/wide.png"), png(800, 200, [200, 60, 0])).unwrap();
    p.edit("issues/c.md", "That is all.", "![Wide](images/wide.png)");
    let service = Service::start(&p);
    p.edit(
        "config.toml",
        "base_url = \"https://example.org\"",
        &format!("base_url = \"{}\"", service.base),
    );
    let r = p.run(&["send", "--campaign", "c", "--yes", "--limit", "1"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let html = html_of(&p, "outbox/c/zoe.hartley@medtech.example.org.eml");
    let seen = shown_in_chromium(&p, &html, &["640", "375"]);
    let image = |width: &str, alt: &str| -> (bool, [f64; 2], [f64; 2]) {
        let i = seen[width]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["alt"] == alt)
            .unwrap_or_else(|| panic!("no image `{alt}` at {width}: {seen}"));
        let pair = |v: &serde_json::Value| [v[0].as_f64().unwrap(), v[1].as_f64().unwrap()];
        (
            i["loaded"].as_bool().unwrap(),
            pair(&i["natural"]),
            pair(&i["shown"]),
        )
    };
    // Loaded from `mailshot serve`, at its own size on a desktop.
    assert_eq!(
        image("640", "Our new banner"),
        (true, [120.0, 30.0], [120.0, 30.0])
    );
    // The wide one fills the 552 px column (600 less 24 px each side), in proportion.
    assert_eq!(image("640", "Wide"), (true, [800.0, 200.0], [552.0, 138.0]));
    // On a phone: narrower than the screen, its height scaled with its width.
    let (loaded, _, [w, h]) = image("375", "Wide");
    assert!(loaded);
    assert!(w < 375.0, "{w}");
    assert!((h - w / 4.0).abs() < 1.0, "{w} x {h}: squashed");
}

#[test]
fn an_image_in_an_included_partial_is_published_and_named_in_its_own_file() {
    let image = png(64, 16, [0, 0, 0]);
    let p = Project::example();
    std::fs::write(p.path("images/logo.png"), &image).unwrap();
    let footer = p.edit(
        "templates/partials/footer.mjml",
        "<mj-column>",
        "<mj-column>\n<mj-image src=\"images/logo.png\" alt=\"Cluster logo\" />\n<mj-image src=\"images/seal.png\" alt=\"Seal\" />",
    );
    let line = footer.lines().position(|l| l.contains("seal.png")).unwrap() + 1;
    check_fails_with(
        &p,
        "2023-04",
        &format!(
            "error: template `templates/partials/footer.mjml` line {line}: image `images/seal.png` not found"
        ),
    );
    p.edit(
        "templates/partials/footer.mjml",
        "<mj-image src=\"images/seal.png\" alt=\"Seal\" />",
        "",
    );
    let r = p.run(&["send", "--campaign", "2023-04", "--yes", "--limit", "1"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let html = html_of(&p, "outbox/2023-04/zoe.hartley@medtech.example.org.eml");
    let url = format!(
        "https://example.org/bulletins/images/{}",
        published("logo", "png", &image)
    );
    assert!(html.contains(&format!("src=\"{url}\"")), "{html}");
    assert!(!html.contains("images/logo.png\""));
    // The partial's image is among the campaign's sources too.
    std::fs::write(p.path("images/logo.png"), png(64, 16, [1, 1, 1])).unwrap();
    let r = p.run(&["send", "--campaign", "2023-04", "--yes"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("image `images/logo.png` changed"),
        "{}",
        r.stderr
    );
}

#[test]
fn with_inline_images_and_no_base_url_the_image_travels_in_each_message() {
    use mail_parser::MimeHeaders;
    let image = png(40, 10, [10, 20, 30]);
    let p = project(&image);
    without_base_url(&p, "\ninline_images = true\n");
    let r = p.run(&["check", "--campaign", "c"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("image"), "{}", r.stdout);
    let r = p.run(&["send", "--campaign", "c", "--yes", "--limit", "1"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let eml = std::fs::read(p.path("outbox/c/zoe.hartley@medtech.example.org.eml")).unwrap();
    let m = MessageParser::default().parse(&eml).unwrap();
    let cid = format!("{}@mailshot", published("x", "png", &image));
    let html = m.body_html(0).unwrap();
    assert!(html.contains(&format!("src=\"cid:{cid}\"")), "{html}");
    assert!(html.contains("width=\"40\""), "{html}");
    let part = m
        .parts
        .iter()
        .find(|p| p.content_id() == Some(cid.as_str()))
        .expect("the image part");
    assert_eq!(part.contents(), &image[..]);
    // Python's email package reads it without a defect, in the usual shape.
    let out = Command::new("python3")
        .arg(crate::support::repo().join("tests/support/check_message.py"))
        .arg(p.path("outbox/c/zoe.hartley@medtech.example.org.eml"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["defects"], serde_json::json!([]), "{v}");
    assert_eq!(
        v["parts"],
        serde_json::json!([
            "multipart/alternative",
            "text/plain",
            "multipart/related",
            "text/html",
            "image/png"
        ]),
        "{v}"
    );
}
