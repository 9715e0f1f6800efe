//! Deterministic ZIP writing: entries in the order given (callers sort them), one fixed
//! modification time, mode 0644, stored (no compression), ZIP64 only for entries that need it.
//! The strict reader accepts exactly this layout and nothing looser.

use std::io::{self, Read, Seek, Write};

use evidence_model::Sha256Digest;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// Entries at or above this size are written with ZIP64 fields.
pub const ZIP64_THRESHOLD: u64 = 0xFFFF_FFFF;

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
    let mut zip = ZipWriter::new(out);
    let mut previous: Option<String> = None;
    let mut buf = vec![0u8; 1024 * 1024];
    for mut entry in entries {
        if previous
            .as_deref()
            .is_some_and(|p| p >= entry.name.as_str())
        {
            return Err(ZipWriteError::Unsorted(entry.name));
        }
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .last_modified_time(mtime)
            .unix_permissions(0o644)
            .large_file(entry.size >= ZIP64_THRESHOLD);
        zip.start_file(entry.name.as_str(), options)?;
        let mut hasher = Sha256::new();
        let mut written = 0u64;
        loop {
            let n = match entry.content.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            hasher.update(&buf[..n]);
            zip.write_all(&buf[..n])?;
            written += n as u64;
        }
        let actual = Sha256Digest(hasher.finalize().into());
        if actual != entry.sha256 || written != entry.size {
            return Err(ZipWriteError::ContentChanged {
                name: entry.name,
                expected: format!("{} ({} bytes)", entry.sha256, entry.size),
                actual: format!("{actual} ({written} bytes)"),
            });
        }
        previous = Some(entry.name);
    }
    Ok(zip.finish()?)
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

    #[test]
    fn times_before_1980_are_clamped() {
        let t = zip_time(jiff::Timestamp::from_second(0).unwrap());
        assert_eq!(t.year(), 1980);
    }
}
