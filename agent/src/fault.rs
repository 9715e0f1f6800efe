//! Fault points for the crash-safety and signal tests: when `EVIDENCE_AGENT_CRASH_AT` names a
//! point, the process aborts there, as a power cut would; when `EVIDENCE_AGENT_STALL_AT` names
//! it, the thread sleeps there for `EVIDENCE_AGENT_STALL_SECS` (default 30), as a slow disk
//! would. Unset (always, in production), they do nothing.

use std::sync::OnceLock;
use std::time::Duration;

/// Abort the process, or stall, if a fault variable names `point`.
pub fn point(point: &str) {
    static CRASH: OnceLock<Option<String>> = OnceLock::new();
    static STALL: OnceLock<Option<(String, Duration)>> = OnceLock::new();
    let crash = CRASH.get_or_init(|| std::env::var("EVIDENCE_AGENT_CRASH_AT").ok());
    if crash.as_deref() == Some(point) {
        eprintln!("evidence-agent: simulated crash at {point}");
        std::process::abort();
    }
    let stall = STALL.get_or_init(|| {
        let at = std::env::var("EVIDENCE_AGENT_STALL_AT").ok()?;
        let secs = std::env::var("EVIDENCE_AGENT_STALL_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(30);
        Some((at, Duration::from_secs(secs)))
    });
    if let Some((at, how_long)) = stall
        && at == point
    {
        eprintln!("evidence-agent: simulated stall at {point}");
        std::thread::sleep(*how_long);
    }
}
