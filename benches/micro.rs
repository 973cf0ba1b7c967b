//! Micro-benchmarks of the send path's parts: `cargo bench --bench micro`.
//!
//! - render: one member's HTML + text + subject, pre-rendered (the default) against a full
//!   MJML render per member (the reference the shortcut must equal).
//! - mime: building one member's multipart/alternative message, against the same message made
//!   by lettre's builder (the reference); and what checking its headers and putting its open
//!   pixel in add beside it.
//! - dkim: signing one finished message, RSA-2048 and Ed25519, against mail-auth's signer.
//! - journal: recording one attempt and its reply: a SQLite commit per batch (the reference)
//!   against the journal file and one fold (what a run does).
//! - csv: reading and checking member rows.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mailshot::compose::dkim::Signer;
use mailshot::compose::message::{self, PerMember, Sender};
use mailshot::compose::opens::Pixel;
use mailshot::compose::render::{Bulletin, Rendered};
use mailshot::compose::tokens::Tokens;
use mailshot::list::{Member, Rows, read_header};
use mailshot::outcome::Reply;
use mailshot::store::journal::Journal;
use mailshot::store::{CampaignInfo, CampaignLock, Store};

/// The example campaign's `[vars]`, from the example `config.toml`.
fn vars() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    mailshot::config::Config::load(&root.join("config.toml"))
        .expect("the example config loads")
        .vars
}

fn csv(n: usize) -> String {
    let mut s = String::from("email,first_name,last_name,organisation\n");
    for i in 0..n {
        s.push_str(&format!(
            "member{i}@example.org,First{i},Last{i},\"Organisation {i}, Ltd\"\n"
        ));
    }
    s
}

fn members(n: usize) -> Vec<Member> {
    let text = csv(n);
    let (cols, rdr) = read_header(Path::new("bench.csv"), text.as_bytes()).unwrap();
    Rows::new(cols, rdr).map(|r| r.unwrap()).collect()
}

fn bulletin() -> Bulletin {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    Bulletin::compile(
        &root.join("templates/bulletin.mjml"),
        None,
        "https://example.org/unsubscribe/{{ token }}",
    )
    .unwrap()
}

fn render(c: &mut Criterion) {
    let m = &members(1)[0];
    let vars = vars();
    let fast = bulletin();
    let mut full = bulletin();
    full.force_full();
    let ctx = fast
        .context(
            &vars,
            m,
            "bench",
            &[
                ("token", "TOKEN"),
                ("web_url", "https://example.org/bulletins/bench/"),
            ],
        )
        .unwrap();
    let mut g = c.benchmark_group("render");
    g.bench_function("pre-rendered (per member)", |b| {
        b.iter(|| black_box(fast.render(black_box(&ctx)).unwrap()))
    });
    g.bench_function("full MJML (per member)", |b| {
        b.iter(|| black_box(full.render(black_box(&ctx)).unwrap()))
    });
    g.finish();
}

fn sender() -> Sender {
    Sender {
        from: "Cluster News <news@example.org>".parse().unwrap(),
        reply_to: None,
        list_id: "<cluster-news.example.org>".into(),
        feedback_id: None,
        unsubscribe_mailto: Some("unsubscribe@example.org".into()),
        dkim: None,
        inline: std::sync::Arc::from([]),
    }
}

/// The reference for `message::build`: the same message made by lettre's `Message` builder,
/// multipart and quoted-printable encoder, as mailshot made it before it assembled the body
/// itself.
fn lettre_build(sender: &Sender, m: &PerMember, r: &Rendered) -> Vec<u8> {
    use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
    use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
    let raw = |name: &'static str, value: String| {
        HeaderValue::new(HeaderName::new_from_ascii_str(name), value)
    };
    let to: lettre::Address = m.to.parse().unwrap();
    let html =
        SinglePart::builder()
            .header(ContentType::TEXT_HTML)
            .body(Body::dangerous_pre_encoded(
                r.html.as_bytes().to_vec(),
                ContentTransferEncoding::SevenBit,
            ));
    lettre::Message::builder()
        .from(sender.from.clone())
        .to(Mailbox::new(m.name.clone(), to))
        .subject(r.subject.clone())
        .message_id(Some(m.message_id.to_string()))
        .date_now()
        .raw_header(raw(
            "List-Unsubscribe",
            format!(
                "<{}>, <mailto:unsubscribe@example.org?subject=unsubscribe>",
                m.unsubscribe_url
            ),
        ))
        .raw_header(raw(
            "List-Unsubscribe-Post",
            "List-Unsubscribe=One-Click".into(),
        ))
        .raw_header(raw("List-Id", sender.list_id.clone()))
        .multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::plain(r.text.clone()))
                .singlepart(html),
        )
        .unwrap()
        .formatted()
}

/// What differs for member `m`, with the open pixel at `pixel` if given.
fn per_member<'a>(m: &'a Member, pixel: Option<&'a str>) -> PerMember<'a> {
    PerMember {
        to: &m.email,
        name: m.display_name(),
        message_id: "<bench.0@example.org>",
        unsubscribe_url: "https://example.org/unsubscribe/TOKEN",
        subject: None,
        envelope_from: None,
        pixel,
    }
}

fn mime_and_dkim(c: &mut Criterion) {
    let m = &members(1)[0];
    let b = bulletin();
    let rendered = b
        .render(
            &b.context(
                &vars(),
                m,
                "bench",
                &[
                    ("token", "TOKEN"),
                    ("web_url", "https://example.org/bulletins/bench/"),
                ],
            )
            .unwrap(),
        )
        .unwrap();
    let per = per_member(m, None);
    let plain = sender();
    let mut g = c.benchmark_group("message");
    g.bench_function("mime (per member)", |bch| {
        bch.iter(|| black_box(message::build(&plain, &per, &rendered).unwrap()))
    });
    g.bench_function("mime by lettre's builder (reference)", |bch| {
        bch.iter(|| black_box(lettre_build(&plain, &per, &rendered)))
    });
    // What preflight adds per member to check its headers (beside `render/pre-rendered`).
    g.bench_function("headers checked (per member, preflight)", |bch| {
        bch.iter(|| black_box(message::check_headers(&plain, &per, &rendered)).unwrap())
    });
    // What `[tracking] opens` adds to a member's build (beside `mime`): the member's pixel
    // token (per member: one HMAC) and the pixel written into the HTML as it is copied.
    let tokens = Tokens::new(b"0123456789abcdef-bench-secret", "cluster-news.example.org");
    let pixel = Pixel::new("https://example.org", "bench", &tokens, true);
    g.bench_function(
        "mime with the open pixel (per member, per_member on)",
        |bch| {
            bch.iter(|| {
                let url = pixel.url(&tokens, "bench", &m.email);
                let per = per_member(m, Some(&url));
                black_box(message::build(&plain, &per, &rendered).unwrap())
            })
        },
    );
    g.finish();

    // Signing the same finished message: ours against mail-auth's, side by side.
    let bytes = message::build(&plain, &per, &rendered).unwrap().bytes;
    let dir = tempfile::tempdir().unwrap();
    let rsa = dir.path().join("rsa.pem");
    let made = std::process::Command::new("openssl")
        .args(["genrsa", "-traditional", "-out"])
        .arg(&rsa)
        .arg("2048")
        .output()
        .expect("openssl is needed for the RSA key");
    assert!(made.status.success());
    let seed = dir.path().join("ed.key");
    std::fs::write(&seed, "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=").unwrap();
    let config = |key_file: &Path, algorithm: &str| mailshot::config::DkimConfig {
        domain: "example.org".into(),
        selector: "bench".into(),
        key_file: key_file.to_path_buf(),
        algorithm: algorithm.into(),
    };
    let ours_rsa = Signer::load(&config(&rsa, "rsa-sha256")).unwrap();
    let ours_ed = Signer::load(&config(&seed, "ed25519-sha256")).unwrap();
    fn reference<K: mail_auth::common::crypto::SigningKey>(
        key: K,
    ) -> mail_auth::dkim::DkimSigner<K, mail_auth::dkim::Done> {
        mail_auth::dkim::DkimSigner::from_key(key)
            .domain("example.org")
            .selector("bench")
            .headers(mailshot::compose::dkim::SIGNED_HEADERS)
            .header_canonicalization(mail_auth::dkim::Canonicalization::Relaxed)
            .body_canonicalization(mail_auth::dkim::Canonicalization::Relaxed)
    }
    use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
    use mail_auth::common::headers::HeaderWriter;
    use tokio_rustls::rustls::pki_types::PrivateKeyDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let der = PrivateKeyDer::from_pem_file(&rsa).unwrap();
    let ref_rsa = reference(RsaKey::<Sha256>::from_key_der(der).unwrap());
    let ed_seed = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=",
    )
    .unwrap();
    let ed_pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&ed_seed).unwrap();
    let ed_public = ring::signature::KeyPair::public_key(&ed_pair)
        .as_ref()
        .to_vec();
    let ref_ed = reference(Ed25519Key::from_seed_and_public_key(&ed_seed, &ed_public).unwrap());

    let mut g = c.benchmark_group("dkim");
    g.bench_function("RSA-2048, mailshot", |bch| {
        bch.iter(|| black_box(ours_rsa.sign(&bytes, 1_700_000_000).unwrap()))
    });
    g.bench_function("RSA-2048, mail-auth (reference)", |bch| {
        bch.iter(|| {
            let mut out = ref_rsa.sign(&bytes).unwrap().to_header().into_bytes();
            out.extend_from_slice(&bytes);
            black_box(out)
        })
    });
    g.bench_function("Ed25519, mailshot", |bch| {
        bch.iter(|| black_box(ours_ed.sign(&bytes, 1_700_000_000).unwrap()))
    });
    g.bench_function("Ed25519, mail-auth (reference)", |bch| {
        bch.iter(|| {
            let mut out = ref_ed.sign(&bytes).unwrap().to_header().into_bytes();
            out.extend_from_slice(&bytes);
            black_box(out)
        })
    });
    g.bench_function("relaxed body hash, mailshot", |bch| {
        bch.iter(|| black_box(mailshot::compose::dkim::relaxed_body_hash(&bytes)))
    });
    g.finish();
}

const AT: &str = "2026-01-01T00:00:01.000Z";

/// A store holding `ms` as one campaign's pending members, in a scratch folder.
fn journal_store(ms: &[Member]) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("bench.db")).unwrap();
    let info = CampaignInfo {
        id: "bench".into(),
        template: "t".into(),
        list: "l".into(),
        subject: "s".into(),
        transport: "x".into(),
        started_at: "2026-01-01T00:00:00.000Z".into(),
        finished_at: None,
    };
    store
        .begin_campaign(&info, ms.iter().map(|m| m.email.clone()))
        .unwrap();
    (dir, store)
}

fn journal(c: &mut Criterion) {
    let n = 1000;
    let ms = members(n);
    let reply = Reply::accepted(Some(250), "250 2.0.0 Ok: queued as 1".into());
    let mut g = c.benchmark_group("journal");
    g.throughput(Throughput::Elements(n as u64));
    // The reference: a SQLite commit for each batch of starts and each batch of replies.
    for batch in [1usize, 4, 32] {
        g.bench_function(
            format!("store commits, {n} messages, {batch} per commit"),
            |b| {
                b.iter_batched(
                    || journal_store(&ms),
                    |(_dir, mut store)| {
                        for chunk in ms.chunks(batch) {
                            store.begin_batch().unwrap();
                            for m in chunk {
                                store
                                    .start_attempt("bench", &m.email, "<id@example.org>", AT)
                                    .unwrap();
                            }
                            store.end_batch().unwrap();
                            store.begin_batch().unwrap();
                            for m in chunk {
                                store
                                    .record("bench", &m.email, "<id@example.org>", &reply, AT)
                                    .unwrap();
                            }
                            store.end_batch().unwrap();
                        }
                    },
                    BatchSize::PerIteration,
                )
            },
        );
    }
    // What a run does: a journal write for each batch, one fold into the store at the end.
    for batch in [1usize, 4, 32] {
        g.bench_function(
            format!("journal writes, {n} messages, {batch} per write, one fold"),
            |b| {
                b.iter_batched(
                    || journal_store(&ms),
                    |(dir, mut store)| {
                        let db = dir.path().join("bench.db");
                        let lock = CampaignLock::acquire(&db, "bench").unwrap();
                        let mut journal = Journal::open(&mut store, &db, "bench", &lock).unwrap();
                        for chunk in ms.chunks(batch) {
                            for m in chunk {
                                journal.start(&m.email, "<id@example.org>");
                            }
                            journal.write().unwrap();
                            for m in chunk {
                                journal.reply(&m.email, "<id@example.org>", &reply);
                            }
                            journal.write().unwrap();
                        }
                        journal.close(&mut store).unwrap();
                    },
                    BatchSize::PerIteration,
                )
            },
        );
    }
    g.finish();
}

fn csv_reading(c: &mut Criterion) {
    let n = 100_000;
    let text = csv(n);
    let mut g = c.benchmark_group("csv");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("read and check 100,000 rows", |b| {
        b.iter(|| {
            let (cols, rdr) = read_header(Path::new("bench.csv"), text.as_bytes()).unwrap();
            black_box(Rows::new(cols, rdr).filter(|r| r.is_ok()).count())
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = render, mime_and_dkim, journal, csv_reading
}
criterion_main!(benches);
