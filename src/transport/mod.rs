//! Transports: where a built message goes, and the reply that decides its outcome.
//!
//! Each send worker owns one [`Connection`]. The SMTP connection is our own
//! ([`crate::transport::session::Session`]) over a TCP stream with `TCP_NODELAY` set, TLS by tokio-rustls
//! (implicit, or after STARTTLS), AUTH PLAIN or LOGIN. lettre builds the messages; its SMTP
//! client is not used, because it reads replies loosely (see [`crate::transport::session`]): here every
//! reply is read in order, must answer the command it follows, and nothing may come unasked.
//! The content is dot-stuffed in one pass (lettre's codec pushes byte by byte, ~18% of the
//! CPU of a send).
//!
//! When the server offers PIPELINING (RFC 2920), MAIL, RCPT and DATA go in one write once the
//! journal has written the member's `start` ([`Go`]), and their replies are read in order: two
//! round trips per message. Otherwise MAIL and RCPT go before the word, one reply at a time,
//! and only DATA and the content wait for it.
//!
//! The outcome (RFC 5321 sections 4.1.1.4 and 6.1): `accepted` only on a well-formed 2xx reply
//! to the end of the data with nothing after it. A failure before the content's last byte was
//! handed over is a retry (nothing was delivered). After it, a lost, late, garbled or doubled
//! reply makes the member `uncertain`: the server may have the message, and sending it again
//! could deliver it twice.

pub mod session;
pub mod stub;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lettre::transport::smtp::extension::ClientId;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::compose::message::Outgoing;
use crate::config::{Config, Security, Transport};
use crate::error::{Error, Result, show};
use crate::outcome::{Fatal, Reply, ReplyKind};
use crate::transport::session::{Extensions, Failure, Response, Session, Stream};

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

/// The rustls client config for TLS (implicit or STARTTLS): webpki's public roots plus `ca_pem`'s.
fn tls_config(
    ca_pem: Option<&[u8]>,
) -> std::result::Result<tokio_rustls::rustls::ClientConfig, String> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(pem) = ca_pem {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("not a PEM certificate: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("unusable certificate: {e}"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
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
                let tls = tls_config(ca_pem.as_deref()).map_err(|e| {
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

/// A file name a person can find a member by: the address, with path characters replaced.
pub fn eml_name(address: &str) -> String {
    let safe: String = address
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() || c == ':' {
                '_'
            } else {
                c
            }
        })
        .collect();
    format!("{safe}.eml")
}

/// Writes `bytes` to `path` through a temporary file and a rename: never half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("out")
    ));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_data()?;
    std::fs::rename(&tmp, path)
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
            Connection::File { dir } => {
                if !go.wait().await {
                    return None;
                }
                let path = dir.join(eml_name(msg.to.as_ref()));
                let bytes = msg.bytes.clone();
                let p = path.clone();
                let written = tokio::task::spawn_blocking(move || write_atomic(&p, &bytes))
                    .await
                    .unwrap_or_else(|e| Err(io::Error::other(e)));
                Some(match written {
                    Ok(()) => Ok(Reply::accepted(None, format!("written to {}", show(&path)))),
                    // The name, not the disk: this member's file can never be written.
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::InvalidFilename | io::ErrorKind::InvalidInput
                        ) =>
                    {
                        Ok(Reply::unsendable(format!(
                            "cannot write `{}`: {e}",
                            show(&path)
                        )))
                    }
                    Err(e) => Err(Fatal(format!("failed to write `{}`: {e}", show(&path)))),
                })
            }
            Connection::Stub(stub) => stub.send(msg, go).await,
            Connection::Smtp { spec, conn, sent } => {
                if conn.is_none() {
                    *sent = 0;
                }
                let result = send_smtp(spec, conn, msg, &mut go).await;
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

/// One message over the worker's connection, opened first if need be. `None` when `go`
/// said no; whatever happens, `go` is heard before a reply is returned, so no reply is
/// recorded for a member the coordinator held back.
async fn send_smtp(
    spec: &SmtpSpec,
    conn: &mut Option<Session>,
    msg: &Outgoing,
    go: &mut Go,
) -> Option<std::result::Result<Reply, Fatal>> {
    // Anything the server said since the last reply answers nothing (a 421 before an idle
    // close, a close): that connection is done with, and this message not yet begun.
    if let Some(s) = conn
        && (s.broken || s.unsolicited().await.is_err())
    {
        *conn = None;
    }
    if conn.is_none() {
        match open(spec).await {
            Ok(c) => *conn = Some(c),
            Err(Opened::Retry(reply)) => return go.wait().await.then_some(Ok(reply)),
            Err(Opened::Fatal(f)) => return go.wait().await.then_some(Err(f)),
        }
    }
    let s = conn.as_mut().expect("connected above");
    let envelope = match Envelope::of(msg, &s.ext, spec) {
        Ok(envelope) => envelope,
        Err(reply) => return go.wait().await.then_some(Ok(*reply)),
    };
    let (reply, keep) = transaction(s, spec, &envelope, &msg.bytes, go).await?;
    if !keep {
        *conn = None;
    }
    Some(Ok(reply))
}

/// MAIL FROM and RCPT TO as they go on the wire: domains in their ASCII (punycode) form;
/// SMTPUTF8 asked for when a local part is not ASCII, BODY=8BITMIME when the content is not.
struct Envelope {
    /// `MAIL FROM:<...> [params]\r\n`
    mail: String,
    /// `RCPT TO:<...>\r\n`
    rcpt: String,
}

impl Envelope {
    /// The envelope for `msg` on a server offering `ext`; a member this server cannot take
    /// (a non-ASCII local part without SMTPUTF8) fails with the reason.
    fn of(
        msg: &Outgoing,
        ext: &Extensions,
        spec: &SmtpSpec,
    ) -> std::result::Result<Envelope, Box<Reply>> {
        let (from, from_utf8) = wire_address(&msg.from);
        let (to, to_utf8) = wire_address(&msg.to);
        let mut mail = format!("MAIL FROM:<{from}>");
        if !msg.bytes.is_ascii() {
            if !ext.eightbitmime {
                return Err(Box::new(Reply::unsendable(format!(
                    "the message to `{}` is not ASCII and {}:{} does not offer 8BITMIME",
                    msg.to, spec.host, spec.port
                ))));
            }
            mail.push_str(" BODY=8BITMIME");
        }
        if from_utf8 || to_utf8 {
            if !ext.smtputf8 {
                let who = if to_utf8 { &msg.to } else { &msg.from };
                return Err(Box::new(Reply::unsendable(format!(
                    "`{who}` has a non-ASCII local part, which needs SMTPUTF8, and {}:{} does not offer it",
                    spec.host, spec.port
                ))));
            }
            mail.push_str(" SMTPUTF8");
        }
        mail.push_str("\r\n");
        Ok(Envelope {
            mail,
            rcpt: format!("RCPT TO:<{to}>\r\n"),
        })
    }
}

/// An address as the envelope carries it: the domain in its ASCII form (IDNA, UTS #46), and
/// whether the local part needs SMTPUTF8.
fn wire_address(a: &lettre::Address) -> (String, bool) {
    let user = a.user();
    let domain = a.domain();
    let domain = match domain.is_ascii() || domain.starts_with('[') {
        true => domain.to_string(),
        false => idna::domain_to_ascii(domain).unwrap_or_else(|_| domain.to_string()),
    };
    (format!("{user}@{domain}"), !user.is_ascii())
}

/// Where a failure happened, for its wording and its outcome.
#[derive(Clone, Copy, PartialEq)]
enum Stage {
    /// Before the content's last byte was handed over: nothing was delivered, retry.
    Before,
    /// After the whole message was sent: only the reply tells, and it was lost.
    After,
}

impl Stage {
    fn reply(self, failure: Failure, spec: &SmtpSpec) -> Reply {
        let secs = spec.timeout.as_secs();
        match (self, failure) {
            (_, Failure::Refused(r)) => Reply::from_response(&r),
            (Stage::Before, Failure::Timeout) => Reply::transient(format!(
                "timed out after {secs} s waiting for {}:{}",
                spec.host, spec.port
            )),
            (Stage::Before, Failure::Closed) => Reply::transient(
                "connection lost before the message was complete: will retry".to_string(),
            ),
            (Stage::Before, Failure::Io(e)) => Reply::transient(format!(
                "connection lost before the message was complete ({e}): will retry"
            )),
            (Stage::Before, Failure::Protocol(why)) => Reply::transient(format!(
                "protocol error before the message was complete: {why}: will retry"
            )),
            (Stage::After, Failure::Timeout) => Reply::uncertain(format!(
                "timed out after {secs} s waiting for the reply to the message: delivery unknown"
            )),
            (Stage::After, Failure::Closed) => Reply::uncertain(
                "connection lost after the message was sent: delivery unknown".to_string(),
            ),
            (Stage::After, Failure::Io(e)) => Reply::uncertain(format!(
                "connection lost after the message was sent ({e}): delivery unknown"
            )),
            (Stage::After, Failure::Protocol(why)) => Reply::uncertain(format!(
                "garbled reply after the message was sent ({why}): delivery unknown"
            )),
        }
    }
}

/// One mail transaction: MAIL, RCPT, DATA (pipelined when the connection allows), the
/// dot-stuffed content, and the reply to its end, each reply read in order and required to
/// answer what was asked. `go` is heard before the content may go (a no gets RSET and
/// `None`). Returns the member's reply and whether the connection may be used again.
async fn transaction(
    s: &mut Session,
    spec: &SmtpSpec,
    envelope: &Envelope,
    content: &[u8],
    go: &mut Go,
) -> Option<(Reply, bool)> {
    let pipelining = spec.pipelining && s.ext.pipelining;
    let before = |failure: Failure| Stage::Before.reply(failure, spec);
    if pipelining {
        // RFC 2920: the envelope and DATA in one write, their replies read in order; the word
        // is waited for first, as DATA must be followed by the content (a word of no then
        // costs nothing). One round trip instead of three.
        if !go.wait().await {
            return None;
        }
        let deadline = Instant::now() + spec.timeout;
        let group = format!("{}{}DATA\r\n", envelope.mail, envelope.rcpt);
        if let Err(f) = s.write(group.as_bytes(), deadline).await {
            return Some((before(f), false));
        }
        // All three are read whatever they say, so the connection stays in step; a reply
        // that is no reply at all (garbled, lost) ends the connection there.
        let broken = |r: &std::result::Result<_, Failure>| matches!(r, Err(f) if !matches!(f, Failure::Refused(_)));
        let mail = s.expect(2, "MAIL", deadline).await;
        if broken(&mail) {
            return Some((before(mail.err()?), false));
        }
        let rcpt = s.expect(2, "RCPT", deadline).await;
        if broken(&rcpt) {
            return Some((before(rcpt.err()?), false));
        }
        let data = s.expect(3, "DATA", deadline).await;
        let first = mail.err().or(rcpt.err());
        match (first, data) {
            (None, Ok(_)) => {}
            // DATA taken though the envelope was refused: the server waits for content
            // that will not come.
            (Some(f), Ok(_)) => return Some((before(f), false)),
            (first, Err(d)) => {
                let in_step = matches!(d, Failure::Refused(_));
                let f = first.unwrap_or(d);
                return Some(match in_step {
                    true => refusal(s, f, spec, deadline).await,
                    false => (before(f), false),
                });
            }
        }
    } else {
        let deadline = Instant::now() + spec.timeout;
        let steps = async {
            s.command(&envelope.mail, 2, "MAIL", deadline).await?;
            s.command(&envelope.rcpt, 2, "RCPT", deadline).await
        };
        if let Err(f) = steps.await {
            if !go.wait().await {
                s.broken = true;
                return None;
            }
            return Some(refusal(s, f, spec, deadline).await);
        }
        if !go.wait().await {
            // Held back: the transaction is reset, the connection kept if that works.
            let reset = s.command("RSET\r\n", 2, "RSET", Instant::now() + spec.timeout);
            if reset.await.is_err() {
                s.broken = true;
            }
            return None;
        }
        let deadline = Instant::now() + spec.timeout;
        if let Err(f) = s.write(b"DATA\r\n", deadline).await {
            return Some((before(f), false));
        }
        if let Err(f) = s.expect(3, "DATA", deadline).await {
            return Some(refusal(s, f, spec, deadline).await);
        }
    }
    let deadline = Instant::now() + spec.timeout;
    // The server must have said nothing more: a reply waiting now would be read as the
    // answer to the message.
    if let Err(f) = s.unsolicited().await {
        return Some((before(f), false));
    }
    if let Err(f) = s.write(&dot_stuffed(content), deadline).await {
        return Some((before(f), false));
    }
    // From here the server may have the message: only a clear reply to it decides.
    let after = |failure: Failure| (Stage::After.reply(failure, spec), false);
    let reply = match s.read(deadline).await {
        Ok(reply) => reply,
        Err(f) => return Some(after(f)),
    };
    if !matches!(reply.class(), 2 | 4 | 5) {
        return Some(after(Failure::Protocol(format!(
            "unexpected reply `{}` to the end of the message",
            reply.text()
        ))));
    }
    if s.nothing_more().is_err() {
        // Two replies to one message: which one answers it is anyone's guess.
        return Some(after(Failure::Protocol(format!(
            "`{}` and more replies to the end of the message",
            reply.text()
        ))));
    }
    Some((Reply::from_response(&reply), true))
}

/// A command refused (or misanswered) before the content went: the member's reply, and
/// whether the connection is still fit (in step, and reset with RSET).
async fn refusal(s: &mut Session, f: Failure, spec: &SmtpSpec, deadline: Instant) -> (Reply, bool) {
    let in_step = matches!(f, Failure::Refused(_));
    let reply = Stage::Before.reply(f, spec);
    let keep = in_step && s.command("RSET\r\n", 2, "RSET", deadline).await.is_ok();
    (reply, keep)
}

/// Message content as SMTP's DATA carries it (RFC 5321 4.5.2): a `.` doubled where it starts
/// a line (after CRLF, as lettre's codec does), then the terminating `CRLF . CRLF`.
fn dot_stuffed(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + content.len() / 64 + 8);
    let mut from = 0;
    if content.first() == Some(&b'.') {
        out.push(b'.');
    }
    for at in memchr::memmem::find_iter(content, b"\r\n.") {
        // Through the CRLF and the dot, then the dot again.
        out.extend_from_slice(&content[from..at + 3]);
        out.push(b'.');
        from = at + 3;
    }
    out.extend_from_slice(&content[from..]);
    out.extend_from_slice(b"\r\n.\r\n");
    out
}

enum Opened {
    Retry(Reply),
    Fatal(Fatal),
}

/// Connects, reads the greeting, says EHLO, upgrades with STARTTLS and logs in, as
/// `smtp.security` and the credentials ask; all by one deadline.
async fn open(spec: &SmtpSpec) -> std::result::Result<Session, Opened> {
    let where_ = format!("{}:{}", spec.host, spec.port);
    let deadline = Instant::now() + spec.timeout;
    let timed_out = || {
        Opened::Retry(Reply::transient(format!(
            "timed out after {} s waiting for {where_}",
            spec.timeout.as_secs()
        )))
    };
    let tcp = match tokio::time::timeout_at(
        deadline,
        TcpStream::connect((spec.host.as_str(), spec.port)),
    )
    .await
    {
        Err(_) => return Err(timed_out()),
        Ok(Err(e)) => {
            return Err(Opened::Retry(Reply::transient(format!(
                "cannot connect to {where_}: {e}"
            ))));
        }
        Ok(Ok(tcp)) => tcp,
    };
    let _ = tcp.set_nodelay(true);
    let failed = |f: Failure| Opened::Retry(Stage::Before.reply(f, spec).while_connecting());
    let stream = match spec.security {
        Security::Tls => match tokio::time::timeout_at(deadline, tls_wrap(tcp, spec)).await {
            Err(_) => return Err(timed_out()),
            Ok(Err(e)) => {
                return Err(Opened::Retry(Reply::transient(format!(
                    "TLS handshake with {where_} failed: {e}"
                ))));
            }
            Ok(Ok(tls)) => Stream::Tls(Box::new(tls)),
        },
        _ => Stream::Plain(tcp),
    };
    let mut s = Session::new(stream);
    let ehlo = format!("EHLO {}\r\n", spec.hello);
    let greeted = async {
        s.expect(2, "the connection", deadline).await?;
        s.nothing_more()?;
        let reply = s.command(&ehlo, 2, "EHLO", deadline).await?;
        s.ext = Extensions::from_ehlo(&reply);
        Ok(())
    };
    greeted.await.map_err(failed)?;
    if spec.security == Security::Starttls {
        if !s.ext.starttls {
            return Err(Opened::Fatal(Fatal(format!(
                "{where_} does not offer STARTTLS; set `smtp.security` to \"tls\" or (for a local relay only) \"none\""
            ))));
        }
        // `command` checked nothing came after the 220: bytes sent before the handshake
        // would be read as if they came over TLS.
        s.command("STARTTLS\r\n", 2, "STARTTLS", deadline)
            .await
            .map_err(failed)?;
        let Stream::Plain(tcp) = s.stream else {
            unreachable!("STARTTLS on a plain stream")
        };
        let tls = match tokio::time::timeout_at(deadline, tls_wrap(tcp, spec)).await {
            Err(_) => return Err(timed_out()),
            Ok(Err(e)) => {
                return Err(Opened::Retry(Reply::transient(format!(
                    "STARTTLS with {where_} failed: {e}"
                ))));
            }
            Ok(Ok(tls)) => tls,
        };
        s = Session::new(Stream::Tls(Box::new(tls)));
        let reply = s
            .command(&ehlo, 2, "EHLO", deadline)
            .await
            .map_err(failed)?;
        s.ext = Extensions::from_ehlo(&reply);
    }
    if let Some((user, password)) = &spec.credentials {
        login(&mut s, user, &password.0, deadline)
            .await
            .map_err(|f| match f {
                Failure::Refused(r) if r.class() == 5 => Opened::Fatal(Fatal(format!(
                    "{where_} refused the login for `{user}`: {}",
                    r.text()
                ))),
                Failure::Protocol(why) if why.starts_with("no AUTH") => {
                    Opened::Fatal(Fatal(format!("{where_} cannot log in `{user}`: {why}")))
                }
                f => failed(f),
            })?;
    }
    Ok(s)
}

/// AUTH PLAIN, or LOGIN when only that is offered (RFC 4954). The password goes base64
/// encoded to the server and nowhere else.
async fn login(
    s: &mut Session,
    user: &str,
    password: &str,
    deadline: Instant,
) -> std::result::Result<(), Failure> {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    if s.ext.auth.iter().any(|m| m == "PLAIN") {
        let token = b64(format!("\0{user}\0{password}").as_bytes());
        s.command(&format!("AUTH PLAIN {token}\r\n"), 2, "AUTH", deadline)
            .await?;
    } else if s.ext.auth.iter().any(|m| m == "LOGIN") {
        s.command("AUTH LOGIN\r\n", 3, "AUTH", deadline).await?;
        s.command(
            &format!("{}\r\n", b64(user.as_bytes())),
            3,
            "AUTH",
            deadline,
        )
        .await?;
        s.command(
            &format!("{}\r\n", b64(password.as_bytes())),
            2,
            "AUTH",
            deadline,
        )
        .await?;
    } else {
        return Err(Failure::Protocol(
            "no AUTH PLAIN or LOGIN offered".to_string(),
        ));
    }
    Ok(())
}

/// TLS over `tcp` to `spec.host`: the public roots plus `smtp.ca_file`'s.
async fn tls_wrap(
    tcp: TcpStream,
    spec: &SmtpSpec,
) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(spec.host.clone())
        .map_err(io::Error::other)?;
    tokio_rustls::TlsConnector::from(spec.tls.clone())
        .connect(name, tcp)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// lettre 0.11's `ClientCodec::encode` state machine, then its terminator: the reference.
    fn lettre_codec(text: &str) -> String {
        let (mut out, mut start, mut cr) = (String::new(), true, false);
        for c in text.chars() {
            out.push(c);
            if c == '.' && start {
                out.push('.');
            }
            start = cr && c == '\n';
            cr = c == '\r';
        }
        out + "\r\n.\r\n"
    }

    #[test]
    fn dot_stuffing_doubles_a_dot_that_starts_a_line() {
        assert_eq!(
            dot_stuffed(b".a\r\n.\r\nb\n.c\r.d\r\n..e"),
            b"..a\r\n..\r\nb\n.c\r.d\r\n...e\r\n.\r\n"
        );
        assert_eq!(dot_stuffed(b""), b"\r\n.\r\n");
    }

    proptest! {
        #[test]
        fn dot_stuffing_writes_what_lettre_would(text in "[.\r\na]{0,40}") {
            prop_assert_eq!(dot_stuffed(text.as_bytes()), lettre_codec(&text).into_bytes());
        }
    }

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

    #[test]
    fn file_names_keep_the_address_readable() {
        assert_eq!(eml_name("zoë@example.org"), "zoë@example.org.eml");
        assert_eq!(eml_name("a/b@example.org"), "a_b@example.org.eml");
    }
}
