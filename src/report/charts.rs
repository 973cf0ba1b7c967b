//! The report's charts: plotters drawing on its SVG backend into a string, inlined in the
//! page. Without plotters' font features (`ttf`, `ab_glyph`) text is written as SVG
//! `<text>` that the browser sets in its own sans-serif: no font is read or rasterised, and
//! nothing outside the crate is needed to build it.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};

/// A chart's size in SVG pixels; the page scales it to its column.
const WIDTH: u32 = 720;
const HEIGHT: u32 = 300;

const ACCEPTED: RGBColor = RGBColor(0x1f, 0x6f, 0xb4);
const REFERENCE: RGBColor = RGBColor(0x99, 0x99, 0x99);
const BAR: RGBColor = RGBColor(0x2a, 0x8c, 0x6e);

/// A drawing error, as the report's error.
fn failed(what: &str, e: impl std::fmt::Display) -> Error {
    Error::runtime(format!("failed to draw the chart of {what}: {e}"))
}

/// The unit a span of `secs` seconds reads best in: (divisor, name).
fn time_unit(secs: f64) -> (f64, &'static str) {
    if secs > 3.0 * 3600.0 {
        (3600.0, "hours")
    } else if secs > 600.0 {
        (60.0, "minutes")
    } else {
        (1.0, "seconds")
    }
}

/// Cumulative acceptances (`after`: seconds from the first attempt to each, in order) as a
/// step line, against a straight line at `rate` messages a second (none when 0).
pub fn acceptances(after: &[f64], rate: f64) -> Result<String> {
    let accepted = after.len() as f64;
    let span = after.last().copied().unwrap_or(0.0).max(1.0);
    let (unit, unit_name) = time_unit(span);
    let mut steps = vec![(0.0, 0.0)];
    for (n, t) in after.iter().enumerate() {
        steps.push((t / unit, n as f64));
        steps.push((t / unit, n as f64 + 1.0));
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let err = |e| failed("acceptances", e);
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..span / unit, 0.0..accepted.max(1.0) * 1.05)
            .map_err(err)?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 13))
            .light_line_style(TRANSPARENT)
            .x_desc(format!("{unit_name} since the first attempt"))
            .y_desc("accepted")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(err)?;
        if rate > 0.0 {
            // The line reaches the top of the chart or its right edge, whichever first.
            let end = (accepted.max(1.0) / rate).min(span);
            chart
                .draw_series(LineSeries::new(
                    [(0.0, 0.0), (end / unit, end * rate)],
                    REFERENCE.stroke_width(2),
                ))
                .map_err(err)?
                .label(format!("rate limit, {rate} a second"))
                .legend(|(x, y)| {
                    PathElement::new([(x, y), (x + 16, y)], REFERENCE.stroke_width(2))
                });
        }
        chart
            .draw_series(LineSeries::new(steps, ACCEPTED.stroke_width(2)))
            .map_err(err)?
            .label("accepted")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], ACCEPTED.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(REFERENCE)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// One bar per `(label, value)`, in order; `what` names the chart in errors, `x` and `y` its
/// axes.
pub fn bars(what: &str, (x, y): (&str, &str), data: &[(String, u64)]) -> Result<String> {
    // Bar i is centred on x = i, and labelled there (plotters' segmented ranges draw an empty
    // extra segment, and cannot hold a single one).
    let n = data.len().max(1) as f64;
    let top = data.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let err = |e| failed(what, e);
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5..n - 0.5, 0..top + top.div_ceil(10))
            .map_err(err)?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 13))
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .x_labels(0)
            .x_desc(x)
            .y_desc(y)
            .y_label_formatter(&|v| v.to_string())
            .draw()
            .map_err(err)?;
        chart
            .draw_series(data.iter().zip(0..).map(|((_, v), i)| {
                let x = f64::from(i);
                Rectangle::new([(x - 0.35, 0), (x + 0.35, *v)], BAR.filled())
            }))
            .map_err(err)?;
        let label = ("sans-serif", 13)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Top));
        for ((text, _), i) in data.iter().zip(0..) {
            let (x, y) = chart.backend_coord(&(f64::from(i), 0));
            root.draw(&Text::new(text.as_str(), (x, y + 8), label.clone()))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_svg_with_its_marks_and_no_script() {
        let svg = acceptances(&[0.5, 1.0, 2.5], 2.0).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        assert!(svg.contains("<polyline"), "{svg}");
        assert!(svg.contains("rate limit, 2 a second"));
        assert!(!svg.contains("<script"));
        let bars = bars(
            "codes",
            ("reply", "attempts"),
            &[("250".into(), 3), ("550 5.1.1".into(), 1)],
        )
        .unwrap();
        assert_eq!(bars.matches("<rect").count(), 1 + 2, "{bars}");
        assert!(bars.contains(">\n550 5.1.1\n</text>"), "{bars}");
    }

    #[test]
    fn labels_are_escaped_in_the_svg() {
        let svg = bars("codes", ("reply", "attempts"), &[("<b>&".into(), 1)]).unwrap();
        assert!(svg.contains("&lt;b&gt;&amp;"), "{svg}");
        assert!(!svg.contains("<b>"));
    }

    #[test]
    fn empty_data_still_draws_axes() {
        let svg = acceptances(&[], 0.0).unwrap();
        assert!(!svg.contains("rate limit"));
        assert!(
            bars("none", ("day", "members"), &[])
                .unwrap()
                .starts_with("<svg")
        );
    }

    #[test]
    fn long_spans_read_in_minutes_or_hours() {
        assert_eq!(time_unit(30.0).1, "seconds");
        assert_eq!(time_unit(1200.0).1, "minutes");
        assert_eq!(time_unit(86_400.0).1, "hours");
    }
}
