//! When sources are due in `evidence-agent run`: cron schedules (five fields, read in the
//! agent's time zone), a jitter offset fixed per origin, and missed-run detection. Pure: the
//! current time is always an argument, so every rule here is tested without waiting.
//!
//! The jitter shifts a whole schedule later by one offset derived from the origin: every
//! restart of the same agent keeps the same offset, different agents spread out, and all
//! sources of one agent that share a time still run together in one bundle.

use std::collections::BTreeMap;
use std::str::FromStr;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

/// A schedule that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    #[error(
        "schedule {expr:?} must have five fields (minute hour day-of-month month day-of-week), e.g. \"0 2 * * *\", or be @hourly, @daily, @weekly, @monthly or @yearly"
    )]
    FieldCount { expr: String },
    #[error("schedule {expr:?} is not a valid cron expression: {reason}")]
    Invalid { expr: String, reason: String },
    #[error("schedule {expr:?} never fires")]
    Never { expr: String },
}

/// A checked five-field cron expression.
#[derive(Debug, Clone)]
pub struct Schedule {
    text: String,
    cron: Cron,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Schedule {
    /// Parse a five-field cron expression (`minute hour day-of-month month day-of-week`) or
    /// one of the nicknames `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`.
    pub fn parse(expr: &str) -> Result<Self, ScheduleError> {
        let text = expr.trim().to_owned();
        if !text.starts_with('@') && text.split_whitespace().count() != 5 {
            return Err(ScheduleError::FieldCount { expr: text });
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(&text)
            .map_err(|e| ScheduleError::Invalid {
                expr: text.clone(),
                reason: e.to_string(),
            })?;
        let schedule = Self { text, cron };
        // A pattern such as "0 0 31 2 *" parses but never fires.
        if schedule
            .next_after(Timestamp::UNIX_EPOCH, &TimeZone::UTC)
            .is_none()
        {
            return Err(ScheduleError::Never {
                expr: schedule.text,
            });
        }
        Ok(schedule)
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first scheduled time strictly after `t`, reading the fields in `tz`.
    pub fn next_after(&self, t: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let zoned = t.to_zoned(tz.clone());
        self.cron
            .find_next_occurrence(&zoned, false)
            .ok()
            .map(|z| z.timestamp())
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The jitter offset of `origin`, in whole seconds from 0 to `max_secs`: the first eight
/// bytes of SHA-256 over a fixed label and the origin, reduced modulo `max_secs + 1`. The same
/// origin always gets the same offset.
pub fn jitter_offset_secs(origin: &str, max_secs: u64) -> u64 {
    if max_secs == 0 {
        return 0;
    }
    let digest = Sha256::new()
        .chain_update(b"evidence-agent/jitter/v1\n")
        .chain_update(origin.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % (max_secs.saturating_add(1))
}

/// How the daemon times its runs.
#[derive(Debug, Clone)]
pub struct Timing {
    /// The zone cron fields are read in.
    pub time_zone: TimeZone,
    /// This agent's jitter offset, seconds (see [`jitter_offset_secs`]).
    pub offset_secs: u64,
    /// Run a source once at start when a scheduled time passed while the agent was down (or
    /// when it has never run).
    pub catch_up: bool,
    /// When this agent started.
    pub started_at: Timestamp,
}

/// Why a source is due when it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Its next scheduled time (plus the jitter offset).
    Scheduled,
    /// It has never run: it runs at start.
    FirstRun,
    /// A scheduled time passed while the agent was not running; it runs once at start, however
    /// many times were missed.
    Missed {
        /// The first scheduled time that was missed (with the offset).
        scheduled_at: Timestamp,
    },
}

/// When a source is next due, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub at: Timestamp,
    pub reason: Reason,
}

impl Due {
    /// True when the source should run at `now`.
    pub fn is_due(&self, now: Timestamp) -> bool {
        self.at <= now
    }
}

fn shift(t: Timestamp, secs: u64) -> Timestamp {
    let d = SignedDuration::from_secs(i64::try_from(secs).unwrap_or(i64::MAX));
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

fn unshift(t: Timestamp, secs: u64) -> Timestamp {
    let d = SignedDuration::from_secs(i64::try_from(secs).unwrap_or(i64::MAX));
    t.checked_sub(d).unwrap_or(Timestamp::MIN)
}

/// The scheduled time after `t` on this agent's shifted clock.
fn next_shifted(schedule: &Schedule, t: Timestamp, timing: &Timing) -> Option<Timestamp> {
    schedule
        .next_after(unshift(t, timing.offset_secs), &timing.time_zone)
        .map(|next| shift(next, timing.offset_secs))
}

/// When a source with `schedule`, last run at `last_run` (the start of the last run that
/// included it, `None` if never), is next due. `None` when the schedule never fires again.
///
/// The next time is the first scheduled time after the last run, shifted by the offset. When
/// that time lies before the agent started, the run was missed: with `catch_up` it is due at
/// once (one run, however many were missed); without, the next time after the start counts.
pub fn next_due(schedule: &Schedule, last_run: Option<Timestamp>, timing: &Timing) -> Option<Due> {
    let after_start = || {
        next_shifted(schedule, timing.started_at, timing).map(|at| Due {
            at,
            reason: Reason::Scheduled,
        })
    };
    let Some(last) = last_run else {
        return if timing.catch_up {
            Some(Due {
                at: timing.started_at,
                reason: Reason::FirstRun,
            })
        } else {
            after_start()
        };
    };
    let next = next_shifted(schedule, last, timing)?;
    if next >= timing.started_at || last >= timing.started_at {
        return Some(Due {
            at: next,
            reason: Reason::Scheduled,
        });
    }
    if timing.catch_up {
        Some(Due {
            at: timing.started_at,
            reason: Reason::Missed { scheduled_at: next },
        })
    } else {
        after_start()
    }
}

/// The daemon's view of its sources: each one's schedule and last run.
#[derive(Debug, Clone)]
pub struct Planner {
    timing: Timing,
    sources: BTreeMap<String, (Schedule, Option<Timestamp>)>,
}

impl Planner {
    /// `sources`: name, schedule and last run of each configured source.
    pub fn new(
        timing: Timing,
        sources: impl IntoIterator<Item = (String, Schedule, Option<Timestamp>)>,
    ) -> Self {
        Self {
            timing,
            sources: sources
                .into_iter()
                .map(|(name, schedule, last)| (name, (schedule, last)))
                .collect(),
        }
    }

    /// Each source's next due time (`None`: its schedule never fires again).
    pub fn next(&self) -> BTreeMap<&str, Option<Due>> {
        self.sources
            .iter()
            .map(|(name, (schedule, last))| {
                (name.as_str(), next_due(schedule, *last, &self.timing))
            })
            .collect()
    }

    /// The sources due at `now`, with why.
    pub fn due(&self, now: Timestamp) -> BTreeMap<String, Reason> {
        self.next()
            .into_iter()
            .filter_map(|(name, due)| {
                let due = due?;
                due.is_due(now).then(|| (name.to_owned(), due.reason))
            })
            .collect()
    }

    /// The earliest time any source is next due.
    pub fn next_wake(&self) -> Option<Timestamp> {
        self.next().into_values().flatten().map(|d| d.at).min()
    }

    /// Record that a run including `names` started at `started_at` (whether or not it sealed:
    /// a failed run is retried at the next scheduled time, not at once).
    pub fn ran(&mut self, names: impl IntoIterator<Item = String>, started_at: Timestamp) {
        for name in names {
            if let Some((_, last)) = self.sources.get_mut(&name) {
                *last = Some(started_at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn timing(started: &str, offset_secs: u64, catch_up: bool) -> Timing {
        Timing {
            time_zone: TimeZone::UTC,
            offset_secs,
            catch_up,
            started_at: ts(started),
        }
    }

    fn next(expr: &str, after: &str) -> Timestamp {
        Schedule::parse(expr)
            .unwrap()
            .next_after(ts(after), &TimeZone::UTC)
            .unwrap()
    }

    #[test]
    fn the_next_run_is_strictly_after_the_given_time() {
        for (expr, after, expect) in [
            ("* * * * *", "2026-03-01T10:00:00Z", "2026-03-01T10:01:00Z"),
            ("* * * * *", "2026-03-01T10:00:30Z", "2026-03-01T10:01:00Z"),
            ("0 2 * * *", "2026-03-01T02:00:00Z", "2026-03-02T02:00:00Z"),
            ("0 2 * * *", "2026-03-01T01:59:59Z", "2026-03-01T02:00:00Z"),
            (
                "*/15 * * * *",
                "2026-03-01T10:07:00Z",
                "2026-03-01T10:15:00Z",
            ),
            (
                "30 6 * * MON",
                "2026-03-01T00:00:00Z",
                "2026-03-02T06:30:00Z",
            ),
            ("0 0 1 * *", "2026-02-15T00:00:00Z", "2026-03-01T00:00:00Z"),
            ("@hourly", "2026-03-01T10:20:00Z", "2026-03-01T11:00:00Z"),
            ("@daily", "2026-03-01T10:20:00Z", "2026-03-02T00:00:00Z"),
        ] {
            assert_eq!(next(expr, after), ts(expect), "{expr} after {after}");
        }
    }

    #[test]
    fn cron_fields_are_read_in_the_agents_time_zone() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let s = Schedule::parse("0 2 * * *").unwrap();
        // 02:00 in Berlin is 01:00 UTC in winter and 00:00 UTC in summer.
        assert_eq!(
            s.next_after(ts("2026-01-10T12:00:00Z"), &berlin),
            Some(ts("2026-01-11T01:00:00Z"))
        );
        assert_eq!(
            s.next_after(ts("2026-07-10T12:00:00Z"), &berlin),
            Some(ts("2026-07-11T00:00:00Z"))
        );
    }

    #[test]
    fn only_five_field_expressions_and_nicknames_are_accepted() {
        for bad in ["* * * *", "0 * * * * *", "0 0 * * * * 2026", ""] {
            assert!(
                matches!(Schedule::parse(bad), Err(ScheduleError::FieldCount { .. })),
                "{bad:?}"
            );
        }
        for bad in ["61 * * * *", "* 25 * * *", "x * * * *", "@fortnightly"] {
            assert!(Schedule::parse(bad).is_err(), "{bad:?}");
        }
        let err = Schedule::parse("0 0 31 2 *").unwrap_err();
        assert!(matches!(err, ScheduleError::Never { .. }), "{err}");
    }

    #[test]
    fn the_jitter_offset_is_fixed_per_origin_and_within_bounds() {
        assert_eq!(jitter_offset_secs("example.org/ai", 0), 0);
        let a = jitter_offset_secs("example.org/ai", 600);
        assert_eq!(a, jitter_offset_secs("example.org/ai", 600));
        assert!(a <= 600);
        let offsets: std::collections::BTreeSet<u64> = (0..50)
            .map(|i| jitter_offset_secs(&format!("agent-{i}.example.org/ai"), 3600))
            .collect();
        assert!(offsets.iter().all(|&o| o <= 3600));
        assert!(
            offsets.len() > 40,
            "fifty origins should spread out: {offsets:?}"
        );
    }

    #[test]
    fn the_jitter_shifts_the_whole_schedule_by_the_offset() {
        let s = Schedule::parse("0 * * * *").unwrap();
        let t = timing("2026-03-01T09:00:00Z", 90, true);
        // Last run at 10:01:30 (the 10:00 slot plus 90 s): the next one is 11:01:30.
        let due = next_due(&s, Some(ts("2026-03-01T10:01:30Z")), &t).unwrap();
        assert_eq!(due.at, ts("2026-03-01T11:01:30Z"));
        assert_eq!(due.reason, Reason::Scheduled);
        // A run late in its slot does not push the next one back.
        let due = next_due(&s, Some(ts("2026-03-01T10:40:00Z")), &t).unwrap();
        assert_eq!(due.at, ts("2026-03-01T11:01:30Z"));
    }

    #[test]
    fn a_jitter_longer_than_the_interval_still_runs_once_per_slot() {
        let s = Schedule::parse("* * * * *").unwrap();
        let t = timing("2026-03-01T09:00:00Z", 150, true);
        let due = next_due(&s, Some(ts("2026-03-01T10:02:30Z")), &t).unwrap();
        assert_eq!(due.at, ts("2026-03-01T10:03:30Z"));
    }

    #[test]
    fn a_source_that_never_ran_runs_at_start_with_catch_up() {
        let s = Schedule::parse("0 2 * * *").unwrap();
        let due = next_due(&s, None, &timing("2026-03-01T10:00:00Z", 0, true)).unwrap();
        assert_eq!(due.at, ts("2026-03-01T10:00:00Z"));
        assert_eq!(due.reason, Reason::FirstRun);
        let due = next_due(&s, None, &timing("2026-03-01T10:00:00Z", 0, false)).unwrap();
        assert_eq!(due.at, ts("2026-03-02T02:00:00Z"));
        assert_eq!(due.reason, Reason::Scheduled);
    }

    #[test]
    fn a_run_missed_while_down_is_due_once_at_start() {
        let s = Schedule::parse("0 * * * *").unwrap();
        // Last ran at 06:00; down from 06:30 to 10:20: the 07:00 to 10:00 runs were missed.
        let t = timing("2026-03-01T10:20:00Z", 0, true);
        let due = next_due(&s, Some(ts("2026-03-01T06:00:00Z")), &t).unwrap();
        assert_eq!(due.at, t.started_at);
        assert_eq!(
            due.reason,
            Reason::Missed {
                scheduled_at: ts("2026-03-01T07:00:00Z")
            }
        );
        // After that one catch-up run, the schedule resumes.
        let due = next_due(&s, Some(ts("2026-03-01T10:20:01Z")), &t).unwrap();
        assert_eq!(due.at, ts("2026-03-01T11:00:00Z"));
        assert_eq!(due.reason, Reason::Scheduled);
    }

    #[test]
    fn without_catch_up_a_missed_run_waits_for_the_next_scheduled_time() {
        let s = Schedule::parse("0 * * * *").unwrap();
        let t = timing("2026-03-01T10:20:00Z", 0, false);
        let due = next_due(&s, Some(ts("2026-03-01T06:00:00Z")), &t).unwrap();
        assert_eq!(due.at, ts("2026-03-01T11:00:00Z"));
    }

    #[test]
    fn a_restart_before_the_next_slot_misses_nothing() {
        let s = Schedule::parse("0 * * * *").unwrap();
        let t = timing("2026-03-01T10:20:00Z", 0, true);
        let due = next_due(&s, Some(ts("2026-03-01T10:00:05Z")), &t).unwrap();
        assert_eq!(due.at, ts("2026-03-01T11:00:00Z"));
        assert!(!due.is_due(ts("2026-03-01T10:59:59Z")));
        assert!(due.is_due(ts("2026-03-01T11:00:00Z")));
    }

    #[test]
    fn the_planner_batches_the_sources_due_together_and_sleeps_until_the_next() {
        let hourly = Schedule::parse("0 * * * *").unwrap();
        let daily = Schedule::parse("0 2 * * *").unwrap();
        let last = Some(ts("2026-03-01T09:00:00Z"));
        let mut p = Planner::new(
            timing("2026-03-01T09:30:00Z", 0, true),
            [
                ("docs".to_owned(), hourly.clone(), last),
                ("jira".to_owned(), hourly, last),
                ("s3".to_owned(), daily, Some(ts("2026-03-01T02:00:00Z"))),
            ],
        );
        assert!(p.due(ts("2026-03-01T09:59:00Z")).is_empty());
        assert_eq!(p.next_wake(), Some(ts("2026-03-01T10:00:00Z")));
        let due = p.due(ts("2026-03-01T10:00:00Z"));
        assert_eq!(due.keys().collect::<Vec<_>>(), ["docs", "jira"]);
        p.ran(due.into_keys(), ts("2026-03-01T10:00:00Z"));
        assert!(p.due(ts("2026-03-01T10:00:01Z")).is_empty());
        assert_eq!(p.next_wake(), Some(ts("2026-03-01T11:00:00Z")));
    }

    #[test]
    fn a_failed_run_counts_as_run_so_it_is_not_retried_at_once() {
        let s = Schedule::parse("*/10 * * * *").unwrap();
        let mut p = Planner::new(
            timing("2026-03-01T10:00:00Z", 0, true),
            [("docs".to_owned(), s, None)],
        );
        assert_eq!(p.due(ts("2026-03-01T10:00:00Z")).len(), 1);
        p.ran(["docs".to_owned()], ts("2026-03-01T10:00:00Z"));
        assert!(p.due(ts("2026-03-01T10:05:00Z")).is_empty());
        assert_eq!(p.next_wake(), Some(ts("2026-03-01T10:10:00Z")));
    }
}
