//! Charts as SVG drawn here, on the server: a time series of one or more
//! lines (every point with a `<title>`, so hovering shows its value without
//! any script), and bars for shares. Each chart sits beside a table of the
//! same numbers (the accessible form, and what tests read); `app.js` adds
//! zooming by dragging.

use std::fmt::Write;

use super::html::{esc, format_number};

const W: f64 = 720.0;
const H: f64 = 220.0;
const PAD_L: f64 = 48.0;
const PAD_B: f64 = 28.0;
const PAD_T: f64 = 10.0;

/// A line chart of `series` (name, values) over `labels`.
pub fn lines(title: &str, labels: &[String], series: &[(&str, Vec<f64>)]) -> String {
    let max = series.iter().flat_map(|(_, v)| v.iter().copied()).fold(0.0f64, f64::max).max(1.0);
    let n = labels.len().max(1);
    let x = |i: usize| PAD_L + (W - PAD_L - 8.0) * if n == 1 { 0.5 } else { i as f64 / (n - 1) as f64 };
    let y = |v: f64| PAD_T + (H - PAD_T - PAD_B) * (1.0 - v / max);
    let mut svg = format!(
        "<figure class=\"chart\"><svg viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\" data-zoom>",
        esc(title)
    );
    // Grid: four lines with their values.
    for k in 0..=4 {
        let v = max * k as f64 / 4.0;
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{PAD_L}\" x2=\"{W}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/><text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            PAD_L - 4.0,
            y(v) + 4.0,
            esc(&format_number((v * 100.0).round() / 100.0)),
            y = y(v)
        );
    }
    // A few labels along the bottom.
    let step = (n / 6).max(1);
    for (i, label) in labels.iter().enumerate().step_by(step) {
        let _ = write!(
            svg,
            "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x(i),
            H - 8.0,
            esc(short(label))
        );
    }
    for (s, (name, values)) in series.iter().enumerate() {
        let points: Vec<String> = values.iter().enumerate().map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v))).collect();
        let _ = write!(svg, "<polyline class=\"line s{s}\" points=\"{}\"/>", points.join(" "));
        for (i, v) in values.iter().enumerate() {
            let label = labels.get(i).map(String::as_str).unwrap_or("");
            let _ = write!(
                svg,
                "<circle class=\"point s{s}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" data-i=\"{i}\"><title>{}: {} {}</title></circle>",
                x(i),
                y(*v),
                esc(label),
                esc(&format_number(*v)),
                esc(name)
            );
        }
    }
    svg.push_str("</svg><figcaption>");
    for (s, (name, _)) in series.iter().enumerate() {
        let _ = write!(svg, "<span class=\"key s{s}\">{}</span>", esc(name));
    }
    svg.push_str("</figcaption></figure>");
    svg
}

/// Horizontal bars of (label, value), longest first as given.
pub fn bars(title: &str, items: &[(String, f64)]) -> String {
    let max = items.iter().map(|(_, v)| *v).fold(0.0f64, f64::max).max(1.0);
    let row = 22.0;
    let h = row * items.len().max(1) as f64 + 4.0;
    let mut svg = format!(
        "<figure class=\"chart\"><svg viewBox=\"0 0 {W} {h}\" role=\"img\" aria-label=\"{}\">",
        esc(title)
    );
    for (i, (label, v)) in items.iter().enumerate() {
        let top = i as f64 * row + 2.0;
        let width = (W - 220.0) * v / max;
        let _ = write!(
            svg,
            "<text class=\"axis\" x=\"150\" y=\"{:.1}\" text-anchor=\"end\">{}</text><rect class=\"bar\" x=\"156\" y=\"{top:.1}\" width=\"{width:.1}\" height=\"{:.1}\"><title>{}: {}</title></rect><text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            top + 15.0,
            esc(short(label)),
            row - 6.0,
            esc(label),
            esc(&format_number(*v)),
            160.0 + width,
            top + 15.0,
            esc(&format_number(*v))
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

/// A time bucket's label without its zone, and a long text cut.
fn short(label: &str) -> &str {
    // 2026-03-02T10:00:00+01:00 → 2026-03-02 (days) or 03-02T10:00 (hours).
    // (`get`, not indexing: a POP or cache status from a log may be any text.)
    if let (Some(b'T'), Some(clock), Some(day), Some(hour)) = (label.as_bytes().get(10), label.get(11..16), label.get(..10), label.get(5..16)) {
        return if clock == "00:00" { day } else { hour };
    }
    match label.char_indices().nth(24) {
        Some((i, _)) => &label[..i],
        None => label,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_point_says_its_value_when_hovered() {
        let labels = vec!["2026-03-01T00:00:00Z".to_string(), "2026-03-02T00:00:00Z".to_string()];
        let svg = lines("Starts", &labels, &[("starts", vec![3.0, 5.0])]);
        assert!(svg.contains("<title>2026-03-02T00:00:00Z: 5 starts</title>"), "{svg}");
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(bars("Countries", &[("<DE>".into(), 2.0)]).contains("&lt;DE&gt;: 2"));
        // Any text from a log: no cut inside a character.
        assert!(bars("POPs", &[("pop-lisbonTabcdé-x".into(), 1.0)]).contains("pop-lisbonTabcdé-x: 1"));
    }
}
