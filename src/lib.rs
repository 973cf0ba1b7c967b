//! mailshot: an MJML bulletin per member, sent over SMTP in rate-limited batches, every
//! delivery logged.
//!
//! # How a member row becomes a delivery record
//!
//! ```text
//! lists/members.csv --members--> Member (checked: address, no CR/LF, no duplicates; the
//!        |                        duplicate check's memory is capped, then a scratch file)
//!        |                        (suppressed addresses: skipped, logged `suppressed`)
//! templates/*.mjml --render--> Bulletin (MJML -> HTML once per campaign, written ready for
//!        |                      the wire: ASCII, CRLF, short lines; per member only the
//!        |                      variables: subject, HTML, text part, filled by copying
//!        |                      where they are only `{{ name }}` slots)
//!        |   (a Markdown issue, issues/<campaign>.md: compose::markdown makes it MJML blocks
//!        |    in templates/layout.mjml's `{{ content }}` slot, then the same render)
//!        |   (local images, `images/x.png`: compose::images makes them absolute URLs under
//!        |    [web] base_url, before the render)
//!        |   compose::campaign::Campaign::open prepares it: the render mode (once per
//!        |   campaign, or per member) decided once on the first members, for every path
//!        v
//!   deliver::run::Send (send, --dry-run, --test-to; `check` the same preflight): lock,
//!        |   journal, recover, skip set; compose::campaign::preflight renders every member
//!        |   and counts the eligible in one pass; lint::findings (errors stop here);
//!        |   confirm; every member recorded `pending` in one pass, with the campaign's
//!        |   sources at its first send (later runs with other sources refused); deliver
//!        |   (one pass)
//!   compose::message::build --> Outgoing (multipart/alternative with the HTML as 7bit, List-*
//!        |              headers, Message-ID; compose::dkim::Signer signs the finished bytes;
//!        |              with [tracking] opens, the member's open pixel written in before
//!        |              `</body>` as the HTML is copied into the message)
//!   deliver::deliver (the shell; decisions: deliver::coordinator::Coordinator)
//!        |   -> bounded channel -> N workers (deliver::worker, one connection each)
//!        |   worker: pacer.acquire() -> Event::Starting -> coordinator asks the skip set
//!        |           again (unsubscribed meanwhile? left out), appends `start` to
//!        |           the journal (quota checked; one write per batch of events) while the
//!        |           worker builds the message -> transport::Go ("go") -> MAIL, RCPT and
//!        |           DATA pipelined (without PIPELINING: MAIL and RCPT before the word),
//!        |           each reply read strictly (session::parse) -> nothing unasked? -> content
//!        |           dot-stuffed in one pass -> its reply, or `uncertain` -> Event::Done(Reply)
//!        |           -> coordinator appends `reply`
//!        |   (store::Skip: who this run leaves out, in memory or asked of the store;
//!        |    suppressions recorded during the run seen within a second; unsubscribes
//!        |    the service has waiting for a busy store, within 10 ms)
//!        v
//!   journal::Journal::fold (every second, or when idle; one transaction)
//!        v
//!   store::Store::start_attempt/record --> deliveries + attempts rows (SQLite, WAL); a
//!        5.1.x reply also suppresses the address. A run that dies leaves its journal and
//!        `sending` rows: the next command folds the journal in (journal::settle), and the
//!        next run (store::recover) marks what is still `sending` `uncertain`.
//! ```
//!
//! # Modules
//! The directories are the pipeline's stages; dependencies run one way:
//! `commands` -> `list`, `compose`, `deliver`, `store`, `web`, `preview`, `bounce`, `report`;
//! `report` -> `store` (read), `config` (the rate, for a campaign sent before the store recorded it), `web` (its escaping), `transport`'s atomic
//! write;
//! `preview` -> `compose`, `list`, `deliver` (`check`'s sources comparison), `store`
//! (read-only), `serve` (its HTTP shell); `bounce` -> `store`, `compose::tokens` (to verify
//! VERP tokens), `transport`'s TLS config; `deliver` -> `compose`, `transport`, `store`,
//! `outcome`; `compose::edition` -> `store` (the [`store::Master`] it makes); `serve` and
//! `web` -> `store`; `transport` -> `outcome`, and `compose::message::Outgoing` (what it
//! carries) and `config` (its settings); `store` -> nothing of ours but the shared vocabulary
//! ([`outcome`], [`address`], [`clock`], [`error`]).
//!
//! - [`cli`]: clap definitions; [`commands`]: one module per subcommand (`send`, `status`,
//!   `log`, `import`, `suppress`, `check`, `serve`, `new`, `publish`, `preview`, `bounces`,
//!   `report`)
//!   that calls into the library and prints (the library itself prints only a send's progress
//!   and warnings, on standard error).
//! - [`config`]: strict `config.toml` (unknown keys are errors) checked into [`config::Config`].
//! - [`address`]: the one rule for when two addresses are the same member (the key that the
//!   duplicate check, import, suppressions, tokens, serve and the skip set all compare).
//! - [`list`]: the CSV member list, streamed and checked row by row; [`list::import`]: messy
//!   exports (any encoding, delimiter, header spelling, or an .xlsx sheet) merged into the
//!   member list in memory (a scratch SQLite file beyond 128 MiB), written atomically;
//!   suppressions and CRM opt-out columns honoured. Its files follow an import: `sniff`
//!   (format, encoding, delimiter) -> `decode` -> `source` (CSV or sheet rows) -> `columns`
//!   (the header's names) -> `row` (one row's fields checked) and `opt_out` -> `importer`
//!   (each file) -> `stage` (the merge) -> `atomic` (the list written) and `report`;
//!   `suppress`: `suppress import`'s reader.
//! - [`compose`]: from template and member to signed bytes. [`compose::campaign`]: the
//!   campaign (bulletin, sender, tokens), prepared once so every path renders alike, and
//!   preflight; it takes `issues/<campaign>.md` when there is one: [`compose::markdown`]
//!   (comrak) makes the Markdown issue MJML blocks for the layout's `{{ content }}` slot,
//!   with its front matter's subject, preview and values; [`compose::images`]: local image
//!   files (`images/banner.png`) published under content-hashed names at `[web] base_url`,
//!   the MJML's references made absolute before it is rendered (their digests among the
//!   sources; their bytes stored at a campaign's first send and with a `--test-to` copy;
//!   or, with `[web] inline_images`, carried in each message as `cid:` parts);
//!   [`compose::next_issue`]: `mailshot
//!   new`, next month's issue from the last one (month moved on, sections placeholders);
//!   [`compose::render`]: minijinja + mrml, the once-per-campaign MJML render and
//!   its equivalence check (`html`: MJML to wire-ready HTML; `escape`: member data escaped by
//!   context; `text`: the text part; `describe`: render errors with file and line;
//!   `balance`: where a template's tags stop matching, for mrml's unplaced errors), and
//!   `fill`, a fill by copying for templates that are only text and `{{ name }}` slots; [`compose::message`]: MIME,
//!   list headers, Message-ID; [`compose::dkim`]: DKIM over the finished bytes (relaxed/relaxed,
//!   RSA or Ed25519 by aws-lc); [`compose::tokens`]: HMAC tokens for unsubscribe links and
//!   bounce addresses, and signed tracked links; [`compose::clicks`]: with `[tracking]
//!   clicks` (off by default), the MJML's written-out http(s) links rewritten once per
//!   campaign to `{base_url}/c/<token>` (beside the images' rewrite, before the render);
//!   [`compose::opens`]: with `[tracking] opens` (off by default), each member's open pixel
//!   (its token, its `<img>` line, where it goes), which `Campaign::build` hands to
//!   `compose::message` for a member's own copy only (never a test copy or the web edition);
//!   [`compose::lint`]: `mailshot check`'s rules (also run by `send`);
//!   [`compose::sources`]: what a campaign is rendered from (template or layout, partials,
//!   Markdown issue, values, subject), stored at its first send (`begin`) and compared by
//!   every later run in `deliver::run` (`open`, `dry_run`, `proof`; `check` too), which
//!   refuses on a change unless `--accept-changes`; [`compose::edition`]: the web edition
//!   (the bulletin for an anonymous member: columns empty, no address, no token), rendered
//!   when the sources are recorded and stored with them as the campaign's
//!   [`store::Master`], with the once-per-campaign HTML, subject template and preview.
//! - [`deliver`]: the delivery engine: a thin async shell (workers, channels, timers,
//!   signals) around [`deliver::coordinator`], the synchronous state machine that decides
//!   retries, throttling, circuit breakers, quota waits and shutdown; [`deliver::run`]: a
//!   send's phases around it (open, skip, check, confirm, begin, deliver, finish) as a
//!   library type that prints nothing (what it tells goes to an `Observer`);
//!   `deliver::worker`: one connection's loop; `deliver::signals`: Ctrl-C and SIGTERM (the
//!   second ends the run as an error, never `process::exit`); [`deliver::pacer`]: rate
//!   (governor) and batch pauses;
//!   [`deliver::quota`]: rolling hourly/daily windows; [`deliver::progress`]: the progress bar
//!   or periodic lines.
//! - [`outcome`]: the vocabulary of an attempt's outcome, shared by transport, deliver and
//!   store: [`outcome::Reply`] and its [`outcome::ReplyKind`] (`accepted`, `transient`,
//!   `permanent`, `uncertain`, `unsendable`), the [`outcome::Reason`] it means for the member
//!   (`hard-bounce`, `policy`, `throttled`, ...), and [`outcome::Fatal`] (stop the campaign).
//! - [`transport`]: a worker's [`transport::Connection`], each kind turning what happened into
//!   an [`outcome::Reply`]: `transport::file` (one `.eml` per member, written atomically) and
//!   `transport::smtp` (`connect`: TCP, greeting, EHLO, STARTTLS, AUTH; `transaction`:
//!   MAIL/RCPT/DATA pipelined or not, the content dot-stuffed, the reply to its end);
//!   [`transport::session`]: SMTP replies read strictly and in order (a sans-I/O parser) over
//!   our own stream; [`transport::stub`]: records envelopes and bytes and plays scripted
//!   replies, for tests.
//! - [`store`]: the SQLite store (schema, migrations, batches, a member's [`store::Status`]):
//!   `deliveries` (campaigns, deliveries and attempts, counts, the log; a campaign's sources,
//!   `campaign_sources`, by revision), `editions` (what it was sent as, `campaign_masters`,
//!   by the same revision; the archive's list), `images` (published local images, by hashed
//!   name; `campaign_images` says which a send published, what `publish` writes),
//!   `suppressions`, `clicks` (tracked links followed, written as `serve` saw them; the
//!   automated told apart when read, also by timing against `deliveries`:
//!   [`store::Store::clicks_by_link`]), `opens` (open pixels loaded, likewise:
//!   [`store::Store::open_counts`]),
//!   `skip` (which members a run leaves out), `lock` (the campaign lock);
//!   [`store::journal`]: the run's append-only event file,
//!   folded into the store every second and replayed after a crash;
//!   [`store::unsubscribes`]: what the unsubscribe service has promised, appended and synced
//!   to a file beside the store before its 200, folded in by every [`store::Store::open`].
//! - [`bounce`]: after the send, `mailshot bounces`: a mailbox's reports ([`bounce::mailbox`]:
//!   Maildir or mbox; [`bounce::imap`]: IMAP on async-imap, UID MOVE, IDLE for `--watch`) read
//!   ([`bounce::parse`]: DSN fields by [`bounce::dsn`], ARF by mail-auth, plain-text bounces,
//!   mailto unsubscribes), matched to a member by VERP token, Message-ID or recipient
//!   ([`bounce::Reader`]), classified ([`bounce::classify`]: hard, soft, not the member's,
//!   complaint) and recorded by the store (`bounce_messages`, once per report; `late_events`,
//!   the `bounced`/`complained` rows `log` shows; suppressions).
//! - [`serve`]: the one-click unsubscribe HTTP service (axum on hyper: timeouts, a connection
//!   cap), the published images from the store (`serve::images`), (`serve::web`) the
//!   public pages at `/bulletins/`, (`serve::clicks`) tracked links, `/c/<token>`: 302 to
//!   the signed URL, and (`serve::opens`) open pixels, `/o/<token>.gif`: a 1x1 GIF; each
//!   click or open queued (bounded, never waited for) to its kind's writer task
//!   (`serve::counter`).
//! - [`web`]: the public side as pages (path, content type, bytes) built from the store: each
//!   web edition, the archive and its Atom feed; `serve` answers them, `publish` writes them
//!   as files, the same bytes.
//! - [`report`]: `mailshot report`, one campaign's self-contained HTML page for the board
//!   and its one-line summary: [`report::Report::gather`] reads the store once (counts,
//!   acceptance times, replies by code, attempts per member, late events reduced to domains,
//!   unsubscribes in the 14 days after, opens judged against the log), then `report::sections` makes each section of the
//!   page as one function of that data and `report::charts` draws its charts as inline SVG
//!   (plotters, no fonts read, no script).
//! - [`preview`]: `mailshot preview`, a local page (127.0.0.1) showing the campaign as
//!   `send --test-to` renders it, per member, with `check`'s findings: `preview::state` (the
//!   campaign opened as `check` opens it, never the store for writing), `preview::page` (the
//!   HTML, everything escaped), `preview::watch` (notify on the campaign's folders, and the
//!   debounce); reloaded on a blocking thread and announced to the page by a long poll; served
//!   by `serve::serve` (its timeouts and cap).
//! - [`csv_safe`]: CSV cells neutralised against spreadsheet formula injection (OWASP).
//! - [`error`]: the error type (a member list's errors with file and line, the store's and
//!   import's scratch database's told apart) and the exit codes; [`clock`]: the [`clock::Clock`]
//!   a binary passes to [`commands::run`] (`mailshot`: the system clock; only the test build's
//!   `mailshot-test-hooks`, src/bin/test_hooks.rs, can pass a fake one).

pub mod address;
pub mod bounce;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod compose;
pub mod config;
pub mod csv_safe;
pub mod deliver;
pub mod error;
pub mod list;
pub mod outcome;
pub mod preview;
pub mod report;
pub mod serve;
pub mod store;
pub mod transport;
pub mod web;
