//! `GET /o/<token>.gif` (and HEAD): a member's open pixel (see [`crate::compose::opens`]). A
//! genuine token is answered with a 1x1 transparent GIF, `Cache-Control: no-store, private`
//! (so each load reaches us), and the open is counted; a forged, altered or cut token gets a
//! 404 and counts nothing.
//!
//! Counting never delays the image: each open goes to the counter's bounded queue without
//! waiting (`serve::counter`). An open looks automated ([`automated`]) when it is a HEAD
//! request, its user agent is a scanner's ([`super::clicks::SCANNERS`], or none), or it is
//! exactly `Mozilla/5.0`, which is what Apple Mail Privacy Protection's proxy is reported to
//! send when it loads every image of a message on arrival (not checked here: no Apple device);
//! the store adds what timing tells ([`crate::store::Open`]'s module).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::mpsc;

use super::counter::Counter;
use crate::compose::tokens::Tokens;
use crate::store::Open;

/// A 1x1 transparent GIF (GIF89a, one palette entry transparent): the smallest image every
/// mail client shows.
pub const PIXEL: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff\
!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";

/// The user agent Apple Mail Privacy Protection's proxy is reported to send.
const APPLE_PROXY: &str = "Mozilla/5.0";

/// Why a pixel request looks automated, if it does: `head`, `scanner` (as for a click, see
/// [`super::clicks::automated`]), or `proxy` (a privacy proxy loading every image).
pub fn automated(method: &Method, user_agent: Option<&str>) -> Option<&'static str> {
    if user_agent.map(str::trim) == Some(APPLE_PROXY) && method == Method::GET {
        return Some("proxy");
    }
    super::clicks::automated(method, user_agent)
}

struct Opens {
    tokens: Tokens,
    counter: Counter<Open>,
}

/// The route, with its own state, and the queue's receiving end for
/// [`super::counter::record_loop`] (with [`crate::store::Store::record_opens`]).
pub fn router<S: Clone + Send + Sync + 'static>(
    tokens: Tokens,
) -> (Router<S>, mpsc::Receiver<Open>) {
    let (counter, receiver) = Counter::new("opens answered");
    let state = Arc::new(Opens { tokens, counter });
    let router = Router::new()
        .route("/o/{file}", get(load))
        .with_state(state);
    (router, receiver)
}

async fn load(
    State(opens): State<Arc<Opens>>,
    method: Method,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> Response {
    let verified = file
        .strip_suffix(".gif")
        .and_then(|token| opens.tokens.verify_open(token));
    let Some((campaign, member)) = verified else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    opens.counter.count(Open {
        campaign,
        member: (!member.is_empty()).then_some(member),
        at: crate::store::now(),
        automated: automated(&method, ua).map(String::from),
    });
    let mut r = (StatusCode::OK, PIXEL).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/gif"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, private"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pixel_is_a_1x1_gif() {
        assert_eq!(PIXEL.len(), 43);
        assert!(PIXEL.starts_with(b"GIF89a\x01\x00\x01\x00"));
        assert!(PIXEL.ends_with(b";"));
    }

    #[test]
    fn a_privacy_proxy_scanners_and_head_look_automated_browsers_do_not() {
        let gmail = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)";
        assert_eq!(automated(&Method::GET, Some(gmail)), None);
        assert_eq!(automated(&Method::GET, Some("Mozilla/5.0")), Some("proxy"));
        assert_eq!(automated(&Method::HEAD, Some("Mozilla/5.0")), Some("head"));
        assert_eq!(automated(&Method::GET, None), Some("scanner"));
        assert_eq!(
            automated(&Method::GET, Some("python-requests/2.31")),
            Some("scanner")
        );
    }
}
