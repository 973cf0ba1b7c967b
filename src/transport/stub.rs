//! A stub transport for tests (after lettre's `StubTransport`): it records the envelope and
//! bytes of every message handed to it and answers with scripted replies, per recipient in
//! order, `250 2.0.0 Ok` when nothing is scripted. Every connection made from one [`Stub`]
//! shares its script and its record.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::compose::message::Outgoing;
use crate::outcome::{Fatal, Reply, ReplyKind};
use crate::transport::Go;

/// One message as the stub received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Envelope sender and recipient.
    pub from: String,
    pub to: String,
    pub bytes: Vec<u8>,
    /// What the stub answered.
    pub reply: Reply,
}

#[derive(Debug, Default)]
struct State {
    script: HashMap<String, VecDeque<std::result::Result<Reply, Fatal>>>,
    sent: Vec<Sent>,
}

/// The stub: clone it to keep a handle on what was sent.
#[derive(Debug, Clone, Default)]
pub struct Stub(Arc<Mutex<State>>);

impl Stub {
    pub fn new() -> Stub {
        Stub::default()
    }

    /// The next message to `to` gets `reply` (scripted replies are used in order).
    pub fn reply(&self, to: &str, reply: Reply) -> &Stub {
        self.push(to, Ok(reply))
    }

    /// A reply of `kind` worded `text` (its code and enhanced code read from the text).
    pub fn replies(&self, to: &str, kind: ReplyKind, text: &str) -> &Stub {
        let code = text.get(..3).and_then(|c| c.parse().ok());
        self.reply(to, Reply::of(kind, code, text.to_string()))
    }

    /// The next message to `to` fails the whole campaign (a refused login, say): nothing is
    /// recorded as sent.
    pub fn fatal(&self, to: &str, why: &str) -> &Stub {
        self.push(to, Err(Fatal(why.to_string())))
    }

    fn push(&self, to: &str, r: std::result::Result<Reply, Fatal>) -> &Stub {
        let mut state = self.0.lock().expect("stub lock");
        state.script.entry(to.to_string()).or_default().push_back(r);
        self
    }

    /// Every message handed over so far, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.0.lock().expect("stub lock").sent.clone()
    }

    /// Sends `msg` once `go` says so (`None` if it says no), as a transport does.
    pub async fn send(
        &self,
        msg: &Outgoing,
        mut go: Go,
    ) -> Option<std::result::Result<Reply, Fatal>> {
        if !go.wait().await {
            return None;
        }
        let mut state = self.0.lock().expect("stub lock");
        let to = msg.to.to_string();
        let scripted = state.script.get_mut(&to).and_then(VecDeque::pop_front);
        let reply = match scripted {
            Some(Err(fatal)) => return Some(Err(fatal)),
            Some(Ok(reply)) => reply,
            None => Reply::accepted(Some(250), "250 2.0.0 Ok".to_string()),
        };
        state.sent.push(Sent {
            from: msg.from.to_string(),
            to,
            bytes: msg.bytes.clone(),
            reply: reply.clone(),
        });
        Some(Ok(reply))
    }
}
