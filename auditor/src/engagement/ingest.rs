//! Ingest: verify an archive directory and load its item metadata, completeness records and
//! chain position into the engagement, in one transaction. A failing archive stores nothing. Per
//! origin the engagement remembers the last run ingested and its checkpoint; a later ingest of
//! the same origin appends the runs after it, and is refused when the bundle at that run no
//! longer carries the recorded checkpoint (a forked or rewritten history).

use std::collections::HashMap;
use std::path::Path;

use evidence_archive::run_record::RunRecord;
use evidence_archive::verify::{BundleVisitor, Severity, verify_archive};
use evidence_model::{GapRecord, ItemMeta, PopulationRecord, Timestamp};
use rusqlite::{Statement, Transaction, params};
use serde::Serialize;

use super::db::Engagement;
use super::population::actor_key;
use super::{EngagementError, Result};

/// What an ingest did.
#[derive(Debug, Clone, Serialize)]
pub struct IngestOutcome {
    pub archive: String,
    pub origin: String,
    /// First and last run loaded by this ingest (none when nothing was new).
    pub from_run: Option<u64>,
    pub to_run: Option<u64>,
    /// The last run of the origin the engagement held before.
    pub previous_run: Option<u64>,
    /// The checkpoint of the last run now ingested.
    pub checkpoint: String,
    pub items_added: u64,
    /// Items whose id the engagement already held for this origin (sealed again by a later run).
    pub items_already_held: u64,
    pub gaps: u64,
    /// Items of the engagement, all origins, after the ingest.
    pub items_total: u64,
}

/// The facts of one item row, converted as it streams.
struct ItemFacts {
    leaf_index: u64,
    meta: ItemMeta,
}

#[derive(Default)]
struct Pending {
    seq: u64,
    items: Vec<ItemFacts>,
    populations: Vec<PopulationRecord>,
    gaps: Vec<GapRecord>,
}

/// Receives records while the archive is verified; buffers one bundle at a time (its origin is
/// known from the run record at the bundle's end) and writes it inside the open transaction.
struct Loader<'t> {
    known: HashMap<String, u64>,
    pending: Pending,
    insert_item: Statement<'t>,
    insert_population: Statement<'t>,
    insert_gap: Statement<'t>,
    error: Option<rusqlite::Error>,
    added: u64,
    already: u64,
    gaps: u64,
    loaded_runs: Vec<u64>,
    origins: Vec<String>,
}

impl Loader<'_> {
    fn take_pending(&mut self, seq: u64) -> Pending {
        if self.pending.seq != seq {
            // Records of a bundle without a run record: that bundle fails verification anyway.
            self.pending = Pending {
                seq,
                ..Pending::default()
            };
        }
        std::mem::take(&mut self.pending)
    }

    fn flush(&mut self, run: &RunRecord) -> rusqlite::Result<()> {
        let pending = self.take_pending(run.seq);
        if !self.origins.contains(&run.origin) {
            self.origins.push(run.origin.clone());
        }
        if self
            .known
            .get(&run.origin)
            .is_some_and(|last| run.seq <= *last)
        {
            return Ok(());
        }
        self.loaded_runs.push(run.seq);
        let origin = run.origin.as_str();
        for f in &pending.items {
            let m = &f.meta;
            let mut controls: Vec<&str> = m.controls.iter().map(|c| c.as_str()).collect();
            controls.sort_unstable();
            controls.dedup();
            let mut clauses: Vec<&str> = m.clauses.iter().map(|c| c.as_str()).collect();
            clauses.sort_unstable();
            clauses.dedup();
            let key = actor_key(m.actors.iter().map(|a| (a.role.as_str(), a.name.as_str())));
            let period = m.times.period.as_ref();
            let changed = self.insert_item.execute(params![
                m.id.as_str(),
                origin,
                run.seq,
                f.leaf_index,
                m.kind.as_str(),
                m.title,
                m.phase.as_str(),
                m.source.name.as_str(),
                m.source.connector,
                m.source.reference,
                m.source.url,
                m.times.source.map(|t| t.as_second()),
                m.times.source.map(|t| t.to_string()),
                period.and_then(|p| p.start).map(|t| t.to_string()),
                period.and_then(|p| p.end).map(|t| t.to_string()),
                m.times.collected.to_string(),
                m.artefact.path,
                m.artefact.sha256.to_hex(),
                m.artefact.size,
                m.artefact.media_type,
                controls.join(" "),
                clauses.join(" "),
                key,
                serde_json::to_string(&m.actors).unwrap_or_default(),
                serde_json::to_string(&m.attributes).unwrap_or_default(),
            ])?;
            if changed == 0 {
                self.already += 1;
            } else {
                self.added += 1;
            }
        }
        for p in &pending.populations {
            self.insert_population.execute(params![
                origin,
                run.seq,
                p.source.as_str(),
                p.scope,
                p.kind.as_ref().map(|k| k.as_str()),
                p.items_seen,
                p.complete,
                serde_json::to_string(p).unwrap_or_default(),
            ])?;
        }
        for g in &pending.gaps {
            self.gaps += 1;
            let category = serde_json::to_value(g.category)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            self.insert_gap.execute(params![
                origin,
                run.seq,
                g.source.as_str(),
                g.scope,
                category,
                g.message,
                g.occurred_at.to_string(),
            ])?;
        }
        Ok(())
    }
}

impl BundleVisitor for Loader<'_> {
    fn item(&mut self, bundle_seq: u64, leaf_index: u64, meta: &ItemMeta) {
        if self.pending.seq != bundle_seq {
            self.pending = Pending {
                seq: bundle_seq,
                ..Pending::default()
            };
        }
        self.pending.items.push(ItemFacts {
            leaf_index,
            meta: meta.clone(),
        });
    }

    fn population(&mut self, bundle_seq: u64, record: &PopulationRecord) {
        if self.pending.seq != bundle_seq {
            self.pending = Pending {
                seq: bundle_seq,
                ..Pending::default()
            };
        }
        self.pending.populations.push(record.clone());
    }

    fn gap(&mut self, bundle_seq: u64, record: &GapRecord) {
        if self.pending.seq != bundle_seq {
            self.pending = Pending {
                seq: bundle_seq,
                ..Pending::default()
            };
        }
        self.pending.gaps.push(record.clone());
    }

    fn run(&mut self, record: &RunRecord) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.flush(record) {
            self.error = Some(e);
        }
    }
}

const INSERT_ITEM: &str = "INSERT OR IGNORE INTO items (item_id, origin, bundle_seq, leaf_index, \
    kind, title, phase, source_name, connector, reference, url, source_time, source_time_text, \
    period_start, period_end, collected, artefact_path, sha256, size, media_type, controls, \
    clauses, actor_key, actors, attributes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, \
    ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)";

/// Verify `archive` and load what is new into the engagement.
pub fn ingest(e: &mut Engagement, archive: &Path, now: Timestamp) -> Result<IngestOutcome> {
    let archive_text = archive.display().to_string();
    let meta = std::fs::metadata(archive).map_err(|source| EngagementError::Io {
        path: archive.to_owned(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(EngagementError::Invalid(format!(
            "{archive_text} is not an archive directory; ingest takes the directory of run-NNNNNN.zip bundles"
        )));
    }
    let known: HashMap<String, (u64, String)> = e
        .origins()?
        .into_iter()
        .map(|(o, s, c)| (o, (s, c)))
        .collect();
    let path = e.path().to_owned();
    let db = |source| EngagementError::Db {
        path: path.clone(),
        source,
    };
    e.conn
        .execute_batch("PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536;")
        .map_err(db)?;
    let tx: Transaction<'_> = e.conn.transaction().map_err(db)?;
    let (report, loaded) = {
        let mut loader = Loader {
            known: known.iter().map(|(o, (s, _))| (o.clone(), *s)).collect(),
            pending: Pending::default(),
            insert_item: tx.prepare(INSERT_ITEM).map_err(db)?,
            insert_population: tx
                .prepare(
                    "INSERT INTO source_populations (origin, bundle_seq, source, scope, kind, items_seen, complete, record)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(db)?,
            insert_gap: tx
                .prepare(
                    "INSERT INTO gaps (origin, bundle_seq, source, scope, category, message, occurred_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(db)?,
            error: None,
            added: 0,
            already: 0,
            gaps: 0,
            loaded_runs: Vec::new(),
            origins: Vec::new(),
        };
        let report = verify_archive(archive, &mut loader);
        if let Some(err) = loader.error.take() {
            return Err(db(err));
        }
        let loaded = (
            loader.added,
            loader.already,
            loader.gaps,
            loader.loaded_runs.clone(),
        );
        (report, loaded)
    };
    if !report.valid {
        let errors = report
            .all_problems()
            .filter(|p| p.severity == Severity::Error)
            .count();
        return Err(EngagementError::Verification {
            path: archive_text,
            errors,
            report: Box::new(report),
        });
    }
    let (added, already, gaps, runs) = loaded;
    let origin = report
        .origin
        .clone()
        .ok_or_else(|| EngagementError::Invalid(format!("{archive_text} names no origin")))?;
    let summaries: Vec<_> = report
        .bundles
        .iter()
        .filter_map(|b| b.summary.as_ref())
        .collect();
    let last = summaries
        .iter()
        .max_by_key(|s| s.seq)
        .ok_or_else(|| EngagementError::Invalid(format!("{archive_text} holds no bundle")))?;
    let previous = known.get(&origin);
    if let Some((last_seq, checkpoint)) = previous {
        match summaries.iter().find(|s| s.seq == *last_seq) {
            None => {
                return Err(EngagementError::Fork(format!(
                    "{archive_text} ends at run {} of origin {origin}, but the engagement already holds run {last_seq}: a truncated or rewritten history is refused; nothing was ingested",
                    last.seq
                )));
            }
            Some(s) if s.checkpoint != *checkpoint => {
                return Err(EngagementError::Fork(format!(
                    "run {last_seq} of origin {origin} in {archive_text} does not carry the checkpoint the engagement ingested ({}); a forked or rewritten history is refused; nothing was ingested",
                    checkpoint.lines().nth(2).unwrap_or("?")
                )));
            }
            Some(_) => {}
        }
    }
    let now_text = now.to_string();
    let from_run = runs.iter().min().copied();
    let to_run = runs.iter().max().copied();
    if let (Some(from), Some(to)) = (from_run, to_run) {
        let mut st = tx
            .prepare(
                "INSERT INTO bundles (origin, seq, checkpoint, collected_at, items, gaps) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(db)?;
        for s in summaries.iter().filter(|s| s.seq >= from) {
            st.execute(params![
                origin,
                s.seq,
                s.checkpoint,
                s.collected_at.to_string(),
                s.items,
                s.gaps
            ])
            .map_err(db)?;
        }
        tx.execute(
            "INSERT INTO origins (origin, last_seq, checkpoint, archive, first_ingested_at, last_ingested_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)
             ON CONFLICT (origin) DO UPDATE SET last_seq = ?2, checkpoint = ?3, archive = ?4, last_ingested_at = ?5",
            params![origin, to, last.checkpoint, archive_text, now_text],
        )
        .map_err(db)?;
        tx.execute(
            "INSERT INTO ingests (origin, archive, from_seq, to_seq, checkpoint, items_added, items_already_held, ingested_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![origin, archive_text, from, to, last.checkpoint, added, already, now_text],
        )
        .map_err(db)?;
    }
    tx.commit().map_err(db)?;
    e.conn
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA synchronous = FULL;")
        .map_err(db)?;
    let items_total = e.item_counts()?.0;
    Ok(IngestOutcome {
        archive: archive_text,
        origin,
        from_run,
        to_run,
        previous_run: previous.map(|(s, _)| *s),
        checkpoint: last.checkpoint.clone(),
        items_added: added,
        items_already_held: already,
        gaps,
        items_total,
    })
}
