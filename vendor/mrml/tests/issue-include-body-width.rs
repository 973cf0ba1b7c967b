#![cfg(all(feature = "parse", feature = "render"))]
//! A body partial pulled in by `mj-include` renders as if written in place, as mjml renders
//! it: its sections get the body's width (they rendered full width, without `max-width`), and
//! a partial written as a whole document, `<mjml><mj-body>...</mj-body></mjml>` (the form mjml
//! documents), is accepted (it was refused as an unexpected element).
use mrml::prelude::parser::memory_loader::MemoryIncludeLoader;
use mrml::prelude::parser::ParserOptions;

const PARTIAL: &str = r##"<mj-section background-color="#1d3557">
  <mj-column><mj-text>Masthead</mj-text></mj-column>
</mj-section>
<mj-wrapper padding="10px">
  <mj-section><mj-column><mj-text>Wrapped</mj-text></mj-column></mj-section>
</mj-wrapper>"##;

fn document(body: &str) -> String {
    format!(r#"<mjml><mj-body width="600px">{body}</mj-body></mjml>"#)
}

fn render(template: &str, partial: &str) -> String {
    let opts = ParserOptions {
        include_loader: Box::new(MemoryIncludeLoader::from(vec![("part.mjml", partial)])),
    };
    mrml::parse_with_options(template, &opts)
        .expect("should parse")
        .element
        .render(&Default::default())
        .expect("should render")
}

#[test]
fn included_sections_get_the_body_width() {
    let included = render(&document(r#"<mj-include path="part.mjml" />"#), PARTIAL);
    let in_place = render(&document(PARTIAL), "");
    assert!(included.contains("max-width:600px"), "{included}");
    assert!(included.contains(r#"width="600""#), "{included}");
    assert_eq!(included, in_place);
}

/// `html` without the whitespace between tags (the partial's indentation comes through as
/// text, as it does from any partial).
fn tags_only(html: &str) -> String {
    let mut out = String::new();
    for piece in html.split('<') {
        if !out.is_empty() || !piece.is_empty() {
            out.push('<');
        }
        match piece.find('>') {
            Some(end) if piece[end + 1..].trim().is_empty() => out.push_str(&piece[..=end]),
            _ => out.push_str(piece),
        }
    }
    out
}

#[test]
fn a_partial_written_as_a_whole_document_is_rendered_in_place() {
    let whole = format!("<mjml>\n  <mj-body>\n{PARTIAL}\n  </mj-body>\n</mjml>\n");
    let included = render(&document(r#"<mj-include path="part.mjml" />"#), &whole);
    let in_place = render(&document(PARTIAL), "");
    assert!(included.contains(r#"width="600""#), "{included}");
    assert_eq!(tags_only(&included), tags_only(&in_place));
}

#[test]
fn a_whole_document_partial_with_a_head_is_still_refused() {
    // mjml merges such a head into the document's; mrml does not (yet), and says so.
    let whole = format!(
        "<mjml><mj-head><mj-title>x</mj-title></mj-head><mj-body>{PARTIAL}</mj-body></mjml>"
    );
    let opts = ParserOptions {
        include_loader: Box::new(MemoryIncludeLoader::from(vec![(
            "part.mjml",
            whole.as_str(),
        )])),
    };
    let template = document(r#"<mj-include path="part.mjml" />"#);
    assert!(mrml::parse_with_options(&template, &opts).is_err());
}
