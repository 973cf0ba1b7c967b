#![cfg(all(feature = "parse", feature = "render"))]
//! The preview text is hidden without a colour: white text on a non-white body (what mjml
//! writes) scores HTML_FONT_LOW_CONTRAST in SpamAssassin, as does any colour equal to the
//! background. `mso-hide:all` keeps it hidden in Outlook.

#[test]
fn the_preview_is_hidden_without_a_colour() {
    let template = r##"<mjml><mj-head><mj-preview>Hello</mj-preview></mj-head>
      <mj-body background-color="#eef2f4"><mj-section><mj-column><mj-text>Body</mj-text>
      </mj-column></mj-section></mj-body></mjml>"##;
    let html = mrml::parse(template)
        .expect("should parse")
        .element
        .render(&Default::default())
        .expect("should render");
    let start = html.find(">Hello<").expect("the preview");
    let div = &html[html[..start].rfind("<div").expect("its div")..start];
    assert!(div.contains("display:none;"), "{div}");
    assert!(div.contains("opacity:0;"), "{div}");
    assert!(div.contains("mso-hide:all;"), "{div}");
    assert!(!div.contains("color"), "{div}");
}
