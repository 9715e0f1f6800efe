//! The Jira connector's incremental state: per query, the watermark (the newest `updated` of
//! a fully walked search) and which ticket versions are already sealed. Pure arithmetic on it,
//! so the rules "never skip a ticket" and "never seal a version twice" are tested alone.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::connector::CursorState;

/// The cursor format's version.
pub(super) const CURSOR_VERSION: u32 = 1;

/// How long before the search's lower bound sealed versions are still remembered. The JQL
/// literal is truncated to the minute and may step back over a repeated hour, so tickets a
/// little older than the bound come back; a day covers every time zone rule.
const REMEMBER_BEFORE_SECS: i64 = 86_400;

/// Everything the connector remembers between runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JiraCursor {
    /// Keyed by query name.
    #[serde(default)]
    pub queries: BTreeMap<String, QueryState>,
}

impl CursorState for JiraCursor {
    const VERSION: u32 = CURSOR_VERSION;
}

/// One query's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QueryState {
    /// The configured JQL the state belongs to; a changed JQL starts over.
    pub jql: String,
    /// The newest `updated` of the last completely walked search, less any ticket that could
    /// not be sealed; the next search starts an overlap window before it.
    #[serde(default)]
    pub watermark: Option<Timestamp>,
    /// Ticket key → `updated` of the newest version handed to the sink.
    #[serde(default)]
    pub sealed: BTreeMap<String, Timestamp>,
}

impl QueryState {
    /// True when the version of `key` updated at `updated` (or a newer one) was sealed.
    pub(super) fn is_sealed(&self, key: &str, updated: Timestamp) -> bool {
        self.sealed.get(key).is_some_and(|s| *s >= updated)
    }
}

/// What one walk of a search found, for moving the watermark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct WalkResult {
    /// Every page was walked.
    pub complete: bool,
    /// Newest `updated` among tickets sealed now or earlier.
    pub newest_handled: Option<Timestamp>,
    /// Oldest `updated` among tickets that could not be sealed.
    pub oldest_failed: Option<Timestamp>,
}

/// The watermark after a walk. An incomplete walk leaves it where it was (the sealed map
/// already keeps the next run from sealing twice). A complete walk moves it to the newest
/// ticket handled, but never past a ticket that failed, so the next search finds it again.
pub(super) fn next_watermark(before: Option<Timestamp>, walk: WalkResult) -> Option<Timestamp> {
    if !walk.complete {
        return before;
    }
    let newest = match (before, walk.newest_handled) {
        (Some(b), Some(n)) => Some(b.max(n)),
        (b, n) => b.or(n),
    };
    match (newest, walk.oldest_failed) {
        (Some(n), Some(f)) => Some(n.min(f)),
        (None, Some(_)) => None,
        (n, None) => n,
    }
}

/// Forget sealed versions too old for a search starting at `search_from` to return: a ticket
/// that comes back has a newer `updated` and is sealed anyway.
pub(super) fn prune(sealed: &mut BTreeMap<String, Timestamp>, search_from: Option<Timestamp>) {
    let Some(from) = search_from else {
        return;
    };
    let keep_from = from.as_second().saturating_sub(REMEMBER_BEFORE_SECS);
    sealed.retain(|_, updated| updated.as_second() >= keep_from);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_complete_walk_moves_the_watermark_to_the_newest_ticket() {
        let walk = WalkResult {
            complete: true,
            newest_handled: Some(ts("2026-02-01T10:00:00Z")),
            oldest_failed: None,
        };
        assert_eq!(
            next_watermark(Some(ts("2026-01-01T00:00:00Z")), walk),
            Some(ts("2026-02-01T10:00:00Z"))
        );
    }

    #[test]
    fn the_watermark_never_moves_back_because_nothing_new_was_found() {
        let walk = WalkResult {
            complete: true,
            newest_handled: None,
            oldest_failed: None,
        };
        let before = Some(ts("2026-01-01T00:00:00Z"));
        assert_eq!(next_watermark(before, walk), before);
    }

    #[test]
    fn an_incomplete_walk_leaves_the_watermark_alone() {
        let walk = WalkResult {
            complete: false,
            newest_handled: Some(ts("2026-02-01T10:00:00Z")),
            oldest_failed: None,
        };
        assert_eq!(next_watermark(None, walk), None);
    }

    #[test]
    fn a_failed_ticket_holds_the_watermark_at_its_update_time() {
        let walk = WalkResult {
            complete: true,
            newest_handled: Some(ts("2026-02-01T10:00:00Z")),
            oldest_failed: Some(ts("2026-01-20T08:00:00Z")),
        };
        assert_eq!(
            next_watermark(Some(ts("2026-01-01T00:00:00Z")), walk),
            Some(ts("2026-01-20T08:00:00Z"))
        );
        let first_run = WalkResult {
            oldest_failed: Some(ts("2026-01-20T08:00:00Z")),
            ..walk
        };
        assert_eq!(
            next_watermark(None, first_run),
            Some(ts("2026-01-20T08:00:00Z"))
        );
    }

    #[test]
    fn a_first_run_where_every_ticket_failed_keeps_no_watermark() {
        let walk = WalkResult {
            complete: true,
            newest_handled: None,
            oldest_failed: Some(ts("2026-01-20T08:00:00Z")),
        };
        assert_eq!(next_watermark(None, walk), None);
    }

    #[test]
    fn pruning_forgets_only_versions_a_day_older_than_the_search() {
        let mut sealed = BTreeMap::from([
            ("A-1".to_owned(), ts("2026-01-01T00:00:00Z")),
            ("A-2".to_owned(), ts("2026-01-30T12:00:00Z")),
            ("A-3".to_owned(), ts("2026-02-01T09:00:00Z")),
        ]);
        prune(&mut sealed, Some(ts("2026-01-31T10:00:00Z")));
        assert_eq!(sealed.keys().collect::<Vec<_>>(), ["A-2", "A-3"]);
        prune(&mut sealed, None);
        assert_eq!(sealed.len(), 2);
    }

    #[test]
    fn a_version_counts_as_sealed_when_it_or_a_newer_one_was() {
        let state = QueryState {
            jql: "project = A".into(),
            watermark: None,
            sealed: BTreeMap::from([("A-1".to_owned(), ts("2026-01-02T00:00:00Z"))]),
        };
        assert!(state.is_sealed("A-1", ts("2026-01-02T00:00:00Z")));
        assert!(state.is_sealed("A-1", ts("2026-01-01T00:00:00Z")));
        assert!(!state.is_sealed("A-1", ts("2026-01-03T00:00:00Z")));
        assert!(!state.is_sealed("A-2", ts("2026-01-01T00:00:00Z")));
    }
}
