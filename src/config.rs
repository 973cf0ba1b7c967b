//! `config.toml`: parsed strictly (an unknown key is an error naming it), then checked into
//! [`Config`], whose paths are resolved against the config file's folder.
//!
//! Every key, its default and its unit are shown in the shipped `config.toml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lettre::message::Mailbox;
use serde::Deserialize;

use crate::error::{Error, Result, line_of, resolve, show};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "default_store")]
    store: PathBuf,
    #[serde(default = "default_template")]
    template: PathBuf,
    #[serde(default = "default_list")]
    list: PathBuf,
    #[serde(default = "default_issues")]
    issues: PathBuf,
    #[serde(default = "default_layout")]
    layout: PathBuf,
    sender: RawSender,
    unsubscribe: UnsubscribeConfig,
    #[serde(default)]
    dkim: Option<DkimConfig>,
    #[serde(default)]
    transport: Transport,
    #[serde(default)]
    file: FileConfig,
    #[serde(default)]
    smtp: SmtpConfig,
    #[serde(default)]
    rate: RateConfig,
    #[serde(default)]
    serve: ServeConfig,
    #[serde(default)]
    web: RawWeb,
    #[serde(default)]
    bounces: BouncesConfig,
    #[serde(default)]
    tracking: TrackingConfig,
    #[serde(default)]
    vars: BTreeMap<String, String>,
}

fn default_store() -> PathBuf {
    "mailshot.db".into()
}
fn default_template() -> PathBuf {
    "templates/bulletin.mjml".into()
}
fn default_issues() -> PathBuf {
    "issues".into()
}
fn default_layout() -> PathBuf {
    "templates/layout.mjml".into()
}
fn default_list() -> PathBuf {
    "lists/members.csv".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSender {
    from: String,
    #[serde(default)]
    reply_to: Option<String>,
    /// `List-Id` identifier, e.g. `cluster-news.example.org`.
    list_id: String,
    /// `List-Id` display name.
    #[serde(default)]
    list_name: Option<String>,
    /// `Feedback-ID` header; `{campaign}` is replaced by the campaign ID.
    #[serde(default)]
    feedback_id: Option<String>,
    /// Per-member envelope sender; `{token}` is replaced by a token naming campaign and member.
    #[serde(default)]
    bounce_address: Option<String>,
}

/// `[unsubscribe]`: the one-click unsubscribe link.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnsubscribeConfig {
    /// Template of the per-member URL; must use `{{ token }}`.
    pub url: String,
    /// Optional address for `List-Unsubscribe: <mailto:...>`.
    #[serde(default)]
    pub mailto: Option<String>,
    /// Environment variable holding the HMAC secret of the tokens.
    #[serde(default = "default_secret_env")]
    pub secret_env: String,
}

fn default_secret_env() -> String {
    "MAILSHOT_UNSUBSCRIBE_SECRET".into()
}

/// `[web]` as written: where the public side (web edition, archive, images) lives.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWeb {
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    inline_images: bool,
}

/// `[web]`: the public side of the bulletin, the same host `mailshot serve` answers
/// unsubscribes on (or where `mailshot publish`'s files are put).
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// `https://news.example.org` (no trailing `/`): the web editions are
    /// `{base_url}/bulletins/<campaign>/`, the archive `{base_url}/bulletins/`, published
    /// images `{base_url}/bulletins/images/<name>`. Default: none (no web edition).
    pub base_url: Option<String>,
    /// Local images go in each message as inline parts (multipart/related, `cid:`) instead of
    /// being published at `base_url`: for a sender with no public host. Default false.
    pub inline_images: bool,
}

impl WebConfig {
    /// The archive's address: `{base_url}/bulletins/`.
    pub fn archive_url(&self) -> Option<String> {
        self.base_url.as_ref().map(|b| format!("{b}/bulletins/"))
    }

    /// Campaign `id`'s web edition: `{base_url}/bulletins/<id>/`.
    pub fn web_url(&self, id: &str) -> Option<String> {
        self.base_url
            .as_ref()
            .map(|b| format!("{b}/bulletins/{id}/"))
    }

    /// Where a published file `name` (content-hashed) is found: `{base_url}/bulletins/images/<name>`.
    pub fn image_url(&self, name: &str) -> Option<String> {
        self.base_url
            .as_ref()
            .map(|b| format!("{b}/bulletins/images/{name}"))
    }
}

/// `[tracking]`: click and open counting, off by default (consent: see the README's "Click
/// tracking" and "Open tracking").
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackingConfig {
    /// The bulletin's http(s) links go through `{base_url}/c/<token>` on `mailshot serve`,
    /// which counts the click and redirects. Needs `[web] base_url`. Default false.
    #[serde(default)]
    pub clicks: bool,
    /// Each member's tracked links and open pixel also name the member (one more HMAC per
    /// member and kind at send time). Only with `clicks` or `opens`. Default false.
    #[serde(default)]
    pub per_member: bool,
    /// Each member's copy carries a 1x1 image, `{base_url}/o/<token>.gif`, which `mailshot
    /// serve` answers and counts as an open. Unreliable (README, "Open tracking") and needs
    /// consent. Needs `[web] base_url`. Default false.
    #[serde(default)]
    pub opens: bool,
}

/// `[serve]`: what one client may hold of the unsubscribe service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Seconds a request's headers may take to arrive, counted from the connection's opening
    /// or the previous response (so it is also how long an idle keep-alive connection is
    /// kept). Default 10.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_secs: u64,
    /// Seconds a connection may pass without a byte read or written (a stalled body, a
    /// client that does not read the answer) before it is closed. Default 30.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_secs: u64,
    /// Connections served at once; further ones wait to be accepted. Default 256.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

fn default_header_timeout() -> u64 {
    10
}
fn default_idle_timeout() -> u64 {
    30
}
fn default_max_connections() -> usize {
    256
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            header_timeout_secs: default_header_timeout(),
            idle_timeout_secs: default_idle_timeout(),
            max_connections: default_max_connections(),
        }
    }
}

/// `[dkim]`: signing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimConfig {
    /// The signing domain (`d=`); should be the From domain or its parent.
    pub domain: String,
    /// The selector (`s=`): the key is published at `<selector>._domainkey.<domain>`.
    pub selector: String,
    /// The private key: PKCS#1 PEM for RSA, the base64 32-byte seed for Ed25519.
    pub key_file: PathBuf,
    /// `rsa-sha256` (default) or `ed25519-sha256`.
    #[serde(default = "default_dkim_algorithm")]
    pub algorithm: String,
}

fn default_dkim_algorithm() -> String {
    "rsa-sha256".into()
}

/// Which transport carries the messages.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// One `.eml` per member under `[file] outbox/<campaign>/`.
    #[default]
    File,
    /// SMTP to `[smtp] host`.
    Smtp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Folder that receives `<campaign>/<member>.eml`. Default `outbox`.
    #[serde(default = "default_outbox")]
    pub outbox: PathBuf,
}

fn default_outbox() -> PathBuf {
    "outbox".into()
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            outbox: default_outbox(),
        }
    }
}

/// `[bounces]`: the bounce mailbox `mailshot bounces` reads over IMAP, and when soft bounces
/// suppress.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BouncesConfig {
    /// The IMAP server; required unless `--from PATH` is given. Default: none.
    #[serde(default)]
    pub host: Option<String>,
    /// Default 993 (implicit TLS); 143 for STARTTLS or none.
    #[serde(default = "default_imap_port")]
    pub port: u16,
    /// `tls` (default), `starttls` or `none`.
    #[serde(default = "default_imap_security")]
    pub security: Security,
    /// Login name. Required with `host`.
    #[serde(default)]
    pub user: Option<String>,
    /// Name of the environment variable holding the password (never the password itself).
    /// Default `MAILSHOT_BOUNCES_PASSWORD`.
    #[serde(default = "default_bounces_password_env")]
    pub password_env: String,
    /// The folder bounces arrive in. Default `INBOX`.
    #[serde(default = "default_bounces_folder")]
    pub folder: String,
    /// Where read messages are moved (created if missing); never deleted. Default
    /// `mailshot-processed`.
    #[serde(default = "default_processed_folder")]
    pub processed_folder: String,
    /// Seconds for connecting and for each IMAP command. Default 30.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Extra CA certificates (PEM) to trust, for a server with a private CA. Default: none.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Soft bounces (in any campaigns) that suppress an address, together with
    /// `soft_campaigns`. Default 3.
    #[serde(default = "default_soft_limit")]
    pub soft_limit: u32,
    /// Different campaigns those soft bounces must come from, so one campaign's retries of a
    /// full mailbox never suppress. Default 3.
    #[serde(default = "default_soft_limit")]
    pub soft_campaigns: u32,
    /// With `--watch`: seconds an IDLE lasts before it is renewed (servers drop an IDLE after
    /// 30 minutes, RFC 2177). Default 1500 (25 minutes).
    #[serde(default = "default_idle_secs")]
    pub idle_secs: u64,
}

fn default_imap_port() -> u16 {
    993
}
fn default_imap_security() -> Security {
    Security::Tls
}
fn default_bounces_password_env() -> String {
    "MAILSHOT_BOUNCES_PASSWORD".into()
}
fn default_bounces_folder() -> String {
    "INBOX".into()
}
fn default_processed_folder() -> String {
    "mailshot-processed".into()
}
fn default_soft_limit() -> u32 {
    3
}
fn default_idle_secs() -> u64 {
    1500
}

impl Default for BouncesConfig {
    fn default() -> Self {
        BouncesConfig {
            host: None,
            port: default_imap_port(),
            security: default_imap_security(),
            user: None,
            password_env: default_bounces_password_env(),
            folder: default_bounces_folder(),
            processed_folder: default_processed_folder(),
            timeout_secs: default_timeout(),
            ca_file: None,
            soft_limit: default_soft_limit(),
            soft_campaigns: default_soft_limit(),
            idle_secs: default_idle_secs(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS; refuses a server that does not offer it.
    #[default]
    Starttls,
    /// Implicit TLS from the first byte (SMTPS, usually port 465).
    Tls,
    /// No encryption. Only for a relay on the same host or a test server.
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    #[serde(default = "default_host")]
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default)]
    pub security: Security,
    /// Login name; no authentication when absent.
    #[serde(default)]
    pub username: Option<String>,
    /// Name of the environment variable holding the password (never the password itself).
    #[serde(default = "default_password_env")]
    pub password_env: String,
    /// Connections used in parallel. Default 4.
    #[serde(default = "default_connections")]
    pub connections: usize,
    /// Seconds to wait for the server at each step before giving up. Default 30.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Name sent in EHLO; default the machine's hostname.
    #[serde(default)]
    pub hello_name: Option<String>,
    /// Messages per connection before reconnecting; 0 = no limit. Default 0.
    #[serde(default)]
    pub messages_per_connection: u32,
    /// Pipeline MAIL, RCPT and DATA when the server offers PIPELINING. Default true.
    #[serde(default = "default_true")]
    pub pipelining: bool,
    /// Extra CA certificates (PEM) to trust, for a relay with a private CA.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn default_host() -> String {
    "localhost".into()
}
fn default_port() -> u16 {
    587
}
fn default_password_env() -> String {
    "MAILSHOT_SMTP_PASSWORD".into()
}
fn default_connections() -> usize {
    4
}
fn default_timeout() -> u64 {
    30
}
fn default_true() -> bool {
    true
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: default_host(),
            port: default_port(),
            security: Security::default(),
            username: None,
            password_env: default_password_env(),
            connections: default_connections(),
            timeout_secs: default_timeout(),
            hello_name: None,
            messages_per_connection: 0,
            pipelining: true,
            ca_file: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateConfig {
    /// Steady rate in messages per second; fractions allowed (0.5 = one every 2 s);
    /// 0 means unlimited. Default 10.
    #[serde(default = "default_mps")]
    pub messages_per_second: f64,
    /// Messages that may go at once above the steady rate: no one-second window carries more
    /// than `messages_per_second + burst`. Default 1.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Messages per batch; 0 means one batch. Default 0.
    #[serde(default)]
    pub batch_size: u64,
    /// Seconds to pause between batches. Default 0.
    #[serde(default)]
    pub batch_pause_secs: f64,
    /// Attempts per member before a deferral counts as a failure. Default 3.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Seconds before the first retry of a deferred member; doubles each retry. Default 30.
    #[serde(default = "default_retry_delay")]
    pub retry_delay_secs: f64,
    /// Messages in any rolling hour, across campaigns (kept in the store); 0 = no limit.
    #[serde(default)]
    pub max_per_hour: u64,
    /// Messages in any rolling 24 hours, across campaigns (kept in the store); 0 = no limit.
    #[serde(default)]
    pub max_per_day: u64,
    /// Longest wait for a quota window to reopen before the run stops and says when to
    /// resume, in seconds. Default 900.
    #[serde(default = "default_quota_wait")]
    pub max_quota_wait_secs: u64,
    /// Connection failures in a row (refused, timed out, greeting or login refused) that stop
    /// the campaign. Default 10.
    #[serde(default = "default_connection_failures")]
    pub max_connection_failures: u32,
}

fn default_quota_wait() -> u64 {
    900
}
fn default_connection_failures() -> u32 {
    10
}

fn default_mps() -> f64 {
    10.0
}
fn default_burst() -> u32 {
    1
}
fn default_attempts() -> u32 {
    3
}
fn default_retry_delay() -> f64 {
    30.0
}

impl Default for RateConfig {
    fn default() -> Self {
        RateConfig {
            messages_per_second: default_mps(),
            burst: default_burst(),
            batch_size: 0,
            batch_pause_secs: 0.0,
            max_attempts: default_attempts(),
            retry_delay_secs: default_retry_delay(),
            max_per_hour: 0,
            max_per_day: 0,
            max_quota_wait_secs: default_quota_wait(),
            max_connection_failures: default_connection_failures(),
        }
    }
}

/// The slowest steady rate, in messages per second (one every ~17 minutes).
pub const MIN_RATE: f64 = 0.001;
/// The fastest steady rate, in messages per second.
pub const MAX_RATE: f64 = 1_000_000.0;
/// The largest `rate.burst`.
pub const MAX_BURST: f64 = 1_000_000.0;
/// The longest pause, retry delay or quota wait, in seconds: a week.
pub const MAX_WAIT_SECS: f64 = 7.0 * 24.0 * 3600.0;
/// The config file being checked: its errors name the file, and the line of a key.
struct Place<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Place<'_> {
    fn bad(&self, msg: String) -> Error {
        Error::input(format!("invalid config `{}`: {msg}", show(self.path)))
    }

    /// An error about `key`, with its line when it is in the file.
    fn at(&self, key: &str, msg: String) -> Error {
        match key_line(self.text, key) {
            Some(l) => self.bad(format!("line {l}: {key}: {msg}")),
            None => self.bad(format!("{key}: {msg}")),
        }
    }

    /// `key`'s value `v` (as the number `x`) must be within `lo..=hi`.
    fn within(&self, key: &str, v: &dyn std::fmt::Display, x: f64, lo: f64, hi: f64) -> Result<()> {
        match (lo..=hi).contains(&x) {
            true => Ok(()),
            false => Err(self.at(key, format!("`{v}` must be between {lo} and {hi}"))),
        }
    }

    fn mailboxes(&self, sender: &RawSender) -> Result<(Mailbox, Option<Mailbox>)> {
        let from: Mailbox = sender.from.parse().map_err(|e| {
            self.bad(format!(
                "sender.from: `{}` is not a valid mailbox: {e}",
                sender.from
            ))
        })?;
        let reply_to = match sender.reply_to.as_deref() {
            None | Some("") => None,
            Some(r) => Some(r.parse().map_err(|e| {
                self.bad(format!(
                    "sender.reply_to: `{r}` is not a valid mailbox: {e}"
                ))
            })?),
        };
        Ok((from, reply_to))
    }

    // Every number is bounded where it is read: a value past these would overflow a timer or
    // a counter later, in the middle of a send.

    fn check_rate(&self, r: &RateConfig) -> Result<()> {
        let mps = r.messages_per_second;
        if !(mps == 0.0 || (MIN_RATE..=MAX_RATE).contains(&mps)) {
            return Err(self.at(
                "rate.messages_per_second",
                format!("`{mps}` must be 0 (no limit) or between {MIN_RATE} and {MAX_RATE}"),
            ));
        }
        self.within("rate.burst", &r.burst, r.burst.into(), 1.0, MAX_BURST)?;
        let tries = r.max_attempts;
        self.within("rate.max_attempts", &tries, tries.into(), 1.0, 100.0)?;
        for (key, v) in [
            ("rate.batch_pause_secs", r.batch_pause_secs),
            ("rate.retry_delay_secs", r.retry_delay_secs),
        ] {
            self.within(key, &v, v, 0.0, MAX_WAIT_SECS)?;
        }
        let wait = r.max_quota_wait_secs;
        self.within(
            "rate.max_quota_wait_secs",
            &wait,
            wait as f64,
            0.0,
            MAX_WAIT_SECS,
        )?;
        let fails = r.max_connection_failures;
        self.within(
            "rate.max_connection_failures",
            &fails,
            fails.into(),
            1.0,
            1e6,
        )
    }

    fn check_connections(&self, s: &SmtpConfig, v: &ServeConfig) -> Result<()> {
        let n = s.connections;
        self.within("smtp.connections", &n, n as f64, 1.0, 1000.0)?;
        let t = s.timeout_secs;
        self.within("smtp.timeout_secs", &t, t as f64, 1.0, 3600.0)?;
        self.within("smtp.port", &s.port, s.port.into(), 1.0, 65535.0)?;
        for (key, secs) in [
            ("serve.header_timeout_secs", v.header_timeout_secs),
            ("serve.idle_timeout_secs", v.idle_timeout_secs),
        ] {
            self.within(key, &secs, secs as f64, 1.0, 3600.0)?;
        }
        let max = v.max_connections;
        self.within("serve.max_connections", &max, max as f64, 1.0, 10_000.0)
    }

    /// The values that become header fields: List-Id, Feedback-ID, the bounce address, the
    /// unsubscribe link and address.
    /// `[web] base_url`: an absolute http(s) address with a host, no query or fragment; a
    /// trailing `/` is dropped.
    fn check_web(&self, web: RawWeb) -> Result<WebConfig> {
        let Some(url) = web.base_url else {
            return Ok(WebConfig {
                base_url: None,
                inline_images: web.inline_images,
            });
        };
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        let host = rest.map(|r| r.split('/').next().unwrap_or(""));
        let bad = |why: &str| {
            self.at(
                "web.base_url",
                format!("`{url}` {why}, e.g. `https://news.example.org`"),
            )
        };
        match host {
            None => return Err(bad("must start with `https://` (or `http://`)")),
            Some("") => return Err(bad("has no host")),
            Some(_) => {}
        }
        if url.contains(['?', '#', ' ', '"', '<', '>', '{', '}']) || url.contains(char::is_control)
        {
            return Err(bad(
                "must be a plain address with no query, fragment or spaces",
            ));
        }
        Ok(WebConfig {
            base_url: Some(url.trim_end_matches('/').to_string()),
            inline_images: web.inline_images,
        })
    }

    /// `[tracking]`: clicks and opens need `[web] base_url` (the redirect and the pixel live
    /// there), `per_member` needs one of them.
    fn check_tracking(&self, t: &TrackingConfig, web: &WebConfig) -> Result<()> {
        if t.per_member && !t.clicks && !t.opens {
            return Err(self.at(
                "tracking.per_member",
                "needs `clicks = true` or `opens = true`: without tracking there is nothing to name the member in".into(),
            ));
        }
        if t.opens && web.base_url.is_none() {
            return Err(self.at(
                "tracking.opens",
                "needs `[web] base_url`: the open pixel is `{base_url}/o/<token>.gif`, answered by `mailshot serve` there".into(),
            ));
        }
        if t.clicks && web.base_url.is_none() {
            return Err(self.at(
                "tracking.clicks",
                "needs `[web] base_url`: tracked links are `{base_url}/c/<token>`, answered by `mailshot serve` there".into(),
            ));
        }
        Ok(())
    }

    fn check_headers(&self, sender: &RawSender, unsubscribe: &UnsubscribeConfig) -> Result<()> {
        let ascii_token = |key: &str, v: &str| -> Result<()> {
            if v.is_empty() || !v.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
                return Err(self.bad(format!("{key}: `{v}` must be printable ASCII")));
            }
            Ok(())
        };
        ascii_token("sender.list_id", &sender.list_id)?;
        if !sender.list_id.contains('.') || sender.list_id.contains(' ') {
            return Err(self.bad(format!(
                "sender.list_id: `{}` must look like a domain name, e.g. `news.example.org`",
                sender.list_id
            )));
        }
        if let Some(f) = &sender.feedback_id {
            ascii_token("sender.feedback_id", f)?;
        }
        if let Some(b) = &sender.bounce_address {
            let sample = b.replace("{token}", "t0");
            if !b.contains("{token}") || sample.parse::<lettre::Address>().is_err() {
                return Err(self.bad(format!(
                    "sender.bounce_address: `{b}` must be an address with `{{token}}` in it, e.g. `bounces+{{token}}@example.org`"
                )));
            }
        }
        if let Some(m) = &unsubscribe.mailto
            && m.parse::<lettre::Address>().is_err()
        {
            return Err(self.bad(format!("unsubscribe.mailto: `{m}` is not a valid address")));
        }
        if !unsubscribe.url.contains("token") {
            return Err(self.bad(format!(
                "unsubscribe.url: `{}` must carry the token: add `{{{{ token }}}}`",
                unsubscribe.url
            )));
        }
        Ok(())
    }
}

/// The line of `text` that sets `key` (`table.key`), for messages: the line `key = ...` under
/// `[table]`, or `table.key = ...` before any table.
fn key_line(text: &str, key: &str) -> Option<usize> {
    let (table, name) = key.rsplit_once('.').unwrap_or(("", key));
    let sets = |line: &str, name: &str| {
        line.strip_prefix(name)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    };
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(h) = line.strip_prefix('[') {
            current = h.split(']').next().unwrap_or("").trim().to_string();
        } else if (current == table && sets(line, name)) || (current.is_empty() && sets(line, key))
        {
            return Some(i + 1);
        }
    }
    None
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub store: PathBuf,
    pub template: PathBuf,
    /// Folder of the month's Markdown issues, `<campaign>.md`. Default `issues`.
    pub issues: PathBuf,
    /// The MJML layout a Markdown issue goes into. Default `templates/layout.mjml`.
    pub layout: PathBuf,
    /// Whether a Markdown issue, if the campaign has one, is used (not after `--template`).
    pub use_issues: bool,
    /// The `--var`s, also in `vars`: they override an issue's front matter too.
    pub cli_vars: BTreeMap<String, String>,
    pub list: PathBuf,
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
    pub list_id: String,
    pub list_name: Option<String>,
    pub feedback_id: Option<String>,
    pub bounce_address: Option<String>,
    pub unsubscribe: UnsubscribeConfig,
    pub dkim: Option<DkimConfig>,
    pub transport: Transport,
    pub file: FileConfig,
    pub smtp: SmtpConfig,
    pub rate: RateConfig,
    pub serve: ServeConfig,
    pub web: WebConfig,
    pub bounces: BouncesConfig,
    pub tracking: TrackingConfig,
    pub vars: BTreeMap<String, String>,
}

impl Config {
    /// Reads and checks the config file at `path`.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::input(format!("failed to read config `{}`: {e}", show(path))))?;
        Config::parse(path, &text)
    }

    /// Checks config `text`; `path` names it in messages and anchors relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Config> {
        let p = Place { path, text };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            let msg = e.message().trim().to_string();
            match line {
                Some(l) => p.bad(format!("line {l}: {msg}")),
                None => p.bad(msg),
            }
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        let (from, reply_to) = p.mailboxes(&raw.sender)?;
        p.check_rate(&raw.rate)?;
        p.check_connections(&raw.smtp, &raw.serve)?;
        for key in raw.vars.keys() {
            if !crate::list::is_identifier(key) {
                return Err(p.bad(format!(
                    "vars: `{key}` is not a usable variable name (letters, digits and `_`)"
                )));
            }
        }
        p.check_headers(&raw.sender, &raw.unsubscribe)?;
        let web = p.check_web(raw.web)?;
        p.check_tracking(&raw.tracking, &web)?;
        let mut file = raw.file;
        file.outbox = resolve(base, &file.outbox);
        let dkim = match raw.dkim {
            None => None,
            Some(mut d) => {
                if !matches!(d.algorithm.as_str(), "rsa-sha256" | "ed25519-sha256") {
                    return Err(p.bad(format!(
                        "dkim.algorithm: `{}` is not `rsa-sha256` or `ed25519-sha256`",
                        d.algorithm
                    )));
                }
                d.key_file = resolve(base, &d.key_file);
                Some(d)
            }
        };
        let mut smtp = raw.smtp;
        smtp.ca_file = smtp.ca_file.map(|p| resolve(base, &p));
        let mut bounces = raw.bounces;
        bounces.ca_file = bounces.ca_file.map(|p| resolve(base, &p));
        for (key, n) in [
            ("soft_limit", bounces.soft_limit),
            ("soft_campaigns", bounces.soft_campaigns),
        ] {
            if n == 0 {
                return Err(p.at(key, "must be at least 1".to_string()));
            }
        }
        Ok(Config {
            path: path.to_path_buf(),
            store: resolve(base, &raw.store),
            template: resolve(base, &raw.template),
            issues: resolve(base, &raw.issues),
            layout: resolve(base, &raw.layout),
            use_issues: true,
            cli_vars: BTreeMap::new(),
            list: resolve(base, &raw.list),
            from,
            reply_to,
            list_id: raw.sender.list_id,
            list_name: raw.sender.list_name,
            feedback_id: raw.sender.feedback_id,
            bounce_address: raw.sender.bounce_address,
            unsubscribe: raw.unsubscribe,
            dkim,
            transport: raw.transport,
            file,
            smtp,
            rate: raw.rate,
            serve: raw.serve,
            web,
            bounces,
            tracking: raw.tracking,
            vars: raw.vars,
        })
    }

    /// The From address's domain: Message-IDs are minted on it.
    pub fn from_domain(&self) -> String {
        self.from.email.domain().to_string()
    }

    /// A short description of where messages go, for prompts and summaries.
    pub fn destination(&self, campaign: &str) -> String {
        match self.transport {
            Transport::File => format!(
                "file transport `{}`",
                show(&self.file.outbox.join(campaign))
            ),
            Transport::Smtp => format!("{}:{}", self.smtp.host, self.smtp.port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "[sender]\nfrom = \"a@example.org\"\nlist_id = \"news.example.org\"\n[unsubscribe]\nurl = \"https://example.org/u/{{ token }}\"\n";

    fn web(line: &str) -> Result<WebConfig> {
        let text = format!("{BASE}[web]\n{line}\n");
        Config::parse(Path::new("config.toml"), &text).map(|c| c.web)
    }

    #[test]
    fn the_base_url_gives_the_web_addresses_without_a_doubled_slash() {
        let w = web("base_url = \"https://news.example.org/\"").unwrap();
        assert_eq!(w.base_url.as_deref(), Some("https://news.example.org"));
        assert_eq!(
            w.web_url("2023-05").as_deref(),
            Some("https://news.example.org/bulletins/2023-05/")
        );
        assert_eq!(
            w.archive_url().as_deref(),
            Some("https://news.example.org/bulletins/")
        );
        assert_eq!(
            w.image_url("banner-0123abcd.png").as_deref(),
            Some("https://news.example.org/bulletins/images/banner-0123abcd.png")
        );
        assert!(web("").unwrap().web_url("2023-05").is_none());
    }

    #[test]
    fn inline_images_are_off_unless_asked_for_with_or_without_a_base_url() {
        assert!(!web("").unwrap().inline_images);
        assert!(web("inline_images = true").unwrap().inline_images);
        let w = web("base_url = \"https://x.org\"\ninline_images = true").unwrap();
        assert!(w.inline_images);
        let err = web("inline_images = \"yes\"").unwrap_err().to_string();
        assert!(err.contains("line 7"), "{err}");
    }

    #[test]
    fn a_base_url_that_is_not_an_address_is_refused_with_its_line() {
        let err = |line: &str| web(line).unwrap_err().to_string();
        assert_eq!(
            err("base_url = \"news.example.org\""),
            "invalid config `config.toml`: line 7: web.base_url: `news.example.org` must start with `https://` (or `http://`), e.g. `https://news.example.org`"
        );
        assert!(err("base_url = \"https:///x\"").contains("has no host"));
        assert!(err("base_url = \"https://example.org/?a=1\"").contains("no query"));
    }

    #[test]
    fn tracking_is_off_by_default_and_needs_a_base_url() {
        let parse = |more: &str| Config::parse(Path::new("config.toml"), &format!("{BASE}{more}"));
        let t = parse("").unwrap().tracking;
        assert!(!t.clicks && !t.per_member && !t.opens);
        assert_eq!(
            parse("[tracking]\nclicks = true\n")
                .unwrap_err()
                .to_string(),
            "invalid config `config.toml`: line 7: tracking.clicks: needs `[web] base_url`: tracked links are `{base_url}/c/<token>`, answered by `mailshot serve` there"
        );
        let on = parse(
            "[web]\nbase_url = \"https://x.org\"\n[tracking]\nclicks = true\nper_member = true\n",
        );
        assert!(on.unwrap().tracking.per_member);
        let err = parse("[tracking]\nper_member = true\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 7: tracking.per_member: needs `clicks = true`"),
            "{err}"
        );
        assert_eq!(
            parse("[tracking]\nopens = true\n").unwrap_err().to_string(),
            "invalid config `config.toml`: line 7: tracking.opens: needs `[web] base_url`: the open pixel is `{base_url}/o/<token>.gif`, answered by `mailshot serve` there"
        );
        let opens = parse(
            "[web]\nbase_url = \"https://x.org\"\n[tracking]\nopens = true\nper_member = true\n",
        );
        let t = opens.unwrap().tracking;
        assert!(t.opens && t.per_member && !t.clicks);
    }
}
