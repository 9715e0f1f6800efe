//! The GitHub connector's incremental state between runs: per repository and kind, the
//! watermarks, the ETags of the conditional requests, and the page a walk stopped at. It only
//! ever describes what was already handed to the sink.

use std::collections::BTreeMap;

use evidence_model::{Sha256Digest, Timestamp};
use serde::{Deserialize, Serialize};

use crate::connector::CursorState;

/// Version of the cursor's layout; a cursor of another version is refused.
pub(crate) const CURSOR_VERSION: u32 = 1;

/// The whole cursor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct GithubCursor {
    /// The organisation's repository listing, page by page.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub org_pages: Vec<CachedPage<Vec<RepoRef>>>,
    /// Repository state by `owner/name`.
    #[serde(default)]
    pub repos: BTreeMap<String, RepoState>,
}

impl CursorState for GithubCursor {
    const VERSION: u32 = CURSOR_VERSION;
}

/// A repository as the listing described it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RepoRef {
    pub full_name: String,
    pub default_branch: String,
    #[serde(default)]
    pub archived: bool,
}

/// A conditional request's ETag with what was derived from the answer, so a 304 can reuse it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CachedPage<T> {
    pub url: String,
    pub etag: String,
    pub derived: T,
}

/// A request's ETag (valid only for the same URL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Etag {
    pub url: String,
    pub etag: String,
}

impl Etag {
    /// The ETag to send for `url`, if one was stored for exactly that URL.
    pub(crate) fn for_url<'a>(stored: Option<&'a Etag>, url: &str) -> Option<&'a str> {
        stored.filter(|e| e.url == url).map(|e| e.etag.as_str())
    }
}

/// Everything known about one repository.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct RepoState {
    /// `/repos/{owner}/{repo}` for configured repositories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_page: Option<CachedPage<RepoRef>>,
    #[serde(default)]
    pub pulls: WalkState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection: Option<ProtectionState>,
    #[serde(default)]
    pub runs: RunsState,
    /// Card state by path.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cards: BTreeMap<String, CardState>,
    /// Issue walks by label.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub issues: BTreeMap<String, WalkState>,
    #[serde(default)]
    pub releases: ReleasesState,
}

/// An incremental walk of a list sorted newest-first by `updated_at` (pull requests) or a list
/// asked `since` a time (issues).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct WalkState {
    /// Everything updated before this was handed over by a completed walk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<Timestamp>,
    /// Numbers updated exactly at the watermark that were handed over.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub at_watermark: Vec<u64>,
    /// ETag of the first page of the last completed walk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_page: Option<Etag>,
    /// A walk that stopped part-way (shutdown or a failure), to resume next run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Resume>,
    /// Numbers whose details could not be fetched; fetched again next run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retry: Vec<u64>,
}

/// Where an interrupted walk continues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Resume {
    /// The page not yet fully handed over.
    pub next_url: String,
    /// The newest `updated_at` the walk saw, and the numbers at it: the watermark once the
    /// walk completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_water: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub at_high_water: Vec<u64>,
    /// Numbers already handed over by this walk (skipped when a page is read again).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub handled: Vec<u64>,
    /// Pages walked before the interruption.
    #[serde(default)]
    pub pages_walked: u64,
    /// For a GraphQL walk: the `endCursor` after which the page not yet fully handed over
    /// starts (`None`: from the top). `next_url` then stays the REST listing's first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graphql_after: Option<String>,
}

/// Branch protection of the default branch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ProtectionState {
    pub branch: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection_etag: Option<Etag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules_etag: Option<Etag>,
    /// The last sealed artefact's digest (an unchanged answer is not sealed again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Sha256Digest>,
    /// What the pull requests need from it, kept for runs where GitHub answers 304.
    #[serde(default)]
    pub summary: ProtectionSummary,
    /// Status of the last `/protection` answer (200 or 404): a 404 carries no ETag, so a 404
    /// after a 404 counts as unchanged and the rules are asked conditionally. Absent in
    /// cursors written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection_status: Option<u16>,
    /// Status of the last `/rules/branches/…` answer (200, or 404 without rulesets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules_status: Option<u16>,
}

/// The facts of a branch's protection that pull request items refer to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProtectionSummary {
    #[serde(default)]
    pub required_checks: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_approving_review_count: Option<u64>,
    #[serde(default)]
    pub dismiss_stale_reviews: bool,
    #[serde(default)]
    pub protected: bool,
}

/// Workflow runs: a watermark on `created_at`, and the runs already sealed at or after it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct RunsState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sealed: Vec<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_page: Option<Etag>,
    /// Ids of the configured workflows by path, to match runs that carry no `path` (older API
    /// versions, GitHub Enterprise Server).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub workflow_ids: BTreeMap<String, u64>,
}

/// A card file: the blob last sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CardState {
    pub blob_sha: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<Etag>,
}

/// Releases: each release's last sealed digest, and the listing's ETag.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ReleasesState {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sealed: BTreeMap<u64, Sha256Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_page: Option<Etag>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_etag_is_only_sent_for_the_url_it_was_stored_for() {
        let e = Etag {
            url: "https://api.github.com/repos/a/b/pulls?page=1".into(),
            etag: "W/\"x\"".into(),
        };
        assert_eq!(Etag::for_url(Some(&e), &e.url.clone()), Some("W/\"x\""));
        assert_eq!(
            Etag::for_url(Some(&e), "https://api.github.com/other"),
            None
        );
    }

    #[test]
    fn an_empty_cursor_round_trips_through_json() {
        let c = GithubCursor::default();
        let mut stored = crate::Cursor::default();
        crate::VersionedCursor::store(&mut stored, &c).unwrap();
        assert_eq!(stored.0["version"], CURSOR_VERSION);
        assert_eq!(
            crate::VersionedCursor::<GithubCursor>::load(&stored).unwrap(),
            c
        );
    }

    #[test]
    fn a_cursor_stored_before_versioned_cursors_still_loads() {
        // As the connector stored it before `VersionedCursor`: its own `version` field.
        let stored = crate::Cursor(serde_json::json!({
            "version": 1,
            "repos": {"acme/model": {
                "pulls": {"watermark": "2026-05-01T10:00:00Z", "at_watermark": [7]},
                "runs": {},
                "releases": {}
            }}
        }));
        let c = crate::VersionedCursor::<GithubCursor>::load(&stored).unwrap();
        assert_eq!(c.repos["acme/model"].pulls.at_watermark, [7]);
    }

    #[test]
    fn a_cursor_of_another_version_is_refused_not_reset() {
        let stored = crate::Cursor(serde_json::json!({"version": 2, "repos": {}}));
        let err = crate::VersionedCursor::<GithubCursor>::load(&stored).unwrap_err();
        assert!(err.to_string().contains("layout version 2"), "{err}");
    }
}
