//! Strict reading of untrusted evidence ZIPs: accepts exactly the layout `zip_write` produces
//! (plus deflate entries) and names every way a file departs from it, in bounded memory.
//!
//! The accepted layout, from offset 0 to the end of the file:
//! local records (header, name, ZIP64 extra field if needed, data) back to back, in central
//! directory order; the central directory; a ZIP64 end record and locator when the archive needs
//! them; and a 22-byte end-of-central-directory record without a comment as the last bytes.
//! Entries are stored or deflated, unencrypted, without data descriptors, regular files with safe,
//! unique (also after ASCII case folding) names whose local header repeats the central entry.
//!
//! [`StrictZip::open`] checks the structure without reading any content and reports every problem
//! it finds. [`StrictZip::read_entry`] streams one entry's content, enforcing its declared size
//! while inflating and checking its CRC-32 at the end.

use std::fmt;
use std::io::{self, BufReader, Read, Seek, SeekFrom};

use flate2::{Decompress, FlushDecompress, Status};

const LOCAL_SIGNATURE: u32 = 0x0403_4b50;
const CENTRAL_SIGNATURE: u32 = 0x0201_4b50;
const END_SIGNATURE: u32 = 0x0605_4b50;
const ZIP64_END_SIGNATURE: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIGNATURE: u32 = 0x0706_4b50;

const LOCAL_LEN: u64 = 30;
const CENTRAL_LEN: u64 = 46;
const END_LEN: u64 = 22;
const ZIP64_END_LEN: u64 = 56;
const ZIP64_LOCATOR_LEN: u64 = 20;
/// The ZIP64 end record's own size field: the record after its first 12 bytes, no extensible data.
const ZIP64_END_RECORD_SIZE: u64 = ZIP64_END_LEN - 12;
const MAX_COMMENT_LEN: u64 = 0xFFFF;

const ZIP64_EXTRA_ID: u16 = 0x0001;
const SENTINEL_32: u32 = 0xFFFF_FFFF;
const SENTINEL_16: u16 = 0xFFFF;
/// ZIP 4.5 (ZIP64) is the newest feature level this reader needs.
const MAX_VERSION_NEEDED: u16 = 45;

const FLAG_ENCRYPTED: u16 = 1 << 0;
const FLAG_DEFLATE_OPTION_1: u16 = 1 << 1;
const FLAG_DEFLATE_OPTION_2: u16 = 1 << 2;
const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;
const FLAG_STRONG_ENCRYPTION: u16 = 1 << 6;
const FLAG_UTF8: u16 = 1 << 11;
/// Flags that change nothing about how the bytes are read: deflate speed hints and "names are UTF-8".
const HARMLESS_FLAGS: u16 = FLAG_DEFLATE_OPTION_1 | FLAG_DEFLATE_OPTION_2 | FLAG_UTF8;
/// Flags that get a problem of their own rather than "unsupported flags".
const NAMED_FLAGS: u16 = FLAG_ENCRYPTED | FLAG_DATA_DESCRIPTOR | FLAG_STRONG_ENCRYPTION;

const METHOD_STORED: u16 = 0;
const METHOD_DEFLATE: u16 = 8;
const METHOD_AES: u16 = 99;

const HOST_DOS: u8 = 0;
const HOST_UNIX: u8 = 3;
const HOST_NTFS: u8 = 10;
const HOST_VFAT: u8 = 14;
const HOST_DARWIN: u8 = 19;

const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const DOS_VOLUME_LABEL: u32 = 0x08;
const DOS_DIRECTORY: u32 = 0x10;

/// Content is streamed in chunks of this size: large enough that a stored entry goes straight from
/// the reader through CRC-32 to the sink at disk speed.
const CHUNK: usize = 1024 * 1024;
/// Compressed input is fed to the inflater in chunks of this size.
const INFLATE_INPUT_CHUNK: usize = 256 * 1024;
/// Longest entry name shown in a problem; longer (hostile) names are cut.
const SHOWN_NAME_LEN: usize = 200;

/// Caps that keep a hostile archive from exhausting memory, time or the caller's disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most entries an archive may hold; bounds the memory the central directory takes.
    pub max_entries: usize,
    /// Longest entry name, in bytes.
    pub max_name_len: usize,
    /// Largest content of one entry, in bytes.
    pub max_entry_size: u64,
    /// Largest content of all entries together, in bytes.
    pub max_total_uncompressed: u64,
    /// Largest ratio of content size to compressed size for a deflated entry.
    pub max_deflate_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 1_000_000,
            max_name_len: 4096,
            max_entry_size: 1 << 40,
            max_total_uncompressed: 4 << 40,
            max_deflate_ratio: 1000,
        }
    }
}

/// How an entry's content is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Method 0: the content as is.
    Stored,
    /// Method 8: raw DEFLATE (RFC 1951).
    Deflate,
}

/// One entry of an archive that passed every structural check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    /// The full name, e.g. `run-000001/bagit.txt`; only `[A-Za-z0-9._-]` components.
    pub name: String,
    pub method: Method,
    /// The CRC-32 the archive declares; checked by [`StrictZip::read_entry`].
    pub crc32: u32,
    /// Bytes of (possibly compressed) data in the archive.
    pub compressed_size: u64,
    /// Bytes of content.
    pub size: u64,
    /// Where the entry's local header starts in the file.
    pub local_header_offset: u64,
    /// Where the entry's data starts in the file.
    pub data_offset: u64,
}

/// An entry named in a problem: its position in the central directory (0-based) and its name
/// (lossily decoded, cut when very long). `Display` escapes control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRef {
    pub index: usize,
    pub name: String,
}

impl EntryRef {
    fn new(index: usize, raw_name: &[u8]) -> Self {
        let mut name = String::from_utf8_lossy(raw_name).into_owned();
        if let Some((cut, _)) = name.char_indices().nth(SHOWN_NAME_LEN) {
            name.truncate(cut);
            name.push('…');
        }
        EntryRef { index, name }
    }
}

impl fmt::Display for EntryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "entry #{} {:?}", self.index + 1, self.name)
    }
}

/// A record of the archive's layout: an entry's local record or the central directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Entry(EntryRef),
    CentralDirectory,
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Record::Entry(entry) => write!(f, "the local record of {entry}"),
            Record::CentralDirectory => f.write_str("the central directory"),
        }
    }
}

/// Which copy of an entry's header a problem was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    Local,
    Central,
}

impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Header::Local => "local",
            Header::Central => "central directory",
        })
    }
}

/// Which end record a problem was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndRecord {
    End,
    Zip64End,
    Zip64Locator,
}

impl fmt::Display for EndRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EndRecord::End => "end-of-central-directory record",
            EndRecord::Zip64End => "ZIP64 end-of-central-directory record",
            EndRecord::Zip64Locator => "ZIP64 end-of-central-directory locator",
        })
    }
}

/// How an entry is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    /// Flag bit 0 alone: PKWARE traditional encryption.
    Traditional,
    /// Flag bit 6: PKWARE strong encryption.
    Strong,
    /// Compression method 99: WinZip AES.
    Aes,
}

impl fmt::Display for Encryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encryption::Traditional => "traditional PKWARE encryption, flag bit 0",
            Encryption::Strong => "strong encryption, flag bit 6",
            Encryption::Aes => "AES, method 99",
        })
    }
}

/// What an entry that is not a regular file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Directory,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
    VolumeLabel,
    /// A Unix file type this reader does not know, with the entry's full mode.
    Unknown {
        mode: u32,
    },
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileKind::Directory => f.write_str("directory"),
            FileKind::Symlink => f.write_str("symbolic link"),
            FileKind::CharDevice => f.write_str("character device"),
            FileKind::BlockDevice => f.write_str("block device"),
            FileKind::Fifo => f.write_str("named pipe"),
            FileKind::Socket => f.write_str("socket"),
            FileKind::VolumeLabel => f.write_str("volume label"),
            FileKind::Unknown { mode } => write!(f, "file of unknown type (mode {mode:o})"),
        }
    }
}

/// Why an entry name is unsafe. Names are checked in this order and the first fault is reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameFault {
    NotUtf8,
    TooLong { len: usize, limit: usize },
    Empty,
    ControlCharacter,
    Absolute,
    DriveLetter,
    Backslash,
    DirectoryEntry,
    ParentComponent,
    CurrentComponent,
    EmptyComponent,
    ForbiddenCharacter(char),
}

impl fmt::Display for NameFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameFault::NotUtf8 => f.write_str("it is not valid UTF-8"),
            NameFault::TooLong { len, limit } => {
                write!(f, "it is {len} bytes long, above the limit of {limit}")
            }
            NameFault::Empty => f.write_str("it is empty"),
            NameFault::ControlCharacter => f.write_str("it contains a NUL or control character"),
            NameFault::Absolute => f.write_str("it is an absolute path"),
            NameFault::DriveLetter => f.write_str("it starts with a drive letter"),
            NameFault::Backslash => f.write_str("it contains a backslash"),
            NameFault::DirectoryEntry => f.write_str("it ends with '/' (a directory entry)"),
            NameFault::ParentComponent => f.write_str("it has a '..' component (path traversal)"),
            NameFault::CurrentComponent => f.write_str("it has a '.' component"),
            NameFault::EmptyComponent => f.write_str("it has an empty component ('//')"),
            NameFault::ForbiddenCharacter(c) => {
                write!(f, "it contains {c:?}, outside [A-Za-z0-9._-]")
            }
        }
    }
}

/// One way an archive departs from the strict layout, or one way reading an entry failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZipProblem {
    // The file as a whole.
    #[error(
        "not a ZIP archive: no end-of-central-directory record at the end of the file ({len} bytes)"
    )]
    NotAZip { len: u64 },
    #[error(
        "truncated ZIP archive: the file ({len} bytes) starts like a ZIP archive but does not end with an end-of-central-directory record"
    )]
    Truncated { len: u64 },
    #[error(
        "{len} bytes of unexpected data after the end-of-central-directory record, from offset {offset}"
    )]
    AppendedData { offset: u64, len: u64 },
    #[error(
        "the end-of-central-directory record at offset {offset} carries a {len}-byte archive comment; none is allowed"
    )]
    ArchiveComment { offset: u64, len: u64 },
    #[error(
        "{len} bytes of unexpected data before the first local header; the archive must start at offset 0"
    )]
    PrependedData { len: u64 },
    #[error(
        "the {record} at offset {offset} describes an archive split over several disks, which is not supported"
    )]
    MultiDisk { record: EndRecord, offset: u64 },
    #[error("inconsistent ZIP64 end records at offset {offset}: {detail}")]
    Zip64Inconsistent { offset: u64, detail: String },
    #[error("the {record} declares {declared} entries but the central directory holds {actual}")]
    EntryCountMismatch {
        record: EndRecord,
        declared: u64,
        actual: u64,
    },
    #[error(
        "the central directory declared at offset {offset} with {size} bytes does not end where the end records begin, at offset {end}"
    )]
    CentralDirectoryMisplaced { offset: u64, size: u64, end: u64 },
    #[error("malformed central directory at offset {offset}: {detail}")]
    CentralDirectoryMalformed { offset: u64, detail: &'static str },
    #[error("the archive has {count} or more entries, above the limit of {limit}")]
    TooManyEntries { count: u64, limit: usize },
    #[error("the entries hold {total} bytes of content together, above the limit of {limit}")]
    TotalTooLarge { total: u64, limit: u64 },
    #[error("cannot read the archive at offset {offset}: {source}")]
    Io { offset: u64, source: io::Error },

    // One entry's headers.
    #[error("{entry} has an unsafe name: {fault}")]
    UnsafeName { entry: EntryRef, fault: NameFault },
    #[error("{entry} repeats the name of {first}")]
    DuplicateName { entry: EntryRef, first: EntryRef },
    #[error("{entry} and {other} have names that differ only in letter case")]
    CaseCollision { entry: EntryRef, other: EntryRef },
    #[error("{entry} is encrypted ({scheme}); encrypted entries are not supported")]
    Encrypted { entry: EntryRef, scheme: Encryption },
    #[error("{entry} uses a data descriptor (flag bit 3), which this format never does")]
    DataDescriptor { entry: EntryRef },
    #[error("{entry} sets unsupported general-purpose flags {flags:#06x}")]
    UnsupportedFlags { entry: EntryRef, flags: u16 },
    #[error("{entry} uses compression method {method} ({}); only stored (0) and deflate (8) are allowed", method_name(.method))]
    UnsupportedMethod { entry: EntryRef, method: u16 },
    #[error("{entry} needs ZIP version {}.{} to extract; at most 4.5 is supported", .version / 10, .version % 10)]
    UnsupportedVersion { entry: EntryRef, version: u16 },
    #[error(
        "{entry} is stored uncompressed but declares {compressed} bytes of data for {size} bytes of content"
    )]
    StoredSizeMismatch {
        entry: EntryRef,
        compressed: u64,
        size: u64,
    },
    #[error("{entry} is a {kind}, not a regular file")]
    NotRegularFile { entry: EntryRef, kind: FileKind },
    #[error("{entry} was made on host system {system}, whose file attributes cannot be checked")]
    UnsupportedHostSystem { entry: EntryRef, system: u8 },
    #[error("{entry} has an unexpected extra field {id:#06x} in its {header} header")]
    UnexpectedExtraField {
        entry: EntryRef,
        header: Header,
        id: u16,
    },
    #[error("{entry} has a malformed extra field in its {header} header: {detail}")]
    MalformedExtraField {
        entry: EntryRef,
        header: Header,
        detail: &'static str,
    },
    #[error("{entry} has a {len}-byte file comment; none is allowed")]
    EntryComment { entry: EntryRef, len: u64 },
    #[error("{entry} starts on disk {disk}; archives split over several disks are not supported")]
    EntryOnOtherDisk { entry: EntryRef, disk: u16 },
    #[error("{entry} has no local header at offset {offset}")]
    LocalHeaderMissing { entry: EntryRef, offset: u64 },
    #[error("{entry} has a local header that disagrees with the central directory on the {field}")]
    LocalHeaderMismatch {
        entry: EntryRef,
        field: &'static str,
    },
    #[error("{entry} declares {size} bytes of content, above the limit of {limit}")]
    EntryTooLarge {
        entry: EntryRef,
        size: u64,
        limit: u64,
    },
    #[error(
        "{entry} would inflate {compressed} bytes to {size}, a ratio above the limit of {limit}"
    )]
    RatioTooHigh {
        entry: EntryRef,
        compressed: u64,
        size: u64,
        limit: u64,
    },

    // The layout of the records.
    #[error("{len} unaccounted bytes at offset {offset}, before {next}")]
    Gap { next: Record, offset: u64, len: u64 },
    #[error(
        "{next} starts at offset {offset}, inside the record before it, which ends at offset {previous_end}"
    )]
    Overlap {
        next: Record,
        offset: u64,
        previous_end: u64,
    },

    // Reading content.
    #[error("there is no entry #{} (the archive has {count})", .index + 1)]
    NoSuchEntry { index: usize, count: usize },
    #[error("{entry} holds {size} bytes, more than the {limit} this caller reads")]
    TooLargeToRead {
        entry: EntryRef,
        size: u64,
        limit: usize,
    },
    #[error("{entry} inflates to more than its declared {declared} bytes")]
    ContentTooLong { entry: EntryRef, declared: u64 },
    #[error("{entry} inflates to {actual} bytes, fewer than its declared {declared}")]
    ContentTooShort {
        entry: EntryRef,
        declared: u64,
        actual: u64,
    },
    #[error(
        "{entry} has CRC-32 {actual:08x}, not the declared {declared:08x}: its content is corrupt"
    )]
    CrcMismatch {
        entry: EntryRef,
        declared: u32,
        actual: u32,
    },
    #[error("{entry}: the file ends after {actual} of its {expected} bytes of data")]
    TruncatedData {
        entry: EntryRef,
        expected: u64,
        actual: u64,
    },
    #[error("{entry} has a corrupt deflate stream: {detail}")]
    DeflateCorrupt { entry: EntryRef, detail: String },
    #[error("{entry}: its compressed data ends before the final block of its deflate stream")]
    DeflateIncomplete { entry: EntryRef },
    #[error(
        "{entry} has {len} bytes after the end of its deflate stream, inside its compressed data"
    )]
    DeflateTrailingBytes { entry: EntryRef, len: u64 },
    #[error("cannot read the data of {entry}: {source}")]
    ReadFailed { entry: EntryRef, source: io::Error },
    #[error("the consumer of {entry} failed: {source}")]
    SinkFailed { entry: EntryRef, source: io::Error },
}

fn method_name(method: &u16) -> &'static str {
    match method {
        1 => "shrink",
        2..=5 => "reduce",
        6 => "implode",
        9 => "deflate64",
        10 => "PKWARE imploding",
        12 => "bzip2",
        14 => "LZMA",
        18 => "IBM TERSE",
        19 => "IBM LZ77",
        93 => "Zstandard",
        94 => "MP3",
        95 => "XZ",
        96 => "JPEG",
        97 => "WavPack",
        98 => "PPMd",
        _ => "unknown",
    }
}

/// A ZIP archive that passed every structural check, ready to stream its entries.
pub struct StrictZip<R> {
    content: EntryReader<R>,
    entries: Vec<ZipEntry>,
}

/// Streams checked entries' content out of a reader: what [`StrictZip`] reads with, and what a
/// second thread owns, over its own handle on the same file (see [`PositionedFile`](crate::positioned::PositionedFile)), to read
/// other entries of an archive [`StrictZip::open`] checked at the same time.
pub struct EntryReader<R> {
    reader: R,
    /// Content chunks on their way to the sink; allocated on the first read.
    chunk: Vec<u8>,
    /// Compressed input on its way to the inflater; allocated on the first deflated read.
    input: Vec<u8>,
    /// One inflater for every deflated entry, reset between them: a new one allocates and
    /// clears its window each time, which dominated reading many small entries.
    inflater: Option<Decompress>,
}

impl<R> fmt::Debug for StrictZip<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StrictZip")
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl<R: Read + Seek> StrictZip<R> {
    /// Check the archive's structure (no content is read) and list its entries, or return every
    /// problem found.
    pub fn open(mut reader: R, limits: Limits) -> Result<Self, Vec<ZipProblem>> {
        let mut problems = Vec::new();
        match scan(&mut reader, &limits, &mut problems) {
            Ok(entries) if problems.is_empty() => Ok(StrictZip {
                content: EntryReader::new(reader),
                entries,
            }),
            // Every `Stop` and every rejected entry recorded its problem first.
            _ => Err(problems),
        }
    }

    /// The entries, in file order (which is also central directory order).
    pub fn entries(&self) -> &[ZipEntry] {
        &self.entries
    }

    /// The one directory every entry is under (`run-000001` for `run-000001/bagit.txt`), if there
    /// is exactly one and the archive is not empty.
    pub fn top_directory(&self) -> Option<&str> {
        let mut top = None;
        for entry in &self.entries {
            let (first, _) = entry.name.split_once('/')?;
            match top {
                None => top = Some(first),
                Some(seen) if seen == first => {}
                Some(_) => return None,
            }
        }
        top
    }

    /// Stream entry `index`'s content to `sink` in chunks, enforcing its declared size (inflating
    /// stops as soon as the output exceeds it) and checking its CRC-32 once all of it has passed.
    /// On any error the caller must discard what the sink received.
    pub fn read_entry(
        &mut self,
        index: usize,
        sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<(), ZipProblem> {
        let Some(entry) = self.entries.get(index) else {
            return Err(ZipProblem::NoSuchEntry {
                index,
                count: self.entries.len(),
            });
        };
        self.content.read(index, entry, sink)
    }

    /// Read a small entry fully, refusing one whose declared size is above `max_bytes`.
    pub fn read_small(&mut self, index: usize, max_bytes: usize) -> Result<Vec<u8>, ZipProblem> {
        let Some(entry) = self.entries.get(index) else {
            return Err(ZipProblem::NoSuchEntry {
                index,
                count: self.entries.len(),
            });
        };
        let size = usize::try_from(entry.size)
            .ok()
            .filter(|size| *size <= max_bytes);
        let Some(size) = size else {
            return Err(ZipProblem::TooLargeToRead {
                entry: EntryRef::new(index, entry.name.as_bytes()),
                size: entry.size,
                limit: max_bytes,
            });
        };
        let mut content = Vec::with_capacity(size);
        self.read_entry(index, &mut |bytes| {
            content.extend_from_slice(bytes);
            Ok(())
        })?;
        Ok(content)
    }

    /// The reader underneath.
    pub fn get_ref(&self) -> &R {
        &self.content.reader
    }

    /// Give the reader back.
    pub fn into_inner(self) -> R {
        self.content.reader
    }
}

impl<R: Read + Seek> EntryReader<R> {
    pub fn new(reader: R) -> Self {
        EntryReader {
            reader,
            chunk: Vec::new(),
            input: Vec::new(),
            inflater: None,
        }
    }

    /// Stream `entry` (number `index` of a checked archive this reader reads) to `sink` in
    /// chunks, as [`StrictZip::read_entry`] does.
    pub fn read(
        &mut self,
        index: usize,
        entry: &ZipEntry,
        sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<(), ZipProblem> {
        let who = EntryRef::new(index, entry.name.as_bytes());
        if self.chunk.is_empty() {
            self.chunk = vec![0; CHUNK];
        }
        if let Err(source) = self.reader.seek(SeekFrom::Start(entry.data_offset)) {
            return Err(ZipProblem::ReadFailed { entry: who, source });
        }
        let mut data = (&mut self.reader).take(entry.compressed_size);
        let mut crc = crc32fast::Hasher::new();
        let mut checked_sink = |bytes: &[u8]| {
            crc.update(bytes);
            sink(bytes)
        };
        let span = Span {
            entry: &who,
            compressed_size: entry.compressed_size,
            size: entry.size,
        };
        match entry.method {
            Method::Stored => copy_stored(&mut data, &span, &mut self.chunk, &mut checked_sink)?,
            Method::Deflate => {
                if self.input.is_empty() {
                    self.input = vec![0; INFLATE_INPUT_CHUNK];
                }
                let inflater = self.inflater.get_or_insert_with(|| Decompress::new(false));
                inflater.reset(false);
                inflate(
                    inflater,
                    &mut data,
                    &span,
                    &mut self.input,
                    &mut self.chunk,
                    &mut checked_sink,
                )?;
            }
        }
        let actual = crc.finalize();
        if actual != entry.crc32 {
            return Err(ZipProblem::CrcMismatch {
                entry: who,
                declared: entry.crc32,
                actual,
            });
        }
        Ok(())
    }
}

/// The extent of one entry's data, for the content readers.
struct Span<'a> {
    entry: &'a EntryRef,
    compressed_size: u64,
    size: u64,
}

fn read_some(data: &mut dyn Read, buf: &mut [u8], entry: &EntryRef) -> Result<usize, ZipProblem> {
    loop {
        match data.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(ZipProblem::ReadFailed {
                    entry: entry.clone(),
                    source,
                });
            }
        }
    }
}

fn give(
    sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    bytes: &[u8],
    entry: &EntryRef,
) -> Result<(), ZipProblem> {
    sink(bytes).map_err(|source| ZipProblem::SinkFailed {
        entry: entry.clone(),
        source,
    })
}

/// Pass a stored entry's bytes from `data` (limited to its span) to `sink`, one chunk at a time.
fn copy_stored(
    data: &mut dyn Read,
    span: &Span<'_>,
    chunk: &mut [u8],
    sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> Result<(), ZipProblem> {
    let mut done = 0u64;
    while done < span.size {
        let want = usize::try_from(span.size - done)
            .unwrap_or(usize::MAX)
            .min(chunk.len());
        let Some(buf) = chunk.get_mut(..want) else {
            break;
        };
        let n = read_some(data, buf, span.entry)?;
        if n == 0 {
            return Err(ZipProblem::TruncatedData {
                entry: span.entry.clone(),
                expected: span.size,
                actual: done,
            });
        }
        give(sink, buf.get(..n).unwrap_or_default(), span.entry)?;
        done += n as u64;
    }
    Ok(())
}

/// Inflate a deflated entry from `data` (limited to its compressed span) into `sink`, refusing
/// output beyond the declared size as soon as it appears, a stream cut short, and bytes after the
/// stream's end.
fn inflate(
    inflater: &mut Decompress,
    data: &mut dyn Read,
    span: &Span<'_>,
    input: &mut [u8],
    output: &mut [u8],
    sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> Result<(), ZipProblem> {
    let entry = span.entry;
    let mut read_in = 0u64;
    let (mut start, mut end) = (0usize, 0usize);
    loop {
        if start == end && read_in < span.compressed_size {
            let want = usize::try_from(span.compressed_size - read_in)
                .unwrap_or(usize::MAX)
                .min(input.len());
            let n = read_some(data, input.get_mut(..want).unwrap_or_default(), entry)?;
            if n == 0 {
                return Err(ZipProblem::TruncatedData {
                    entry: entry.clone(),
                    expected: span.compressed_size,
                    actual: read_in,
                });
            }
            read_in += n as u64;
            (start, end) = (0, n);
        }
        // Room for one byte more than the declared size allows, so excess shows at once.
        let room = usize::try_from(span.size - inflater.total_out())
            .unwrap_or(usize::MAX)
            .saturating_add(1)
            .min(output.len());
        let (in_before, out_before) = (inflater.total_in(), inflater.total_out());
        let pending = input.get(start..end).unwrap_or_default();
        let out = output.get_mut(..room).unwrap_or_default();
        let status = inflater
            .decompress(pending, out, FlushDecompress::None)
            .map_err(|e| ZipProblem::DeflateCorrupt {
                entry: entry.clone(),
                detail: e.to_string(),
            })?;
        let consumed = usize::try_from(inflater.total_in() - in_before).unwrap_or(usize::MAX);
        let produced = usize::try_from(inflater.total_out() - out_before).unwrap_or(usize::MAX);
        start = start.saturating_add(consumed).min(end);
        if produced > 0 {
            if inflater.total_out() > span.size {
                return Err(ZipProblem::ContentTooLong {
                    entry: entry.clone(),
                    declared: span.size,
                });
            }
            give(sink, out.get(..produced).unwrap_or_default(), entry)?;
        }
        let input_left = (end - start) as u64 + (span.compressed_size - read_in);
        match status {
            Status::StreamEnd if input_left > 0 => {
                return Err(ZipProblem::DeflateTrailingBytes {
                    entry: entry.clone(),
                    len: input_left,
                });
            }
            Status::StreamEnd => break,
            Status::Ok | Status::BufError if consumed == 0 && produced == 0 => {
                if input_left == 0 {
                    return Err(ZipProblem::DeflateIncomplete {
                        entry: entry.clone(),
                    });
                }
                if start < end {
                    // Input and output room were both there, yet nothing moved.
                    return Err(ZipProblem::DeflateCorrupt {
                        entry: entry.clone(),
                        detail: "the inflater made no progress".to_owned(),
                    });
                }
            }
            Status::Ok | Status::BufError => {}
        }
    }
    if inflater.total_out() != span.size {
        return Err(ZipProblem::ContentTooShort {
            entry: entry.clone(),
            declared: span.size,
            actual: inflater.total_out(),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Structural checks.

/// `open` cannot go further; the reason is already among the problems.
struct Stop;

fn stop(problems: &mut Vec<ZipProblem>, problem: ZipProblem) -> Stop {
    problems.push(problem);
    Stop
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    let mut le = [0u8; 2];
    if let Some(field) = bytes.get(at..at + 2) {
        le.copy_from_slice(field);
    }
    u16::from_le_bytes(le)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut le = [0u8; 4];
    if let Some(field) = bytes.get(at..at + 4) {
        le.copy_from_slice(field);
    }
    u32::from_le_bytes(le)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut le = [0u8; 8];
    if let Some(field) = bytes.get(at..at + 8) {
        le.copy_from_slice(field);
    }
    u64::from_le_bytes(le)
}

/// Read exactly `buf.len()` bytes at `pos`; `Ok(false)` if the file ends first.
fn read_at<R: Read + Seek>(reader: &mut R, pos: u64, buf: &mut [u8]) -> io::Result<bool> {
    reader.seek(SeekFrom::Start(pos))?;
    match reader.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

fn read_record<R: Read + Seek>(
    reader: &mut R,
    pos: u64,
    buf: &mut [u8],
    problems: &mut Vec<ZipProblem>,
) -> Result<bool, Stop> {
    read_at(reader, pos, buf).map_err(|source| {
        stop(
            problems,
            ZipProblem::Io {
                offset: pos,
                source,
            },
        )
    })
}

/// Where the central directory is, as the end records declare it.
struct Directory {
    /// Where the end record (or the ZIP64 end record, when there is one) starts: the central
    /// directory must end exactly here.
    end: u64,
    offset: u64,
    size: u64,
    /// Entry counts to compare with the central directory, by the record that declares them.
    counts: Vec<(EndRecord, u64)>,
    /// The ZIP64 locator's pointer to the ZIP64 end record, to check once the base is known.
    zip64_locator: Option<u64>,
}

fn scan<R: Read + Seek>(
    reader: &mut R,
    limits: &Limits,
    problems: &mut Vec<ZipProblem>,
) -> Result<Vec<ZipEntry>, Stop> {
    let file_len = reader
        .seek(SeekFrom::End(0))
        .map_err(|source| stop(problems, ZipProblem::Io { offset: 0, source }))?;
    let end = find_end(reader, file_len, problems)?;
    let directory = read_end_records(reader, end, problems)?;
    let base = locate_directory(reader, &directory, problems)?;
    let declared = directory.counts.iter().map(|(_, n)| *n).max().unwrap_or(0);
    if declared > limits.max_entries as u64 {
        return Err(stop(
            problems,
            ZipProblem::TooManyEntries {
                count: declared,
                limit: limits.max_entries,
            },
        ));
    }
    let centrals = read_central_directory(reader, &directory, base, limits, problems)?;
    for (record, declared) in &directory.counts {
        if *declared != centrals.len() as u64 {
            problems.push(ZipProblem::EntryCountMismatch {
                record: *record,
                declared: *declared,
                actual: centrals.len() as u64,
            });
        }
    }
    let mut checked: Vec<Checked> = centrals
        .into_iter()
        .map(|central| check_central(central, limits, problems))
        .collect();
    check_unique_names(&checked, problems);
    check_local_records(reader, base, directory.offset, &mut checked, problems)?;
    let total = checked
        .iter()
        .fold(0u64, |sum, c| sum.saturating_add(c.size));
    if total > limits.max_total_uncompressed {
        problems.push(ZipProblem::TotalTooLarge {
            total,
            limit: limits.max_total_uncompressed,
        });
    }
    if !problems.is_empty() {
        return Err(Stop);
    }
    Ok(checked
        .into_iter()
        .filter_map(|c| {
            Some(ZipEntry {
                name: String::from_utf8(c.central.name).ok()?,
                method: c.method?,
                crc32: c.central.crc32,
                compressed_size: c.compressed_size,
                size: c.size,
                local_header_offset: c.offset,
                data_offset: c.data_offset,
            })
        })
        .collect())
}

/// Find the end-of-central-directory record: the last 22 bytes of the file, without a comment.
/// When it is not there, look back for one followed by a comment or appended data, to say which.
fn find_end<R: Read + Seek>(
    reader: &mut R,
    file_len: u64,
    problems: &mut Vec<ZipProblem>,
) -> Result<(u64, [u8; END_LEN as usize]), Stop> {
    let mut record = [0u8; END_LEN as usize];
    if file_len >= END_LEN
        && read_record(reader, file_len - END_LEN, &mut record, problems)?
        && u32_at(&record, 0) == END_SIGNATURE
        && u16_at(&record, 20) == 0
    {
        return Ok((file_len - END_LEN, record));
    }
    let tail_len = file_len.min(END_LEN + MAX_COMMENT_LEN);
    let tail_start = file_len - tail_len;
    let mut tail = vec![0u8; tail_len as usize];
    read_record(reader, tail_start, &mut tail, problems)?;
    let candidates = (0..tail.len().saturating_sub(END_LEN as usize - 1)).rev();
    for at in candidates {
        let Some(found) = tail.get(at..at + END_LEN as usize) else {
            continue;
        };
        if u32_at(found, 0) != END_SIGNATURE {
            continue;
        }
        let comment = u64::from(u16_at(found, 20));
        let record_end = at as u64 + END_LEN + comment;
        if record_end > tail_len {
            continue;
        }
        let offset = tail_start + at as u64;
        if comment > 0 {
            problems.push(ZipProblem::ArchiveComment {
                offset,
                len: comment,
            });
        }
        if record_end < tail_len {
            problems.push(ZipProblem::AppendedData {
                offset: tail_start + record_end,
                len: tail_len - record_end,
            });
        }
        record.copy_from_slice(found);
        return Ok((offset, record));
    }
    let mut head = [0u8; 4];
    let starts_like_zip =
        read_record(reader, 0, &mut head, problems)? && u32_at(&head, 0) == LOCAL_SIGNATURE;
    Err(stop(
        problems,
        if starts_like_zip {
            ZipProblem::Truncated { len: file_len }
        } else {
            ZipProblem::NotAZip { len: file_len }
        },
    ))
}

/// Read the end record and, when a ZIP64 locator sits right before it, the ZIP64 end record,
/// checking that they agree with each other and describe a single-disk archive.
fn read_end_records<R: Read + Seek>(
    reader: &mut R,
    (end_pos, end): (u64, [u8; END_LEN as usize]),
    problems: &mut Vec<ZipProblem>,
) -> Result<Directory, Stop> {
    let disk = u16_at(&end, 4);
    let directory_disk = u16_at(&end, 6);
    let count_here = u16_at(&end, 8);
    let count = u16_at(&end, 10);
    let size = u32_at(&end, 12);
    let offset = u32_at(&end, 16);
    if disk != 0 || directory_disk != 0 || count_here != count {
        problems.push(ZipProblem::MultiDisk {
            record: EndRecord::End,
            offset: end_pos,
        });
    }

    let mut locator = [0u8; ZIP64_LOCATOR_LEN as usize];
    let has_locator = end_pos >= ZIP64_LOCATOR_LEN
        && read_record(reader, end_pos - ZIP64_LOCATOR_LEN, &mut locator, problems)?
        && u32_at(&locator, 0) == ZIP64_LOCATOR_SIGNATURE;
    if !has_locator {
        return Ok(Directory {
            end: end_pos,
            offset: u64::from(offset),
            size: u64::from(size),
            counts: vec![(EndRecord::End, u64::from(count))],
            zip64_locator: None,
        });
    }

    let locator_pos = end_pos - ZIP64_LOCATOR_LEN;
    if u32_at(&locator, 4) != 0 || u32_at(&locator, 16) > 1 {
        problems.push(ZipProblem::MultiDisk {
            record: EndRecord::Zip64Locator,
            offset: locator_pos,
        });
    }
    let Some(zip64_pos) = locator_pos.checked_sub(ZIP64_END_LEN) else {
        return Err(stop(
            problems,
            ZipProblem::Zip64Inconsistent {
                offset: locator_pos,
                detail: "there is no room for a ZIP64 end record before the locator".to_owned(),
            },
        ));
    };
    let mut zip64 = [0u8; ZIP64_END_LEN as usize];
    if !read_record(reader, zip64_pos, &mut zip64, problems)?
        || u32_at(&zip64, 0) != ZIP64_END_SIGNATURE
    {
        return Err(stop(
            problems,
            ZipProblem::Zip64Inconsistent {
                offset: zip64_pos,
                detail: "no ZIP64 end record directly before the locator".to_owned(),
            },
        ));
    }
    let mut inconsistent = |detail: String| {
        problems.push(ZipProblem::Zip64Inconsistent {
            offset: zip64_pos,
            detail,
        })
    };
    if u64_at(&zip64, 4) != ZIP64_END_RECORD_SIZE {
        inconsistent(format!(
            "the record declares {} bytes, not {ZIP64_END_RECORD_SIZE} (extensible data is not allowed)",
            u64_at(&zip64, 4)
        ));
    }
    if u16_at(&zip64, 14) > MAX_VERSION_NEEDED {
        inconsistent(format!(
            "it needs ZIP version {}, above 4.5",
            u16_at(&zip64, 14)
        ));
    }
    let zip64_count_here = u64_at(&zip64, 24);
    let zip64_count = u64_at(&zip64, 32);
    let zip64_size = u64_at(&zip64, 40);
    let zip64_offset = u64_at(&zip64, 48);
    if u32_at(&zip64, 16) != 0 || u32_at(&zip64, 20) != 0 || zip64_count_here != zip64_count {
        problems.push(ZipProblem::MultiDisk {
            record: EndRecord::Zip64End,
            offset: zip64_pos,
        });
    }
    let mut inconsistent = |detail: String| {
        problems.push(ZipProblem::Zip64Inconsistent {
            offset: zip64_pos,
            detail,
        })
    };
    // Each field of the plain end record either says "see ZIP64" or repeats the ZIP64 value.
    if count != SENTINEL_16 && u64::from(count) != zip64_count {
        inconsistent(format!(
            "the end record declares {count} entries, the ZIP64 end record {zip64_count}"
        ));
    }
    if size != SENTINEL_32 && u64::from(size) != zip64_size {
        inconsistent(format!(
            "the end record declares a {size}-byte central directory, the ZIP64 end record {zip64_size} bytes"
        ));
    }
    if offset != SENTINEL_32 && u64::from(offset) != zip64_offset {
        inconsistent(format!(
            "the end record puts the central directory at offset {offset}, the ZIP64 end record at {zip64_offset}"
        ));
    }
    let mut counts = vec![(EndRecord::Zip64End, zip64_count)];
    if count != SENTINEL_16 && u64::from(count) != zip64_count {
        counts.push((EndRecord::End, u64::from(count)));
    }
    Ok(Directory {
        end: zip64_pos,
        offset: zip64_offset,
        size: zip64_size,
        counts,
        zip64_locator: Some(u64_at(&locator, 8)),
    })
}

/// The central directory must end where the end records begin. Returns the base: how far every
/// declared offset is from the real one, which is non-zero only when data was prepended (then
/// reported, and the rest is checked as if it were not there, to report everything else too).
fn locate_directory<R: Read + Seek>(
    reader: &mut R,
    directory: &Directory,
    problems: &mut Vec<ZipProblem>,
) -> Result<u64, Stop> {
    let misplaced = ZipProblem::CentralDirectoryMisplaced {
        offset: directory.offset,
        size: directory.size,
        end: directory.end,
    };
    let Some(start) = directory.end.checked_sub(directory.size) else {
        return Err(stop(problems, misplaced));
    };
    let base = if start == directory.offset {
        0
    } else if start > directory.offset {
        let mut signature = [0u8; 4];
        let found = directory.size == 0
            || (read_record(reader, start, &mut signature, problems)?
                && u32_at(&signature, 0) == CENTRAL_SIGNATURE);
        if !found {
            return Err(stop(problems, misplaced));
        }
        let base = start - directory.offset;
        problems.push(ZipProblem::PrependedData { len: base });
        base
    } else {
        return Err(stop(problems, misplaced));
    };
    if let Some(pointer) = directory.zip64_locator
        && pointer.checked_add(base) != Some(directory.end)
    {
        problems.push(ZipProblem::Zip64Inconsistent {
            offset: directory.end,
            detail: format!(
                "the locator points to offset {pointer}, not to the ZIP64 end record at {}",
                directory.end - base
            ),
        });
    }
    Ok(base)
}

/// A central directory entry as stored.
struct Central {
    index: usize,
    made_by: u16,
    version_needed: u16,
    flags: u16,
    method: u16,
    time: u16,
    date: u16,
    crc32: u32,
    compressed_size: u32,
    size: u32,
    comment_len: u16,
    disk: u16,
    external_attributes: u32,
    offset: u32,
    name: Vec<u8>,
    extra: Vec<u8>,
}

/// Walk the central directory record by record; it must hold whole records and nothing else.
fn read_central_directory<R: Read + Seek>(
    reader: &mut R,
    directory: &Directory,
    base: u64,
    limits: &Limits,
    problems: &mut Vec<ZipProblem>,
) -> Result<Vec<Central>, Stop> {
    let start = directory.offset + base;
    let io_failed = |source| ZipProblem::Io {
        offset: start,
        source,
    };
    reader
        .seek(SeekFrom::Start(start))
        .map_err(|e| stop(problems, io_failed(e)))?;
    let mut records = BufReader::with_capacity(64 * 1024, reader.take(directory.size));
    let capacity = directory.counts.iter().map(|(_, n)| *n).min().unwrap_or(0);
    let capacity = capacity.min(directory.size / CENTRAL_LEN);
    let mut centrals = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    let mut pos = start;
    let mut header = [0u8; CENTRAL_LEN as usize];
    let mut comment = Vec::new();
    while pos < directory.end {
        let malformed = |detail| ZipProblem::CentralDirectoryMalformed {
            offset: pos,
            detail,
        };
        if directory.end - pos < CENTRAL_LEN {
            problems.push(malformed(
                "a record is cut short by the end of the directory",
            ));
            break;
        }
        records
            .read_exact(&mut header)
            .map_err(|e| stop(problems, io_failed(e)))?;
        if u32_at(&header, 0) != CENTRAL_SIGNATURE {
            problems.push(malformed("expected a central directory header here"));
            break;
        }
        let name_len = u16_at(&header, 28);
        let extra_len = u16_at(&header, 30);
        let comment_len = u16_at(&header, 32);
        let record_len =
            CENTRAL_LEN + u64::from(name_len) + u64::from(extra_len) + u64::from(comment_len);
        if record_len > directory.end - pos {
            problems.push(malformed("a record runs past the end of the directory"));
            break;
        }
        if centrals.len() >= limits.max_entries {
            return Err(stop(
                problems,
                ZipProblem::TooManyEntries {
                    count: centrals.len() as u64 + 1,
                    limit: limits.max_entries,
                },
            ));
        }
        let mut name = vec![0u8; usize::from(name_len)];
        let mut extra = vec![0u8; usize::from(extra_len)];
        comment.resize(usize::from(comment_len), 0);
        records
            .read_exact(&mut name)
            .and_then(|()| records.read_exact(&mut extra))
            .and_then(|()| records.read_exact(&mut comment))
            .map_err(|e| stop(problems, io_failed(e)))?;
        centrals.push(Central {
            index: centrals.len(),
            made_by: u16_at(&header, 4),
            version_needed: u16_at(&header, 6),
            flags: u16_at(&header, 8),
            method: u16_at(&header, 10),
            time: u16_at(&header, 12),
            date: u16_at(&header, 14),
            crc32: u32_at(&header, 16),
            compressed_size: u32_at(&header, 20),
            size: u32_at(&header, 24),
            comment_len,
            disk: u16_at(&header, 34),
            external_attributes: u32_at(&header, 38),
            offset: u32_at(&header, 42),
            name,
            extra,
        });
        pos += record_len;
    }
    Ok(centrals)
}

/// A central entry with its ZIP64 values resolved, and what the local pass learns.
struct Checked {
    central: Central,
    entry: EntryRef,
    method: Option<Method>,
    compressed_size: u64,
    size: u64,
    offset: u64,
    data_offset: u64,
}

/// Check one central entry on its own: file type, version, flags, method, name, extra fields,
/// comment, disk, sizes and limits.
fn check_central(central: Central, limits: &Limits, problems: &mut Vec<ZipProblem>) -> Checked {
    let entry = EntryRef::new(central.index, &central.name);
    let who = || entry.clone();

    let system = (central.made_by >> 8) as u8;
    let attributes = central.external_attributes;
    let kind = match system {
        HOST_UNIX | HOST_DARWIN => {
            unix_kind(attributes >> 16).or_else(|| dos_kind(attributes & 0xFF))
        }
        HOST_DOS | HOST_NTFS | HOST_VFAT => dos_kind(attributes & 0xFF),
        _ => {
            problems.push(ZipProblem::UnsupportedHostSystem {
                entry: who(),
                system,
            });
            None
        }
    };
    if let Some(kind) = kind {
        problems.push(ZipProblem::NotRegularFile { entry: who(), kind });
    }
    if central.version_needed > MAX_VERSION_NEEDED {
        problems.push(ZipProblem::UnsupportedVersion {
            entry: who(),
            version: central.version_needed,
        });
    }

    let flags = central.flags;
    let encryption = if central.method == METHOD_AES {
        Some(Encryption::Aes)
    } else if flags & FLAG_STRONG_ENCRYPTION != 0 {
        Some(Encryption::Strong)
    } else if flags & FLAG_ENCRYPTED != 0 {
        Some(Encryption::Traditional)
    } else {
        None
    };
    if let Some(scheme) = encryption {
        problems.push(ZipProblem::Encrypted {
            entry: who(),
            scheme,
        });
    }
    if flags & FLAG_DATA_DESCRIPTOR != 0 {
        problems.push(ZipProblem::DataDescriptor { entry: who() });
    }
    let unknown = flags & !(HARMLESS_FLAGS | NAMED_FLAGS);
    if unknown != 0 {
        problems.push(ZipProblem::UnsupportedFlags {
            entry: who(),
            flags: unknown,
        });
    }
    let method = match central.method {
        METHOD_STORED => Some(Method::Stored),
        METHOD_DEFLATE => Some(Method::Deflate),
        METHOD_AES => None,
        method => {
            problems.push(ZipProblem::UnsupportedMethod {
                entry: who(),
                method,
            });
            None
        }
    };

    if let Err(fault) = check_name(&central.name, limits.max_name_len) {
        problems.push(ZipProblem::UnsafeName {
            entry: who(),
            fault,
        });
    }
    if central.comment_len > 0 {
        problems.push(ZipProblem::EntryComment {
            entry: who(),
            len: u64::from(central.comment_len),
        });
    }
    if central.disk != 0 {
        problems.push(ZipProblem::EntryOnOtherDisk {
            entry: who(),
            disk: central.disk,
        });
    }

    let wanted = Zip64Wanted {
        size: central.size == SENTINEL_32,
        compressed_size: central.compressed_size == SENTINEL_32,
        offset: central.offset == SENTINEL_32,
    };
    let zip64 = parse_extra(&central.extra, Header::Central, &entry, problems);
    let values = resolve_zip64(zip64, wanted, Header::Central, &entry, problems);
    let size = values.size.unwrap_or(u64::from(central.size));
    let compressed_size = values
        .compressed_size
        .unwrap_or(u64::from(central.compressed_size));
    let offset = values.offset.unwrap_or(u64::from(central.offset));

    if method == Some(Method::Stored) && compressed_size != size {
        problems.push(ZipProblem::StoredSizeMismatch {
            entry: who(),
            compressed: compressed_size,
            size,
        });
    }
    if size > limits.max_entry_size {
        problems.push(ZipProblem::EntryTooLarge {
            entry: who(),
            size,
            limit: limits.max_entry_size,
        });
    }
    if method == Some(Method::Deflate)
        && size > compressed_size.saturating_mul(limits.max_deflate_ratio)
    {
        problems.push(ZipProblem::RatioTooHigh {
            entry: who(),
            compressed: compressed_size,
            size,
            limit: limits.max_deflate_ratio,
        });
    }
    Checked {
        central,
        entry,
        method,
        compressed_size,
        size,
        offset,
        data_offset: 0,
    }
}

/// The file type a Unix mode gives, unless it is a regular file.
fn unix_kind(mode: u32) -> Option<FileKind> {
    match mode & S_IFMT {
        S_IFREG => None,
        0o040_000 => Some(FileKind::Directory),
        0o120_000 => Some(FileKind::Symlink),
        0o020_000 => Some(FileKind::CharDevice),
        0o060_000 => Some(FileKind::BlockDevice),
        0o010_000 => Some(FileKind::Fifo),
        0o140_000 => Some(FileKind::Socket),
        _ => Some(FileKind::Unknown { mode }),
    }
}

/// The file type MS-DOS attributes give, unless it is a plain file.
fn dos_kind(attributes: u32) -> Option<FileKind> {
    if attributes & DOS_DIRECTORY != 0 {
        Some(FileKind::Directory)
    } else if attributes & DOS_VOLUME_LABEL != 0 {
        Some(FileKind::VolumeLabel)
    } else {
        None
    }
}

/// Check an entry name: relative, `/`-separated, every component non-empty, not `.` or `..`, and
/// only `[A-Za-z0-9._-]`.
fn check_name(raw: &[u8], max_len: usize) -> Result<&str, NameFault> {
    let name = std::str::from_utf8(raw).map_err(|_| NameFault::NotUtf8)?;
    if raw.len() > max_len {
        return Err(NameFault::TooLong {
            len: raw.len(),
            limit: max_len,
        });
    }
    if name.is_empty() {
        return Err(NameFault::Empty);
    }
    if name.chars().any(char::is_control) {
        return Err(NameFault::ControlCharacter);
    }
    if name.starts_with('/') {
        return Err(NameFault::Absolute);
    }
    let bytes = name.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err(NameFault::DriveLetter);
    }
    if name.contains('\\') {
        return Err(NameFault::Backslash);
    }
    if name.ends_with('/') {
        return Err(NameFault::DirectoryEntry);
    }
    let components = || name.split('/');
    if components().any(|c| c == "..") {
        return Err(NameFault::ParentComponent);
    }
    if components().any(|c| c == ".") {
        return Err(NameFault::CurrentComponent);
    }
    if components().any(str::is_empty) {
        return Err(NameFault::EmptyComponent);
    }
    let allowed = |c: char| c == '/' || c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if let Some(c) = name.chars().find(|c| !allowed(*c)) {
        return Err(NameFault::ForbiddenCharacter(c));
    }
    Ok(name)
}

/// Report names repeated exactly or after ASCII case folding. Sorting indices keeps this
/// O(n log n) in time and one index per entry in memory, however hostile the names.
fn check_unique_names(checked: &[Checked], problems: &mut Vec<ZipProblem>) {
    let name = |i: usize| {
        checked
            .get(i)
            .map_or(&[][..], |c| c.central.name.as_slice())
    };
    let folded = |i: usize| name(i).iter().map(u8::to_ascii_lowercase);
    let mut order: Vec<usize> = (0..checked.len()).collect();
    order.sort_by(|&a, &b| folded(a).cmp(folded(b)).then_with(|| name(a).cmp(name(b))));
    let entry = |i: usize| checked.get(i).map(|c| c.entry.clone());
    let mut found = Vec::new();
    let mut group_first: Option<usize> = None;
    let mut run_first: Option<usize> = None;
    for &i in &order {
        match (group_first, run_first) {
            (Some(g), Some(r)) if folded(g).eq(folded(i)) => {
                if name(r) == name(i) {
                    found.push((true, r.min(i), r.max(i)));
                } else {
                    found.push((false, g.min(i), g.max(i)));
                    run_first = Some(i);
                }
            }
            _ => {
                group_first = Some(i);
                run_first = Some(i);
            }
        }
    }
    found.sort_by_key(|&(_, _, later)| later);
    for (exact, earlier, later) in found {
        let (Some(earlier), Some(later)) = (entry(earlier), entry(later)) else {
            continue;
        };
        problems.push(if exact {
            ZipProblem::DuplicateName {
                entry: later,
                first: earlier,
            }
        } else {
            ZipProblem::CaseCollision {
                entry: later,
                other: earlier,
            }
        });
    }
}

/// Which of an entry's values its header marks as held in the ZIP64 extra field.
#[derive(Clone, Copy)]
struct Zip64Wanted {
    size: bool,
    compressed_size: bool,
    offset: bool,
}

#[derive(Default)]
struct Zip64Values {
    size: Option<u64>,
    compressed_size: Option<u64>,
    offset: Option<u64>,
}

/// Walk an extra field block: only one ZIP64 field is allowed. Returns the ZIP64 field's data.
fn parse_extra<'a>(
    extra: &'a [u8],
    header: Header,
    entry: &EntryRef,
    problems: &mut Vec<ZipProblem>,
) -> Option<&'a [u8]> {
    let mut zip64 = None;
    let mut rest = extra;
    while !rest.is_empty() {
        let malformed = |detail| ZipProblem::MalformedExtraField {
            entry: entry.clone(),
            header,
            detail,
        };
        let (Some(head), Some(body)) = (rest.get(..4), rest.get(4..)) else {
            problems.push(malformed("a field header is cut short"));
            break;
        };
        let id = u16_at(head, 0);
        let len = usize::from(u16_at(head, 2));
        let (Some(data), Some(after)) = (body.get(..len), body.get(len..)) else {
            problems.push(malformed("a field runs past the end of the extra block"));
            break;
        };
        if id != ZIP64_EXTRA_ID {
            problems.push(ZipProblem::UnexpectedExtraField {
                entry: entry.clone(),
                header,
                id,
            });
        } else if zip64.is_some() {
            problems.push(malformed("the ZIP64 field appears twice"));
        } else {
            zip64 = Some(data);
        }
        rest = after;
    }
    zip64
}

/// Take from the ZIP64 field exactly the values its header marks with 0xFFFFFFFF, in APPNOTE
/// order (size, compressed size, offset), and nothing else.
fn resolve_zip64(
    zip64: Option<&[u8]>,
    wanted: Zip64Wanted,
    header: Header,
    entry: &EntryRef,
    problems: &mut Vec<ZipProblem>,
) -> Zip64Values {
    let fields = [wanted.size, wanted.compressed_size, wanted.offset];
    let expected_len = 8 * fields.iter().filter(|w| **w).count();
    let malformed = |detail| ZipProblem::MalformedExtraField {
        entry: entry.clone(),
        header,
        detail,
    };
    let Some(data) = zip64 else {
        if expected_len > 0 {
            problems.push(malformed(
                "values are marked 0xFFFFFFFF (\"in the ZIP64 field\") but there is no ZIP64 field",
            ));
        }
        return Zip64Values::default();
    };
    if expected_len == 0 {
        problems.push(malformed(
            "there is a ZIP64 field but no value is marked 0xFFFFFFFF",
        ));
        return Zip64Values::default();
    }
    if data.len() != expected_len {
        problems.push(malformed(
            "the ZIP64 field's length does not match the values marked 0xFFFFFFFF",
        ));
        if data.len() < expected_len {
            return Zip64Values::default();
        }
    }
    let mut at = 0;
    let mut next = |present: bool| {
        present.then(|| {
            let value = u64_at(data, at);
            at += 8;
            value
        })
    };
    Zip64Values {
        size: next(wanted.size),
        compressed_size: next(wanted.compressed_size),
        offset: next(wanted.offset),
    }
}

/// Reads at mostly increasing positions through a small buffer, so that the local headers of many
/// small entries cost one system call per buffer rather than two seeks and two reads each.
struct ForwardReader<'a, R> {
    inner: BufReader<&'a mut R>,
    /// Where `inner` stands, when known.
    pos: Option<u64>,
}

impl<'a, R: Read + Seek> ForwardReader<'a, R> {
    fn new(reader: &'a mut R) -> Self {
        ForwardReader {
            inner: BufReader::with_capacity(16 * 1024, reader),
            pos: None,
        }
    }

    /// Like `read_record`: `Ok(false)` when the file ends first.
    fn read_at(
        &mut self,
        pos: u64,
        buf: &mut [u8],
        problems: &mut Vec<ZipProblem>,
    ) -> Result<bool, Stop> {
        let ahead = self
            .pos
            .and_then(|at| pos.checked_sub(at))
            .and_then(|ahead| i64::try_from(ahead).ok());
        let moved = match ahead {
            Some(ahead) => self.inner.seek_relative(ahead),
            None => self.inner.seek(SeekFrom::Start(pos)).map(|_| ()),
        };
        self.pos = None;
        let read = moved.and_then(|()| match self.inner.read_exact(buf) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(e),
        });
        match read {
            Ok(true) => {
                self.pos = Some(pos + buf.len() as u64);
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(source) => Err(stop(
                problems,
                ZipProblem::Io {
                    offset: pos,
                    source,
                },
            )),
        }
    }
}

/// Read every entry's local header, compare it with the central entry, and check that the local
/// records tile the file from offset 0 to the central directory with no gap and no overlap.
fn check_local_records<R: Read + Seek>(
    reader: &mut R,
    base: u64,
    directory_offset: u64,
    checked: &mut [Checked],
    problems: &mut Vec<ZipProblem>,
) -> Result<(), Stop> {
    let mut expected = 0u64;
    let mut header = [0u8; LOCAL_LEN as usize];
    let mut name_and_extra = Vec::new();
    let mut reader = ForwardReader::new(reader);
    for c in checked.iter_mut() {
        let next = Record::Entry(c.entry.clone());
        if c.offset > expected {
            problems.push(if expected == 0 {
                ZipProblem::PrependedData { len: c.offset }
            } else {
                ZipProblem::Gap {
                    next,
                    offset: expected,
                    len: c.offset - expected,
                }
            });
        } else if c.offset < expected {
            problems.push(ZipProblem::Overlap {
                next,
                offset: c.offset,
                previous_end: expected,
            });
        }
        let guessed_end = c
            .offset
            .saturating_add(LOCAL_LEN + c.central.name.len() as u64)
            .saturating_add(c.compressed_size);
        let pos = c.offset.saturating_add(base);
        let found =
            reader.read_at(pos, &mut header, problems)? && u32_at(&header, 0) == LOCAL_SIGNATURE;
        if !found {
            problems.push(ZipProblem::LocalHeaderMissing {
                entry: c.entry.clone(),
                offset: c.offset,
            });
            expected = expected.max(guessed_end);
            continue;
        }
        let name_len = usize::from(u16_at(&header, 26));
        let extra_len = usize::from(u16_at(&header, 28));
        name_and_extra.resize(name_len + extra_len, 0);
        if !reader.read_at(pos + LOCAL_LEN, &mut name_and_extra, problems)? {
            problems.push(ZipProblem::LocalHeaderMissing {
                entry: c.entry.clone(),
                offset: c.offset,
            });
            expected = expected.max(guessed_end);
            continue;
        }
        let (name, extra) = name_and_extra.split_at(name_len.min(name_and_extra.len()));
        compare_local(c, &header, name, extra, problems);
        c.data_offset = c
            .offset
            .saturating_add(LOCAL_LEN + (name_len + extra_len) as u64);
        expected = expected.max(c.data_offset.saturating_add(c.compressed_size));
    }
    let next = Record::CentralDirectory;
    if directory_offset > expected {
        problems.push(if expected == 0 {
            ZipProblem::PrependedData {
                len: directory_offset,
            }
        } else {
            ZipProblem::Gap {
                next,
                offset: expected,
                len: directory_offset - expected,
            }
        });
    } else if directory_offset < expected {
        problems.push(ZipProblem::Overlap {
            next,
            offset: directory_offset,
            previous_end: expected,
        });
    }
    Ok(())
}

/// The local header must repeat the central entry field for field.
fn compare_local(
    c: &Checked,
    header: &[u8],
    name: &[u8],
    extra: &[u8],
    problems: &mut Vec<ZipProblem>,
) {
    let central = &c.central;
    let raw_compressed = u32_at(header, 18);
    let raw_size = u32_at(header, 22);
    let malformed = |detail| ZipProblem::MalformedExtraField {
        entry: c.entry.clone(),
        header: Header::Local,
        detail,
    };
    // A local ZIP64 field holds both sizes, and is there exactly when both are marked.
    let both_marked = raw_compressed == SENTINEL_32 && raw_size == SENTINEL_32;
    let (mut size, mut compressed_size) = (u64::from(raw_size), u64::from(raw_compressed));
    match parse_extra(extra, Header::Local, &c.entry, problems) {
        Some(zip64) if both_marked && zip64.len() == 16 => {
            size = u64_at(zip64, 0);
            compressed_size = u64_at(zip64, 8);
        }
        Some(_) if both_marked => {
            problems.push(malformed(
                "the ZIP64 field does not hold exactly both sizes",
            ));
        }
        Some(_) => problems.push(malformed(
            "there is a ZIP64 field but the sizes are not both marked 0xFFFFFFFF",
        )),
        None if raw_compressed == SENTINEL_32 || raw_size == SENTINEL_32 => {
            problems.push(malformed(
                "sizes are marked 0xFFFFFFFF (\"in the ZIP64 field\") but there is no ZIP64 field",
            ));
        }
        None => {}
    }
    let differences = [
        (
            "version needed to extract",
            u16_at(header, 4) != central.version_needed,
        ),
        ("general-purpose flags", u16_at(header, 6) != central.flags),
        ("compression method", u16_at(header, 8) != central.method),
        ("modification time", u16_at(header, 10) != central.time),
        ("modification date", u16_at(header, 12) != central.date),
        ("CRC-32", u32_at(header, 14) != central.crc32),
        ("compressed size", compressed_size != c.compressed_size),
        ("size", size != c.size),
        ("name", name != central.name.as_slice()),
    ];
    for (field, differs) in differences {
        if differs {
            problems.push(ZipProblem::LocalHeaderMismatch {
                entry: c.entry.clone(),
                field,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zip_write::{EntryToWrite, write_zip, zip_time};
    use evidence_model::Sha256Digest;
    use std::io::{Cursor, Write};

    fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let time = zip_time(jiff::Timestamp::from_second(1_700_000_000).unwrap());
        let entries = entries
            .iter()
            .map(|(name, bytes)| EntryToWrite {
                name: (*name).to_owned(),
                size: bytes.len() as u64,
                sha256: Sha256Digest::of(bytes),
                content: Box::new(Cursor::new(bytes.to_vec())),
            })
            .collect();
        write_zip(Cursor::new(Vec::new()), entries, time)
            .unwrap()
            .into_inner()
    }

    fn deflated(bytes: &[u8]) -> Vec<u8> {
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn inflate_all(compressed: &[u8], size: u64) -> Result<Vec<u8>, ZipProblem> {
        let entry = EntryRef::new(0, b"r/x");
        let span = Span {
            entry: &entry,
            compressed_size: compressed.len() as u64,
            size,
        };
        let mut out = Vec::new();
        let (mut input, mut output) = (vec![0; 7], vec![0; 5]);
        inflate(
            &mut Decompress::new(false),
            &mut Cursor::new(compressed),
            &span,
            &mut input,
            &mut output,
            &mut |b| {
                out.extend_from_slice(b);
                Ok(())
            },
        )?;
        Ok(out)
    }

    #[test]
    fn safe_names_pass_and_each_unsafe_shape_gets_its_own_fault() {
        let cases: &[(&[u8], Option<NameFault>)] = &[
            (b"run-000001/bagit.txt", None),
            (b"run-000001/data/items/a_b.c-d/artefact/x.json", None),
            (b"run-1/..hidden", None),
            (b"run-1/\xff", Some(NameFault::NotUtf8)),
            (b"", Some(NameFault::Empty)),
            (b"run-1/a\0b", Some(NameFault::ControlCharacter)),
            (b"run-1/a\x1bb", Some(NameFault::ControlCharacter)),
            (b"/etc/passwd", Some(NameFault::Absolute)),
            (b"C:/windows/x", Some(NameFault::DriveLetter)),
            (b"run-1\\a", Some(NameFault::Backslash)),
            (b"run-1/dir/", Some(NameFault::DirectoryEntry)),
            (b"run-1/../../etc/passwd", Some(NameFault::ParentComponent)),
            (b"..", Some(NameFault::ParentComponent)),
            (b"run-1/./a", Some(NameFault::CurrentComponent)),
            (b"run-1//a", Some(NameFault::EmptyComponent)),
            (b"run-1/a b", Some(NameFault::ForbiddenCharacter(' '))),
            (b"run-1/a%2e", Some(NameFault::ForbiddenCharacter('%'))),
            (
                "run-1/é".as_bytes(),
                Some(NameFault::ForbiddenCharacter('é')),
            ),
        ];
        for (name, fault) in cases {
            assert_eq!(
                check_name(name, 4096).err(),
                *fault,
                "{}",
                String::from_utf8_lossy(name)
            );
        }
        assert_eq!(
            check_name(b"run-1/abc", 8),
            Err(NameFault::TooLong { len: 9, limit: 8 })
        );
    }

    #[test]
    fn a_written_archive_opens_and_reads_back() {
        let bytes = archive(&[("r/a", b"one"), ("r/b", b""), ("r/c", b"three")]);
        let mut zip = StrictZip::open(Cursor::new(bytes), Limits::default()).unwrap();
        let names: Vec<_> = zip.entries().iter().map(|e| e.name.clone()).collect();
        assert_eq!(names, ["r/a", "r/b", "r/c"]);
        assert_eq!(zip.top_directory(), Some("r"));
        assert_eq!(zip.read_small(0, 100).unwrap(), b"one");
        assert_eq!(zip.read_small(1, 100).unwrap(), b"");
        assert_eq!(zip.read_small(2, 100).unwrap(), b"three");
    }

    #[test]
    fn an_empty_archive_has_no_entries_and_no_top_directory() {
        let zip = StrictZip::open(Cursor::new(archive(&[])), Limits::default()).unwrap();
        assert!(zip.entries().is_empty());
        assert_eq!(zip.top_directory(), None);
    }

    #[test]
    fn entries_under_two_directories_have_no_top_directory() {
        let bytes = archive(&[("a/x", b"1"), ("b/x", b"2")]);
        let zip = StrictZip::open(Cursor::new(bytes), Limits::default()).unwrap();
        assert_eq!(zip.top_directory(), None);
    }

    #[test]
    fn reading_more_than_the_caller_allows_is_refused_before_reading() {
        let bytes = archive(&[("r/a", b"four")]);
        let mut zip = StrictZip::open(Cursor::new(bytes), Limits::default()).unwrap();
        assert!(matches!(
            zip.read_small(0, 3),
            Err(ZipProblem::TooLargeToRead {
                size: 4,
                limit: 3,
                ..
            })
        ));
        assert!(matches!(
            zip.read_small(1, 3),
            Err(ZipProblem::NoSuchEntry { index: 1, count: 1 })
        ));
    }

    #[test]
    fn a_sink_error_stops_the_read_and_names_the_entry() {
        let bytes = archive(&[("r/a", b"four")]);
        let mut zip = StrictZip::open(Cursor::new(bytes), Limits::default()).unwrap();
        let err = zip
            .read_entry(0, &mut |_| Err(io::Error::other("disk full")))
            .unwrap_err();
        assert!(matches!(err, ZipProblem::SinkFailed { .. }));
        assert!(err.to_string().contains("\"r/a\""));
    }

    #[test]
    fn stored_data_that_ends_before_its_declared_size_is_reported_as_truncated() {
        let entry = EntryRef::new(0, b"r/x");
        let span = Span {
            entry: &entry,
            compressed_size: 10,
            size: 10,
        };
        let mut chunk = vec![0; 4];
        let mut seen = 0;
        let err = copy_stored(&mut Cursor::new(b"123456"), &span, &mut chunk, &mut |b| {
            seen += b.len();
            Ok(())
        })
        .unwrap_err();
        assert!(matches!(
            err,
            ZipProblem::TruncatedData {
                expected: 10,
                actual: 6,
                ..
            }
        ));
        assert_eq!(seen, 6);
    }

    #[test]
    fn inflating_exactly_the_declared_size_in_tiny_buffers_works() {
        let content: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let out = inflate_all(&deflated(&content), content.len() as u64).unwrap();
        assert_eq!(out, content);
    }

    #[test]
    fn inflating_stops_as_soon_as_output_exceeds_the_declared_size() {
        let content = vec![b'a'; 10_000];
        let err = inflate_all(&deflated(&content), 100).unwrap_err();
        assert!(matches!(
            err,
            ZipProblem::ContentTooLong { declared: 100, .. }
        ));
    }

    #[test]
    fn inflating_less_than_the_declared_size_is_refused() {
        let err = inflate_all(&deflated(b"short"), 6).unwrap_err();
        assert!(matches!(
            err,
            ZipProblem::ContentTooShort {
                declared: 6,
                actual: 5,
                ..
            }
        ));
    }

    #[test]
    fn a_deflate_stream_cut_before_its_final_block_is_refused() {
        let compressed = deflated(&[7u8; 1000]);
        let cut = &compressed[..compressed.len() - 1];
        assert!(matches!(
            inflate_all(cut, 1000),
            Err(ZipProblem::DeflateIncomplete { .. } | ZipProblem::DeflateCorrupt { .. })
        ));
    }

    #[test]
    fn bytes_after_the_end_of_a_deflate_stream_are_refused() {
        let mut compressed = deflated(b"hello");
        compressed.extend_from_slice(b"junk");
        assert!(matches!(
            inflate_all(&compressed, 5),
            Err(ZipProblem::DeflateTrailingBytes { len: 4, .. })
        ));
    }

    #[test]
    fn garbage_that_is_not_deflate_is_refused() {
        assert!(matches!(
            inflate_all(&[0xff; 16], 5),
            Err(ZipProblem::DeflateCorrupt { .. })
        ));
    }

    #[test]
    fn hostile_names_are_escaped_and_cut_in_messages() {
        let message = |name: &str| {
            ZipProblem::UnsafeName {
                entry: EntryRef::new(4, name.as_bytes()),
                fault: NameFault::ControlCharacter,
            }
            .to_string()
        };
        let escaped = message("run-1/a\n\x1b[31mb");
        assert!(escaped.starts_with("entry #5 \"run-1/a\\n"), "{escaped}");
        assert!(!escaped.contains('\n') && !escaped.contains('\x1b'));
        assert!(message(&format!("run-1/{}", "a".repeat(500))).len() < 400);
    }

    #[test]
    fn method_names_say_what_the_method_is() {
        let problem = ZipProblem::UnsupportedMethod {
            entry: EntryRef::new(0, b"r/a"),
            method: 14,
        };
        assert_eq!(
            problem.to_string(),
            "entry #1 \"r/a\" uses compression method 14 (LZMA); only stored (0) and deflate (8) are allowed"
        );
    }

    #[test]
    fn unix_modes_other_than_regular_files_are_named() {
        assert_eq!(unix_kind(0o100_644), None);
        assert_eq!(unix_kind(0o120_777), Some(FileKind::Symlink));
        assert_eq!(unix_kind(0o040_755), Some(FileKind::Directory));
        assert_eq!(unix_kind(0o020_644), Some(FileKind::CharDevice));
        assert_eq!(unix_kind(0), Some(FileKind::Unknown { mode: 0 }));
        assert_eq!(dos_kind(0x10), Some(FileKind::Directory));
        assert_eq!(dos_kind(0x20), None);
    }
}
