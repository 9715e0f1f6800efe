//! Which parts of a rotated log still have to be read. A segment (the live file, a renamed
//! `.1`, a compressed `.2.gz`) is known by a fingerprint of its first bytes, not by its name,
//! so renaming and compressing by the rotation do not make the agent read it twice, and a
//! truncation or a segment rotated away before it was read to the end is a sequence break
//! named in a gap, never a silent loss. Pure: the caller lists the files and reads them.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How many leading bytes identify a segment.
pub const FINGERPRINT_LEN: usize = 1024;

/// What the cursor remembers of one segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentState {
    /// The file name it had when last read (for messages; matching uses the fingerprint).
    pub name: String,
    /// How many leading bytes the fingerprint covers: the first line (see [`identity`]).
    pub fingerprint_len: usize,
    /// SHA-256 of those bytes, hex.
    pub fingerprint: String,
    /// Bytes of (decompressed) content consumed: always the end of a complete line.
    pub offset: u64,
    /// Lines consumed.
    pub lines: u64,
    /// A newer segment existed when it was last read: the writer had moved on.
    pub closed: bool,
}

/// One file of the log as it is now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentFile {
    pub name: String,
    pub modified: Timestamp,
    /// Its first bytes (decompressed), at most [`FINGERPRINT_LEN`].
    pub prefix: Vec<u8>,
    /// Its (decompressed) length when known without reading it all (plain files).
    pub len: Option<u64>,
}

/// Read this file from this point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Read {
    /// Index into the files given to [`plan`].
    pub file: usize,
    pub from_offset: u64,
    pub from_line: u64,
    /// A newer segment exists: read to the end, including an unterminated last line.
    pub closed: bool,
}

/// A place where the log's sequence is broken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Break {
    /// The segment is now shorter than what was read of it: the bytes between were lost.
    Truncated { name: String, read: u64, now: u64 },
    /// A segment still being written at the last run is gone (rotated away and deleted)
    /// before its end could be read.
    Vanished { name: String, read: u64 },
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Break::Truncated { name, read, now } => write!(
                f,
                "{name} was truncated: {read} bytes had been read, it now holds {now}; what was written in between is lost"
            ),
            Break::Vanished { name, read } => write!(
                f,
                "{name} was rotated away and deleted while still being written (read up to byte {read}); its last lines are lost"
            ),
        }
    }
}

/// The reads and breaks for one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// In the order to read them: oldest segment first.
    pub reads: Vec<Read>,
    pub breaks: Vec<Break>,
}

/// A segment's identity: the length and fingerprint of its first line (at most
/// [`FINGERPRINT_LEN`] bytes). The first line survives renaming, compression, growth and a
/// truncation that keeps it; a file rewritten after `copytruncate` starts with a new event and
/// so is a new segment. `None` until the first line is complete.
pub fn identity(prefix: &[u8]) -> Option<(usize, String)> {
    let len = match prefix.iter().position(|b| *b == b'\n') {
        Some(i) => i + 1,
        None if prefix.len() >= FINGERPRINT_LEN => FINGERPRINT_LEN,
        None => return None,
    };
    Some((len, fingerprint(prefix, len)))
}

/// The fingerprint of the first `len` bytes of `prefix`.
pub fn fingerprint(prefix: &[u8], len: usize) -> String {
    hex::encode(Sha256::digest(&prefix[..len.min(prefix.len())]))
}

/// Matches the files to what the cursor remembers and says what to read.
pub fn plan(cursor: &[SegmentState], files: &[SegmentFile]) -> Plan {
    let mut order: Vec<usize> = (0..files.len()).collect();
    // Equal times (a copy, S3's whole seconds): the higher rotation number is the older.
    order.sort_by(|&a, &b| {
        let key = |f: &SegmentFile| (f.modified, std::cmp::Reverse(rotation_number(&f.name)));
        key(&files[a])
            .cmp(&key(&files[b]))
            .then_with(|| files[a].name.cmp(&files[b].name))
    });
    let newest = order.last().copied();
    let mut used = vec![false; cursor.len()];
    let mut out = Plan::default();
    for &i in &order {
        let file = &files[i];
        let closed = Some(i) != newest;
        let matched = cursor
            .iter()
            .enumerate()
            .filter(|(j, s)| {
                !used[*j]
                    && s.fingerprint_len > 0
                    && s.fingerprint_len <= file.prefix.len()
                    && fingerprint(&file.prefix, s.fingerprint_len) == s.fingerprint
            })
            .max_by_key(|(_, s)| s.fingerprint_len);
        let (from_offset, from_line) = match matched {
            Some((j, state)) => {
                used[j] = true;
                match file.len {
                    Some(now) if now < state.offset => {
                        out.breaks.push(Break::Truncated {
                            name: file.name.clone(),
                            read: state.offset,
                            now,
                        });
                        (now, state.lines)
                    }
                    _ => (state.offset, state.lines),
                }
            }
            None => (0, 0),
        };
        out.reads.push(Read {
            file: i,
            from_offset,
            from_line,
            closed,
        });
    }
    for (j, state) in cursor.iter().enumerate() {
        if !used[j] && !state.closed {
            out.breaks.push(Break::Vanished {
                name: state.name.clone(),
                read: state.offset,
            });
        }
    }
    out
}

/// The `N` of a rotated name (`app.jsonl.3`, `app.jsonl.3.gz`); 0 for the live file's name.
fn rotation_number(name: &str) -> u64 {
    let name = name.strip_suffix(".gz").unwrap_or(name);
    name.rsplit_once('.')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn file(name: &str, modified: &str, content: &[u8]) -> SegmentFile {
        SegmentFile {
            name: name.into(),
            modified: t(modified),
            prefix: content[..content.len().min(FINGERPRINT_LEN)].to_vec(),
            len: Some(content.len() as u64),
        }
    }

    fn state(name: &str, content: &[u8], offset: u64, lines: u64, closed: bool) -> SegmentState {
        let (len, fingerprint) = identity(content).expect("a complete first line");
        SegmentState {
            name: name.into(),
            fingerprint_len: len,
            fingerprint,
            offset,
            lines,
            closed,
        }
    }

    const A: &[u8] = b"{\"t\":1}\n{\"t\":2}\n";
    const A_GROWN: &[u8] = b"{\"t\":1}\n{\"t\":2}\n{\"t\":3}\n";
    const B: &[u8] = b"{\"t\":4}\n";

    #[test]
    fn a_first_run_reads_every_segment_from_the_start_oldest_first() {
        let files = [
            file("app.jsonl", "2026-11-30T10:00:00Z", B),
            file("app.jsonl.1", "2026-11-29T10:00:00Z", A),
        ];
        let p = plan(&[], &files);
        assert_eq!(
            p.reads
                .iter()
                .map(|r| (r.file, r.from_offset, r.closed))
                .collect::<Vec<_>>(),
            vec![(1, 0, true), (0, 0, false)]
        );
        assert!(p.breaks.is_empty());
    }

    #[test]
    fn a_renamed_and_grown_segment_is_read_from_where_the_last_run_stopped() {
        // Last run read A (16 bytes) as the live file; since then it grew by a line, was
        // renamed to .1, and a new live file started.
        let cursor = [state("app.jsonl", A, A.len() as u64, 2, false)];
        let files = [
            file("app.jsonl.1", "2026-11-29T10:00:00Z", A_GROWN),
            file("app.jsonl", "2026-11-30T10:00:00Z", B),
        ];
        let p = plan(&cursor, &files);
        assert_eq!(
            p.reads[0],
            Read {
                file: 0,
                from_offset: 16,
                from_line: 2,
                closed: true
            }
        );
        assert_eq!(
            p.reads[1],
            Read {
                file: 1,
                from_offset: 0,
                from_line: 0,
                closed: false
            }
        );
        assert!(p.breaks.is_empty());
    }

    #[test]
    fn equal_times_are_ordered_by_rotation_number_oldest_first() {
        let same = "2026-11-30T10:00:00Z";
        let files = [
            file("app.jsonl", same, B),
            file("app.jsonl.1", same, A_GROWN),
            file("app.jsonl.2.gz", same, A),
            file("app.jsonl.10.gz", same, b"{\"t\":0}\n"),
        ];
        let p = plan(&[], &files);
        let order: Vec<&str> = p
            .reads
            .iter()
            .map(|r| files[r.file].name.as_str())
            .collect();
        assert_eq!(
            order,
            [
                "app.jsonl.10.gz",
                "app.jsonl.2.gz",
                "app.jsonl.1",
                "app.jsonl"
            ]
        );
        assert!(!p.reads[3].closed, "the live file is the newest");
    }

    #[test]
    fn a_compressed_segment_is_known_by_its_decompressed_prefix() {
        let cursor = [state("app.jsonl.1", A, A.len() as u64, 2, true)];
        let mut gz = file("app.jsonl.2.gz", "2026-11-29T10:00:00Z", A);
        gz.len = None;
        let p = plan(&cursor, &[gz]);
        assert_eq!(p.reads[0].from_offset, 16);
    }

    #[test]
    fn a_truncated_segment_is_a_break_and_reading_resumes_at_its_new_end() {
        let cursor = [state("app.jsonl", A_GROWN, A_GROWN.len() as u64, 3, false)];
        let p = plan(&cursor, &[file("app.jsonl", "2026-11-30T10:00:00Z", A)]);
        assert_eq!(
            p.breaks,
            vec![Break::Truncated {
                name: "app.jsonl".into(),
                read: 24,
                now: 16
            }]
        );
        assert_eq!(p.reads[0].from_offset, 16);
    }

    #[test]
    fn a_segment_without_a_complete_first_line_has_no_identity_yet() {
        assert_eq!(identity(b"{\"t\":1"), None);
        assert_eq!(identity(b"{\"t\":1}\n{").map(|(n, _)| n), Some(8));
        assert_eq!(
            identity(&[b'x'; 2000]).map(|(n, _)| n),
            Some(FINGERPRINT_LEN)
        );
    }

    #[test]
    fn a_live_segment_that_vanished_is_a_break_and_a_closed_one_is_retention() {
        let cursor = [
            state("app.jsonl.3", B, 8, 1, true),
            state("app.jsonl", A, 16, 2, false),
        ];
        let p = plan(
            &cursor,
            &[file("app.jsonl", "2026-11-30T10:00:00Z", b"{\"t\":9}\n")],
        );
        assert_eq!(
            p.breaks,
            vec![Break::Vanished {
                name: "app.jsonl".into(),
                read: 16
            }]
        );
        assert!(
            p.breaks[0]
                .to_string()
                .contains("app.jsonl was rotated away")
        );
    }
}
