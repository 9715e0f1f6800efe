//! `evidence-agent check`: the config is already checked when loaded; here the archive's
//! directory, the agent's state and run lock are inspected without writing anything, and each
//! source's connector probes its credentials and reachability. Everything prints as aligned
//! tables: per source, its schedule, when `run` would next run it, and its health.

use std::path::{Path, PathBuf};
use std::time::Duration;

use evidence_connectors::redact;
use evidence_model::Timestamp;
use indicatif::HumanBytes;
use nix::unistd::{AccessFlags, access};

use crate::config::AgentConfig;
use crate::exit::{EXIT_GAPS, EXIT_OK};
use crate::schedule::{Planner, Reason, Timing};
use crate::state::{self, LockStatus};

/// How long one source's healthcheck may take.
pub const HEALTHCHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// What one inspection found: healthy or not, and a line for a person.
struct Finding {
    ok: bool,
    detail: String,
}

/// Inspect the archive and state, probe every source; exit 0 when all is healthy, 1 otherwise.
/// With `json`, one JSON object on stdout instead of the tables.
pub async fn check(config: &AgentConfig, json: bool) -> anyhow::Result<u8> {
    let archive = archive_finding(&config.archive_dir);
    let state = state_finding(config);
    let lock = lock_finding(&config.state_dir);
    let zone = &config.agent.time_zone_name;
    let mut general = vec![
        (
            "config",
            Finding {
                ok: true,
                detail: format!("{} is valid", config.file.display()),
            },
        ),
        ("archive", archive),
        ("state", state),
        ("lock", lock),
        (
            "run",
            Finding {
                ok: true,
                detail: format!(
                    "times in {zone}; jitter up to {}s (this origin: +{}s); shutdown deadline {}s; catch-up {}",
                    config.agent.jitter_secs,
                    config.agent.jitter_offset_secs,
                    config.agent.shutdown_deadline.as_secs(),
                    if config.agent.catch_up { "on" } else { "off" }
                ),
            },
        ),
    ];
    match crate::signing::RunSigner::from_config(config) {
        Ok(Some(signer)) => {
            let o = signer.outcome();
            general.push((
                "signing",
                Finding {
                    ok: true,
                    detail: format!("key {} (namespace {})", o.key, o.namespace),
                },
            ));
        }
        Ok(None) => {}
        Err(e) => general.push((
            "signing",
            Finding {
                ok: false,
                detail: e.to_string(),
            },
        )),
    }
    if let Some(remote) = &config.remote {
        let finding = match crate::upload::probe(remote).await {
            Ok(detail) => Finding { ok: true, detail },
            Err(e) => Finding {
                ok: false,
                detail: format!("{}: {e}", remote.location),
            },
        };
        general.push(("remote", finding));
    }
    let mut healthy = general.iter().all(|(_, f)| f.ok);
    let general_rows: Vec<Vec<String>> = general
        .iter()
        .map(|(what, f)| {
            vec![
                (*what).to_owned(),
                status_word(f.ok).to_owned(),
                f.detail.clone(),
            ]
        })
        .collect();

    let next = next_runs(config);
    let connectors = config.connectors();
    let probes = connectors.iter().map(|c| async move {
        match tokio::time::timeout(HEALTHCHECK_TIMEOUT, c.healthcheck()).await {
            Ok(Ok(h)) => (true, h.detail),
            Ok(Err(e)) => (false, e.to_string()),
            Err(_) => (
                false,
                format!("no answer within {}s", HEALTHCHECK_TIMEOUT.as_secs()),
            ),
        }
    });
    let results = futures::future::join_all(probes).await;
    let mut rows = Vec::new();
    for (c, (ok, detail)) in connectors.iter().zip(results) {
        healthy &= ok;
        let name = c.name().as_str();
        rows.push(vec![
            name.to_owned(),
            c.connector_type().to_owned(),
            config.schedule_of(name).as_str().to_owned(),
            next.iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.clone())
                .unwrap_or_default(),
            status_word(ok).to_owned(),
            detail,
        ]);
    }
    let warnings = rule_coverage(config);
    if json {
        let redacted = |t: &str| redact::redact_urls(t).into_owned();
        let general: Vec<_> = general
            .iter()
            .map(|(what, f)| serde_json::json!({"check": what, "ok": f.ok, "detail": redacted(&f.detail)}))
            .collect();
        let sources: Vec<_> = rows
            .iter()
            .map(|r| {
                let cell = |i: usize| r.get(i).map_or(String::new(), |c| redacted(c));
                serde_json::json!({
                    "name": cell(0),
                    "type": cell(1),
                    "schedule": cell(2),
                    "next_run": cell(3),
                    "ok": cell(4) == "ok",
                    "detail": cell(5),
                })
            })
            .collect();
        crate::outln!(
            "{}",
            serde_json::json!({
                "healthy": healthy,
                "time_zone": zone,
                "checks": general,
                "sources": sources,
                "warnings": warnings,
            })
        );
    } else {
        print_table(&[], &general_rows);
        crate::outln!();
        print_table(
            &[
                "SOURCE",
                "TYPE",
                "SCHEDULE",
                &format!("NEXT RUN ({zone})"),
                "HEALTH",
                "DETAIL",
            ],
            &rows,
        );
        if !warnings.is_empty() {
            crate::outln!();
            let rows: Vec<Vec<String>> = warnings
                .iter()
                .map(|w| vec![w.what.to_owned(), "warn".to_owned(), w.detail.clone()])
                .collect();
            print_table(&[], &rows);
        }
    }
    Ok(if healthy { EXIT_OK } else { EXIT_GAPS })
}

/// Something a run would do that the user may not expect; `check` still exits 0 for it.
#[derive(Debug, serde::Serialize)]
struct Warning {
    what: &'static str,
    source: String,
    detail: String,
}

/// Most unmatched files `check` names per source.
const MAX_LISTED_FILES: usize = 20;

/// For every local source: rules that take no file (a typo, or shadowed by an earlier rule),
/// files no rule matches and paths skipped, which a run would leave out.
fn rule_coverage(config: &AgentConfig) -> Vec<Warning> {
    let mut warnings = Vec::new();
    for source in &config.sources {
        #[allow(
            irrefutable_let_patterns,
            reason = "other connector types may be disabled"
        )]
        let evidence_connectors::ConnectorConfig::Local(local) = &source.connector else {
            continue;
        };
        let Ok(name) = source.source_name() else {
            continue;
        };
        let Ok(connector) =
            evidence_connectors::local::LocalConnector::new(name, local, config.base())
        else {
            continue;
        };
        let coverage = tokio::task::block_in_place(|| connector.rule_coverage());
        let warn = |what: &'static str, detail: String| Warning {
            what,
            source: source.name.clone(),
            detail: format!("source {}: {detail}", source.name),
        };
        for (i, (glob, taken)) in coverage.rules.iter().enumerate() {
            if *taken == 0 {
                warnings.push(warn(
                    "rules",
                    format!(
                        "rule {} (glob {glob:?}) matches no file, or only files an earlier rule takes",
                        i + 1
                    ),
                ));
            }
        }
        for (list, what) in [
            (
                &coverage.unmatched,
                "match no rule and will not be collected",
            ),
            (&coverage.skipped, "are skipped"),
        ] {
            if list.is_empty() {
                continue;
            }
            let shown: Vec<&str> = list
                .iter()
                .take(MAX_LISTED_FILES)
                .map(String::as_str)
                .collect();
            let more = list.len() - shown.len();
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            warnings.push(warn(
                "files",
                format!("{} file(s) {what}: {}{more}", list.len(), shown.join(", ")),
            ));
        }
    }
    warnings
}

fn status_word(ok: bool) -> &'static str {
    if ok { "ok" } else { "FAIL" }
}

/// Print rows as columns padded to the widest cell; the last column is not padded.
fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let columns = rows
        .iter()
        .map(Vec::len)
        .chain([header.len()])
        .max()
        .unwrap_or(0);
    let mut widths = vec![0; columns];
    let all = std::iter::once(header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>())
        .filter(|h| !h.is_empty())
        .chain(rows.iter().cloned())
        .collect::<Vec<_>>();
    for row in &all {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    for row in &all {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        // Details quote URLs from connectors and stores: never their credentials.
        crate::outln!("{}", redact::redact_urls(line.trim_end()));
    }
}

/// When `run`, started now, would next run each source.
fn next_runs(config: &AgentConfig) -> Vec<(String, String)> {
    let last_runs = state::inspect(&config.state_dir, &config.origin, &config.archive_dir)
        .ok()
        .and_then(|r| r.state);
    let now = Timestamp::now();
    let planner = Planner::new(
        Timing {
            time_zone: config.agent.time_zone.clone(),
            offset_secs: config.agent.jitter_offset_secs,
            catch_up: config.agent.catch_up,
            started_at: now,
        },
        config.sources.iter().map(|s| {
            let last = last_runs
                .as_ref()
                .and_then(|st| st.sources.get(&s.name))
                .and_then(|x| x.last_run_at);
            (s.name.clone(), config.schedule_of(&s.name).clone(), last)
        }),
    );
    let tz = &config.agent.time_zone;
    let show = |t: Timestamp| {
        t.to_zoned(tz.clone())
            .strftime("%Y-%m-%d %H:%M")
            .to_string()
    };
    planner
        .next()
        .into_iter()
        .map(|(name, due)| {
            let text = match due {
                None => "never".to_owned(),
                Some(d) => match d.reason {
                    Reason::Scheduled => show(d.at),
                    Reason::FirstRun => "at start (never ran)".to_owned(),
                    Reason::Missed { scheduled_at } => {
                        format!("at start (missed {})", show(scheduled_at))
                    }
                },
            };
            (name.to_owned(), text)
        })
        .collect()
}

/// Can the agent create bundles in `dir`? Checked with `access(2)`, writing nothing.
fn archive_finding(dir: &Path) -> Finding {
    let (existing, note) = match nearest_existing(dir) {
        Some(p) if p == dir => (p, String::new()),
        Some(p) => (
            p.clone(),
            format!(
                " (does not exist yet; the first run creates it in {})",
                p.display()
            ),
        ),
        None => {
            return Finding {
                ok: false,
                detail: format!("{}: no existing parent directory", dir.display()),
            };
        }
    };
    if !existing.is_dir() {
        return Finding {
            ok: false,
            detail: format!("{} is not a directory", existing.display()),
        };
    }
    if let Err(e) = access(&existing, AccessFlags::W_OK | AccessFlags::X_OK) {
        return Finding {
            ok: false,
            detail: format!("{} is not writable: {}", existing.display(), e.desc()),
        };
    }
    let bundles = state::last_bundle_seq(dir).unwrap_or(0);
    let free = nix::sys::statvfs::statvfs(&existing)
        .map(|s| {
            format!(
                ", {} free",
                HumanBytes(s.blocks_available().saturating_mul(s.fragment_size()))
            )
        })
        .unwrap_or_default();
    Finding {
        ok: true,
        detail: format!(
            "{} is writable{note}; {bundles} bundle(s){free}",
            dir.display()
        ),
    }
}

fn nearest_existing(dir: &Path) -> Option<PathBuf> {
    let mut p = Some(dir);
    while let Some(d) = p {
        if d.as_os_str().is_empty() {
            return Some(PathBuf::from("."));
        }
        if d.exists() {
            return Some(d.to_owned());
        }
        p = d.parent();
    }
    None
}

fn state_finding(config: &AgentConfig) -> Finding {
    match state::inspect(&config.state_dir, &config.origin, &config.archive_dir) {
        Err(e) => Finding {
            ok: false,
            detail: e.to_string(),
        },
        Ok(r) => {
            let last = r.state.as_ref().map_or(0, |s| s.last_seq());
            let at = config.state_dir.display();
            if !r.damage.is_empty() {
                Finding {
                    ok: false,
                    detail: format!(
                        "{at}: run {last} sealed, but the archive is damaged: {}; runs refuse to start until these bundles are restored",
                        r.damage.join("; ")
                    ),
                }
            } else if r.pending && r.archive_last == last + 1 {
                Finding {
                    ok: true,
                    detail: format!(
                        "{at}: run {last} committed; run {} was published but not committed (interrupted), and the next run completes it",
                        r.archive_last
                    ),
                }
            } else if r.archive_last != last {
                Finding {
                    ok: false,
                    detail: format!(
                        "{at} says the last sealed run is {last}, but the archive's last bundle is run {}; point [archive] state_dir at this archive's state, or rebuild the state from the archive with `evidence-agent repair`",
                        r.archive_last
                    ),
                }
            } else if r.state.is_none() {
                Finding {
                    ok: true,
                    detail: format!(
                        "{at}: no state yet; the first run starts every source from scratch"
                    ),
                }
            } else {
                let cursors = r.state.as_ref().map_or(0, |s| s.sources.len());
                Finding {
                    ok: true,
                    detail: format!("{at}: run {last} sealed; {cursors} source cursor(s)"),
                }
            }
        }
    }
}

fn lock_finding(state_dir: &Path) -> Finding {
    match state::lock_status(state_dir) {
        Ok(LockStatus::Absent) | Ok(LockStatus::Free) => Finding {
            ok: true,
            detail: "free: no agent is running on this archive".to_owned(),
        },
        Ok(LockStatus::Held) => Finding {
            ok: true,
            detail: "held: an agent is running on this archive (`run` or a `collect` in progress); another one would exit with code 2".to_owned(),
        },
        Err(e) => Finding {
            ok: false,
            detail: e.to_string(),
        },
    }
}
