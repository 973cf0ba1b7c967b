//! Opening an SMTP connection: TCP (`TCP_NODELAY`), TLS by tokio-rustls (implicit, or after
//! STARTTLS), the greeting, EHLO, and AUTH PLAIN or LOGIN.

use std::io;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::time::Instant;

use super::Stage;
use crate::config::Security;
use crate::outcome::{Fatal, Reply};
use crate::transport::session::{Extensions, Failure, Session, Stream};
use crate::transport::{Password, SmtpSpec};

pub(crate) enum Opened {
    Retry(Reply),
    Fatal(Fatal),
}

impl Opened {
    /// The deadline passed before the connection was open.
    fn timed_out(spec: &SmtpSpec) -> Opened {
        Opened::Retry(Reply::transient(format!(
            "timed out after {} s waiting for {}",
            spec.timeout.as_secs(),
            server(spec)
        )))
    }

    /// A command refused or misanswered while connecting.
    fn failed(f: Failure, spec: &SmtpSpec) -> Opened {
        Opened::Retry(Stage::Before.reply(f, spec).while_connecting())
    }
}

/// The server as messages name it: `host:port`.
fn server(spec: &SmtpSpec) -> String {
    format!("{}:{}", spec.host, spec.port)
}

/// Connects, reads the greeting, says EHLO, upgrades with STARTTLS and logs in, as
/// `smtp.security` and the credentials ask; all by one deadline.
pub(crate) async fn open(spec: &SmtpSpec) -> std::result::Result<Session, Opened> {
    let deadline = Instant::now() + spec.timeout;
    let mut s = Session::new(connect(spec, deadline).await?);
    greet(&mut s, spec, deadline)
        .await
        .map_err(|f| Opened::failed(f, spec))?;
    if spec.security == Security::Starttls {
        s = starttls(s, spec, deadline).await?;
    }
    if let Some((user, password)) = &spec.credentials {
        authenticate(&mut s, spec, user, password, deadline).await?;
    }
    Ok(s)
}

/// TCP to the server with `TCP_NODELAY` set, in TLS from the start when `smtp.security` is
/// "tls".
async fn connect(spec: &SmtpSpec, deadline: Instant) -> std::result::Result<Stream, Opened> {
    let where_ = server(spec);
    let tcp = match tokio::time::timeout_at(
        deadline,
        TcpStream::connect((spec.host.as_str(), spec.port)),
    )
    .await
    {
        Err(_) => return Err(Opened::timed_out(spec)),
        Ok(Err(e)) => {
            return Err(Opened::Retry(Reply::transient(format!(
                "cannot connect to {where_}: {e}"
            ))));
        }
        Ok(Ok(tcp)) => tcp,
    };
    let _ = tcp.set_nodelay(true);
    Ok(match spec.security {
        Security::Tls => Stream::Tls(Box::new(
            handshake(tcp, spec, deadline, "TLS handshake").await?,
        )),
        _ => Stream::Plain(tcp),
    })
}

/// The TLS handshake over `tcp` by `deadline`; `what` names it if it fails.
async fn handshake(
    tcp: TcpStream,
    spec: &SmtpSpec,
    deadline: Instant,
    what: &str,
) -> std::result::Result<tokio_rustls::client::TlsStream<TcpStream>, Opened> {
    match tokio::time::timeout_at(deadline, tls_wrap(tcp, spec)).await {
        Err(_) => Err(Opened::timed_out(spec)),
        Ok(Err(e)) => Err(Opened::Retry(Reply::transient(format!(
            "{what} with {} failed: {e}",
            server(spec)
        )))),
        Ok(Ok(tls)) => Ok(tls),
    }
}

/// The server's greeting, with nothing after it, then EHLO.
async fn greet(
    s: &mut Session,
    spec: &SmtpSpec,
    deadline: Instant,
) -> std::result::Result<(), Failure> {
    s.expect(2, "the connection", deadline).await?;
    s.nothing_more()?;
    ehlo(s, spec, deadline).await
}

/// EHLO; its reply says which extensions the server offers.
async fn ehlo(
    s: &mut Session,
    spec: &SmtpSpec,
    deadline: Instant,
) -> std::result::Result<(), Failure> {
    let ehlo = format!("EHLO {}\r\n", spec.hello);
    let reply = s.command(&ehlo, 2, "EHLO", deadline).await?;
    s.ext = Extensions::from_ehlo(&reply);
    Ok(())
}

/// STARTTLS on the greeted plain session, the handshake, and EHLO again over TLS: the
/// session that replaces it.
async fn starttls(
    mut s: Session,
    spec: &SmtpSpec,
    deadline: Instant,
) -> std::result::Result<Session, Opened> {
    let where_ = server(spec);
    let failed = |f: Failure| Opened::failed(f, spec);
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
    let tls = handshake(tcp, spec, deadline, "STARTTLS").await?;
    let mut s = Session::new(Stream::Tls(Box::new(tls)));
    ehlo(&mut s, spec, deadline).await.map_err(failed)?;
    Ok(s)
}

/// Logs `user` in: a 5xx refusal, or no AUTH method to log in with, stops the campaign.
async fn authenticate(
    s: &mut Session,
    spec: &SmtpSpec,
    user: &str,
    password: &Password,
    deadline: Instant,
) -> std::result::Result<(), Opened> {
    let where_ = server(spec);
    login(s, user, &password.0, deadline)
        .await
        .map_err(|f| match f {
            Failure::Refused(r) if r.class() == 5 => Opened::Fatal(Fatal(format!(
                "{where_} refused the login for `{user}`: {}",
                r.text()
            ))),
            Failure::Protocol(why) if why.starts_with("no AUTH") => {
                Opened::Fatal(Fatal(format!("{where_} cannot log in `{user}`: {why}")))
            }
            f => Opened::failed(f, spec),
        })
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

/// The rustls client config for TLS (implicit or STARTTLS): webpki's public roots plus `ca_pem`'s.
pub(crate) fn tls_config(
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
