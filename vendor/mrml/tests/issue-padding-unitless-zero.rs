#![cfg(all(feature = "parse", feature = "render"))]
//! A unitless `0` in a padding shorthand (`padding="0 24px"`, valid CSS) counts in width
//! calculations as mjml counts it. mrml could not parse the shorthand and left the padding out:
//! an image in a 600 px column got `width="600"` where mjml writes 552.

fn render(body: &str) -> String {
    let template = format!(r#"<mjml><mj-body width="600px">{body}</mj-body></mjml>"#);
    mrml::parse(template)
        .expect("should parse")
        .element
        .render(&Default::default())
        .expect("should render")
}

#[test]
fn image_padding_with_a_unitless_zero() {
    let html = render(
        r#"<mj-section><mj-column><mj-image padding="0 24px" src="https://example.org/a.png" /></mj-column></mj-section>"#,
    );
    assert!(html.contains(r#"width="552""#), "{html}");
}

#[test]
fn section_padding_with_a_unitless_zero() {
    let zero = render(
        r#"<mj-section padding="0 12px"><mj-column><mj-image src="https://example.org/a.png" /></mj-column></mj-section>"#,
    );
    let zero_px = render(
        r#"<mj-section padding="0px 12px"><mj-column><mj-image src="https://example.org/a.png" /></mj-column></mj-section>"#,
    );
    assert!(zero_px.contains(r#"width="526""#), "{zero_px}");
    assert_eq!(
        zero.replace(r#"padding:0 12px"#, "padding:0px 12px"),
        zero_px
    );
}
