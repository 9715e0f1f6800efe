//! Ingest: verify an archive (any `BundleSource`: a local directory, an S3 folder) and load its item metadata, completeness records and
//! chain position into the engagement, in one transaction. A failing archive stores nothing. Per
//! origin the engagement remembers the last run ingested and its checkpoint; a later ingest of
//! the same origin appends the runs after it, and is refused when the bundle at that run no
//! longer carries the recorded checkpoint (a forked or rewritten history).
//!
//! Verification and database writes overlap: the verifier's visitor hands each verified
//! bundle's records to a writer thread that holds the one transaction, and commits it only when
//! the whole archive verified and its history continues what the engagement holds.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use evidence_archive::Checkpoint;
use evidence_archive::run_record::RunRecord;
use evidence_archive::verify::{
    ArchiveReport, BundleSource, BundleSummary, BundleVisitor, VerifyOptions, verify_source,
};
use evidence_model::{GapRecord, ItemMeta, PopulationRecord, Timestamp};
use rusqlite::{Connection, Statement, Transaction, params};
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
    /// The checkpoint of the last run now ingested (serialised as its text).
    pub checkpoint: Checkpoint,
    pub items_added: u64,
    /// Items whose id the engagement already held for this origin (sealed again by a later run).
    pub items_already_held: u64,
    pub gaps: u64,
    /// Items of the engagement, all origins, after the ingest.
    pub items_total: u64,
}

/// One item as the verifier handed it over.
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

/// A verified bundle's records, for the writer.
struct Batch {
    origin: String,
    seq: u64,
    records: Pending,
}

/// What the writer thread is told.
enum Msg {
    Batch(Batch),
    /// Verification and the chain checks passed: record these and commit.
    Commit(Box<Finish>),
}

/// The chain facts written with a successful ingest.
#[derive(Clone)]
struct Finish {
    origin: String,
    archive: String,
    now: String,
    from: u64,
    to: u64,
    checkpoint: Checkpoint,
    /// (seq, checkpoint, collected_at, items, gaps) of the new bundles.
    bundles: Vec<(u64, Checkpoint, String, u64, u64)>,
}

/// Counts the writer reports.
#[derive(Debug, Default, Clone, Copy)]
struct Written {
    added: u64,
    already: u64,
    gaps: u64,
}

/// Receives records while the archive is verified; buffers one bundle at a time (its origin is
/// known from the run record at the bundle's end) and hands new bundles to the writer thread,
/// so that verification and database writes overlap.
struct Loader {
    known: HashMap<String, u64>,
    pending: Pending,
    to_writer: SyncSender<Msg>,
    writer_gone: bool,
    loaded_runs: Vec<u64>,
}

impl Loader {
    fn pending_for(&mut self, seq: u64) -> &mut Pending {
        if self.pending.seq != seq {
            // Records of a bundle without a run record: that bundle fails verification anyway.
            self.pending = Pending {
                seq,
                ..Pending::default()
            };
        }
        &mut self.pending
    }
}

impl BundleVisitor for Loader {
    fn item(&mut self, bundle_seq: u64, leaf_index: u64, meta: ItemMeta) {
        self.pending_for(bundle_seq)
            .items
            .push(ItemFacts { leaf_index, meta });
    }

    fn population(&mut self, bundle_seq: u64, record: &PopulationRecord) {
        self.pending_for(bundle_seq)
            .populations
            .push(record.clone());
    }

    fn gap(&mut self, bundle_seq: u64, record: &GapRecord) {
        self.pending_for(bundle_seq).gaps.push(record.clone());
    }

    fn run(&mut self, run: &RunRecord) {
        self.pending_for(run.seq);
        let records = std::mem::take(&mut self.pending);
        if self.writer_gone
            || self
                .known
                .get(&run.origin)
                .is_some_and(|last| run.seq <= *last)
        {
            return;
        }
        self.loaded_runs.push(run.seq);
        let batch = Batch {
            origin: run.origin.clone(),
            seq: run.seq,
            records,
        };
        if self.to_writer.send(Msg::Batch(batch)).is_err() {
            // The writer stopped on an error; it reports it when joined.
            self.writer_gone = true;
        }
    }
}

const INSERT_ITEM: &str = "INSERT OR IGNORE INTO items (item_id, origin, sha256, kind, \
    source_name, controls, clauses, actor_key, source_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

const INSERT_DETAILS: &str = "INSERT INTO item_details (id, bundle_seq, leaf_index, title, phase, \
    connector, reference, url, source_time_text, period_start, period_end, collected, \
    artefact_path, size, media_type, actors, attributes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, \
    ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";

/// The statements the writer runs, prepared once.
struct Statements<'t> {
    item: Statement<'t>,
    details: Statement<'t>,
    population: Statement<'t>,
    gap: Statement<'t>,
}

/// The writer thread: one transaction, committed only on `Commit`; a closed channel without it
/// rolls everything back.
fn write(conn: &mut Connection, rx: Receiver<Msg>) -> rusqlite::Result<Written> {
    let tx = conn.transaction()?;
    let mut w = Written::default();
    {
        let mut st = Statements {
            item: tx.prepare(INSERT_ITEM)?,
            details: tx.prepare(INSERT_DETAILS)?,
            population: tx.prepare(
                "INSERT INTO source_populations (origin, bundle_seq, source, scope, kind, items_seen, complete, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?,
            gap: tx.prepare(
                "INSERT INTO gaps (origin, bundle_seq, source, scope, category, message, occurred_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?,
        };
        for msg in rx {
            match msg {
                Msg::Batch(b) => write_batch(&tx, &b, &mut st, &mut w)?,
                Msg::Commit(f) => {
                    finish(&tx, &f, &w)?;
                    drop(st);
                    tx.commit()?;
                    return Ok(w);
                }
            }
        }
    }
    // No commit: the transaction rolls back when dropped.
    Ok(Written::default())
}

fn write_batch(
    tx: &Transaction<'_>,
    b: &Batch,
    st: &mut Statements<'_>,
    w: &mut Written,
) -> rusqlite::Result<()> {
    let origin = b.origin.as_str();
    for f in &b.records.items {
        let m = &f.meta;
        let mut controls: Vec<&str> = m.controls.iter().map(|c| c.as_str()).collect();
        controls.sort_unstable();
        controls.dedup();
        let mut clauses: Vec<&str> = m.clauses.iter().map(|c| c.as_str()).collect();
        clauses.sort_unstable();
        clauses.dedup();
        let key = actor_key(m.actors.iter().map(|a| (a.role.as_str(), a.name.as_str())));
        let changed = st.item.execute(params![
            m.id.as_str(),
            origin,
            &m.artefact.sha256.as_bytes()[..],
            m.kind.as_str(),
            m.source.name.as_str(),
            controls.join(" "),
            clauses.join(" "),
            key,
            m.times.source.map(|t| t.as_second()),
        ])?;
        if changed == 0 {
            w.already += 1;
            continue;
        }
        w.added += 1;
        let period = m.times.period.as_ref();
        st.details.execute(params![
            tx.last_insert_rowid(),
            b.seq,
            f.leaf_index,
            m.title,
            m.phase.as_str(),
            m.source.connector,
            m.source.reference,
            m.source.url,
            m.times.source.map(|t| t.to_string()),
            period.and_then(|p| p.start).map(|t| t.to_string()),
            period.and_then(|p| p.end).map(|t| t.to_string()),
            m.times.collected.to_string(),
            m.artefact.path,
            m.artefact.size,
            m.artefact.media_type,
            serde_json::to_string(&m.actors).unwrap_or_default(),
            serde_json::to_string(&m.attributes).unwrap_or_default(),
        ])?;
    }
    for p in &b.records.populations {
        st.population.execute(params![
            origin,
            b.seq,
            p.source.as_str(),
            p.scope,
            p.kind.as_ref().map(|k| k.as_str()),
            p.items_seen,
            p.complete,
            serde_json::to_string(p).unwrap_or_default(),
        ])?;
    }
    for g in &b.records.gaps {
        w.gaps += 1;
        let category = serde_json::to_value(g.category)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        st.gap.execute(params![
            origin,
            b.seq,
            g.source.as_str(),
            g.scope,
            category,
            g.message,
            g.occurred_at.to_string(),
        ])?;
    }
    Ok(())
}

fn finish(tx: &Transaction<'_>, f: &Finish, w: &Written) -> rusqlite::Result<()> {
    let mut st = tx.prepare(
        "INSERT INTO bundles (origin, seq, checkpoint, collected_at, items, gaps) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (seq, checkpoint, collected_at, items, gaps) in &f.bundles {
        st.execute(params![
            f.origin,
            seq,
            checkpoint.to_text(),
            collected_at,
            items,
            gaps
        ])?;
    }
    tx.execute(
        "INSERT INTO origins (origin, last_seq, checkpoint, archive, first_ingested_at, last_ingested_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)
         ON CONFLICT (origin) DO UPDATE SET last_seq = ?2, checkpoint = ?3, archive = ?4, last_ingested_at = ?5",
        params![f.origin, f.to, f.checkpoint.to_text(), f.archive, f.now],
    )?;
    tx.execute(
        "INSERT INTO ingests (origin, archive, from_seq, to_seq, checkpoint, items_added, items_already_held, ingested_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            f.origin,
            f.archive,
            f.from,
            f.to,
            f.checkpoint.to_text(),
            w.added,
            w.already,
            f.now
        ],
    )?;
    Ok(())
}

/// Verify the archive `source` holds (with the trust anchors in `options`: allowed signers, TSA
/// roots) and load what is new into the engagement as it is verified.
pub fn ingest(
    e: &mut Engagement,
    source: &mut dyn BundleSource,
    options: &VerifyOptions,
    now: Timestamp,
) -> Result<IngestOutcome> {
    let archive_text = source.label();
    let mut known: HashMap<String, (u64, Checkpoint)> = HashMap::new();
    for (origin, seq, text) in e.origins()? {
        let checkpoint = Checkpoint::parse(&text).map_err(|err| {
            EngagementError::Invalid(format!(
                "the engagement's checkpoint of origin {origin} is unreadable: {err}"
            ))
        })?;
        known.insert(origin, (seq, checkpoint));
    }
    let path = e.path().to_owned();
    let db = |source| EngagementError::Db {
        path: path.clone(),
        source,
    };
    e.conn
        .execute_batch("PRAGMA cache_size = -65536;")
        .map_err(db)?;
    let conn = &mut e.conn;
    let (to_writer, from_loader) = sync_channel::<Msg>(4);
    let outcome = std::thread::scope(|scope| {
        let writer = scope.spawn(move || write(conn, from_loader));
        let mut loader = Loader {
            known: known.iter().map(|(o, (s, _))| (o.clone(), *s)).collect(),
            pending: Pending::default(),
            to_writer,
            writer_gone: false,
            loaded_runs: Vec::new(),
        };
        let report = verify_source(source, options, &mut loader);
        let decision = decide(&report, &known, &archive_text, &loader.loaded_runs, now);
        if let Ok(Some(finish)) = &decision {
            let _ = loader.to_writer.send(Msg::Commit(Box::new(finish.clone())));
        }
        drop(loader);
        let written = writer
            .join()
            .map_err(|_| EngagementError::Invalid("the database writer panicked".into()))?
            .map_err(db)?;
        Ok::<_, EngagementError>((report, decision?, written))
    });
    let (report, finish, written) = outcome?;
    let items_total = e.item_counts()?.0;
    let checkpoint = report
        .bundles
        .iter()
        .filter_map(|b| b.summary.as_ref())
        .max_by_key(|s| s.seq)
        .and_then(|s| s.checkpoint.clone())
        .ok_or_else(|| EngagementError::Invalid(format!("{archive_text} holds no checkpoint")))?;
    Ok(IngestOutcome {
        archive: archive_text,
        origin: report.origin.clone().unwrap_or_default(),
        from_run: finish.as_ref().map(|f| f.from),
        to_run: finish.as_ref().map(|f| f.to),
        previous_run: report
            .origin
            .as_ref()
            .and_then(|o| known.get(o))
            .map(|(s, _)| *s),
        checkpoint,
        items_added: written.added,
        items_already_held: written.already,
        gaps: written.gaps,
        items_total,
    })
}

/// After verification: refuse a failing archive or a forked history; otherwise what to record
/// (`None` when nothing is new).
fn decide(
    report: &ArchiveReport,
    known: &HashMap<String, (u64, Checkpoint)>,
    archive_text: &str,
    runs: &[u64],
    now: Timestamp,
) -> Result<Option<Finish>> {
    if !report.valid {
        let errors = report.error_count();
        return Err(EngagementError::Verification {
            path: archive_text.to_owned(),
            errors,
            report: Box::new(report.clone()),
        });
    }
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
    if let Some((last_seq, checkpoint)) = known.get(&origin) {
        match summaries.iter().find(|s| s.seq == *last_seq) {
            None => {
                return Err(EngagementError::Fork(format!(
                    "{archive_text} ends at run {} of origin {origin}, but the engagement already holds run {last_seq}: a truncated or rewritten history is refused; nothing was ingested",
                    last.seq
                )));
            }
            Some(s) if s.checkpoint.as_ref() != Some(checkpoint) => {
                return Err(EngagementError::Fork(format!(
                    "run {last_seq} of origin {origin} in {archive_text} does not carry the checkpoint the engagement ingested (root {}); a forked or rewritten history is refused; nothing was ingested",
                    checkpoint.root_base64()
                )));
            }
            Some(_) => {}
        }
    }
    let (Some(from), Some(to)) = (runs.iter().min().copied(), runs.iter().max().copied()) else {
        return Ok(None);
    };

    Ok(Some(Finish {
        origin,
        archive: archive_text.to_owned(),
        now: now.to_string(),
        from,
        to,
        checkpoint: checkpoint_of(last, archive_text)?,
        bundles: summaries
            .iter()
            .filter(|s| s.seq >= from)
            .map(|s| -> Result<_> {
                Ok((
                    s.seq,
                    checkpoint_of(s, archive_text)?,
                    s.collected_at.to_string(),
                    s.items,
                    s.gaps,
                ))
            })
            .collect::<Result<_>>()?,
    }))
}

/// A verified bundle's checkpoint (a valid bundle always has one).
fn checkpoint_of(s: &BundleSummary, archive_text: &str) -> Result<Checkpoint> {
    s.checkpoint.clone().ok_or_else(|| {
        EngagementError::Invalid(format!("run {} of {archive_text} has no checkpoint", s.seq))
    })
}
