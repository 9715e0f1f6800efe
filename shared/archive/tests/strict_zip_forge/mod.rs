//! A byte-level ZIP builder for the strict reader's tests: writes local records, the central
//! directory and the end records field by field, so a test can forge any malformed layout.
//!
//! By default it writes exactly what `zip_write::write_zip` writes (a test checks this byte for
//! byte); a test then changes the one field or record its hostile class is about.

#![allow(dead_code)]

use std::io::{Cursor, Write};

use evidence_archive::zip_write::{EntryToWrite, write_zip, zip_time};
use evidence_model::Sha256Digest;

/// The fixed time every test archive carries.
pub(crate) fn mtime() -> zip::DateTime {
    zip_time(jiff::Timestamp::from_second(1_700_000_000).expect("a valid timestamp"))
}

/// `zip_write::write_zip` over in-memory entries, in the order given.
pub(crate) fn write(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let entries = entries
        .iter()
        .map(|(name, bytes)| EntryToWrite {
            name: (*name).to_owned(),
            size: bytes.len() as u64,
            sha256: Sha256Digest::of(bytes),
            content: Box::new(Cursor::new(bytes.to_vec())),
        })
        .collect();
    write_zip(Cursor::new(Vec::new()), entries, mtime())
        .expect("writing an in-memory archive")
        .into_inner()
}

/// Raw DEFLATE (RFC 1951) of `bytes`.
pub(crate) fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("deflating in memory");
    encoder.finish().expect("deflating in memory")
}

/// The fields a local header and a central directory header share.
#[derive(Clone, Debug)]
pub(crate) struct Fields {
    pub version_needed: u16,
    pub flags: u16,
    pub method: u16,
    pub time: u16,
    pub date: u16,
    pub crc32: u32,
    pub compressed_size: u32,
    pub size: u32,
    pub name: Vec<u8>,
    pub extra: Vec<u8>,
}

/// One entry: its local record and its central directory header, each forgeable on its own.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub local: Fields,
    pub central: Fields,
    /// The bytes after the local header (compressed data, or whatever a test puts there).
    pub data: Vec<u8>,
    pub made_by: u16,
    pub internal_attributes: u16,
    pub external_attributes: u32,
    pub disk: u16,
    pub comment: Vec<u8>,
    /// The central header's local header offset; `None` for where the local record was written.
    pub offset: Option<u32>,
    /// Whether to write a local record at all (a central entry can point at another's).
    pub write_local: bool,
}

/// A ZIP64 extra field (id 1) holding `values` in order.
pub(crate) fn zip64_extra(values: &[u64]) -> Vec<u8> {
    let mut extra = Vec::new();
    extra.extend_from_slice(&1u16.to_le_bytes());
    extra.extend_from_slice(&((values.len() * 8) as u16).to_le_bytes());
    for value in values {
        extra.extend_from_slice(&value.to_le_bytes());
    }
    extra
}

impl Entry {
    /// A stored entry exactly as `write_zip` writes it.
    pub(crate) fn stored(name: &str, data: &[u8]) -> Entry {
        let fields = Fields {
            version_needed: 10,
            flags: 0,
            method: 0,
            time: mtime().timepart(),
            date: mtime().datepart(),
            crc32: crc32fast::hash(data),
            compressed_size: data.len() as u32,
            size: data.len() as u32,
            name: name.as_bytes().to_vec(),
            extra: Vec::new(),
        };
        Entry {
            local: fields.clone(),
            central: fields,
            data: data.to_vec(),
            made_by: 0x030A,
            internal_attributes: 0,
            external_attributes: 0o100_644 << 16,
            disk: 0,
            comment: Vec::new(),
            offset: None,
            write_local: true,
        }
    }

    /// A deflated entry as the zip crate writes one.
    pub(crate) fn deflated(name: &str, content: &[u8]) -> Entry {
        let compressed = deflate(content);
        let mut entry = Entry::stored(name, &compressed);
        entry.both(|f| {
            f.version_needed = 20;
            f.method = 8;
            f.crc32 = crc32fast::hash(content);
            f.size = content.len() as u32;
        });
        entry.made_by = 0x0314;
        entry
    }

    /// Change a field in both headers.
    pub(crate) fn both(&mut self, change: impl Fn(&mut Fields)) -> &mut Entry {
        change(&mut self.local);
        change(&mut self.central);
        self
    }

    /// Move both sizes into ZIP64 extra fields, as `large_file(true)` does.
    pub(crate) fn with_zip64_sizes(mut self) -> Entry {
        let (size, compressed) = (
            u64::from(self.central.size),
            u64::from(self.central.compressed_size),
        );
        self.both(|f| {
            f.version_needed = 45;
            f.size = u32::MAX;
            f.compressed_size = u32::MAX;
            f.extra = zip64_extra(&[size, compressed]);
        });
        self.made_by = 0x032D;
        self
    }
}

/// The plain end-of-central-directory record; `None` fields take the values `zip` would write.
#[derive(Clone, Debug, Default)]
pub(crate) struct End {
    pub disk: u16,
    pub directory_disk: u16,
    pub count_here: Option<u16>,
    pub count: Option<u16>,
    pub size: Option<u32>,
    pub offset: Option<u32>,
    pub comment: Vec<u8>,
}

/// The ZIP64 end record and locator; `None` fields take the values `zip` would write.
#[derive(Clone, Debug, Default)]
pub(crate) struct Zip64End {
    pub record_size: Option<u64>,
    pub version_needed: Option<u16>,
    pub disk: u32,
    pub directory_disk: u32,
    pub count_here: Option<u64>,
    pub count: Option<u64>,
    pub size: Option<u64>,
    pub offset: Option<u64>,
    pub extensible: Vec<u8>,
    pub locator_disk: u32,
    pub locator_offset: Option<u64>,
    pub total_disks: Option<u32>,
}

/// A whole file: junk before, the archive, junk after.
#[derive(Clone, Debug, Default)]
pub(crate) struct Forge {
    /// Bytes before the archive that its offsets do not count (as `cat junk a.zip` makes).
    pub prefix: Vec<u8>,
    /// Bytes at the start of the archive that its offsets do count (as `zip -A` makes).
    pub lead: Vec<u8>,
    pub entries: Vec<Entry>,
    /// Bytes between the last local record and the central directory.
    pub between: Vec<u8>,
    /// Bytes between the central directory and the end records.
    pub after_directory: Vec<u8>,
    pub zip64: Option<Zip64End>,
    pub end: End,
    /// Bytes after the end record.
    pub suffix: Vec<u8>,
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_fields(out: &mut Vec<u8>, f: &Fields) {
    put16(out, f.flags);
    put16(out, f.method);
    put16(out, f.time);
    put16(out, f.date);
    put32(out, f.crc32);
    put32(out, f.compressed_size);
    put32(out, f.size);
    put16(out, f.name.len() as u16);
    put16(out, f.extra.len() as u16);
}

impl Forge {
    pub(crate) fn new(entries: Vec<Entry>) -> Forge {
        Forge {
            entries,
            ..Forge::default()
        }
    }

    /// The same forge with ZIP64 end records.
    pub(crate) fn with_zip64_end(mut self) -> Forge {
        self.zip64 = Some(Zip64End::default());
        self
    }

    pub(crate) fn build(&self) -> Vec<u8> {
        let mut out = self.prefix.clone();
        let base = out.len();
        out.extend_from_slice(&self.lead);
        let mut offsets = Vec::new();
        for e in &self.entries {
            offsets.push((out.len() - base) as u32);
            if e.write_local {
                out.extend_from_slice(&local_record(e));
            }
        }
        out.extend_from_slice(&self.between);
        let directory_start = (out.len() - base) as u64;
        for (e, written_at) in self.entries.iter().zip(offsets) {
            put32(&mut out, 0x0201_4b50);
            put16(&mut out, e.made_by);
            put16(&mut out, e.central.version_needed);
            // The central header goes on with comment length, disk, attributes and offset.
            put_fields(&mut out, &e.central);
            put16(&mut out, e.comment.len() as u16);
            put16(&mut out, e.disk);
            put16(&mut out, e.internal_attributes);
            put32(&mut out, e.external_attributes);
            put32(&mut out, e.offset.unwrap_or(written_at));
            out.extend_from_slice(&e.central.name);
            out.extend_from_slice(&e.central.extra);
            out.extend_from_slice(&e.comment);
        }
        let directory_size = (out.len() - base) as u64 - directory_start;
        out.extend_from_slice(&self.after_directory);
        let count = self.entries.len() as u64;
        if let Some(z) = &self.zip64 {
            let at = (out.len() - base) as u64;
            let version = z.version_needed.unwrap_or(
                self.entries
                    .iter()
                    .map(|e| e.central.version_needed)
                    .max()
                    .unwrap_or(10),
            );
            put32(&mut out, 0x0606_4b50);
            put64(
                &mut out,
                z.record_size.unwrap_or(44 + z.extensible.len() as u64),
            );
            put16(&mut out, version);
            put16(&mut out, version);
            put32(&mut out, z.disk);
            put32(&mut out, z.directory_disk);
            put64(&mut out, z.count_here.unwrap_or(count));
            put64(&mut out, z.count.unwrap_or(count));
            put64(&mut out, z.size.unwrap_or(directory_size));
            put64(&mut out, z.offset.unwrap_or(directory_start));
            out.extend_from_slice(&z.extensible);
            put32(&mut out, 0x0706_4b50);
            put32(&mut out, z.locator_disk);
            put64(&mut out, z.locator_offset.unwrap_or(at));
            put32(&mut out, z.total_disks.unwrap_or(1));
        }
        let zip64 = self.zip64.is_some();
        let short_count = count.min(0xFFFF) as u16;
        put32(&mut out, 0x0605_4b50);
        put16(&mut out, self.end.disk);
        put16(&mut out, self.end.directory_disk);
        put16(&mut out, self.end.count_here.unwrap_or(short_count));
        put16(&mut out, self.end.count.unwrap_or(short_count));
        let size = if zip64 {
            u32::MAX
        } else {
            directory_size as u32
        };
        put32(&mut out, self.end.size.unwrap_or(size));
        put32(
            &mut out,
            self.end
                .offset
                .unwrap_or(directory_start.min(u64::from(u32::MAX)) as u32),
        );
        put16(&mut out, self.end.comment.len() as u16);
        out.extend_from_slice(&self.end.comment);
        out.extend_from_slice(&self.suffix);
        out
    }
}

/// The bytes of one entry's local record (header, name, extra, data), as `Forge::build` writes it.
pub(crate) fn local_record(e: &Entry) -> Vec<u8> {
    let mut out = Vec::new();
    put32(&mut out, 0x0403_4b50);
    put16(&mut out, e.local.version_needed);
    put_fields(&mut out, &e.local);
    out.extend_from_slice(&e.local.name);
    out.extend_from_slice(&e.local.extra);
    out.extend_from_slice(&e.data);
    out
}
