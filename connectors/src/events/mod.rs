//! Run-time AI event logs (ISO/IEC 42001 A.6.2.8, recording of event logs): JSON-lines logs of
//! an AI system in use, in OpenTelemetry GenAI or LiteLLM shape, rotated and compressed.
//!
//! - `mapping`: one line → an event; prompts and responses stripped, users pseudonymised.
//! - `window`: per-system, per-window summaries, sequence checks, silent windows.
//! - `segments`: which rotated segments still have to be read, and where the sequence broke.
//!
//! Architecture invariant: these three are pure; the connector around them lists and reads
//! files and hands items to the sink.

pub mod mapping;
pub mod segments;
pub mod window;
