//! One reading pass over a log: the segments the plan names, line by line from the cursor, each
//! event mapped, stripped of prompts and responses (unless kept), its users pseudonymised, and
//! appended to its system's window file in a temporary folder; the summaries, the new segment
//! states and the sequence breaks come back. Blocking IO, memory independent of the log's size:
//! one line and one open window file at a time.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};
use tokio_util::sync::CancellationToken;

use super::folder::SegmentStore;
use super::mapping::{self, Shape};
use super::segments::{self, Break, Read, SegmentFile, SegmentState};
use super::window::{Backwards, SequenceCheck, Window, WindowSummary};
use crate::sink::Pseudonymiser;

/// How often (in lines) a pass checks for shutdown.
const CANCEL_CHECK_LINES: u64 = 65_536;
/// How many unreadable lines a pass names (the rest are counted).
pub(crate) const MAX_LISTED: usize = 20;

/// What a pass needs to know besides the log.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) shape: Shape,
    pub(crate) window: Window,
    pub(crate) include_content: bool,
    /// The system a line belongs to when it names none.
    pub(crate) default_system: String,
    pub(crate) tolerance: SignedDuration,
}

/// One system's window as this pass read it.
#[derive(Debug)]
pub(crate) struct WindowOut {
    pub(crate) summary: WindowSummary,
    /// The stripped, pseudonymised lines, one JSON object each.
    pub(crate) path: PathBuf,
    /// The segments its lines came from.
    pub(crate) segments: Vec<String>,
}

/// A line that was not an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unreadable {
    pub(crate) segment: String,
    pub(crate) line: u64,
    pub(crate) reason: String,
}

/// What one pass read.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) windows: BTreeMap<(String, Timestamp), WindowOut>,
    /// The cursor's segments after the pass: every segment present, as far as it was read.
    pub(crate) segments: Vec<SegmentState>,
    pub(crate) breaks: Vec<Break>,
    pub(crate) backwards: Vec<(String, Backwards)>,
    pub(crate) unreadable: Vec<Unreadable>,
    pub(crate) unreadable_count: u64,
    pub(crate) lines: u64,
    pub(crate) bytes: u64,
    /// The latest event time seen, across runs.
    pub(crate) latest: Option<Timestamp>,
    /// Segment name, from offset, to offset.
    pub(crate) reads: Vec<(String, u64, u64)>,
    /// Pages of an API read (the segments' reads are `reads`).
    pub(crate) pages: u64,
    pub(crate) interrupted: bool,
}

/// The pass in progress over a log's segments.
struct Pass<'a> {
    cancel: &'a CancellationToken,
    sequence: SequenceCheck,
    windows: Windows<'a>,
}

/// The window files of a pass, whatever its input (segments, an API): each event is stripped
/// of content unless kept, its users pseudonymised, and appended to its system's window file.
pub(crate) struct Windows<'a> {
    settings: &'a Settings,
    pseudonymiser: &'a Pseudonymiser,
    dir: &'a Path,
    pub(crate) out: Outcome,
    writer: Option<((String, Timestamp), BufWriter<File>)>,
    /// The window the last event went to: unreadable lines are counted there.
    current: Option<(String, Timestamp)>,
}

/// Reads what `cursor` has not read yet of the log in `store`, into window files under `dir`.
pub(crate) fn run(
    store: &dyn SegmentStore,
    cursor: &[SegmentState],
    latest: Option<Timestamp>,
    settings: &Settings,
    pseudonymiser: &Pseudonymiser,
    dir: &Path,
    cancel: &CancellationToken,
) -> io::Result<Outcome> {
    let files = store.list()?;
    let plan = segments::plan(cursor, &files);
    let mut sequence = SequenceCheck::new(settings.tolerance);
    if let Some(t) = latest {
        sequence.observe(0, t);
    }
    let mut windows = Windows::new(settings, pseudonymiser, dir);
    windows.out.breaks = plan.breaks.clone();
    windows.out.latest = latest;
    let mut pass = Pass {
        cancel,
        sequence,
        windows,
    };
    for read in &plan.reads {
        let file = &files[read.file];
        let state = pass.segment(store, file, read)?;
        if pass.windows.out.interrupted {
            break;
        }
        pass.windows.out.segments.extend(state);
    }
    pass.windows.finish()
}

impl Pass<'_> {
    /// Reads one segment from the plan's offset; returns its new state (none while its first
    /// line is incomplete: nothing of it is read yet).
    fn segment(
        &mut self,
        store: &dyn SegmentStore,
        file: &SegmentFile,
        read: &Read,
    ) -> io::Result<Option<SegmentState>> {
        let mut reader = store.open(&file.name, read.from_offset)?;
        let mut offset = read.from_offset;
        let mut line_no = read.from_line;
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 || (!line.ends_with(b"\n") && !read.closed) {
                // The end, or a line the writer has not finished: left for the next run.
                break;
            }
            offset += n as u64;
            line_no += 1;
            self.windows.out.bytes += n as u64;
            self.windows.out.lines += 1;
            self.line(&file.name, line_no, trim_newline(&line))?;
            if line_no.is_multiple_of(CANCEL_CHECK_LINES) && self.cancel.is_cancelled() {
                self.windows.out.interrupted = true;
                return Ok(None);
            }
        }
        self.windows
            .out
            .reads
            .push((file.name.clone(), read.from_offset, offset));
        // A closed segment whose only line has no newline is known by all of it.
        let whole = || {
            (read.closed && !file.prefix.is_empty()).then(|| {
                let len = file.prefix.len();
                (len, segments::fingerprint(&file.prefix, len))
            })
        };
        let Some((fingerprint_len, fingerprint)) = segments::identity(&file.prefix).or_else(whole)
        else {
            return Ok(None);
        };
        Ok(Some(SegmentState {
            name: file.name.clone(),
            fingerprint_len,
            fingerprint,
            offset,
            lines: line_no,
            closed: read.closed,
        }))
    }

    /// Maps, checks and writes one line.
    fn line(&mut self, segment: &str, line_no: u64, line: &[u8]) -> io::Result<()> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let (event, value) = match mapping::parse_line(line, self.windows.settings.shape) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.windows.unreadable(segment, line_no, e.to_string());
                return Ok(());
            }
        };
        let Some(time) = event.time else {
            return Ok(());
        };
        if let Some(b) = self.sequence.observe(line_no, time) {
            self.windows.out.backwards.push((segment.to_owned(), b));
        }
        self.windows.record(segment, &event, value)
    }
}

impl<'a> Windows<'a> {
    /// No window yet; files go to `dir`.
    pub(crate) fn new(
        settings: &'a Settings,
        pseudonymiser: &'a Pseudonymiser,
        dir: &'a Path,
    ) -> Self {
        Self {
            settings,
            pseudonymiser,
            dir,
            out: Outcome::default(),
            writer: None,
            current: None,
        }
    }

    /// Whether prompts and responses are kept.
    pub(crate) fn include_content(&self) -> bool {
        self.settings.include_content
    }

    /// Strips, pseudonymises and writes one event read from `source` (a segment's name, a
    /// page) to its system's window; an event without a time is left out.
    pub(crate) fn record(
        &mut self,
        source: &str,
        event: &mapping::Event,
        mut value: serde_json::Value,
    ) -> io::Result<()> {
        let Some(time) = event.time else {
            return Ok(());
        };
        self.out.latest = Some(self.out.latest.map_or(time, |l| l.max(time)));
        if !self.settings.include_content {
            mapping::strip_content(&mut value);
        }
        let p = self.pseudonymiser;
        mapping::pseudonymise(&mut value, &|s| p.pseudonym(s));
        let system = event
            .system
            .clone()
            .unwrap_or_else(|| self.settings.default_system.clone());
        let key = (system, self.settings.window.start_of(time));
        let user = event.user.as_deref().map(|u| p.pseudonym(u));
        let writer = self.writer_for(&key, source)?;
        serde_json::to_writer(&mut *writer, &value)?;
        writer.write_all(b"\n")?;
        if let Some(w) = self.out.windows.get_mut(&key) {
            w.summary.add(event, user);
        }
        self.current = Some(key);
        Ok(())
    }

    /// Counts (and names, up to [`MAX_LISTED`]) something read that is not an event.
    pub(crate) fn unreadable(&mut self, segment: &str, line: u64, reason: String) {
        self.out.unreadable_count += 1;
        if self.out.unreadable.len() < MAX_LISTED {
            self.out.unreadable.push(Unreadable {
                segment: segment.to_owned(),
                line,
                reason,
            });
        }
        if let Some(w) = self
            .current
            .as_ref()
            .and_then(|k| self.out.windows.get_mut(k))
        {
            w.summary.unreadable_lines += 1;
        }
    }

    /// The open file of window `key`, opening (appending) it and closing the previous one.
    fn writer_for(
        &mut self,
        key: &(String, Timestamp),
        segment: &str,
    ) -> io::Result<&mut BufWriter<File>> {
        let n = self.out.windows.len();
        let window = self.settings.window;
        let entry = self
            .out
            .windows
            .entry(key.clone())
            .or_insert_with(|| WindowOut {
                summary: WindowSummary::new(&key.0, key.1, window),
                path: self.dir.join(format!("window-{n}.jsonl")),
                segments: Vec::new(),
            });
        if entry.segments.last().is_none_or(|s| s != segment) {
            entry.segments.push(segment.to_owned());
        }
        let path = entry.path.clone();
        if self.writer.as_ref().is_none_or(|(k, _)| k != key) {
            if let Some((_, mut old)) = self.writer.take() {
                old.flush()?;
            }
            let file = OpenOptions::new().create(true).append(true).open(&path)?;
            self.writer = Some((key.clone(), BufWriter::with_capacity(256 * 1024, file)));
        }
        match self.writer.as_mut() {
            Some((_, w)) => Ok(w),
            None => Err(io::Error::other("no window file is open")),
        }
    }

    /// Flushes the open window file; what was read.
    pub(crate) fn finish(mut self) -> io::Result<Outcome> {
        if let Some((_, mut w)) = self.writer.take() {
            w.flush()?;
        }
        Ok(self.out)
    }
}

fn trim_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}
