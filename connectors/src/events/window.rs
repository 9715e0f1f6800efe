//! Events grouped per AI system and time window (a UTC day by default): the summary an item's
//! metadata carries (event count, first and last time, models, pseudonymous users, errors,
//! tokens), the check that time never goes backwards in a log, and the windows in which a
//! system declared in use logged nothing. Pure.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::mapping::Event;

/// How long one item's window is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    seconds: i64,
}

impl Window {
    /// One UTC day.
    pub const DAY: Window = Window { seconds: 86_400 };

    /// A window of `hours` hours (1 to 24 × 7); days start at midnight UTC.
    pub fn hours(hours: u32) -> Option<Window> {
        (1..=24 * 7).contains(&hours).then(|| Window {
            seconds: i64::from(hours) * 3600,
        })
    }

    /// The start of the window holding `t`.
    pub fn start_of(&self, t: Timestamp) -> Timestamp {
        let s = t.as_second().div_euclid(self.seconds) * self.seconds;
        Timestamp::from_second(s).unwrap_or(t)
    }

    /// The end (exclusive) of the window starting at `start`.
    pub fn end_of(&self, start: Timestamp) -> Timestamp {
        start
            .checked_add(SignedDuration::from_secs(self.seconds))
            .unwrap_or(start)
    }
}

/// What one window of one system's log holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WindowSummary {
    pub system: String,
    pub window_start: Timestamp,
    pub window_end: Timestamp,
    pub events: u64,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    /// Model (and version) → calls.
    pub models: BTreeMap<String, u64>,
    /// Operation (`chat`, `embeddings`) → calls.
    pub operations: BTreeMap<String, u64>,
    /// Distinct users, already pseudonymised when the source asks for it.
    pub users: BTreeSet<String>,
    pub errors: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Lines that were not events (not JSON, no time), counted, not dropped silently.
    pub unreadable_lines: u64,
}

impl WindowSummary {
    /// An empty summary of `system` over the window starting at `start`.
    pub fn new(system: &str, start: Timestamp, window: Window) -> Self {
        Self {
            system: system.to_owned(),
            window_start: start,
            window_end: window.end_of(start),
            events: 0,
            first: None,
            last: None,
            models: BTreeMap::new(),
            operations: BTreeMap::new(),
            users: BTreeSet::new(),
            errors: 0,
            input_tokens: 0,
            output_tokens: 0,
            unreadable_lines: 0,
        }
    }

    /// Counts one event; `user` is the identity as it is to be shown (pseudonym or not).
    pub fn add(&mut self, e: &Event, user: Option<String>) {
        self.events += 1;
        if let Some(t) = e.time {
            self.first = Some(self.first.map_or(t, |f| f.min(t)));
            self.last = Some(self.last.map_or(t, |l| l.max(t)));
        }
        if let Some(m) = e.model() {
            *self.models.entry(m.to_owned()).or_default() += 1;
        }
        if let Some(op) = &e.operation {
            *self.operations.entry(op.clone()).or_default() += 1;
        }
        if let Some(u) = user {
            self.users.insert(u);
        }
        self.errors += u64::from(e.error);
        self.input_tokens += e.input_tokens.unwrap_or(0);
        self.output_tokens += e.output_tokens.unwrap_or(0);
    }
}

/// A timestamp earlier than the one before it, beyond the tolerance a busy logger needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Backwards {
    pub line: u64,
    pub previous: Timestamp,
    pub time: Timestamp,
}

/// Watches one log's timestamps for going backwards.
#[derive(Clone, Debug)]
pub struct SequenceCheck {
    tolerance: SignedDuration,
    latest: Option<Timestamp>,
}

impl SequenceCheck {
    /// Concurrent writers reorder lines by a little; `tolerance` is how much is normal.
    pub fn new(tolerance: SignedDuration) -> Self {
        Self {
            tolerance,
            latest: None,
        }
    }

    /// Notes the time on line `line`; a time more than the tolerance before the latest seen is
    /// a sequence break.
    pub fn observe(&mut self, line: u64, time: Timestamp) -> Option<Backwards> {
        let broken = self.latest.and_then(|latest| {
            let floor = latest.checked_sub(self.tolerance).unwrap_or(latest);
            (time < floor).then_some(Backwards {
                line,
                previous: latest,
                time,
            })
        });
        self.latest = Some(self.latest.map_or(time, |l| l.max(time)));
        broken
    }
}

/// The windows between `from` and `until` (both window-aligned or not) in which a system that
/// was declared in use logged nothing: each is a completeness gap.
pub fn silent_windows(
    window: Window,
    from: Timestamp,
    until: Timestamp,
    seen: &BTreeSet<Timestamp>,
) -> Vec<Timestamp> {
    let mut out = Vec::new();
    let mut start = window.start_of(from);
    // Only windows that have ended can be called silent.
    while window.end_of(start) <= until {
        if !seen.contains(&start) {
            out.push(start);
        }
        let next = window.end_of(start);
        if next == start {
            break;
        }
        start = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn windows_are_aligned_utc_days_or_hours() {
        assert_eq!(
            Window::DAY.start_of(t("2026-11-30T23:59:59Z")),
            t("2026-11-30T00:00:00Z")
        );
        assert_eq!(
            Window::DAY.end_of(t("2026-11-30T00:00:00Z")),
            t("2026-12-01T00:00:00Z")
        );
        let six = Window::hours(6).unwrap();
        assert_eq!(
            six.start_of(t("2026-11-30T13:10:00Z")),
            t("2026-11-30T12:00:00Z")
        );
        assert!(Window::hours(0).is_none());
    }

    #[test]
    fn a_summary_counts_models_users_errors_and_tokens() {
        let mut s = WindowSummary::new("bot", t("2026-11-30T00:00:00Z"), Window::DAY);
        let e = Event {
            time: Some(t("2026-11-30T10:00:00Z")),
            response_model: Some("gpt-4o-2024-08-06".into()),
            operation: Some("chat".into()),
            input_tokens: Some(10),
            output_tokens: Some(5),
            ..Event::default()
        };
        s.add(&e, Some("pseudonym-1".into()));
        s.add(
            &Event {
                time: Some(t("2026-11-30T09:00:00Z")),
                error: true,
                ..e.clone()
            },
            Some("pseudonym-1".into()),
        );
        assert_eq!(s.events, 2);
        assert_eq!(s.first, Some(t("2026-11-30T09:00:00Z")));
        assert_eq!(s.last, Some(t("2026-11-30T10:00:00Z")));
        assert_eq!(s.models["gpt-4o-2024-08-06"], 2);
        assert_eq!(s.users.len(), 1);
        assert_eq!((s.errors, s.input_tokens, s.output_tokens), (1, 20, 10));
    }

    #[test]
    fn time_going_backwards_beyond_the_tolerance_is_a_break() {
        let mut c = SequenceCheck::new(SignedDuration::from_secs(5));
        assert_eq!(c.observe(1, t("2026-11-30T10:00:10Z")), None);
        assert_eq!(
            c.observe(2, t("2026-11-30T10:00:07Z")),
            None,
            "within tolerance"
        );
        let b = c.observe(3, t("2026-11-30T09:00:00Z")).expect("a break");
        assert_eq!((b.line, b.previous), (3, t("2026-11-30T10:00:10Z")));
    }

    #[test]
    fn ended_windows_without_events_are_silent() {
        let seen: BTreeSet<_> = [t("2026-11-28T00:00:00Z"), t("2026-11-30T00:00:00Z")].into();
        let silent = silent_windows(
            Window::DAY,
            t("2026-11-28T08:00:00Z"),
            t("2026-12-01T12:00:00Z"),
            &seen,
        );
        assert_eq!(silent, vec![t("2026-11-29T00:00:00Z")]);
        let open_day = silent_windows(
            Window::DAY,
            t("2026-12-01T00:00:00Z"),
            t("2026-12-01T12:00:00Z"),
            &seen,
        );
        assert!(open_day.is_empty(), "today has not ended");
    }
}
