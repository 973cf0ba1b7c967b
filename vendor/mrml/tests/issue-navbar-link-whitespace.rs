#![cfg(all(feature = "parse", feature = "render"))]
//! Navbar links are separated by whitespace, as mjml writes them: their text read as one word
//! ("EventsProgramme") by anything extracting the text (a text part, a spam filter).

#[test]
fn links_are_separated_by_whitespace() {
    let template = r#"<mjml><mj-body><mj-section><mj-column><mj-navbar>
      <mj-navbar-link href="https://example.org/events">Events</mj-navbar-link>
      <mj-navbar-link href="https://example.org/programme">Programme</mj-navbar-link>
    </mj-navbar></mj-column></mj-section></mj-body></mjml>"#;
    let html = mrml::parse(template)
        .expect("should parse")
        .element
        .render(&Default::default())
        .expect("should render");
    let first = html.find("Events").expect("first link");
    let second = html.find("Programme").expect("second link");
    // Between the first link's end and the second's start, outside tags, some whitespace.
    let between = &html[first..second];
    let end = between.find("</a>").expect("first link's end") + "</a>".len();
    let start = between.rfind("<a").expect("second link's start");
    let mut outside = String::new();
    let mut in_tag = false;
    for c in between[end..start].chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => outside.push(c),
            _ => {}
        }
    }
    assert!(
        outside.chars().any(char::is_whitespace),
        "{:?}",
        &between[end..start]
    );
}
