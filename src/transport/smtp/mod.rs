//! The SMTP client: one message over the worker's connection, opened first if need be.
//!
//! The SMTP connection is our own ([`crate::transport::session::Session`]) over a TCP stream
//! with `TCP_NODELAY` set, TLS by tokio-rustls (implicit, or after STARTTLS), AUTH PLAIN or
//! LOGIN. lettre builds the messages; its SMTP client is not used, because it reads replies
//! loosely (see [`crate::transport::session`]): here every reply is read in order, must answer
//! the command it follows, and nothing may come unasked.
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

mod connect;
mod transaction;

pub(crate) use connect::tls_config;

use crate::compose::message::Outgoing;
use crate::outcome::{Fatal, Reply};
use crate::transport::session::{Failure, Session};
use crate::transport::{Go, SmtpSpec};
use connect::{Opened, open};
use transaction::{Envelope, transaction};

/// One message over the worker's connection, opened first if need be. `None` when `go`
/// said no; whatever happens, `go` is heard before a reply is returned, so no reply is
/// recorded for a member the coordinator held back.
pub(crate) async fn send_smtp(
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
