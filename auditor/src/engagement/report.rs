//! What the engagement reports: the coverage matrix of the certification cycle (which Annex A
//! controls each audit sampled) and the sampling record document, one per population, that the
//! standards ask for (ISA 530, ISA 230, ISO 19011 A.6). Pure: built from values read elsewhere.

use std::collections::BTreeMap;

use serde::Serialize;

/// A control × audit matrix: cell = sampled items evidencing the control in that audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// Audit ids, in cycle order.
    pub audits: Vec<String>,
    pub rows: Vec<CoverageRow>,
    /// Controls no audit of the cycle has sampled yet.
    pub not_covered: Vec<String>,
}

/// One control's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoverageRow {
    pub control: String,
    pub title: String,
    /// Per audit, in the order of `Coverage::audits`.
    pub sampled_items: Vec<u64>,
}

/// Build the matrix. `controls` lists every control of the catalogue (id, title) in catalogue
/// order; `sampled` gives, per sampled item, its audit and its space-separated controls.
pub fn coverage(
    audits: &[String],
    controls: &[(String, String)],
    sampled: &[(String, String)],
) -> Coverage {
    let column: BTreeMap<&str, usize> = audits
        .iter()
        .enumerate()
        .map(|(i, a)| (a.as_str(), i))
        .collect();
    let mut counts: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for (audit, item_controls) in sampled {
        let Some(&col) = column.get(audit.as_str()) else {
            continue;
        };
        for c in item_controls.split_whitespace() {
            counts.entry(c).or_insert_with(|| vec![0; audits.len()])[col] += 1;
        }
    }
    let rows: Vec<CoverageRow> = controls
        .iter()
        .map(|(id, title)| CoverageRow {
            control: id.clone(),
            title: title.clone(),
            sampled_items: counts
                .get(id.as_str())
                .cloned()
                .unwrap_or_else(|| vec![0; audits.len()]),
        })
        .collect();
    let not_covered = rows
        .iter()
        .filter(|r| r.sampled_items.iter().all(|n| *n == 0))
        .map(|r| r.control.clone())
        .collect();
    Coverage {
        audits: audits.to_vec(),
        rows,
        not_covered,
    }
}

/// The schema tag of the exported record document.
pub const RECORD_SCHEMA: &str = "evidence-sampling-record/1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_counts_sampled_items_per_control_and_audit_and_lists_gaps() {
        let audits = vec!["stage2".to_owned(), "surv1".to_owned()];
        let controls = vec![
            ("A.2.2".to_owned(), "AI policy".to_owned()),
            ("A.6.2.4".to_owned(), "V&V".to_owned()),
            ("A.8.4".to_owned(), "Incidents".to_owned()),
        ];
        let sampled = vec![
            ("stage2".to_owned(), "A.2.2".to_owned()),
            ("stage2".to_owned(), "A.2.2 A.6.2.4".to_owned()),
            ("surv1".to_owned(), "A.6.2.4".to_owned()),
            ("unknown".to_owned(), "A.8.4".to_owned()),
        ];
        let m = coverage(&audits, &controls, &sampled);
        assert_eq!(m.rows[0].sampled_items, [2, 0]);
        assert_eq!(m.rows[1].sampled_items, [1, 1]);
        assert_eq!(m.rows[2].sampled_items, [0, 0]);
        assert_eq!(m.not_covered, ["A.8.4"]);
    }
}
