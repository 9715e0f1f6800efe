//! Crash points for the crash-safety tests: when `EVIDENCE_AGENT_CRASH_AT` names a point, the
//! process aborts there, as a power cut would. Unset (always, in production), it does nothing.

use std::sync::OnceLock;

/// Abort the process if the crash-test variable names `point`.
pub fn point(point: &str) {
    static TARGET: OnceLock<Option<String>> = OnceLock::new();
    let target = TARGET.get_or_init(|| std::env::var("EVIDENCE_AGENT_CRASH_AT").ok());
    if target.as_deref() == Some(point) {
        eprintln!("evidence-agent: simulated crash at {point}");
        std::process::abort();
    }
}
