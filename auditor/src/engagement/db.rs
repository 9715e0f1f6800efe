//! The engagement file: an SQLite database with a schema version, created and migrated here, and
//! its queries. A file written by a newer version is refused. `open` opens an existing file,
//! `create` a new one; connections wait for each other's writes (busy timeout), and
//! `immediate` begins the one transaction each protocol step (`steps`) runs in. Writers of the
//! sampling record (`store_*`) are crate-private: only the steps call them.
//!
//! Tables (schema version 1):
//! - `schema_version(version)`, `engagement(key, value)`: the file's version and creation facts.
//! - `origins(origin, last_seq, checkpoint, …)`: per origin, the last ingested run and its
//!   checkpoint; `bundles(origin, seq, checkpoint, …)` and `ingests(…)` keep the history.
//! - `items(id, item_id, origin, sha256, kind, source_name, controls, clauses, actor_key,
//!   source_time)`: one narrow row per evidence item, unique by `(item_id, origin)`, holding what
//!   populations filter and manifests hash (a freeze scans only this table);
//!   `item_details(id, bundle_seq, leaf_index, title, …, actors, attributes)` holds the rest.
//!   `source_populations` and `gaps` hold the agent's completeness records.
//! - `audits(id, ordinal, type, period_from, period_to, confidence, tolerable, expected, …)`.
//! - `populations(name, audit, definition, …, frozen_at, size, digest, strata, members,
//!   stratum_of)`: members are the item row ids in manifest order (little-endian i64) and each
//!   member's stratum index (little-endian u32).
//! - `commitments`, `plans`, `seeds`, `draws`, `picks`, `results`, `conclusions`: the sampling
//!   record of each population, one step per table, each step written once.

use std::path::{Path, PathBuf};

use evidence_model::{Sha256Digest, Timestamp};
use rusqlite::types::Value;
use rusqlite::{
    Connection, OptionalExtension, Transaction, TransactionBehavior, params, params_from_iter,
};
use serde::{Deserialize, Serialize};

use super::population::{Definition, Interner, Member, StratumFacts, StratumInfo, stratum_key};
use super::protocol::{Done, State, Step};
use super::records::{
    CommitmentRow, GapRow, IngestRow, PlanView, SeedRow, StoredEvaluation, StoredPlan,
};
use super::{EngagementError, Result};

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = 2;
/// How long a process waits for another one's write to finish before giving up.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// `PRAGMA application_id` of engagement files ("EVEN").
const APPLICATION_ID: i64 = 0x4556_454e;

/// The statements that create each schema version from the one before (index 0 creates v1;
/// v2 adds the audit programme of 9.2, the findings and corrective actions of 10.2 and the
/// management reviews of 9.3).
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE engagement (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE origins (
    origin TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL,
    checkpoint TEXT NOT NULL,
    archive TEXT NOT NULL,
    first_ingested_at TEXT NOT NULL,
    last_ingested_at TEXT NOT NULL
);
CREATE TABLE bundles (
    origin TEXT NOT NULL,
    seq INTEGER NOT NULL,
    checkpoint TEXT NOT NULL,
    collected_at TEXT NOT NULL,
    items INTEGER NOT NULL,
    gaps INTEGER NOT NULL,
    PRIMARY KEY (origin, seq)
);
CREATE TABLE ingests (
    id INTEGER PRIMARY KEY,
    origin TEXT NOT NULL,
    archive TEXT NOT NULL,
    from_seq INTEGER NOT NULL,
    to_seq INTEGER NOT NULL,
    checkpoint TEXT NOT NULL,
    items_added INTEGER NOT NULL,
    items_already_held INTEGER NOT NULL,
    ingested_at TEXT NOT NULL
);
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    item_id TEXT NOT NULL,
    origin TEXT NOT NULL,
    sha256 BLOB NOT NULL,
    kind TEXT NOT NULL,
    source_name TEXT NOT NULL,
    controls TEXT NOT NULL,
    clauses TEXT NOT NULL,
    actor_key TEXT NOT NULL,
    source_time INTEGER,
    UNIQUE (item_id, origin)
);
CREATE TABLE item_details (
    id INTEGER PRIMARY KEY REFERENCES items(id),
    bundle_seq INTEGER NOT NULL,
    leaf_index INTEGER NOT NULL,
    title TEXT NOT NULL,
    phase TEXT NOT NULL,
    connector TEXT NOT NULL,
    reference TEXT NOT NULL,
    url TEXT,
    source_time_text TEXT,
    period_start TEXT,
    period_end TEXT,
    collected TEXT NOT NULL,
    artefact_path TEXT NOT NULL,
    size INTEGER NOT NULL,
    media_type TEXT NOT NULL,
    actors TEXT NOT NULL,
    attributes TEXT NOT NULL
);
CREATE TABLE source_populations (
    origin TEXT NOT NULL,
    bundle_seq INTEGER NOT NULL,
    source TEXT NOT NULL,
    scope TEXT NOT NULL,
    kind TEXT,
    items_seen INTEGER NOT NULL,
    complete INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE gaps (
    origin TEXT NOT NULL,
    bundle_seq INTEGER NOT NULL,
    source TEXT NOT NULL,
    scope TEXT NOT NULL,
    category TEXT NOT NULL,
    message TEXT NOT NULL,
    occurred_at TEXT NOT NULL
);
CREATE TABLE audits (
    id TEXT PRIMARY KEY,
    ordinal INTEGER NOT NULL UNIQUE,
    type TEXT NOT NULL,
    period_from TEXT,
    period_to TEXT,
    confidence TEXT NOT NULL,
    tolerable TEXT NOT NULL,
    expected TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE populations (
    name TEXT PRIMARY KEY,
    audit TEXT NOT NULL REFERENCES audits(id),
    definition TEXT NOT NULL,
    defined_at TEXT NOT NULL,
    frozen_at TEXT,
    size INTEGER,
    digest TEXT,
    strata TEXT,
    item_watermark INTEGER,
    members BLOB,
    stratum_of BLOB
);
CREATE TABLE commitments (
    population TEXT PRIMARY KEY REFERENCES populations(name),
    commitment TEXT NOT NULL,
    committed_at TEXT NOT NULL
);
CREATE TABLE plans (
    population TEXT PRIMARY KEY REFERENCES populations(name),
    plan TEXT NOT NULL,
    planned_at TEXT NOT NULL
);
CREATE TABLE seeds (
    population TEXT PRIMARY KEY REFERENCES populations(name),
    secret TEXT NOT NULL,
    beacon TEXT,
    seed TEXT NOT NULL,
    revealed_at TEXT NOT NULL
);
CREATE TABLE draws (
    population TEXT PRIMARY KEY REFERENCES populations(name),
    draw TEXT NOT NULL,
    drawn_at TEXT NOT NULL
);
CREATE TABLE picks (
    population TEXT NOT NULL REFERENCES populations(name),
    pick INTEGER NOT NULL,
    stratum TEXT,
    stratum_position INTEGER NOT NULL,
    position INTEGER NOT NULL,
    counter INTEGER NOT NULL,
    item INTEGER NOT NULL REFERENCES items(id),
    PRIMARY KEY (population, pick)
);
CREATE TABLE results (
    population TEXT NOT NULL REFERENCES populations(name),
    pick INTEGER NOT NULL,
    result TEXT NOT NULL,
    notes TEXT NOT NULL,
    tested_by TEXT NOT NULL,
    PRIMARY KEY (population, pick)
);
CREATE TABLE result_imports (
    population TEXT PRIMARY KEY REFERENCES populations(name),
    file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    finding TEXT,
    finding_note TEXT,
    imported_at TEXT NOT NULL
);
CREATE TABLE conclusions (
    population TEXT PRIMARY KEY REFERENCES populations(name),
    evaluation TEXT NOT NULL,
    finding TEXT NOT NULL,
    finding_source TEXT NOT NULL,
    note TEXT,
    concluded_at TEXT NOT NULL
);
"#,
    r#"
CREATE TABLE findings (
    id TEXT PRIMARY KEY,
    ordinal INTEGER NOT NULL UNIQUE,
    audit TEXT NOT NULL REFERENCES audits(id),
    category TEXT NOT NULL,
    population TEXT UNIQUE REFERENCES populations(name),
    record TEXT NOT NULL
);
CREATE TABLE actions (
    id TEXT PRIMARY KEY,
    ordinal INTEGER NOT NULL UNIQUE,
    finding TEXT NOT NULL UNIQUE REFERENCES findings(id),
    record TEXT NOT NULL
);
CREATE TABLE programme (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    record TEXT NOT NULL
);
CREATE TABLE planned_audits (
    id TEXT PRIMARY KEY,
    ordinal INTEGER NOT NULL UNIQUE,
    record TEXT NOT NULL
);
CREATE TABLE reviews (
    id TEXT PRIMARY KEY,
    ordinal INTEGER NOT NULL UNIQUE,
    record TEXT NOT NULL
);
CREATE TABLE decisions (
    id TEXT PRIMARY KEY,
    ordinal INTEGER NOT NULL UNIQUE,
    review TEXT NOT NULL REFERENCES reviews(id),
    record TEXT NOT NULL
);
"#,
];

/// An open engagement file.
#[derive(Debug)]
pub struct Engagement {
    pub(crate) conn: Connection,
    path: PathBuf,
}

/// An audit of the certification cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    pub id: String,
    pub ordinal: i64,
    /// `initial`, `surveillance` or `recertification`.
    #[serde(rename = "type")]
    pub audit_type: String,
    pub period_from: Option<Timestamp>,
    pub period_to: Option<Timestamp>,
    /// Plan settings for this audit's populations (exact decimals as text).
    pub confidence: String,
    pub tolerable: String,
    pub expected: String,
    pub created_at: Timestamp,
}

/// A population and how far its sampling record has got.
#[derive(Debug, Clone)]
pub struct PopulationRow {
    pub name: String,
    pub audit: String,
    pub definition: Definition,
    pub defined_at: Timestamp,
    pub frozen: Option<FrozenRow>,
}

/// The frozen facts of a population.
#[derive(Debug, Clone, Serialize)]
pub struct FrozenRow {
    pub frozen_at: Timestamp,
    pub size: u64,
    pub digest: String,
    pub strata: Vec<StratumInfo>,
    /// The largest item row id that existed at the freeze.
    pub item_watermark: i64,
}

/// One ingested item, as the workpaper and the record show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemRow {
    #[serde(skip)]
    pub row: i64,
    pub item_id: String,
    pub origin: String,
    pub bundle_seq: u64,
    pub leaf_index: u64,
    pub kind: String,
    pub title: String,
    pub source_name: String,
    pub reference: String,
    pub url: Option<String>,
    pub source_time: Option<String>,
    pub period_start: Option<String>,
    pub period_end: Option<String>,
    pub collected: String,
    pub artefact_path: String,
    pub sha256: String,
    pub size: u64,
    /// Space-separated.
    pub controls: String,
    /// Space-separated.
    pub clauses: String,
    /// JSON array of `{role, name, id?}`.
    pub actors: String,
    /// Canonical JSON object.
    pub attributes: String,
}

/// A stored pick with its item.
#[derive(Debug, Clone)]
pub struct PickRow {
    pub pick: super::sample::SamplePick,
    pub item: ItemRow,
}

/// A stored test result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultRow {
    pub pick: u64,
    pub result: String,
    pub notes: String,
    pub tested_by: String,
}

/// How a workpaper import was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRow {
    pub file: String,
    pub sha256: String,
    pub finding: Option<String>,
    pub finding_note: Option<String>,
    pub imported_at: Timestamp,
}

/// A stored conclusion.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConclusionRow {
    pub evaluation: StoredEvaluation,
    pub finding: String,
    /// `option` or `workpaper`.
    pub finding_source: String,
    pub note: Option<String>,
    pub concluded_at: Timestamp,
}

impl ConclusionRow {
    /// Whether the recorded evaluation supports reliance on the control.
    pub fn supports_reliance(&self) -> bool {
        self.evaluation
            .evaluation
            .get("supports_reliance")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    }
}

const ITEM_COLUMNS: &str = "items.id, item_id, origin, bundle_seq, leaf_index, kind, title, \
     source_name, reference, url, source_time_text, period_start, period_end, collected, \
     artefact_path, sha256, size, controls, clauses, actors, attributes";

fn item_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ItemRow> {
    Ok(ItemRow {
        row: r.get(0)?,
        item_id: r.get(1)?,
        origin: r.get(2)?,
        bundle_seq: r.get(3)?,
        leaf_index: r.get(4)?,
        kind: r.get(5)?,
        title: r.get(6)?,
        source_name: r.get(7)?,
        reference: r.get(8)?,
        url: r.get(9)?,
        source_time: r.get(10)?,
        period_start: r.get(11)?,
        period_end: r.get(12)?,
        collected: r.get(13)?,
        artefact_path: r.get(14)?,
        sha256: hex::encode(r.get_ref(15)?.as_blob()?),
        size: r.get(16)?,
        controls: r.get(17)?,
        clauses: r.get(18)?,
        actors: r.get(19)?,
        attributes: r.get(20)?,
    })
}

/// A stored 32-byte digest.
fn digest_of(bytes: &[u8]) -> Option<Sha256Digest> {
    bytes.try_into().ok().map(Sha256Digest)
}

fn ts(text: &str) -> rusqlite::Result<Timestamp> {
    text.parse().map_err(|e: jiff::Error| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn json<T: serde::de::DeserializeOwned>(text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn to_json<T: Serialize>(v: &T) -> String {
    // Our record types serialise infallibly (no maps with non-string keys, no failing impls).
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

impl Engagement {
    /// Open an existing engagement file.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(EngagementError::NotFound {
                what: "engagement file",
                name: path.display().to_string(),
                hint: " (`evidence-auditor ingest ARCHIVE --engagement FILE` creates it)".into(),
            });
        }
        Self::connect(path)
    }

    /// Create a new engagement file; refused if `path` exists.
    pub fn create(path: &Path) -> Result<Self> {
        if std::fs::symlink_metadata(path).is_ok() {
            return Err(EngagementError::Exists {
                what: "engagement file",
                name: path.display().to_string(),
            });
        }
        Self::connect(path)
    }

    /// Open the engagement file at `path`, creating it if there is none (what `ingest` does).
    pub fn open_or_create(path: &Path) -> Result<Self> {
        Self::connect(path)
    }

    fn connect(path: &Path) -> Result<Self> {
        let conn = Connection::open(path).map_err(|source| EngagementError::Db {
            path: path.to_owned(),
            source,
        })?;
        // A second process waits for the first one's step to commit rather than failing.
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|source| EngagementError::Db {
                path: path.to_owned(),
                source,
            })?;
        let mut e = Self {
            conn,
            path: path.to_owned(),
        };
        e.prepare()?;
        Ok(e)
    }

    /// Begin the transaction of one protocol step: `BEGIN IMMEDIATE` takes the write lock
    /// before anything is read, so the state a step checks is the state it writes over. Every
    /// query of this `Engagement` runs inside it until it is committed or dropped (rolled back).
    pub(crate) fn immediate(&self) -> Result<Transaction<'_>> {
        // `new_unchecked` borrows the connection shared, so the queries below (`&self`) run
        // in the transaction; nothing else opens one while it lives (steps do not nest).
        Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate).map_err(self.db())
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every row `sql` returns for `params`, each mapped by `row`.
    fn all<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut st = self.conn.prepare(sql).map_err(self.db())?;
        let rows = st.query_map(params, row).map_err(self.db())?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.db())
    }

    /// Map an SQLite error to one naming this file.
    pub(crate) fn db(&self) -> impl Fn(rusqlite::Error) -> EngagementError + '_ {
        move |source| EngagementError::Db {
            path: self.path.clone(),
            source,
        }
    }

    fn version_error(&self, message: String) -> EngagementError {
        EngagementError::Version {
            path: self.path.clone(),
            message,
        }
    }

    fn prepare(&mut self) -> Result<()> {
        let not_ours = |e: &Self, why: String| {
            e.version_error(format!("not an evidence-auditor engagement file ({why})"))
        };
        let app_id: i64 = match self
            .conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
        {
            Ok(v) => v,
            Err(e) => return Err(not_ours(self, e.to_string())),
        };
        let tables: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| not_ours(self, e.to_string()))?;
        if tables > 0 && app_id != APPLICATION_ID {
            return Err(not_ours(self, "unknown application id".into()));
        }
        self.conn
            .execute_batch("PRAGMA foreign_keys = ON; PRAGMA journal_mode = DELETE;")
            .map_err(self.db())?;
        let version: i64 = if tables == 0 {
            0
        } else {
            self.conn
                .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
                .map_err(|e| not_ours(self, e.to_string()))?
        };
        if version > SCHEMA_VERSION {
            return Err(self.version_error(format!(
                "written by a newer evidence-auditor (schema version {version}; this one reads up to {SCHEMA_VERSION}); upgrade evidence-auditor"
            )));
        }
        if version < SCHEMA_VERSION {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|source| EngagementError::Db {
                    path: self.path.clone(),
                    source,
                })?;
            let path = self.path.clone();
            let db = |source| EngagementError::Db {
                path: path.clone(),
                source,
            };
            // Another process may have migrated the file while this one waited for the lock.
            let tables: i64 = tx
                .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                .map_err(db)?;
            let version: i64 = if tables == 0 {
                0
            } else {
                tx.query_row("SELECT version FROM schema_version", [], |r| r.get(0))
                    .map_err(db)?
            };
            if version >= SCHEMA_VERSION {
                return Ok(());
            }
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                tx.execute_batch(sql).map_err(db)?;
                let to = i as i64 + 1;
                if to == 1 {
                    tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [to])
                        .map_err(db)?;
                    tx.execute(
                        "INSERT INTO engagement (key, value) VALUES ('created_at', ?1), ('created_by', ?2)",
                        params![
                            Timestamp::now().to_string(),
                            format!("evidence-auditor {}", env!("CARGO_PKG_VERSION"))
                        ],
                    )
                    .map_err(db)?;
                } else {
                    tx.execute("UPDATE schema_version SET version = ?1", [to])
                        .map_err(db)?;
                }
            }
            tx.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}"))
                .map_err(db)?;
            tx.commit().map_err(db)?;
        }
        Ok(())
    }

    // ----- origins and items -------------------------------------------------------------

    /// Per origin: last ingested run and its checkpoint.
    pub fn origins(&self) -> Result<Vec<(String, u64, String)>> {
        self.all(
            "SELECT origin, last_seq, checkpoint FROM origins ORDER BY origin",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    }

    /// Number of items and of items without a source time.
    pub fn item_counts(&self) -> Result<(u64, u64)> {
        self.conn
            .query_row(
                "SELECT count(*), count(*) - count(source_time) FROM items",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(self.db())
    }

    /// Items by row id, in the order given.
    pub fn items_by_rows(&self, rows: &[i64]) -> Result<Vec<ItemRow>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ITEM_COLUMNS} FROM items JOIN item_details ON item_details.id = items.id WHERE items.id = ?1"
            ))
            .map_err(self.db())?;
        rows.iter()
            .map(|r| st.query_row([r], item_from_row).map_err(self.db()))
            .collect()
    }

    // ----- audits ------------------------------------------------------------------------

    /// Insert an audit; its ordinal is one more than the last.
    pub(crate) fn insert_audit(&self, a: &AuditRow) -> Result<AuditRow> {
        if self.audit(&a.id)?.is_some() {
            return Err(EngagementError::Exists {
                what: "audit",
                name: a.id.clone(),
            });
        }
        let ordinal: i64 = self
            .conn
            .query_row(
                "SELECT coalesce(max(ordinal), 0) + 1 FROM audits",
                [],
                |r| r.get(0),
            )
            .map_err(self.db())?;
        self.conn
            .execute(
                "INSERT INTO audits (id, ordinal, type, period_from, period_to, confidence, tolerable, expected, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    a.id,
                    ordinal,
                    a.audit_type,
                    a.period_from.map(|t| t.to_string()),
                    a.period_to.map(|t| t.to_string()),
                    a.confidence,
                    a.tolerable,
                    a.expected,
                    a.created_at.to_string()
                ],
            )
            .map_err(self.db())?;
        Ok(AuditRow {
            ordinal,
            ..a.clone()
        })
    }

    /// Every audit, in the order they were added.
    pub fn audits(&self) -> Result<Vec<AuditRow>> {
        self.all(
            "SELECT id, ordinal, type, period_from, period_to, confidence, tolerable, expected, created_at
                 FROM audits ORDER BY ordinal",
            [],
            |r| {
                let opt_ts = |v: Option<String>| v.as_deref().map(ts).transpose();
                Ok(AuditRow {
                    id: r.get(0)?,
                    ordinal: r.get(1)?,
                    audit_type: r.get(2)?,
                    period_from: opt_ts(r.get(3)?)?,
                    period_to: opt_ts(r.get(4)?)?,
                    confidence: r.get(5)?,
                    tolerable: r.get(6)?,
                    expected: r.get(7)?,
                    created_at: ts(&r.get::<_, String>(8)?)?,
                })
            },
        )
    }

    /// One audit.
    pub fn audit(&self, id: &str) -> Result<Option<AuditRow>> {
        Ok(self.audits()?.into_iter().find(|a| a.id == id))
    }

    // ----- populations -------------------------------------------------------------------

    /// Define a population of `audit`.
    pub(crate) fn define_population(
        &self,
        name: &str,
        audit: &str,
        definition: &Definition,
        now: Timestamp,
    ) -> Result<()> {
        if self.population_opt(name)?.is_some() {
            return Err(EngagementError::Exists {
                what: "population",
                name: name.to_owned(),
            });
        }
        self.conn
            .execute(
                "INSERT INTO populations (name, audit, definition, defined_at) VALUES (?1, ?2, ?3, ?4)",
                params![name, audit, to_json(definition), now.to_string()],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// Every population, in name order.
    pub fn populations(&self) -> Result<Vec<PopulationRow>> {
        self.all(
            "SELECT name, audit, definition, defined_at, frozen_at, size, digest, strata, item_watermark
                 FROM populations ORDER BY name",
            [],
            |r| {
                let frozen_at: Option<String> = r.get(4)?;
                let frozen = match frozen_at {
                    None => None,
                    Some(at) => Some(FrozenRow {
                        frozen_at: ts(&at)?,
                        size: r.get(5)?,
                        digest: r.get(6)?,
                        strata: json(&r.get::<_, String>(7)?)?,
                        item_watermark: r.get(8)?,
                    }),
                };
                Ok(PopulationRow {
                    name: r.get(0)?,
                    audit: r.get(1)?,
                    definition: json(&r.get::<_, String>(2)?)?,
                    defined_at: ts(&r.get::<_, String>(3)?)?,
                    frozen,
                })
            },
        )
    }

    fn population_opt(&self, name: &str) -> Result<Option<PopulationRow>> {
        Ok(self.populations()?.into_iter().find(|p| p.name == name))
    }

    /// One population, or an error naming it and the ones that exist.
    pub fn population(&self, name: &str) -> Result<PopulationRow> {
        let all = self.populations()?;
        let names: Vec<String> = all.iter().map(|p| p.name.clone()).collect();
        all.into_iter()
            .find(|p| p.name == name)
            .ok_or_else(|| EngagementError::NotFound {
                what: "population",
                name: name.to_owned(),
                hint: if names.is_empty() {
                    " (none is defined yet: `evidence-auditor population define`)".into()
                } else {
                    format!(" (defined: {})", names.join(", "))
                },
            })
    }

    /// The candidate members of a definition (items ingested so far, in no particular order:
    /// `population::freeze` sorts them), with their strata, and the number of items left out
    /// because a period is set and they have no source time.
    pub fn candidates(&self, d: &Definition) -> Result<(Vec<Member>, u64)> {
        let mut conditions: Vec<String> = Vec::new();
        let mut values: Vec<Value> = Vec::new();
        let mut any_of = |column: &str, items: Vec<Value>, op: &dyn Fn(&str, usize) -> String| {
            if items.is_empty() {
                return;
            }
            let mut alts = Vec::new();
            for v in items {
                values.push(v);
                alts.push(op(column, values.len()));
            }
            conditions.push(format!("({})", alts.join(" OR ")));
        };
        let eq = |c: &str, i: usize| format!("{c} = ?{i}");
        let contains = |c: &str, i: usize| format!("instr({c}, ?{i}) > 0");
        let text = |v: &[String]| v.iter().map(|s| Value::Text(s.clone())).collect();
        let padded = |v: &[String]| v.iter().map(|s| Value::Text(format!(" {s} "))).collect();
        any_of("kind", text(&d.kinds), &eq);
        any_of("source_name", text(&d.sources), &eq);
        any_of("origin", text(&d.origins), &eq);
        any_of("(' ' || controls || ' ')", padded(&d.controls), &contains);
        any_of("(' ' || clauses || ' ')", padded(&d.clauses), &contains);
        any_of(
            "actor_key",
            d.actors.iter().map(|a| Value::Text(a.needle())).collect(),
            &contains,
        );
        if let Some(f) = d.from {
            values.push(Value::Integer(f.as_second()));
            conditions.push(format!("source_time >= ?{}", values.len()));
        }
        if let Some(t) = d.to {
            // Seconds are floored; `t` is compared on its ceiling so that `source < to` holds.
            let to = t.as_second() + i64::from(t.subsec_nanosecond() > 0);
            values.push(Value::Integer(to));
            conditions.push(format!("source_time < ?{}", values.len()));
        }
        let filter = if conditions.is_empty() {
            "1".to_owned()
        } else {
            conditions.join(" AND ")
        };
        let sql = format!(
            "SELECT id, item_id, origin, sha256, kind, controls, clauses, source_name, actor_key, source_time
             FROM items WHERE {filter}"
        );
        let mut st = self.conn.prepare(&sql).map_err(self.db())?;
        let mut rows = st
            .query(params_from_iter(values.iter()))
            .map_err(self.db())?;
        let max_row: i64 = self
            .conn
            .query_row("SELECT coalesce(max(id), 0) FROM items", [], |r| r.get(0))
            .map_err(self.db())?;
        let mut members = Vec::with_capacity(usize::try_from(max_row).unwrap_or(0).min(1 << 24));
        let mut origins = Interner::default();
        let mut strata = Interner::default();
        let text = |r: &rusqlite::Row<'_>, i: usize| -> rusqlite::Result<String> {
            Ok(r.get_ref(i)?.as_str()?.to_owned())
        };
        let mut read = |r: &rusqlite::Row<'_>| -> rusqlite::Result<Member> {
            let origin = r.get_ref(2)?.as_str()?;
            let stratum = match d.stratify_by {
                None => None,
                Some(dim) => {
                    let key = stratum_key(
                        dim,
                        &StratumFacts {
                            kind: r.get_ref(4)?.as_str()?,
                            controls: r.get_ref(5)?.as_str()?,
                            clauses: r.get_ref(6)?.as_str()?,
                            source: r.get_ref(7)?.as_str()?,
                            actors: r.get_ref(8)?.as_str()?,
                            origin,
                            source_time: r.get(9)?,
                        },
                    );
                    Some(strata.get(&key))
                }
            };
            let sha256 = digest_of(r.get_ref(3)?.as_blob()?).ok_or_else(|| {
                rusqlite::Error::InvalidColumnType(3, "sha256".into(), rusqlite::types::Type::Blob)
            })?;
            Ok(Member {
                row: r.get(0)?,
                item_id: text(r, 1)?,
                origin: origins.get(origin),
                sha256,
                stratum,
            })
        };
        while let Some(r) = rows.next().map_err(self.db())? {
            members.push(read(r).map_err(self.db())?);
        }
        let without_time = if d.has_period() {
            self.conn
                .query_row(
                    "SELECT count(*) FROM items WHERE source_time IS NULL",
                    [],
                    |r| r.get(0),
                )
                .map_err(self.db())?
        } else {
            0
        };
        Ok((members, without_time))
    }

    /// Record the freeze of `name`: members in manifest order and their strata.
    pub(crate) fn store_freeze(
        &self,
        name: &str,
        frozen: &super::population::Frozen,
        now: Timestamp,
    ) -> Result<()> {
        let mut members = Vec::with_capacity(frozen.members.len() * 8);
        let mut stratum_of = Vec::new();
        let index: std::collections::HashMap<&str, u32> = frozen
            .strata
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i as u32))
            .collect();
        for m in &frozen.members {
            members.extend_from_slice(&m.row.to_le_bytes());
            if let Some(s) = &m.stratum {
                let i = index.get(&**s).copied().unwrap_or(u32::MAX);
                stratum_of.extend_from_slice(&i.to_le_bytes());
            }
        }
        let watermark: i64 = self
            .conn
            .query_row("SELECT coalesce(max(id), 0) FROM items", [], |r| r.get(0))
            .map_err(self.db())?;
        self.conn
            .execute(
                "UPDATE populations SET frozen_at = ?2, size = ?3, digest = ?4, strata = ?5,
                 item_watermark = ?6, members = ?7, stratum_of = ?8 WHERE name = ?1 AND frozen_at IS NULL",
                params![
                    name,
                    now.to_string(),
                    frozen.size(),
                    frozen.digest.to_hex(),
                    to_json(&frozen.strata),
                    watermark,
                    members,
                    stratum_of
                ],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// The frozen members of `name` (item row ids in manifest order) and their stratum indices.
    pub fn members(&self, name: &str) -> Result<(Vec<i64>, Vec<u32>)> {
        let (members, strata): (Option<Vec<u8>>, Option<Vec<u8>>) = self
            .conn
            .query_row(
                "SELECT members, stratum_of FROM populations WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(self.db())?;
        let rows = members
            .unwrap_or_default()
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        let strata = strata
            .unwrap_or_default()
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok((rows, strata))
    }

    /// The manifest members of a frozen population, read back in manifest order.
    pub fn manifest_members(&self, name: &str) -> Result<Vec<Member>> {
        let p = self.population(name)?;
        let frozen = p.frozen.ok_or_else(|| EngagementError::NotYet {
            population: name.to_owned(),
            needs: Step::Freeze,
        })?;
        let (rows, stratum_of) = self.members(name)?;
        let mut st = self
            .conn
            .prepare_cached("SELECT item_id, origin, sha256 FROM items WHERE id = ?1")
            .map_err(self.db())?;
        let mut origins = Interner::default();
        let names: Vec<std::rc::Rc<str>> = frozen
            .strata
            .iter()
            .map(|s| std::rc::Rc::from(s.name.as_str()))
            .collect();
        let mut out = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let (item_id, origin, sha256): (String, String, Vec<u8>) = st
                .query_row([row], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(self.db())?;
            let origin = origins.get(&origin);
            let sha256 = digest_of(&sha256).ok_or_else(|| {
                EngagementError::Invalid(format!("item row {row} has a malformed SHA-256"))
            })?;
            let stratum = stratum_of
                .get(i)
                .and_then(|s| names.get(*s as usize))
                .cloned();
            out.push(Member {
                row: *row,
                item_id,
                origin,
                sha256,
                stratum,
            });
        }
        Ok(out)
    }

    // ----- the sampling record -------------------------------------------------------------

    /// How far the sampling record of `population` has got (the protocol's state).
    pub fn state(&self, population: &str) -> Result<State> {
        let p = self.population(population)?;
        let done = |at: Timestamp, detail: String| Some(Done { at, detail });
        let count = |sql: &str| -> Result<u64> {
            self.conn
                .query_row(sql, [population], |r| r.get(0))
                .map_err(self.db())
        };
        Ok(State {
            committed: self
                .commitment(population)?
                .and_then(|c| done(c.committed_at, c.commitment)),
            frozen: p.frozen.and_then(|f| done(f.frozen_at, f.digest)),
            planned: self
                .plan(population)?
                .and_then(|p| done(p.planned_at, p.plan.sample_size.to_string())),
            revealed: self
                .seed(population)?
                .and_then(|s| done(s.revealed_at, s.seed)),
            drawn: self
                .draw(population)?
                .and_then(|(d, at)| done(at, d.picks.len().to_string())),
            picks: count("SELECT count(*) FROM picks WHERE population = ?1")?,
            results: count("SELECT count(*) FROM results WHERE population = ?1")?,
            imported: self
                .import(population)?
                .and_then(|i| done(i.imported_at, i.sha256)),
            concluded: self
                .conclusion(population)?
                .and_then(|c| done(c.concluded_at, c.finding)),
        })
    }

    /// The commitment of `population`, if made.
    pub fn commitment(&self, population: &str) -> Result<Option<CommitmentRow>> {
        self.conn
            .query_row(
                "SELECT commitment, committed_at FROM commitments WHERE population = ?1",
                [population],
                |r| {
                    Ok(CommitmentRow {
                        commitment: r.get(0)?,
                        committed_at: ts(&r.get::<_, String>(1)?)?,
                    })
                },
            )
            .optional()
            .map_err(self.db())
    }

    /// Store a commitment (inside a step's transaction).
    pub(crate) fn store_commitment(
        &self,
        population: &str,
        commitment: &str,
        now: Timestamp,
    ) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO commitments (population, commitment, committed_at) VALUES (?1, ?2, ?3)",
                params![population, commitment, now.to_string()],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// The plan of `population` and when it was made.
    pub fn plan(&self, population: &str) -> Result<Option<PlanView>> {
        self.conn
            .query_row(
                "SELECT plan, planned_at FROM plans WHERE population = ?1",
                [population],
                |r| {
                    Ok(PlanView {
                        plan: json(&r.get::<_, String>(0)?)?,
                        planned_at: ts(&r.get::<_, String>(1)?)?,
                    })
                },
            )
            .optional()
            .map_err(self.db())
    }

    /// Store or replace the plan (inside a step's transaction).
    pub(crate) fn store_plan(
        &self,
        population: &str,
        plan: &StoredPlan,
        now: Timestamp,
    ) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO plans (population, plan, planned_at) VALUES (?1, ?2, ?3)",
                params![population, to_json(plan), now.to_string()],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// The revealed seed, if revealed.
    pub fn seed(&self, population: &str) -> Result<Option<SeedRow>> {
        self.conn
            .query_row(
                "SELECT secret, beacon, seed, revealed_at FROM seeds WHERE population = ?1",
                [population],
                |r| {
                    let beacon: Option<String> = r.get(1)?;
                    Ok(SeedRow {
                        secret: r.get(0)?,
                        beacon: beacon.as_deref().map(json).transpose()?,
                        seed: r.get(2)?,
                        revealed_at: ts(&r.get::<_, String>(3)?)?,
                    })
                },
            )
            .optional()
            .map_err(self.db())
    }

    /// Store the revealed seed (inside a step's transaction).
    pub(crate) fn store_seed(
        &self,
        population: &str,
        secret: &str,
        beacon: Option<&super::seed::Beacon>,
        seed: &str,
        now: Timestamp,
    ) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO seeds (population, secret, beacon, seed, revealed_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![population, secret, beacon.map(to_json), seed, now.to_string()],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// The draw of `population`, if drawn.
    pub fn draw(&self, population: &str) -> Result<Option<(super::sample::Drawn, Timestamp)>> {
        self.conn
            .query_row(
                "SELECT draw, drawn_at FROM draws WHERE population = ?1",
                [population],
                |r| Ok((json(&r.get::<_, String>(0)?)?, ts(&r.get::<_, String>(1)?)?)),
            )
            .optional()
            .map_err(self.db())
    }

    /// Store a draw and its picks (item rows given per pick), inside a step's transaction.
    pub(crate) fn store_draw(
        &self,
        population: &str,
        drawn: &super::sample::Drawn,
        items: &[i64],
        now: Timestamp,
    ) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO draws (population, draw, drawn_at) VALUES (?1, ?2, ?3)",
                params![population, to_json(drawn), now.to_string()],
            )
            .map_err(self.db())?;
        let mut st = self
            .conn
            .prepare(
                "INSERT INTO picks (population, pick, stratum, stratum_position, position, counter, item)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(self.db())?;
        for (p, item) in drawn.picks.iter().zip(items) {
            st.execute(params![
                population,
                p.pick,
                p.stratum,
                p.stratum_position,
                p.position,
                p.counter,
                item
            ])
            .map_err(self.db())?;
        }
        Ok(())
    }

    /// The picks of `population` with their items, in pick order.
    pub fn picks(&self, population: &str) -> Result<Vec<PickRow>> {
        let picks = self.all(
            "SELECT pick, stratum, stratum_position, position, counter, item FROM picks
             WHERE population = ?1 ORDER BY pick",
            [population],
            |r| {
                Ok((
                    super::sample::SamplePick {
                        pick: r.get(0)?,
                        stratum: r.get(1)?,
                        stratum_position: r.get(2)?,
                        position: r.get(3)?,
                        counter: r.get(4)?,
                    },
                    r.get::<_, i64>(5)?,
                ))
            },
        )?;
        let rows: Vec<i64> = picks.iter().map(|(_, r)| *r).collect();
        let items = self.items_by_rows(&rows)?;
        Ok(picks
            .into_iter()
            .zip(items)
            .map(|((pick, _), item)| PickRow { pick, item })
            .collect())
    }

    /// Replace the results of `population` with an imported workpaper's (inside a step's
    /// transaction).
    pub(crate) fn store_results(
        &self,
        population: &str,
        results: &[ResultRow],
        import: &ImportRow,
    ) -> Result<()> {
        self.conn
            .execute("DELETE FROM results WHERE population = ?1", [population])
            .map_err(self.db())?;
        let mut st = self
            .conn
            .prepare(
                "INSERT INTO results (population, pick, result, notes, tested_by) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(self.db())?;
        for r in results {
            st.execute(params![population, r.pick, r.result, r.notes, r.tested_by])
                .map_err(self.db())?;
        }
        self.conn
            .execute(
                "INSERT OR REPLACE INTO result_imports (population, file, sha256, finding, finding_note, imported_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    population,
                    import.file,
                    import.sha256,
                    import.finding,
                    import.finding_note,
                    import.imported_at.to_string()
                ],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// The results of `population`, in pick order.
    pub fn results(&self, population: &str) -> Result<Vec<ResultRow>> {
        self.all("SELECT pick, result, notes, tested_by FROM results WHERE population = ?1 ORDER BY pick", [population], |r| {
                Ok(ResultRow {
                    pick: r.get(0)?,
                    result: r.get(1)?,
                    notes: r.get(2)?,
                    tested_by: r.get(3)?,
                })
            })
    }

    /// The last workpaper import of `population`.
    pub fn import(&self, population: &str) -> Result<Option<ImportRow>> {
        self.conn
            .query_row(
                "SELECT file, sha256, finding, finding_note, imported_at FROM result_imports WHERE population = ?1",
                [population],
                |r| {
                    Ok(ImportRow {
                        file: r.get(0)?,
                        sha256: r.get(1)?,
                        finding: r.get(2)?,
                        finding_note: r.get(3)?,
                        imported_at: ts(&r.get::<_, String>(4)?)?,
                    })
                },
            )
            .optional()
            .map_err(self.db())
    }

    /// The conclusion of `population`, if concluded.
    pub fn conclusion(&self, population: &str) -> Result<Option<ConclusionRow>> {
        self.conn
            .query_row(
                "SELECT evaluation, finding, finding_source, note, concluded_at FROM conclusions WHERE population = ?1",
                [population],
                |r| {
                    Ok(ConclusionRow {
                        evaluation: json(&r.get::<_, String>(0)?)?,
                        finding: r.get(1)?,
                        finding_source: r.get(2)?,
                        note: r.get(3)?,
                        concluded_at: ts(&r.get::<_, String>(4)?)?,
                    })
                },
            )
            .optional()
            .map_err(self.db())
    }

    /// Store the conclusion (inside a step's transaction).
    pub(crate) fn store_conclusion(&self, population: &str, c: &ConclusionRow) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO conclusions (population, evaluation, finding, finding_source, note, concluded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    population,
                    to_json(&c.evaluation),
                    c.finding,
                    c.finding_source,
                    c.note,
                    c.concluded_at.to_string()
                ],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// The ingest history, oldest first.
    pub fn ingests(&self) -> Result<Vec<IngestRow>> {
        self.all("SELECT origin, archive, from_seq, to_seq, checkpoint, items_added, items_already_held, ingested_at
                 FROM ingests ORDER BY id", [], |r| {
                Ok(IngestRow {
                    origin: r.get(0)?,
                    archive: r.get(1)?,
                    from_run: r.get(2)?,
                    to_run: r.get(3)?,
                    checkpoint: r.get(4)?,
                    items_added: r.get(5)?,
                    items_already_held: r.get(6)?,
                    ingested_at: r.get(7)?,
                })
            })
    }

    /// Per sampled item: the audit of its population and its controls (for the coverage matrix).
    pub fn sampled_controls(&self) -> Result<Vec<(String, String)>> {
        self.all(
            "SELECT populations.audit, items.controls FROM picks
                 JOIN populations ON populations.name = picks.population
                 JOIN items ON items.id = picks.item",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// Gaps the agent recorded, by origin and run.
    pub fn gaps(&self) -> Result<Vec<GapRow>> {
        self.all(
            "SELECT origin, bundle_seq, source, scope, category, message, occurred_at FROM gaps
                 ORDER BY origin, bundle_seq",
            [],
            |r| {
                Ok(GapRow {
                    origin: r.get(0)?,
                    run: r.get(1)?,
                    source: r.get(2)?,
                    scope: r.get(3)?,
                    category: r.get(4)?,
                    message: r.get(5)?,
                    occurred_at: r.get(6)?,
                })
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_gets_the_current_schema_version_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.sqlite");
        drop(Engagement::create(&path).unwrap());
        let e = Engagement::open(&path).unwrap();
        let v: i64 = e
            .conn
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }

    #[test]
    fn a_version_1_file_is_migrated_on_open_and_keeps_its_audits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.sqlite");
        let e = Engagement::create(&path).unwrap();
        e.conn
            .execute_batch(
                "DROP TABLE decisions; DROP TABLE reviews; DROP TABLE planned_audits; DROP TABLE programme; DROP TABLE actions; DROP TABLE findings; UPDATE schema_version SET version = 1;
                 INSERT INTO audits (id, ordinal, type, confidence, tolerable, expected, created_at)
                 VALUES ('stage2', 1, 'initial', '0.95', '0.05', '0', '2026-01-01T00:00:00Z');",
            )
            .unwrap();
        drop(e);
        let e = Engagement::open(&path).unwrap();
        let v: i64 = e
            .conn
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 2);
        assert_eq!(e.audits().unwrap().len(), 1);
        assert!(e.findings().unwrap().is_empty());
        assert!(e.actions().unwrap().is_empty());
    }

    #[test]
    fn a_file_from_a_newer_version_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.sqlite");
        let e = Engagement::create(&path).unwrap();
        e.conn
            .execute("UPDATE schema_version SET version = 99", [])
            .unwrap();
        drop(e);
        let err = Engagement::open(&path).unwrap_err().to_string();
        assert!(
            err.contains("newer evidence-auditor (schema version 99"),
            "{err}"
        );
    }

    #[test]
    fn a_file_that_is_not_an_engagement_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.sqlite");
        let c = Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE t (x)").unwrap();
        drop(c);
        let err = Engagement::open(&path).unwrap_err().to_string();
        assert!(
            err.contains("not an evidence-auditor engagement file"),
            "{err}"
        );
        std::fs::write(&path, b"plain text, not a database at all").unwrap();
        assert!(Engagement::open(&path).is_err());
    }

    #[test]
    fn a_missing_file_is_not_created_unless_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.sqlite");
        assert!(matches!(
            Engagement::open(&path),
            Err(EngagementError::NotFound { .. })
        ));
        assert!(!path.exists());
    }
}
