//! `mailshot serve`'s public pages (see [`crate::web`]): `GET` (and `HEAD`) `/bulletins/`
//! (the archive), `/bulletins/feed.atom` (its Atom feed) and `/bulletins/<campaign>/` (a
//! sent campaign's web edition; without the trailing `/`, a redirect to it). Each request
//! reads the store afresh, so an issue is online as soon as its send has begun; a campaign
//! with no stored web edition, or any page while `[web] base_url` is not set, is a 404.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::config::Config;
use crate::store::Store;
use crate::web::{Page, Site};

/// What the handlers read: the config (the store's path, the archive's title and
/// addresses).
struct Web {
    config: Config,
}

/// The public pages' routes, to merge with the unsubscribe service's.
pub fn routes(config: &Config) -> Router {
    let web = Arc::new(Web {
        config: config.clone(),
    });
    Router::new()
        .route(
            "/bulletins",
            get(|| async { Redirect::permanent("/bulletins/") }),
        )
        .route("/bulletins/", get(index))
        .route("/bulletins/feed.atom", get(feed))
        .route("/bulletins/{campaign}", get(to_edition))
        .route("/bulletins/{campaign}/", get(edition))
        .with_state(web)
}

/// Which page a request wants.
enum Want {
    Index,
    Feed,
    Edition(String),
}

async fn index(State(web): State<Arc<Web>>) -> Response {
    answer(web, Want::Index).await
}

async fn feed(State(web): State<Arc<Web>>) -> Response {
    answer(web, Want::Feed).await
}

async fn edition(State(web): State<Arc<Web>>, Path(campaign): Path<String>) -> Response {
    answer(web, Want::Edition(campaign)).await
}

/// `/bulletins/<campaign>`: the web edition is at `/bulletins/<campaign>/`, where its
/// relative links (if any) resolve.
async fn to_edition(Path(campaign): Path<String>) -> Response {
    match crate::compose::campaign::check_campaign_id(&campaign) {
        Ok(()) => Redirect::permanent(&format!("/bulletins/{campaign}/")).into_response(),
        Err(_) => not_found(),
    }
}

/// Builds the page on a blocking thread (the store is SQLite); 404 when there is none, 500
/// (said on stderr) when the store cannot be read.
async fn answer(web: Arc<Web>, want: Want) -> Response {
    let Some(base) = web.config.web.base_url.clone() else {
        return super::page(
            StatusCode::NOT_FOUND,
            "No web edition",
            "<p>This service has no public archive: <code>[web] base_url</code> is not set.</p>",
        );
    };
    let built = tokio::task::spawn_blocking(move || build(&web, &base, want)).await;
    match built {
        Ok(Ok(Some(page))) => respond(page),
        Ok(Ok(None)) => not_found(),
        Ok(Err(e)) => failed(&e.to_string()),
        Err(e) => failed(&e.to_string()),
    }
}

fn build(web: &Web, base: &str, want: Want) -> crate::error::Result<Option<Page>> {
    // Only read, in SQLite's read-only mode: `Store::open` would also fold in waiting
    // unsubscribes (a write, and a wait when the store is busy), which the service's own fold
    // loop does, and `Store::connect` makes folders and tables.
    let store = Store::open_read_only(&web.config.store)?;
    Ok(match want {
        Want::Index => Some(Site::load(&web.config, base, store.as_ref())?.index()),
        Want::Feed => Some(Site::load(&web.config, base, store.as_ref())?.feed()),
        Want::Edition(id) => match store {
            Some(s) => s
                .edition_html(&id)?
                .map(|html| crate::web::edition(&id, html)),
            None => None,
        },
    })
}

/// What a page may run: nothing. A web edition is a bulletin (an email needs no script), and
/// a script in one (a `<script>` in an `mj-raw`) is not run on the public host.
const POLICY: &str = "script-src 'none'; object-src 'none'; base-uri 'none'";

/// A page's bytes with its content type and [`POLICY`]; browsers and caches check again each
/// time (a campaign's accepted changes replace its web edition).
fn respond(page: Page) -> Response {
    let content_type = HeaderValue::from_static(page.content_type);
    let r = (StatusCode::OK, page.body).into_response();
    super::typed(r, Some(content_type), "no-cache", Some(POLICY))
}

fn not_found() -> Response {
    super::page(
        StatusCode::NOT_FOUND,
        "No such issue",
        "<p>There is no issue at this address. See <a href=\"/bulletins/\">the past issues</a>.</p>",
    )
}

fn failed(why: &str) -> Response {
    eprintln!("error: answered 500 to a request for the archive: {why}");
    super::page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Please try again",
        "<p>The archive cannot be read just now. Please try again in a minute.</p>",
    )
}
