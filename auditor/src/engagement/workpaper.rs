//! Workpapers: the sample as a spreadsheet an auditor fills in (XLSX with a frozen header, column
//! widths, a drop-down on the result column and a sheet holding the sampling record; or CSV),
//! and the strict import of the filled file. Validation is pure and reports every problem with
//! its row and column: unknown items, duplicates, missing rows, bad result values, missing notes.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use calamine::{Data, Reader, Xlsx, open_workbook};
use rust_xlsxwriter::{DataValidation, Format, FormatAlign, Url, Workbook, XlsxError};

use super::db::{PickRow, ResultRow};
use super::evaluate::{Finding, TestResult};
use super::{EngagementError, Result};

/// The workpaper sheet's name.
pub const SHEET: &str = "Workpaper";
/// The sampling record sheet's name.
pub const RECORD_SHEET: &str = "Sampling record";
/// The record sheet's label for the finding the auditor proposes.
pub const FINDING_LABEL: &str = "Proposed finding";
/// The record sheet's label for the note on the finding.
pub const FINDING_NOTE_LABEL: &str = "Finding note";

/// The columns, in order, with their widths in characters.
pub const COLUMNS: [(&str, f64); 20] = [
    ("Ref", 6.0),
    ("Stratum", 14.0),
    ("Position", 9.0),
    ("Counter", 8.0),
    ("Origin", 18.0),
    ("Item ID", 44.0),
    ("Kind", 22.0),
    ("Title", 36.0),
    ("Controls", 16.0),
    ("Source time", 21.0),
    ("Actors", 28.0),
    ("Attributes to test", 48.0),
    ("Link", 36.0),
    ("Bundle", 16.0),
    ("Artefact in bundle", 48.0),
    ("SHA-256", 66.0),
    ("Size (bytes)", 12.0),
    ("Result", 14.0),
    ("Notes", 48.0),
    ("Tested by", 14.0),
];

const COL_RESULT: usize = 17;
/// Longest text written into one cell (spreadsheets cap cells at 32,767 characters).
const MAX_CELL: usize = 4000;

/// One row of the workpaper, before testing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkpaperRow {
    pub cells: Vec<String>,
    /// A source URL a person can open, written as a hyperlink in XLSX.
    pub url: Option<String>,
}

fn clip(mut s: String) -> String {
    if s.chars().count() > MAX_CELL {
        s = s.chars().take(MAX_CELL - 1).collect();
        s.push('…');
    }
    s
}

/// `role: name, name; role: name`, grouping names by role.
fn actors_text(actors_json: &str) -> String {
    let actors: Vec<serde_json::Value> = serde_json::from_str(actors_json).unwrap_or_default();
    let mut by_role: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for a in actors {
        let role = a["role"].as_str().unwrap_or("?").to_owned();
        let name = a["name"].as_str().unwrap_or("?").to_owned();
        by_role.entry(role).or_default().push(name);
    }
    by_role
        .into_iter()
        .map(|(r, n)| format!("{r}: {}", n.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `key: value; key: value`, strings unquoted (approvers, stale approvals, front matter, …).
fn attributes_text(attributes_json: &str) -> String {
    let map: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(attributes_json).unwrap_or_default();
    map.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}: {s}"),
            other => format!("{k}: {other}"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The workpaper rows of a sample, with the results already recorded for it (so a workpaper
/// exported again after an import carries the auditor's work, not blank cells).
pub fn rows(picks: &[PickRow], results: &[ResultRow]) -> Vec<WorkpaperRow> {
    let recorded: HashMap<u64, &ResultRow> = results.iter().map(|r| (r.pick, r)).collect();
    picks
        .iter()
        .map(|p| {
            let done = recorded.get(&p.pick.pick);
            let (result, notes, tested_by) = done.map_or_else(Default::default, |r| {
                (r.result.clone(), r.notes.clone(), r.tested_by.clone())
            });
            let i = &p.item;
            let bag = format!("run-{:06}", i.bundle_seq);
            let link = i
                .url
                .clone()
                .unwrap_or_else(|| format!("{bag}.zip#{bag}/{}", i.artefact_path));
            let cells = vec![
                p.pick.pick.to_string(),
                p.pick.stratum.clone().unwrap_or_default(),
                p.pick.position.to_string(),
                p.pick.counter.to_string(),
                i.origin.clone(),
                i.item_id.clone(),
                i.kind.clone(),
                clip(i.title.clone()),
                i.controls.clone(),
                i.source_time.clone().unwrap_or_default(),
                clip(actors_text(&i.actors)),
                clip(attributes_text(&i.attributes)),
                link,
                format!("{bag}.zip"),
                format!("{bag}/{}", i.artefact_path),
                i.sha256.clone(),
                i.size.to_string(),
                result,
                notes,
                tested_by,
            ];
            WorkpaperRow {
                cells,
                url: i
                    .url
                    .clone()
                    .filter(|u| u.starts_with("https://") || u.starts_with("http://")),
            }
        })
        .collect()
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> EngagementError + '_ {
    move |source| EngagementError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Write the CSV workpaper (header row, then one row per pick).
pub fn write_csv(path: &Path, rows: &[WorkpaperRow]) -> Result<()> {
    let mut bytes = Vec::new();
    {
        let mut w = csv::Writer::from_writer(&mut bytes);
        let write = |w: &mut csv::Writer<&mut Vec<u8>>, r: Vec<&str>| {
            w.write_record(r).map_err(|e| EngagementError::Write {
                path: path.to_owned(),
                message: e.to_string(),
            })
        };
        write(&mut w, COLUMNS.iter().map(|(n, _)| *n).collect())?;
        for r in rows {
            let cells: Vec<_> = r.cells.iter().map(|c| super::export::csv_cell(c)).collect();
            write(&mut w, cells.iter().map(AsRef::as_ref).collect())?;
        }
        w.flush().map_err(io_err(path))?;
    }
    super::export::write_document(path, &bytes)
}

fn xlsx_err(path: &Path) -> impl Fn(XlsxError) -> EngagementError + '_ {
    move |e| EngagementError::Write {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// The proposed finding and its note as already recorded (from an earlier import), written into
/// the record sheet's cells to fill in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingCells {
    pub finding: Option<String>,
    pub note: Option<String>,
}

/// Write the XLSX workpaper: the sample sheet and the sampling record sheet (`record`: label,
/// value pairs; `finding`: the finding cells' recorded values).
pub fn write_xlsx(
    path: &Path,
    rows: &[WorkpaperRow],
    record: &[(String, String)],
    finding: &FindingCells,
) -> Result<()> {
    let err = xlsx_err(path);
    let mut wb = Workbook::new();
    let header = Format::new()
        .set_bold()
        .set_background_color("#DDEBF7")
        .set_align(FormatAlign::Top);
    let to_fill = Format::new().set_background_color("#FFF2CC");
    let ws = wb.add_worksheet();
    ws.set_name(SHEET).map_err(&err)?;
    for (c, (name, width)) in COLUMNS.iter().enumerate() {
        let c = c as u16;
        ws.write_string_with_format(0, c, *name, &header)
            .map_err(&err)?;
        ws.set_column_width(c, *width).map_err(&err)?;
    }
    for (r, row) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, value) in row.cells.iter().enumerate() {
            let numeric = matches!(c, 0 | 2 | 3 | 16);
            match value.parse::<u64>() {
                Ok(n) if numeric && n < (1 << 53) => {
                    ws.write_number(r, c as u16, n as f64).map_err(&err)?;
                }
                _ if c == 12 && row.url.is_some() => {
                    ws.write_url(r, c as u16, Url::new(value.as_str()))
                        .map_err(&err)?;
                }
                _ if c >= COL_RESULT => {
                    ws.write_string_with_format(r, c as u16, value.as_str(), &to_fill)
                        .map_err(&err)?;
                }
                _ => {
                    ws.write_string(r, c as u16, value.as_str()).map_err(&err)?;
                }
            }
        }
    }
    ws.set_freeze_panes(1, 0).map_err(&err)?;
    let last = rows.len().max(1) as u32;
    ws.autofilter(0, 0, last, COLUMNS.len() as u16 - 1)
        .map_err(&err)?;
    let results = DataValidation::new()
        .allow_list_strings(&TestResult::CHOICES)
        .map_err(&err)?
        .set_input_message("pass, deviation or not testable (untestable items count as deviations)")
        .map_err(&err)?;
    ws.add_data_validation(1, COL_RESULT as u16, last, COL_RESULT as u16, &results)
        .map_err(&err)?;

    let rs = wb.add_worksheet();
    rs.set_name(RECORD_SHEET).map_err(&err)?;
    rs.set_column_width(0, 28).map_err(&err)?;
    rs.set_column_width(1, 110).map_err(&err)?;
    rs.write_string_with_format(0, 0, "Field", &header)
        .map_err(&err)?;
    rs.write_string_with_format(0, 1, "Value", &header)
        .map_err(&err)?;
    let mut r = 1u32;
    for (label, value) in record {
        rs.write_string(r, 0, label.as_str()).map_err(&err)?;
        rs.write_string(r, 1, clip(value.clone())).map_err(&err)?;
        r += 1;
    }
    rs.write_string_with_format(r, 0, FINDING_LABEL, &header)
        .map_err(&err)?;
    rs.write_string_with_format(r, 1, finding.finding.as_deref().unwrap_or(""), &to_fill)
        .map_err(&err)?;
    let findings: Vec<&str> = Finding::ALL.iter().map(|(l, _)| *l).collect();
    let dv = DataValidation::new()
        .allow_list_strings(&findings)
        .map_err(&err)?
        .set_input_message("The finding you propose for this population")
        .map_err(&err)?;
    rs.add_data_validation(r, 1, r, 1, &dv).map_err(&err)?;
    rs.write_string_with_format(r + 1, 0, FINDING_NOTE_LABEL, &header)
        .map_err(&err)?;
    rs.write_string_with_format(r + 1, 1, finding.note.as_deref().unwrap_or(""), &to_fill)
        .map_err(&err)?;
    rs.set_freeze_panes(1, 0).map_err(&err)?;

    let bytes = wb.save_to_buffer().map_err(&err)?;
    super::export::write_document(path, &bytes)
}

/// A filled workpaper as read: the header and the non-empty data rows with their 1-based row
/// numbers as a spreadsheet shows them, and the finding cells of the record sheet (XLSX only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<(usize, Vec<String>)>,
    pub finding: Option<String>,
    pub finding_note: Option<String>,
    /// Formula cells of the workpaper sheet: 1-based row, 0-based column, the formula text.
    /// A formula's cached value is whatever the last program to save the file wrote, so the
    /// import refuses formulas in the columns it reads instead of trusting that value.
    pub formulas: Vec<(usize, usize, String)>,
    /// Formula cells among the record sheet's finding cells: the label and the formula.
    pub finding_formulas: Vec<(String, String)>,
}

/// A workpaper's file format, chosen by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkpaperFormat {
    Xlsx,
    Csv,
}

impl WorkpaperFormat {
    /// The format of `path` (`.xlsx` or `.csv`, any case), or an error naming the file.
    pub fn of(path: &Path) -> Result<Self> {
        match path
            .extension()
            .and_then(|x| x.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("xlsx") => Ok(Self::Xlsx),
            Some("csv") => Ok(Self::Csv),
            _ => Err(EngagementError::Invalid(format!(
                "{}: the workpaper must be a .xlsx or .csv file",
                path.display()
            ))),
        }
    }
}

/// Read a filled workpaper in the format its extension names.
pub fn read(path: &Path) -> Result<Table> {
    match WorkpaperFormat::of(path)? {
        WorkpaperFormat::Csv => read_csv(path),
        WorkpaperFormat::Xlsx => read_xlsx(path),
    }
}

/// Refuse to replace an existing file without `force`: it may hold results filled in.
pub fn refuse_to_replace(output: &Path, population: &str, force: bool) -> Result<()> {
    if !force && std::fs::symlink_metadata(output).is_ok() {
        return Err(EngagementError::Invalid(format!(
            "{} already exists and may hold results you filled in; nothing was written. Import it first (`evidence-auditor workpaper import {population} {}`), choose another --output, or give --force to replace it",
            output.display(),
            output.display()
        )));
    }
    Ok(())
}

/// Read a filled CSV workpaper.
pub fn read_csv(path: &Path) -> Result<Table> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut table = Table::default();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| EngagementError::Workpaper {
            path: path.to_owned(),
            problems: vec![format!("not a readable CSV file: {e}")],
        })?;
        // A spreadsheet shows each record as one row, whatever newlines its cells hold.
        let line = i + 1;
        let cells: Vec<String> = rec
            .iter()
            .map(|c| super::export::csv_cell_read(c).to_owned())
            .collect();
        if i == 0 {
            table.header = cells;
        } else if cells.iter().any(|c| !c.trim().is_empty()) {
            table.rows.push((line, cells));
        }
    }
    Ok(table)
}

fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => d.to_string(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

/// Read a filled XLSX workpaper (sheet `Workpaper`; finding cells from `Sampling record`).
pub fn read_xlsx(path: &Path) -> Result<Table> {
    let bad = |m: String| EngagementError::Workpaper {
        path: path.to_owned(),
        problems: vec![m],
    };
    let mut wb: Xlsx<_> =
        open_workbook(path).map_err(|e| bad(format!("not a readable XLSX file: {e}")))?;
    let mut table = read_sheet(&mut wb, SHEET).map_err(bad)?;
    read_finding_cells(&mut wb, &mut table);
    Ok(table)
}

/// Read one sheet of an open workbook: header (row 1), non-empty data rows and formula cells.
pub fn read_sheet<R: std::io::Read + std::io::Seek>(
    wb: &mut Xlsx<R>,
    sheet: &str,
) -> std::result::Result<Table, String> {
    let range = wb
        .worksheet_range(sheet)
        .map_err(|e| format!("no sheet {sheet:?}: {e}"))?;
    let (top, left) = range.start().unwrap_or((0, 0));
    let mut table = Table::default();
    for (i, row) in range.rows().enumerate() {
        let mut cells: Vec<String> = vec![String::new(); left as usize];
        cells.extend(row.iter().map(cell_text));
        let number = top as usize + i + 1;
        if number == 1 {
            table.header = cells;
        } else if cells.iter().any(|c| !c.trim().is_empty()) {
            table.rows.push((number, cells));
        }
    }
    if top != 0 {
        table.header.clear();
    }
    if let Ok(formulas) = wb.worksheet_formula(sheet) {
        let (ftop, fleft) = formulas.start().unwrap_or((0, 0));
        for (r, c, f) in formulas.cells() {
            if !f.trim().is_empty() {
                let row = ftop as usize + r + 1;
                table.formulas.push((row, fleft as usize + c, f.clone()));
            }
        }
    }
    Ok(table)
}

/// The record sheet's finding cells (and formulas among them) of a workpaper.
fn read_finding_cells<R: std::io::Read + std::io::Seek>(wb: &mut Xlsx<R>, table: &mut Table) {
    let mut record_formulas = BTreeMap::new();
    if let Ok(formulas) = wb.worksheet_formula(RECORD_SHEET) {
        let (ftop, fleft) = formulas.start().unwrap_or((0, 0));
        for (r, c, f) in formulas.cells() {
            if !f.trim().is_empty() {
                record_formulas.insert((ftop as usize + r, fleft as usize + c), f.clone());
            }
        }
    }
    if let Ok(record) = wb.worksheet_range(RECORD_SHEET) {
        let (rtop, rleft) = record.start().unwrap_or((0, 0));
        for (i, row) in record.rows().enumerate() {
            let label = row.first().map(cell_text).unwrap_or_default();
            let at = (rtop as usize + i, rleft as usize + 1);
            if (label == FINDING_LABEL || label == FINDING_NOTE_LABEL)
                && let Some(f) = record_formulas.get(&at)
            {
                table.finding_formulas.push((label.clone(), f.clone()));
            }
        }
    }
    if let Ok(record) = wb.worksheet_range(RECORD_SHEET) {
        for row in record.rows() {
            let label = row.first().map(cell_text).unwrap_or_default();
            let value = row.get(1).map(cell_text).unwrap_or_default();
            let value = Some(value).filter(|v| !v.trim().is_empty());
            if label == FINDING_LABEL {
                table.finding = value;
            } else if label == FINDING_NOTE_LABEL {
                table.finding_note = value;
            }
        }
    }
}

/// A sampled item the workpaper must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedRow {
    pub pick: u64,
    pub origin: String,
    pub item_id: String,
    pub sha256: String,
}

/// A validated result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub pick: u64,
    pub result: TestResult,
    pub notes: String,
    pub tested_by: String,
}

/// Spreadsheet column letters: 0 → A, 25 → Z, 26 → AA.
pub fn column_letter(mut c: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (c % 26) as u8);
        if c < 26 {
            break;
        }
        c = c / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

/// Check a filled workpaper against the sample. Every problem is reported, each naming its row
/// and column; the results come back in pick order only when there is none.
pub fn validate(
    table: &Table,
    population: &str,
    expected: &[ExpectedRow],
) -> Result<Vec<Imported>, Vec<String>> {
    let mut problems = Vec::new();
    let col = |name: &str| table.header.iter().position(|h| h.trim() == name);
    let at = |c: usize| format!("column {} ({})", column_letter(c), table.header[c].trim());
    let (Some(c_origin), Some(c_item), Some(c_result)) =
        (col("Origin"), col("Item ID"), col("Result"))
    else {
        let missing: Vec<&str> = ["Origin", "Item ID", "Result"]
            .into_iter()
            .filter(|n| col(n).is_none())
            .collect();
        return Err(vec![format!(
            "row 1: the header lacks the column(s) {}; export a fresh workpaper with `evidence-auditor workpaper export`",
            missing.join(", ")
        )]);
    };
    let c_notes = col("Notes");
    let c_tester = col("Tested by");
    let c_sha = col("SHA-256");
    let c_ref = col("Ref");
    let read_columns = [
        Some(c_origin),
        Some(c_item),
        Some(c_result),
        c_notes,
        c_tester,
        c_sha,
        c_ref,
    ];
    for (row, c, formula) in &table.formulas {
        if read_columns.contains(&Some(*c)) {
            problems.push(format!(
                "row {row}, {}: holds the formula ={}; type the value itself (a formula's saved value is not trusted)",
                at(*c),
                formula.trim_start_matches('=')
            ));
        }
    }
    for (label, formula) in &table.finding_formulas {
        problems.push(format!(
            "sheet {RECORD_SHEET:?}, {label}: holds the formula ={}; type the value itself (a formula's saved value is not trusted)",
            formula.trim_start_matches('=')
        ));
    }
    let by_key: HashMap<(&str, &str), &ExpectedRow> = expected
        .iter()
        .map(|e| ((e.origin.as_str(), e.item_id.as_str()), e))
        .collect();
    let mut seen: HashMap<u64, usize> = HashMap::new();
    let mut out = Vec::new();
    for (row, cells) in &table.rows {
        let get = |c: usize| cells.get(c).map_or("", |s| s.trim());
        let (origin, item) = (get(c_origin), get(c_item));
        if item.is_empty() {
            problems.push(format!(
                "row {row}, {}: empty; every row names a sampled item",
                at(c_item)
            ));
            continue;
        }
        let Some(exp) = by_key.get(&(origin, item)) else {
            problems.push(format!(
                "row {row}, {}: item {item} of origin {origin} is not in the sample of population {population}",
                at(c_item)
            ));
            continue;
        };
        if let Some(first) = seen.insert(exp.pick, *row) {
            problems.push(format!(
                "row {row}, {}: item {item} appears again (first at row {first})",
                at(c_item)
            ));
            continue;
        }
        if let Some(c) = c_ref
            && get(c) != exp.pick.to_string()
        {
            problems.push(format!(
                "row {row}, {}: {:?} but item {item} is pick {}",
                at(c),
                get(c),
                exp.pick
            ));
        }
        if let Some(c) = c_sha
            && get(c) != exp.sha256
        {
            problems.push(format!(
                "row {row}, {}: does not match the sampled item's SHA-256 {}",
                at(c),
                exp.sha256
            ));
        }
        let notes = c_notes.map(get).unwrap_or("").to_owned();
        let tested_by = c_tester.map(get).unwrap_or("").to_owned();
        let raw = get(c_result);
        let result = match TestResult::parse(raw) {
            Some(r) => r,
            None if raw.is_empty() => {
                problems.push(format!(
                    "row {row}, {}: empty; expected one of {}",
                    at(c_result),
                    TestResult::CHOICES.join(", ")
                ));
                continue;
            }
            None => {
                problems.push(format!(
                    "row {row}, {}: {raw:?} is not one of {}",
                    at(c_result),
                    TestResult::CHOICES.join(", ")
                ));
                continue;
            }
        };
        if result != TestResult::Pass && notes.is_empty() {
            let where_ = c_notes.map_or("column Notes".to_owned(), at);
            problems.push(format!(
                "row {row}, {where_}: a result of {:?} needs a note saying what was found",
                result.label()
            ));
            continue;
        }
        out.push(Imported {
            pick: exp.pick,
            result,
            notes,
            tested_by,
        });
    }
    for e in expected {
        if !seen.contains_key(&e.pick) {
            problems.push(format!(
                "pick {} (item {} of origin {}) has no row",
                e.pick, e.item_id, e.origin
            ));
        }
    }
    if let Some(f) = &table.finding
        && Finding::parse(f).is_none()
    {
        problems.push(format!(
            "sheet {RECORD_SHEET:?}, {FINDING_LABEL}: {f:?} is not one of {}",
            Finding::choices()
        ));
    }
    if problems.is_empty() {
        out.sort_by_key(|i| i.pick);
        Ok(out)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COL_REF: usize = 0;
    const COL_ORIGIN: usize = 4;
    const COL_ITEM: usize = 5;
    const COL_SHA: usize = 15;
    const COL_NOTES: usize = 18;
    const COL_TESTER: usize = 19;

    fn header() -> Vec<String> {
        COLUMNS.iter().map(|(n, _)| n.to_string()).collect()
    }

    fn row(pick: u64, item: &str, result: &str, notes: &str) -> Vec<String> {
        let mut cells = vec![String::new(); COLUMNS.len()];
        cells[COL_REF] = pick.to_string();
        cells[COL_ORIGIN] = "o".into();
        cells[COL_ITEM] = item.into();
        cells[COL_SHA] = format!("{pick:064x}");
        cells[COL_RESULT] = result.into();
        cells[COL_NOTES] = notes.into();
        cells[COL_TESTER] = "aud".into();
        cells
    }

    fn expected() -> Vec<ExpectedRow> {
        ["a", "b", "c"]
            .iter()
            .enumerate()
            .map(|(i, id)| ExpectedRow {
                pick: i as u64 + 1,
                origin: "o".into(),
                item_id: (*id).into(),
                sha256: format!("{:064x}", i + 1),
            })
            .collect()
    }

    fn check(rows: Vec<Vec<String>>) -> Result<Vec<Imported>, Vec<String>> {
        let table = Table {
            header: header(),
            rows: rows
                .into_iter()
                .enumerate()
                .map(|(i, r)| (i + 2, r))
                .collect(),
            ..Table::default()
        };
        validate(&table, "prs", &expected())
    }

    #[test]
    fn a_formula_in_a_column_the_import_reads_is_refused_whatever_its_cached_value() {
        let rows = vec![
            row(1, "a", "pass", ""),
            row(2, "b", "pass", ""),
            row(3, "c", "pass", ""),
        ];
        let mut table = Table {
            header: header(),
            rows: rows
                .into_iter()
                .enumerate()
                .map(|(i, r)| (i + 2, r))
                .collect(),
            ..Table::default()
        };
        assert!(validate(&table, "prs", &expected()).is_ok());
        table.formulas = vec![
            (2, COL_RESULT, "IF(TRUE,\"deviation\",\"pass\")".to_owned()),
            // A formula in a column the import does not read (Title) is left alone.
            (3, 7, "UPPER(\"x\")".to_owned()),
        ];
        table.finding_formulas = vec![(FINDING_LABEL.to_owned(), "B1".to_owned())];
        let problems = validate(&table, "prs", &expected()).unwrap_err();
        assert_eq!(
            problems,
            vec![
                "row 2, column R (Result): holds the formula =IF(TRUE,\"deviation\",\"pass\"); type the value itself (a formula's saved value is not trusted)".to_owned(),
                format!("sheet {RECORD_SHEET:?}, {FINDING_LABEL}: holds the formula =B1; type the value itself (a formula's saved value is not trusted)"),
            ]
        );
    }

    #[test]
    fn a_complete_workpaper_imports_in_pick_order() {
        let got = check(vec![
            row(3, "c", "Not testable", "artefact missing"),
            row(1, "a", "pass", ""),
            row(2, "b", "deviation", "approved after merge"),
        ])
        .unwrap();
        let results: Vec<TestResult> = got.iter().map(|i| i.result).collect();
        assert_eq!(
            results,
            [
                TestResult::Pass,
                TestResult::Deviation,
                TestResult::NotTestable
            ]
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_row_and_column() {
        let problems = check(vec![
            row(1, "a", "passed", ""),
            row(1, "a", "pass", ""),
            row(9, "zz", "pass", ""),
            row(2, "b", "deviation", ""),
        ])
        .unwrap_err();
        let all = problems.join("\n");
        assert!(
            all.contains(
                "row 2, column R (Result): \"passed\" is not one of pass, deviation, not testable"
            ),
            "{all}"
        );
        assert!(
            all.contains("row 3, column F (Item ID): item a appears again (first at row 2)"),
            "{all}"
        );
        assert!(all.contains("row 4, column F (Item ID): item zz of origin o is not in the sample of population prs"), "{all}");
        assert!(
            all.contains("row 5, column S (Notes): a result of \"deviation\" needs a note"),
            "{all}"
        );
        assert!(
            all.contains("pick 3 (item c of origin o) has no row"),
            "{all}"
        );
    }

    #[test]
    fn an_empty_result_and_a_changed_hash_are_refused() {
        let mut changed = row(2, "b", "pass", "");
        changed[COL_SHA] = "0".repeat(64);
        let problems =
            check(vec![row(1, "a", "", ""), changed, row(3, "c", "pass", "")]).unwrap_err();
        let all = problems.join("\n");
        assert!(all.contains("row 2, column R (Result): empty"), "{all}");
        assert!(
            all.contains("row 3, column P (SHA-256): does not match"),
            "{all}"
        );
    }

    #[test]
    fn a_header_without_the_key_columns_is_refused() {
        let table = Table {
            header: vec!["Ref".into(), "Result".into()],
            ..Table::default()
        };
        let problems = validate(&table, "p", &expected()).unwrap_err();
        assert!(
            problems[0].contains("lacks the column(s) Origin, Item ID"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn column_letters_follow_spreadsheet_naming() {
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(17), "R");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
        assert_eq!(column_letter(27), "AB");
    }

    #[test]
    fn attributes_and_actors_render_for_a_tester() {
        assert_eq!(
            attributes_text(r#"{"approvers":["alice"],"stale_approval":true,"title":"x"}"#),
            r#"approvers: ["alice"]; stale_approval: true; title: x"#
        );
        assert_eq!(
            actors_text(
                r#"[{"role":"approver","name":"a"},{"role":"approver","name":"b"},{"role":"author","name":"c"}]"#
            ),
            "approver: a, b; author: c"
        );
    }
}
