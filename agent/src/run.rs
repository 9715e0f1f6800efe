//! `evidence-agent run`: the daemon. It takes the archive's run lock for its whole life, checks
//! the state once at start (a corrupt or newer state stops it before anything runs), then
//! sleeps until sources are due and seals one bundle per wake-up with the sources due then.
//! It stops on SIGTERM/SIGINT: between runs at once, during a run after sealing what the
//! sources staged (see `collect::RunOptions::shutdown_deadline`).

use std::collections::BTreeSet;
use std::time::Duration;

use evidence_model::Timestamp;
use tokio_util::sync::CancellationToken;

use crate::collect::{CollectError, RunOptions, collect_locked, take_run_lock};
use crate::config::AgentConfig;
use crate::schedule::{Planner, Reason, Timing};
use crate::ui::Ui;

/// The longest single sleep: the daemon wakes at least this often to re-read the clock, so a
/// clock change (NTP step, suspend and resume) delays a run by at most this much.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// The daemon could not start or must stop. Runs that fail for another reason (a full disk, a
/// source whose staging failed) are logged and retried at their next scheduled time instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    #[error(transparent)]
    Collect(#[from] CollectError),
}

/// True for errors that no later run can fix without a person: a corrupt or newer state, an
/// archive that disagrees with the state, a bad clock variable. The daemon stops on them.
fn needs_a_person(e: &CollectError) -> bool {
    matches!(
        e,
        CollectError::State(_) | CollectError::Config(_) | CollectError::Clock(_)
    )
}

/// Run until `shutdown` is cancelled. Returns after the run in progress, if any, has sealed.
pub async fn run(
    config: &AgentConfig,
    ui: &Ui,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let state_dir = take_run_lock(config)?;
    let state = state_dir
        .reconcile(&config.origin, &config.archive_dir)
        .map_err(CollectError::from)?;
    let started_at = Timestamp::now();
    let timing = Timing {
        time_zone: config.agent.time_zone.clone(),
        offset_secs: config.agent.jitter_offset_secs,
        catch_up: config.agent.catch_up,
        started_at,
    };
    let mut planner = Planner::new(
        timing,
        config.sources.iter().map(|s| {
            let last = state.sources.get(&s.name).and_then(|x| x.last_run_at);
            (s.name.clone(), config.schedule_of(&s.name).clone(), last)
        }),
    );
    tracing::info!(
        archive = %config.archive_dir.display(),
        origin = %config.origin,
        sources = config.sources.len(),
        timezone = %config.agent.time_zone_name,
        jitter_offset_secs = config.agent.jitter_offset_secs,
        "agent started"
    );
    for (name, due) in planner.next() {
        match due {
            Some(d) => tracing::info!(
                source = name,
                schedule = config.schedule_of(name).as_str(),
                next_run = %d.at,
                "{}",
                describe(d.reason)
            ),
            None => tracing::warn!(
                source = name,
                schedule = config.schedule_of(name).as_str(),
                "the schedule never fires again; this source will not run"
            ),
        }
    }

    let mut announced: Option<Timestamp> = None;
    while !shutdown.is_cancelled() {
        let now = Timestamp::now();
        let due = planner.due(now);
        if !due.is_empty() {
            let names: BTreeSet<String> = due.keys().cloned().collect();
            tracing::info!(sources = ?names, "sources due");
            let options = RunOptions {
                sources: Some(names.clone()),
                shutdown: shutdown.clone(),
                shutdown_deadline: config.agent.shutdown_deadline,
            };
            let run_started = Timestamp::now();
            match collect_locked(config, &state_dir, ui, &options).await {
                Ok(_summary) => {}
                Err(e) if needs_a_person(&e) => return Err(e.into()),
                Err(e) => tracing::error!(
                    sources = ?names,
                    error = %e,
                    "run failed; nothing was sealed and the state did not move; these sources run again at their next scheduled time"
                ),
            }
            planner.ran(names, run_started);
            announced = None;
            continue;
        }
        let Some(wake) = planner.next_wake() else {
            tracing::warn!("no schedule fires again; waiting for a signal to stop");
            shutdown.cancelled().await;
            break;
        };
        if announced != Some(wake) {
            tracing::info!(next_run = %wake, "waiting for the next run");
            announced = Some(wake);
        }
        let until = now.duration_until(wake);
        let sleep = Duration::try_from(until)
            .unwrap_or(Duration::ZERO)
            .min(MAX_SLEEP);
        tokio::select! {
            () = tokio::time::sleep(sleep) => {}
            () = shutdown.cancelled() => {}
        }
    }
    tracing::info!("agent stopped");
    Ok(())
}

fn describe(reason: Reason) -> String {
    match reason {
        Reason::Scheduled => "scheduled".to_owned(),
        Reason::FirstRun => "never ran: runs at start".to_owned(),
        Reason::Missed { scheduled_at } => {
            format!("missed the run due at {scheduled_at} while down: runs once at start")
        }
    }
}
