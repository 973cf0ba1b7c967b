//! The bounce mailbox over IMAP (`[bounces]` in the config): async-imap on tokio, TLS by
//! rustls (implicit, STARTTLS, or none for a server on this host), every step under
//! `timeout_secs`. The messages read are those not flagged `\Deleted`, fetched with
//! `BODY.PEEK[]` (nothing is marked seen; at most [`super::MAX_MESSAGE_BYTES`] of each). A
//! message read is moved with `UID MOVE` to the processed folder (created if missing);
//! without MOVE it is copied there, flagged `\Deleted` and removed by `UID EXPUNGE` of its UID
//! alone (UIDPLUS); a server with neither gets the copy and the flag only (a plain EXPUNGE
//! would also remove what someone else flagged), and the flagged original is not read again.
//! Nothing is ever deleted otherwise: what cannot be read stays where it is, unflagged.
//!
//! `--watch` keeps the connection open on IDLE, renewed every `idle_secs`; a dropped
//! connection is opened again after 1, 2, 4 ... 60 seconds; Ctrl-C or SIGTERM stops it
//! between messages.

use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::config::{Config, Security};
use crate::error::{Error, Result, show};

/// A connection the IMAP client can run over: plain TCP or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}

type Session = async_imap::Session<Box<dyn Io>>;

/// `[bounces]` checked, with the password read from its environment variable.
pub struct Spec {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub user: String,
    password: String,
    pub folder: String,
    pub processed: String,
    pub timeout: Duration,
    pub idle: Duration,
    tls: Arc<tokio_rustls::rustls::ClientConfig>,
}

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("Spec")
            .field("host", &self.host)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Spec {
    /// The IMAP mailbox of `config`, or an error naming what is missing.
    pub fn of(config: &Config) -> Result<Spec> {
        let b = &config.bounces;
        let path = show(&config.path);
        let host = b.host.clone().ok_or_else(|| {
            Error::input(format!(
                "no bounce mailbox: set `[bounces] host` (and `user`) in `{path}`, or give `--from PATH` (a Maildir or mbox)"
            ))
        })?;
        let user = b.user.clone().ok_or_else(|| {
            Error::input(format!(
                "`[bounces] user` is not set in `{path}`: the IMAP login name"
            ))
        })?;
        let password = std::env::var(&b.password_env).map_err(|_| {
            Error::input(format!(
                "environment variable `{}` is not set: it must hold the password of `{user}` on `{host}` (see `bounces.password_env` in `{path}`)",
                b.password_env
            ))
        })?;
        let ca = match &b.ca_file {
            Some(f) => Some(std::fs::read(f).map_err(|e| {
                Error::input(format!(
                    "failed to read `bounces.ca_file` `{}`: {e}",
                    show(f)
                ))
            })?),
            None => None,
        };
        let tls = crate::transport::smtp::tls_config(ca.as_deref())
            .map_err(|e| Error::input(format!("`bounces.ca_file`: {e}")))?;
        Ok(Spec {
            host,
            port: b.port,
            security: b.security,
            user,
            password,
            folder: b.folder.clone(),
            processed: b.processed_folder.clone(),
            timeout: Duration::from_secs(b.timeout_secs.max(1)),
            idle: Duration::from_secs(b.idle_secs.max(1)),
            tls: Arc::new(tls),
        })
    }

    fn server(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// `fut`, or a runtime error after the timeout, naming `what`.
    async fn timed<T>(
        &self,
        what: &str,
        fut: impl std::future::Future<Output = async_imap::error::Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Error::runtime(format!(
                "IMAP server `{}`: {what} failed: {e}",
                self.server()
            ))),
            Err(_) => Err(Error::runtime(format!(
                "IMAP server `{}`: no answer to {what} within {} s",
                self.server(),
                self.timeout.as_secs()
            ))),
        }
    }
}

/// A message fetched: its UID and bytes.
pub struct Fetched {
    pub uid: u32,
    pub raw: Vec<u8>,
}

/// An open, logged-in session on the bounce folder.
pub struct Mailbox {
    spec: Arc<Spec>,
    session: Session,
    relocate: Relocate,
}

/// How a message read leaves the folder, by what the server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relocate {
    /// `UID MOVE` (RFC 6851).
    Move,
    /// `UID COPY`, `\Deleted`, `UID EXPUNGE` of that UID (UIDPLUS, RFC 4315).
    CopyExpunge,
    /// `UID COPY` and `\Deleted`, left for the mailbox's owner to expunge.
    CopyFlag,
}

impl Mailbox {
    /// Connects, logs in, makes sure the processed folder exists and selects the folder.
    pub async fn open(spec: Arc<Spec>) -> Result<Mailbox> {
        let stream = connect(&spec).await?;
        let client = async_imap::Client::new(stream);
        let login = tokio::time::timeout(spec.timeout, client.login(&spec.user, &spec.password));
        let mut session = match login.await {
            Ok(Ok(s)) => s,
            Ok(Err((e, _))) => {
                return Err(Error::runtime(format!(
                    "IMAP server `{}` refused the login of `{}`: {e}",
                    spec.server(),
                    spec.user
                )));
            }
            Err(_) => {
                return Err(Error::runtime(format!(
                    "IMAP server `{}`: no answer to LOGIN within {} s",
                    spec.server(),
                    spec.timeout.as_secs()
                )));
            }
        };
        let caps = spec.timed("CAPABILITY", session.capabilities()).await?;
        let relocate = match (caps.has_str("MOVE"), caps.has_str("UIDPLUS")) {
            (true, _) => Relocate::Move,
            (false, true) => Relocate::CopyExpunge,
            (false, false) => Relocate::CopyFlag,
        };
        // Created if missing; an error here is "it exists" (checked by the MOVE itself).
        let _ = spec.timed("CREATE", session.create(&spec.processed)).await;
        spec.timed(
            &format!("SELECT `{}`", spec.folder),
            session.select(&spec.folder),
        )
        .await?;
        Ok(Mailbox {
            spec,
            session,
            relocate,
        })
    }

    /// The UIDs in the folder now, ascending, but those flagged `\Deleted` (by someone, or
    /// by a copy to the processed folder on a server without MOVE or UIDPLUS).
    pub async fn uids(&mut self) -> Result<Vec<u32>> {
        let spec = self.spec.clone();
        let mut uids: Vec<u32> = spec
            .timed("UID SEARCH", self.session.uid_search("UNDELETED"))
            .await?
            .into_iter()
            .collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// The message with `uid` (none if it went meanwhile), not marked seen: its first
    /// [`super::MAX_MESSAGE_BYTES`].
    pub async fn fetch(&mut self, uid: u32) -> Result<Option<Fetched>> {
        let spec = self.spec.clone();
        let fetches: Vec<async_imap::types::Fetch> = spec
            .timed("UID FETCH", async {
                self.session
                    .uid_fetch(
                        uid.to_string(),
                        format!("(UID BODY.PEEK[]<0.{}>)", super::MAX_MESSAGE_BYTES),
                    )
                    .await?
                    .try_collect()
                    .await
            })
            .await?;
        Ok(fetches
            .into_iter()
            .find(|f| f.uid == Some(uid))
            .and_then(|f| {
                f.body().map(|b| Fetched {
                    uid,
                    raw: b.to_vec(),
                })
            }))
    }

    /// Moves `uid` to the processed folder.
    pub async fn processed(&mut self, uid: u32) -> Result<()> {
        let spec = self.spec.clone();
        let set = uid.to_string();
        if self.relocate == Relocate::Move {
            return spec
                .timed("UID MOVE", self.session.uid_mv(&set, &spec.processed))
                .await;
        }
        spec.timed("UID COPY", self.session.uid_copy(&set, &spec.processed))
            .await?;
        spec.timed("UID STORE", async {
            self.session
                .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        if self.relocate == Relocate::CopyFlag {
            return Ok(());
        }
        spec.timed("UID EXPUNGE", async {
            self.session
                .uid_expunge(&set)
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await
        .map(|_| ())
    }

    /// Waits on IDLE until the server says something changed, `idle` passes, or `stop`
    /// resolves; false if it was `stop`.
    pub async fn idle(
        self,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<(Mailbox, bool)> {
        let Mailbox {
            spec,
            session,
            relocate,
        } = self;
        let mut handle = session.idle();
        spec.timed("IDLE", handle.init()).await?;
        let (wait, interrupt) = handle.wait_with_timeout(spec.idle);
        // async-imap's own timeout starts again at every keepalive (`* OK Still here`), so
        // the renewal is timed here.
        let stopped = tokio::select! {
            () = tokio::time::sleep(spec.idle) => false,
            r = wait => {
                r.map_err(|e| Error::runtime(format!("IMAP server `{}`: IDLE failed: {e}", spec.server())))?;
                false
            }
            () = stop => true,
        };
        drop(interrupt);
        let session = spec.timed("DONE", handle.done()).await?;
        Ok((
            Mailbox {
                spec,
                session,
                relocate,
            },
            !stopped,
        ))
    }

    /// Logs out politely.
    pub async fn close(mut self) {
        let spec = self.spec.clone();
        let _ = spec.timed("LOGOUT", self.session.logout()).await;
    }
}

/// TCP to the server, then TLS as `security` says.
async fn connect(spec: &Spec) -> Result<Box<dyn Io>> {
    let server = spec.server();
    let tcp = tokio::time::timeout(spec.timeout, TcpStream::connect(&server))
        .await
        .map_err(|_| {
            Error::runtime(format!(
                "IMAP server `{server}`: no connection within {} s",
                spec.timeout.as_secs()
            ))
        })?
        .map_err(|e| Error::runtime(format!("failed to connect to IMAP server `{server}`: {e}")))?;
    let _ = tcp.set_nodelay(true);
    match spec.security {
        Security::None => greeted(spec, Box::new(tcp)).await,
        Security::Tls => greeted(spec, Box::new(tls(spec, tcp).await?)).await,
        Security::Starttls => {
            let mut client = async_imap::Client::new(tcp);
            greeting(spec, &mut client).await?;
            spec.timed(
                "STARTTLS",
                client.run_command_and_check_ok("STARTTLS", None),
            )
            .await?;
            Ok(Box::new(tls(spec, client.into_inner()).await?))
        }
    }
}

/// `stream` after the server's greeting is read.
async fn greeted(spec: &Spec, stream: Box<dyn Io>) -> Result<Box<dyn Io>> {
    let mut client = async_imap::Client::new(stream);
    greeting(spec, &mut client).await?;
    Ok(client.into_inner())
}

async fn greeting<T: Io>(spec: &Spec, client: &mut async_imap::Client<T>) -> Result<()> {
    let greeting = tokio::time::timeout(spec.timeout, client.read_response()).await;
    match greeting {
        Ok(Ok(Some(_))) => Ok(()),
        Ok(Ok(None)) => Err(Error::runtime(format!(
            "IMAP server `{}` closed the connection before its greeting",
            spec.server()
        ))),
        Ok(Err(e)) => Err(Error::runtime(format!(
            "IMAP server `{}`: {e}",
            spec.server()
        ))),
        Err(_) => Err(Error::runtime(format!(
            "IMAP server `{}`: no greeting within {} s",
            spec.server(),
            spec.timeout.as_secs()
        ))),
    }
}

async fn tls(spec: &Spec, tcp: TcpStream) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(spec.host.clone())
        .map_err(|e| Error::input(format!("`bounces.host` `{}`: {e}", spec.host)))?;
    tokio::time::timeout(
        spec.timeout,
        tokio_rustls::TlsConnector::from(spec.tls.clone()).connect(name, tcp),
    )
    .await
    .map_err(|_| {
        Error::runtime(format!(
            "IMAP server `{}`: no TLS handshake within {} s",
            spec.server(),
            spec.timeout.as_secs()
        ))
    })?
    .map_err(|e| Error::runtime(format!("IMAP server `{}`: TLS failed: {e}", spec.server())))
}
