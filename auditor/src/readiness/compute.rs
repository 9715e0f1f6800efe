//! The readiness computation, pure: from the evidence the engagement holds (grouped by kind,
//! source, tags and month), the agent's gap records and runs, the SoA and the cadence overrides,
//! at a time the caller passes in, the status of every Annex A control and every assessable
//! requirement of clauses 4–10, the Stage 1 documents checklist, the findings, and what changed
//! since an earlier date.

use std::collections::{BTreeMap, BTreeSet};

use evidence_model::{Catalogue, Timestamp};
use serde::Serialize;

use super::cadence::{self, Cadence};
use super::soa::{Soa, SoaProblem};

/// The schema tag of the JSON document.
pub const READINESS_SCHEMA: &str = "evidence-readiness/1";

/// Months the heat map shows, ending with the month of `as_of`.
pub const HEATMAP_MONTHS: usize = 12;

/// One sealed item, as a row links to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemRef {
    pub item_id: String,
    pub origin: String,
    /// Hex SHA-256 of the artefact.
    pub sha256: String,
    /// The run whose bundle (`run-NNNNNN.zip`) holds it.
    pub bundle_seq: u64,
    pub kind: String,
    pub title: String,
    /// Its time: the source's own time, else when it was collected (UTC seconds).
    pub time: i64,
}

impl ItemRef {
    /// `run-NNNNNN.zip`.
    pub fn bundle(&self) -> String {
        evidence_archive::layout::bundle_file_name(self.bundle_seq)
    }
}

/// Items of one kind, source and tagging in one calendar month (UTC), at or before `as_of`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceGroup {
    pub kind: String,
    pub source: String,
    /// Space-separated control ids.
    pub controls: String,
    /// Space-separated clause ids.
    pub clauses: String,
    /// `YYYY-MM`.
    pub month: String,
    pub count: u64,
    /// The newest item of the group.
    pub newest: ItemRef,
}

/// A gap record the agent sealed: a source or scope that could not be read in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GapFact {
    pub origin: String,
    pub run: u64,
    pub source: String,
    pub scope: String,
    pub category: String,
    pub message: String,
    pub occurred_at: Timestamp,
}

/// A sealed run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunFact {
    pub origin: String,
    pub seq: u64,
    pub collected_at: Timestamp,
    pub items: u64,
    pub gaps: u64,
}

/// The checkpoint the figures were computed from: per origin, the last run's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointFact {
    pub origin: String,
    pub run: u64,
    pub tree_size: u64,
    /// Base64, as in the checkpoint text.
    pub root: String,
}

/// What became of the latest sealed SoA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SoaInput {
    /// No item of kind `statement_of_applicability` at `as_of`.
    Absent,
    /// It could not be read from the archive (the reason says why).
    Unreadable {
        item: ItemRef,
        reason: String,
    },
    /// It has problems; none of its rows is used.
    Malformed {
        item: ItemRef,
        problems: Vec<SoaProblem>,
    },
    Parsed {
        item: ItemRef,
        soa: Soa,
    },
}

/// Cadences overriding the defaults: per control or clause id, and per kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Overrides {
    pub by_id: BTreeMap<String, Cadence>,
    pub by_kind: BTreeMap<String, Cadence>,
}

/// Everything the computation reads.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub groups: Vec<EvidenceGroup>,
    /// (source, kind) pairs of the agent's population records: which kinds a source collects.
    pub source_kinds: Vec<(String, String)>,
    pub gaps: Vec<GapFact>,
    pub runs: Vec<RunFact>,
    pub checkpoints: Vec<CheckpointFact>,
    pub soa: SoaInput,
    pub overrides: Overrides,
}

/// A row's status at `as_of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Evidence newer than its cadence.
    Current,
    /// Evidence, but all of it older than its cadence.
    Stale,
    /// No current evidence, and a source that supplies it failed since its newest evidence: the
    /// archive cannot tell whether evidence exists.
    Gap,
    /// Applicable, no evidence, and no source failure to explain it.
    Missing,
    /// Excluded by the SoA.
    Excluded,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Current,
        Status::Stale,
        Status::Gap,
        Status::Missing,
        Status::Excluded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Current => "current",
            Status::Stale => "stale",
            Status::Gap => "gap",
            Status::Missing => "missing",
            Status::Excluded => "excluded",
        }
    }
}

/// The evidence of one kind for a row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KindEvidence {
    pub kind: String,
    pub count: u64,
    pub newest: Timestamp,
    pub cadence: Cadence,
    pub current: bool,
}

/// One Annex A control or clause requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub id: String,
    /// `annex_a` or `clause`.
    pub requirement: &'static str,
    pub title: String,
    pub applicable: bool,
    /// Whether the SoA lists it (always false for clauses, which cannot be excluded).
    pub in_soa: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soa_row: Option<usize>,
    pub justification: String,
    pub implementation: String,
    pub owner: String,
    /// A cadence for this row overriding the kinds' defaults (SoA or config).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cadence: Option<Cadence>,
    pub status: Status,
    pub items: u64,
    pub kinds: Vec<KindEvidence>,
    pub sources: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newest: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newest_item: Option<ItemRef>,
    /// Sources that supply this row and failed since its newest evidence.
    pub gap_sources: Vec<String>,
    /// Items per month of [`Readiness::months`].
    pub monthly: Vec<u64>,
    /// One line for people.
    pub note: String,
}

/// One document of the Stage 1 checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage1Row {
    pub document: &'static str,
    pub clauses: &'static str,
    pub kinds: Vec<&'static str>,
    /// `present`, `stale` or `missing`.
    pub status: &'static str,
    pub items: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<ItemRef>,
    pub note: String,
}

/// Something the compliance lead must act on that no row status says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `soa_absent`, `soa_malformed`, `soa_unreadable`, `excluded_without_justification`,
    /// `not_in_soa`, `collection_gap`, `excluded_with_evidence`.
    pub code: &'static str,
    /// The control, source or file it is about.
    pub subject: String,
    pub message: String,
}

/// Rows per status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub current: u64,
    pub stale: u64,
    pub gap: u64,
    pub missing: u64,
    pub excluded: u64,
}

impl Counts {
    pub fn get(&self, s: Status) -> u64 {
        match s {
            Status::Current => self.current,
            Status::Stale => self.stale,
            Status::Gap => self.gap,
            Status::Missing => self.missing,
            Status::Excluded => self.excluded,
        }
    }

    fn add(&mut self, s: Status) {
        match s {
            Status::Current => self.current += 1,
            Status::Stale => self.stale += 1,
            Status::Gap => self.gap += 1,
            Status::Missing => self.missing += 1,
            Status::Excluded => self.excluded += 1,
        }
    }
}

/// What the SoA was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SoaSummary {
    /// `read`, `absent`, `malformed` or `unreadable`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<ItemRef>,
    pub rows: usize,
    /// Every problem, `row R, column C: …`.
    pub problems: Vec<String>,
}

/// One row's change since the earlier date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub id: String,
    pub title: String,
    /// `new` (first evidence), `refreshed` (newer evidence), `newly_stale` (was current, is not),
    /// `status_changed`.
    pub change: &'static str,
    pub before: Status,
    pub after: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before_newest: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_newest: Option<Timestamp>,
}

/// The surveillance view: what changed since `since`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comparison {
    pub since: Timestamp,
    pub counts_before: Counts,
    pub changes: Vec<Change>,
}

/// The readiness of the organisation at `as_of`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Readiness {
    pub schema: &'static str,
    pub standard: String,
    pub as_of: Timestamp,
    pub checkpoints: Vec<CheckpointFact>,
    pub soa: SoaSummary,
    pub counts: Counts,
    pub rows: Vec<Row>,
    pub stage1: Vec<Stage1Row>,
    pub findings: Vec<Finding>,
    /// The heat map's months, `YYYY-MM`, oldest first.
    pub months: Vec<String>,
    pub runs: Vec<RunFact>,
    pub gaps: Vec<GapFact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
}

/// The documented information a Stage 1 audit reviews: name, clauses, kinds that evidence it.
pub const STAGE1: &[(&str, &str, &[&str])] = &[
    (
        "Scope of the AI management system",
        "4.3",
        &["aims_scope_context"],
    ),
    ("AI policy", "5.2", &["ai_policy"]),
    ("AI objectives", "6.2", &["ai_objectives_register"]),
    (
        "AI risk assessment process and results",
        "6.1.2, 8.2",
        &["risk_register_entry"],
    ),
    (
        "AI risk treatment process and results",
        "6.1.3, 8.3",
        &["risk_treatment_plan"],
    ),
    (
        "Statement of Applicability",
        "6.1.3",
        &["statement_of_applicability"],
    ),
    (
        "AI system impact assessment process and results",
        "6.1.4, 8.4",
        &["impact_assessment", "impact_assessment_procedure"],
    ),
    ("Evidence of competence", "7.2", &["training_record"]),
    (
        "Operational planning and control",
        "8.1",
        &["dev_process_procedure", "requirements_spec"],
    ),
    (
        "Monitoring and measurement results",
        "9.1",
        &["monitoring_alert", "data_quality_report", "event_log"],
    ),
    (
        "Internal audit programme and results",
        "9.2",
        &["internal_audit_report"],
    ),
    (
        "Management review results",
        "9.3",
        &["management_review_minutes"],
    ),
    (
        "Nonconformities and corrective actions",
        "10.2",
        &["corrective_action_ticket", "post_incident_review"],
    ),
];

/// `YYYY-MM` of a UTC time in seconds.
pub fn month_of(secs: i64) -> String {
    Timestamp::from_second(secs)
        .map(|t| t.strftime("%Y-%m").to_string())
        .unwrap_or_default()
}

/// The `n` months ending with the month of `as_of`, oldest first.
fn months_ending(as_of: Timestamp, n: usize) -> Vec<String> {
    let d = as_of.to_zoned(jiff::tz::TimeZone::UTC).date();
    let (mut y, mut m) = (i32::from(d.year()), i32::from(d.month()));
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(format!("{y:04}-{m:02}"));
        m -= 1;
        if m == 0 {
            m = 12;
            y -= 1;
        }
    }
    out.reverse();
    out
}

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn newer(a: &ItemRef, b: &ItemRef) -> bool {
    (a.time, &a.item_id) > (b.time, &b.item_id)
}

/// What the evidence says about one row, before its status.
#[derive(Default)]
struct Acc {
    items: u64,
    kinds: BTreeMap<String, (u64, ItemRef)>,
    sources: BTreeSet<String>,
    monthly: BTreeMap<String, u64>,
}

/// Compute the readiness at `as_of`. `inputs.groups` hold the evidence at `as_of` only.
pub fn compute(inputs: &Inputs, as_of: Timestamp) -> Readiness {
    let cat = Catalogue::iso42001();
    let now = as_of.as_second();
    let months = months_ending(as_of, HEATMAP_MONTHS);

    // Evidence per row id.
    let mut acc: BTreeMap<&str, Acc> = BTreeMap::new();
    let mut by_kind: BTreeMap<&str, (u64, &ItemRef)> = BTreeMap::new();
    for g in &inputs.groups {
        for id in g
            .controls
            .split_whitespace()
            .chain(g.clauses.split_whitespace())
        {
            let a = acc.entry(id).or_default();
            a.items += g.count;
            a.sources.insert(g.source.clone());
            *a.monthly.entry(g.month.clone()).or_default() += g.count;
            let e = a
                .kinds
                .entry(g.kind.clone())
                .or_insert_with(|| (0, g.newest.clone()));
            e.0 += g.count;
            if newer(&g.newest, &e.1) {
                e.1 = g.newest.clone();
            }
        }
        let k = by_kind.entry(g.kind.as_str()).or_insert((0, &g.newest));
        k.0 += g.count;
        if newer(&g.newest, k.1) {
            k.1 = &g.newest;
        }
    }
    // Which rows each source supplies: what it sealed, and the default tags of kinds it collects.
    let mut supplies: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for g in &inputs.groups {
        let s = supplies.entry(g.source.as_str()).or_default();
        s.extend(g.controls.split_whitespace().map(str::to_owned));
        s.extend(g.clauses.split_whitespace().map(str::to_owned));
    }
    for (source, kind) in &inputs.source_kinds {
        if let Some(m) = cat.kind(kind) {
            let s = supplies.entry(source.as_str()).or_default();
            s.extend(m.controls.iter().cloned());
            s.extend(m.clauses.iter().cloned());
        }
    }
    let gaps: Vec<GapFact> = inputs
        .gaps
        .iter()
        .filter(|g| g.occurred_at <= as_of)
        .cloned()
        .collect();
    let runs: Vec<RunFact> = inputs
        .runs
        .iter()
        .filter(|r| r.collected_at <= as_of)
        .cloned()
        .collect();

    let mut findings = Vec::new();
    let (soa, soa_summary) = soa_facts(&inputs.soa, &mut findings);

    let mut rows = Vec::new();
    let requirements = cat
        .controls()
        .map(|c| (c.id.as_str(), c.title.as_str(), "annex_a"))
        .chain(
            cat.clauses()
                .filter(|c| c.assessable)
                .map(|c| (c.id.as_str(), c.title.as_str(), "clause")),
        );
    let mut requirements: Vec<_> = requirements.collect();
    // Clauses in document order (4.1 … 10.2), after the controls.
    requirements.sort_by_key(|(id, _, req)| (*req != "annex_a", id_order(id)));
    let mut not_in_soa = Vec::new();
    for (id, title, requirement) in requirements {
        let soa_row = soa.and_then(|s| s.rows.get(id));
        if requirement == "annex_a" && soa.is_some() && soa_row.is_none() {
            not_in_soa.push(id);
        }
        let applicable = soa_row.is_none_or(|r| r.applicable);
        let cadence = inputs
            .overrides
            .by_id
            .get(id)
            .copied()
            .or_else(|| soa_row.and_then(|r| r.cadence));
        let a = acc.remove(id).unwrap_or_default();
        let kinds: Vec<KindEvidence> = a
            .kinds
            .iter()
            .map(|(kind, (count, newest))| {
                let c = cadence.unwrap_or_else(|| kind_cadence(&inputs.overrides, kind));
                KindEvidence {
                    kind: kind.clone(),
                    count: *count,
                    newest: ts(newest.time),
                    cadence: c,
                    current: c.is_current(newest.time, now),
                }
            })
            .collect();
        let newest_item = a
            .kinds
            .values()
            .map(|(_, i)| i)
            .fold(None::<&ItemRef>, |best, i| match best {
                Some(b) if !newer(i, b) => Some(b),
                _ => Some(i),
            })
            .cloned();
        let newest_time = newest_item.as_ref().map(|i| i.time);
        let gap_sources: BTreeSet<String> = gaps
            .iter()
            .filter(|g| newest_time.is_none_or(|t| g.occurred_at.as_second() > t))
            .filter(|g| {
                supplies
                    .get(g.source.as_str())
                    .is_some_and(|s| s.contains(id))
            })
            .map(|g| g.source.clone())
            .collect();
        let any_current = kinds.iter().any(|k| k.current);
        let status = if !applicable {
            Status::Excluded
        } else if any_current {
            Status::Current
        } else if !gap_sources.is_empty() {
            Status::Gap
        } else if a.items > 0 {
            Status::Stale
        } else {
            Status::Missing
        };
        let justification = soa_row.map(|r| r.justification.clone()).unwrap_or_default();
        if requirement == "annex_a" && !applicable && justification.is_empty() {
            findings.push(Finding {
                code: "excluded_without_justification",
                subject: id.to_owned(),
                message: format!(
                    "{id} is excluded by the SoA (row {}) without a justification (6.1.3 d)",
                    soa_row.map_or(0, |r| r.row)
                ),
            });
        }
        if !applicable && a.items > 0 {
            findings.push(Finding {
                code: "excluded_with_evidence",
                subject: id.to_owned(),
                message: format!(
                    "{id} is excluded by the SoA, yet {} item(s) are tagged with it",
                    a.items
                ),
            });
        }
        let note = match status {
            Status::Current => format!(
                "newest {} ({})",
                newest_item.as_ref().map(|i| i.kind.as_str()).unwrap_or(""),
                day(newest_time)
            ),
            Status::Stale => format!(
                "newest evidence {} is older than its cadence",
                day(newest_time)
            ),
            Status::Gap => format!(
                "collection gap: {} failed since its newest evidence",
                gap_sources.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
            Status::Missing => "no evidence".to_owned(),
            Status::Excluded if justification.is_empty() => {
                "excluded without justification".to_owned()
            }
            Status::Excluded => format!("excluded: {justification}"),
        };
        rows.push(Row {
            id: id.to_owned(),
            requirement,
            title: title.to_owned(),
            applicable,
            in_soa: soa_row.is_some(),
            soa_row: soa_row.map(|r| r.row),
            justification,
            implementation: soa_row
                .map(|r| r.implementation.clone())
                .unwrap_or_default(),
            owner: soa_row.map(|r| r.owner.clone()).unwrap_or_default(),
            cadence,
            status,
            items: a.items,
            kinds,
            sources: a.sources.into_iter().collect(),
            newest: newest_time.map(ts),
            newest_item,
            gap_sources: gap_sources.into_iter().collect(),
            monthly: months
                .iter()
                .map(|m| a.monthly.get(m).copied().unwrap_or(0))
                .collect(),
            note,
        });
    }
    if !not_in_soa.is_empty() {
        findings.push(Finding {
            code: "not_in_soa",
            subject: "SoA".to_owned(),
            message: format!(
                "the SoA does not list {} Annex A control(s), treated as applicable: {}",
                not_in_soa.len(),
                not_in_soa.join(", ")
            ),
        });
    }
    let mut by_source: BTreeMap<&str, Vec<&GapFact>> = BTreeMap::new();
    for g in &gaps {
        by_source.entry(g.source.as_str()).or_default().push(g);
    }
    for (source, list) in by_source {
        let last = list.iter().max_by_key(|g| (g.occurred_at, g.run)).copied();
        if let Some(last) = last {
            findings.push(Finding {
                code: "collection_gap",
                subject: source.to_owned(),
                message: format!(
                    "source {source} failed {} time(s), last in run {} ({}, scope {}): {}",
                    list.len(),
                    last.run,
                    last.category,
                    last.scope,
                    last.message
                ),
            });
        }
    }

    let stage1 = STAGE1
        .iter()
        .map(|&(document, clauses, kinds)| {
            let mut items = 0;
            let mut best: Option<&ItemRef> = None;
            let mut current = false;
            for k in kinds {
                if let Some(&(n, i)) = by_kind.get(k) {
                    items += n;
                    current |= kind_cadence(&inputs.overrides, k).is_current(i.time, now);
                    if best.is_none_or(|b| newer(i, b)) {
                        best = Some(i);
                    }
                }
            }
            let status = match (best, current) {
                (None, _) => "missing",
                (Some(_), true) => "present",
                (Some(_), false) => "stale",
            };
            let mut note = match best {
                None => format!("no item of kind {}", kinds.join(" or ")),
                Some(i) => format!("{} ({})", i.title, day(Some(i.time))),
            };
            if kinds.contains(&"statement_of_applicability") && soa_summary.status != "read" {
                note.push_str(&format!("; the latest version is {}", soa_summary.status));
            }
            Stage1Row {
                document,
                clauses,
                kinds: kinds.to_vec(),
                status,
                items,
                item: best.cloned(),
                note,
            }
        })
        .collect();

    let mut counts = Counts::default();
    for r in &rows {
        counts.add(r.status);
    }
    Readiness {
        schema: READINESS_SCHEMA,
        standard: cat.standard().to_owned(),
        as_of,
        checkpoints: inputs.checkpoints.clone(),
        soa: soa_summary,
        counts,
        rows,
        stage1,
        findings,
        months,
        runs,
        gaps,
        comparison: None,
    }
}

fn kind_cadence(o: &Overrides, kind: &str) -> Cadence {
    o.by_kind
        .get(kind)
        .copied()
        .unwrap_or_else(|| cadence::default_for(kind))
}

/// Sort key of a dotted id: `A.10.3` after `A.9.4`, `10.1` after `9.3.3`.
fn id_order(id: &str) -> Vec<u32> {
    id.trim_start_matches("A.")
        .split('.')
        .map(|p| p.parse().unwrap_or(u32::MAX))
        .collect()
}

/// `YYYY-MM-DD` of a time, or `-`.
pub fn day(secs: Option<i64>) -> String {
    secs.and_then(|s| Timestamp::from_second(s).ok())
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "-".to_owned())
}

fn soa_facts<'a>(
    input: &'a SoaInput,
    findings: &mut Vec<Finding>,
) -> (Option<&'a Soa>, SoaSummary) {
    match input {
        SoaInput::Absent => {
            findings.push(Finding {
                code: "soa_absent",
                subject: "SoA".to_owned(),
                message: "no Statement of Applicability was collected (kind statement_of_applicability); every Annex A control is treated as applicable".to_owned(),
            });
            (
                None,
                SoaSummary {
                    status: "absent",
                    item: None,
                    rows: 0,
                    problems: Vec::new(),
                },
            )
        }
        SoaInput::Unreadable { item, reason } => {
            findings.push(Finding {
                code: "soa_unreadable",
                subject: item.item_id.clone(),
                message: format!(
                    "the latest SoA ({}) could not be read: {reason}; every Annex A control is treated as applicable",
                    item.title
                ),
            });
            (
                None,
                SoaSummary {
                    status: "unreadable",
                    item: Some(item.clone()),
                    rows: 0,
                    problems: vec![reason.clone()],
                },
            )
        }
        SoaInput::Malformed { item, problems } => {
            for p in problems {
                findings.push(Finding {
                    code: "soa_malformed",
                    subject: item.title.clone(),
                    message: p.to_string(),
                });
            }
            (
                None,
                SoaSummary {
                    status: "malformed",
                    item: Some(item.clone()),
                    rows: 0,
                    problems: problems.iter().map(|p| p.to_string()).collect(),
                },
            )
        }
        SoaInput::Parsed { item, soa } => (
            Some(soa),
            SoaSummary {
                status: "read",
                item: Some(item.clone()),
                rows: soa.rows.len(),
                problems: Vec::new(),
            },
        ),
    }
}

/// Compare the readiness now with the readiness at an earlier date.
pub fn compare(before: &Readiness, after: &Readiness) -> Comparison {
    let earlier: BTreeMap<&str, &Row> = before.rows.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut changes = Vec::new();
    for r in &after.rows {
        let Some(b) = earlier.get(r.id.as_str()) else {
            continue;
        };
        let change = match (b.newest, r.newest) {
            (None, Some(_)) => "new",
            (Some(x), Some(y)) if y > x => "refreshed",
            _ if b.status == Status::Current && r.status != Status::Current => "newly_stale",
            _ if b.status != r.status => "status_changed",
            _ => continue,
        };
        changes.push(Change {
            id: r.id.clone(),
            title: r.title.clone(),
            change,
            before: b.status,
            after: r.status,
            before_newest: b.newest,
            after_newest: r.newest,
        });
    }
    Comparison {
        since: before.as_of,
        counts_before: before.counts.clone(),
        changes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readiness::soa;

    const DAY: i64 = 86_400;
    const NOW: i64 = 1_798_761_600; // 2027-01-01

    fn item(id: &str, kind: &str, time: i64) -> ItemRef {
        ItemRef {
            item_id: id.to_owned(),
            origin: "o".to_owned(),
            sha256: "00".repeat(32),
            bundle_seq: 1,
            kind: kind.to_owned(),
            title: id.to_owned(),
            time,
        }
    }

    fn group(kind: &str, source: &str, controls: &str, clauses: &str, time: i64) -> EvidenceGroup {
        EvidenceGroup {
            kind: kind.to_owned(),
            source: source.to_owned(),
            controls: controls.to_owned(),
            clauses: clauses.to_owned(),
            month: month_of(time),
            count: 2,
            newest: item(&format!("{source}-{kind}-{time}"), kind, time),
        }
    }

    fn inputs(soa_text: &str) -> Inputs {
        let soa_item = item("docs-soa", "statement_of_applicability", NOW - 10 * DAY);
        Inputs {
            groups: vec![
                group("ai_policy", "docs", "A.2.2", "5.2", NOW - 30 * DAY),
                group(
                    "impact_assessment",
                    "docs",
                    "A.5.2",
                    "6.1.4",
                    NOW - 400 * DAY,
                ),
                group("pr_approval", "gh", "A.6.2.3", "8.1", NOW - 60 * DAY),
                group(
                    "post_incident_review",
                    "jira",
                    "A.8.4",
                    "10.2",
                    NOW - 900 * DAY,
                ),
                group(
                    "statement_of_applicability",
                    "docs",
                    "",
                    "6.1.3",
                    NOW - 10 * DAY,
                ),
            ],
            source_kinds: vec![],
            gaps: vec![GapFact {
                origin: "o".into(),
                run: 3,
                source: "gh".into(),
                scope: "acme/model".into(),
                category: "unreachable".into(),
                message: "connection refused".into(),
                occurred_at: ts(NOW - 5 * DAY),
            }],
            runs: vec![],
            checkpoints: vec![],
            soa: SoaInput::Parsed {
                item: soa_item,
                soa: soa::parse(soa_text.as_bytes(), false).unwrap(),
            },
            overrides: Overrides::default(),
        }
    }

    const SOA: &str = "control,applicable,justification,cadence\n\
        A.2.2,yes,Required,\n\
        A.5.2,yes,Affects people,\n\
        A.6.2.3,yes,We build models,\n\
        A.8.4,yes,Customers,\n\
        A.10.3,no,No suppliers,\n\
        A.10.4,no,,\n\
        A.4.2,yes,Inventory,\n";

    fn row<'a>(r: &'a Readiness, id: &str) -> &'a Row {
        r.rows.iter().find(|x| x.id == id).unwrap()
    }

    #[test]
    fn every_status_is_derived_from_evidence_cadence_soa_and_gaps() {
        let r = compute(&inputs(SOA), ts(NOW));
        assert_eq!(
            r.rows.len(),
            38 + 32,
            "38 controls and every assessable clause"
        );
        assert_eq!(r.rows[0].id, "A.2.2");
        assert_eq!(r.rows[37].id, "A.10.4", "controls in the standard's order");
        assert_eq!(r.rows[38].id, "4.1");
        assert_eq!(r.rows.last().unwrap().id, "10.2");
        assert_eq!(row(&r, "A.2.2").status, Status::Current);
        assert_eq!(
            row(&r, "A.5.2").status,
            Status::Stale,
            "impact assessment 400 days old"
        );
        assert_eq!(
            row(&r, "A.6.2.3").status,
            Status::Gap,
            "PRs 60 days old and GitHub failed since"
        );
        assert_eq!(row(&r, "A.6.2.3").gap_sources, ["gh"]);
        assert_eq!(
            row(&r, "A.8.4").status,
            Status::Current,
            "incidents are events"
        );
        assert_eq!(row(&r, "A.4.2").status, Status::Missing);
        assert_eq!(row(&r, "A.10.3").status, Status::Excluded);
        assert_eq!(row(&r, "A.10.4").status, Status::Excluded);
        assert_eq!(
            row(&r, "A.3.2").status,
            Status::Missing,
            "not in the SoA: applicable"
        );
        let codes: Vec<_> = r
            .findings
            .iter()
            .map(|f| (f.code, f.subject.as_str()))
            .collect();
        assert!(codes.contains(&("excluded_without_justification", "A.10.4")));
        assert!(!codes.contains(&("excluded_without_justification", "A.10.3")));
        assert!(codes.contains(&("collection_gap", "gh")));
        assert!(codes.iter().any(|(c, _)| *c == "not_in_soa"));
        assert_eq!(row(&r, "A.2.2").items, 2);
        assert_eq!(row(&r, "A.2.2").sources, ["docs"]);
        assert_eq!(row(&r, "5.2").status, Status::Current);
        assert_eq!(r.counts.excluded, 2);
        let total: u64 = Status::ALL.iter().map(|s| r.counts.get(*s)).sum();
        assert_eq!(total, 70);
        assert_eq!(r.months.len(), HEATMAP_MONTHS);
        assert_eq!(r.months.last().unwrap(), "2027-01");
        assert_eq!(row(&r, "A.2.2").monthly.iter().sum::<u64>(), 2);
    }

    #[test]
    fn overrides_and_the_stage1_checklist() {
        let mut i =
            inputs(&SOA.replace("A.5.2,yes,Affects people,", "A.5.2,yes,Affects people,500d"));
        i.overrides.by_id.insert("A.2.2".into(), Cadence::Days(7));
        let r = compute(&i, ts(NOW));
        assert_eq!(
            row(&r, "A.5.2").status,
            Status::Current,
            "SoA cadence 500 days"
        );
        assert_eq!(
            row(&r, "A.2.2").status,
            Status::Stale,
            "config cadence 7 days"
        );
        let s1: BTreeMap<_, _> = r.stage1.iter().map(|s| (s.document, s.status)).collect();
        assert_eq!(s1["AI policy"], "present");
        assert_eq!(s1["Statement of Applicability"], "present");
        assert_eq!(
            s1["AI system impact assessment process and results"],
            "stale"
        );
        assert_eq!(s1["Management review results"], "missing");
        assert_eq!(s1["Nonconformities and corrective actions"], "present");
    }

    #[test]
    fn a_malformed_or_absent_soa_is_a_finding_and_every_control_applies() {
        let mut i = inputs(SOA);
        i.soa = SoaInput::Malformed {
            item: item("docs-soa", "statement_of_applicability", NOW),
            problems: soa::parse(b"control,applicable,justification\nA.99,yes,x\n", false)
                .unwrap_err(),
        };
        let r = compute(&i, ts(NOW));
        assert_eq!(r.soa.status, "malformed");
        assert!(r.soa.problems[0].starts_with("row 2, column A (control)"));
        assert_eq!(r.counts.excluded, 0);
        assert!(r.findings.iter().any(|f| f.code == "soa_malformed"));
        i.soa = SoaInput::Absent;
        let r = compute(&i, ts(NOW));
        assert!(r.findings.iter().any(|f| f.code == "soa_absent"));
    }

    #[test]
    fn the_comparison_names_new_refreshed_and_newly_stale_rows() {
        let mut early = inputs(SOA);
        early.groups.retain(|g| g.kind != "pr_approval");
        early.groups[0].newest.time = NOW - 200 * DAY;
        let before = compute(&early, ts(NOW - 100 * DAY));
        let after = compute(&inputs(SOA), ts(NOW));
        let c = compare(&before, &after);
        let by: BTreeMap<_, _> = c
            .changes
            .iter()
            .map(|c| (c.id.as_str(), c.change))
            .collect();
        assert_eq!(by["A.6.2.3"], "new");
        assert_eq!(by["A.2.2"], "refreshed");
        assert_eq!(by["A.5.2"], "newly_stale");
        assert!(!by.contains_key("A.4.2"));
    }

    #[test]
    fn the_same_inputs_give_the_same_document() {
        let a = serde_json::to_string(&compute(&inputs(SOA), ts(NOW))).unwrap();
        let b = serde_json::to_string(&compute(&inputs(SOA), ts(NOW))).unwrap();
        assert_eq!(a, b);
    }
}
