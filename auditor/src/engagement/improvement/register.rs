//! The finding and corrective-action registers as spreadsheets (XLSX, or CSV escaped against
//! formula injection), and the strict import of a filled action register: every problem is
//! listed with its row and column, and nothing is stored unless there is none.

use std::path::Path;

use calamine::{Reader, Xlsx, open_workbook};
use evidence_model::Timestamp;
use jiff::civil::Date;
use rust_xlsxwriter::{Format, Workbook};

use super::store::{FindingRequest, ReviewRequest};
use super::{ActionRecord, FindingRecord, utc_date};
use crate::engagement::db::Engagement;
use crate::engagement::export::{csv_cell, write_document};
use crate::engagement::workpaper::{Table, WorkpaperFormat, column_letter, read_csv, read_sheet};
use crate::engagement::{EngagementError, Result};

/// Which register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Register {
    Findings,
    Actions,
}

impl Register {
    fn sheet(self) -> &'static str {
        match self {
            Self::Findings => "Findings",
            Self::Actions => "Corrective actions",
        }
    }
}

const FINDING_COLUMNS: [&str; 10] = [
    "Finding",
    "Audit",
    "Category",
    "Requirements",
    "Statement",
    "Evidence",
    "Recorded by",
    "Recorded at",
    "Action",
    "Action status",
];

/// The action register's columns; those marked editable are read back by the import.
const ACTION_COLUMNS: [(&str, bool); 15] = [
    ("Action", false),
    ("Finding", false),
    ("Category", false),
    ("Requirements", false),
    ("Correction", true),
    ("Root cause", true),
    ("Corrective action", true),
    ("Owner", true),
    ("Due", true),
    ("Status", false),
    ("Age (days)", false),
    ("Evidence of implementation", true),
    ("Effectiveness review date", true),
    ("Effectiveness conclusion", true),
    ("Effective", true),
];

fn finding_rows(
    findings: &[FindingRecord],
    actions: &[ActionRecord],
    today: Date,
) -> Vec<Vec<String>> {
    findings
        .iter()
        .map(|f| {
            let action = actions.iter().find(|a| a.finding == f.id);
            vec![
                f.id.clone(),
                f.audit.clone(),
                f.category.label().to_owned(),
                f.requirements.join(" "),
                f.statement.clone(),
                f.evidence
                    .iter()
                    .map(super::EvidenceRef::describe)
                    .collect::<Vec<_>>()
                    .join("\n"),
                f.recorded_by.clone().unwrap_or_default(),
                f.recorded_at.to_string(),
                action.map(|a| a.id.clone()).unwrap_or_default(),
                match action {
                    Some(a) => a.status(today).label().to_owned(),
                    None if f.needs_action() => "no action planned".to_owned(),
                    None => String::new(),
                },
            ]
        })
        .collect()
}

fn action_rows(
    findings: &[FindingRecord],
    actions: &[ActionRecord],
    today: Date,
) -> Vec<Vec<String>> {
    actions
        .iter()
        .map(|a| {
            let f = findings.iter().find(|f| f.id == a.finding);
            let last = a.closing_review().or(a.reviews.last());
            let evidence = last.map(|r| match &r.evidence {
                super::EvidenceRef::Item {
                    item_id, origin, ..
                } => format!("{item_id}@{origin}"),
                other => other.describe(),
            });
            vec![
                a.id.clone(),
                a.finding.clone(),
                f.map(|f| f.category.label().to_owned()).unwrap_or_default(),
                f.map(|f| f.requirements.join(" ")).unwrap_or_default(),
                a.correction.clone(),
                a.root_cause.clone(),
                a.action.clone(),
                a.owner.clone(),
                a.due.to_string(),
                a.status(today).label().to_owned(),
                a.age_days(today).to_string(),
                evidence.unwrap_or_default(),
                last.map(|r| r.reviewed_on.to_string()).unwrap_or_default(),
                last.map(|r| r.conclusion.clone()).unwrap_or_default(),
                last.map(|r| if r.effective { "yes" } else { "no" }.to_owned())
                    .unwrap_or_default(),
            ]
        })
        .collect()
}

impl Engagement {
    /// Write `register` to `path` (`.xlsx` or `.csv`) as it stands on `today`.
    pub fn export_register(&self, register: Register, path: &Path, today: Date) -> Result<usize> {
        let (findings, actions) = (self.findings()?, self.actions()?);
        let (header, rows): (Vec<&str>, _) = match register {
            Register::Findings => (
                FINDING_COLUMNS.to_vec(),
                finding_rows(&findings, &actions, today),
            ),
            Register::Actions => (
                ACTION_COLUMNS.iter().map(|(c, _)| *c).collect(),
                action_rows(&findings, &actions, today),
            ),
        };
        let bytes = match WorkpaperFormat::of(path)? {
            WorkpaperFormat::Csv => csv_bytes(&header, &rows),
            WorkpaperFormat::Xlsx => {
                xlsx_bytes(register, &header, &rows).map_err(|e| EngagementError::Write {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?
            }
        };
        write_document(path, &bytes)?;
        Ok(rows.len())
    }

    /// Import a filled register (which one is told by its sheet or header). The action
    /// register: changed plans (correction, root cause, action, owner,
    /// due date) are updated and a new effectiveness review is recorded through the same rules
    /// as `action close`. Returns how many actions changed; nothing is stored on any problem.
    pub fn import_register(&self, path: &Path, now: Timestamp) -> Result<(Register, usize)> {
        let (register, table) = read_register(path)?;
        let changed = match register {
            Register::Actions => self.import_action_register(path, &table, now)?,
            Register::Findings => self.import_finding_register(path, &table, now)?,
        };
        Ok((register, changed))
    }

    fn import_action_register(&self, path: &Path, table: &Table, now: Timestamp) -> Result<usize> {
        let tx = self.immediate()?;
        let mut problems = header_problems(Register::Actions, &table.header);
        for (row, col, formula) in &table.formulas {
            if ACTION_COLUMNS
                .get(*col)
                .is_some_and(|(_, editable)| *editable)
            {
                problems.push(format!(
                    "row {row}, column {} ({}): a formula ({formula}) where a value is expected",
                    column_letter(*col),
                    ACTION_COLUMNS[*col].0
                ));
            }
        }
        if !problems.is_empty() {
            return Err(register_problems(path, problems));
        }
        let mut changed = 0;
        for (number, cells) in &table.rows {
            match self.import_action_row(cells, now) {
                Ok(true) => changed += 1,
                Ok(false) => {}
                Err(p) => problems.push(format!("row {number}: {p}")),
            }
        }
        if !problems.is_empty() {
            return Err(register_problems(path, problems));
        }
        tx.commit().map_err(self.db())?;
        Ok(changed)
    }

    /// Import a filled finding register: rows without a finding id are new findings, recorded
    /// through the same checks as `finding add`; a row with an id must match the record (a
    /// recorded finding is never edited). Returns how many findings were added.
    fn import_finding_register(&self, path: &Path, table: &Table, now: Timestamp) -> Result<usize> {
        let tx = self.immediate()?;
        let mut problems = header_problems(Register::Findings, &table.header);
        for (row, col, formula) in &table.formulas {
            if *col < 8 {
                problems.push(format!(
                    "row {row}, column {} ({}): a formula ({formula}) where a value is expected",
                    column_letter(*col),
                    FINDING_COLUMNS[*col]
                ));
            }
        }
        if !problems.is_empty() {
            return Err(register_problems(path, problems));
        }
        let today = utc_date(now);
        let stored = finding_rows(&self.findings()?, &self.actions()?, today);
        let mut added = 0;
        for (number, cells) in &table.rows {
            let cell = |i: usize| cells.get(i).map_or("", |c| c.trim());
            if cell(0).is_empty() {
                match finding_request(cells)
                    .and_then(|r| self.add_finding_in_tx(&r, now).map_err(|e| e.to_string()))
                {
                    Ok(_) => added += 1,
                    Err(p) => problems.push(format!("row {number}: {p}")),
                }
                continue;
            }
            match stored.iter().find(|s| s[0] == cell(0)) {
                None => problems.push(format!(
                    "row {number}: finding {:?} does not exist",
                    cell(0)
                )),
                Some(s) => {
                    if let Some(c) = (1..8).find(|&c| s[c].trim() != cell(c)) {
                        problems.push(format!(
                            "row {number}, column {} ({}): finding {} says {:?} here but {:?} in the engagement; a recorded finding is not edited (record a new one)",
                            column_letter(c),
                            FINDING_COLUMNS[c],
                            cell(0),
                            cell(c),
                            s[c].trim()
                        ));
                    }
                }
            }
        }
        if !problems.is_empty() {
            return Err(register_problems(path, problems));
        }
        tx.commit().map_err(self.db())?;
        Ok(added)
    }

    /// Apply one row (inside the import's transaction); true when the action changed.
    fn import_action_row(
        &self,
        cells: &[String],
        now: Timestamp,
    ) -> std::result::Result<bool, String> {
        let cell = |i: usize| cells.get(i).map_or("", |c| c.trim());
        let id = cell(0);
        let stored = self.action(id).map_err(|e| e.to_string())?;
        if cell(1) != stored.finding {
            return Err(format!(
                "column B (Finding) says {:?} but action {id} is for finding {}; the finding of an action cannot change",
                cell(1),
                stored.finding
            ));
        }
        let due: Date = cell(8)
            .parse()
            .map_err(|_| format!("column I (Due): {:?} is not a date (2026-03-31)", cell(8)))?;
        let updated = ActionRecord {
            correction: cell(4).to_owned(),
            root_cause: cell(5).to_owned(),
            action: cell(6).to_owned(),
            owner: cell(7).to_owned(),
            due,
            ..stored.clone()
        };
        for (i, value) in [
            (4, &updated.correction),
            (5, &updated.root_cause),
            (6, &updated.action),
            (7, &updated.owner),
        ] {
            if value.is_empty() {
                return Err(format!(
                    "column {} ({}) must not be empty",
                    column_letter(i),
                    ACTION_COLUMNS[i].0
                ));
            }
        }
        let finding = self.finding(&stored.finding).map_err(|e| e.to_string())?;
        if updated.due < utc_date(finding.recorded_at) {
            return Err(format!(
                "column I (Due): {due} is before finding {} was recorded",
                finding.id
            ));
        }
        let review = review_cells(cell(11), cell(12), cell(13), cell(14))?;
        let mut changed = updated != stored;
        if changed {
            self.replace_action(&updated).map_err(|e| e.to_string())?;
        }
        if let Some(r) = review.filter(|r| !already_recorded(&stored, r)) {
            self.review_in_tx(id, &r, now).map_err(|e| e.to_string())?;
            changed = true;
        }
        Ok(changed)
    }
}

/// A new finding from a register row: audit, category, requirements (space-separated),
/// statement, evidence (one per line: `item ID[@ORIGIN]`, `population NAME`, `readiness ID`, or
/// the lines `register export` writes) and who records it.
fn finding_request(cells: &[String]) -> std::result::Result<FindingRequest, String> {
    let cell = |i: usize| cells.get(i).map_or("", |c| c.trim());
    let mut r = FindingRequest {
        audit: cell(1).to_owned(),
        category: cell(2).to_owned(),
        requirements: cell(3).split_whitespace().map(str::to_owned).collect(),
        statement: cell(4).to_owned(),
        recorded_by: Some(cell(6).to_owned()).filter(|b| !b.is_empty()),
        ..FindingRequest::default()
    };
    for line in cell(5).lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut words = line.split_whitespace();
        let kind = words.next().unwrap_or_default();
        let mut target = words.next().unwrap_or_default();
        if kind == "readiness" && target == "of" {
            target = words.next().unwrap_or_default();
        }
        let target = target.trim_end_matches([':', ',']).to_owned();
        match kind {
            "item" if !target.is_empty() => r.items.push(target),
            "population" if !target.is_empty() => r.populations.push(target),
            "readiness" if !target.is_empty() => r.readiness.push(target),
            _ => {
                return Err(format!(
                    "column F (Evidence): {line:?} is not `item ID`, `population NAME` or `readiness ID`"
                ));
            }
        }
    }
    Ok(r)
}

/// The review a row's four closure cells describe: none when all are empty, an error when only
/// some are filled.
fn review_cells(
    evidence: &str,
    date: &str,
    conclusion: &str,
    effective: &str,
) -> std::result::Result<Option<ReviewRequest>, String> {
    if [evidence, date, conclusion, effective]
        .iter()
        .all(|c| c.is_empty())
    {
        return Ok(None);
    }
    let missing: Vec<&str> = [
        (evidence, "L (Evidence of implementation)"),
        (date, "M (Effectiveness review date)"),
        (conclusion, "N (Effectiveness conclusion)"),
        (effective, "O (Effective)"),
    ]
    .iter()
    .filter(|(v, _)| v.is_empty())
    .map(|(_, c)| *c)
    .collect();
    if !missing.is_empty() {
        return Err(format!(
            "an effectiveness review needs every closure cell; empty: column {}",
            missing.join(", column ")
        ));
    }
    let reviewed_on: Date = date
        .parse()
        .map_err(|_| format!("column M (Effectiveness review date): {date:?} is not a date"))?;
    let effective = match effective.to_ascii_lowercase().as_str() {
        "yes" | "effective" => true,
        "no" | "not effective" => false,
        other => return Err(format!("column O (Effective): {other:?} is not yes or no")),
    };
    Ok(Some(ReviewRequest {
        evidence: evidence.to_owned(),
        reviewed_on,
        conclusion: conclusion.to_owned(),
        effective,
    }))
}

/// True when the action already holds this review (a re-import of an exported register).
fn already_recorded(a: &ActionRecord, r: &ReviewRequest) -> bool {
    a.reviews.iter().any(|have| {
        have.reviewed_on == r.reviewed_on
            && have.effective == r.effective
            && have.conclusion == r.conclusion.trim()
            && match &have.evidence {
                super::EvidenceRef::Item {
                    item_id, origin, ..
                } => r.evidence == *item_id || r.evidence == format!("{item_id}@{origin}"),
                super::EvidenceRef::Population { .. } | super::EvidenceRef::Readiness { .. } => {
                    false
                }
            }
    })
}

/// Read a filled register and tell which one it is: by its sheet (XLSX) or its header (CSV).
fn read_register(path: &Path) -> Result<(Register, Table)> {
    let table = match WorkpaperFormat::of(path)? {
        WorkpaperFormat::Csv => read_csv(path)?,
        WorkpaperFormat::Xlsx => {
            let mut wb: Xlsx<_> = open_workbook(path).map_err(|e| {
                register_problems(path, vec![format!("not a readable XLSX file: {e}")])
            })?;
            let sheet = [Register::Findings, Register::Actions]
                .into_iter()
                .find(|r| wb.sheet_names().iter().any(|n| n == r.sheet()))
                .ok_or_else(|| {
                    register_problems(
                        path,
                        vec![format!(
                            "no sheet {:?} or {:?}: not a register `register export` wrote",
                            Register::Findings.sheet(),
                            Register::Actions.sheet()
                        )],
                    )
                })?;
            return read_sheet(&mut wb, sheet.sheet())
                .map(|t| (sheet, t))
                .map_err(|m| register_problems(path, vec![m]));
        }
    };
    let have: Vec<&str> = table.header.iter().map(|h| h.trim()).collect();
    let register = if have == FINDING_COLUMNS {
        Register::Findings
    } else {
        Register::Actions
    };
    Ok((register, table))
}

fn header_problems(register: Register, header: &[String]) -> Vec<String> {
    let want: Vec<&str> = match register {
        Register::Findings => FINDING_COLUMNS.to_vec(),
        Register::Actions => ACTION_COLUMNS.iter().map(|(c, _)| *c).collect(),
    };
    let have: Vec<&str> = header.iter().map(|h| h.trim()).collect();
    if have == want {
        Vec::new()
    } else {
        vec![format!(
            "row 1: the header must be a register's columns as `register export` writes them, e.g. the action register's: {}",
            want.join(", ")
        )]
    }
}

fn register_problems(path: &Path, problems: Vec<String>) -> EngagementError {
    EngagementError::Register {
        path: path.to_owned(),
        problems,
    }
}

fn csv_bytes(header: &[&str], rows: &[Vec<String>]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = w.write_record(header);
    for row in rows {
        let _ = w.write_record(row.iter().map(|c| csv_cell(c).into_owned()));
    }
    w.into_inner().unwrap_or_default()
}

fn xlsx_bytes(
    register: Register,
    header: &[&str],
    rows: &[Vec<String>],
) -> std::result::Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold().set_background_color("#DDEBF7");
    let to_fill = Format::new().set_background_color("#FFF2CC");
    let ws = wb.add_worksheet();
    ws.set_name(register.sheet())?;
    for (c, name) in header.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *name, &bold)?;
        ws.set_column_width(c as u16, if c < 3 { 12 } else { 28 })?;
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, value) in row.iter().enumerate() {
            let editable = register == Register::Actions && ACTION_COLUMNS[c].1;
            if editable {
                ws.write_string_with_format(r as u32 + 1, c as u16, value.as_str(), &to_fill)?;
            } else {
                ws.write_string(r as u32 + 1, c as u16, value.as_str())?;
            }
        }
    }
    ws.set_freeze_panes(1, 0)?;
    wb.save_to_buffer()
}
