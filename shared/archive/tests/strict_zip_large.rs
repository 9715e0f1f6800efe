//! The strict reader on a real ZIP64 archive: `write_zip` writes an entry of more than 4 GiB to a
//! temporary file, and the reader must open it and stream it back with the right size and digest.
//! The entry is zeros written as holes, so the file takes a few kilobytes of disk, not 4 GiB.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::time::Instant;

use evidence_archive::strict_zip::{Limits, StrictZip};
use evidence_archive::zip_write::{EntryToWrite, ZIP64_THRESHOLD, write_zip, zip_time};
use evidence_model::Sha256Digest;
use sha2::{Digest, Sha256};

const LARGE: u64 = (4 << 30) + 4096;
const FILL: u8 = 0;

/// A file that turns every large all-zero write into a hole (a seek past it): the kernel reads
/// holes back as zeros, so the reader sees every byte while the disk holds almost none. Small
/// writes (headers, and the writer's patches of them) are always written.
struct HoleMaker(File);

impl Write for HoleMaker {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() >= 64 * 1024 && buf.iter().all(|&b| b == 0) {
            self.0.seek(SeekFrom::Current(buf.len() as i64))?;
            return Ok(buf.len());
        }
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl Seek for HoleMaker {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.0.seek(pos)
    }
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
}

fn bytes_at(file: &mut std::fs::File, offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    file.seek(SeekFrom::Start(offset))
        .expect("seeking the archive");
    file.read_exact(&mut buf).expect("reading the archive");
    buf
}

#[test]
fn an_entry_above_4_gib_written_by_write_zip_opens_and_reads_back() {
    const { assert!(LARGE > ZIP64_THRESHOLD) };
    let started = Instant::now();
    let mut staged = Sha256::new();
    let mut fill = io::repeat(FILL).take(LARGE);
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = fill.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        staged.update(&buf[..n]);
    }
    let large_digest = Sha256Digest(staged.finalize().into());
    let small = b"after the large one\n";
    let entries = vec![
        EntryToWrite {
            name: "run-000001/data/large.bin".to_owned(),
            size: LARGE,
            sha256: large_digest,
            content: Box::new(io::repeat(FILL).take(LARGE)),
        },
        EntryToWrite {
            name: "run-000001/data/small.txt".to_owned(),
            size: small.len() as u64,
            sha256: Sha256Digest::of(small),
            content: Box::new(&small[..]),
        },
    ];
    let time = zip_time(jiff::Timestamp::from_second(1_700_000_000).unwrap());
    let HoleMaker(mut file) =
        write_zip(HoleMaker(tempfile::tempfile().unwrap()), entries, time).unwrap();
    let written = started.elapsed();
    let on_disk = file.metadata().unwrap().blocks() * 512;
    assert!(
        on_disk < 64 << 20,
        "the test's archive should be sparse, it takes {on_disk} bytes of disk"
    );

    let mut zip = StrictZip::open(file.try_clone().unwrap(), Limits::default()).unwrap();
    let entries = zip.entries().to_vec();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].size, LARGE);
    assert_eq!(entries[0].compressed_size, LARGE);
    assert!(entries[1].local_header_offset > u64::from(u32::MAX));
    assert_eq!(zip.read_small(1, 100).unwrap(), small);

    let read_started = Instant::now();
    let mut hasher = Sha256::new();
    let mut seen = 0u64;
    zip.read_entry(0, &mut |chunk| {
        seen += chunk.len() as u64;
        hasher.update(chunk);
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, LARGE);
    assert_eq!(Sha256Digest(hasher.finalize().into()), large_digest);
    let read = read_started.elapsed();

    // The layout the zip crate writes for this archive, which the reader accepts.
    // Large entry, local header: version 4.5, both sizes 0xFFFFFFFF, a 20-byte ZIP64 field
    // holding size then compressed size.
    let local = bytes_at(&mut file, 0, 30 + 25 + 20);
    assert_eq!(u16_at(&local, 4), 45);
    assert_eq!(
        (u32_at(&local, 18), u32_at(&local, 22)),
        (u32::MAX, u32::MAX)
    );
    assert_eq!(u16_at(&local, 28), 20);
    assert_eq!(u16_at(&local, 55), 1);
    assert_eq!(u16_at(&local, 57), 16);
    assert_eq!((u64_at(&local, 59), u64_at(&local, 67)), (LARGE, LARGE));
    // The end: ZIP64 end record (56 bytes), locator (20), plain end record (22), nothing after.
    let len = file.seek(SeekFrom::End(0)).unwrap();
    let tail = bytes_at(&mut file, len - 98, 98);
    assert_eq!(u32_at(&tail, 0), 0x0606_4b50);
    assert_eq!(u64_at(&tail, 4), 44);
    assert_eq!(u64_at(&tail, 32), 2);
    let directory_offset = u64_at(&tail, 48);
    let directory_size = u64_at(&tail, 40);
    assert_eq!(directory_offset + directory_size, len - 98);
    assert_eq!(u32_at(&tail, 56), 0x0706_4b50);
    assert_eq!(u64_at(&tail, 64), len - 98);
    assert_eq!(u32_at(&tail, 72), 1);
    assert_eq!(u32_at(&tail, 76), 0x0605_4b50);
    assert_eq!(u16_at(&tail, 86), 2, "the plain end record keeps the count");
    assert_eq!(u32_at(&tail, 88), u32::MAX, "directory size: see ZIP64");
    assert_eq!(u32_at(&tail, 92), u32::MAX, "directory offset: see ZIP64");
    // Central headers: the large entry's ZIP64 field holds both sizes (16 bytes); the small
    // entry, which starts beyond 4 GiB, gets one holding only its offset (8 bytes).
    let directory = bytes_at(&mut file, directory_offset, directory_size as usize);
    assert_eq!(u16_at(&directory, 4), 0x032D, "made by Unix, version 4.5");
    assert_eq!(u16_at(&directory, 30), 20);
    assert_eq!(u32_at(&directory, 42), 0, "offset 0 stays in the header");
    let second = 46 + 25 + 20;
    assert_eq!(u16_at(&directory, second + 4), 0x030A);
    assert_eq!(
        u16_at(&directory, second + 6),
        10,
        "version 1.0: not a large file"
    );
    assert_eq!(u32_at(&directory, second + 20), small.len() as u32);
    assert_eq!(u32_at(&directory, second + 42), u32::MAX);
    assert_eq!(u16_at(&directory, second + 30), 12);
    assert_eq!(
        u64_at(&directory, second + 46 + 25 + 4),
        entries[1].local_header_offset
    );

    eprintln!(
        "{LARGE} bytes: staged hash and write {written:.1?}, read with CRC-32 and SHA-256 {read:.1?}"
    );
}
