//! The run's clock: `SOURCE_DATE_EPOCH` (seconds since 1970, the reproducible-builds
//! convention) pins every time a bundle records, so the same inputs give identical bytes.

use evidence_model::Timestamp;

/// A `SOURCE_DATE_EPOCH` that is not a time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SOURCE_DATE_EPOCH={value:?} {reason}")]
pub struct InvalidEpoch {
    pub value: String,
    pub reason: String,
}

/// The time this run records, and whether it was pinned.
pub fn now() -> Result<(Timestamp, bool), InvalidEpoch> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => {
            let invalid = |reason: String| InvalidEpoch {
                value: v.clone(),
                reason,
            };
            let secs: i64 = v
                .trim()
                .parse()
                .map_err(|_| invalid("is not a whole number of seconds".into()))?;
            let t = Timestamp::from_second(secs)
                .map_err(|e| invalid(format!("is out of range: {e}")))?;
            Ok((t, true))
        }
        _ => Ok((whole_seconds(Timestamp::now()), false)),
    }
}

/// `t` without its fraction of a second: recorded times stay short and comparable.
pub fn whole_seconds(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}
