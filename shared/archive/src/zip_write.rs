//! Deterministic ZIP writing: entries in the order given (callers sort them), one fixed
//! modification time, mode 0644, ZIP64 only for entries that need it. An entry whose content
//! compresses (logs, JSON, CSV, text; decided from a sample, then measured) is deflated at one
//! fixed level, the rest stored; a deflated entry is kept only if it saves at least a tenth and
//! its ratio stays far below the strict reader's inflation bound, so every bundle this writes
//! is one the reader accepts. The strict reader accepts exactly this layout and nothing looser.

use std::cell::Cell;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::rc::Rc;
use std::sync::Arc;

use evidence_model::Sha256Digest;

use crate::hash_pipe::HashPipe;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// Entries at or above this size are written with ZIP64 fields.
pub const ZIP64_THRESHOLD: u64 = 0xFFFF_FFFF;
/// Entries up to this size are considered for compression (read into memory once, so memory
/// stays bounded by it); larger ones are streamed stored.
pub const MAX_DEFLATE_ENTRY: u64 = 16 * 1024 * 1024;
/// Entries smaller than this are stored: deflate would not pay for its own framing.
const MIN_DEFLATE_ENTRY: usize = 256;
/// The first bytes tried at the fastest level to decide whether an entry is worth deflating.
const SAMPLE: usize = 64 * 1024;
/// A deflated entry is kept only if its content is at most this many times its compressed
/// size: half the strict reader's bound (1000), so no bundle of ours is ever taken for a bomb.
const MAX_WRITE_RATIO: u64 = 500;
/// The deflate level: zlib's default, fixed so that the same content gives the same bytes.
const LEVEL: i64 = 6;
/// Streamed content is read, written and hashed in chunks of this size.
const CHUNK: usize = 1024 * 1024;
/// Entries from this size on are hashed on another core while they are written.
const PARALLEL_HASH: u64 = 256 * 1024;

/// Counts the bytes written through it, so the writer can measure a deflated entry.
struct Counting<W> {
    inner: W,
    written: Rc<Cell<u64>>,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written.set(self.written.get() + n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Seek> Seek for Counting<W> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Decides from a sample whether an entry is worth deflating, with one compressor and one
/// output buffer for the whole bundle: a compressor's state is a third of a megabyte, and one
/// allocated per entry fragments the heap until memory grows with the number of entries.
struct Sampler {
    compress: flate2::Compress,
    out: Vec<u8>,
}

impl Sampler {
    fn new() -> Self {
        Self {
            compress: flate2::Compress::new(flate2::Compression::fast(), false),
            out: Vec::with_capacity(SAMPLE),
        }
    }

    /// Whether `sample` compresses by at least a tenth at the fastest level.
    fn worth_deflating(&mut self, sample: &[u8]) -> bool {
        self.compress.reset();
        self.out.clear();
        // Room for the worst case (deflate's bound: stored blocks of 64 KiB with five bytes of
        // framing each), so the sample always compresses in one call.
        self.out.reserve(sample.len() + sample.len() / 64 + 64);
        let done = self
            .compress
            .compress_vec(sample, &mut self.out, flate2::FlushCompress::Finish);
        matches!(done, Ok(flate2::Status::StreamEnd)) && self.out.len() * 10 <= sample.len() * 9
    }
}

/// Whether a deflated entry of `size` bytes that took `compressed` bytes is kept.
fn keep_deflated(size: u64, compressed: u64) -> bool {
    compressed * 10 <= size * 9 && size <= compressed.saturating_mul(MAX_WRITE_RATIO)
}

/// One entry to write: its full name inside the ZIP, its size and digest as staged, and a reader.
pub struct EntryToWrite<'a> {
    pub name: String,
    pub size: u64,
    pub sha256: Sha256Digest,
    pub content: Box<dyn Read + 'a>,
}

/// Writing failed; nothing written should be kept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZipWriteError {
    #[error("entry {0:?} is out of order or repeated; entries must be sorted and unique")]
    Unsorted(String),
    #[error("entry {name:?} changed while sealing: staged {expected}, read {actual}")]
    ContentChanged {
        name: String,
        expected: String,
        actual: String,
    },
    #[error("zip: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("io: {0}")]
    Io(#[from] io::Error),
}

/// The DOS date-time every entry carries: `at`, clamped to the ZIP range (1980–2107).
pub fn zip_time(at: jiff::Timestamp) -> DateTime {
    let utc = at.to_zoned(jiff::tz::TimeZone::UTC);
    let year = utc.year().clamp(1980, 2107);
    let (month, day, hour, minute, second) = if utc.year() < 1980 {
        (1, 1, 0, 0, 0)
    } else {
        (
            utc.month(),
            utc.day(),
            utc.hour(),
            utc.minute(),
            utc.second(),
        )
    };
    DateTime::from_date_and_time(
        year as u16,
        month as u8,
        day as u8,
        hour as u8,
        minute as u8,
        second as u8,
    )
    .unwrap_or_default()
}

/// Write `entries` in order into `out`, re-hashing each entry's content and refusing any that no
/// longer matches its staged digest or size.
pub fn write_zip<W: Write + Seek>(
    out: W,
    entries: Vec<EntryToWrite<'_>>,
    mtime: DateTime,
) -> Result<W, ZipWriteError> {
    let written = Rc::new(Cell::new(0u64));
    let mut zip = ZipWriter::new(Counting {
        inner: out,
        written: written.clone(),
    });
    let mut previous: Option<String> = None;
    let mut pipe: Option<HashPipe> = None;
    // Two buffers for every entry, one being written while the other is hashed: nothing is
    // allocated per entry.
    let mut buffers = [Arc::new(Vec::new()), Arc::new(Vec::new())];
    let mut sampler = Sampler::new();
    for mut entry in entries {
        if previous
            .as_deref()
            .is_some_and(|p| p >= entry.name.as_str())
        {
            return Err(ZipWriteError::Unsorted(entry.name));
        }
        let stored = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .last_modified_time(mtime)
            .unix_permissions(0o644)
            .large_file(entry.size >= ZIP64_THRESHOLD);
        let parallel = entry.size >= PARALLEL_HASH;
        let mut pipe = match &mut pipe {
            Some(p) => Some(p),
            None if parallel => Some(pipe.insert(HashPipe::new()?)),
            None => None,
        };
        if entry.size <= MAX_DEFLATE_ENTRY {
            if let Some(p) = pipe.as_deref_mut() {
                p.settle(0);
            }
            let content = Arc::get_mut(&mut buffers[0]).expect("the hasher let go of it");
            content.clear();
            content.reserve(entry.size as usize);
            // One byte more than staged is enough to see that the content changed.
            (&mut entry.content)
                .take(entry.size + 1)
                .read_to_end(content)?;
            // Hashed on the other core while it is compressed and written; a mismatch fails
            // the whole bundle, so checking after writing is as safe.
            let mut pipe = pipe.filter(|_| parallel);
            if let Some(p) = pipe.as_deref_mut() {
                p.hash(Arc::clone(&buffers[0]));
            }
            let content = buffers[0].as_slice();
            let sample = &content[..content.len().min(SAMPLE)];
            // Content no longer than the sample is deflated and measured directly.
            let deflated = content.len() >= MIN_DEFLATE_ENTRY
                && (content.len() <= SAMPLE || sampler.worth_deflating(sample))
                && try_deflated(&mut zip, &entry.name, stored, content, &written)?;
            if !deflated {
                zip.start_file(entry.name.as_str(), stored)?;
                zip.write_all(content)?;
            }
            let digest = match pipe {
                Some(p) => p.finish(),
                None => Sha256Digest::of(content),
            };
            check(&entry, digest, content.len() as u64)?;
        } else {
            zip.start_file(entry.name.as_str(), stored)?;
            let pipe = pipe.expect("large entries are hashed in parallel");
            stream_checked(&mut zip, &mut entry, pipe, &mut buffers)?;
        }
        previous = Some(entry.name);
    }
    Ok(zip.finish()?.inner)
}

/// Write `content` deflated; measure it; keep it if it pays and stays far from the reader's
/// inflation bound, else take it back out (the caller then stores it). True when kept.
fn try_deflated<W: Write + Seek>(
    zip: &mut ZipWriter<W>,
    name: &str,
    stored: SimpleFileOptions,
    content: &[u8],
    written: &Rc<Cell<u64>>,
) -> Result<bool, ZipWriteError> {
    let options = stored
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(LEVEL));
    zip.start_file(name, options)?;
    let start = written.get();
    zip.write_all(content)?;
    // A sync flush pushes every compressed byte out (deterministically) so it can be counted.
    zip.flush()?;
    let compressed = written.get() - start;
    if keep_deflated(content.len() as u64, compressed) {
        return Ok(true);
    }
    zip.abort_file()?;
    Ok(false)
}

/// Copy an entry's content into the open (stored) file, hashing it on the other core as it
/// goes (each chunk written while the one before is hashed), then check it.
fn stream_checked<W: Write + Seek>(
    zip: &mut ZipWriter<W>,
    entry: &mut EntryToWrite<'_>,
    pipe: &mut HashPipe,
    buffers: &mut [Arc<Vec<u8>>; 2],
) -> Result<(), ZipWriteError> {
    let mut written = 0u64;
    for turn in 0.. {
        let slot = &mut buffers[turn % 2];
        pipe.settle(1);
        let buf = Arc::get_mut(slot).expect("the hasher let go of it");
        buf.clear();
        (&mut entry.content).take(CHUNK as u64).read_to_end(buf)?;
        if buf.is_empty() {
            break;
        }
        zip.write_all(buf)?;
        written += buf.len() as u64;
        pipe.hash(Arc::clone(slot));
    }
    check(entry, pipe.finish(), written)
}

fn check(entry: &EntryToWrite<'_>, actual: Sha256Digest, size: u64) -> Result<(), ZipWriteError> {
    if actual != entry.sha256 || size != entry.size {
        return Err(ZipWriteError::ContentChanged {
            name: entry.name.clone(),
            expected: format!("{} ({} bytes)", entry.sha256, entry.size),
            actual: format!("{actual} ({size} bytes)"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, bytes: &'static [u8]) -> EntryToWrite<'static> {
        EntryToWrite {
            name: name.to_owned(),
            size: bytes.len() as u64,
            sha256: Sha256Digest::of(bytes),
            content: Box::new(bytes),
        }
    }

    fn write(entries: Vec<EntryToWrite<'static>>) -> Result<Vec<u8>, ZipWriteError> {
        let t = zip_time(jiff::Timestamp::from_second(1_700_000_000).unwrap());
        write_zip(io::Cursor::new(Vec::new()), entries, t).map(|c| c.into_inner())
    }

    #[test]
    fn the_same_entries_give_the_same_bytes() {
        let a = write(vec![entry("r/a", b"one"), entry("r/b", b"two")]).unwrap();
        let b = write(vec![entry("r/a", b"one"), entry("r/b", b"two")]).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn unsorted_entries_are_refused() {
        let err = write(vec![entry("r/b", b"x"), entry("r/a", b"y")]).unwrap_err();
        assert!(matches!(err, ZipWriteError::Unsorted(n) if n == "r/a"));
    }

    #[test]
    fn content_that_differs_from_its_staged_digest_is_refused() {
        let mut e = entry("r/a", b"one");
        e.sha256 = Sha256Digest::of(b"other");
        assert!(matches!(
            write(vec![e]).unwrap_err(),
            ZipWriteError::ContentChanged { .. }
        ));
    }

    fn read_back(bytes: &[u8]) -> Vec<(String, crate::strict_zip::Method, Vec<u8>)> {
        use crate::strict_zip::{Limits, StrictZip};
        let mut z = StrictZip::open(io::Cursor::new(bytes.to_vec()), Limits::default()).unwrap();
        let entries = z.entries().to_vec();
        entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.clone(), e.method, z.read_small(i, 1 << 26).unwrap()))
            .collect()
    }

    fn owned(name: &str, bytes: Vec<u8>) -> EntryToWrite<'static> {
        EntryToWrite {
            name: name.to_owned(),
            size: bytes.len() as u64,
            sha256: Sha256Digest::of(&bytes),
            content: Box::new(io::Cursor::new(bytes)),
        }
    }

    /// `len` bytes that do not compress (xorshift from `seed`).
    fn noise(len: usize, mut state: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    #[test]
    fn text_is_deflated_noise_and_zeros_are_stored_and_the_strict_reader_reads_all_back() {
        use crate::strict_zip::Method;
        let log: Vec<u8> = (0..20_000)
            .flat_map(|i| {
                format!(
                    "epoch {i} loss={:.4} val_auc={:.4}\n",
                    1.0 / (i as f64 + 1.0),
                    0.5 + i as f64 / 50_000.0
                )
                .into_bytes()
            })
            .collect();
        let noise = noise(300_000, 0x2545_f491_4f6c_dd1d);
        let zeros = vec![0u8; 8 * 1024 * 1024];
        let bytes = write(vec![
            owned("r/a.log", log.clone()),
            owned("r/b.bin", noise.clone()),
            owned("r/c.zero", zeros.clone()),
            entry("r/d.txt", b"tiny"),
        ])
        .unwrap();
        let back = read_back(&bytes);
        assert_eq!(back[0], ("r/a.log".into(), Method::Deflate, log.clone()));
        assert_eq!(back[1], ("r/b.bin".into(), Method::Stored, noise.clone()));
        assert_eq!(
            back[2].1,
            Method::Stored,
            "a ratio near the reader's bound is stored"
        );
        assert_eq!(back[2].2, zeros);
        assert_eq!(back[3].1, Method::Stored);
        assert!(
            bytes.len() < log.len() / 4 + noise.len() + zeros.len() + 4096,
            "{}",
            bytes.len()
        );
        let again = write(vec![
            owned("r/a.log", log),
            owned("r/b.bin", noise),
            owned("r/c.zero", zeros),
            entry("r/d.txt", b"tiny"),
        ])
        .unwrap();
        assert_eq!(bytes, again, "deflated bundles stay byte-identical");
    }

    #[test]
    fn a_deflated_entry_that_changed_since_staging_is_refused() {
        let mut e = owned("r/a.log", b"line of a log\n".repeat(100));
        e.sha256 = Sha256Digest::of(b"other");
        assert!(matches!(
            write(vec![e]).unwrap_err(),
            ZipWriteError::ContentChanged { .. }
        ));
    }

    #[test]
    fn times_before_1980_are_clamped() {
        let t = zip_time(jiff::Timestamp::from_second(0).unwrap());
        assert_eq!(t.year(), 1980);
    }

    #[test]
    fn entries_hashed_on_the_other_core_are_checked_too_in_memory_and_streamed() {
        let in_memory: Vec<u8> = (0..(PARALLEL_HASH as u32)).map(|i| (i * 7) as u8).collect();
        let streamed: Vec<u8> = (0..MAX_DEFLATE_ENTRY as u32 + 3)
            .map(|i| (i % 251) as u8)
            .collect();
        let written = write(vec![
            owned("r/a", in_memory.clone()),
            owned("r/b", streamed.clone()),
            owned("r/c", b"small".to_vec()),
        ])
        .unwrap();
        let back = read_back(&written);
        assert_eq!(back[0].2, in_memory);
        assert_eq!(back[1].2, streamed);
        assert_eq!(back[2].2, b"small");
        for (name, bytes) in [("r/a", in_memory), ("r/b", streamed)] {
            let mut changed = owned(name, bytes);
            changed.sha256 = Sha256Digest::of(b"what was staged");
            let err = write(vec![changed]).unwrap_err();
            assert!(
                matches!(&err, ZipWriteError::ContentChanged { name: n, .. } if n == name),
                "{err}"
            );
        }
    }

    #[test]
    fn a_sample_of_noise_is_judged_not_worth_deflating_and_text_is() {
        let mut sampler = Sampler::new();
        let noise = noise(SAMPLE, 0x9e37_79b9_7f4a_7c15);
        let text = "loss=0.1234 step=42\n".repeat(SAMPLE / 20);
        for _ in 0..3 {
            assert!(!sampler.worth_deflating(&noise));
            assert!(sampler.worth_deflating(text.as_bytes()));
        }
    }
}
