//! Writing documents the engagement produces (records, manifests, workpapers): whole-file
//! replacement through a temporary file, fsync and rename, so a reader never sees half a
//! document; and the cell escaping every CSV the product writes goes through.

use std::borrow::Cow;
use std::path::Path;

use super::{EngagementError, Result};

/// Write `bytes` to `path` durably, replacing what was there.
pub fn write_document(path: &Path, bytes: &[u8]) -> Result<()> {
    evidence_archive::durable::write_replace(path, bytes).map_err(|source| EngagementError::Io {
        path: path.to_owned(),
        source,
    })
}

/// The characters that make a spreadsheet read a CSV cell as a formula (OWASP, "CSV Injection").
const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A cell as written to a CSV file: one that starts with `=`, `+`, `-`, `@`, a tab or a carriage
/// return gets a leading `'`, so a spreadsheet shows it as text instead of evaluating it (an
/// auditee-controlled title such as `=cmd|' /C calc'!A0` must not run on the auditor's machine).
pub fn csv_cell(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(FORMULA_TRIGGERS) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// The inverse of [`csv_cell`] for a cell read back from a CSV file the product wrote.
pub fn csv_cell_read(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_TRIGGERS) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_a_spreadsheet_would_evaluate_are_escaped_and_read_back() {
        for hostile in [
            "=cmd|' /C calc'!A0",
            "+1+1",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            let written = csv_cell(hostile);
            assert!(written.starts_with('\''), "{hostile:?} → {written:?}");
            assert_eq!(csv_cell_read(&written), hostile);
        }
        for plain in ["pass", "PR #12: fix", "", "a=b", "'quoted"] {
            assert_eq!(csv_cell(plain), plain);
            assert_eq!(csv_cell_read(plain), plain);
        }
    }
}
