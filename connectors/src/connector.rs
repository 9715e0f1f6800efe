//! The connector interface every source implements, its error categories, the opaque
//! incremental cursor, and the context (shutdown, progress) a collection runs in.

use std::time::Duration;

use async_trait::async_trait;
use evidence_model::{GapCategory, SourceName};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::sink::{ItemSink, SinkError};

/// A source failed as a whole. Variants are failure categories; messages name the resource and
/// never contain a credential.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectorError {
    #[error("{resource} is unreachable: {detail}")]
    Unreachable { resource: String, detail: String },
    #[error("access to {resource} was denied: {detail}")]
    Denied { resource: String, detail: String },
    #[error("{resource} was not found")]
    NotFound { resource: String },
    #[error("{resource} kept rate limiting after {attempts} attempts")]
    RateLimited { resource: String, attempts: u32 },
    #[error("{resource} did not answer within {timeout:?}")]
    Timeout { resource: String, timeout: Duration },
    #[error("{resource} answered with something unusable: {detail}")]
    InvalidResponse { resource: String, detail: String },
    #[error("{resource}: {source}")]
    Io {
        resource: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the run was interrupted while collecting {resource}")]
    Interrupted { resource: String },
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The cursor the agent saved for this source cannot be decoded (the state file was
    /// edited or damaged): not a configuration problem.
    #[error("the saved cursor is unreadable ({detail})")]
    UnreadableCursor { detail: String },
    #[error(transparent)]
    Sink(#[from] SinkError),
}

impl ConnectorError {
    /// The gap category this failure is recorded under.
    pub fn gap_category(&self) -> GapCategory {
        match self {
            ConnectorError::Unreachable { .. } => GapCategory::Unreachable,
            ConnectorError::Denied { .. } => GapCategory::Denied,
            ConnectorError::NotFound { .. } => GapCategory::NotFound,
            ConnectorError::RateLimited { .. } => GapCategory::RateLimited,
            ConnectorError::Timeout { .. } => GapCategory::Timeout,
            ConnectorError::InvalidResponse { .. } => GapCategory::InvalidResponse,
            ConnectorError::Io { .. } => GapCategory::Io,
            ConnectorError::Interrupted { .. } => GapCategory::Interrupted,
            ConnectorError::Config(_)
            | ConnectorError::UnreadableCursor { .. }
            | ConnectorError::Sink(_) => GapCategory::Other,
        }
    }

    /// True when the run cannot continue at all (the staging area failed).
    pub fn is_fatal(&self) -> bool {
        matches!(self, ConnectorError::Sink(e) if !e.is_item_level())
    }
}

/// A connector's incremental state between runs, stored by the agent as JSON. A connector must
/// only record in it what it has already handed to the sink: the agent saves the cursor after
/// the run's bundle is sealed, whether the connector finished or failed part-way.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Cursor(pub serde_json::Value);

impl Cursor {
    /// Decode the connector's own cursor type; an empty cursor decodes to `T::default()`.
    pub fn load<T: DeserializeOwned + Default>(&self) -> Result<T, ConnectorError> {
        if self.0.is_null() {
            return Ok(T::default());
        }
        serde_json::from_value(self.0.clone()).map_err(|e| ConnectorError::UnreadableCursor {
            detail: e.to_string(),
        })
    }

    /// Replace the cursor with `value`.
    pub fn store<T: Serialize>(&mut self, value: &T) -> Result<(), ConnectorError> {
        self.0 = serde_json::to_value(value)
            .map_err(|e| ConnectorError::Config(format!("cannot save the cursor: {e}")))?;
        Ok(())
    }
}

/// A connector's cursor state with the version of its layout. Stored as
/// `{ "version": N, ...fields of the state }`.
pub trait CursorState: Serialize + DeserializeOwned + Default {
    /// The layout this code writes.
    const VERSION: u32;

    /// Read a cursor stored without a version (written before cursors were versioned). By
    /// default the layout is today's; a state whose layout changed since says how to migrate.
    fn from_unversioned(value: serde_json::Value) -> Result<Self, UnreadableLayout> {
        serde_json::from_value(value).map_err(|e| UnreadableLayout(e.to_string()))
    }

    /// Read a cursor of an older `version` (the fields, without `version`). By default no
    /// older version exists and the cursor is refused.
    fn migrate(version: u64, value: serde_json::Value) -> Result<Self, UnreadableLayout> {
        let _ = value;
        Err(UnreadableLayout(format!(
            "the cursor has layout version {version}, but this agent reads version {}; it was written by another version of the agent",
            Self::VERSION
        )))
    }
}

/// Why a stored cursor's fields cannot be read as a layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnreadableLayout(pub String);

/// A versioned cursor: the state `T` with the version of its layout. A cursor that cannot be
/// read (an unknown version, a layout that does not parse) is refused with
/// [`ConnectorError::UnreadableCursor`], never silently reset: a reset would collect the whole
/// source again, or (with a watermark) skip what it should not.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionedCursor<T> {
    pub version: u32,
    pub state: T,
}

impl<T: CursorState> VersionedCursor<T> {
    /// Decode `cursor`: an empty cursor is `T::default()`, today's version decodes as is, an
    /// unversioned or older one is migrated, anything else is refused.
    pub fn load(cursor: &Cursor) -> Result<T, ConnectorError> {
        let unreadable = |detail: String| ConnectorError::UnreadableCursor { detail };
        let mut fields = match &cursor.0 {
            serde_json::Value::Null => return Ok(T::default()),
            serde_json::Value::Object(fields) => fields.clone(),
            other => {
                return Err(unreadable(format!(
                    "the cursor is a JSON {}, not an object",
                    json_type(other)
                )));
            }
        };
        match fields.remove("version") {
            None => T::from_unversioned(serde_json::Value::Object(fields))
                .map_err(|e| unreadable(format!("the cursor has no version and {e}"))),
            Some(serde_json::Value::Number(n)) if n.as_u64() == Some(u64::from(T::VERSION)) => {
                serde_json::from_value(serde_json::Value::Object(fields)).map_err(|e| {
                    unreadable(format!("the cursor of layout version {}: {e}", T::VERSION))
                })
            }
            Some(serde_json::Value::Number(n)) if n.as_u64().is_some() => {
                let version = n.as_u64().unwrap_or_default();
                T::migrate(version, serde_json::Value::Object(fields)).map_err(|e| unreadable(e.0))
            }
            Some(other) => Err(unreadable(format!(
                "the cursor's version is {other}, not a layout version number"
            ))),
        }
    }

    /// Replace `cursor` with `state` at today's version.
    pub fn store(cursor: &mut Cursor, state: &T) -> Result<(), ConnectorError> {
        let saving = |e: String| ConnectorError::Config(format!("cannot save the cursor: {e}"));
        let mut fields = match serde_json::to_value(state).map_err(|e| saving(e.to_string()))? {
            serde_json::Value::Object(fields) => fields,
            other => {
                return Err(saving(format!(
                    "the state is a JSON {}, not an object",
                    json_type(&other)
                )));
            }
        };
        fields.insert("version".into(), T::VERSION.into());
        cursor.0 = serde_json::Value::Object(fields);
        Ok(())
    }
}

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// What a healthcheck found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// One line for a person: what was reached and as whom.
    pub detail: String,
}

/// Progress reporting for long collections; the agent draws it as progress bars.
pub trait Progress: Send + Sync {
    /// The number of items (or bytes, see `set_bytes_total`) expected, when known.
    fn set_items_total(&self, total: Option<u64>);
    fn set_bytes_total(&self, total: Option<u64>);
    fn add_items(&self, n: u64);
    fn add_bytes(&self, n: u64);
    /// What the connector is doing now (a repository, a page, a file).
    fn status(&self, message: &str);
    /// The connector is waiting (a rate limit reset, a retry backoff) for `delay`.
    fn waiting(&self, reason: &str, delay: Duration);
}

/// Progress that goes nowhere, for tests and quiet runs.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn set_items_total(&self, _: Option<u64>) {}
    fn set_bytes_total(&self, _: Option<u64>) {}
    fn add_items(&self, _: u64) {}
    fn add_bytes(&self, _: u64) {}
    fn status(&self, _: &str) {}
    fn waiting(&self, _: &str, _: Duration) {}
}

/// What a collection runs in.
pub struct CollectContext<'a> {
    /// Cancelled when the agent is asked to stop; long loops check it.
    pub shutdown: CancellationToken,
    pub progress: &'a dyn Progress,
    /// `evidence-agent <version>`, for provenance.
    pub agent: String,
}

/// One evidence source.
#[async_trait]
pub trait Connector: Send + Sync {
    /// Connector type: `local`, `github`, `s3`, `jira`, `mlflow`.
    fn connector_type(&self) -> &'static str;

    /// The configured source name.
    fn name(&self) -> &SourceName;

    /// Check credentials and reachability without collecting anything.
    async fn healthcheck(&self) -> Result<Health, ConnectorError>;

    /// Collect new or changed items since `cursor` into `sink`, updating `cursor` as items are
    /// staged. Scopes that fail are recorded with `sink.gap` and the rest continue; an error
    /// return means the source as a whole failed after staging whatever `cursor` now covers.
    async fn collect(
        &self,
        cursor: &mut Cursor,
        sink: &mut dyn ItemSink,
        ctx: &CollectContext<'_>,
    ) -> Result<(), ConnectorError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct State {
        #[serde(default)]
        seen: Vec<String>,
    }

    impl CursorState for State {
        const VERSION: u32 = 2;
    }

    fn cursor(text: &str) -> Cursor {
        Cursor(serde_json::from_str(text).unwrap())
    }

    #[test]
    fn a_stored_cursor_round_trips_with_its_version() {
        let mut c = Cursor::default();
        assert_eq!(
            VersionedCursor::<State>::load(&c).unwrap(),
            State::default()
        );
        let state = State {
            seen: vec!["a".into()],
        };
        VersionedCursor::store(&mut c, &state).unwrap();
        assert_eq!(c.0, serde_json::json!({"version": 2, "seen": ["a"]}));
        assert_eq!(VersionedCursor::<State>::load(&c).unwrap(), state);
    }

    #[test]
    fn an_unversioned_cursor_of_todays_layout_still_loads() {
        let state = VersionedCursor::<State>::load(&cursor(r#"{"seen": ["x"]}"#)).unwrap();
        assert_eq!(state.seen, ["x"]);
    }

    #[test]
    fn unknown_versions_and_unparsable_cursors_are_refused_not_reset() {
        for (text, expect) in [
            (r#"{"version": 3, "seen": []}"#, "layout version 3"),
            (r#"{"version": 1, "seen": []}"#, "layout version 1"),
            (
                r#"{"version": "2", "seen": []}"#,
                "not a layout version number",
            ),
            (r#"{"version": 2, "seen": 5}"#, "layout version 2"),
            (r#"{"version": 2, "other": 1}"#, "other"),
            (r#"["seen"]"#, "not an object"),
            (r#"{"seen": 7}"#, "no version"),
        ] {
            let err = VersionedCursor::<State>::load(&cursor(text)).unwrap_err();
            assert!(
                matches!(&err, ConnectorError::UnreadableCursor { detail } if detail.contains(expect)),
                "{text}: {err}"
            );
        }
    }
}
