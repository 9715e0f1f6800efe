//! evidence-auditor: verifies archives and runs the sampling cycle.
fn main() {}
