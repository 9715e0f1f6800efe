//! The Statement of Applicability as the organisation keeps it (CSV or XLSX), read strictly:
//! every problem is named by row and column as a spreadsheet shows them (row 1 is the header,
//! column A the first), and a file with any problem is refused whole, never half-read.
//!
//! Columns (header names are matched case-insensitively, in any order):
//!
//! | column | required | content |
//! |---|---|---|
//! | `control` | yes | an Annex A control id of the catalogue, e.g. `A.6.2.4`; each at most once |
//! | `applicable` | yes | `yes` or `no` (also `y`/`n`, `true`/`false`, `applicable`/`excluded`) |
//! | `justification` | yes | why the control is included or excluded; required for an applicable control, and an exclusion without one is a finding of its own |
//! | `implementation` | no | how it is implemented |
//! | `owner` | no | who owns it |
//! | `cadence` | no | the expected evidence cadence, overriding the evidence kinds' defaults (see `cadence`) |
//! | `title` | no | the control's title, for people; not checked |

use std::collections::BTreeMap;
use std::io::Cursor;

use evidence_model::Catalogue;
use serde::Serialize;

use super::cadence::Cadence;

/// One problem of an SoA file: where and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SoaProblem {
    /// 1-based row as a spreadsheet shows it (the header is row 1); 0 for the file as a whole.
    pub row: usize,
    /// Column letter (`A`, `B`, …) and header name, when the problem is about one cell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub message: String,
}

impl std::fmt::Display for SoaProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.row, &self.column) {
            (0, _) => write!(f, "{}", self.message),
            (r, Some(c)) => write!(f, "row {r}, column {c}: {}", self.message),
            (r, None) => write!(f, "row {r}: {}", self.message),
        }
    }
}

/// One row of a well-formed SoA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SoaRow {
    /// The row as a spreadsheet shows it.
    pub row: usize,
    pub control: String,
    pub applicable: bool,
    /// Empty only for an exclusion (which is then a finding).
    pub justification: String,
    pub implementation: String,
    pub owner: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cadence: Option<Cadence>,
}

/// A well-formed SoA: one row per control it lists, by control id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Soa {
    pub rows: BTreeMap<String, SoaRow>,
}

const REQUIRED: [&str; 3] = ["control", "applicable", "justification"];
const OPTIONAL: [&str; 4] = ["implementation", "owner", "cadence", "title"];

/// Column letters as a spreadsheet names them: 0 → `A`, 25 → `Z`, 26 → `AA`.
pub fn column_letter(index: usize) -> String {
    let mut n = index + 1;
    let mut out = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        out.push(b'A' + rem as u8);
        n = (n - 1) / 26;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Parse an SoA from its bytes; `xlsx` picks the format. Either every row reads, or every
/// problem found is returned.
pub fn parse(bytes: &[u8], xlsx: bool) -> Result<Soa, Vec<SoaProblem>> {
    let table = if xlsx {
        xlsx_table(bytes)?
    } else {
        csv_table(bytes)?
    };
    parse_table(&table)
}

/// A file's cells: (row number, cells), the header first.
type Table = Vec<(usize, Vec<String>)>;

fn whole(message: impl Into<String>) -> Vec<SoaProblem> {
    vec![SoaProblem {
        row: 0,
        column: None,
        message: message.into(),
    }]
}

fn csv_table(bytes: &[u8]) -> Result<Table, Vec<SoaProblem>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(whole(
            "the file is UTF-16; save it as CSV UTF-8 (comma delimited)",
        ));
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut table = Vec::new();
    let mut problems = Vec::new();
    let mut header: Vec<String> = Vec::new();
    for record in reader.byte_records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let row = e.position().map_or(0, |p| p.line() as usize);
                problems.push(SoaProblem {
                    row,
                    column: None,
                    message: format!("not readable as CSV: {e}"),
                });
                break;
            }
        };
        let row = record.position().map_or(0, |p| p.line() as usize);
        let mut cells = Vec::with_capacity(record.len());
        for (c, field) in record.iter().enumerate() {
            match std::str::from_utf8(field) {
                Ok(s) => cells.push(s.to_owned()),
                Err(e) => {
                    problems.push(SoaProblem {
                        row,
                        column: Some(column_name(c, &header)),
                        message: format!(
                            "not UTF-8 text (invalid byte at offset {} of the cell); save the file as CSV UTF-8",
                            e.valid_up_to()
                        ),
                    });
                    cells.push(String::new());
                }
            }
        }
        if table.is_empty() {
            header = cells.clone();
        }
        table.push((row, cells));
    }
    if problems.is_empty() {
        Ok(table)
    } else {
        Err(problems)
    }
}

fn xlsx_table(bytes: &[u8]) -> Result<Table, Vec<SoaProblem>> {
    use calamine::{Data, Reader, Xlsx};
    let mut wb = Xlsx::new(Cursor::new(bytes))
        .map_err(|e| whole(format!("not a readable XLSX file: {e}")))?;
    let Some(sheet) = wb.sheet_names().first().cloned() else {
        return Err(whole("the workbook has no sheet"));
    };
    let range = wb
        .worksheet_range(&sheet)
        .map_err(|e| whole(format!("sheet {sheet:?} is not readable: {e}")))?;
    let (top, left) = range.start().unwrap_or((0, 0));
    let mut table = Vec::new();
    for (i, row) in range.rows().enumerate() {
        let mut cells: Vec<String> = vec![String::new(); left as usize];
        cells.extend(row.iter().map(|d| match d {
            Data::Empty => String::new(),
            Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
            Data::Int(i) => i.to_string(),
            Data::Float(f) => f.to_string(),
            Data::Bool(true) => "yes".to_owned(),
            Data::Bool(false) => "no".to_owned(),
            Data::DateTime(d) => d.to_string(),
            Data::Error(e) => format!("#{e:?}"),
        }));
        table.push((top as usize + i + 1, cells));
    }
    Ok(table)
}

fn column_name(c: usize, header: &[String]) -> String {
    match header.get(c).map(|h| h.trim()).filter(|h| !h.is_empty()) {
        Some(h) => format!("{} ({h})", column_letter(c)),
        None => column_letter(c),
    }
}

fn parse_applicable(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "applicable" | "included" => Some(true),
        "no" | "n" | "false" | "excluded" | "not applicable" => Some(false),
        _ => None,
    }
}

fn parse_table(table: &Table) -> Result<Soa, Vec<SoaProblem>> {
    let mut problems = Vec::new();
    let Some((header_row, header)) = table.first() else {
        return Err(whole("the file is empty: it needs a header row"));
    };
    let mut columns: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (c, name) in header.iter().enumerate() {
        let key = name.trim().to_ascii_lowercase();
        if key.is_empty() {
            continue;
        }
        match REQUIRED.iter().chain(OPTIONAL.iter()).find(|k| **k == key) {
            Some(k) => {
                if let Some(first) = columns.insert(*k, c) {
                    problems.push(SoaProblem {
                        row: *header_row,
                        column: Some(column_name(c, header)),
                        message: format!(
                            "column {k:?} appears twice (also column {})",
                            column_letter(first)
                        ),
                    });
                }
            }
            None => problems.push(SoaProblem {
                row: *header_row,
                column: Some(column_name(c, header)),
                message: format!(
                    "unknown column {name:?}; the columns are {} (required) and {}",
                    REQUIRED.join(", "),
                    OPTIONAL.join(", ")
                ),
            }),
        }
    }
    for k in REQUIRED {
        if !columns.contains_key(k) {
            problems.push(SoaProblem {
                row: *header_row,
                column: None,
                message: format!("the required column {k:?} is missing"),
            });
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let cat = Catalogue::iso42001();
    let mut soa = Soa::default();
    for (row, cells) in table.iter().skip(1) {
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let cell = |k: &str| {
            columns
                .get(k)
                .and_then(|c| cells.get(*c))
                .map(|s| s.trim())
                .unwrap_or("")
        };
        let at = |k: &str| {
            columns
                .get(k)
                .map(|c| column_name(*c, header))
                .unwrap_or_default()
        };
        let mut bad = |k: &str, message: String| {
            problems.push(SoaProblem {
                row: *row,
                column: Some(at(k)),
                message,
            });
        };
        let control = cell("control");
        let control_ok = if control.is_empty() {
            bad("control", "no control id".into());
            false
        } else if cat.control(control).is_none() {
            bad(
                "control",
                format!("{control:?} is not an Annex A control of ISO/IEC 42001 (e.g. A.6.2.4)"),
            );
            false
        } else {
            true
        };
        let applicable = parse_applicable(cell("applicable"));
        if applicable.is_none() {
            bad(
                "applicable",
                format!("{:?} is not yes or no", cell("applicable")),
            );
        }
        let justification = cell("justification");
        if applicable == Some(true) && justification.is_empty() {
            bad(
                "justification",
                "no justification for including the control (required for both answers)".into(),
            );
        }
        let cadence = match cell("cadence") {
            "" => None,
            text => match text.parse::<Cadence>() {
                Ok(c) => Some(c),
                Err(e) => {
                    bad("cadence", e.to_string());
                    None
                }
            },
        };
        let (Some(applicable), true) = (applicable, control_ok) else {
            continue;
        };
        if let Some(first) = soa.rows.get(control) {
            let first_row = first.row;
            bad(
                "control",
                format!("duplicate row: {control} is already listed on row {first_row}"),
            );
            continue;
        }
        soa.rows.insert(
            control.to_owned(),
            SoaRow {
                row: *row,
                control: control.to_owned(),
                applicable,
                justification: justification.to_owned(),
                implementation: cell("implementation").to_owned(),
                owner: cell("owner").to_owned(),
                cadence,
            },
        );
    }
    if problems.is_empty() {
        Ok(soa)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters_follow_spreadsheets() {
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
        assert_eq!(column_letter(27), "AB");
    }

    #[test]
    fn a_well_formed_csv_reads_every_row() {
        let text = "\u{feff}Control,Title,Applicable,Justification,Implementation,Owner,Cadence\n\
            A.2.2,AI policy,yes,Required,Policy v2,CISO,yearly\n\
            A.10.3,Suppliers,no,No suppliers of AI components,,,\n\
            A.9.2,Use,no,,,,\n\n";
        let soa = parse(text.as_bytes(), false).unwrap();
        assert_eq!(soa.rows.len(), 3);
        let a22 = &soa.rows["A.2.2"];
        assert!(a22.applicable);
        assert_eq!(a22.owner, "CISO");
        assert_eq!(a22.cadence, Some("yearly".parse().unwrap()));
        assert_eq!(a22.row, 2);
        assert!(!soa.rows["A.10.3"].applicable);
        assert_eq!(soa.rows["A.9.2"].justification, "");
    }

    #[test]
    fn every_problem_is_named_by_row_and_column_and_nothing_is_half_read() {
        let text = "control,applicable,justification,cadence\n\
            A.2.2,yes,Required,\n\
            A.99.1,yes,x,\n\
            A.2.2,yes,again,\n\
            A.5.2,maybe,x,\n\
            A.6.2.4,yes,,\n\
            A.7.5,yes,x,sometimes\n";
        let problems = parse(text.as_bytes(), false).unwrap_err();
        let shown: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(shown.len(), 5, "{shown:#?}");
        assert!(shown[0].starts_with("row 3, column A (control): \"A.99.1\""));
        assert!(shown[1].starts_with("row 4, column A (control): duplicate row"));
        assert!(shown[1].contains("row 2"));
        assert!(shown[2].starts_with("row 5, column B (applicable)"));
        assert!(shown[3].starts_with("row 6, column C (justification)"));
        assert!(shown[4].starts_with("row 7, column D (cadence)"));
    }

    #[test]
    fn header_problems_and_encoding_are_refused() {
        let p = parse(b"control,applicable,justifcation\n", false).unwrap_err();
        assert!(
            p[0].to_string()
                .contains("column C (justifcation): unknown column")
        );
        assert!(p[1].to_string().contains("\"justification\" is missing"));
        let p = parse(
            b"control,applicable,justification\nA.2.2,yes,caf\xe9\n",
            false,
        )
        .unwrap_err();
        assert_eq!(p.len(), 1);
        assert!(
            p[0].to_string()
                .starts_with("row 2, column C (justification): not UTF-8"),
            "{}",
            p[0]
        );
        assert!(
            parse(b"\xff\xfec\x00", false).unwrap_err()[0]
                .message
                .contains("UTF-16")
        );
        assert!(parse(b"", false).is_err());
        assert!(parse(b"not a zip", true).is_err());
    }

    #[test]
    fn an_xlsx_soa_reads_like_the_csv() {
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet();
        for (c, h) in ["control", "applicable", "justification", "owner"]
            .iter()
            .enumerate()
        {
            ws.write_string(0, c as u16, *h).unwrap();
        }
        ws.write_string(1, 0, "A.2.2").unwrap();
        ws.write_boolean(1, 1, true).unwrap();
        ws.write_string(1, 2, "Required").unwrap();
        ws.write_string(2, 0, "A.3.3").unwrap();
        ws.write_string(2, 1, "perhaps").unwrap();
        let bytes = wb.save_to_buffer().unwrap();
        let p = parse(&bytes, true).unwrap_err();
        assert_eq!(p.len(), 1);
        assert_eq!(
            p[0].to_string(),
            "row 3, column B (applicable): \"perhaps\" is not yes or no"
        );
        let ws = wb.worksheet_from_index(0).unwrap();
        ws.write_string(2, 1, "no").unwrap();
        let soa = parse(&wb.save_to_buffer().unwrap(), true).unwrap();
        assert!(soa.rows["A.2.2"].applicable);
        assert!(!soa.rows["A.3.3"].applicable);
    }
}
