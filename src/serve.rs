//! `mailshot serve`: the one-click unsubscribe service (RFC 8058) on axum.
//!
//! - `GET /<anything>/<token>` (or `?token=<token>`) shows a confirmation page with a button. It never
//!   unsubscribes: mail scanners fetch links.
//! - `POST` to the same URL (the button, or a mailbox provider's one-click POST with
//!   `List-Unsubscribe=One-Click` as `application/x-www-form-urlencoded` or
//!   `multipart/form-data`) records the suppression durably and answers 200, no redirect.
//!   Repeating it is harmless.
//! - A missing token gets 400, a forged, altered or truncated one 403; neither changes anything.
//!   Tokens are compared in constant time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::members::check_address;
use crate::store::Store;
use crate::unsubscribe::Tokens;

struct App {
    store: Mutex<Store>,
    tokens: Tokens,
    list_name: String,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title}</title>\
         <style>body{{font-family:Helvetica,Arial,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1f2d3d}}\
         button{{font-size:1rem;padding:.6rem 1.2rem;background:#0b6e74;color:#fff;border:0;border-radius:4px;cursor:pointer}}</style>\
         </head><body><h1>{title}</h1>{body}</body></html>",
        title = escape(title)
    );
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-robots-tag", HeaderValue::from_static("noindex"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
        ),
    );
    r
}

/// What a genuine link stands for.
enum Link {
    /// A member's address.
    Member(String),
    /// A `--test-to` copy of a campaign, sent to an address: it unsubscribes nobody.
    Test { campaign: String, to: String },
}

/// Checks the link's token (the `token` query parameter, or the last path segment) and
/// returns what it stands for; `Err` is the response to give.
// The error is the page to answer with; built once per request, boxing it would buy nothing.
#[allow(clippy::result_large_err)]
fn check(
    app: &App,
    path: &str,
    q: &HashMap<String, String>,
) -> std::result::Result<Link, Response> {
    let token = q
        .get("token")
        .map(String::as_str)
        .unwrap_or_else(|| path.rsplit('/').next().unwrap_or(""));
    if token.is_empty() || !token.contains('.') {
        return Err(page(
            StatusCode::BAD_REQUEST,
            "This unsubscribe link is not valid",
            "<p>The link is missing part of its address: please use the whole link from the email.</p>",
        ));
    }
    if let Some((campaign, to)) = app.tokens.verify_test(token) {
        return Ok(Link::Test { campaign, to });
    }
    match app.tokens.verify(token) {
        Some(email) if check_address(&email).is_ok() => Ok(Link::Member(email)),
        _ => Err(page(
            StatusCode::FORBIDDEN,
            "This unsubscribe link is not valid",
            "<p>The link has been changed or cut short: please use the whole link from the email.</p>",
        )),
    }
}

async fn handle(
    State(app): State<Arc<App>>,
    method: Method,
    uri: axum::http::Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let list = escape(&app.list_name);
    let email = match check(&app, uri.path(), &q) {
        Ok(Link::Member(e)) => e,
        Ok(Link::Test { campaign, to }) => {
            return page(
                StatusCode::OK,
                "This was a test copy: nothing changed",
                &format!(
                    "<p>This link came in a test copy of {list} (campaign <strong>{}</strong>) sent to \
                     <strong>{}</strong>. It unsubscribes nobody: each member's copy has its own link.</p>",
                    escape(&campaign),
                    escape(&to)
                ),
            );
        }
        Err(r) => return r,
    };
    match method {
        Method::GET | Method::HEAD => page(
            StatusCode::OK,
            "Unsubscribe?",
            &format!(
                "<p>Stop sending {list} to <strong>{}</strong>?</p>\
                 <form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
                 <button type=\"submit\">Unsubscribe</button></form>",
                escape(&email)
            ),
        ),
        Method::POST => {
            let app2 = app.clone();
            let e2 = email.clone();
            let done = tokio::task::spawn_blocking(move || {
                let store = app2.store.lock().unwrap_or_else(|p| p.into_inner());
                store.suppress(&e2, "unsubscribed", Some("one-click unsubscribe"))
            })
            .await;
            match done {
                Ok(Ok(_)) => page(
                    StatusCode::OK,
                    "You are unsubscribed",
                    &format!(
                        "<p><strong>{}</strong> will receive no more {list}.</p>",
                        escape(&email)
                    ),
                ),
                _ => page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Please try again",
                    "<p>We could not record your request just now. Please try again in a minute.</p>",
                ),
            }
        }
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

/// Serves until Ctrl-C or SIGTERM. Prints `listening on http://ADDR` once bound.
pub fn run(config: &Config, listen: &str) -> Result<()> {
    // Never the file transport's development secret: with it anyone could forge a link.
    let var = &config.unsubscribe.secret_env;
    if std::env::var_os(var).is_none() {
        return Err(Error::input(format!(
            "environment variable `{var}` is not set: `mailshot serve` needs the secret that signed the unsubscribe links (the one `send` used), so that nobody can forge one"
        )));
    }
    let (tokens, _) = Tokens::from_config(config, false)?;
    let store = Store::open(&config.store)?;
    store.durable()?;
    let app = Arc::new(App {
        store: Mutex::new(store),
        tokens,
        list_name: config
            .list_name
            .clone()
            .unwrap_or_else(|| config.list_id.clone()),
    });
    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| Error::input(format!("--listen: `{listen}` is not an address:port")))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::runtime(format!("failed to start the async runtime: {e}")))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::runtime(format!("failed to listen on {addr}: {e}")))?;
        let bound = listener
            .local_addr()
            .map_err(|e| Error::runtime(e.to_string()))?;
        println!("listening on http://{bound}");
        let router = Router::new().fallback(handle).with_state(app);
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown())
            .await
            .map_err(|e| Error::runtime(format!("the unsubscribe service failed: {e}")))
    })
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
