//! The strict ZIP reader against hostile archives that these tests forge byte by byte, one test
//! per hostile class, plus round trips of archives that `write_zip` and the zip crate write.

mod strict_zip_forge;

use std::io::{Cursor, Write};

use evidence_archive::strict_zip::{
    Encryption, EndRecord, FileKind, Header, Limits, Method, NameFault, Record, StrictZip,
    ZipProblem,
};
use strict_zip_forge::{Entry, Forge, Zip64End, local_record, mtime, write, zip64_extra};
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

type Zip = StrictZip<Cursor<Vec<u8>>>;

fn open(bytes: Vec<u8>) -> Result<Zip, Vec<ZipProblem>> {
    StrictZip::open(Cursor::new(bytes), Limits::default())
}

/// Everything `open` reports about an archive it must refuse; each message is one line.
fn problems_with(bytes: Vec<u8>, limits: Limits) -> Vec<ZipProblem> {
    match StrictZip::open(Cursor::new(bytes), limits) {
        Ok(zip) => panic!("accepted a hostile archive: {:#?}", zip.entries()),
        Err(found) => {
            assert!(!found.is_empty(), "refused without saying why");
            for problem in &found {
                let message = problem.to_string();
                assert!(!message.contains('\n'), "multi-line message: {message}");
            }
            found
        }
    }
}

fn problems(bytes: Vec<u8>) -> Vec<ZipProblem> {
    problems_with(bytes, Limits::default())
}

/// Assert that `open` refuses the bytes with (at least) a problem matching the pattern.
macro_rules! assert_refused {
    ($bytes:expr, $pattern:pat $(if $guard:expr)?) => {{
        let found = problems($bytes);
        assert!(
            found.iter().any(|p| matches!(p, $pattern $(if $guard)?)),
            "expected {} among {:#?}",
            stringify!($pattern),
            found
        );
        found
    }};
}

/// Assert that `open` refuses the bytes with exactly one problem, matching the pattern.
macro_rules! assert_only {
    ($bytes:expr, $pattern:pat $(if $guard:expr)?) => {{
        let found = problems($bytes);
        assert!(
            found.len() == 1 && matches!(&found[0], $pattern $(if $guard)?),
            "expected only {} but got {:#?}",
            stringify!($pattern),
            found
        );
        found
    }};
}

/// Every entry's name and content, or the first read problem.
fn read_all(zip: &mut Zip) -> Result<Vec<(String, Vec<u8>)>, ZipProblem> {
    let names: Vec<String> = zip.entries().iter().map(|e| e.name.clone()).collect();
    let mut out = Vec::new();
    for (i, name) in names.into_iter().enumerate() {
        let mut content = Vec::new();
        zip.read_entry(i, &mut |chunk| {
            content.extend_from_slice(chunk);
            Ok(())
        })?;
        out.push((name, content));
    }
    Ok(out)
}

fn owned(entries: &[(&str, &[u8])]) -> Vec<(String, Vec<u8>)> {
    entries
        .iter()
        .map(|(n, c)| ((*n).to_owned(), c.to_vec()))
        .collect()
}

/// An archive written by the zip crate itself, e.g. with deflate.
fn zip_crate_archive(entries: &[(&str, &[u8])], method: CompressionMethod, large: bool) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(method)
        .last_modified_time(mtime())
        .unix_permissions(0o644)
        .large_file(large);
    for (name, bytes) in entries {
        writer
            .start_file(*name, options)
            .expect("starting an entry");
        writer.write_all(bytes).expect("writing in memory");
    }
    writer.finish().expect("finishing in memory").into_inner()
}

/// Bytes that do not compress: a fixed xorshift stream.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

fn stored(name: &str, content: &[u8]) -> Entry {
    Entry::stored(name, content)
}

fn forge(entries: Vec<Entry>) -> Vec<u8> {
    Forge::new(entries).build()
}

fn entry_at(problem_entry: &evidence_archive::strict_zip::EntryRef, index: usize) -> bool {
    problem_entry.index == index
}

const A: &str = "run-000001/a.txt";
const B: &str = "run-000001/b.txt";

// ---------------------------------------------------------------------------------------------
// Archives that must be accepted.

#[test]
fn the_forge_writes_byte_for_byte_what_write_zip_writes() {
    let written = write(&[(A, b"alpha"), (B, b"")]);
    assert_eq!(forge(vec![stored(A, b"alpha"), stored(B, b"")]), written);
}

#[test]
fn a_valid_archive_round_trips_names_sizes_and_contents() {
    let big = noise(3 * 1024 * 1024 + 17, 7);
    let entries: Vec<(&str, &[u8])> = vec![
        ("run-000001/bag-info.txt", b"Source-Organization: x\n"),
        ("run-000001/bagit.txt", b"BagIt-Version: 1.0\n"),
        ("run-000001/data/items/i-1/artefact/big.bin", &big),
        ("run-000001/data/items/i-1/artefact/empty", b""),
    ];
    let bytes = write(&entries);
    let mut zip = open(bytes.clone()).unwrap();
    assert_eq!(zip.top_directory(), Some("run-000001"));
    let mut expected_offset = 0;
    for (entry, (name, content)) in zip.entries().iter().zip(&entries) {
        assert_eq!(entry.name, *name);
        assert_eq!(entry.size, content.len() as u64);
        assert_eq!(entry.compressed_size, content.len() as u64);
        assert_eq!(entry.method, Method::Stored);
        assert_eq!(entry.crc32, crc32fast::hash(content));
        assert_eq!(entry.local_header_offset, expected_offset);
        assert_eq!(entry.data_offset, expected_offset + 30 + name.len() as u64);
        expected_offset = entry.data_offset + entry.size;
    }
    let mut largest_chunk = 0;
    zip.read_entry(2, &mut |chunk| {
        largest_chunk = largest_chunk.max(chunk.len());
        Ok(())
    })
    .unwrap();
    assert_eq!(
        largest_chunk,
        1024 * 1024,
        "stored data passes in 1 MiB chunks"
    );
    assert_eq!(read_all(&mut zip).unwrap(), owned(&entries));
    assert_eq!(zip.into_inner().into_inner(), bytes);
}

#[test]
fn deflated_entries_from_the_zip_crate_are_read() {
    let text = b"evidence ".repeat(10_000);
    let random = noise(200_000, 3);
    let entries: Vec<(&str, &[u8])> = vec![
        ("run-000001/a.txt", &text),
        ("run-000001/b.bin", &random),
        ("run-000001/c", b""),
    ];
    let bytes = zip_crate_archive(&entries, CompressionMethod::Deflated, false);
    let mut zip = open(bytes).unwrap();
    assert!(zip.entries().iter().all(|e| e.method == Method::Deflate));
    assert!(zip.entries()[0].compressed_size < 1000);
    assert_eq!(read_all(&mut zip).unwrap(), owned(&entries));
}

#[test]
fn a_well_formed_zip64_archive_is_accepted() {
    // ZIP64 extra fields and end records, forged on small entries.
    let mut zip64 = Forge::new(vec![
        stored(A, b"alpha").with_zip64_sizes(),
        stored(B, b"bravo"),
    ])
    .with_zip64_end();
    let mut zip = open(zip64.build()).unwrap();
    assert_eq!(
        read_all(&mut zip).unwrap(),
        owned(&[(A, b"alpha"), (B, b"bravo")])
    );

    // The same with the end record's fields holding values instead of "see ZIP64".
    // Two local records of 30 + 16 name bytes + 5 data bytes, one with a 20-byte ZIP64 field;
    // two central headers of 46 + 16 bytes, one with a 20-byte ZIP64 field.
    zip64.end.offset = Some(2 * (30 + 16 + 5) + 20);
    zip64.end.size = Some(2 * (46 + 16) + 20);
    assert!(open(zip64.build()).is_ok());

    // What the zip crate writes for `large_file(true)`, deflated or not.
    for method in [CompressionMethod::Stored, CompressionMethod::Deflated] {
        let bytes = zip_crate_archive(&[(A, b"alpha"), (B, b"")], method, true);
        let mut zip = open(bytes).unwrap();
        assert_eq!(
            read_all(&mut zip).unwrap(),
            owned(&[(A, b"alpha"), (B, b"")])
        );
    }
}

#[test]
fn more_than_65535_entries_get_zip64_end_records_and_are_accepted() {
    let names: Vec<String> = (0..65_536)
        .map(|i| format!("run-000001/data/f{i:05}"))
        .collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    let bytes = write(&entries);
    let locator = bytes.len() - 22 - 20;
    assert_eq!(bytes[locator..locator + 4], [b'P', b'K', 6, 7]);
    let mut zip = open(bytes).unwrap();
    assert_eq!(zip.entries().len(), 65_536);
    assert_eq!(zip.read_small(65_535, 1).unwrap(), b"x");
}

// ---------------------------------------------------------------------------------------------
// Unsafe names.

#[test]
fn path_traversal_is_refused() {
    assert_only!(
        forge(vec![stored("run-1/../../etc/passwd", b"x")]),
        ZipProblem::UnsafeName {
            fault: NameFault::ParentComponent,
            ..
        }
    );
}

#[test]
fn absolute_paths_are_refused() {
    assert_only!(
        forge(vec![stored("/etc/passwd", b"x")]),
        ZipProblem::UnsafeName {
            fault: NameFault::Absolute,
            ..
        }
    );
}

#[test]
fn backslashes_are_refused() {
    assert_only!(
        forge(vec![stored("run-1\\..\\..\\evil", b"x")]),
        ZipProblem::UnsafeName {
            fault: NameFault::Backslash,
            ..
        }
    );
}

#[test]
fn drive_letters_are_refused() {
    assert_only!(
        forge(vec![stored("C:/Windows/evil", b"x")]),
        ZipProblem::UnsafeName {
            fault: NameFault::DriveLetter,
            ..
        }
    );
}

#[test]
fn every_other_unsafe_name_is_refused_with_its_fault() {
    let cases: &[(&[u8], NameFault)] = &[
        (b"run-1/a\0.txt", NameFault::ControlCharacter),
        (b"run-1/a\r\n.txt", NameFault::ControlCharacter),
        (b"run-1/./a", NameFault::CurrentComponent),
        (b"run-1//a", NameFault::EmptyComponent),
        (b"run-1/\xc0\xaf", NameFault::NotUtf8),
        (b"run-1/a:b", NameFault::ForbiddenCharacter(':')),
        (b"run-1/a*", NameFault::ForbiddenCharacter('*')),
        (b"", NameFault::Empty),
    ];
    for (name, fault) in cases {
        let mut entry = stored(A, b"x");
        entry.both(|f| f.name = name.to_vec());
        let found = problems(forge(vec![entry]));
        assert!(
            matches!(&found[..], [ZipProblem::UnsafeName { fault: f, .. }] if f == fault),
            "{name:?}: {found:#?}"
        );
    }
    let limits = Limits {
        max_name_len: 10,
        ..Limits::default()
    };
    let found = problems_with(forge(vec![stored("run-1/abcde", b"x")]), limits);
    assert!(matches!(
        &found[..],
        [ZipProblem::UnsafeName {
            fault: NameFault::TooLong { len: 11, limit: 10 },
            ..
        }]
    ));
}

#[test]
fn a_directory_entry_is_refused() {
    let mut directory = stored("run-000001/data/", b"");
    directory.external_attributes = (0o040_755 << 16) | 0x10;
    let found = problems(forge(vec![directory, stored(A, b"x")]));
    assert!(found.iter().any(|p| matches!(
        p,
        ZipProblem::UnsafeName {
            fault: NameFault::DirectoryEntry,
            ..
        }
    )));
    assert!(found.iter().any(|p| matches!(
        p,
        ZipProblem::NotRegularFile {
            kind: FileKind::Directory,
            ..
        }
    )));

    // Made on MS-DOS: the directory attribute bit.
    let mut dos = stored(A, b"");
    dos.made_by = 0x0014;
    dos.external_attributes = 0x10;
    assert_only!(
        forge(vec![dos]),
        ZipProblem::NotRegularFile {
            kind: FileKind::Directory,
            ..
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Anything but a regular file.

#[test]
fn a_symlink_entry_is_refused() {
    let mut link = stored(A, b"/etc/passwd");
    link.external_attributes = 0o120_777 << 16;
    assert_only!(
        forge(vec![link]),
        ZipProblem::NotRegularFile {
            kind: FileKind::Symlink,
            ..
        }
    );
}

#[test]
fn devices_pipes_sockets_and_untyped_modes_are_refused() {
    let cases = [
        (0o020_644, FileKind::CharDevice),
        (0o060_644, FileKind::BlockDevice),
        (0o010_644, FileKind::Fifo),
        (0o140_644, FileKind::Socket),
        (0o000_644, FileKind::Unknown { mode: 0o644 }),
    ];
    for (mode, kind) in cases {
        let mut entry = stored(A, b"x");
        entry.external_attributes = mode << 16;
        let found = problems(forge(vec![entry]));
        assert!(
            matches!(&found[..], [ZipProblem::NotRegularFile { kind: k, .. }] if *k == kind),
            "{mode:o}: {found:#?}"
        );
    }
}

#[test]
fn an_unknown_host_system_is_refused() {
    let mut entry = stored(A, b"x");
    entry.made_by = 0x050A;
    assert_only!(
        forge(vec![entry]),
        ZipProblem::UnsupportedHostSystem { system: 5, .. }
    );
}

// ---------------------------------------------------------------------------------------------
// Duplicates.

#[test]
fn a_duplicate_name_is_refused() {
    let found = assert_only!(
        forge(vec![stored(A, b"first"), stored(A, b"second")]),
        ZipProblem::DuplicateName { entry, first } if entry_at(entry, 1) && entry_at(first, 0)
    );
    assert_eq!(
        found[0].to_string(),
        "entry #2 \"run-000001/a.txt\" repeats the name of entry #1 \"run-000001/a.txt\""
    );
}

#[test]
fn names_equal_after_case_folding_are_refused_and_both_named() {
    let found = assert_only!(
        forge(vec![stored("run-1/A.txt", b"1"), stored("run-1/a.txt", b"2")]),
        ZipProblem::CaseCollision { entry, other } if entry_at(entry, 1) && entry_at(other, 0)
    );
    let message = found[0].to_string();
    assert!(message.contains("\"run-1/A.txt\"") && message.contains("\"run-1/a.txt\""));

    // Three spellings and an exact repeat: every later entry is named with the one it repeats.
    let found = problems(forge(vec![
        stored("run-1/a.TXT", b"1"),
        stored("run-1/A.txt", b"2"),
        stored("run-1/a.txt", b"3"),
        stored("run-1/A.txt", b"4"),
    ]));
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found.iter().any(|p| matches!(
        p,
        ZipProblem::DuplicateName { entry, first } if entry_at(entry, 3) && entry_at(first, 1)
    )));
}

// ---------------------------------------------------------------------------------------------
// Local header against central entry.

#[test]
fn a_local_header_that_disagrees_with_its_central_entry_is_refused() {
    type Change = fn(&mut strict_zip_forge::Fields);
    let cases: &[(&str, Change)] = &[
        ("name", |f| f.name = B.as_bytes().to_vec()),
        ("compression method", |f| f.method = 8),
        ("general-purpose flags", |f| f.flags = 2),
        ("CRC-32", |f| f.crc32 ^= 1),
        ("size", |f| f.size = 4),
        ("compressed size", |f| f.compressed_size = 4),
        ("version needed to extract", |f| f.version_needed = 20),
        ("modification time", |f| f.time ^= 1),
        ("modification date", |f| f.date ^= 1),
    ];
    for (field, change) in cases {
        let mut entry = stored(A, b"alpha");
        change(&mut entry.local);
        let found = problems(forge(vec![entry]));
        assert!(
            matches!(&found[..], [ZipProblem::LocalHeaderMismatch { field: f, .. }] if f == field),
            "{field}: {found:#?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Layout: overlaps, gaps, lying sizes, data before and after.

#[test]
fn two_central_entries_pointing_at_one_local_header_are_refused() {
    let first = stored(A, b"alpha");
    let mut second = first.clone();
    second.central.name = B.as_bytes().to_vec();
    second.write_local = false;
    second.offset = Some(0);
    let found = assert_refused!(
        forge(vec![first, second]),
        ZipProblem::Overlap { next: Record::Entry(entry), offset: 0, .. } if entry_at(entry, 1)
    );
    assert!(
        found
            .iter()
            .any(|p| matches!(p, ZipProblem::LocalHeaderMismatch { field: "name", .. }))
    );
}

#[test]
fn an_overlapping_entry_bomb_is_refused() {
    // Each entry's data holds the next entry's whole local record, down to one kernel: a naive
    // reader inflates the kernel once per entry (quadratic output from linear input).
    let depth = 8;
    let names: Vec<String> = (0..=depth).map(|i| format!("run-1/bomb{i}")).collect();
    let mut entries = vec![stored(&names[depth], &[0u8; 4096])];
    for name in names[..depth].iter().rev() {
        let inner = local_record(&entries[0]);
        entries.insert(0, stored(name, &inner));
    }
    let mut offset = 0;
    for i in 1..entries.len() {
        offset += 30 + entries[i - 1].local.name.len() as u32;
        entries[i].write_local = false;
        entries[i].offset = Some(offset);
    }
    let found = problems(forge(entries));
    assert_eq!(found.len(), depth, "{found:#?}");
    assert!(
        found
            .iter()
            .all(|p| matches!(p, ZipProblem::Overlap { .. }))
    );
}

#[test]
fn lying_sizes_in_the_central_directory_are_refused() {
    // Both headers say 10 bytes but 1000 follow.
    let mut liar = stored(A, &[b'x'; 1000]);
    liar.both(|f| {
        f.size = 10;
        f.compressed_size = 10;
    });
    assert_only!(
        forge(vec![liar.clone(), stored(B, b"bravo")]),
        ZipProblem::Gap {
            next: Record::Entry(_),
            len: 990,
            ..
        }
    );
    assert_only!(
        forge(vec![liar]),
        ZipProblem::Gap {
            next: Record::CentralDirectory,
            len: 990,
            ..
        }
    );

    // Only the central directory lies.
    let mut liar = stored(A, &[b'x'; 1000]);
    liar.central.size = 10;
    liar.central.compressed_size = 10;
    let found = problems(forge(vec![liar]));
    for field in ["compressed size", "size"] {
        assert!(
            found.iter().any(
                |p| matches!(p, ZipProblem::LocalHeaderMismatch { field: f, .. } if *f == field)
            )
        );
    }

    // Sizes that claim more than the file holds.
    let mut liar = stored(A, b"alpha");
    liar.both(|f| {
        f.size = 1 << 30;
        f.compressed_size = 1 << 30;
    });
    assert_refused!(
        forge(vec![liar]),
        ZipProblem::Overlap {
            next: Record::CentralDirectory,
            ..
        }
    );
}

#[test]
fn gaps_between_records_are_refused() {
    let mut archive = Forge::new(vec![stored(A, b"alpha")]);
    archive.between = b"hidden".to_vec();
    assert_only!(
        archive.build(),
        ZipProblem::Gap {
            next: Record::CentralDirectory,
            len: 6,
            ..
        }
    );
}

#[test]
fn deflate_output_longer_or_shorter_than_declared_is_caught_while_reading() {
    let content = vec![b'a'; 5000];
    let mut longer = Entry::deflated(A, &content);
    longer.both(|f| f.size = 4000);
    let mut zip = open(forge(vec![longer])).unwrap();
    let mut received = 0;
    let err = zip
        .read_entry(0, &mut |chunk| {
            received += chunk.len();
            Ok(())
        })
        .unwrap_err();
    assert!(
        matches!(err, ZipProblem::ContentTooLong { declared: 4000, .. }),
        "{err}"
    );
    assert!(received <= 4000, "the sink got {received} bytes");

    let mut shorter = Entry::deflated(A, &content);
    shorter.both(|f| f.size = 6000);
    let mut zip = open(forge(vec![shorter])).unwrap();
    assert!(matches!(
        zip.read_small(0, 10_000),
        Err(ZipProblem::ContentTooShort {
            declared: 6000,
            actual: 5000,
            ..
        })
    ));
}

#[test]
fn deflate_streams_that_end_early_or_carry_trailing_bytes_are_caught_while_reading() {
    let content = noise(5000, 11);
    let mut trailing = Entry::deflated(A, &content);
    trailing.data.extend_from_slice(b"junk");
    trailing.both(|f| f.compressed_size += 4);
    let mut zip = open(forge(vec![trailing])).unwrap();
    assert!(matches!(
        zip.read_small(0, 10_000),
        Err(ZipProblem::DeflateTrailingBytes { len: 4, .. })
    ));

    let mut cut = Entry::deflated(A, &content);
    cut.data.truncate(cut.data.len() / 2);
    let len = cut.data.len() as u32;
    cut.both(|f| f.compressed_size = len);
    let mut zip = open(forge(vec![cut])).unwrap();
    let err = zip.read_small(0, 10_000).unwrap_err();
    assert!(
        matches!(
            err,
            ZipProblem::DeflateIncomplete { .. } | ZipProblem::DeflateCorrupt { .. }
        ),
        "{err}"
    );
}

#[test]
fn one_reader_reads_deflated_entries_before_and_after_a_corrupt_one() {
    // The reader keeps one inflater for every entry: what a broken stream left in it must not
    // reach the next entry.
    let first = b"first entry, deflated ".repeat(400);
    let second = b"second entry, cut short ".repeat(400);
    let third = b"third entry, read after the cut one ".repeat(400);
    let mut cut = Entry::deflated(B, &second);
    cut.data.truncate(cut.data.len() / 2);
    let len = cut.data.len() as u32;
    cut.both(|f| f.compressed_size = len);
    let c = "run-000001/data/c.txt";
    let mut zip = open(forge(vec![
        Entry::deflated(A, &first),
        cut,
        Entry::deflated(c, &third),
    ]))
    .unwrap();
    for _ in 0..2 {
        assert_eq!(zip.read_small(0, 100_000).unwrap(), first);
        assert!(zip.read_small(1, 100_000).is_err());
        assert_eq!(zip.read_small(2, 100_000).unwrap(), third);
    }
}

#[test]
fn prepended_data_is_refused() {
    let entries = || vec![stored(A, b"alpha"), stored(B, b"bravo")];
    // Junk the offsets do not count (`cat junk.bin a.zip`).
    let mut shifted = Forge::new(entries());
    shifted.prefix = vec![b'#'; 100];
    assert_only!(shifted.build(), ZipProblem::PrependedData { len: 100 });

    // Junk the offsets do count (`zip -A`, a self-extractor stub).
    let mut adjusted = Forge::new(entries());
    adjusted.lead = vec![b'#'; 100];
    assert_only!(adjusted.build(), ZipProblem::PrependedData { len: 100 });

    // A whole other archive in front.
    let mut two = write(&[("run-000002/x", b"other")]);
    let second = write(&[(A, b"alpha")]);
    let first_len = two.len() as u64;
    two.extend_from_slice(&second);
    assert_only!(two, ZipProblem::PrependedData { len } if *len == first_len);
}

#[test]
fn appended_data_is_refused() {
    let mut archive = Forge::new(vec![stored(A, b"alpha")]);
    archive.suffix = b"trailing bytes".to_vec();
    assert_only!(archive.build(), ZipProblem::AppendedData { len: 14, .. });

    // Beyond what a comment can hide: not even found as a ZIP.
    let mut bytes = write(&[(A, b"alpha")]);
    bytes.extend_from_slice(&[0u8; 70_000]);
    assert_only!(bytes, ZipProblem::Truncated { .. });
}

#[test]
fn an_archive_comment_is_refused() {
    let mut archive = Forge::new(vec![stored(A, b"alpha")]);
    archive.end.comment = b"signed: trust me".to_vec();
    assert_only!(archive.build(), ZipProblem::ArchiveComment { len: 16, .. });
}

#[test]
fn a_central_directory_that_does_not_end_at_the_end_record_is_refused() {
    let mut archive = Forge::new(vec![stored(A, b"alpha"), stored(B, b"bravo")]);
    archive.after_directory = b"padding".to_vec();
    assert_only!(
        archive.build(),
        ZipProblem::CentralDirectoryMisplaced { .. }
    );

    let mut archive = Forge::new(vec![stored(A, b"alpha")]);
    archive.end.size = Some(200);
    assert_only!(
        archive.build(),
        ZipProblem::CentralDirectoryMisplaced { .. }
    );
}

// ---------------------------------------------------------------------------------------------
// Entry flags and methods.

#[test]
fn encryption_is_refused() {
    let mut traditional = stored("run-1/a", b"x");
    traditional.both(|f| f.flags = 1);
    let mut strong = stored("run-1/b", b"x");
    strong.both(|f| f.flags = 1 | 1 << 6);
    let mut aes = stored("run-1/c", b"x");
    aes.both(|f| {
        f.flags = 1;
        f.method = 99;
    });
    let found = problems(forge(vec![traditional, strong, aes]));
    let schemes: Vec<Encryption> = found
        .iter()
        .filter_map(|p| match p {
            ZipProblem::Encrypted { scheme, .. } => Some(*scheme),
            _ => None,
        })
        .collect();
    assert_eq!(
        schemes,
        [Encryption::Traditional, Encryption::Strong, Encryption::Aes],
        "{found:#?}"
    );
    assert_eq!(found.len(), 3, "{found:#?}");
}

#[test]
fn unknown_compression_methods_are_refused() {
    for method in [1, 6, 9, 12, 14, 93, 95, 98] {
        let mut entry = stored(A, b"x");
        entry.both(|f| f.method = method);
        assert_only!(
            forge(vec![entry]),
            ZipProblem::UnsupportedMethod { method: m, .. } if *m == method
        );
    }
}

#[test]
fn the_data_descriptor_flag_is_refused() {
    let mut entry = stored(A, b"alpha");
    entry.both(|f| f.flags = 1 << 3);
    assert_only!(forge(vec![entry]), ZipProblem::DataDescriptor { .. });
}

#[test]
fn unsupported_flags_and_versions_are_refused() {
    let mut masked = stored(A, b"x");
    masked.both(|f| f.flags = 1 << 13 | 1 << 5);
    assert_only!(
        forge(vec![masked]),
        ZipProblem::UnsupportedFlags { flags: 0x2020, .. }
    );
    let mut newer = stored(A, b"x");
    newer.both(|f| f.version_needed = 63);
    assert_only!(
        forge(vec![newer]),
        ZipProblem::UnsupportedVersion { version: 63, .. }
    );
}

#[test]
fn a_stored_entry_whose_sizes_differ_is_refused() {
    let mut entry = stored(A, b"alpha");
    entry.both(|f| f.size = 6);
    assert_only!(
        forge(vec![entry]),
        ZipProblem::StoredSizeMismatch {
            compressed: 5,
            size: 6,
            ..
        }
    );
}

#[test]
fn extra_fields_other_than_zip64_and_comments_are_refused() {
    // An Info-ZIP Unicode Path field renames the entry for readers that honour it.
    let mut renamed = stored(A, b"x");
    renamed.both(|f| {
        f.extra = vec![0x75, 0x70, 5, 0, 1, 0, 0, 0, 0];
    });
    let found = problems(forge(vec![renamed]));
    for header in [Header::Local, Header::Central] {
        assert!(found.iter().any(|p| matches!(
            p,
            ZipProblem::UnexpectedExtraField { id: 0x7075, header: h, .. } if *h == header
        )));
    }

    let mut cut = stored(A, b"x");
    cut.central.extra = vec![0x55, 0x54, 9, 0, 1];
    assert_only!(
        forge(vec![cut]),
        ZipProblem::MalformedExtraField {
            header: Header::Central,
            ..
        }
    );

    let mut extra_zip64 = stored(A, b"x");
    extra_zip64.central.extra = zip64_extra(&[1]);
    assert_only!(
        forge(vec![extra_zip64]),
        ZipProblem::MalformedExtraField {
            header: Header::Central,
            ..
        }
    );

    let mut commented = stored(A, b"x");
    commented.comment = b"note".to_vec();
    assert_only!(
        forge(vec![commented]),
        ZipProblem::EntryComment { len: 4, .. }
    );
}

// ---------------------------------------------------------------------------------------------
// Content checks.

#[test]
fn a_crc_mismatch_is_caught_when_reading() {
    let mut bytes = write(&[(A, b"alpha")]);
    let data = 30 + A.len();
    bytes[data] ^= 0x20;
    let mut zip = open(bytes).unwrap();
    let err = zip.read_small(0, 100).unwrap_err();
    assert!(matches!(err, ZipProblem::CrcMismatch { .. }), "{err}");
    assert!(err.to_string().contains("corrupt"));
}

#[test]
fn every_truncation_of_a_small_archive_is_an_error() {
    let archives = [
        write(&[(A, b"alpha"), (B, b"bravo")]),
        zip_crate_archive(
            &[(A, &b"text ".repeat(50))],
            CompressionMethod::Deflated,
            false,
        ),
        Forge::new(vec![stored(A, b"alpha").with_zip64_sizes()])
            .with_zip64_end()
            .build(),
    ];
    for bytes in archives {
        assert!(open(bytes.clone()).is_ok());
        for len in 0..bytes.len() {
            problems(bytes[..len].to_vec());
        }
    }
}

#[test]
fn files_that_are_not_zips_are_refused() {
    assert_only!(Vec::new(), ZipProblem::NotAZip { len: 0 });
    assert_only!(b"hello".to_vec(), ZipProblem::NotAZip { len: 5 });
    assert_only!(noise(1000, 5), ZipProblem::NotAZip { len: 1000 });
    let mut cut = write(&[(A, b"alpha")]);
    cut.truncate(40);
    assert_only!(cut, ZipProblem::Truncated { len: 40 });
}

// ---------------------------------------------------------------------------------------------
// End records, disks and counts.

#[test]
fn multi_disk_archives_are_refused() {
    let mut archive = Forge::new(vec![stored(A, b"alpha")]);
    archive.end.disk = 1;
    assert_refused!(
        archive.build(),
        ZipProblem::MultiDisk {
            record: EndRecord::End,
            ..
        }
    );

    let mut entry = stored(A, b"alpha");
    entry.disk = 1;
    assert_only!(
        forge(vec![entry]),
        ZipProblem::EntryOnOtherDisk { disk: 1, .. }
    );

    let mut archive = Forge::new(vec![stored(A, b"alpha")]).with_zip64_end();
    if let Some(z) = archive.zip64.as_mut() {
        z.total_disks = Some(2);
    }
    assert_only!(
        archive.build(),
        ZipProblem::MultiDisk {
            record: EndRecord::Zip64Locator,
            ..
        }
    );

    let mut archive = Forge::new(vec![stored(A, b"alpha")]).with_zip64_end();
    if let Some(z) = archive.zip64.as_mut() {
        z.disk = 3;
    }
    assert_only!(
        archive.build(),
        ZipProblem::MultiDisk {
            record: EndRecord::Zip64End,
            ..
        }
    );
}

#[test]
fn entry_counts_that_disagree_with_the_central_directory_are_refused() {
    let mut archive = Forge::new(vec![stored(A, b"alpha"), stored(B, b"bravo")]);
    archive.end.count = Some(3);
    archive.end.count_here = Some(3);
    assert_only!(
        archive.build(),
        ZipProblem::EntryCountMismatch {
            record: EndRecord::End,
            declared: 3,
            actual: 2
        }
    );

    let mut archive = Forge::new(vec![stored(A, b"alpha")]);
    archive.end.count_here = Some(0);
    assert_only!(
        archive.build(),
        ZipProblem::MultiDisk {
            record: EndRecord::End,
            ..
        }
    );
}

#[test]
fn inconsistent_zip64_records_are_refused() {
    let base = || Forge::new(vec![stored(A, b"alpha"), stored(B, b"bravo")]).with_zip64_end();
    let change = |f: fn(&mut Zip64End)| {
        let mut archive = base();
        if let Some(z) = archive.zip64.as_mut() {
            f(z);
        }
        archive.build()
    };
    let mut archive = base();
    archive.end.count = Some(0xFFFF);
    archive.end.count_here = Some(0xFFFF);
    if let Some(z) = archive.zip64.as_mut() {
        z.count = Some(3);
        z.count_here = Some(3);
    }
    assert_only!(
        archive.build(),
        ZipProblem::EntryCountMismatch {
            record: EndRecord::Zip64End,
            declared: 3,
            actual: 2
        }
    );
    assert_only!(
        change(|z| z.locator_offset = Some(0)),
        ZipProblem::Zip64Inconsistent { .. }
    );
    assert_only!(
        change(|z| z.record_size = Some(50)),
        ZipProblem::Zip64Inconsistent { .. }
    );
    assert_only!(
        change(|z| z.extensible = vec![0; 6]),
        ZipProblem::Zip64Inconsistent { .. }
    );
    assert_only!(
        change(|z| z.version_needed = Some(62)),
        ZipProblem::Zip64Inconsistent { .. }
    );
    assert_refused!(
        change(|z| z.offset = Some(1000)),
        ZipProblem::CentralDirectoryMisplaced { .. }
    );

    // The plain end record must say "see ZIP64" or repeat the ZIP64 value.
    let mut archive = base();
    archive.end.count = Some(1);
    archive.end.count_here = Some(1);
    let found = assert_refused!(archive.build(), ZipProblem::Zip64Inconsistent { .. });
    assert!(found.iter().any(|p| matches!(
        p,
        ZipProblem::EntryCountMismatch {
            record: EndRecord::End,
            declared: 1,
            ..
        }
    )));
    let mut archive = base();
    archive.end.offset = Some(1);
    assert_refused!(archive.build(), ZipProblem::Zip64Inconsistent { .. });

    // A ZIP64 extra field whose length does not fit the values marked for it.
    let mut entry = stored(A, b"alpha").with_zip64_sizes();
    entry.central.extra = zip64_extra(&[5, 5, 0]);
    assert_only!(
        forge(vec![entry]),
        ZipProblem::MalformedExtraField {
            header: Header::Central,
            ..
        }
    );
    let mut entry = stored(A, b"alpha").with_zip64_sizes();
    entry.local.extra = zip64_extra(&[5]);
    assert_refused!(
        forge(vec![entry]),
        ZipProblem::MalformedExtraField {
            header: Header::Local,
            ..
        }
    );
    let mut entry = stored(A, b"alpha").with_zip64_sizes();
    entry.central.extra.clear();
    assert_refused!(
        forge(vec![entry]),
        ZipProblem::MalformedExtraField {
            header: Header::Central,
            ..
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Limits.

#[test]
fn limits_on_entries_sizes_and_ratio_are_enforced() {
    let two = || forge(vec![stored(A, b"alpha"), stored(B, b"bravo")]);
    let limits = |change: fn(&mut Limits)| {
        let mut limits = Limits::default();
        change(&mut limits);
        limits
    };
    let found = problems_with(two(), limits(|l| l.max_entries = 1));
    assert!(matches!(
        &found[..],
        [ZipProblem::TooManyEntries { count: 2, limit: 1 }]
    ));
    let found = problems_with(two(), limits(|l| l.max_entry_size = 4));
    assert_eq!(found.len(), 2);
    assert!(found.iter().all(|p| matches!(
        p,
        ZipProblem::EntryTooLarge {
            size: 5,
            limit: 4,
            ..
        }
    )));
    let found = problems_with(two(), limits(|l| l.max_total_uncompressed = 9));
    assert!(matches!(
        &found[..],
        [ZipProblem::TotalTooLarge {
            total: 10,
            limit: 9
        }]
    ));
    let text = forge(vec![Entry::deflated(A, &b"evidence ".repeat(10_000))]);
    let found = problems_with(text.clone(), limits(|l| l.max_deflate_ratio = 100));
    assert!(matches!(
        &found[..],
        [ZipProblem::RatioTooHigh { limit: 100, .. }]
    ));
    assert!(open(text).is_ok());

    // A count in the end record above the limit is refused before anything is allocated.
    let mut archive = Forge::new(vec![stored(A, b"alpha")]).with_zip64_end();
    if let Some(z) = archive.zip64.as_mut() {
        z.count = Some(u64::MAX);
        z.count_here = Some(u64::MAX);
    }
    assert_refused!(archive.build(), ZipProblem::TooManyEntries { .. });
}

// ---------------------------------------------------------------------------------------------
// Reporting.

#[test]
fn every_problem_is_reported_not_only_the_first() {
    let mut link = stored("run-1/link", b"/etc/shadow");
    link.external_attributes = 0o120_777 << 16;
    let mut encrypted = stored("run-1/secret", b"x");
    encrypted.both(|f| f.flags = 1);
    let mut archive = Forge::new(vec![
        stored("run-1/../../etc/cron.d/x", b"x"),
        link,
        encrypted,
        stored("run-1/dup", b"1"),
        stored("run-1/dup", b"2"),
    ]);
    archive.suffix = b"!".to_vec();
    let found = problems(archive.build());
    let messages: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert_eq!(found.len(), 5, "{messages:#?}");
    assert!(matches!(found[0], ZipProblem::AppendedData { len: 1, .. }));
    for expected in [
        "path traversal",
        "symbolic link",
        "encrypted",
        "repeats",
        "after the end",
    ] {
        assert!(
            messages.iter().any(|m| m.contains(expected)),
            "{expected}: {messages:#?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Fuzzing by byte flips.

/// A flipped archive is either refused (by `open` or by reading) or reads back exactly the
/// original names and contents: a flip can pass only where it hits a field nothing relies on.
fn check_flipped(bytes: Vec<u8>, original: &[(String, Vec<u8>)]) -> bool {
    match open(bytes) {
        Err(found) => {
            assert!(!found.is_empty());
            false
        }
        Ok(mut zip) => match read_all(&mut zip) {
            Err(_) => false,
            Ok(read) => {
                assert_eq!(read, original, "a corrupted archive read back differently");
                true
            }
        },
    }
}

#[test]
fn every_single_bit_flip_is_refused_or_changes_nothing_read() {
    let small = write(&[(A, b"alpha"), (B, b"bravo and more")]);
    let archives = [
        small.clone(),
        zip_crate_archive(
            &[(A, &b"text ".repeat(30)), (B, b"")],
            CompressionMethod::Deflated,
            false,
        ),
        Forge::new(vec![
            stored(A, b"alpha").with_zip64_sizes(),
            stored(B, b"b"),
        ])
        .with_zip64_end()
        .build(),
    ];
    for bytes in archives {
        let original = read_all(&mut open(bytes.clone()).unwrap()).unwrap();
        let mut passed = Vec::new();
        for at in 0..bytes.len() {
            for bit in 0..8 {
                let mut flipped = bytes.clone();
                flipped[at] ^= 1 << bit;
                if check_flipped(flipped, &original) {
                    passed.push(at);
                }
            }
        }
        passed.dedup();
        // Only fields no check relies on may pass: the central entries' "made by" version
        // byte, internal attributes and permission bits.
        assert!(passed.len() < 40, "too many flips passed, at {passed:?}");
    }

    // Every flip in stored content passes `open` (content is not read there) and fails the read.
    let data = 30 + A.len()..30 + A.len() + 5;
    for at in data {
        for bit in 0..8 {
            let mut flipped = small.clone();
            flipped[at] ^= 1 << bit;
            let mut zip = open(flipped).unwrap();
            assert!(matches!(
                zip.read_small(0, 100),
                Err(ZipProblem::CrcMismatch { .. })
            ));
        }
    }
}

#[test]
fn random_corruption_never_panics_and_never_changes_what_is_read() {
    let text = b"evidence ".repeat(40);
    let archives = [
        write(&[(A, b"alpha"), (B, &text)]),
        zip_crate_archive(&[(A, &text), (B, b"x")], CompressionMethod::Deflated, false),
    ];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for bytes in archives {
        let original = read_all(&mut open(bytes.clone()).unwrap()).unwrap();
        for _ in 0..3000 {
            let mut corrupted = bytes.clone();
            for _ in 0..1 + next() % 8 {
                let at = (next() % bytes.len() as u64) as usize;
                corrupted[at] = next() as u8;
            }
            if next() % 4 == 0 {
                let len = (next() % bytes.len() as u64) as usize;
                corrupted.truncate(len);
            }
            check_flipped(corrupted, &original);
        }
    }
}
