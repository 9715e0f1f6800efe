//! Run-time AI event logs (ISO/IEC 42001 A.6.2.8, recording of event logs): JSON-lines logs of
//! an AI system in use, in OpenTelemetry GenAI or LiteLLM shape, rotated and compressed.
//!
//! - `mapping`: one line → an event; prompts and responses stripped, users pseudonymised.
//! - `window`: per-system, per-window summaries, sequence checks, silent windows.
//! - `segments`: which rotated segments still have to be read, and where the sequence broke.
//! - `observation`: one Langfuse observation → an event; the model-call types, the time range.
//!
//! Architecture invariant: these four are pure; the connector around them lists and reads
//! files and hands items to the sink:
//!
//! - `config`: `[[source]] type = "events"`, checked into the reading settings.
//! - `folder`: the segments in a local folder (listing, opening decompressed at an offset).
//! - `bucket`: the same under an S3 prefix (feature `s3`).
//! - `langfuse`: Langfuse's public API (observations, trace names), paged into the same windows.
//! - `pass`: one blocking reading pass from the cursor into per-window files.
//! - `connector`: the [`EventsConnector`]: stages the windows, gaps, population, cursor.

#[cfg(feature = "s3")]
mod bucket;
mod config;
mod connector;
mod folder;
mod langfuse;
pub mod mapping;
pub mod observation;
mod pass;
pub mod segments;
pub mod window;

pub use config::EventsConfig;
pub use connector::EventsConnector;
