//! What a person sees: progress bars (on a terminal only; hidden in CI and pipes) and `tracing`
//! logs on stderr, human-readable by default or JSON lines on request, printed around the bars.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use evidence_connectors::Progress;
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Readable lines for a person.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The progress display shared by all sources of a run.
#[derive(Clone)]
pub struct Ui {
    multi: MultiProgress,
    enabled: bool,
}

impl Ui {
    /// Bars are drawn only when stderr is a terminal and `quiet` is off.
    pub fn new(quiet: bool) -> Self {
        let enabled = !quiet && std::io::stderr().is_terminal();
        let target = if enabled {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self {
            multi: MultiProgress::with_draw_target(target),
            enabled,
        }
    }

    /// Set up `tracing` to print through this display. `verbosity` 0 = info, 1 = debug, 2+ = trace;
    /// `RUST_LOG` overrides.
    pub fn init_logging(&self, format: LogFormat, verbosity: u8) {
        let default = match verbosity {
            0 => "info",
            1 => "debug",
            _ => "trace",
        };
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
        let writer = SuspendingWriter {
            multi: self.multi.clone(),
        };
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(writer)
            .with_target(false);
        let _ = match format {
            LogFormat::Human => builder
                .with_ansi(std::io::stderr().is_terminal())
                .try_init(),
            LogFormat::Json => builder.json().flatten_event(true).try_init(),
        };
    }

    /// A spinner with a message, for a step without a measurable length (sealing).
    pub fn spinner(&self, message: String) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::hidden();
        }
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner:.green} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// A progress line for one source.
    pub fn source(&self, name: &str) -> SourceProgress {
        let bar = if self.enabled {
            let bar = self.multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner:.green} {prefix:.bold} [{bar:28.cyan/blue}] {pos}/{len} items {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        } else {
            ProgressBar::hidden()
        };
        bar.set_prefix(name.to_owned());
        SourceProgress {
            bar,
            bytes: AtomicU64::new(0),
        }
    }
}

/// One source's progress bar.
pub struct SourceProgress {
    bar: ProgressBar,
    bytes: AtomicU64,
}

impl SourceProgress {
    /// Stop the bar, leaving a final line.
    pub fn finish(&self, message: &str) {
        self.bar.finish_with_message(message.to_owned());
    }
}

impl Progress for SourceProgress {
    fn set_items_total(&self, total: Option<u64>) {
        if let Some(t) = total {
            self.bar.set_length(t);
        }
    }
    fn set_bytes_total(&self, _total: Option<u64>) {}
    fn add_items(&self, n: u64) {
        self.bar.inc(n);
    }
    fn add_bytes(&self, n: u64) {
        let total = self.bytes.fetch_add(n, Ordering::Relaxed) + n;
        self.bar.set_message(format!("{}", HumanBytes(total)));
    }
    fn status(&self, message: &str) {
        let total = self.bytes.load(Ordering::Relaxed);
        self.bar
            .set_message(format!("{} {message}", HumanBytes(total)));
    }
    fn waiting(&self, reason: &str, delay: Duration) {
        self.bar
            .set_message(format!("waiting {}s: {reason}", delay.as_secs()));
        tracing::info!(delay_secs = delay.as_secs(), "{reason}");
    }
}

/// A `tracing` writer that hides the progress bars while a line is printed.
#[derive(Clone)]
struct SuspendingWriter {
    multi: MultiProgress,
}

struct LineBuffer {
    multi: MultiProgress,
    buf: Vec<u8>,
}

impl Write for LineBuffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineBuffer {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        self.multi.suspend(|| {
            let _ = std::io::stderr().write_all(&buf);
        });
    }
}

impl<'a> MakeWriter<'a> for SuspendingWriter {
    type Writer = LineBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        LineBuffer {
            multi: self.multi.clone(),
            buf: Vec::new(),
        }
    }
}
