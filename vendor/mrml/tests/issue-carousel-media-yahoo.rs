#![cfg(all(feature = "parse", feature = "render"))]
//! The carousel's rule that hides its arrows is under mjml's `@media screen yahoo`, a query
//! browsers drop, so the arrows show. mrml wrote `@media screen, yahoo`, which matches every
//! screen: no arrows anywhere.

#[test]
fn the_arrows_are_hidden_for_yahoo_only() {
    let template = r#"<mjml><mj-body><mj-section><mj-column><mj-carousel>
      <mj-carousel-image src="https://example.org/1.png" />
      <mj-carousel-image src="https://example.org/2.png" />
    </mj-carousel></mj-column></mj-section></mj-body></mjml>"#;
    let html = mrml::parse(template)
        .expect("should parse")
        .element
        .render(&Default::default())
        .expect("should render");
    assert!(html.contains("@media screen yahoo {"), "{html}");
    assert!(!html.contains("screen, yahoo"), "{html}");
}
