//! Times mailshot's per-member render of the example bulletin (variables into the
//! pre-rendered HTML, plus the text part): prints microseconds per member.
//! Run by `bench/send.py`; `cargo run --release --example render_bench`.

use std::path::Path;
use std::time::Instant;

use mailshot::compose::render::Bulletin;
use mailshot::list::{Rows, read_header};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut b = Bulletin::compile(
        &root.join("templates/bulletin.mjml"),
        None,
        "https://example.org/unsubscribe/{{ token }}",
    )
    .expect("the example template compiles");
    // The example campaign's `[vars]`.
    let vars = mailshot::config::Config::load(&root.join("config.toml"))
        .expect("the example config loads")
        .vars;
    let n = 20_000;
    let mut csv = String::from("email,first_name,last_name,organisation\n");
    for i in 0..n {
        csv.push_str(&format!(
            "member{i}@example.org,First{i},Last{i},Organisation {i} Ltd\n"
        ));
    }
    let (cols, rdr) = read_header(Path::new("bench.csv"), csv.as_bytes()).unwrap();
    let members: Vec<_> = Rows::new(cols, rdr).map(|r| r.unwrap()).collect();
    let contexts: Vec<_> = members
        .iter()
        .map(|m| {
            b.context(
                &vars,
                m,
                "bench",
                &[
                    ("token", "TOKEN"),
                    ("web_url", "https://example.org/bulletins/bench/"),
                ],
            )
            .unwrap()
        })
        .collect();
    assert!(
        b.verify(&contexts[0]),
        "the shortcut applies to the example template"
    );
    // Each way over the same members, the best of three rounds; the reference (every
    // template through minijinja) in the same run.
    let time = |b: &Bulletin| {
        let mut best = f64::MAX;
        let mut bytes = 0usize;
        for _ in 0..3 {
            bytes = 0;
            let start = Instant::now();
            for ctx in &contexts {
                let r = b.render(ctx).unwrap();
                bytes += r.html.len() + r.text.len();
            }
            best = best.min(start.elapsed().as_secs_f64() * 1e6 / n as f64);
        }
        (best, bytes / n / 1024)
    };
    let (per, kib) = time(&b);
    // The floor: copying one member's finished bytes into new strings, as often.
    let done = b.render(&contexts[0]).unwrap();
    let mut floor = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        for _ in &contexts {
            let copy = (done.html.clone(), done.text.clone(), done.subject.clone());
            std::hint::black_box(copy);
        }
        floor = floor.min(start.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    let fills = b.fills();
    b.without_fills();
    let (engine, _) = time(&b);
    println!(
        "{per:.2} us per member ({kib} KiB of HTML and text each; {fills} templates filled by copying)"
    );
    println!(
        "{engine:.2} us per member with every template through minijinja: {:.1}x",
        engine / per
    );
    println!("{floor:.2} us per member to copy finished bytes of the same size (the floor)");
}
