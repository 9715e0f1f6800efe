//! evidence-agent: runs inside an organisation on a schedule and collects audit evidence from
//! its sources into a sealed, chained, tamper-evident archive, one bundle per run.

pub mod check;
pub mod cli;
pub mod clock;
pub mod collect;
pub mod config;
pub mod cosign;
pub mod exit;
pub mod fault;
pub mod integrity;
pub mod keys;
pub mod output;
pub mod redact_zip;
pub mod redaction;
pub mod repair;
pub mod run;
pub mod schedule;
pub mod signals;
pub mod signing;
pub mod sink;
pub mod state;
pub mod ui;
pub mod upload;

/// `evidence-agent <version>`, recorded in bundles and sent as the HTTP user agent.
pub fn agent_name() -> String {
    format!("evidence-agent {}", env!("CARGO_PKG_VERSION"))
}
