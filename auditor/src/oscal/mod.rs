//! The engagement as NIST OSCAL: **assessment-results** (each audit a result; each finding with
//! `target.status` satisfied / not-satisfied and its ISO/IEC 42001 category as a namespaced
//! property; observations linking archive items by bundle path and SHA-256, or a sampled
//! population with its method and parameters) and **plan-of-action-and-milestones** (the open
//! corrective actions). Built from [`OscalFacts`] alone (pure): the same engagement gives the
//! same document, UUIDs included (name-based, version 5, under the engagement's identity).
//!
//! - `load`: reading the facts from an engagement.

pub mod load;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::engagement::db::AuditRow;
use crate::engagement::evaluate::Finding;
use crate::engagement::improvement::{ActionRecord, ActionStatus, EvidenceRef, FindingRecord};

/// The OSCAL version the documents are written against.
pub const OSCAL_VERSION: &str = "1.1.3";
/// The namespace of this product's OSCAL properties.
pub const NS: &str = "urn:evidence-platform:oscal:iso42001";

/// Where an archive item lives: its bundle and its artefact's path in the bag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemLocation {
    pub bundle_seq: u64,
    pub artefact_path: String,
}

/// A concluded population: its sampling method and parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct PopulationFacts {
    pub name: String,
    pub definition: String,
    pub size: u64,
    pub evaluation: Value,
    pub tally: crate::engagement::evaluate::Tally,
}

/// Everything the documents are built from.
#[derive(Debug, Clone, Default)]
pub struct OscalFacts {
    /// The engagement's identity (its creation record), the root of every UUID.
    pub engagement_id: String,
    /// The newest record's time: the documents' `last-modified`.
    pub last_modified: String,
    pub audits: Vec<AuditRow>,
    pub findings: Vec<FindingRecord>,
    pub actions: Vec<ActionRecord>,
    /// (origin, item id) → location.
    pub items: std::collections::BTreeMap<(String, String), ItemLocation>,
    pub populations: Vec<PopulationFacts>,
    /// The day open actions are read on.
    pub as_of: jiff::civil::Date,
}

impl OscalFacts {
    fn uuid(&self, name: &str) -> String {
        let root = Uuid::new_v5(&Uuid::NAMESPACE_URL, NS.as_bytes());
        let ns = Uuid::new_v5(&root, self.engagement_id.as_bytes());
        Uuid::new_v5(&ns, name.as_bytes()).to_string()
    }
}

/// An OSCAL token (NCName) for a requirement: controls as they are, clauses as `clause-9.2`.
pub fn requirement_token(id: &str) -> String {
    if id.starts_with(|c: char| c.is_ascii_digit()) {
        format!("clause-{id}")
    } else {
        id.to_owned()
    }
}

fn prop(name: &str, value: impl ToString) -> Value {
    json!({ "name": name, "ns": NS, "value": value.to_string() })
}

fn category_token(f: Finding) -> String {
    f.label().replace(' ', "-")
}

/// Satisfied unless the finding is a nonconformity.
fn state(f: &FindingRecord) -> &'static str {
    if f.needs_action() {
        "not-satisfied"
    } else {
        "satisfied"
    }
}

fn metadata(f: &OscalFacts, title: &str) -> Value {
    json!({
        "title": title,
        "last-modified": f.last_modified,
        "version": "1",
        "oscal-version": OSCAL_VERSION,
        "props": [prop("standard", "ISO/IEC 42001:2023")],
    })
}

/// One observation per piece of evidence a finding rests on.
fn observation(f: &OscalFacts, finding: &FindingRecord, i: usize, e: &EvidenceRef) -> Value {
    let uuid = f.uuid(&format!("observation/{}/{i}", finding.id));
    match e {
        EvidenceRef::Item {
            item_id,
            origin,
            sha256,
            sealed_at,
        } => item_observation(f, uuid, item_id, origin, sha256, *sealed_at),
        EvidenceRef::Population {
            name,
            finding: category,
            supports_reliance,
            concluded_at,
        } => population_observation(f, uuid, name, category, *supports_reliance, *concluded_at),
        EvidenceRef::Readiness {
            requirement,
            status,
            as_of,
            newest_item,
            newest_sha256,
        } => {
            let mut props = vec![
                prop("requirement", requirement),
                prop("readiness-status", status),
            ];
            if let (Some(i), Some(h)) = (newest_item, newest_sha256) {
                props.push(prop("newest-item", i));
                props.push(prop("newest-item-sha256", h));
            }
            json!({
                "uuid": uuid,
                "title": format!("Readiness of {requirement}"),
                "description": format!("{}.", e.describe()),
                "props": props,
                "methods": ["EXAMINE"],
                "types": ["control-objective"],
                "collected": as_of.to_string(),
            })
        }
    }
}

/// An archive item examined: its artefact in the sealed bundle, with its SHA-256.
fn item_observation(
    f: &OscalFacts,
    uuid: String,
    item_id: &str,
    origin: &str,
    sha256: &str,
    sealed_at: evidence_model::Timestamp,
) -> Value {
    let href = f
        .items
        .get(&(origin.to_owned(), item_id.to_owned()))
        .map_or_else(
            || format!("#{item_id}"),
            |l| {
                format!(
                    "{}#{}",
                    evidence_archive::layout::bundle_file_name(l.bundle_seq),
                    l.artefact_path
                )
            },
        );
    json!({
        "uuid": uuid,
        "title": format!("Archive item {item_id}"),
        "description": format!("Item {item_id} of origin {origin}, sealed {sealed_at}, SHA-256 {sha256}."),
        "props": [prop("item-id", item_id), prop("origin", origin)],
        "methods": ["EXAMINE"],
        "types": ["finding"],
        "relevant-evidence": [{
            "href": href,
            "description": format!("The artefact of item {item_id} in the sealed bundle."),
            "props": [prop("sha256", sha256)],
        }],
        "collected": sealed_at.to_string(),
    })
}

/// A sampled population tested: the sampling method and its parameters.
fn population_observation(
    f: &OscalFacts,
    uuid: String,
    name: &str,
    category: &str,
    supports_reliance: bool,
    concluded_at: evidence_model::Timestamp,
) -> Value {
    let p = f.populations.iter().find(|p| p.name == name);
    let ev = p.map(|p| &p.evaluation);
    let get = |k: &str| ev.and_then(|v| v.get(k)).map_or(String::new(), value_text);
    let mut props = vec![
        prop("population", name),
        prop(
            "sampling-method",
            "statistical attribute sampling; Rivest SHA-256 selection over a frozen manifest",
        ),
        prop("likelihood", get("method")),
        prop("confidence", get("confidence")),
        prop("tolerable-rate", get("tolerable")),
        prop("upper-deviation-limit", get("upper_bound_display")),
        prop("supports-reliance", supports_reliance),
        prop("conclusion", category.replace(' ', "-")),
    ];
    if let Some(p) = p {
        props.push(prop("population-size", p.size));
        props.push(prop("sample-size", p.tally.tested));
        props.push(prop(
            "deviations",
            p.tally.deviations + p.tally.not_testable,
        ));
    }
    json!({
        "uuid": uuid,
        "title": format!("Sampled population {name}"),
        "description": p.map_or_else(
            || format!("Population {name}, sampled and concluded."),
            |p| format!("Population {name}: {}.", p.definition),
        ),
        "props": props,
        "methods": ["TEST"],
        "types": ["control-objective"],
        "collected": concluded_at.to_string(),
    })
}

fn finding_json(f: &OscalFacts, x: &FindingRecord, observations: &[String]) -> Value {
    let target = x
        .requirements
        .first()
        .map_or_else(String::new, |r| requirement_token(r));
    let mut props = vec![
        prop("finding-id", &x.id),
        prop("finding-category", category_token(x.category)),
    ];
    props.extend(x.requirements.iter().map(|r| prop("requirement", r)));
    let mut v = json!({
        "uuid": f.uuid(&format!("finding/{}", x.id)),
        "title": format!("{}: {} against {}", x.id, x.category.label(), x.requirements.join(", ")),
        "description": x.statement,
        "props": props,
        "target": {
            "type": "objective-id",
            "target-id": target,
            "status": { "state": state(x) },
        },
    });
    if !observations.is_empty() {
        v["related-observations"] = observations
            .iter()
            .map(|o| json!({ "observation-uuid": o }))
            .collect();
    }
    v
}

fn result(f: &OscalFacts, audit: &AuditRow) -> Value {
    let findings: Vec<&FindingRecord> = f.findings.iter().filter(|x| x.audit == audit.id).collect();
    let mut observations = Vec::new();
    let mut oscal_findings = Vec::new();
    let mut controls: Vec<String> = Vec::new();
    for x in &findings {
        let mut uuids = Vec::new();
        for (i, e) in x.evidence.iter().enumerate() {
            let o = observation(f, x, i, e);
            uuids.push(o["uuid"].as_str().unwrap_or_default().to_owned());
            observations.push(o);
        }
        oscal_findings.push(finding_json(f, x, &uuids));
        for r in &x.requirements {
            let t = requirement_token(r);
            if !controls.contains(&t) {
                controls.push(t);
            }
        }
    }
    let selection = if controls.is_empty() {
        json!({ "include-all": {} })
    } else {
        json!({ "include-controls": controls.iter().map(|c| json!({ "control-id": c })).collect::<Vec<_>>() })
    };
    let start = audit.period_from.unwrap_or(audit.created_at);
    let mut v = json!({
        "uuid": f.uuid(&format!("result/{}", audit.id)),
        "title": format!("Audit {} ({})", audit.id, audit.audit_type),
        "description": format!("The {} audit {} of the ISO/IEC 42001 AI management system: its findings and the evidence they rest on.", audit.audit_type, audit.id),
        "start": start.to_string(),
        "props": [prop("audit-type", &audit.audit_type)],
        "reviewed-controls": { "control-selections": [selection] },
    });
    if let Some(end) = audit.period_to {
        v["end"] = json!(end.to_string());
    }
    if !observations.is_empty() {
        v["observations"] = json!(observations);
    }
    if !oscal_findings.is_empty() {
        v["findings"] = json!(oscal_findings);
    }
    v
}

/// The assessment-results document.
pub fn assessment_results(f: &OscalFacts) -> Value {
    let programme = f.uuid("resource/programme");
    json!({
        "assessment-results": {
            "uuid": f.uuid("assessment-results"),
            "metadata": metadata(f, "ISO/IEC 42001 audit results"),
            "import-ap": {
                "href": format!("#{programme}"),
                "remarks": "The assessment plan is the engagement's audit programme and sampling records (evidence-auditor record export).",
            },
            "results": f.audits.iter().map(|a| result(f, a)).collect::<Vec<_>>(),
            "back-matter": { "resources": [{
                "uuid": programme,
                "title": "Audit programme and sampling records",
                "description": "The evidence-auditor engagement these results were exported from.",
            }]},
        }
    })
}

/// The plan of action and milestones: the corrective actions still open on `as_of`; none
/// when every action is closed (OSCAL requires at least one item).
pub fn poam(f: &OscalFacts) -> Option<Value> {
    let open: Vec<&ActionRecord> = f
        .actions
        .iter()
        .filter(|a| a.status(f.as_of) != ActionStatus::Closed)
        .collect();
    if open.is_empty() {
        return None;
    }
    let items: Vec<Value> = open
        .iter()
        .map(|a| {
            let finding = f.findings.iter().find(|x| x.id == a.finding);
            let mut v = json!({
                "uuid": f.uuid(&format!("poam-item/{}", a.id)),
                "title": format!("{}: corrective action for {}", a.id, a.finding),
                "description": a.action,
                "props": [
                    prop("action-id", &a.id),
                    prop("owner", &a.owner),
                    prop("due-date", a.due),
                    prop("status", a.status(f.as_of).label().replace(' ', "-")),
                    prop("correction", &a.correction),
                    prop("root-cause", &a.root_cause),
                ],
            });
            if finding.is_some() {
                v["related-findings"] =
                    json!([{ "finding-uuid": f.uuid(&format!("finding/{}", a.finding)) }]);
            }
            v
        })
        .collect();
    let findings: Vec<Value> = open
        .iter()
        .filter_map(|a| f.findings.iter().find(|x| x.id == a.finding))
        .map(|x| finding_json(f, x, &[]))
        .collect();
    let mut doc = json!({
        "uuid": f.uuid("poam"),
        "metadata": metadata(f, "ISO/IEC 42001 corrective actions: plan of action and milestones"),
        "system-id": { "identifier-type": "https://ietf.org/rfc/rfc4122", "id": f.uuid("system") },
        "poam-items": items,
    });
    if !findings.is_empty() {
        doc["findings"] = json!(findings);
    }
    Some(json!({ "plan-of-action-and-milestones": doc }))
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
