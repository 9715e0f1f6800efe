//! evidence-agent: collects audit evidence into sealed bundles.
fn main() {}
