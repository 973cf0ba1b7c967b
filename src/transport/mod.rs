//! Transports: where a built message goes, and the reply that decides its outcome.
//!
//! Each send worker owns one [`Connection`], opened from the checked settings
//! ([`TransportSpec`]); it hands a message over once the journal has written the member's
//! `start` ([`Go`]) and returns the [`Reply`] that decides the member's outcome.
//!
//! - this file: that API, and how an SMTP reply becomes a [`Reply`];
//! - `file.rs`: the file transport, one `.eml` per member, written atomically;
//! - `smtp/`: the SMTP client: `mod.rs` sends one message over the worker's connection,
//!   `connect.rs` opens it (greeting, EHLO, STARTTLS, AUTH), `transaction.rs` is one mail
//!   transaction (the envelope, pipelined or not, and the dot-stuffed content);
//! - [`session`]: the line-level SMTP session, every reply read strictly and in order;
//! - [`stub`]: records envelopes and bytes and plays scripted replies, for tests.

mod file;
pub mod session;
pub(crate) mod smtp;
pub mod stub;

pub use file::{eml_name, write_atomic};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lettre::transport::smtp::extension::ClientId;
use tokio::time::Instant;

use crate::compose::message::Outgoing;
use crate::config::{Config, Security, Transport};
use crate::error::{Error, Result, show};
use crate::outcome::{Fatal, Reply, ReplyKind};
use crate::transport::session::{Response, Session};

impl Reply {
    /// The server's reply as it stands: 2xx accepted, 4xx transient, 5xx permanent.
    pub fn from_response(r: &Response) -> Reply {
        let kind = match r.class() {
            2 => ReplyKind::Accepted,
            4 => ReplyKind::Transient,
            _ => ReplyKind::Permanent,
        };
        Reply::of(kind, Some(r.code), r.text())
    }
}

/// The transport settings a worker needs to open its connection.
#[derive(Debug, Clone)]
pub enum TransportSpec {
    File {
        dir: PathBuf,
    },
    Smtp(Arc<SmtpSpec>),
    /// For tests: see [`stub`].
    Stub(stub::Stub),
}

#[derive(Debug)]
pub struct SmtpSpec {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// Login name and password.
    pub credentials: Option<(String, Password)>,
    pub timeout: Duration,
    pub hello: ClientId,
    /// Messages per connection before a polite QUIT and a new connection; 0 = no limit.
    pub messages_per_connection: u32,
    /// Send MAIL, RCPT and DATA in one go when the server offers PIPELINING (RFC 2920).
    pub pipelining: bool,
    /// For TLS: the public roots plus `ca_pem`.
    pub tls: Arc<tokio_rustls::rustls::ClientConfig>,
}

/// A password that never shows in a `Debug` print.
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

impl TransportSpec {
    /// Checks the transport settings; reads the SMTP password from its environment variable.
    pub fn from_config(cfg: &Config, campaign_dir: &str) -> Result<TransportSpec> {
        match cfg.transport {
            Transport::File => Ok(TransportSpec::File {
                dir: cfg.file.outbox.join(campaign_dir),
            }),
            Transport::Smtp => {
                let s = &cfg.smtp;
                let credentials = match &s.username {
                    None => None,
                    Some(user) => {
                        let password = std::env::var(&s.password_env).map_err(|_| {
                            Error::input(format!(
                                "environment variable `{}` is not set: it must hold the SMTP password for `{user}` (see `smtp.password_env` in `{}`)",
                                s.password_env,
                                show(&cfg.path)
                            ))
                        })?;
                        Some((user.clone(), Password(password)))
                    }
                };
                let hello = match &s.hello_name {
                    Some(h) => ClientId::Domain(h.clone()),
                    None => ClientId::default(),
                };
                let ca_pem = match &s.ca_file {
                    None => None,
                    Some(p) => Some(std::fs::read(p).map_err(|e| {
                        Error::input(format!("failed to read `smtp.ca_file` `{}`: {e}", show(p)))
                    })?),
                };
                let tls = smtp::tls_config(ca_pem.as_deref()).map_err(|e| {
                    Error::input(format!(
                        "`smtp.ca_file` `{}`: {e}",
                        s.ca_file.as_deref().map(show).unwrap_or_default()
                    ))
                })?;
                Ok(TransportSpec::Smtp(Arc::new(SmtpSpec {
                    host: s.host.clone(),
                    port: s.port,
                    security: s.security,
                    credentials,
                    timeout: Duration::from_secs(s.timeout_secs),
                    hello,
                    messages_per_connection: s.messages_per_connection,
                    pipelining: s.pipelining,
                    tls: Arc::new(tls),
                })))
            }
        }
    }

    pub fn connect(&self) -> Connection {
        match self {
            TransportSpec::File { dir } => Connection::File { dir: dir.clone() },
            TransportSpec::Smtp(spec) => Connection::Smtp {
                spec: spec.clone(),
                conn: None,
                sent: 0,
            },
            TransportSpec::Stub(stub) => Connection::Stub(stub.clone()),
        }
    }
}

/// One worker's link to the transport.
// One per worker, a handful per run: boxing the SMTP variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Connection {
    File {
        dir: PathBuf,
    },
    Smtp {
        spec: Arc<SmtpSpec>,
        conn: Option<Session>,
        /// Messages sent on `conn` so far.
        sent: u32,
    },
    Stub(stub::Stub),
}

/// The word that a message may be handed over: its `start` is in the journal (the promise
/// that a crash leaves it `uncertain`, never silently resent). The SMTP transport asks for
/// it before the pipelined envelope, or, without PIPELINING, as late as it can, after MAIL
/// and RCPT, so the write overlaps two round trips.
pub struct Go {
    word: Option<tokio::sync::oneshot::Receiver<bool>>,
    said: bool,
}

impl Go {
    /// Waits for `word`: `true` to send, `false` (or a dropped sender) to leave the member
    /// unsent.
    pub fn on(word: tokio::sync::oneshot::Receiver<bool>) -> Go {
        Go {
            word: Some(word),
            said: false,
        }
    }

    /// Already given (no journal to wait for).
    pub fn now() -> Go {
        Go {
            word: None,
            said: true,
        }
    }

    /// The word, waited for once. Cancel-safe: a wait cut short (by the send's timeout)
    /// leaves the word to be heard by the next.
    pub async fn wait(&mut self) -> bool {
        if let Some(word) = &mut self.word {
            self.said = word.await == Ok(true);
            self.word = None;
        }
        self.said
    }
}

impl Connection {
    /// Sends one message once `go` says so. `None`: `go` said no, and nothing was handed
    /// over. `Some(Err)` means the whole campaign must stop.
    pub async fn send(
        &mut self,
        msg: &Outgoing,
        mut go: Go,
    ) -> Option<std::result::Result<Reply, Fatal>> {
        match self {
            Connection::File { dir } => file::send(dir, msg, &mut go).await,
            Connection::Stub(stub) => stub.send(msg, go).await,
            Connection::Smtp { spec, conn, sent } => {
                if conn.is_none() {
                    *sent = 0;
                }
                let result = smtp::send_smtp(spec, conn, msg, &mut go).await;
                if matches!(result, Some(Ok(_))) {
                    *sent += 1;
                }
                if spec.messages_per_connection > 0
                    && *sent >= spec.messages_per_connection
                    && let Some(c) = conn.take()
                {
                    c.quit(Instant::now() + spec.timeout).await;
                }
                result
            }
        }
    }

    /// Says goodbye politely.
    pub async fn close(&mut self) {
        if let Connection::Smtp { conn, spec, .. } = self
            && let Some(c) = conn.take()
        {
            c.quit(Instant::now() + spec.timeout).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_word_to_go_survives_a_wait_cut_short() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut go = Go::on(rx);
        let cut = tokio::time::timeout(Duration::from_millis(10), go.wait()).await;
        assert!(cut.is_err(), "nothing said yet");
        tx.send(true).unwrap();
        assert!(go.wait().await);
        assert!(go.wait().await, "heard once, remembered");
        let (tx, rx) = tokio::sync::oneshot::channel::<bool>();
        drop(tx);
        assert!(!Go::on(rx).wait().await, "a coordinator gone says no");
    }

    #[test]
    fn a_reply_text_is_one_line_and_its_enhanced_code_matches_its_class() {
        let r = Reply::transient("reset\r\nby peer\n".into());
        assert_eq!(r.text, "reset  by peer ");
        let parsed = |b: &[u8]| crate::transport::session::parse(b).unwrap().unwrap().0;
        let r = Reply::from_response(&parsed(b"451-4.3.0 first\r\n451 4.3.0 second\r\n"));
        assert_eq!(
            (r.text.as_str(), r.enhanced.as_deref()),
            ("451 4.3.0 first second", Some("4.3.0"))
        );
        // A 2.x.x in a refusal's text is not its code.
        let r = Reply::from_response(&parsed(b"451 after 2.1.5 Ok, gave up\r\n"));
        assert_eq!(r.enhanced, None);
        assert_eq!(
            Reply::transient("protocol error: `250 2.1.0 Ok`".into()).enhanced,
            None
        );
    }
}
