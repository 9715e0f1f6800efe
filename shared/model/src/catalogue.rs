//! The ISO/IEC 42001:2023 catalogue: Annex A controls, clauses 4–10, lifecycle phases and the
//! proposed mapping from evidence kinds to the controls and clauses they evidence. Embedded at
//! build time from `data/iso42001.json` (IDs and short titles only, no normative text).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;

use crate::ids::{ClauseId, ControlId, Kind, Phase};

const CATALOGUE_JSON: &str = include_str!("../data/iso42001.json");

/// An Annex A control.
#[derive(Debug, Clone, Deserialize)]
pub struct Control {
    pub id: String,
    pub title: String,
    pub group: String,
    pub group_title: String,
}

/// A clause of the management-system requirements (4–10).
#[derive(Debug, Clone, Deserialize)]
pub struct Clause {
    pub id: String,
    pub title: String,
    pub level: u8,
    /// False for headings that only group sub-clauses.
    pub assessable: bool,
    pub parent: Option<String>,
}

/// The default tagging of one evidence kind.
#[derive(Debug, Clone, Deserialize)]
pub struct KindMapping {
    pub kind: String,
    pub label: String,
    pub controls: Vec<String>,
    #[serde(default)]
    pub secondary_controls: Vec<String>,
    pub clauses: Vec<String>,
    pub phase: String,
    #[serde(default)]
    pub evidence_nature: Option<String>,
}

#[derive(Deserialize)]
struct Raw {
    standard: String,
    annex_a: Vec<Control>,
    clauses: Vec<Clause>,
    artefact_mapping: Vec<KindMapping>,
    artefact_mapping_extra_proposed: Vec<KindMapping>,
}

/// The control catalogue. Obtain it with [`Catalogue::iso42001`].
#[derive(Debug)]
pub struct Catalogue {
    standard: String,
    controls: BTreeMap<String, Control>,
    control_order: Vec<String>,
    clauses: BTreeMap<String, Clause>,
    kinds: BTreeMap<String, KindMapping>,
}

static ISO42001: LazyLock<Catalogue> = LazyLock::new(|| {
    let raw: Raw = serde_json::from_str(CATALOGUE_JSON)
        .expect("the embedded catalogue is valid JSON; a unit test parses it");
    let control_order = raw.annex_a.iter().map(|c| c.id.clone()).collect();
    Catalogue {
        standard: raw.standard,
        controls: raw.annex_a.into_iter().map(|c| (c.id.clone(), c)).collect(),
        control_order,
        clauses: raw.clauses.into_iter().map(|c| (c.id.clone(), c)).collect(),
        kinds: raw
            .artefact_mapping
            .into_iter()
            .chain(raw.artefact_mapping_extra_proposed)
            .map(|k| (k.kind.clone(), k))
            .collect(),
    }
});

impl Catalogue {
    /// The embedded ISO/IEC 42001:2023 catalogue.
    pub fn iso42001() -> &'static Catalogue {
        &ISO42001
    }

    /// Name of the standard, e.g. `ISO/IEC 42001:2023`.
    pub fn standard(&self) -> &str {
        &self.standard
    }

    /// The control with this id, if it exists.
    pub fn control(&self, id: &str) -> Option<&Control> {
        self.controls.get(id)
    }

    /// All Annex A controls in the standard's order.
    pub fn controls(&self) -> impl Iterator<Item = &Control> {
        self.control_order
            .iter()
            .filter_map(|id| self.controls.get(id))
    }

    /// The clause with this id, if it exists.
    pub fn clause(&self, id: &str) -> Option<&Clause> {
        self.clauses.get(id)
    }

    /// All clauses, in id order.
    pub fn clauses(&self) -> impl Iterator<Item = &Clause> {
        self.clauses.values()
    }

    /// The proposed default mapping for a kind, if the catalogue has one.
    pub fn kind(&self, kind: &str) -> Option<&KindMapping> {
        self.kinds.get(kind)
    }

    /// Every kind with a default mapping.
    pub fn kinds(&self) -> impl Iterator<Item = &KindMapping> {
        self.kinds.values()
    }

    /// Default primary controls, clauses and phase of a kind (empty and `None` when unmapped).
    pub fn defaults_for(&self, kind: &Kind) -> (Vec<ControlId>, Vec<ClauseId>, Option<Phase>) {
        let Some(m) = self.kind(kind.as_str()) else {
            return (Vec::new(), Vec::new(), None);
        };
        let controls = m.controls.iter().filter_map(|c| c.parse().ok()).collect();
        let clauses = m.clauses.iter().filter_map(|c| c.parse().ok()).collect();
        (controls, clauses, m.phase.parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_has_38_annex_a_controls_in_nine_groups() {
        let cat = Catalogue::iso42001();
        assert_eq!(cat.controls().count(), 38);
        let groups: std::collections::BTreeSet<_> = cat.controls().map(|c| &c.group).collect();
        assert_eq!(groups.len(), 9);
        assert_eq!(cat.standard(), "ISO/IEC 42001:2023");
    }

    #[test]
    fn every_mapped_control_clause_and_phase_exists() {
        let cat = Catalogue::iso42001();
        for k in cat.kinds() {
            for c in k.controls.iter().chain(&k.secondary_controls) {
                assert!(cat.control(c).is_some(), "{}: control {c}", k.kind);
            }
            for c in &k.clauses {
                assert!(cat.clause(c).is_some(), "{}: clause {c}", k.kind);
            }
            assert!(
                k.phase.parse::<Phase>().is_ok(),
                "{}: phase {}",
                k.kind,
                k.phase
            );
            assert!(k.kind.parse::<Kind>().is_ok());
        }
    }

    #[test]
    fn defaults_for_pr_approval_come_from_the_mapping() {
        let (controls, clauses, phase) =
            Catalogue::iso42001().defaults_for(&"pr_approval".parse().unwrap());
        let controls: Vec<_> = controls.iter().map(|c| c.as_str()).collect();
        assert_eq!(controls, ["A.6.1.3", "A.6.2.3"]);
        assert!(clauses.iter().any(|c| c.as_str() == "8.1"));
        assert_eq!(phase, Some(Phase::DesignDevelopment));
    }
}
