//! `GET /c/<token>` (and HEAD): a tracked link (see [`crate::compose::clicks`]). A genuine
//! token is answered `302 Found` to exactly the URL it signs, with `Cache-Control: no-store`
//! and `Referrer-Policy: no-referrer`, and the click is counted; a forged, altered or cut
//! token gets a 403 page and no `Location`: never a redirect to anywhere else.
//!
//! Counting never delays or breaks the redirect: each click is handed to the counter's
//! bounded queue without waiting (see `serve::counter` for the writer and its trade-off).
//!
//! A click looks automated ([`automated`]) when it is a HEAD request (a person's browser
//! sends GET) or its user agent names a known link scanner or bot ([`SCANNERS`]); the store
//! adds what timing tells (see [`crate::store::Click`]'s module). Automated clicks are still
//! redirected (a scanner must see the real target) and counted apart.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::mpsc;

use super::counter::Counter;
use crate::compose::tokens::Tokens;
use crate::store::Click;

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
    counter: Counter<Click>,
}

/// The route, with its own state, and the queue's receiving end for
/// [`super::counter::record_loop`] (with [`crate::store::Store::record_clicks`]).
pub fn router<S: Clone + Send + Sync + 'static>(
    tokens: Tokens,
) -> (Router<S>, mpsc::Receiver<Click>) {
    let (counter, receiver) = Counter::new("clicks redirected");
    let state = Arc::new(Clicks { tokens, counter });
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
    clicks.counter.count(click);
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
