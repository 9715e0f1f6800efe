//! Generates a large synthetic evidence archive for the ingest benchmark (`bench/ingest.sh`):
//! `BUNDLES` runs of `ITEMS` tiny items each, sealed with the real archive writer (staging,
//! `prepare`, `write`), so that the auditor verifies and ingests exactly what an agent would
//! produce. Usage: `bench_archive OUT_DIR [BUNDLES] [ITEMS]` (defaults 200 × 5,000); the
//! staging area goes under `BENCH_STAGING` when set.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use evidence_archive::layout;
use evidence_archive::run_record::{RUN_SCHEMA, RunRecord, SourceStatus, SourceSummary};
use evidence_archive::{ChainHead, SealInput, Staging, prepare};
use evidence_model::item::ITEM_SCHEMA;
use evidence_model::{
    Actor, Artefact, Catalogue, ItemId, ItemMeta, Kind, Provenance, Sha256Digest, SourceName,
    SourceRef, Times, Timestamp,
};

const ORIGIN: &str = "bench.example.org/ai";
const KINDS: [&str; 4] = ["pr_approval", "ci_run", "model_card", "incident_ticket"];

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(out) = args.next().map(PathBuf::from) else {
        bail!("usage: bench_archive OUT_DIR [BUNDLES] [ITEMS_PER_BUNDLE]");
    };
    let bundles: u64 = args.next().map_or(Ok(200), |a| a.parse())?;
    let per_bundle: u64 = args.next().map_or(Ok(5_000), |a| a.parse())?;
    std::fs::create_dir_all(&out).with_context(|| format!("create {}", out.display()))?;
    // Staging appends items to a spool file (`BENCH_STAGING` chooses where it goes).
    let staging_dir = std::env::var_os("BENCH_STAGING")
        .map(PathBuf::from)
        .unwrap_or_else(|| out.join(".staging"))
        .join(format!("bench-staging-{}", std::process::id()));
    let catalogue = Catalogue::iso42001();
    let source: SourceName = "bench-source".parse().context("the bench source name")?;
    let start: Timestamp = "2026-01-01T00:00:00Z".parse()?;
    let mut previous: Option<ChainHead> = None;
    for seq in 1..=bundles {
        let collected = start + jiff::SignedDuration::from_hours(24 * 365 + seq as i64);
        let mut staging = Staging::create(&staging_dir)?;
        for i in 0..per_bundle {
            let n = (seq - 1) * per_bundle + i;
            let kind_name = KINDS[(n % KINDS.len() as u64) as usize];
            let kind: Kind = kind_name.parse()?;
            let (controls, clauses, phase) = catalogue.defaults_for(&kind);
            let body = format!("synthetic evidence item {n}\n");
            let digest = Sha256Digest::of(body.as_bytes());
            let id: ItemId =
                format!("bench-source-item-{n:07}-{}", &digest.to_hex()[..12]).parse()?;
            let meta = ItemMeta {
                schema: ITEM_SCHEMA.to_owned(),
                id: id.clone(),
                kind,
                title: format!("Synthetic {kind_name} {n}"),
                source: SourceRef {
                    connector: "local".into(),
                    name: source.clone(),
                    reference: format!("items/{n:07}.txt"),
                    url: None,
                },
                controls,
                clauses,
                phase: phase.context("every bench kind has a default phase")?,
                actors: vec![
                    Actor {
                        role: "author".into(),
                        name: format!("dev-{}", n % 50),
                        id: None,
                    },
                    Actor {
                        role: "approver".into(),
                        name: format!("lead-{}", n % 7),
                        id: None,
                    },
                ],
                times: Times {
                    period: None,
                    source: Some(start + jiff::SignedDuration::from_secs((n % 31_536_000) as i64)),
                    collected,
                },
                artefact: Artefact {
                    path: layout::item_artefact_path(&id, "item.txt"),
                    sha256: digest,
                    size: body.len() as u64,
                    media_type: "text/plain".into(),
                },
                redactions: Vec::new(),
                redaction: None,
                provenance: Provenance {
                    agent: "evidence-agent bench".into(),
                    connector: "local bench".into(),
                    endpoint: None,
                    query: None,
                },
                attributes: BTreeMap::from([(
                    "stale_approval".to_owned(),
                    serde_json::json!(n.is_multiple_of(13)),
                )]),
            };
            staging.commit_item_bytes(&meta, body.as_bytes())?;
        }
        staging.set_run_record(&RunRecord {
            schema: RUN_SCHEMA.to_owned(),
            origin: ORIGIN.to_owned(),
            seq,
            started_at: collected,
            finished_at: collected,
            agent: "evidence-agent bench".into(),
            sources: vec![SourceSummary {
                name: source.clone(),
                connector: "local".into(),
                status: SourceStatus::Ok,
                items: per_bundle,
                bytes: 0,
                gaps: 0,
                redaction: None,
            }],
        })?;
        let prepared = prepare(
            &staging,
            &SealInput {
                origin: ORIGIN,
                seq,
                collected_at: collected,
                software_agent: "evidence-agent bench",
                previous: previous.as_ref(),
            },
        )?;
        let sealed = prepared.write(&out, |_| Ok(()))?;
        previous = Some(sealed.head);
        staging.remove()?;
        if seq % 10 == 0 || seq == bundles {
            eprintln!("bench_archive: {seq}/{bundles} bundles sealed");
        }
    }
    Ok(())
}
