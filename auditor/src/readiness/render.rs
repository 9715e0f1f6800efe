//! The readiness report as people read it: a terminal table (colour only on a terminal), CSV and
//! XLSX (frozen header, filters, one sheet per view; cells escaped like the workpapers), and the
//! self-contained HTML page built on [`crate::page`].

use std::collections::BTreeMap;
use std::path::Path;

use rust_xlsxwriter::{Format, FormatAlign, Workbook, XlsxError};
use serde::Serialize;

use super::compute::{Counts, ItemRef, Readiness, Row, Status, day};
use crate::engagement::export::{csv_cell, write_document};
use crate::engagement::{EngagementError, Result};
use crate::page::svg::{self, Bar, HeatRow, Mark};
use crate::page::{Markup, PageCheckpoint, PageError, PageFrame};

/// The CSS colour of a status.
fn colour(s: &str) -> &'static str {
    match s {
        "current" | "present" => "#2e7d32",
        "stale" => "#b7791f",
        "gap" => "#c2410c",
        "missing" => "#c62828",
        _ => "#7b8794",
    }
}

fn ansi(s: Status) -> &'static str {
    match s {
        Status::Current => "\x1b[32m",
        Status::Stale => "\x1b[33m",
        Status::Gap => "\x1b[35m",
        Status::Missing => "\x1b[31m",
        Status::Excluded => "\x1b[90m",
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn pad(s: &str, n: usize) -> String {
    let len = s.chars().count();
    format!("{s}{}", " ".repeat(n.saturating_sub(len)))
}

/// The terminal report: summary, findings, the table of requirements, the Stage 1 checklist
/// and changes. `colour` adds ANSI colours to statuses.
pub fn terminal(r: &Readiness, colour: bool) -> String {
    let mut out = String::new();
    let paint = |s: Status| -> String {
        let name = pad(s.as_str(), 9);
        if colour {
            format!("{}{name}\x1b[0m", ansi(s))
        } else {
            name
        }
    };
    out.push_str(&format!(
        "Readiness for {} as of {}\n",
        r.standard,
        r.as_of.strftime("%Y-%m-%d %H:%M:%S UTC")
    ));
    for c in &r.checkpoints {
        out.push_str(&format!(
            "Computed from origin {} run {} (tree size {}, root {})\n",
            c.origin, c.run, c.tree_size, c.root
        ));
    }
    out.push_str(&format!(
        "SoA: {}{}\n",
        r.soa.status,
        r.soa
            .item
            .as_ref()
            .map(|i| format!(" ({}, run {})", i.title, i.bundle_seq))
            .unwrap_or_default()
    ));
    out.push_str(&counts_line(&r.counts));
    out.push('\n');
    out.push_str(&format!(
        "\n{} {} {} {:>5}  {:<10}  {}\n",
        pad("ID", 8),
        pad("TITLE", 44),
        pad("STATUS", 9),
        "ITEMS",
        "NEWEST",
        "NOTE"
    ));
    for row in &r.rows {
        out.push_str(&format!(
            "{} {} {} {:>5}  {:<10}  {}\n",
            pad(&row.id, 8),
            pad(&clip(&row.title, 44), 44),
            paint(row.status),
            row.items,
            day(row.newest.map(|t| t.as_second())),
            clip(&row.note, 70)
        ));
    }
    out.push_str("\nStage 1 documents:\n");
    for s in &r.stage1 {
        out.push_str(&format!(
            "  {} {} {}\n",
            pad(s.status, 8),
            pad(&format!("{} ({})", s.document, s.clauses), 58),
            clip(&s.note, 60)
        ));
    }
    if !r.findings.is_empty() {
        out.push_str(&format!("\nFindings ({}):\n", r.findings.len()));
        for f in &r.findings {
            out.push_str(&format!("  {} {}: {}\n", f.code, f.subject, f.message));
        }
    }
    if let Some(c) = &r.comparison {
        out.push_str(&format!(
            "\nChanges since {} ({} row(s)):\n",
            c.since.strftime("%Y-%m-%d"),
            c.changes.len()
        ));
        for ch in &c.changes {
            out.push_str(&format!(
                "  {} {} {} → {}\n",
                pad(&ch.id, 8),
                pad(ch.change, 15),
                ch.before.as_str(),
                ch.after.as_str()
            ));
        }
    }
    out
}

fn counts_line(c: &Counts) -> String {
    Status::ALL
        .iter()
        .map(|s| format!("{} {}", c.get(*s), s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The requirements view's columns.
const ROW_COLUMNS: [&str; 16] = [
    "id",
    "requirement",
    "title",
    "applicable",
    "in_soa",
    "justification",
    "implementation",
    "owner",
    "status",
    "items",
    "kinds",
    "sources",
    "newest",
    "newest_item",
    "newest_item_sha256",
    "note",
];

fn row_cells(r: &Row) -> Vec<String> {
    vec![
        r.id.clone(),
        r.requirement.to_owned(),
        r.title.clone(),
        if r.applicable { "yes" } else { "no" }.to_owned(),
        if r.in_soa { "yes" } else { "no" }.to_owned(),
        r.justification.clone(),
        r.implementation.clone(),
        r.owner.clone(),
        r.status.as_str().to_owned(),
        r.items.to_string(),
        r.kinds
            .iter()
            .map(|k| k.kind.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        r.sources.join(" "),
        r.newest.map(|t| t.to_string()).unwrap_or_default(),
        r.newest_item
            .as_ref()
            .map(|i| i.item_id.clone())
            .unwrap_or_default(),
        r.newest_item
            .as_ref()
            .map(|i| i.sha256.clone())
            .unwrap_or_default(),
        r.note.clone(),
    ]
}

/// The views, each a header and rows of cells: requirements, Stage 1, findings, gaps, changes.
/// One view: its sheet name, header and rows.
type View = (&'static str, Vec<String>, Vec<Vec<String>>);

fn views(r: &Readiness) -> Vec<View> {
    let s = |v: &[&str]| v.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>();
    let mut out = vec![(
        "Requirements",
        s(&ROW_COLUMNS),
        r.rows.iter().map(row_cells).collect(),
    )];
    out.push((
        "Stage 1 documents",
        s(&[
            "document",
            "clauses",
            "kinds",
            "status",
            "items",
            "item",
            "item_sha256",
            "note",
        ]),
        r.stage1
            .iter()
            .map(|x| {
                vec![
                    x.document.to_owned(),
                    x.clauses.to_owned(),
                    x.kinds.join(" "),
                    x.status.to_owned(),
                    x.items.to_string(),
                    x.item
                        .as_ref()
                        .map(|i| i.item_id.clone())
                        .unwrap_or_default(),
                    x.item
                        .as_ref()
                        .map(|i| i.sha256.clone())
                        .unwrap_or_default(),
                    x.note.clone(),
                ]
            })
            .collect(),
    ));
    out.push((
        "Findings",
        s(&["code", "subject", "message"]),
        r.findings
            .iter()
            .map(|f| vec![f.code.to_owned(), f.subject.clone(), f.message.clone()])
            .collect(),
    ));
    out.push((
        "Collection gaps",
        s(&[
            "occurred_at",
            "origin",
            "run",
            "source",
            "scope",
            "category",
            "message",
        ]),
        r.gaps
            .iter()
            .map(|g| {
                vec![
                    g.occurred_at.to_string(),
                    g.origin.clone(),
                    g.run.to_string(),
                    g.source.clone(),
                    g.scope.clone(),
                    g.category.clone(),
                    g.message.clone(),
                ]
            })
            .collect(),
    ));
    if let Some(c) = &r.comparison {
        out.push((
            "Changes",
            s(&[
                "id",
                "title",
                "change",
                "before",
                "after",
                "before_newest",
                "after_newest",
            ]),
            c.changes
                .iter()
                .map(|ch| {
                    vec![
                        ch.id.clone(),
                        ch.title.clone(),
                        ch.change.to_owned(),
                        ch.before.as_str().to_owned(),
                        ch.after.as_str().to_owned(),
                        ch.before_newest.map(|t| t.to_string()).unwrap_or_default(),
                        ch.after_newest.map(|t| t.to_string()).unwrap_or_default(),
                    ]
                })
                .collect(),
        ));
    }
    out
}

/// The requirements view as CSV, every cell escaped with [`csv_cell`].
pub fn csv(r: &Readiness) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let (_, header, rows) = views(r).swap_remove(0);
    // Writing into memory cannot fail.
    let _ = w.write_record(header.iter().map(|c| csv_cell(c).into_owned()));
    for row in rows {
        let _ = w.write_record(row.iter().map(|c| csv_cell(c).into_owned()));
    }
    w.into_inner().unwrap_or_default()
}

/// Write the CSV durably.
pub fn write_csv(path: &Path, r: &Readiness) -> Result<()> {
    write_document(path, &csv(r))
}

/// Write the XLSX: one sheet per view, header frozen, filters on.
pub fn write_xlsx(path: &Path, r: &Readiness) -> Result<()> {
    let err = |e: XlsxError| EngagementError::Write {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let mut wb = Workbook::new();
    let header = Format::new()
        .set_bold()
        .set_background_color("#DDEBF7")
        .set_align(FormatAlign::Top);
    for (name, head, rows) in views(r) {
        let ws = wb.add_worksheet();
        ws.set_name(name).map_err(err)?;
        for (c, h) in head.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, h.as_str(), &header)
                .map_err(err)?;
            ws.set_column_width(c as u16, if c == 0 { 12 } else { 22 })
                .map_err(err)?;
        }
        for (i, row) in rows.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                // Strings only: a cell is never a formula, whatever its text.
                ws.write_string(i as u32 + 1, c as u16, v.as_str())
                    .map_err(err)?;
            }
        }
        ws.set_freeze_panes(1, 0).map_err(err)?;
        ws.autofilter(0, 0, rows.len().max(1) as u32, head.len() as u16 - 1)
            .map_err(err)?;
    }
    let bytes = wb.save_to_buffer().map_err(err)?;
    write_document(path, &bytes)
}

// ----- the page ---------------------------------------------------------------------------

#[derive(Serialize)]
struct Charts {
    counts: Markup,
    stage1: Markup,
    heatmap: Markup,
    timeline: Markup,
}

#[derive(Serialize)]
struct SoaView {
    status: &'static str,
    badge: &'static str,
    rows: usize,
    item: Option<ItemRef>,
    problems: Vec<String>,
}

#[derive(Serialize)]
struct RowView {
    id: String,
    title: String,
    status: &'static str,
    applicable: &'static str,
    justification: String,
    items: u64,
    kinds: String,
    sources: String,
    newest: String,
    item: Option<String>,
    note: String,
}

#[derive(Serialize)]
struct Part {
    id: &'static str,
    title: &'static str,
    rows: Vec<RowView>,
}

#[derive(Serialize)]
struct Stage1View {
    document: &'static str,
    clauses: &'static str,
    status: &'static str,
    items: u64,
    item: Option<String>,
    note: String,
}

#[derive(Serialize)]
struct GapView {
    at: String,
    origin: String,
    run: u64,
    source: String,
    scope: String,
    category: String,
    message: String,
}

#[derive(Serialize)]
struct ItemView {
    item_id: String,
    title: String,
    kind: String,
    time: String,
    sha256: String,
    origin: String,
    bundle: String,
    prove: String,
}

#[derive(Serialize)]
struct ChangeView {
    id: String,
    title: String,
    change: &'static str,
    before: &'static str,
    after: &'static str,
    before_newest: String,
    after_newest: String,
}

#[derive(Serialize)]
struct ComparisonView {
    since: String,
    changes: Vec<ChangeView>,
}

#[derive(Serialize)]
struct PageData {
    charts: Charts,
    soa: SoaView,
    findings: Vec<super::compute::Finding>,
    comparison: Option<ComparisonView>,
    stage1: Vec<Stage1View>,
    gaps: Vec<GapView>,
    parts: Vec<Part>,
    items: Vec<ItemView>,
}

fn quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@+,=".contains(c))
    {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// The HTML page. `archives` gives, per origin, the archive directory the prove commands name.
pub fn html(
    r: &Readiness,
    archives: &BTreeMap<String, String>,
) -> std::result::Result<String, PageError> {
    let day_of = |t: Option<jiff::Timestamp>| day(t.map(|t| t.as_second()));
    let mut items: BTreeMap<String, ItemRef> = BTreeMap::new();
    let mut remember = |i: &Option<ItemRef>| -> Option<String> {
        let i = i.as_ref()?;
        items.entry(i.item_id.clone()).or_insert_with(|| i.clone());
        Some(i.item_id.clone())
    };
    let mut controls = Vec::new();
    let mut clauses = Vec::new();
    for row in &r.rows {
        let v = RowView {
            id: row.id.clone(),
            title: row.title.clone(),
            status: row.status.as_str(),
            applicable: if row.applicable { "yes" } else { "no" },
            justification: row.justification.clone(),
            items: row.items,
            kinds: row
                .kinds
                .iter()
                .map(|k| format!("{} ({})", k.kind, k.count))
                .collect::<Vec<_>>()
                .join(", "),
            sources: row.sources.join(", "),
            newest: day_of(row.newest),
            item: remember(&row.newest_item),
            note: row.note.clone(),
        };
        if row.requirement == "annex_a" {
            controls.push(v);
        } else {
            clauses.push(v);
        }
    }
    let stage1: Vec<Stage1View> = r
        .stage1
        .iter()
        .map(|s| Stage1View {
            document: s.document,
            clauses: s.clauses,
            status: s.status,
            items: s.items,
            item: remember(&s.item),
            note: s.note.clone(),
        })
        .collect();
    let _ = remember(&r.soa.item);
    let items: Vec<ItemView> = items
        .values()
        .map(|i| {
            let archive = archives
                .get(&i.origin)
                .cloned()
                .unwrap_or_else(|| "ARCHIVE".to_owned());
            ItemView {
                item_id: i.item_id.clone(),
                title: i.title.clone(),
                kind: i.kind.clone(),
                time: day(Some(i.time)),
                sha256: i.sha256.clone(),
                origin: i.origin.clone(),
                bundle: i.bundle(),
                prove: format!(
                    "evidence-auditor prove {} --archive {} --output {}",
                    quote(&i.item_id),
                    quote(&archive),
                    quote(&format!("proof-{}", i.item_id))
                ),
            }
        })
        .collect();

    let counts = svg::bars(
        "Requirements by status",
        &Status::ALL
            .iter()
            .map(|s| Bar {
                label: s.as_str().to_owned(),
                value: r.counts.get(*s),
                colour: colour(s.as_str()),
            })
            .collect::<Vec<_>>(),
    );
    let mut s1: BTreeMap<&str, u64> = BTreeMap::new();
    for s in &r.stage1 {
        *s1.entry(s.status).or_default() += 1;
    }
    let stage1_chart = svg::bars(
        "Stage 1 documents by status",
        &["present", "stale", "missing"]
            .iter()
            .map(|s| Bar {
                label: (*s).to_owned(),
                value: s1.get(s).copied().unwrap_or(0),
                colour: colour(s),
            })
            .collect::<Vec<_>>(),
    );
    let heat = svg::heatmap(
        "Items per Annex A control and month",
        &r.months,
        &r.rows
            .iter()
            .filter(|row| row.requirement == "annex_a")
            .map(|row| HeatRow {
                label: row.id.clone(),
                href: format!("#row-{}", row.id),
                values: row.monthly.clone(),
            })
            .collect::<Vec<_>>(),
    );
    let to = r.as_of.as_second();
    let first_month = r
        .months
        .first()
        .and_then(|m| format!("{m}-01T00:00:00Z").parse::<jiff::Timestamp>().ok())
        .map_or(to - 365 * 86_400, |t| t.as_second());
    let from = r
        .runs
        .iter()
        .map(|x| x.collected_at.as_second())
        .chain(r.gaps.iter().map(|g| g.occurred_at.as_second()))
        .min()
        .map_or(first_month, |t| t.min(first_month));
    let ticks: Vec<(i64, String)> = {
        let n = 6;
        (0..=n)
            .map(|i| {
                let t = from + (to - from) * i / n;
                (t, day(Some(t)))
            })
            .collect()
    };
    let marks: Vec<Mark> = r
        .runs
        .iter()
        .map(|x| Mark {
            at: x.collected_at.as_second(),
            label: format!(
                "{} run {}: {} item(s), {} gap(s), {}",
                x.origin, x.seq, x.items, x.gaps, x.collected_at
            ),
            lane: "run",
        })
        .chain(r.gaps.iter().map(|g| Mark {
            at: g.occurred_at.as_second(),
            label: format!(
                "{} failed ({}) in run {}: {}",
                g.source, g.category, g.run, g.message
            ),
            lane: "gap",
        }))
        .collect();
    let timeline = svg::timeline("Runs and collection gaps", from, to, &ticks, &marks);

    let data = PageData {
        charts: Charts {
            counts: Markup(counts),
            stage1: Markup(stage1_chart),
            heatmap: Markup(heat),
            timeline: Markup(timeline),
        },
        soa: SoaView {
            status: r.soa.status,
            badge: match r.soa.status {
                "read" => "current",
                "absent" => "missing",
                _ => "gap",
            },
            rows: r.soa.rows,
            item: r.soa.item.clone(),
            problems: r.soa.problems.clone(),
        },
        findings: r.findings.clone(),
        comparison: r.comparison.as_ref().map(|c| ComparisonView {
            since: c.since.strftime("%Y-%m-%d").to_string(),
            changes: c
                .changes
                .iter()
                .map(|ch| ChangeView {
                    id: ch.id.clone(),
                    title: ch.title.clone(),
                    change: ch.change,
                    before: ch.before.as_str(),
                    after: ch.after.as_str(),
                    before_newest: day_of(ch.before_newest),
                    after_newest: day_of(ch.after_newest),
                })
                .collect(),
        }),
        stage1,
        gaps: r
            .gaps
            .iter()
            .map(|g| GapView {
                at: g.occurred_at.to_string(),
                origin: g.origin.clone(),
                run: g.run,
                source: g.source.clone(),
                scope: g.scope.clone(),
                category: g.category.clone(),
                message: g.message.clone(),
            })
            .collect(),
        parts: vec![
            Part {
                id: "annex-a",
                title: "Annex A controls",
                rows: controls,
            },
            Part {
                id: "clauses",
                title: "Clauses 4–10",
                rows: clauses,
            },
        ],
        items,
    };
    let frame = PageFrame {
        title: format!("{} readiness", r.standard),
        subtitle: format!(
            "As of {} · {}",
            r.as_of.strftime("%Y-%m-%d %H:%M:%S UTC"),
            counts_line(&r.counts)
        ),
        checkpoints: r.checkpoints.iter().map(PageCheckpoint::from).collect(),
        generator: crate::page::generator(),
    };
    crate::page::render("readiness.html", &frame, &data)
}

impl From<&super::compute::CheckpointFact> for PageCheckpoint {
    fn from(c: &super::compute::CheckpointFact) -> Self {
        PageCheckpoint {
            origin: c.origin.clone(),
            run: c.run,
            tree_size: c.tree_size,
            root: c.root.clone(),
        }
    }
}
