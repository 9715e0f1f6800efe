//! `evidence-agent check`: the config is already checked when loaded; here each source's
//! connector probes its credentials and reachability, and the results print as a table.

use crate::cli::{EXIT_GAPS, EXIT_OK};
use crate::config::AgentConfig;

/// Probe every source; exit 0 when all are healthy, 1 otherwise.
pub async fn check(config: &AgentConfig) -> anyhow::Result<u8> {
    crate::outln!("config {}: valid", config.file.display());
    crate::outln!(
        "archive {} (origin {})",
        config.archive_dir.display(),
        config.origin
    );
    let mut healthy = true;
    if let Some(remote) = &config.remote {
        match crate::upload::probe(remote).await {
            Ok(detail) => crate::outln!("remote archive: ok: {detail}"),
            Err(e) => {
                healthy = false;
                crate::outln!("remote archive {}: FAIL: {e}", remote.location);
            }
        }
    }
    let connectors = config.connectors()?;
    crate::outln!("{:<24} {:<8} {:<6} detail", "source", "type", "status");
    for c in &connectors {
        let (status, detail) = match c.healthcheck().await {
            Ok(h) => ("ok", h.detail),
            Err(e) => {
                healthy = false;
                ("FAIL", e.to_string())
            }
        };
        crate::outln!(
            "{:<24} {:<8} {:<6} {detail}",
            c.name().as_str(),
            c.connector_type(),
            status
        );
    }
    Ok(if healthy { EXIT_OK } else { EXIT_GAPS })
}
