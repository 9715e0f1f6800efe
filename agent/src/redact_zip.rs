//! Redaction inside zip artefacts (GitHub workflow logs and artifacts): the zip is read as it
//! streams in, each text entry is redacted on its way into a new zip, binary entries are copied.
//! Nothing unredacted is written; memory stays at one entry's buffers whatever the zip's size.

use std::io::{Read, Seek, Write};

use evidence_model::Redaction;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::redaction::{SourceRedaction, as_redactions};

/// Entry names whose content is text the rules scan (the logs GitHub zips are `.txt`).
const TEXT_EXTENSIONS: &[&str] = &[
    "txt",
    "log",
    "json",
    "jsonl",
    "ndjson",
    "csv",
    "tsv",
    "md",
    "yml",
    "yaml",
    "xml",
    "toml",
    "ini",
    "cfg",
    "conf",
    "env",
    "properties",
    "sh",
    "py",
    "html",
    "out",
    "err",
];

/// Why a zip could not be redacted. The item is then not staged: sealing it unscanned could
/// put a secret into an archive that cannot be changed.
#[derive(Debug, thiserror::Error)]
pub enum ZipRedactError {
    #[error(
        "cannot scan this zip for secrets: {0}. Zips whose entries carry their sizes after the data (streamed zips) cannot be read as they arrive; to seal such zips unscanned, list the media types to scan in [source.redact] media_types without application/zip"
    )]
    Unreadable(zip::result::ZipError),
    #[error("cannot write the redacted zip: {0}")]
    Write(#[source] std::io::Error),
}

/// What redacting a zip did.
#[derive(Debug, Default)]
pub struct ZipRedacted {
    /// Values replaced, in all entries.
    pub replaced: u64,
    /// The first replacements, each targeted at `artefact:<entry name>` with its byte range in
    /// that entry's redacted content.
    pub redactions: Vec<Redaction>,
}

/// Whether `media_type` is a zip archive.
pub fn is_zip(media_type: &str) -> bool {
    let essence = media_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/zip")
        || essence.eq_ignore_ascii_case("application/x-zip-compressed")
}

/// Read the zip from `input` and write it, with every text entry redacted, to `output`.
pub fn redact_zip<R: Read, W: Write + Seek>(
    mut input: R,
    output: W,
    redaction: &SourceRedaction,
    identities: &[String],
) -> Result<ZipRedacted, ZipRedactError> {
    let mut zip = ZipWriter::new(output);
    let mut done = ZipRedacted::default();
    let mut buf = vec![0u8; 64 * 1024];
    while let Some(mut entry) =
        zip::read::read_zipfile_from_stream(&mut input).map_err(ZipRedactError::Unreadable)?
    {
        let name = entry
            .name()
            .map_err(ZipRedactError::Unreadable)?
            .into_owned();
        let mut options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .large_file(entry.size() > u64::from(u32::MAX));
        if let Some(t) = entry.last_modified() {
            options = options.last_modified_time(t);
        }
        if entry.is_dir() {
            zip.add_directory(name, options)
                .map_err(|e| ZipRedactError::Write(e.into()))?;
            continue;
        }
        zip.start_file(name.as_str(), options)
            .map_err(|e| ZipRedactError::Write(e.into()))?;
        if is_text_entry(&name) {
            let mut writer = redaction.writer(&mut zip, identities);
            copy(&mut entry, &mut writer, &mut buf)?;
            let (_, report) = writer.finish().map_err(ZipRedactError::Write)?;
            done.replaced += report.total;
            let target = format!("artefact:{name}");
            done.redactions
                .extend(as_redactions(&target, &report, true));
        } else {
            copy(&mut entry, &mut zip, &mut buf)?;
        }
    }
    zip.finish().map_err(|e| ZipRedactError::Write(e.into()))?;
    Ok(done)
}

fn copy(from: &mut impl Read, to: &mut impl Write, buf: &mut [u8]) -> Result<(), ZipRedactError> {
    loop {
        let n = match from.read(buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ZipRedactError::Unreadable(e.into())),
        };
        to.write_all(&buf[..n]).map_err(ZipRedactError::Write)?;
    }
}

fn is_text_entry(name: &str) -> bool {
    let file = name.rsplit('/').next().unwrap_or(name);
    file.rsplit_once('.')
        .is_some_and(|(_, ext)| TEXT_EXTENSIONS.iter().any(|t| t.eq_ignore_ascii_case(ext)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use evidence_connectors::RedactConfig;
    use evidence_redact::RedactionKey;
    use std::io::Cursor;

    const TOKEN: &str = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";

    fn redaction() -> SourceRedaction {
        let key = RedactionKey::new(b"0123456789abcdef0123".to_vec(), "test").unwrap();
        SourceRedaction::new(&RedactConfig::default(), &key, "source \"gh\"").unwrap()
    }

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, body) in entries {
            zip.start_file(*name, SimpleFileOptions::default()).unwrap();
            zip.write_all(body).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    fn entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        (0..archive.len())
            .map(|i| {
                let mut f = archive.by_index(i).unwrap();
                let mut body = Vec::new();
                f.read_to_end(&mut body).unwrap();
                (f.name().unwrap().into_owned(), body)
            })
            .collect()
    }

    #[test]
    fn text_entries_are_redacted_and_binary_entries_copied() {
        let log = format!("2026-03-01T00:00:00Z export GH_TOKEN={TOKEN}\nstep done\n");
        let binary: &[u8] = b"\x00\x01weights ghp_notscannedbinarycontent000000000000";
        let input = zip_of(&[
            ("build/1_Run tests.txt", log.as_bytes()),
            ("model.bin", binary),
        ]);
        let mut out = Cursor::new(Vec::new());
        let done = redact_zip(input.as_slice(), &mut out, &redaction(), &[]).unwrap();
        let out = out.into_inner();
        assert_eq!(done.replaced, 1);
        assert_eq!(done.redactions[0].target, "artefact:build/1_Run tests.txt");
        let got = entries(&out);
        assert_eq!(got[0].0, "build/1_Run tests.txt");
        let text = String::from_utf8(got[0].1.clone()).unwrap();
        assert!(
            !text.contains(TOKEN) && text.contains("[REDACTED:"),
            "{text}"
        );
        let [start, end] = done.redactions[0].range.unwrap();
        assert_eq!(
            &got[0].1[start as usize..end as usize],
            done.redactions[0].placeholder.as_bytes()
        );
        assert_eq!(got[1], ("model.bin".to_owned(), binary.to_vec()));
        assert!(
            !out.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
            "no planted byte in the new zip"
        );
    }

    #[test]
    fn a_zip_that_is_not_a_zip_is_refused_with_the_way_out() {
        let err = redact_zip(
            &b"not a zip at all"[..],
            Cursor::new(Vec::new()),
            &redaction(),
            &[],
        )
        .unwrap_err();
        assert!(err.to_string().contains("media_types"), "{err}");
    }
}
