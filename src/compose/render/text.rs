//! The text/plain part, from the rendered HTML.

/// Converts rendered HTML into the text/plain part: no wrapping, links as footnotes.
pub fn html_to_text(html: &str) -> String {
    let text = html2text::config::plain()
        .no_table_borders()
        .allow_width_overflow()
        .string_from_read(html.as_bytes(), 100_000)
        .unwrap_or_default();
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            if blank > 1 || out.is_empty() {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}
