//! `GET /c/<token>` (and HEAD): a tracked link (see [`crate::compose::clicks`]). A genuine
//! token is answered `302 Found` to exactly the URL it signs, with `Cache-Control: no-store`
//! and `Referrer-Policy: no-referrer`, and the click is counted; a forged, altered or cut
//! token gets a 403 page and no `Location`: never a redirect to anywhere else.
//!
//! Counting never delays or breaks the redirect: each click is handed to a bounded queue
//! ([`CLICKS_QUEUED`]) without waiting, and one writer task ([`record_loop`]) puts what is
//! waiting into the store in one transaction. The trade-off, chosen for counts rather than
//! promises: what is queued is lost if the service dies, and while the store stays busy and
//! the queue is full, clicks are redirected but not counted (said on stderr, with how many).
//! Unsubscribes, which are promises, are written to disk before their answer instead.
//!
//! A click looks automated ([`automated`]) when it is a HEAD request (a person's browser
//! sends GET) or its user agent names a known link scanner or bot ([`SCANNERS`]); the store
//! adds what timing tells (see [`crate::store::Click`]'s module). Automated clicks are still
//! redirected (a scanner must see the real target) and counted apart.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::mpsc;

use crate::compose::tokens::Tokens;
use crate::store::{Click, Store};

/// Clicks waiting for the writer, at most; beyond, a click is redirected but not counted.
pub const CLICKS_QUEUED: usize = 4096;

/// How long the writer waits before trying a busy store again, and how many tries a batch
/// gets before its counts are given up (said on stderr).
const RETRY: Duration = Duration::from_secs(1);
const TRIES: u32 = 30;

/// Lowercase pieces of user agents that mark a request as a scanner's or a program's, not a
/// person's. `bingpreview` is Microsoft's link-preview agent (Outlook, Safe Links);
/// `barracuda`, `mimecast` and `proofpoint` are mail-security services reported (in public
/// discussions of email click inflation, not checked here) to name themselves so; `bot`,
/// `spider`, `crawler` cover Googlebot and the like; the rest are HTTP libraries, not
/// browsers. Many scanners send a browser's user agent instead: the timing rules are for them.
pub const SCANNERS: &[&str] = &[
    "bingpreview",
    "barracuda",
    "mimecast",
    "proofpoint",
    "bot",
    "spider",
    "crawler",
    "python-requests",
    "go-http-client",
    "wget",
    "libwww-perl",
];

/// Why a request looks automated, if it does: `head` for a HEAD request, `scanner` for a
/// user agent in [`SCANNERS`] or none at all.
pub fn automated(method: &Method, user_agent: Option<&str>) -> Option<&'static str> {
    if method == Method::HEAD {
        return Some("head");
    }
    let ua = user_agent.unwrap_or("").trim().to_ascii_lowercase();
    (ua.is_empty() || SCANNERS.iter().any(|s| ua.contains(s))).then_some("scanner")
}

struct Clicks {
    tokens: Tokens,
    queue: mpsc::Sender<Click>,
    /// Clicks not counted because the queue was full.
    dropped: AtomicU64,
}

/// The route, with its own state, and the queue's receiving end for [`record_loop`].
pub fn router<S: Clone + Send + Sync + 'static>(
    tokens: Tokens,
) -> (Router<S>, mpsc::Receiver<Click>) {
    let (queue, receiver) = mpsc::channel(CLICKS_QUEUED);
    let state = Arc::new(Clicks {
        tokens,
        queue,
        dropped: AtomicU64::new(0),
    });
    let router = Router::new()
        .route("/c/{token}", get(follow))
        .with_state(state);
    (router, receiver)
}

/// The campaign, URL and (with `per_member`) member key a genuine token stands for.
fn verify(tokens: &Tokens, token: &str) -> Option<(String, String, Option<String>)> {
    let (link, member) = match token.split_once('~') {
        Some((link, member)) => (link, Some(member)),
        None => (token, None),
    };
    let (campaign, url) = tokens.verify_click(link)?;
    let member = match member {
        Some(part) => match tokens.verify_click_member(part)? {
            (c, key) if c == campaign => Some(key),
            _ => return None,
        },
        None => None,
    };
    Some((campaign, url, member))
}

async fn follow(
    State(clicks): State<Arc<Clicks>>,
    method: Method,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let Some((campaign, url, member)) = verify(&clicks.tokens, &token) else {
        return super::page(
            StatusCode::FORBIDDEN,
            "This link is not valid",
            "<p>The link has been changed or cut short: please use the whole link from the email.</p>",
        );
    };
    let Ok(location) = HeaderValue::from_str(&percent_encode(&url)) else {
        return super::page(StatusCode::FORBIDDEN, "This link is not valid", "");
    };
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let click = Click {
        campaign,
        url,
        member,
        at: crate::store::now(),
        automated: automated(&method, ua).map(String::from),
    };
    if clicks.queue.try_send(click).is_err() {
        let n = clicks.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if n == 1 || n.is_multiple_of(1000) {
            eprintln!("warning: {n} clicks redirected but not counted: the store is busy");
        }
    }
    let mut r = StatusCode::FOUND.into_response();
    let h = r.headers_mut();
    h.insert(header::LOCATION, location);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// `url` with every byte a header cannot carry (beyond ASCII, spaces, controls)
/// percent-encoded, as a browser sends it.
fn percent_encode(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for b in url.bytes() {
        match b {
            0x21..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Writes the queued clicks into the store at `path`, what is waiting in one transaction;
/// ends when every sender is gone and the queue is empty.
pub async fn record_loop(path: PathBuf, mut queue: mpsc::Receiver<Click>) {
    let mut store: Option<Store> = None;
    let mut batch = Vec::new();
    while queue.recv_many(&mut batch, CLICKS_QUEUED).await > 0 {
        let mut clicks = std::mem::take(&mut batch);
        for tried in 1..=TRIES {
            let path = path.clone();
            let mut open = store.take();
            let done = tokio::task::spawn_blocking(move || {
                let written = match &mut open {
                    Some(s) => s.record_clicks(&clicks),
                    None => Store::connect(&path).and_then(|mut s| {
                        let r = s.record_clicks(&clicks);
                        open = Some(s);
                        r
                    }),
                };
                (written, open, clicks)
            })
            .await;
            let Ok((written, open, back)) = done else {
                eprintln!("warning: clicks not counted: the writer failed");
                break;
            };
            clicks = back;
            match written {
                Ok(()) => {
                    store = open;
                    break;
                }
                Err(e) if tried == TRIES => {
                    eprintln!("warning: {} clicks not counted: {e}", clicks.len());
                }
                Err(_) => tokio::time::sleep(RETRY).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_requests_scanners_and_programs_look_automated_browsers_do_not() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(automated(&Method::GET, Some(firefox)), None);
        assert_eq!(automated(&Method::GET, Some("curl/8.5.0")), None);
        assert_eq!(automated(&Method::HEAD, Some(firefox)), Some("head"));
        for ua in [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) BingPreview/1.0b",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Barracuda Sentinel (EE)",
            "python-requests/2.31.0",
            "",
            "  ",
        ] {
            assert_eq!(automated(&Method::GET, Some(ua)), Some("scanner"), "{ua}");
        }
        assert_eq!(automated(&Method::GET, None), Some("scanner"));
    }

    #[test]
    fn only_a_genuine_token_and_its_own_members_part_verify() {
        let t = Tokens::new(b"0123456789abcdef-secret", "news.example.org");
        let link = t.click_token("2023-04", "https://example.org/a");
        let want = |m: Option<&str>| {
            Some((
                "2023-04".to_string(),
                "https://example.org/a".to_string(),
                m.map(String::from),
            ))
        };
        assert_eq!(verify(&t, &link), want(None));
        let ann = t.click_member("2023-04", "ann@example.org");
        assert_eq!(
            verify(&t, &format!("{link}~{ann}")),
            want(Some("ann@example.org"))
        );
        // A member part of another campaign, a broken one, an empty one: refused.
        let other = t.click_member("2023-05", "ann@example.org");
        assert_eq!(verify(&t, &format!("{link}~{other}")), None);
        assert_eq!(verify(&t, &format!("{link}~{}", &ann[1..])), None);
        assert_eq!(verify(&t, &format!("{link}~")), None);
        assert_eq!(verify(&t, &link[1..]), None);
    }

    #[test]
    fn a_url_beyond_ascii_is_percent_encoded_for_the_location_header() {
        assert_eq!(
            percent_encode("https://example.org/caf\u{e9} x?a=1&b=%20"),
            "https://example.org/caf%C3%A9%20x?a=1&b=%20"
        );
    }
}
