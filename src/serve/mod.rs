//! `mailshot serve`: the one-click unsubscribe service (RFC 8058) on axum, and the public
//! archive of web editions (`/bulletins/...`, in `web`; see [`crate::web`]).
//!
//! - `GET /<anything>/<token>` (or `?token=<token>`) shows a confirmation page with a button. It never
//!   unsubscribes: mail scanners fetch links.
//! - `POST` to the same URL (the button, or a mailbox provider's one-click POST with
//!   `List-Unsubscribe=One-Click` as `application/x-www-form-urlencoded` or
//!   `multipart/form-data`) records the unsubscribe durably and answers 200, no redirect:
//!   appended to the file beside the store and synced to disk first (the store may be busy or
//!   replaced; see [`crate::store::unsubscribes`]), then folded into the store by `fold_loop`.
//!   Repeating it is harmless. Only when the file cannot be written is the answer 503, and
//!   the reason is printed on stderr.
//! - A missing token gets 400, a forged, altered or truncated one 403; neither changes anything.
//!   Tokens are compared in constant time. Another method gets 405 with `Allow`.
//!
//! - `GET /bulletins/images/<name>`: a published image from the store (`images.rs`).
//! - `GET /c/<token>`: a tracked link (`[tracking] clicks`): counted, and redirected to the
//!   URL its token signs (`clicks.rs`).
//! - `GET /o/<token>.gif`: a member's open pixel (`[tracking] opens`): counted, and answered
//!   with a 1x1 GIF (`opens.rs`). Each counts through its own `counter.rs` queue (bounded,
//!   never making the answer wait) and writer task.
//!
//! [`serve`] takes a bound listener and a shutdown future (tests bind `127.0.0.1:0`): at most
//! `max_connections` at once (a semaphore taken before each accept, so the rest wait in the
//! listen queue), each closed when its headers take longer than `header_timeout_secs` (hyper's
//! header-read timer, which also runs between keep-alive requests) or when no byte moves for
//! `idle_timeout_secs`.

mod clicks;
mod counter;
mod opens;
mod web;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub(crate) mod images;

use crate::compose::tokens::Tokens;
use crate::config::{Config, ServeConfig};
use crate::error::{Error, Result};
use crate::list::check_address;
use crate::store::Store;
use crate::store::unsubscribes::{self, Entry, Folded};
use crate::web::escape;

struct App {
    /// Hands each unsubscribe to [`write_loop`], with where to say it is on disk.
    records: mpsc::Sender<(Entry, oneshot::Sender<std::result::Result<(), String>>)>,
    tokens: Tokens,
    list_name: String,
}

pub(crate) fn page(status: StatusCode, title: &str, body: &str) -> Response {
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

/// `r` with its content type (when there is one), `Cache-Control: cache`,
/// `X-Content-Type-Options: nosniff` and, when given, its `Content-Security-Policy`: what the
/// files and pages served here (and by the preview) carry.
pub(crate) fn typed(
    mut r: Response,
    content_type: Option<HeaderValue>,
    cache: &'static str,
    policy: Option<&'static str>,
) -> Response {
    let h = r.headers_mut();
    if let Some(t) = content_type {
        h.insert(header::CONTENT_TYPE, t);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Some(policy) = policy {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(policy),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
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
    // An empty `?token=` (a link template that left it blank) never hides the path's token.
    let token = q
        .get("token")
        .map(String::as_str)
        .filter(|t| !t.is_empty())
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
    if !matches!(method, Method::GET | Method::HEAD | Method::POST) {
        return not_allowed();
    }
    let list = escape(&app.list_name);
    match check(&app, uri.path(), &q) {
        Ok(Link::Member(email)) if method == Method::POST => unsubscribe(&app, email, &list).await,
        Ok(Link::Member(email)) => confirm(&email, &list),
        Ok(Link::Test { campaign, to }) => test_copy(&campaign, &to, &list),
        Err(r) => r,
    }
}

/// 405, with the methods a link answers.
fn not_allowed() -> Response {
    let mut r = page(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
        "<p>Unsubscribe links answer GET and POST only.</p>",
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
    r
}

/// A test copy's link: it unsubscribes nobody, whatever the method.
fn test_copy(campaign: &str, to: &str, list: &str) -> Response {
    page(
        StatusCode::OK,
        "This was a test copy: nothing changed",
        &format!(
            "<p>This link came in a test copy of {list} (campaign <strong>{}</strong>) sent to \
             <strong>{}</strong>. It unsubscribes nobody: each member's copy has its own link.</p>",
            escape(campaign),
            escape(to)
        ),
    )
}

/// GET: the confirmation page; it never unsubscribes (mail scanners fetch links).
fn confirm(email: &str, list: &str) -> Response {
    page(
        StatusCode::OK,
        "Unsubscribe?",
        &format!(
            "<p>Stop sending {list} to <strong>{}</strong>?</p>\
             <form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
             <button type=\"submit\">Unsubscribe</button></form>",
            escape(email)
        ),
    )
}

/// POST: 200 only once the unsubscribe is on disk, whatever the store is doing (it is folded
/// into the store after); 503, said on stderr, when it cannot be written.
async fn unsubscribe(app: &App, email: String, list: &str) -> Response {
    let entry = Entry {
        email: email.clone(),
        reason: "unsubscribed".into(),
        source: "one-click unsubscribe".into(),
        at: crate::store::now(),
    };
    let (done, on_disk) = oneshot::channel();
    let failed = match app.records.send((entry, done)).await {
        Ok(()) => on_disk
            .await
            .unwrap_or_else(|_| Err("the writer stopped".into()))
            .err(),
        Err(_) => Some("the writer stopped".into()),
    };
    match failed {
        None => page(
            StatusCode::OK,
            "You are unsubscribed",
            &format!(
                "<p><strong>{}</strong> will receive no more {list}.</p>",
                escape(&email)
            ),
        ),
        Some(why) => {
            eprintln!("error: answered 503 to an unsubscribe of `{email}`: {why}");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                "<p>We could not record your request just now. Please try again in a minute.</p>",
            )
        }
    }
}

/// Serves until Ctrl-C or SIGTERM; calls `on_listening` with the address once bound (the
/// command prints it: with `--listen 127.0.0.1:0` that is how a caller learns the port).
pub fn run(config: &Config, listen: &str, on_listening: impl FnOnce(SocketAddr)) -> Result<()> {
    // Never the file transport's development secret: with it anyone could forge a link.
    let var = &config.unsubscribe.secret_env;
    if std::env::var_os(var).is_none() {
        return Err(Error::input(format!(
            "environment variable `{var}` is not set: `mailshot serve` needs the secret that signed the unsubscribe links (the one `send` used), so that nobody can forge one"
        )));
    }
    let (tokens, _) = Tokens::from_config(config, false)?;
    let click_tokens = tokens.clone();
    let open_tokens = tokens.clone();
    // Opening folds in what an earlier run left waiting, and shows the store is usable.
    drop(Store::open(&config.store)?);
    let (records, to_write) = mpsc::channel(RECORDS_QUEUED);
    let app = Arc::new(App {
        records,
        tokens,
        list_name: config
            .list_name
            .clone()
            .unwrap_or_else(|| config.list_id.clone()),
    });
    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| Error::input(format!("--listen: `{listen}` is not an address:port")))?;
    let limits = Limits::from(&config.serve);
    let runtime = runtime()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::runtime(format!("failed to listen on {addr}: {e}")))?;
        let bound = listener
            .local_addr()
            .map_err(|e| Error::runtime(e.to_string()))?;
        on_listening(bound);
        let wake = Arc::new(Notify::new());
        let writer = tokio::spawn(write_loop(config.store.clone(), to_write, wake.clone()));
        let folder = tokio::spawn(fold_loop(config.store.clone(), wake));
        let (clicks, counted) = clicks::router(click_tokens);
        let store = config.store.clone();
        let click_counter = tokio::spawn(counter::record_loop(
            store.clone(),
            counted,
            Store::record_clicks,
            "clicks",
        ));
        let (opens, counted) = opens::router(open_tokens);
        let open_counter = tokio::spawn(counter::record_loop(
            store,
            counted,
            Store::record_opens,
            "opens",
        ));
        let router = Router::new()
            .merge(images::router(config.store.clone()))
            .merge(clicks)
            .merge(opens)
            .fallback(handle)
            .with_state(app)
            .merge(web::routes(config));
        serve(listener, router, limits, shutdown()).await;
        // Every request is answered, so every unsubscribe is on disk: the writer ends.
        let _ = writer.await;
        // The router is gone with the server: the counters write what is queued and end.
        let _ = click_counter.await;
        let _ = open_counter.await;
        folder.abort();
        // A last try; what the store cannot take now waits on disk for the next command.
        let path = config.store.clone();
        let _ = tokio::task::spawn_blocking(move || Folder::new(path).fold()).await;
        Ok(())
    })
}

/// The runtime a local HTTP service runs on: two worker threads (it serves a person, or
/// the unsubscribes of one list, not a crowd).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::runtime(format!("failed to start the async runtime: {e}")))
}

/// How long a fold waits for a busy store before trying again a second later.
const FOLD_WAIT: Duration = Duration::from_millis(500);

/// Unsubscribes waiting to be written, at most; more requests wait their turn.
const RECORDS_QUEUED: usize = 1024;

/// Appends the unsubscribes handed over to the file beside the store, as many as are waiting
/// in one write and one sync (group commit), then tells each sender, and wakes the folder.
async fn write_loop(
    store: PathBuf,
    mut records: mpsc::Receiver<(Entry, oneshot::Sender<std::result::Result<(), String>>)>,
    wake: Arc<Notify>,
) {
    let mut batch = Vec::new();
    while records.recv_many(&mut batch, RECORDS_QUEUED).await > 0 {
        let entries: Vec<Entry> = batch.iter().map(|(e, _)| e.clone()).collect();
        let path = store.clone();
        let done = tokio::task::spawn_blocking(move || unsubscribes::append(&path, &entries))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        if done.is_ok() {
            wake.notify_one();
        }
        for (_, tell) in batch.drain(..) {
            let _ = tell.send(done.clone());
        }
    }
}

/// The service's connection to the store, reopened when the file at the store's path is no
/// longer the one it opened (replaced or deleted: writing on would reach a file nobody reads).
struct Folder {
    path: PathBuf,
    open: Option<(Store, Option<(u64, u64)>)>,
}

impl Folder {
    fn new(path: PathBuf) -> Folder {
        Folder { path, open: None }
    }

    /// The file's device and inode; `None` if there is none.
    fn identity(path: &Path) -> Option<(u64, u64)> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            None
        }
    }

    fn fold(&mut self) -> Result<Folded> {
        let now = Folder::identity(&self.path);
        let same = matches!(&self.open, Some((_, was)) if was.is_some() && *was == now);
        if !same {
            self.open = None;
            let store = Store::connect(&self.path)?;
            self.open = Some((store, Folder::identity(&self.path)));
        }
        let (store, _) = self.open.as_mut().expect("opened above");
        unsubscribes::fold(store, &self.path, FOLD_WAIT)
    }
}

/// Folds the waiting unsubscribes into the store when woken, and every second while some
/// wait; says on stderr when the store holds them up, and when it took them.
async fn fold_loop(store: PathBuf, wake: Arc<Notify>) {
    let mut waiting = false;
    let mut folder = Some(Folder::new(store.clone()));
    let file = crate::error::show(&unsubscribes::path(&store));
    loop {
        if waiting {
            let _ = tokio::time::timeout(Duration::from_secs(1), wake.notified()).await;
        } else {
            wake.notified().await;
        }
        let mut f = folder.take().unwrap_or_else(|| Folder::new(store.clone()));
        let done = tokio::task::spawn_blocking(move || {
            let r = f.fold();
            (f, r)
        })
        .await;
        let why = match done {
            Ok((f, r)) => {
                folder = Some(f);
                match r {
                    Ok(Folded::Busy(n)) => format!("the delivery log is busy; {n} wait"),
                    Ok(_) => {
                        if waiting {
                            eprintln!(
                                "note: the unsubscribes waiting in `{file}` are in the delivery log"
                            );
                        }
                        waiting = false;
                        continue;
                    }
                    Err(e) => e.to_string(),
                }
            }
            Err(e) => e.to_string(),
        };
        if !waiting {
            eprintln!(
                "note: unsubscribes are recorded in `{file}` (on disk; a running send honours them) but not yet in the delivery log: {why}; trying again every second"
            );
        }
        waiting = true;
    }
}

/// What one client may hold (see `[serve]` in the config).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl From<&ServeConfig> for Limits {
    fn from(c: &ServeConfig) -> Limits {
        Limits {
            header_timeout: Duration::from_secs(c.header_timeout_secs),
            idle_timeout: Duration::from_secs(c.idle_timeout_secs),
            max_connections: c.max_connections,
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then lets the
/// requests in flight finish (idle connections close at once) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // The slot first: past the cap, connections wait in the listen queue, unaccepted.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: wait for some to close, never spin.
                    eprintln!("warning: failed to accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched {
            inner: stream,
            activity: activity.clone(),
        });
        let conn = http.serve_connection(io, TowerToHyperService::new(router.clone()));
        let mut stopping = stopping.clone();
        connections.spawn(async move {
            let _slot = slot;
            tokio::pin!(conn);
            let mut graceful = false;
            loop {
                let idle_until = activity.last() + limits.idle_timeout;
                tokio::select! {
                    _ = conn.as_mut() => break,
                    () = tokio::time::sleep_until(idle_until) => {
                        if activity.last() + limits.idle_timeout <= Instant::now() {
                            break; // dropped: the socket is closed
                        }
                    }
                    _ = stopping.changed(), if !graceful => {
                        graceful = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
}

/// When a connection last moved a byte.
struct Activity {
    start: Instant,
    /// Milliseconds since `start`.
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// A stream that notes in [`Activity`] each time bytes move.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown() {
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
