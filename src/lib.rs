//! mailshot: an MJML bulletin per member, sent over SMTP in rate-limited batches, every
//! delivery logged.
//!
//! # How a member row becomes a delivery record
//!
//! ```text
//! lists/members.csv --members--> Member (checked: address, no CR/LF, no duplicates)
//!        |
//! templates/*.mjml --render--> Bulletin (MJML -> HTML once per campaign; per member only
//!        |                      the variables: subject, HTML, text part)
//!        v
//!   message::build --> Outgoing (multipart/alternative bytes, Message-ID, envelope)
//!        |
//!   send::deliver: coordinator -> bounded channel -> N workers
//!        |            each worker: pacer.acquire() -> transport::Connection::send -> Reply
//!        v
//!   store::Store::record --> deliveries + attempts rows (SQLite, WAL)
//! ```
//!
//! # Modules
//! - [`cli`]: clap definitions; [`commands`]: one module per subcommand (`send`, `status`,
//!   `log`, `import`, `suppress`) that calls into the library and prints.
//! - [`config`]: strict `config.toml` (unknown keys are errors) checked into [`config::Config`].
//! - [`members`]: the CSV member list, streamed and checked row by row.
//! - [`import`]: messy exports (any encoding, delimiter, header spelling) merged into the member
//!   list in a scratch SQLite file, written atomically; suppressions honoured.
//! - [`render`]: minijinja + mrml; the once-per-campaign MJML render and its equivalence check.
//! - [`message`]: MIME building with lettre: list headers, Message-ID, DKIM signature.
//! - [`lint`]: `mailshot check`'s rules (also run by `send`).
//! - [`unsubscribe`]: HMAC tokens for unsubscribe links and bounce addresses.
//! - [`serve`]: the one-click unsubscribe HTTP service (axum).
//! - [`transport`]: the file and SMTP transports and reply classification.
//! - [`pacer`]: rate (governor) and batch pauses.
//! - [`send`]: preflight and the delivery engine.
//! - [`store`]: the SQLite store: delivery log and suppression list.
//! - [`progress`]: progress bar / periodic lines.
//! - [`error`]: the error type and exit codes.
//! - [`clock`]: wall-clock time (with a test hook for quota tests).

pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod error;
pub mod import;
pub mod lint;
pub mod members;
pub mod message;
pub mod pacer;
pub mod progress;
pub mod quota;
pub mod render;
pub mod send;
pub mod serve;
pub mod store;
pub mod transport;
pub mod unsubscribe;
