//! The redacting writer: bytes go in as they are read, redacted bytes come out to the wrapped
//! writer. It holds back only what may still be part of a secret (the unfinished line, at most
//! [`MAX_PENDING`] bytes), so memory stays flat whatever the artefact's size and a secret split
//! across two reads is still caught. A multi-line private-key block is digested as it streams
//! and replaced by one placeholder. Output does not depend on how the input was chunked.

use std::io::{self, Write};

use serde::Serialize;

use crate::Redactor;
use crate::key::SecretDigest;
use crate::rules::{BLOCK_BEGIN, BLOCK_END, BLOCK_RULE, Candidate};

/// The longest unfinished line held back before it is scanned in part.
pub const MAX_PENDING: usize = 1 << 20;
/// How much of a long line's tail is kept for the next scan, so a secret crossing the cut is
/// seen whole. Longer than any token the rules know (a 4096-bit PEM key on one line is ~3.3 KiB).
const OVERLAP: usize = 16 << 10;
/// Kept back in a private-key block so an END marker split across reads is still found.
const END_MARKER_MAX: usize = 64;
/// At most this many redactions are listed one by one per artefact; the rest are counted.
pub const MAX_LISTED: usize = 10_000;

/// One replaced value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Redaction {
    /// The rule that found it.
    pub rule: &'static str,
    /// That rule's version.
    pub rule_version: u32,
    /// Byte range of the placeholder in the redacted artefact.
    pub start: u64,
    /// End of that range (exclusive).
    pub end: u64,
    /// The placeholder written.
    pub placeholder: String,
}

/// What redaction did to one artefact.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The first [`MAX_LISTED`] redactions, in order.
    pub redactions: Vec<Redaction>,
    /// How many values were redacted in all.
    pub total: u64,
    /// How many were redacted but not listed (beyond [`MAX_LISTED`]).
    pub omitted: u64,
}

impl Report {
    fn record(&mut self, r: Redaction) {
        self.total += 1;
        if self.redactions.len() < MAX_LISTED {
            self.redactions.push(r);
        } else {
            self.omitted += 1;
        }
    }
}

/// A writer that redacts everything written through it. Call [`RedactingWriter::finish`] at the
/// end: the last unfinished line is only written then.
pub struct RedactingWriter<'r, W: Write> {
    redactor: &'r Redactor,
    out: Out<W>,
    pending: Vec<u8>,
    block: Option<SecretDigest>,
    /// Actor identities replaced by their pseudonyms, longest first.
    identities: Vec<Vec<u8>>,
}

/// The rule id recorded for an actor identity replaced by its pseudonym.
pub const PSEUDONYM_RULE: &str = "actor-pseudonym";
/// Shorter identities are left alone: they would match inside ordinary words.
pub const MIN_IDENTITY_LEN: usize = 3;
/// Marks a candidate as an identity rather than a rule's find.
const IDENTITY: usize = usize::MAX;

/// The wrapped writer, with the count of bytes written and the report.
struct Out<W> {
    inner: W,
    written: u64,
    report: Report,
}

impl<W: Write> Out<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.inner.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn placeholder(
        &mut self,
        rule: &'static str,
        version: u32,
        placeholder: String,
    ) -> io::Result<()> {
        let start = self.written;
        self.write(placeholder.as_bytes())?;
        self.report.record(Redaction {
            rule,
            rule_version: version,
            start,
            end: self.written,
            placeholder,
        });
        Ok(())
    }

    /// Writes `text` with each found value replaced by its placeholder.
    fn substitute(
        &mut self,
        redactor: &Redactor,
        text: &[u8],
        found: &[Candidate],
    ) -> io::Result<()> {
        let mut at = 0;
        for c in found {
            self.write(&text[at..c.start])?;
            if c.priority == IDENTITY {
                let identity = String::from_utf8_lossy(&text[c.start..c.end]);
                let pseudonym = redactor.key().pseudonym(&identity);
                self.placeholder(PSEUDONYM_RULE, 1, pseudonym)?;
                at = c.end;
                continue;
            }
            let rule = redactor.rule_at(c.priority);
            let placeholder = redactor.key().placeholder(rule.id, &text[c.start..c.end]);
            self.placeholder(rule.id, rule.version, placeholder)?;
            at = c.end;
        }
        self.write(&text[at..])
    }
}

impl<'r, W: Write> RedactingWriter<'r, W> {
    pub(crate) fn new(redactor: &'r Redactor, inner: W) -> Self {
        Self {
            redactor,
            out: Out {
                inner,
                written: 0,
                report: Report::default(),
            },
            pending: Vec::new(),
            block: None,
            identities: Vec::new(),
        }
    }

    /// Also replace these actor identities (logins, names, account ids) wherever they stand as
    /// a whole token, by their pseudonyms (`pseudonym-<16 hex>`, as in the item's metadata).
    /// Identities shorter than [`MIN_IDENTITY_LEN`] bytes are ignored.
    #[must_use]
    pub fn with_identities(mut self, identities: impl IntoIterator<Item = String>) -> Self {
        let mut ids: Vec<Vec<u8>> = identities
            .into_iter()
            .filter(|i| i.len() >= MIN_IDENTITY_LEN && !i.contains('\n'))
            .map(String::into_bytes)
            .collect();
        ids.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        ids.dedup();
        self.identities = ids;
        self
    }

    /// Redacts and writes what is still held back, flushes, and returns the wrapped writer with
    /// the report of what was redacted.
    pub fn finish(mut self) -> io::Result<(W, Report)> {
        self.drain(true)?;
        self.out.inner.flush()?;
        Ok((self.out.inner, self.out.report))
    }

    /// The wrapped writer. A caller writing into a buffer takes the redacted output out of it
    /// between writes (to hand it on to an asynchronous file, say).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out.inner
    }

    /// Bytes held back, waiting for the end of their line.
    pub fn held_back(&self) -> usize {
        self.pending.len()
    }

    /// Bytes of redacted output written so far.
    pub fn written(&self) -> u64 {
        self.out.written
    }

    fn drain(&mut self, at_end: bool) -> io::Result<()> {
        loop {
            if self.block.is_some() {
                if !self.drain_block(at_end)? {
                    return Ok(());
                }
                continue;
            }
            if self.pending.is_empty() {
                return Ok(());
            }
            let (len, complete) = match memrchr_newline(&self.pending) {
                Some(i) => (i + 1, true),
                None if at_end => (self.pending.len(), true),
                None if self.pending.len() >= MAX_PENDING => (self.pending.len(), false),
                None => return Ok(()),
            };
            let consumed = self.scan(len, complete)?;
            self.pending.drain(..consumed);
            if consumed == 0 && self.block.is_none() {
                return Ok(());
            }
        }
    }

    /// Feeds a multi-line private-key block into its digest; true when the block ended.
    fn drain_block(&mut self, at_end: bool) -> io::Result<bool> {
        let Some(digest) = self.block.as_mut() else {
            return Ok(true);
        };
        let end = BLOCK_END.find(&self.pending).map(|m| m.end());
        let take = match end {
            Some(e) => e,
            None if at_end => self.pending.len(),
            None => self.pending.len().saturating_sub(END_MARKER_MAX),
        };
        digest.update(&self.pending[..take]);
        self.pending.drain(..take);
        if end.is_none() && !at_end {
            return Ok(false);
        }
        let digest = self.block.take().expect("checked above");
        let version = crate::rules::rule(BLOCK_RULE).map_or(1, |r| r.version);
        self.out
            .placeholder(BLOCK_RULE, version, digest.placeholder(BLOCK_RULE))?;
        Ok(true)
    }

    /// Scans the first `len` pending bytes, writes what is settled, and returns how many bytes
    /// were consumed. Enters block mode at an unclosed private-key block.
    fn scan(&mut self, len: usize, complete: bool) -> io::Result<usize> {
        let segment = &self.pending[..len];
        let mut found = self.redactor.find(segment);
        if !self.identities.is_empty() {
            let ids = identity_candidates(segment, &self.identities);
            found.retain(|c| !ids.iter().any(|i| c.whole_start < i.end && i.start < c.end));
            found.extend(ids);
            found.sort_by_key(|c| c.start);
        }
        let begin = BLOCK_BEGIN
            .find_iter(segment)
            .map(|m| m.start())
            .find(|&b| !found.iter().any(|c| c.start <= b && b < c.end));
        let upto = if let Some(b) = begin {
            found.retain(|c| c.end <= b);
            b
        } else if complete {
            len
        } else {
            let cut = len - OVERLAP;
            found.retain(|c| c.whole_start < cut);
            found.iter().map(|c| c.end).max().unwrap_or(0).max(cut)
        };
        self.out
            .substitute(self.redactor, &segment[..upto], &found)?;
        if begin.is_some() {
            self.block = Some(self.redactor.key().digest());
        }
        Ok(upto)
    }
}

impl<W: Write> Write for RedactingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        // Nothing to settle until a line ends, the buffer is full, or a key block is open.
        if buf.contains(&b'\n') || self.pending.len() >= MAX_PENDING || self.block.is_some() {
            self.drain(false)?;
        }
        Ok(buf.len())
    }

    /// Flushes the wrapped writer. Bytes that may still be part of a secret stay held back
    /// until more arrives or [`RedactingWriter::finish`] is called.
    fn flush(&mut self) -> io::Result<()> {
        self.out.inner.flush()
    }
}

/// Whole-token occurrences of the identities in `text`, longest identity first, not
/// overlapping one another.
fn identity_candidates(text: &[u8], identities: &[Vec<u8>]) -> Vec<Candidate> {
    let is_word = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@');
    let mut found: Vec<Candidate> = Vec::new();
    for id in identities {
        let mut from = 0;
        while let Some(i) = find_bytes(&text[from..], id) {
            let (start, end) = (from + i, from + i + id.len());
            let bounded = (start == 0 || !is_word(text[start - 1]))
                && (end == text.len() || !is_word(text[end]));
            if bounded && !found.iter().any(|c| start < c.end && c.start < end) {
                found.push(Candidate {
                    whole_start: start,
                    start,
                    end,
                    priority: IDENTITY,
                });
            }
            from = start + 1;
        }
    }
    found
}

fn find_bytes(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn memrchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().rposition(|b| *b == b'\n')
}
