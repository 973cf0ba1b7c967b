//! `GET /bulletins/images/<name>`: a published image (see [`crate::compose::images`]) from
//! the store, with its content type and cached for a year as immutable (a name is its
//! content's hash: a changed image has another name). Anything else under it: 404.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::store::Store;

/// The route, with its own state (the store's path): merged into `serve`'s router with
/// `.merge(router(..))`.
pub fn router<S: Clone + Send + Sync + 'static>(store: PathBuf) -> Router<S> {
    Router::new()
        .route("/bulletins/images/{name}", get(image))
        .with_state(Arc::new(store))
}

/// The image `name` in the store at `path`, opened read-only for this request like the
/// other read paths: a store replaced since the last request (restored from a backup) is
/// the one read. No store yet: no image.
fn lookup(path: &std::path::Path, name: &str) -> crate::error::Result<Option<(String, Vec<u8>)>> {
    match Store::open_read_only(path)? {
        Some(store) => store.image(name),
        None => Ok(None),
    }
}

/// Whether `name` can be a published name (`banner-0123456789.png`): no path, no dot first.
pub(crate) fn plausible(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

async fn image(State(store): State<Arc<PathBuf>>, Path(name): Path<String>) -> Response {
    if !plausible(&name) {
        return not_found();
    }
    let found = tokio::task::spawn_blocking(move || lookup(&store, &name)).await;
    match found {
        Ok(Ok(Some((content_type, bytes)))) => {
            let content_type = HeaderValue::from_str(&content_type).ok();
            let immutable = "public, max-age=31536000, immutable";
            super::typed(bytes.into_response(), content_type, immutable, None)
        }
        Ok(Ok(None)) => not_found(),
        Ok(Err(e)) => {
            eprintln!("warning: an image could not be read from the store: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response()
        }
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response(),
    }
}

fn not_found() -> Response {
    let mut r = (StatusCode::NOT_FOUND, "no such image\n").into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_file_names_are_looked_up() {
        assert!(plausible("banner-0123456789.png"));
        for bad in ["", ".hidden", "a/b.png", "..", "a b.png", "x%2f.png"] {
            assert!(!plausible(bad), "{bad}");
        }
    }
}
