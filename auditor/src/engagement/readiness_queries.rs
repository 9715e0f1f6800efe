//! Read-only queries the readiness report runs over an engagement: the evidence grouped by
//! kind, source, tags and month (one pass over the items, memory bounded by the number of
//! groups, not of items), the agent's gaps, runs and population kinds, the checkpoints, and the
//! latest sealed Statement of Applicability.

use evidence_model::Timestamp;
use rusqlite::params;

use super::Result;
use super::db::Engagement;
use crate::readiness::compute::{CheckpointFact, EvidenceGroup, GapFact, ItemRef, RunFact};

/// The latest sealed SoA and where its bytes are.
#[derive(Debug, Clone)]
pub struct SoaLocation {
    pub item: ItemRef,
    /// `data/items/<id>/artefact/<name>` inside the bag.
    pub artefact_path: String,
    pub media_type: String,
    /// The archive its origin was last ingested from, as given then.
    pub archive: String,
}

/// An item's time: the source's own, else when it was collected.
const ITEM_TIME: &str = "coalesce(items.source_time, unixepoch(d.collected))";

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap_or(Timestamp::UNIX_EPOCH)
}

impl Engagement {
    /// The evidence at `as_of` grouped by kind, source, controls, clauses and month, each group
    /// with its newest item. One pass over the narrow `items` table (a detail row is read only
    /// for an item without a source time), then one lookup per group for its newest item.
    pub fn readiness_groups(&self, as_of: Timestamp) -> Result<Vec<EvidenceGroup>> {
        let sql = "SELECT kind, source_name, controls, clauses,
                    strftime('%Y-%m', t, 'unixepoch') AS m, count(*), id, max(t)
             FROM (SELECT kind, source_name, controls, clauses, id,
                          coalesce(source_time,
                                   (SELECT unixepoch(collected) FROM item_details d
                                    WHERE d.id = items.id)) AS t
                   FROM items)
             WHERE t <= ?1
             GROUP BY kind, source_name, controls, clauses, m
             ORDER BY kind, source_name, controls, clauses, m";
        let mut st = self.conn.prepare(sql).map_err(self.db())?;
        let rows = st
            .query_map([as_of.as_second()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, u64>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, i64>(7)?,
                ))
            })
            .map_err(self.db())?;
        let grouped = rows
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.db())?;
        let mut item = self
            .conn
            .prepare_cached(
                "SELECT items.item_id, items.origin, items.sha256, d.bundle_seq, d.title
                 FROM items JOIN item_details d ON d.id = items.id WHERE items.id = ?1",
            )
            .map_err(self.db())?;
        grouped
            .into_iter()
            .map(
                |(kind, source, controls, clauses, month, count, id, time)| {
                    let newest = item
                        .query_row([id], |r| {
                            Ok(ItemRef {
                                item_id: r.get(0)?,
                                origin: r.get(1)?,
                                sha256: hex::encode(r.get_ref(2)?.as_blob()?),
                                bundle_seq: r.get(3)?,
                                title: r.get(4)?,
                                time,
                                kind: kind.clone(),
                            })
                        })
                        .map_err(self.db())?;
                    Ok(EvidenceGroup {
                        kind,
                        source,
                        controls,
                        clauses,
                        month,
                        count,
                        newest,
                    })
                },
            )
            .collect()
    }

    /// (source, kind) of every population record that names a kind.
    pub fn readiness_source_kinds(&self) -> Result<Vec<(String, String)>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT DISTINCT source, kind FROM source_populations WHERE kind IS NOT NULL
                 ORDER BY source, kind",
            )
            .map_err(self.db())?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.db())?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.db())
    }

    /// Every gap record, oldest first.
    pub fn readiness_gaps(&self) -> Result<Vec<GapFact>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT origin, bundle_seq, source, scope, category, message, occurred_at FROM gaps
                 ORDER BY occurred_at, origin, bundle_seq, source, scope, message",
            )
            .map_err(self.db())?;
        let rows = st
            .query_map([], |r| {
                Ok(GapFact {
                    origin: r.get(0)?,
                    run: r.get(1)?,
                    source: r.get(2)?,
                    scope: r.get(3)?,
                    category: r.get(4)?,
                    message: r.get(5)?,
                    occurred_at: ts(&r.get::<_, String>(6)?),
                })
            })
            .map_err(self.db())?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.db())
    }

    /// Every ingested run, oldest first.
    pub fn readiness_runs(&self) -> Result<Vec<RunFact>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT origin, seq, collected_at, items, gaps FROM bundles
                 ORDER BY collected_at, origin, seq",
            )
            .map_err(self.db())?;
        let rows = st
            .query_map([], |r| {
                Ok(RunFact {
                    origin: r.get(0)?,
                    seq: r.get(1)?,
                    collected_at: ts(&r.get::<_, String>(2)?),
                    items: r.get(3)?,
                    gaps: r.get(4)?,
                })
            })
            .map_err(self.db())?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.db())
    }

    /// Per origin, the checkpoint of the last run ingested.
    pub fn readiness_checkpoints(&self) -> Result<Vec<CheckpointFact>> {
        Ok(self
            .origins()?
            .into_iter()
            .map(|(origin, run, text)| {
                let mut lines = text.lines();
                let _ = lines.next();
                CheckpointFact {
                    tree_size: lines.next().and_then(|l| l.parse().ok()).unwrap_or(0),
                    root: lines.next().unwrap_or("").to_owned(),
                    origin,
                    run,
                }
            })
            .collect())
    }

    /// Per origin, the archive it was last ingested from (as given then).
    pub fn readiness_archives(&self) -> Result<std::collections::BTreeMap<String, String>> {
        let mut st = self
            .conn
            .prepare("SELECT origin, archive FROM origins ORDER BY origin")
            .map_err(self.db())?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.db())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db())
    }

    /// The latest SoA sealed at or before `as_of` (by collection time, then run).
    pub fn readiness_latest_soa(&self, as_of: Timestamp) -> Result<Option<SoaLocation>> {
        let sql = format!(
            "SELECT items.item_id, items.origin, items.sha256, d.bundle_seq, d.title, {ITEM_TIME},
                    d.artefact_path, d.media_type, o.archive
             FROM items JOIN item_details d ON d.id = items.id
                        JOIN origins o ON o.origin = items.origin
             WHERE items.kind = 'statement_of_applicability' AND unixepoch(d.collected) <= ?1
             ORDER BY unixepoch(d.collected) DESC, d.bundle_seq DESC, d.leaf_index DESC
             LIMIT 1"
        );
        let mut st = self.conn.prepare(&sql).map_err(self.db())?;
        let mut rows = st
            .query_map(params![as_of.as_second()], |r| {
                Ok(SoaLocation {
                    item: ItemRef {
                        item_id: r.get(0)?,
                        origin: r.get(1)?,
                        sha256: hex::encode(r.get_ref(2)?.as_blob()?),
                        bundle_seq: r.get(3)?,
                        title: r.get(4)?,
                        time: r.get(5)?,
                        kind: "statement_of_applicability".to_owned(),
                    },
                    artefact_path: r.get(6)?,
                    media_type: r.get(7)?,
                    archive: r.get(8)?,
                })
            })
            .map_err(self.db())?;
        rows.next().transpose().map_err(self.db())
    }
}
