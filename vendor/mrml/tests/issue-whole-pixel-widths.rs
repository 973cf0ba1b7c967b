#![cfg(all(feature = "parse", feature = "render"))]
//! Widths in pixels are whole, as mjml writes them: a 33.33% column of a 600 px body is
//! 200px wide in the Outlook table (mjml rounds it), and an image in it is 149 px (mjml reads
//! the column's 199.98px with `parseInt`). mrml wrote 199.98003px and 149.98003.

#[test]
fn thirds_of_600_px() {
    let column =
        r#"<mj-column width="33.33%"><mj-image src="https://example.org/a.png" /></mj-column>"#;
    let template = format!(
        r#"<mjml><mj-body width="600px"><mj-section>{column}{column}{column}</mj-section></mj-body></mjml>"#
    );
    let html = mrml::parse(template)
        .expect("should parse")
        .element
        .render(&Default::default())
        .expect("should render");
    assert!(html.contains("width:200px;"), "{html}");
    assert!(html.contains(r#"width="149""#), "{html}");
    assert!(!html.contains("199.98"), "{html}");
    assert!(!html.contains("149.98"), "{html}");
}
