//! Read the OSCAL export's facts from an engagement (the IO edge of `oscal`).

use std::collections::BTreeMap;

use jiff::civil::Date;
use rusqlite::params;

use super::{ItemLocation, OscalFacts, PopulationFacts};
use crate::engagement::Result;
use crate::engagement::db::Engagement;
use crate::engagement::improvement::EvidenceRef;

impl Engagement {
    /// The engagement's identity: the time its file was created, as recorded then.
    pub fn identity(&self) -> Result<String> {
        self.conn
            .query_row(
                "SELECT value FROM engagement WHERE key = 'created_at'",
                [],
                |r| r.get(0),
            )
            .map_err(self.db())
    }

    /// The bundle and artefact path of item `item_id` of `origin`.
    fn item_location(&self, origin: &str, item_id: &str) -> Result<Option<ItemLocation>> {
        use rusqlite::OptionalExtension;
        self.conn
            .query_row(
                "SELECT d.bundle_seq, d.artefact_path FROM items JOIN item_details d ON d.id = items.id
                  WHERE items.origin = ?1 AND items.item_id = ?2",
                params![origin, item_id],
                |r| {
                    Ok(ItemLocation {
                        bundle_seq: r.get(0)?,
                        artefact_path: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(self.db())
    }
}

/// Everything the OSCAL documents are built from, open actions read on `as_of`.
pub fn facts(e: &Engagement, as_of: Date) -> Result<OscalFacts> {
    let findings = e.findings()?;
    let actions = e.actions()?;
    let mut items = BTreeMap::new();
    let evidence = findings.iter().flat_map(|f| f.evidence.iter()).chain(
        actions
            .iter()
            .flat_map(|a| a.reviews.iter().map(|r| &r.evidence)),
    );
    for ev in evidence {
        if let EvidenceRef::Item {
            item_id, origin, ..
        } = ev
            && let Some(l) = e.item_location(origin, item_id)?
        {
            items.insert((origin.clone(), item_id.clone()), l);
        }
    }
    let mut populations = Vec::new();
    for p in e.populations()? {
        if let Some(c) = e.conclusion(&p.name)? {
            populations.push(PopulationFacts {
                name: p.name.clone(),
                definition: p.definition.describe(),
                size: p.frozen.as_ref().map_or(0, |f| f.size),
                evaluation: c.evaluation.evaluation.clone(),
                tally: c.evaluation.tally,
            });
        }
    }
    let last_modified = findings
        .iter()
        .map(|f| f.recorded_at)
        .chain(actions.iter().map(|a| a.created_at))
        .chain(
            actions
                .iter()
                .flat_map(|a| a.reviews.iter().map(|r| r.recorded_at)),
        )
        .max();
    let identity = e.identity()?;
    Ok(OscalFacts {
        last_modified: last_modified.map_or_else(|| identity.clone(), |t| t.to_string()),
        engagement_id: identity,
        audits: e.audits()?,
        findings,
        actions,
        items,
        populations,
        as_of,
    })
}
