#![cfg(all(feature = "parse", feature = "render"))]
//! The font an `mj-accordion` passes to its titles and texts is a fallback, as in mjml: a font
//! `mj-attributes` gives them (here `mj-all`) comes first. mrml let the accordion's win.

#[test]
fn mj_all_comes_before_the_accordion_font() {
    let template = r#"<mjml>
  <mj-head><mj-attributes><mj-all font-family="Georgia, serif" /></mj-attributes></mj-head>
  <mj-body><mj-section><mj-column>
    <mj-accordion font-family="Courier New, monospace">
      <mj-accordion-element>
        <mj-accordion-title>Title</mj-accordion-title>
        <mj-accordion-text>Text</mj-accordion-text>
      </mj-accordion-element>
    </mj-accordion>
  </mj-column></mj-section></mj-body>
</mjml>"#;
    let html = mrml::parse(template)
        .expect("should parse")
        .element
        .render(&Default::default())
        .expect("should render");
    // The accordion's table keeps its own font; title and text take mj-all's.
    assert_eq!(
        html.matches("font-family:Courier New, monospace").count(),
        1,
        "{html}"
    );
    assert_eq!(
        html.matches("font-family:Georgia, serif").count(),
        3,
        "{html}"
    );
}
