//! What a connector says besides its records: progress messages and `tracing` events, kept as
//! text so the secret check can search them.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use evidence_connectors::Progress;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Progress that keeps every message and counts waits.
#[derive(Debug, Default)]
pub(crate) struct RecordingProgress {
    pub(crate) text: Mutex<String>,
    pub(crate) waits: AtomicU64,
}

impl RecordingProgress {
    fn note(&self, line: String) {
        let mut t = self.text.lock().unwrap();
        t.push_str(&line);
        t.push('\n');
    }

    pub(crate) fn text(&self) -> String {
        self.text.lock().unwrap().clone()
    }
}

impl Progress for RecordingProgress {
    fn set_items_total(&self, _: Option<u64>) {}
    fn set_bytes_total(&self, _: Option<u64>) {}
    fn add_items(&self, _: u64) {}
    fn add_bytes(&self, _: u64) {}
    fn status(&self, message: &str) {
        self.note(format!("status: {message}"));
    }
    fn waiting(&self, reason: &str, delay: Duration) {
        self.waits.fetch_add(1, Ordering::Relaxed);
        self.note(format!("waiting {delay:?}: {reason}"));
    }
}

/// A `tracing` subscriber that writes every event and span field into a string.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogCapture {
    text: Arc<Mutex<String>>,
    next_id: Arc<AtomicU64>,
}

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }
}

impl LogCapture {
    pub(crate) fn text(&self) -> String {
        self.text.lock().unwrap().clone()
    }

    fn write(&self, f: impl FnOnce(&mut String)) {
        let mut t = self.text.lock().unwrap();
        f(&mut t);
        t.push('\n');
    }
}

impl Subscriber for LogCapture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        self.write(|t| {
            t.push_str(span.metadata().name());
            span.record(&mut Fields(t));
        });
        Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        self.write(|t| values.record(&mut Fields(t)));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        self.write(|t| {
            t.push_str(event.metadata().target());
            event.record(&mut Fields(t));
        });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}
