//! Where bundles live in a bucket: the `s3://bucket/prefix` location, the origin's folder (an
//! injective slug of the origin), and the content-addressed key of each bundle,
//! `<prefix>/<origin-slug>/run-000042-<sha256 hex>.zip`. Pure: no IO.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use evidence_model::Sha256Digest;

/// Where an archive lives: a bucket and a key prefix (without trailing `/`; may be empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveLocation {
    pub bucket: String,
    pub prefix: String,
}

/// A string that is not an `s3://bucket[/prefix]` location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an S3 archive location; expected s3://bucket or s3://bucket/prefix")]
pub struct LocationError(pub String);

/// Where an archive is: a local directory (or, for `verify`, one bundle file) or an S3
/// location. Parsed once from the command line or the configuration: `s3://…` is a location
/// (refused when malformed), anything else a local path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveSource {
    Local(PathBuf),
    S3(ArchiveLocation),
}

impl FromStr for ArchiveSource {
    type Err = LocationError;
    fn from_str(s: &str) -> Result<Self, LocationError> {
        if s.starts_with("s3://") {
            s.parse().map(Self::S3)
        } else {
            Ok(Self::Local(PathBuf::from(s)))
        }
    }
}

impl fmt::Display for ArchiveSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local(path) => write!(f, "{}", path.display()),
            Self::S3(location) => write!(f, "{location}"),
        }
    }
}

impl ArchiveLocation {
    /// The key prefix every object of this archive starts with: `prefix/` or empty.
    pub fn key_prefix(&self) -> String {
        if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        }
    }

    /// The folder of one origin: `prefix/<slug>/`.
    pub fn origin_prefix(&self, origin: &str) -> String {
        format!("{}{}/", self.key_prefix(), origin_slug(origin))
    }
}

impl FromStr for ArchiveLocation {
    type Err = LocationError;
    fn from_str(s: &str) -> Result<Self, LocationError> {
        let bad = || LocationError(s.chars().take(200).collect());
        let rest = s.strip_prefix("s3://").ok_or_else(bad)?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        let prefix = prefix.trim_end_matches('/');
        let prefix_ok = !prefix.starts_with('/')
            && !prefix.contains("//")
            && prefix.split('/').all(|p| p != "." && p != "..")
            && prefix.bytes().all(|b| b.is_ascii_graphic());
        if !bucket_ok || !prefix_ok {
            return Err(bad());
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

impl fmt::Display for ArchiveLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// The folder name of an origin: `[A-Za-z0-9.-]` kept, every other byte (including `_`)
/// written as `_xx` (lowercase hex). Injective, so two origins never share a folder:
/// `example.org/ai` → `example.org_2fai`.
pub fn origin_slug(origin: &str) -> String {
    let mut out = String::with_capacity(origin.len());
    for b in origin.bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    out
}

/// The origin a slug was made from, when it is a well-formed slug.
pub(crate) fn origin_from_slug(slug: &str) -> Option<String> {
    let bytes = slug.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'_' {
            let hex = slug.get(i + 1..i + 3)?;
            if hex.bytes().any(|h| h.is_ascii_uppercase()) {
                return None;
            }
            let v = u8::from_str_radix(hex, 16).ok()?;
            if v.is_ascii_alphanumeric() || v == b'.' || v == b'-' {
                return None;
            }
            out.push(v);
            i += 3;
        } else if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
            out.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

/// A bundle's key: its origin folder, run number and content digest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BundleKey {
    pub origin_slug: String,
    pub seq: u64,
    pub sha256: Sha256Digest,
}

impl BundleKey {
    /// The key inside the bucket: `<prefix>/<slug>/run-000042-<hex>.zip`.
    pub fn to_key(&self, location: &ArchiveLocation) -> String {
        format!(
            "{}{}/{}",
            location.key_prefix(),
            self.origin_slug,
            Self::file_name(self.seq, &self.sha256)
        )
    }

    /// `run-000042-<hex>.zip`.
    pub fn file_name(seq: u64, sha256: &Sha256Digest) -> String {
        format!("run-{seq:06}-{}.zip", sha256.to_hex())
    }

    /// The key prefix shared by every bundle of run `seq` of an origin, whatever its digest.
    pub fn run_prefix(location: &ArchiveLocation, origin: &str, seq: u64) -> String {
        format!("{}run-{seq:06}-", location.origin_prefix(origin))
    }

    /// Parse a key listed under `location`; `None` for anything that is not a bundle key.
    pub fn parse(location: &ArchiveLocation, key: &str) -> Option<Self> {
        let rest = key.strip_prefix(&location.key_prefix())?;
        let (slug, file) = rest.split_once('/')?;
        origin_from_slug(slug)?;
        let stem = file.strip_suffix(".zip")?;
        let (run, hex) = stem.rsplit_once('-')?;
        let seq = evidence_archive::layout::parse_bag_dir(run)?;
        let sha256: Sha256Digest = hex.parse().ok()?;
        Some(Self {
            origin_slug: slug.to_owned(),
            seq,
            sha256,
        })
    }

    /// The origin this key's folder names.
    pub fn origin(&self) -> Option<String> {
        origin_from_slug(&self.origin_slug)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_archive_source_is_parsed_once_s3_or_local() {
        assert_eq!(
            "s3://bucket/p/".parse::<ArchiveSource>().unwrap(),
            ArchiveSource::S3(ArchiveLocation {
                bucket: "bucket".into(),
                prefix: "p".into()
            })
        );
        assert_eq!(
            "/evidence/acme".parse::<ArchiveSource>().unwrap(),
            ArchiveSource::Local(PathBuf::from("/evidence/acme"))
        );
        assert!("s3://B".parse::<ArchiveSource>().is_err());
        assert_eq!(
            "s3://bucket/p"
                .parse::<ArchiveSource>()
                .unwrap()
                .to_string(),
            "s3://bucket/p"
        );
    }

    fn loc(s: &str) -> ArchiveLocation {
        s.parse().unwrap()
    }

    #[test]
    fn locations_parse_with_and_without_a_prefix() {
        assert_eq!(
            loc("s3://evidence-bucket/audit/2026/"),
            ArchiveLocation {
                bucket: "evidence-bucket".into(),
                prefix: "audit/2026".into()
            }
        );
        assert_eq!(loc("s3://evidence-bucket").prefix, "");
        assert_eq!(
            loc("s3://evidence-bucket/a/b").to_string(),
            "s3://evidence-bucket/a/b"
        );
        for bad in [
            "evidence",
            "s3://",
            "s3://B",
            "s3://ok-bucket//x",
            "s3://ok-bucket/../x",
            "file:///x",
        ] {
            assert!(bad.parse::<ArchiveLocation>().is_err(), "{bad}");
        }
    }

    #[test]
    fn origin_slugs_are_readable_and_injective() {
        assert_eq!(origin_slug("example.org/ai"), "example.org_2fai");
        assert_ne!(origin_slug("a/b"), origin_slug("a_2fb"));
        for origin in ["example.org/ai", "a_b", "x:y@z", "plain"] {
            assert_eq!(
                origin_from_slug(&origin_slug(origin)).as_deref(),
                Some(origin)
            );
        }
        assert_eq!(origin_from_slug("a_2F"), None);
        assert_eq!(origin_from_slug("a_61"), None);
        assert_eq!(origin_from_slug("a/b"), None);
    }

    #[test]
    fn bundle_keys_round_trip_and_foreign_keys_are_not_bundles() {
        let l = loc("s3://evidence-bucket/audit");
        let k = BundleKey {
            origin_slug: origin_slug("example.org/ai"),
            seq: 42,
            sha256: Sha256Digest::of(b"bundle"),
        };
        let key = k.to_key(&l);
        assert!(
            key.starts_with("audit/example.org_2fai/run-000042-"),
            "{key}"
        );
        assert_eq!(BundleKey::parse(&l, &key), Some(k.clone()));
        assert_eq!(k.origin().as_deref(), Some("example.org/ai"));
        assert!(key.starts_with(&BundleKey::run_prefix(&l, "example.org/ai", 42)));
        for foreign in [
            "audit/example.org_2fai/run-42-00.zip",
            "audit/example.org_2fai/notes.txt",
            "other/example.org_2fai/run-000001-x.zip",
            "audit/run-000001.zip",
        ] {
            assert_eq!(BundleKey::parse(&l, foreign), None, "{foreign}");
        }
    }
}
