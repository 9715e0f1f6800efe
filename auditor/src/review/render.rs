//! The management-review pack as a self-contained HTML page (the readiness page's layout,
//! charts as inline SVG, prints to PDF) and as an XLSX workbook with one sheet per input. Both
//! are functions of the pack alone: the same pack gives the same bytes.

use std::path::Path;

use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, XlsxError};
use serde::Serialize;

use super::{CitedItem, Pack};
use crate::engagement::export::write_document;
use crate::engagement::{EngagementError, Result};
use crate::page::svg::{Bar, HeatRow, bars, heatmap};
use crate::page::{Markup, PageCheckpoint, PageFrame, render};

#[derive(Serialize)]
struct Charts {
    actions: Markup,
    monitoring: Markup,
}

#[derive(Serialize)]
struct PageData<'a> {
    pack: &'a Pack,
    charts: Charts,
    /// The finding categories, in the order of the audit-results columns.
    categories: Vec<&'static str>,
}

fn frame(p: &Pack) -> PageFrame {
    PageFrame {
        title: format!(
            "Management review {}: inputs (ISO/IEC 42001 9.3.2)",
            p.review
        ),
        subtitle: format!(
            "as of {}{}",
            p.as_of,
            p.since
                .map(|s| format!(" · period since {s} (the day after the previous review)"))
                .unwrap_or_default()
        ),
        checkpoints: p.checkpoints.iter().map(PageCheckpoint::from).collect(),
        generator: crate::page::generator(),
    }
}

/// The page's HTML.
pub fn html(p: &Pack) -> Result<String> {
    let n = &p.d1_nonconformities;
    let actions = bars(
        "Corrective actions by status",
        &[
            Bar {
                label: "open".into(),
                value: n.open,
                colour: "#b7791f",
            },
            Bar {
                label: "overdue".into(),
                value: n.overdue,
                colour: "#c62828",
            },
            Bar {
                label: "closed".into(),
                value: n.closed,
                colour: "#2e7d32",
            },
        ],
    );
    let m = &p.d2_monitoring;
    let mut rows: Vec<HeatRow> = m
        .series
        .iter()
        .map(|(name, values)| HeatRow {
            label: short(name),
            href: "#d2".into(),
            values: values.clone(),
        })
        .collect();
    rows.push(HeatRow {
        label: "Gaps".into(),
        href: "#d2".into(),
        values: m.gaps.clone(),
    });
    let columns: Vec<String> = m.months.iter().map(|x| x[2..].to_owned()).collect();
    let monitoring = heatmap("Monitoring and measurement per month", &columns, &rows);
    let data = PageData {
        pack: p,
        charts: Charts {
            actions: Markup(actions),
            monitoring: Markup(monitoring),
        },
        categories: crate::engagement::evaluate::Finding::ALL
            .iter()
            .map(|(label, _)| *label)
            .collect(),
    };
    render("review.html", &frame(p), &data).map_err(|e| EngagementError::Invalid(e.to_string()))
}

/// A chart label of at most ten characters.
fn short(name: &str) -> String {
    name.split_whitespace()
        .next()
        .unwrap_or(name)
        .chars()
        .take(10)
        .collect()
}

fn cited_rows(items: &[CitedItem]) -> Vec<Vec<String>> {
    items
        .iter()
        .map(|c| {
            vec![
                c.date.clone(),
                c.kind.clone(),
                c.title.clone(),
                c.item_id.clone(),
                c.origin.clone(),
                c.sha256.clone(),
            ]
        })
        .collect()
}

/// One sheet of the workbook: its name, header and rows.
type Sheet = (&'static str, Vec<String>, Vec<Vec<String>>);

fn head(cols: &[&str]) -> Vec<String> {
    cols.iter().map(|c| (*c).to_owned()).collect()
}

/// `rows`, or one row saying "none recorded" when there is none.
fn or_none(rows: Vec<Vec<String>>, width: usize) -> Vec<Vec<String>> {
    if rows.is_empty() {
        let mut r = vec![String::new(); width];
        r[0] = "none recorded".into();
        vec![r]
    } else {
        rows
    }
}

fn decisions_sheet(p: &Pack) -> Sheet {
    let rows = p
        .a_previous_decisions
        .iter()
        .map(|d| {
            let x = &d.decision;
            vec![
                x.id.clone(),
                x.review.clone(),
                x.decision.clone(),
                x.owner.clone(),
                x.due.to_string(),
                d.status.clone(),
                x.closed_on.map(|c| c.to_string()).unwrap_or_default(),
                x.closure_note.clone().unwrap_or_default(),
            ]
        })
        .collect();
    (
        "a Previous decisions",
        head(&[
            "Decision",
            "Review",
            "Text",
            "Owner",
            "Due",
            "Status",
            "Closed on",
            "Closure",
        ]),
        or_none(rows, 8),
    )
}

fn cited_sheet(name: &'static str, items: &[CitedItem]) -> Sheet {
    (
        name,
        head(&["Date", "Kind", "Title", "Item", "Origin", "SHA-256"]),
        or_none(cited_rows(items), 6),
    )
}

fn actions_sheet(p: &Pack) -> Sheet {
    let rows = p
        .d1_nonconformities
        .actions
        .iter()
        .map(|(a, f, s, age, due, owner)| {
            vec![
                a.clone(),
                f.clone(),
                s.clone(),
                age.to_string(),
                due.clone(),
                owner.clone(),
            ]
        })
        .collect();
    (
        "d1 Nonconformities",
        head(&["Action", "Finding", "Status", "Age (days)", "Due", "Owner"]),
        or_none(rows, 6),
    )
}

fn monitoring_sheet(p: &Pack) -> Sheet {
    let m = &p.d2_monitoring;
    let line = |name: &str, values: &[u64]| -> Vec<String> {
        std::iter::once(name.to_owned())
            .chain(values.iter().map(u64::to_string))
            .collect()
    };
    let mut rows: Vec<Vec<String>> = m.series.iter().map(|(n, v)| line(n, v)).collect();
    rows.push(line("Collection gaps", &m.gaps));
    let header = std::iter::once("Series".to_owned())
        .chain(m.months.iter().cloned())
        .collect();
    ("d2 Monitoring", header, rows)
}

fn audits_sheet(p: &Pack) -> Sheet {
    let rows = p
        .d3_audits
        .iter()
        .map(|a| {
            let findings = a
                .findings
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(c, n)| format!("{n} {c}"))
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                a.audit.clone(),
                a.populations.to_string(),
                a.supported.to_string(),
                findings,
            ]
        })
        .collect();
    (
        "d3 Audit results",
        head(&[
            "Audit",
            "Populations concluded",
            "Supporting reliance",
            "Findings",
        ]),
        or_none(rows, 4),
    )
}

fn improvement_sheet(p: &Pack) -> Sheet {
    let rows = p
        .e_improvement_findings
        .iter()
        .map(|(id, c, s)| vec![id.clone(), c.clone(), s.clone()])
        .chain(
            p.e_improvement_items
                .iter()
                .map(|c| vec![c.item_id.clone(), c.kind.clone(), c.title.clone()]),
        )
        .collect();
    (
        "e Improvement",
        head(&["Reference", "Category or kind", "Statement or title"]),
        or_none(rows, 3),
    )
}

/// The sheet of each input, in the order of 9.3.2.
fn sheets(p: &Pack) -> Vec<Sheet> {
    vec![
        decisions_sheet(p),
        cited_sheet("b Issues", &p.b_issues),
        cited_sheet("c Interested parties", &p.c_interested_parties),
        actions_sheet(p),
        monitoring_sheet(p),
        audits_sheet(p),
        improvement_sheet(p),
    ]
}

/// The workbook's bytes: one sheet per input, created "on" the pack's day.
pub fn xlsx_bytes(p: &Pack) -> std::result::Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let day = ExcelDateTime::from_ymd(
        p.as_of.year() as u16,
        p.as_of.month() as u8,
        p.as_of.day() as u8,
    )?;
    wb.set_properties(
        &DocProperties::new()
            .set_title(format!("Management review {} inputs", p.review))
            .set_creation_datetime(&day),
    );
    let bold = Format::new().set_bold().set_background_color("#DDEBF7");
    for (name, head, rows) in sheets(p) {
        let ws = wb.add_worksheet();
        ws.set_name(name)?;
        for (c, h) in head.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, h.as_str(), &bold)?;
            ws.set_column_width(c as u16, if c == 0 { 16 } else { 22 })?;
        }
        for (r, row) in rows.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                ws.write_string(r as u32 + 1, c as u16, v.as_str())?;
            }
        }
        ws.set_freeze_panes(1, 0)?;
    }
    wb.save_to_buffer()
}

/// Write the page and/or the workbook durably.
pub fn write(p: &Pack, html_path: Option<&Path>, xlsx_path: Option<&Path>) -> Result<()> {
    if let Some(path) = html_path {
        write_document(path, html(p)?.as_bytes())?;
    }
    if let Some(path) = xlsx_path {
        let bytes = xlsx_bytes(p).map_err(|e| EngagementError::Write {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        write_document(path, &bytes)?;
    }
    Ok(())
}
