//! `mailshot preview`: a local page showing the campaign as its files are now, updated as
//! they are saved.
//!
//! - `GET /` (and `/?as=EMAIL`): the page ([`page::document`]): the inbox line, the bulletin
//!   at 640 and 375 px, the text part, `check`'s findings, a member picker; or the error that
//!   stops the campaign, as `check` words it. `GET /panel?as=` is the same without the frame
//!   around it, which the page's script fetches after a change.
//! - `GET /render?as=EMAIL`: the member's HTML part exactly as the message carries it (the
//!   render path `send --test-to` uses; its unsubscribe links carry a test token).
//! - `GET /changes?since=N`: a long poll: answers the load's number as soon as there is a
//!   newer load than `N`, or after [`POLL`] (less if the connection's idle timeout is shorter).
//!
//! Live reload: [`watch::Watch`] watches the campaign's folders (notify); a burst of events is
//! debounced ([`watch::Debounce`]), then the config and campaign are read again on a blocking
//! thread ([`state::load`]) and the new load is published to the waiting long polls.
//!
//! It binds 127.0.0.1 only and answers only requests addressed to it (a `Host` of
//! `127.0.0.1:PORT` or `localhost:PORT`: a web page elsewhere cannot read member data
//! through DNS rebinding); it is served by [`crate::serve::serve`] with `[serve]`'s
//! timeouts and connection cap. It never sends, never writes the store, never takes the
//! campaign lock.

pub mod page;
pub mod state;
pub mod watch;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::{mpsc, watch as latest};
use tokio::time::Instant;

use crate::compose::lint;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::serve::Limits;

pub use state::Options;
use state::Snapshot;
use watch::{Debounce, Watch};

/// The port `preview` serves on unless `--port` says otherwise.
pub const DEFAULT_PORT: u16 = 7878;

/// The longest a long poll is held before it answers with no change: 20 s.
pub const POLL: Duration = Duration::from_secs(20);

struct App {
    latest: latest::Receiver<Arc<Snapshot>>,
    /// The `Host` headers answered: `127.0.0.1:PORT`, `localhost:PORT`.
    hosts: [String; 2],
    /// Who the page shows without `?as=`: `--as`, else the first member.
    default_who: Option<String>,
    /// How long a long poll is held.
    poll: Duration,
    /// True once Ctrl-C or SIGTERM came: the long polls answer at once, so the server
    /// stops without waiting for them.
    closing: latest::Receiver<bool>,
}

/// Serves the preview until Ctrl-C or SIGTERM; calls `on_listening` with the address once
/// bound and the campaign first loaded. `as_member` (`--as`) must be on the list.
pub fn run(
    options: Options,
    config: &Config,
    as_member: Option<&str>,
    port: u16,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<()> {
    if let Some(who) = as_member {
        state::check_as(config, who)?;
    }
    let limits = Limits::from(&config.serve);
    let runtime = crate::serve::runtime()?;
    let options = Arc::new(options);
    let watching = Watch::of(config);
    runtime.block_on(async move {
        let listener = bind(port).await?;
        let bound = listener
            .local_addr()
            .map_err(|e| Error::runtime(e.to_string()))?;
        let (events, on_event) = mpsc::channel(1);
        let watcher = watching.start(events.clone())?;
        // The first load is checked too before the address is printed: a page opened at
        // once shows everything.
        let (first, first_watching) = reload(options.clone(), 1).await;
        let findings = match &first {
            Ok(ready) => check(ready.clone(), Arc::default()).await,
            Err(_) => None,
        };
        let closing = latest::Sender::new(false);
        let (publish, latest) = latest::channel(Arc::new(Snapshot {
            generation: 1,
            loaded: first,
            findings,
        }));
        let app = Arc::new(App {
            latest,
            hosts: [
                format!("127.0.0.1:{}", bound.port()),
                format!("localhost:{}", bound.port()),
            ],
            default_who: as_member.map(str::to_string),
            // Answered before the connection's idle timeout would cut it.
            poll: POLL.min(limits.idle_timeout / 2),
            closing: closing.subscribe(),
        });
        let mut reloads = Reloads {
            options,
            watching,
            watcher,
            events,
            publish,
        };
        reloads.rewatch(first_watching);
        let reloader = tokio::spawn(reloads.run(on_event));
        on_listening(bound);
        let router = Router::new().fallback(handle).with_state(app);
        let stop = async {
            crate::serve::shutdown().await;
            closing.send_replace(true);
        };
        crate::serve::serve(listener, router, limits, stop).await;
        reloader.abort();
        Ok(())
    })
}

/// Binds 127.0.0.1:`port`, saying what to do when the port is taken.
async fn bind(port: u16) -> Result<tokio::net::TcpListener> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            Error::runtime(format!(
                "port {port} on 127.0.0.1 is taken (another preview?): pass `--port` another port, or `--port 0` for any free one"
            ))
        } else {
            Error::runtime(format!("failed to listen on {addr}: {e}"))
        }
    })
}

/// What a load gives: the campaign or why it did not open.
type Loaded = std::result::Result<Arc<state::Ready>, String>;

/// Loads the files on a blocking thread, as load number `load`; also gives what to watch for
/// the config as it now is (`None`: it does not read). A loader that panicked (a bug, on some
/// input) is shown as the load's error: the preview goes on.
async fn reload(options: Arc<Options>, load: u64) -> (Loaded, Option<Watch>) {
    tokio::task::spawn_blocking(move || {
        let config = options.config();
        let watching = config.as_ref().ok().map(Watch::of);
        let loaded = state::load(&options, config, load).map(Arc::new);
        // The images are known once read: their folders are watched from then on.
        let watching = watching.map(|w| match &loaded {
            Ok(r) => w.with_images(r.campaign.images.images.iter().map(|i| i.path.as_str())),
            Err(_) => w,
        });
        (loaded, watching)
    })
    .await
    .unwrap_or_else(|e| (Err(format!("the preview's loader failed: {e}")), None))
}

/// `check`'s findings on `ready`, on a blocking thread; `None` when `stop` was set first.
async fn check(ready: Arc<state::Ready>, stop: Arc<AtomicBool>) -> Option<Arc<Vec<lint::Finding>>> {
    let found = tokio::task::spawn_blocking(move || ready.check(&stop)).await;
    let found = found.unwrap_or_else(|e| {
        Some(vec![lint::Finding {
            severity: lint::Severity::Error,
            message: format!("the check failed: {e}"),
        }])
    });
    found.map(Arc::new)
}

/// Publishes `check`'s findings on `ready`, if it is still the latest load (`stop` is set
/// when it is not: the check ends early).
async fn findings_of(
    ready: Arc<state::Ready>,
    publish: latest::Sender<Arc<Snapshot>>,
    stop: Arc<AtomicBool>,
) {
    let Some(found) = check(ready.clone(), stop).await else {
        return;
    };
    publish.send_if_modified(|s| {
        let current = matches!(&s.loaded, Ok(r) if Arc::ptr_eq(r, &ready));
        if current {
            *s = Arc::new(Snapshot {
                generation: s.generation + 1,
                loaded: s.loaded.clone(),
                findings: Some(found),
            });
        }
        current
    });
}

/// The shell around [`Debounce`]: file events in, loads published, each load's findings
/// published after it (unless a newer load came first).
struct Reloads {
    options: Arc<Options>,
    watching: Watch,
    /// Kept alive: dropping it ends the watch.
    watcher: notify::RecommendedWatcher,
    events: mpsc::Sender<()>,
    publish: latest::Sender<Arc<Snapshot>>,
}

impl Reloads {
    async fn run(mut self, mut on_event: mpsc::Receiver<()>) {
        let mut debounce = Debounce::default();
        let mut load = 1;
        let mut checking = tokio::task::JoinSet::new();
        // Set when a newer load replaces the one being checked: aborting the task leaves its
        // `spawn_blocking` work running, and on a big list checks would pile up.
        let mut stop = Arc::new(AtomicBool::new(false));
        loop {
            let due = debounce.due();
            tokio::select! {
                event = on_event.recv() => match event {
                    Some(()) => debounce.event(Instant::now()),
                    None => return,
                },
                () = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    if !debounce.fire(Instant::now()) {
                        continue;
                    }
                    load += 1;
                    let (loaded, watching) = reload(self.options.clone(), load).await;
                    self.publish.send_modify(|s| {
                        *s = Arc::new(Snapshot {
                            generation: s.generation + 1,
                            loaded: loaded.clone(),
                            findings: None,
                        })
                    });
                    // An older load's findings would never be shown: not waited for.
                    checking.abort_all();
                    stop.store(true, Ordering::Relaxed);
                    stop = Arc::new(AtomicBool::new(false));
                    if let Ok(ready) = loaded {
                        checking.spawn(findings_of(ready, self.publish.clone(), stop.clone()));
                    }
                    self.rewatch(watching);
                }
                Some(_) = checking.join_next(), if !checking.is_empty() => {}
            }
        }
    }

    /// Watches other folders when the config now names other files.
    fn rewatch(&mut self, watching: Option<Watch>) {
        let Some(watching) = watching.filter(|w| *w != self.watching) else {
            return;
        };
        match watching.start(self.events.clone()) {
            Ok(watcher) => {
                self.watcher = watcher;
                self.watching = watching;
            }
            Err(e) => eprintln!("warning: {e}; still watching the files the config named before"),
        }
    }
}

async fn handle(
    State(app): State<Arc<App>>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if !host.is_some_and(|h| app.hosts.iter().any(|a| a.eq_ignore_ascii_case(h))) {
        return plain(
            StatusCode::FORBIDDEN,
            format!("preview answers only http://{}/\n", app.hosts[0]),
        );
    }
    if !matches!(method, Method::GET | Method::HEAD) {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "GET only\n".into());
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let who = q
        .get("as")
        .map(String::as_str)
        .filter(|w| !w.trim().is_empty())
        .or(app.default_who.as_deref())
        .map(str::to_string);
    let snapshot = app.latest.borrow().clone();
    match uri.path() {
        "/" => html(page::document(&snapshot, who.as_deref()), PAGE_POLICY),
        "/panel" => html(page::panel(&snapshot, who.as_deref()), PAGE_POLICY),
        "/render" => render(snapshot, who).await,
        "/changes" => changes(&app, q.get("since")).await,
        "/app.js" => with_headers(
            page::SCRIPT.into_response(),
            "text/javascript; charset=utf-8",
            PAGE_POLICY,
        ),
        path => match path.strip_prefix("/bulletins/images/") {
            Some(name) => image(&snapshot, name),
            None => plain(StatusCode::NOT_FOUND, "not found\n".into()),
        },
    }
}

/// One of the campaign's local images, as the frames ask for it (see `Ready::local_images`).
fn image(snapshot: &Snapshot, name: &str) -> Response {
    let found = match &snapshot.loaded {
        Ok(ready) => ready.image(name),
        Err(_) => None,
    };
    match found {
        Some((content_type, bytes)) => crate::serve::typed(
            bytes.as_ref().clone().into_response(),
            Some(HeaderValue::from_static(content_type)),
            "no-store",
            None,
        ),
        None => plain(StatusCode::NOT_FOUND, "not found\n".into()),
    }
}

/// The page's policy: its own script and requests, nothing else; frames from itself (and
/// the web, where a link clicked in the bulletin leads).
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; frame-src 'self' https: http:; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// A bulletin's policy: its images, styles and fonts from anywhere, as in a mail client; no
/// script.
const BULLETIN_POLICY: &str = "default-src 'none'; img-src * data:; style-src * 'unsafe-inline'; font-src * data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

/// The member's HTML part, exactly as the message carries it; or the error, in the frame.
async fn render(snapshot: Arc<Snapshot>, who: Option<String>) -> Response {
    let shown = tokio::task::spawn_blocking(move || match &snapshot.loaded {
        Ok(ready) => match ready.show(who.as_deref()).as_ref() {
            Ok(r) => Ok(ready.local_images(r.html.clone())),
            Err(e) => Err(e.clone()),
        },
        Err(e) => Err(e.clone()),
    })
    .await
    .unwrap_or_else(|e| Err(format!("the render failed: {e}")));
    match shown {
        Ok(body) => html(body, BULLETIN_POLICY),
        Err(e) => html(page::frame_problem(&e), BULLETIN_POLICY),
    }
}

/// The long poll: the latest load's number once it is not `since`, or after the poll time.
async fn changes(app: &App, since: Option<&String>) -> Response {
    let since: Option<u64> = since.and_then(|s| s.parse().ok());
    let mut latest = app.latest.clone();
    let newer = async {
        loop {
            if Some(latest.borrow_and_update().generation) != since {
                return;
            }
            if latest.changed().await.is_err() {
                // The reloader stopped (shutting down): let the poll time run out.
                std::future::pending::<()>().await;
            }
        }
    };
    let mut closing = app.closing.clone();
    tokio::select! {
        _ = tokio::time::timeout(app.poll, newer) => {}
        _ = closing.wait_for(|c| *c) => {}
    }
    let generation = latest.borrow().generation;
    let mut r = plain(StatusCode::OK, generation.to_string());
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn html(body: String, policy: &'static str) -> Response {
    with_headers(body.into_response(), "text/html; charset=utf-8", policy)
}

fn plain(status: StatusCode, body: String) -> Response {
    let r = (status, body).into_response();
    with_headers(r, "text/plain; charset=utf-8", "default-src 'none'")
}

fn with_headers(r: Response, content_type: &'static str, policy: &'static str) -> Response {
    let content_type = Some(HeaderValue::from_static(content_type));
    crate::serve::typed(r, content_type, "no-store", Some(policy))
}
