//! Transports: where a built message goes, and the reply that decides its outcome.
//!
//! Each send worker owns one [`Connection`]. The SMTP connection is lettre's
//! `AsyncSmtpConnection` over a TCP stream we open ourselves, so that `TCP_NODELAY` is set:
//! lettre's pooled transport leaves Nagle on and stalls ~44 ms per message on a fast link.
//! Any non-2xx reply makes lettre drop the connection; the next message reconnects.
//! An ASCII message goes as lettre's `send` would send it, but dot-stuffed here in one pass
//! (`DotStuffed`): lettre's codec pushes byte by byte, ~18% of the CPU of a send.
//!
//! When the server offers PIPELINING (RFC 2920; lettre does not record it, so a second EHLO
//! before AUTH asks), MAIL, RCPT and DATA go in one write once the journal has written the
//! member's `start` ([`Go`]), and their replies are read in order: two round trips per
//! message. Otherwise MAIL and RCPT go before the word, one reply at a time, and only DATA
//! and the content wait for it.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::config::{Config, Security, Transport};
use crate::error::{Error, Result, show};
use crate::message::Outgoing;

/// How a reply classifies the delivery (as the journal writes it: `accepted`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyKind {
    /// 2xx: the server took responsibility for the message.
    Accepted,
    /// 4xx, a timeout or a connection problem: try again later.
    Transient,
    /// 5xx: this message to this member will not go.
    Permanent,
}

/// The outcome of one attempt, as the server worded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub kind: ReplyKind,
    /// Basic SMTP code (`250`, `451`, `550`), when a server answered.
    pub code: Option<u16>,
    /// Enhanced status code (`5.1.1`), when the reply carried one.
    pub enhanced: Option<String>,
    /// The whole reply text, or what went wrong.
    pub text: String,
    /// The failure came before the message was offered (connect, greeting, TLS, login, or a
    /// timeout): counts towards the circuit breaker.
    pub connecting: bool,
}

/// Finds an RFC 3463 enhanced status code (`4.7.28`) at the start of a reply text.
pub fn enhanced_code(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == '-')
        .find_map(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            let ok = parts.len() == 3
                && matches!(parts[0], "2" | "4" | "5")
                && parts[1..]
                    .iter()
                    .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
            ok.then(|| w.to_string())
        })
}

impl Reply {
    /// What the reply means for the member and the campaign (see the table in the README):
    /// `accepted`; `hard-bounce` (5.1.x, 5.2.1: no such mailbox, suppressed); `policy` (5.7.x:
    /// the sender's problem, not the member's); `message` (5.3.4, 5.6.x: fix the message);
    /// `mailbox-full` (5.2.2); `permanent` (another 5xx); `throttled` (421 or 4.7.x);
    /// `transient` (another 4xx, a timeout, a connection failure).
    pub fn reason(&self) -> &'static str {
        let e = self.enhanced.as_deref().unwrap_or("");
        match self.kind {
            ReplyKind::Accepted => "accepted",
            ReplyKind::Transient if self.code == Some(421) || e.starts_with("4.7.") => "throttled",
            ReplyKind::Transient => "transient",
            ReplyKind::Permanent if e.starts_with("5.1.") || e == "5.2.1" => "hard-bounce",
            ReplyKind::Permanent if e.starts_with("5.7.") => "policy",
            ReplyKind::Permanent if e == "5.3.4" || e.starts_with("5.6.") => "message",
            ReplyKind::Permanent if e == "5.2.2" => "mailbox-full",
            ReplyKind::Permanent => "permanent",
        }
    }

    pub fn accepted(code: Option<u16>, text: String) -> Reply {
        Reply {
            kind: ReplyKind::Accepted,
            code,
            enhanced: enhanced_code(&text),
            text,
            connecting: false,
        }
    }

    /// A failure with no SMTP reply: refused, reset or timed out.
    pub fn transient(text: String) -> Reply {
        Reply {
            kind: ReplyKind::Transient,
            code: None,
            enhanced: None,
            text,
            connecting: true,
        }
    }

    fn while_connecting(mut self) -> Reply {
        self.connecting = true;
        self
    }

    fn from_lettre(err: &lettre::transport::smtp::Error) -> Reply {
        use std::error::Error as _;
        let code = err.status().map(u16::from);
        let text = match (code, err.source()) {
            (Some(c), Some(src)) => format!("{c} {src}"),
            (None, _) if err.is_timeout() => "timed out waiting for the server".to_string(),
            _ => err.to_string(),
        };
        let kind = if err.is_permanent() {
            ReplyKind::Permanent
        } else {
            ReplyKind::Transient
        };
        Reply {
            kind,
            code,
            enhanced: enhanced_code(&text),
            text,
            connecting: false,
        }
    }
}

/// Why a whole campaign must stop: retrying member after member would not help.
#[derive(Debug, Clone)]
pub struct Fatal(pub String);

/// The transport settings a worker needs to open its connection.
#[derive(Debug, Clone)]
pub enum TransportSpec {
    File { dir: PathBuf },
    Smtp(Arc<SmtpSpec>),
}

#[derive(Debug)]
pub struct SmtpSpec {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub credentials: Option<(String, Credentials)>,
    pub timeout: Duration,
    pub hello: ClientId,
    /// Messages per connection before a polite QUIT and a new connection; 0 = no limit.
    pub messages_per_connection: u32,
    /// Send MAIL, RCPT and DATA in one go when the server offers PIPELINING (RFC 2920).
    pub pipelining: bool,
    /// Extra trusted CA certificates (PEM), from `smtp.ca_file`.
    pub ca_pem: Option<Vec<u8>>,
    /// For implicit TLS: the public roots plus `ca_pem`.
    pub tls: Arc<tokio_rustls::rustls::ClientConfig>,
}

/// The rustls client config for implicit TLS: webpki's public roots plus `ca_pem`'s.
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
                        Some((user.clone(), Credentials::new(user.clone(), password)))
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
                    ca_pem,
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
}

/// An open SMTP connection, and whether it pipelines.
pub struct Session {
    smtp: AsyncSmtpConnection,
    /// The server offered PIPELINING and `smtp.pipelining` is on.
    pipelining: bool,
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
                Some(
                    match tokio::task::spawn_blocking(move || write_atomic(&p, &bytes)).await {
                        Ok(Ok(())) => {
                            Ok(Reply::accepted(None, format!("written to {}", show(&path))))
                        }
                        Ok(Err(e)) => Err(Fatal(format!("failed to write `{}`: {e}", show(&path)))),
                        Err(e) => Err(Fatal(format!("failed to write `{}`: {e}", show(&path)))),
                    },
                )
            }
            Connection::Smtp { spec, conn, sent } => {
                let envelope = match Envelope::new(Some(msg.from.clone()), vec![msg.to.clone()]) {
                    Ok(envelope) => envelope,
                    Err(e) => {
                        return go
                            .wait()
                            .await
                            .then(|| Err(Fatal(format!("invalid envelope: {e}"))));
                    }
                };
                let timeout = spec.timeout;
                if conn.is_none() {
                    *sent = 0;
                }
                // A pipelining connection sends nothing before the word: wait for it here,
                // where a slow word cannot pass for a slow server.
                if conn
                    .as_ref()
                    .is_some_and(|c| c.pipelining && !c.smtp.has_broken())
                    && !go.wait().await
                {
                    return None;
                }
                let reply = match tokio::time::timeout(
                    timeout,
                    send_smtp(spec, conn, &envelope, &msg.bytes, &mut go),
                )
                .await
                {
                    Ok(None) => return None,
                    Ok(Some(Err(fatal))) => return Some(Err(fatal)),
                    Ok(Some(Ok(reply))) => reply,
                    // Timed out, perhaps before the word: if it is no, nothing was handed over.
                    Err(_) if !go.wait().await => return None,
                    Err(_) => {
                        *conn = None;
                        Reply::transient(format!(
                            "timed out after {} s waiting for {}:{}",
                            timeout.as_secs(),
                            spec.host,
                            spec.port
                        ))
                    }
                };
                *sent += 1;
                if spec.messages_per_connection > 0
                    && *sent >= spec.messages_per_connection
                    && let Some(mut c) = conn.take()
                {
                    let _ = tokio::time::timeout(timeout, c.smtp.quit()).await;
                }
                Some(Ok(reply))
            }
        }
    }

    /// Says goodbye politely.
    pub async fn close(&mut self) {
        if let Connection::Smtp { conn, spec, .. } = self
            && let Some(mut c) = conn.take()
        {
            let _ = tokio::time::timeout(spec.timeout, c.smtp.quit()).await;
        }
    }
}

/// One message over the worker's connection, opened first if need be. `None` when `go`
/// said no; whatever happens, `go` is heard before a reply is returned, so no reply is
/// recorded for a member the coordinator held back.
async fn send_smtp(
    spec: &SmtpSpec,
    conn: &mut Option<Session>,
    envelope: &Envelope,
    bytes: &[u8],
    go: &mut Go,
) -> Option<std::result::Result<Reply, Fatal>> {
    if conn.as_ref().is_none_or(|c| c.smtp.has_broken()) {
        *conn = None;
        match open(spec).await {
            Ok(c) => *conn = Some(c),
            Err(Opened::Retry(reply)) => return go.wait().await.then_some(Ok(reply)),
            Err(Opened::Fatal(f)) => return go.wait().await.then_some(Err(f)),
        }
    }
    let Session {
        smtp: c,
        pipelining,
    } = conn.as_mut().expect("connected above");
    let result = send_message(c, *pipelining, envelope, bytes, go).await;
    if !go.wait().await {
        return None;
    }
    Some(Ok(match result {
        Ok(Some(resp)) => {
            let code = u16::from(resp.code());
            let text = format!("{code} {}", resp.message().collect::<Vec<_>>().join(" "));
            Reply::accepted(Some(code), text)
        }
        // Only when `go` said no, handled above.
        Ok(None) => return None,
        Err(e) => {
            if c.has_broken() || !(e.is_transient() || e.is_permanent()) {
                *conn = None;
            }
            Reply::from_lettre(&e)
        }
    }))
}

/// lettre's `AsyncSmtpConnection::send` for an ASCII message: the same commands, the same
/// `abort` (QUIT, connection marked broken) on a failed reply, and the same bytes on the wire;
/// but `go` is waited for between RCPT and DATA (a no gets RSET, and `Ok(None)`), and the
/// content is dot-stuffed by [`DotStuffed`] instead of lettre's byte-at-a-time codec.
/// Anything needing SMTPUTF8 or 8BITMIME is left to lettre's `send`, after `go`.
async fn send_message(
    c: &mut AsyncSmtpConnection,
    pipelining: bool,
    envelope: &Envelope,
    bytes: &[u8],
    go: &mut Go,
) -> std::result::Result<Option<Response>, lettre::transport::smtp::Error> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text)
            if text.is_ascii()
                && envelope
                    .from()
                    .is_none_or(|a| AsRef::<str>::as_ref(a).is_ascii())
                && envelope
                    .to()
                    .iter()
                    .all(|a| AsRef::<str>::as_ref(a).is_ascii()) =>
        {
            text
        }
        _ if !go.wait().await => return Ok(None),
        _ => return c.send(envelope, bytes).await.map(Some),
    };
    let steps = async {
        if pipelining {
            // RFC 2920: the envelope and DATA in one write, their replies read in order; the
            // word is waited for first, as DATA must be followed by the content (a word of no
            // then costs nothing). One round trip instead of three.
            if !go.wait().await {
                return Ok(None);
            }
            c.command(Pipelined(envelope)).await?;
            for _ in envelope.to() {
                c.read_response().await?;
            }
            c.read_response().await?;
            return c.command(DotStuffed(text)).await.map(Some);
        }
        c.command(Mail::new(envelope.from().cloned(), vec![]))
            .await?;
        for to in envelope.to() {
            c.command(Rcpt::new(to.clone(), vec![])).await?;
        }
        if !go.wait().await {
            c.command(Rset).await?;
            return Ok(None);
        }
        c.command(Data).await?;
        // `command` writes what it is given and reads the reply: here, the content.
        c.command(DotStuffed(text)).await.map(Some)
    };
    let result = steps.await;
    if result.is_err() {
        c.abort().await;
    }
    result
}

/// MAIL, every RCPT and DATA, as one pipelined group (RFC 2920 section 3.1: DATA last).
struct Pipelined<'a>(&'a Envelope);

impl std::fmt::Display for Pipelined<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", Mail::new(self.0.from().cloned(), vec![]))?;
        for to in self.0.to() {
            write!(f, "{}", Rcpt::new(to.clone(), vec![]))?;
        }
        write!(f, "{Data}")
    }
}

/// Message content as SMTP's DATA carries it (RFC 5321 4.5.2): a `.` doubled where it starts
/// a line (after CRLF, as lettre's codec does), then the terminating `CRLF . CRLF`.
struct DotStuffed<'a>(&'a str);

impl std::fmt::Display for DotStuffed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = self.0;
        let mut from = 0;
        if text.starts_with('.') {
            f.write_str(".")?;
        }
        for at in memchr::memmem::find_iter(text.as_bytes(), b"\r\n.") {
            // Through the CRLF and the dot, then the dot again.
            f.write_str(&text[from..at + 3])?;
            f.write_str(".")?;
            from = at + 3;
        }
        f.write_str(&text[from..])?;
        f.write_str("\r\n.\r\n")
    }
}

enum Opened {
    Retry(Reply),
    Fatal(Fatal),
}

async fn open(spec: &SmtpSpec) -> std::result::Result<Session, Opened> {
    let where_ = format!("{}:{}", spec.host, spec.port);
    let tcp = TcpStream::connect((spec.host.as_str(), spec.port))
        .await
        .map_err(|e| Opened::Retry(Reply::transient(format!("cannot connect to {where_}: {e}"))))?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn AsyncTokioStream> = match spec.security {
        Security::Tls => Box::new(tls_wrap(tcp, spec).await.map_err(|e| {
            Opened::Retry(Reply::transient(format!(
                "TLS handshake with {where_} failed: {e}"
            )))
        })?),
        _ => Box::new(tcp),
    };
    let mut conn = AsyncSmtpConnection::connect_with_transport(stream, &spec.hello)
        .await
        .map_err(|e| Opened::Retry(Reply::from_lettre(&e).while_connecting()))?;
    if spec.security == Security::Starttls {
        if !conn.can_starttls() {
            return Err(Opened::Fatal(Fatal(format!(
                "{where_} does not offer STARTTLS; set `smtp.security` to \"tls\" or (for a local relay only) \"none\""
            ))));
        }
        let mut params = TlsParameters::builder(spec.host.clone());
        if let Some(pem) = &spec.ca_pem {
            let cert = Certificate::from_pem(pem)
                .map_err(|e| Opened::Fatal(Fatal(format!("`smtp.ca_file`: {e}"))))?;
            params = params.add_root_certificate(cert);
        }
        let params = params
            .build()
            .map_err(|e| Opened::Fatal(Fatal(format!("TLS setup for {where_} failed: {e}"))))?;
        conn.starttls(params, &spec.hello).await.map_err(|e| {
            Opened::Retry(Reply::transient(format!(
                "STARTTLS with {where_} failed: {e}"
            )))
        })?;
    }
    // lettre keeps no record of PIPELINING: ask again (EHLO is allowed at any time outside a
    // transaction, and before AUTH it changes nothing the login depends on).
    let pipelining = match spec.pipelining {
        false => false,
        true => match conn.command(Ehlo::new(spec.hello.clone())).await {
            Ok(reply) => offers_pipelining(&reply),
            // Refused: then no pipelining.
            Err(e) if e.is_transient() || e.is_permanent() => false,
            Err(e) => return Err(Opened::Retry(Reply::from_lettre(&e).while_connecting())),
        },
    };
    if let Some((user, creds)) = &spec.credentials {
        conn.auth(&[Mechanism::Plain, Mechanism::Login], creds)
            .await
            .map_err(|e| {
                let r = Reply::from_lettre(&e);
                if r.kind == ReplyKind::Permanent {
                    Opened::Fatal(Fatal(format!(
                        "{where_} refused the login for `{user}`: {}",
                        r.text
                    )))
                } else {
                    Opened::Retry(r.while_connecting())
                }
            })?;
    }
    Ok(Session {
        smtp: conn,
        pipelining,
    })
}

/// Whether an EHLO reply lists PIPELINING.
fn offers_pipelining(ehlo: &Response) -> bool {
    ehlo.message().any(|line| {
        line.split_whitespace()
            .next()
            .is_some_and(|k| k.eq_ignore_ascii_case("PIPELINING"))
    })
}

/// A TLS stream lettre can drive (implicit TLS, port 465).
#[derive(Debug)]
struct TlsStream(tokio_rustls::client::TlsStream<TcpStream>);

async fn tls_wrap(tcp: TcpStream, spec: &SmtpSpec) -> io::Result<TlsStream> {
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(spec.host.clone())
        .map_err(io::Error::other)?;
    let stream = tokio_rustls::TlsConnector::from(spec.tls.clone())
        .connect(name, tcp)
        .await?;
    Ok(TlsStream(stream))
}

impl AsyncRead for TlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsStream {
    fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_pipelined_group_is_mail_rcpt_and_data_with_data_last() {
        let envelope = Envelope::new(
            Some("bounces+t@example.org".parse().unwrap()),
            vec!["ann@example.org".parse().unwrap()],
        )
        .unwrap();
        assert_eq!(
            Pipelined(&envelope).to_string(),
            "MAIL FROM:<bounces+t@example.org>\r\nRCPT TO:<ann@example.org>\r\nDATA\r\n"
        );
    }

    #[test]
    fn pipelining_is_read_from_the_ehlo_reply_keywords() {
        let reply = |text: &str| text.parse::<Response>().unwrap();
        assert!(offers_pipelining(&reply(
            "250-mx.example.org\r\n250-SIZE 1000\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
        )));
        assert!(offers_pipelining(&reply(
            "250-mx.example.org\r\n250 pipelining\r\n"
        )));
        assert!(!offers_pipelining(&reply(
            "250-mx.example.org says PIPELINING is off\r\n250-XPIPELINING\r\n250 8BITMIME\r\n"
        )));
    }

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
            DotStuffed(".a\r\n.\r\nb\n.c\r.d\r\n..e").to_string(),
            "..a\r\n..\r\nb\n.c\r.d\r\n...e\r\n.\r\n"
        );
        assert_eq!(DotStuffed("").to_string(), "\r\n.\r\n");
    }

    proptest! {
        #[test]
        fn dot_stuffing_writes_what_lettre_would(text in "[.\r\na]{0,40}") {
            prop_assert_eq!(DotStuffed(&text).to_string(), lettre_codec(&text));
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
    fn enhanced_codes_are_found() {
        assert_eq!(
            enhanced_code("550 5.1.1 <eve@example.org>: mailbox unknown").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(
            enhanced_code("421-4.7.28 Our system has detected").as_deref(),
            Some("4.7.28")
        );
        assert_eq!(enhanced_code("250 Ok: queued as 1.2"), None);
    }

    #[test]
    fn replies_are_classified_as_the_providers_mean_them() {
        let r = |code: u16, text: &str| {
            let kind = match code / 100 {
                2 => ReplyKind::Accepted,
                4 => ReplyKind::Transient,
                _ => ReplyKind::Permanent,
            };
            Reply {
                kind,
                code: Some(code),
                enhanced: enhanced_code(text),
                text: text.to_string(),
                connecting: false,
            }
            .reason()
        };
        assert_eq!(
            r(550, "550 5.1.1 <x@example.org>: Recipient address rejected"),
            "hard-bounce"
        );
        assert_eq!(r(553, "553 5.1.3 bad address syntax"), "hard-bounce");
        assert_eq!(r(550, "550 5.2.1 mailbox disabled"), "hard-bounce");
        assert_eq!(r(550, "550 5.7.1 rejected by DMARC policy"), "policy");
        assert_eq!(r(552, "552 5.3.4 message too big"), "message");
        assert_eq!(r(554, "554 5.6.0 malformed"), "message");
        assert_eq!(r(552, "552 5.2.2 mailbox full"), "mailbox-full");
        assert_eq!(r(550, "550 rejected"), "permanent");
        assert_eq!(r(421, "421 4.7.28 rate limited"), "throttled");
        assert_eq!(r(450, "450 4.7.1 try later"), "throttled");
        assert_eq!(r(451, "451 4.3.0 local error"), "transient");
        assert_eq!(r(250, "250 2.0.0 Ok"), "accepted");
    }

    #[test]
    fn file_names_keep_the_address_readable() {
        assert_eq!(eml_name("zoë@example.org"), "zoë@example.org.eml");
        assert_eq!(eml_name("a/b@example.org"), "a_b@example.org.eml");
    }
}
