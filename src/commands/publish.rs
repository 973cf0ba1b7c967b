//! `mailshot publish --out DIR`: the public side (see [`crate::web`]) as static files, the
//! same bytes `mailshot serve` answers. Each file is written beside its place and renamed
//! into it, so a web server never serves half a file; an error names the file.

use std::io::Write;
use std::path::Path;

use crate::cli::PublishArgs;
use crate::compose::campaign::check_campaign_id;
use crate::config::Config;
use crate::error::{EXIT_OK, Error, Result, show};
use crate::store::Store;
use crate::web::Site;

pub fn exec(config: &Config, args: PublishArgs) -> Result<i32> {
    let Some(base) = &config.web.base_url else {
        return Err(Error::input(format!(
            "`mailshot publish` needs `[web] base_url` in `{}`: the address the published files will be served from (e.g. `base_url = \"https://example.org\"`)",
            show(&config.path)
        )));
    };
    let store = Store::open_existing(&config.store)?;
    let site = Site::load(config, base, store.as_ref())?;
    let pages = site.pages(store.as_ref())?;
    for page in &pages {
        write(&args.out, &page.path, &page.body)?;
    }
    // The local images the sent issues publish (see `compose::images`), by content-hashed
    // name: the same bytes `serve` answers at /bulletins/images/<name>. Not those only a
    // `--test-to` copy stored: an unsent issue's images stay off the public host.
    let images = match &store {
        Some(s) => s.published_images()?,
        None => Vec::new(),
    };
    for image in &images {
        write(
            &args.out,
            &format!("bulletins/images/{}", image.name),
            &image.bytes,
        )?;
    }
    let issues = pages.len() - 2;
    say!(
        "published {issues} issue{} and {} image{} to `{}` (with `bulletins/index.html` and `bulletins/feed.atom`), for {base}/bulletins/",
        if issues == 1 { "" } else { "s" },
        images.len(),
        if images.len() == 1 { "" } else { "s" },
        show(&args.out.join("bulletins"))
    );
    Ok(EXIT_OK)
}

/// Writes `body` to `rel` under `out`: to a temporary file in its folder, synced, then
/// renamed over the old one.
fn write(out: &Path, rel: &str, body: &[u8]) -> Result<()> {
    // A campaign ID becomes a folder: only IDs `send` would accept (no `/`, no leading `.`);
    // an image's name is one plain file name, as the store took it.
    if let Some(id) = rel
        .strip_prefix("bulletins/")
        .and_then(|p| p.strip_suffix("/index.html"))
    {
        check_campaign_id(id)?;
    } else if let Some(name) = rel.strip_prefix("bulletins/images/")
        && !crate::serve::images::plausible(name)
    {
        return Err(Error::input(format!(
            "the store holds an image named `{name}`, which is no file name"
        )));
    }
    let path = out.join(rel);
    let dir = path.parent().unwrap_or(out);
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create the folder", dir, e))?;
    let failed = |e: std::io::Error| Error::io("write", &path, e);
    let mut tmp = tempfile::Builder::new()
        .prefix(".publish-")
        .tempfile_in(dir)
        .map_err(failed)?;
    tmp.write_all(body).map_err(failed)?;
    tmp.as_file().sync_all().map_err(failed)?;
    // Readable by the web server, as a file written plainly would be.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(failed)?;
    }
    tmp.persist(&path).map_err(|e| failed(e.error))?;
    Ok(())
}
