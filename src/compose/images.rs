//! Local images: `images/banner.png` in the MJML (or `![alt](images/banner.png)` in a Markdown
//! issue) published under a content-hashed name and referenced by its absolute address.
//!
//! Once per campaign, on the MJML before it is rendered ([`Publisher`], used by
//! `compose::campaign`'s compile on the template and each partial it includes; the render
//! takes the partials so rewritten instead of their files), every image reference is found ([`references`]: `src` of
//! `mj-image`, `mj-social-element`, `mj-carousel-image` and `<img>`, `background-url` of any
//! MJML tag; not inside comments). A reference is *local* ([`is_local`]) when it has no scheme,
//! does not start with `//` and holds no template code: its path is read relative to the
//! project folder (the folder holding the config file). Each file is read once:
//!
//! - it must be a PNG, JPEG, GIF or WebP image (by its header, not its name), inside the
//!   project folder: otherwise an error naming the file and the line that uses it;
//! - it is named `<stem>-<first 10 hex digits of its SHA-256>.<ext>`, so a changed image gets
//!   a new address and a reader's cached copy is never stale;
//! - the reference becomes `{base_url}/bulletins/images/<name>` (`[web] base_url`; without one
//!   each local image is an error saying to set it), or with `[web] inline_images`
//!   `cid:<name>@mailshot`, the image going in each message as an inline part
//!   (`compose::message::Inline`);
//! - an `mj-image` with no `width` gets the file's own width in pixels (mjml caps it to the
//!   column, so this only stops a small image being stretched). No height is set: mjml writes
//!   `height="auto"`, and a fixed height would distort the image where a phone scales its
//!   width down;
//! - over [`LARGE_BYTES`], a warning (readers on phone data download it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::compose::lint::{Finding, Severity};
use crate::config::WebConfig;
use crate::error::line_of;

/// Images at or over this many bytes get a warning (1 MB).
pub const LARGE_BYTES: usize = 1024 * 1024;

/// One image reference in the MJML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The tag, lowercased (`mj-image`).
    pub tag: String,
    /// The attribute (`src`, `background-url`).
    pub attr: String,
    /// The value as written (entities not decoded).
    pub value: String,
    /// Byte range of the value in the MJML (inside the quotes).
    pub range: std::ops::Range<usize>,
    /// Byte offset just past the tag's attributes (before `/>` or `>`), where one can be added.
    pub tag_end: usize,
    /// Whether the tag has a `width` attribute.
    pub has_width: bool,
}

/// A local image read, hashed and named for publishing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The published name: `<stem>-<hash>.<ext>`.
    pub name: String,
    /// The path as the campaign's sources name it: relative to the project folder, `/`-separated.
    pub path: String,
    pub content_type: &'static str,
    /// SHA-256 of the bytes, as 64 hex digits.
    pub sha256: String,
    /// Intrinsic size in pixels.
    pub width: usize,
    pub height: usize,
    pub bytes: Arc<Vec<u8>>,
}

/// What a [`Publisher`] found: the images to publish (each once) and what `check` should say.
#[derive(Debug, Clone, Default)]
pub struct Published {
    pub images: Vec<Image>,
    pub findings: Vec<Finding>,
}

/// Whether an image address names a file of the project: no scheme (`https:`, `cid:`,
/// `data:`), not protocol-relative (`//host`), no template code, not empty.
pub fn is_local(url: &str) -> bool {
    let url = url.trim();
    let scheme = url.split_once(':').is_some_and(|(s, _)| is_scheme(s));
    !(url.is_empty()
        || scheme
        || url.starts_with("//")
        || url.starts_with('#')
        || url.contains("{{")
        || url.contains("{%"))
}

fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Tags whose `src` is an image.
const SRC_TAGS: &[&str] = &["mj-image", "mj-social-element", "mj-carousel-image", "img"];

/// The image references in `mjml`, in order: see the module doc for which.
pub fn references(mjml: &str) -> Vec<Reference> {
    let bytes = mjml.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(off) = memchr::memchr(b'<', &bytes[at..]) {
        let i = at + off;
        if mjml[i..].starts_with("<!--") {
            at = mjml[i..].find("-->").map_or(bytes.len(), |e| i + e + 3);
            continue;
        }
        let name_len = mjml[i + 1..]
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-')
            .count();
        let name = mjml[i + 1..i + 1 + name_len].to_ascii_lowercase();
        if name.is_empty() {
            // A closing tag, or a `<` in text (`1 < 2`): not a tag to read past.
            at = i + 1;
            continue;
        }
        let (attrs, end) = attributes(mjml, i + 1 + name_len);
        at = end.max(i + 1);
        let has_width = attrs.iter().any(|(a, _)| a == "width");
        let tag_end = mjml[..end.min(bytes.len())]
            .trim_end_matches('>')
            .trim_end_matches('/')
            .trim_end()
            .len();
        for (attr, range) in attrs {
            let wanted = (attr == "src" && SRC_TAGS.contains(&name.as_str()))
                || (attr == "background-url" && name.starts_with("mj-"));
            if wanted {
                out.push(Reference {
                    tag: name.clone(),
                    value: mjml[range.clone()].to_string(),
                    attr,
                    range,
                    tag_end,
                    has_width,
                });
            }
        }
    }
    out
}

/// The attributes of the tag whose name ends at `from` (each lowercased name and its value's
/// byte range), and the offset just past the tag's `>` (or the end of `s`).
fn attributes(s: &str, from: usize) -> (Vec<(String, std::ops::Range<usize>)>, usize) {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = from;
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        if i >= b.len() {
            return (out, b.len());
        }
        if b[i] == b'>' {
            return (out, i + 1);
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        let name = s[start..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            if start == i {
                i += 1;
            }
            continue;
        }
        i += 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let range = match b.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                let end = memchr::memchr(q, &b[i + 1..]).map_or(b.len(), |e| i + 1 + e);
                let r = i + 1..end;
                i = (end + 1).min(b.len());
                r
            }
            _ => {
                let st = i;
                while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                    i += 1;
                }
                st..i
            }
        };
        out.push((name, range));
    }
}

/// The file path a local reference names: entities and `%XX` decoded, any `?query` or
/// `#fragment` dropped, leading `/` and `./` dropped (the project folder is the root).
pub fn file_path(value: &str) -> String {
    let v = value
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let v = v.split(['?', '#']).next().unwrap_or("").trim();
    let v = percent_decode(v);
    let mut v = v.trim_start_matches('/');
    while let Some(rest) = v.strip_prefix("./") {
        v = rest;
    }
    v.to_string()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The type of an image by its header: its MIME type and the extension its name gets.
fn kind(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    use imagesize::ImageType as T;
    match imagesize::image_type(bytes).ok()? {
        T::Png => Some(("image/png", "png")),
        T::Jpeg => Some(("image/jpeg", "jpg")),
        T::Gif => Some(("image/gif", "gif")),
        T::Webp => Some(("image/webp", "webp")),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// The name an image is published under: the file's stem (letters, digits, `-`, `_`; others
/// become `-`), `-`, the first 10 hex digits of `sha256`, `.ext`.
pub fn published_name(path: &str, sha256: &str, ext: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    let stem: String = stem
        .chars()
        .map(|c| match c {
            c if c.is_ascii_alphanumeric() || c == '_' || c == '-' => c,
            _ => '-',
        })
        .collect();
    let stem = if stem.is_empty() { "image" } else { &stem };
    format!("{stem}-{}.{ext}", &sha256[..10])
}

/// Images over this many bytes are refused unread (10 MB): a mistyped path naming a device
/// or a huge file must not eat the memory of `check` or the preview.
pub const MAX_BYTES: u64 = 10 * 1024 * 1024;

/// Why an image outside the project is refused: one message whatever is there (or not), so
/// a path cannot be used to learn what exists outside the project.
const OUTSIDE: &str = "is outside the project folder: keep published images in it";

/// Reads the local image `rel` under `base` (the project folder). `Err`: why not, for
/// people (after `image `rel``). Nothing is opened before the path is known to be a regular
/// file inside the project of at most [`MAX_BYTES`]: a FIFO would block the read forever and
/// `/dev/zero` would never end.
pub fn load(base: &Path, rel: &str) -> std::result::Result<Image, String> {
    let full = inside(base, &base.join(rel))?;
    let meta = std::fs::metadata(&full).map_err(|e| format!("cannot be read: {e}"))?;
    if !meta.is_file() {
        return Err("is not a file".into());
    }
    if meta.len() > MAX_BYTES {
        return Err(format!(
            "is {}, over the {} limit for an image",
            megabytes(meta.len() as usize),
            megabytes(MAX_BYTES as usize)
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // `take`: the file may have grown since its size was read.
    std::fs::File::open(&full)
        .and_then(|f| {
            std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_BYTES), &mut bytes)
        })
        .map_err(|e| format!("cannot be read: {e}"))?;
    let (content_type, ext) =
        kind(&bytes).ok_or_else(|| "is not a PNG, JPEG, GIF or WebP image".to_string())?;
    let size =
        imagesize::blob_size(&bytes).map_err(|e| format!("is not a readable {ext} image: {e}"))?;
    let sha256: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Image {
        name: published_name(rel, &sha256, ext),
        path: rel.to_string(),
        content_type,
        sha256,
        width: size.width,
        height: size.height,
        bytes: Arc::new(bytes),
    })
}

/// The canonical form of `full` if it is inside the folder `base`; `Err`: [`OUTSIDE`] when
/// it is outside (whether or not anything is there), else why it cannot be found. A path
/// that does not resolve is judged by its nearest ancestor that does.
fn inside(base: &Path, full: &Path) -> std::result::Result<PathBuf, String> {
    let base = base
        .canonicalize()
        .map_err(|e| format!("cannot be read: the project folder: {e}"))?;
    if let Ok(f) = full.canonicalize() {
        return match f.starts_with(&base) {
            true => Ok(f),
            false => Err(OUTSIDE.into()),
        };
    }
    let resolved = full.ancestors().skip(1).find_map(|a| a.canonicalize().ok());
    match resolved {
        Some(a) if a.starts_with(&base) => Err(
            "not found (a local image's path is relative to the folder holding the config file)"
                .into(),
        ),
        _ => Err(OUTSIDE.into()),
    }
}

/// How a size reads: `1.4 MB`.
fn megabytes(n: usize) -> String {
    format!("{:.1} MB", n as f64 / (1024.0 * 1024.0))
}

/// Publishes the local images of a template and its partials (see the module doc): each file's
/// MJML goes through [`Publisher::rewrite`], then [`Publisher::finish`] gives the images (each
/// read once) and the findings.
pub struct Publisher<'a> {
    /// The project folder.
    base: &'a Path,
    web: &'a WebConfig,
    /// Whether `<mj-attributes>` give every `mj-image` a width (then none is added).
    default_width: bool,
    /// Each path read, and its index in `published.images` (`None`: it could not be).
    loaded: HashMap<String, Option<usize>>,
    published: Published,
}

impl<'a> Publisher<'a> {
    /// For the template whose MJML (head included) is `main`; `base`: the project folder.
    pub fn new(base: &'a Path, web: &'a WebConfig, main: &str) -> Publisher<'a> {
        Publisher {
            base,
            web,
            default_width: default_width(main),
            loaded: HashMap::new(),
            published: Published::default(),
        }
    }

    /// `mjml` with each local reference made absolute (and `mj-image` widths set);
    /// `place(line)` names line `line` of it (`template `x` line N`, or the Markdown issue's).
    pub fn rewrite(&mut self, mjml: &str, place: &dyn Fn(usize) -> String) -> String {
        // Edits as (at, remove up to, insert), applied from the end.
        let mut edits: Vec<(usize, usize, String)> = Vec::new();
        for r in references(mjml) {
            if !is_local(&r.value) {
                continue;
            }
            let at = place(line_of(mjml, r.range.start));
            let rel = file_path(&r.value);
            let Some(image) = self.load(&rel, &at) else {
                continue;
            };
            let url = match self.web.inline_images {
                true => Some(format!("cid:{}", content_id(&image.name))),
                false => self.web.image_url(&image.name),
            };
            let Some(url) = url else {
                self.published.findings.push(Finding {
                    severity: Severity::Error,
                    message: format!(
                        "{at}: local image `{rel}` has nowhere to be published: set `[web] base_url` in the config (where `mailshot serve` answers), or give the image's full address"
                    ),
                });
                continue;
            };
            if r.tag == "mj-image" && !r.has_width && !self.default_width {
                let width = format!(" width=\"{}px\"", image.width);
                edits.push((r.tag_end, r.tag_end, width));
            }
            edits.push((r.range.start, r.range.end, url.replace('&', "&amp;")));
        }
        let mut out = mjml.to_string();
        edits.sort_by_key(|e| std::cmp::Reverse(e.0));
        for (from, to, text) in edits {
            out.replace_range(from..to, &text);
        }
        out
    }

    /// The image at `rel`, read the first time it is asked for (`at`: where, for findings);
    /// `None` when it cannot be (said once per use).
    fn load(&mut self, rel: &str, at: &str) -> Option<Image> {
        if let Some(known) = self.loaded.get(rel) {
            return known.map(|i| self.published.images[i].clone());
        }
        let (found, said) = match load(self.base, rel) {
            Ok(image) => {
                let large = (image.bytes.len() >= LARGE_BYTES).then(|| Finding {
                    severity: Severity::Warning,
                    message: format!(
                        "{at}: image `{rel}` is {}, over 1 MB: readers on phone data download all of it; make it smaller",
                        megabytes(image.bytes.len())
                    ),
                });
                self.published.images.push(image);
                (Some(self.published.images.len() - 1), large)
            }
            Err(why) => (
                None,
                Some(Finding {
                    severity: Severity::Error,
                    message: format!("{at}: image `{rel}` {why}"),
                }),
            ),
        };
        self.published.findings.extend(said);
        self.loaded.insert(rel.to_string(), found);
        found.map(|i| self.published.images[i].clone())
    }

    /// The images read and what was found.
    pub fn finish(self) -> Published {
        self.published
    }
}

/// [`Publisher`] over one MJML file with no partials.
#[cfg(test)]
fn publish(
    mjml: &str,
    base: &Path,
    web: &WebConfig,
    place: &dyn Fn(usize) -> String,
) -> (String, Published) {
    let mut p = Publisher::new(base, web, mjml);
    let out = p.rewrite(mjml, place);
    (out, p.finish())
}

/// The Content-ID (without its `<>`) of the image published as `name` when it travels in
/// the message (`[web] inline_images`): the HTML references it as `cid:` and this.
pub fn content_id(name: &str) -> String {
    format!("{name}@mailshot")
}

/// Whether the MJML's `<mj-attributes>` give every `mj-image` a width (then none is added).
fn default_width(mjml: &str) -> bool {
    let Some(start) = mjml.find("<mj-attributes") else {
        return false;
    };
    let head = &mjml[start..];
    let mut rest = &head[..head.find("</mj-attributes>").unwrap_or(head.len())];
    while let Some(i) = rest.find("<mj-image") {
        let (attrs, end) = attributes(rest, i + "<mj-image".len());
        if attrs.iter().any(|(a, _)| a == "width") {
            return true;
        }
        rest = &rest[end.min(rest.len())..];
    }
    false
}

/// The folder local images are read from: the config file's.
pub fn project_folder(config_path: &Path) -> PathBuf {
    match config_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG's signature and header chunk (all the size reader looks at).
    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend(width.to_be_bytes());
        b.extend(height.to_be_bytes());
        b.extend([8, 2, 0, 0, 0, 0, 0, 0, 0]);
        b
    }

    fn web(base: Option<&str>) -> WebConfig {
        WebConfig {
            base_url: base.map(str::to_string),
            ..WebConfig::default()
        }
    }

    fn project(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
        dir
    }

    fn place(n: usize) -> String {
        format!("template `t.mjml` line {n}")
    }

    #[test]
    fn only_paths_without_scheme_host_or_template_code_are_local() {
        for local in [
            "images/a.png",
            "./a.png",
            "/images/a.png",
            "a b.png",
            "x/a:b.png",
        ] {
            assert!(is_local(local), "{local}");
        }
        for remote in [
            "https://example.org/a.png",
            "http://x/a.png",
            "//cdn.example.org/a.png",
            "cid:banner",
            "data:image/png;base64,AAAA",
            "CID:x",
            "{{ logo_url }}",
            "images/{% if a %}a{% endif %}.png",
            "",
            "  ",
            "#top",
        ] {
            assert!(!is_local(remote), "{remote}");
        }
    }

    #[test]
    fn references_are_image_sources_and_background_urls_outside_comments() {
        let mjml = "<mj-section background-url='bg.png'><mj-column>\n\
                    <!-- <mj-image src=\"commented.png\" /> -->\n\
                    <mj-image alt=\"a > b\" src=\"images/a.png\" width=\"100px\" />\n\
                    <mj-text>1 < 2 <img src=\"in-text.gif\"><a src=\"not-an-image\">x</a></mj-text>\n\
                    <mj-social-element src=icon.png></mj-social-element>\n\
                    <mj-button background-url=\"x\" href=\"y\">b</mj-button>\n";
        let refs = references(mjml);
        let seen: Vec<_> = refs
            .iter()
            .map(|r| {
                (
                    r.tag.as_str(),
                    r.attr.as_str(),
                    r.value.as_str(),
                    r.has_width,
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("mj-section", "background-url", "bg.png", false),
                ("mj-image", "src", "images/a.png", true),
                ("img", "src", "in-text.gif", false),
                ("mj-social-element", "src", "icon.png", false),
                ("mj-button", "background-url", "x", false),
            ]
        );
        // The range is the value itself; a tag's end is before its `/>`.
        let image = &refs[1];
        assert_eq!(&mjml[image.range.clone()], "images/a.png");
        assert!(mjml[..image.tag_end].ends_with("width=\"100px\""));
    }

    #[test]
    fn a_path_is_decoded_as_a_url_and_rooted_in_the_project_folder() {
        assert_eq!(file_path("images/my%20banner.png"), "images/my banner.png");
        assert_eq!(file_path("./images/a&amp;b.png?v=2#x"), "images/a&b.png");
        assert_eq!(file_path("/images/a.png"), "images/a.png");
        // A stray `%` stays as it is.
        assert_eq!(file_path("100%.png"), "100%.png");
    }

    #[test]
    fn a_published_name_is_the_stem_and_ten_hex_digits_of_the_hash() {
        let sha = "0123456789abcdef".repeat(4);
        assert_eq!(
            published_name("images/banner.png", &sha, "png"),
            "banner-0123456789.png"
        );
        assert_eq!(
            published_name("images/Été photo.JPEG", &sha, "jpg"),
            "-t--photo-0123456789.jpg"
        );
        assert_eq!(
            published_name("images/.png", &sha, "png"),
            "image-0123456789.png"
        );
    }

    #[test]
    fn the_size_and_type_come_from_the_file_and_the_name_from_its_hash() {
        let dir = project(&[("images/b.png", &png(320, 80)), ("notes.txt", b"hello")]);
        let image = load(dir.path(), "images/b.png").unwrap();
        assert_eq!((image.width, image.height), (320, 80));
        assert_eq!(image.content_type, "image/png");
        let sha: String = Sha256::digest(png(320, 80))
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(image.sha256, sha);
        assert_eq!(image.name, format!("b-{}.png", &sha[..10]));
        assert_eq!(
            load(dir.path(), "notes.txt").unwrap_err(),
            "is not a PNG, JPEG, GIF or WebP image"
        );
        assert!(
            load(dir.path(), "images/none.png")
                .unwrap_err()
                .starts_with("not found")
        );
    }

    #[test]
    fn local_images_become_absolute_with_their_width_and_others_stay() {
        let dir = project(&[("images/b.png", &png(320, 80))]);
        let mjml = "<mj-image src=\"images/b.png\" alt=\"B\" />\n\
                    <mj-image src=\"./images/b.png\" width=\"200px\" alt=\"B\"/>\n\
                    <mj-section background-url=\"images/b.png\"></mj-section>\n\
                    <mj-image src=\"https://example.org/x.png\" alt=\"X\" />\n";
        let (out, published) = publish(mjml, dir.path(), &web(Some("https://example.org")), &place);
        let name = &published.images[0].name;
        let url = format!("https://example.org/bulletins/images/{name}");
        assert_eq!(
            out,
            format!(
                "<mj-image src=\"{url}\" alt=\"B\" width=\"320px\" />\n\
                 <mj-image src=\"{url}\" width=\"200px\" alt=\"B\"/>\n\
                 <mj-section background-url=\"{url}\"></mj-section>\n\
                 <mj-image src=\"https://example.org/x.png\" alt=\"X\" />\n"
            )
        );
        // Read once, however often it is used.
        assert_eq!(published.images.len(), 1);
        assert!(published.findings.is_empty());
    }

    #[test]
    fn a_width_given_to_every_image_in_mj_attributes_is_kept() {
        let dir = project(&[("b.png", &png(40, 40))]);
        let mjml = "<mj-attributes><mj-image width=\"300px\" /></mj-attributes>\n\
                    <mj-image src=\"b.png\" alt=\"B\" />";
        let (out, _) = publish(mjml, dir.path(), &web(Some("https://x.org")), &place);
        assert!(!out.contains("40px"), "{out}");
    }

    #[test]
    fn missing_files_non_images_large_images_and_no_base_url_are_named_with_their_line() {
        let mut big = png(10, 10);
        big.resize(LARGE_BYTES + 1, 0);
        let dir = project(&[
            ("big.png", &big),
            ("t.txt", b"text"),
            ("ok.png", &png(1, 1)),
        ]);
        let mjml = "<mj-image src=\"gone.png\" alt=\"a\" />\n\
                    <mj-image src=\"t.txt\" alt=\"a\" />\n\
                    <mj-image src=\"big.png\" alt=\"a\" />\n";
        let (out, published) = publish(mjml, dir.path(), &web(Some("https://x.org")), &place);
        let said: Vec<_> = published.findings.iter().map(|f| f.to_string()).collect();
        assert_eq!(
            said,
            [
                "error: template `t.mjml` line 1: image `gone.png` not found (a local image's path is relative to the folder holding the config file)",
                "error: template `t.mjml` line 2: image `t.txt` is not a PNG, JPEG, GIF or WebP image",
                "warning: template `t.mjml` line 3: image `big.png` is 1.0 MB, over 1 MB: readers on phone data download all of it; make it smaller",
            ]
        );
        // What could not be read is left as written.
        assert!(out.contains("src=\"gone.png\""));
        let (out, published) = publish(
            "\n<mj-image src=\"ok.png\" alt=\"a\" />",
            dir.path(),
            &web(None),
            &place,
        );
        assert_eq!(
            published.findings[0].to_string(),
            "error: template `t.mjml` line 2: local image `ok.png` has nowhere to be published: set `[web] base_url` in the config (where `mailshot serve` answers), or give the image's full address"
        );
        assert!(out.contains("src=\"ok.png\""));
    }

    #[test]
    fn an_image_outside_the_project_folder_is_refused() {
        let outer = project(&[("secret.png", &png(1, 1))]);
        std::fs::create_dir(outer.path().join("p")).unwrap();
        // Whether there is a file, nothing, or a folder outside: the same words.
        for rel in ["../secret.png", "../none.png", "../", "../gone/none.png"] {
            assert_eq!(
                load(&outer.path().join("p"), rel).unwrap_err(),
                "is outside the project folder: keep published images in it",
                "{rel}"
            );
        }
    }

    /// Regression: `![x](../../dev/zero)` ate memory and a FIFO hung `check` forever, as
    /// the file was read before its place was checked.
    #[cfg(unix)]
    #[test]
    fn a_device_or_fifo_is_refused_unread() {
        let dir = project(&[]);
        let up = "../".repeat(dir.path().components().count());
        let (tx, rx) = std::sync::mpsc::channel();
        let base = dir.path().to_path_buf();
        let fifo = base.join("pipe.png");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        std::thread::spawn(move || {
            // The FIFO first: before the fix it blocked here, never reaching `/dev/zero`.
            let said = [
                load(&base, "pipe.png"),
                load(&base, "."),
                load(&base, &format!("{up}dev/zero")),
            ];
            tx.send(said.map(|r| r.unwrap_err())).unwrap();
        });
        let said = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("load returned");
        assert_eq!(
            said,
            [
                "is not a file",
                "is not a file",
                "is outside the project folder: keep published images in it",
            ]
        );
    }

    #[test]
    fn an_image_over_the_cap_is_refused_unread() {
        let mut huge = png(10, 10);
        huge.resize(MAX_BYTES as usize + 1, 0);
        let dir = project(&[("huge.png", &huge)]);
        assert_eq!(
            load(dir.path(), "huge.png").unwrap_err(),
            "is 10.0 MB, over the 10.0 MB limit for an image"
        );
    }
}
