//! Server-rendered SVG charts for report pages: no script, no external reference, integer
//! coordinates only, so the same data always gives the same bytes. Every text is escaped.

use std::fmt::Write;

/// Escape text for HTML and SVG (element content and double-quoted attributes).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// One bar of a [`bars`] chart.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: u64,
    /// A CSS colour.
    pub colour: &'static str,
}

/// Horizontal bars, one per line, labelled with their value.
pub fn bars(title: &str, bars: &[Bar]) -> String {
    let width = 520;
    let label_w = 110;
    let row_h = 26;
    let height = bars.len() as i64 * row_h + 8;
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}"><title>{}</title>"#,
        escape(title)
    );
    for (i, b) in bars.iter().enumerate() {
        let y = i as i64 * row_h + 4;
        let w = (b.value * (width - label_w - 60) as u64 / max) as i64;
        let _ = write!(
            s,
            r#"<text x="0" y="{}" class="lbl">{}</text><rect x="{label_w}" y="{y}" width="{w}" height="{}" fill="{}"/><text x="{}" y="{}" class="val">{}</text>"#,
            y + 15,
            escape(&b.label),
            row_h - 8,
            b.colour,
            label_w + w + 6,
            y + 15,
            b.value
        );
    }
    s.push_str("</svg>");
    s
}

/// One row of a [`heatmap`].
#[derive(Debug, Clone)]
pub struct HeatRow {
    pub label: String,
    /// A fragment link (`#row-A.2.2`) for the label.
    pub href: String,
    pub values: Vec<u64>,
}

/// The fill of a heat-map cell: white for none, four shades of blue by quartile of the maximum.
fn shade(v: u64, max: u64) -> &'static str {
    if v == 0 {
        return "#f4f6f8";
    }
    match v * 4 / max.max(1) {
        0 => "#c6dbef",
        1 => "#9ecae1",
        2 => "#4292c6",
        _ => "#08519c",
    }
}

/// A rows × columns grid of counts (controls × months).
pub fn heatmap(title: &str, columns: &[String], rows: &[HeatRow]) -> String {
    let label_w = 70;
    let cell_w = 44;
    let cell_h = 14;
    let top = 18;
    let width = label_w + cell_w * columns.len() as i64 + 4;
    let height = top + cell_h * rows.len() as i64 + 4;
    let max = rows
        .iter()
        .flat_map(|r| r.values.iter().copied())
        .max()
        .unwrap_or(0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart heat" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}"><title>{}</title>"#,
        escape(title)
    );
    for (c, col) in columns.iter().enumerate() {
        let _ = write!(
            s,
            r#"<text x="{}" y="12" class="axis">{}</text>"#,
            label_w + c as i64 * cell_w + 2,
            escape(col)
        );
    }
    for (r, row) in rows.iter().enumerate() {
        let y = top + r as i64 * cell_h;
        let _ = write!(
            s,
            r##"<a href="{}"><text x="0" y="{}" class="axis">{}</text></a>"##,
            escape(&row.href),
            y + 11,
            escape(&row.label)
        );
        for (c, v) in row.values.iter().enumerate() {
            let _ = write!(
                s,
                r#"<rect x="{}" y="{y}" width="{}" height="{}" fill="{}"><title>{} {}: {v}</title></rect>"#,
                label_w + c as i64 * cell_w,
                cell_w - 2,
                cell_h - 2,
                shade(*v, max),
                escape(&row.label),
                escape(columns.get(c).map(String::as_str).unwrap_or("")),
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// A mark on a [`timeline`].
#[derive(Debug, Clone)]
pub struct Mark {
    /// UTC seconds.
    pub at: i64,
    pub label: String,
    /// `run` (a dot on the runs lane) or `gap` (a cross on the gaps lane).
    pub lane: &'static str,
}

/// Runs and gaps along a time axis from `from` to `to` (UTC seconds), ticks at `ticks`.
pub fn timeline(
    title: &str,
    from: i64,
    to: i64,
    ticks: &[(i64, String)],
    marks: &[Mark],
) -> String {
    let width = 760i64;
    let left = 50i64;
    let right = 10i64;
    let height = 92i64;
    let span = (to - from).max(1);
    let x = |t: i64| left + (t.clamp(from, to) - from) * (width - left - right) / span;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}"><title>{}</title>"#,
        escape(title)
    );
    let _ = write!(
        s,
        r##"<text x="0" y="28" class="lbl">runs</text><text x="0" y="58" class="lbl">gaps</text><line x1="{left}" y1="72" x2="{}" y2="72" stroke="#888"/>"##,
        width - right
    );
    for (t, label) in ticks {
        let _ = write!(
            s,
            r##"<line x1="{0}" y1="70" x2="{0}" y2="76" stroke="#888"/><text x="{0}" y="88" class="axis" text-anchor="middle">{1}</text>"##,
            x(*t),
            escape(label)
        );
    }
    for m in marks {
        let cx = x(m.at);
        match m.lane {
            "gap" => {
                let _ = write!(
                    s,
                    r##"<g class="gapmark"><title>{}</title><line x1="{}" y1="48" x2="{}" y2="60" stroke="#c62828" stroke-width="2"/><line x1="{}" y1="60" x2="{}" y2="48" stroke="#c62828" stroke-width="2"/></g>"##,
                    escape(&m.label),
                    cx - 6,
                    cx + 6,
                    cx - 6,
                    cx + 6
                );
            }
            _ => {
                let _ = write!(
                    s,
                    r##"<circle cx="{cx}" cy="24" r="5" fill="#1565c0"><title>{}</title></circle>"##,
                    escape(&m.label)
                );
            }
        }
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_text_and_reference_nothing_outside() {
        let b = bars(
            "Status <counts>",
            &[Bar {
                label: "a&b".into(),
                value: 3,
                colour: "#2e7d32",
            }],
        );
        assert!(b.contains("Status &lt;counts&gt;") && b.contains("a&amp;b"));
        let h = heatmap(
            "h",
            &["2026-01".into(), "2026-02".into()],
            &[HeatRow {
                label: "A.2.2".into(),
                href: "#row-A.2.2".into(),
                values: vec![0, 5],
            }],
        );
        assert!(h.contains("#f4f6f8") && h.contains("#08519c"));
        let t = timeline(
            "t",
            0,
            100,
            &[(50, "mid".into())],
            &[
                Mark {
                    at: 10,
                    label: "run 1".into(),
                    lane: "run",
                },
                Mark {
                    at: 90,
                    label: "gap \"x\"".into(),
                    lane: "gap",
                },
            ],
        );
        assert!(t.contains("gap &quot;x&quot;"));
        for svg in [b, h, t] {
            assert!(!svg.contains("http") && !svg.contains("src="), "{svg}");
            assert_eq!(svg.matches("<svg").count(), 1);
        }
    }
}
