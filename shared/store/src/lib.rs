//! Remote storage for sealed bundles: the one crate that moves them to and from S3 (or any
//! S3-compatible store). Uploads are write-once (`If-None-Match: *`) under content-addressed
//! keys, carry `x-amz-checksum-sha256`, and get Object Lock retention in COMPLIANCE mode where
//! the bucket has Object Lock; listing returns every origin's bundles in run order; downloads
//! stream to a file in bounded memory and are checked against the digest in the key. It knows
//! bundle names and digests, never the archive format inside them.

mod key;
mod remote;
mod source;

pub use key::{ArchiveLocation, ArchiveSource, BundleKey, LocationError, origin_slug};
pub use remote::{
    ForkedRun, ObjectLock, RemoteArchive, RemoteBundle, RemoteListing, StoreError, StoreOptions,
    UploadReceipt, sha256_file,
};
pub use source::RemoteOrigin;

/// Version of this crate, recorded in upload receipts.
pub const STORE_VERSION: &str = env!("CARGO_PKG_VERSION");
