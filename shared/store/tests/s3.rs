//! The remote archive against two real S3 servers (s3s-fs in-process, and moto's server): write-once uploads with
//! checksums and retention, idempotent retries, conflicts, ordered listing across origins, and
//! downloads checked against the digest in the key.

use evidence_model::Sha256Digest;
use evidence_store::{ArchiveLocation, RemoteArchive, StoreError, StoreOptions, origin_slug};
use evidence_tests::moto_server::MotoServer;
use evidence_tests::s3_server::S3Server;

const BUCKET: &str = "audit-archive";

fn archive(server: &S3Server, options: StoreOptions) -> RemoteArchive {
    let location: ArchiveLocation = format!("s3://{BUCKET}/iso42001").parse().expect("location");
    let options = StoreOptions {
        endpoint_url: Some(server.endpoint.clone()),
        ..options
    };
    RemoteArchive::with_sdk_config(location, options, &server.sdk_config())
}

fn bundle(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write bundle");
    p
}

#[tokio::test]
async fn an_upload_is_write_once_checksummed_and_retained_where_the_bucket_locks() {
    let server = S3Server::start(&[BUCKET]);
    server.enable_object_lock(BUCKET);
    let dir = tempfile::tempdir().expect("tempdir");
    let a = archive(
        &server,
        StoreOptions {
            retention_days: Some(2555),
            require_object_lock: true,
            ..StoreOptions::default()
        },
    );
    let file = bundle(dir.path(), "run-000001.zip", b"PK bundle one");
    let receipt = a.upload("example.org/ai", 1, &file).await.expect("uploads");
    let digest = Sha256Digest::of(b"PK bundle one");
    assert_eq!(
        receipt.key,
        format!("iso42001/example.org_2fai/run-000001-{digest}.zip")
    );
    assert_eq!(
        (receipt.sha256, receipt.size, receipt.already_present),
        (digest, 13, false)
    );
    assert!(receipt.retain_until.is_some());
    let retention = server
        .retention(BUCKET, &receipt.key)
        .expect("retention was requested");
    assert_eq!(retention.mode, "COMPLIANCE");

    // A retry of the same bundle confirms it instead of writing again.
    let again = a
        .upload("example.org/ai", 1, &file)
        .await
        .expect("idempotent");
    assert!(again.already_present);

    // A different bundle for the same run is refused, and the stored one is untouched.
    let other = bundle(dir.path(), "other.zip", b"PK forked run one");
    let err = a
        .upload("example.org/ai", 1, &other)
        .await
        .expect_err("a fork");
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");

    // The store itself refuses to overwrite: a raw conditional PUT on the key fails.
    let raw = server
        .client()
        .put_object()
        .bucket(BUCKET)
        .key(&receipt.key)
        .if_none_match("*")
        .body(b"overwrite".to_vec().into())
        .send()
        .await;
    assert!(raw.is_err(), "If-None-Match: * must refuse an existing key");
    let stored = std::fs::read(server.object_path(BUCKET, &receipt.key)).expect("stored");
    assert_eq!(stored, b"PK bundle one");
}

#[tokio::test]
async fn a_bucket_without_object_lock_is_refused_only_when_lock_is_required() {
    let server = S3Server::start(&[BUCKET]);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = bundle(dir.path(), "run-000001.zip", b"PK");
    let strict = archive(
        &server,
        StoreOptions {
            retention_days: Some(30),
            require_object_lock: true,
            ..StoreOptions::default()
        },
    );
    let err = strict.upload("o", 1, &file).await.expect_err("no lock");
    assert!(
        matches!(err, StoreError::ObjectLockUnavailable { .. }),
        "{err}"
    );
    let lenient = archive(
        &server,
        StoreOptions {
            retention_days: Some(30),
            ..StoreOptions::default()
        },
    );
    let receipt = lenient
        .upload("o", 1, &file)
        .await
        .expect("uploads without retention");
    assert_eq!(receipt.retain_until, None);
}

#[tokio::test]
async fn listing_orders_bundles_by_origin_and_run_and_downloads_are_checked() {
    let server = S3Server::start(&[BUCKET]);
    let dir = tempfile::tempdir().expect("tempdir");
    let a = archive(&server, StoreOptions::default());
    for (origin, seq) in [
        ("site-b", 2),
        ("site-a", 1),
        ("site-b", 1),
        ("site-a", 10),
        ("site-a", 2),
    ] {
        let file = bundle(dir.path(), "b.zip", format!("PK {origin} {seq}").as_bytes());
        a.upload(origin, seq, &file).await.expect("uploads");
    }
    server.seed_file(BUCKET, "iso42001/site-a/notes.txt", |f| {
        std::io::Write::write_all(f, b"not a bundle").expect("write")
    });
    let listing = a.list().await.expect("lists");
    let order: Vec<(String, u64)> = listing
        .bundles
        .iter()
        .map(|b| (b.bundle.origin().expect("an origin"), b.bundle.seq))
        .collect();
    assert_eq!(
        order,
        [
            ("site-a".into(), 1),
            ("site-a".into(), 2),
            ("site-a".into(), 10),
            ("site-b".into(), 1),
            ("site-b".into(), 2)
        ]
    );
    assert_eq!(listing.foreign_keys, ["iso42001/site-a/notes.txt"]);
    assert_eq!(
        listing.origin_slugs(),
        [origin_slug("site-a"), origin_slug("site-b")]
    );

    let first = &listing.bundles[0];
    let dest = dir.path().join("run-000001.zip");
    a.download(first, &dest).await.expect("downloads");
    assert_eq!(std::fs::read(&dest).expect("read"), b"PK site-a 1");

    // Bytes changed behind the store's back no longer match the digest in the key.
    std::fs::write(server.object_path(BUCKET, &first.key), b"PK site-a X").expect("tamper");
    let err = a.download(first, &dest).await.expect_err("tampered");
    assert!(matches!(err, StoreError::Integrity { .. }), "{err}");
    assert!(!dest.exists(), "a failed download leaves no file");
}

#[tokio::test]
async fn a_bundle_above_the_threshold_is_uploaded_in_checked_parts_write_once_and_retained() {
    let server = S3Server::start(&[BUCKET]);
    server.enable_object_lock(BUCKET);
    let dir = tempfile::tempdir().expect("tempdir");
    let a = archive(
        &server,
        StoreOptions {
            retention_days: Some(2555),
            multipart_threshold_mib: Some(5),
            multipart_part_mib: Some(5),
            ..StoreOptions::default()
        },
    );
    // 12 MiB and a bit: three parts of 5, 5 and 2 MiB.
    let bytes: Vec<u8> = (0..12 * 1024 * 1024 + 7)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let file = bundle(dir.path(), "run-000001.zip", &bytes);
    let receipt = a.upload("example.org/ai", 1, &file).await.expect("uploads");
    assert_eq!(receipt.sha256, Sha256Digest::of(&bytes));
    assert_eq!(receipt.size, bytes.len() as u64);
    assert_eq!(receipt.parts, Some(3));
    let stored = std::fs::read(server.object_path(BUCKET, &receipt.key)).expect("stored");
    assert!(stored == bytes, "the parts were assembled in order");
    assert_eq!(
        server.retention(BUCKET, &receipt.key).map(|r| r.mode),
        Some("COMPLIANCE".to_owned())
    );

    // Retried, it is confirmed, not written again; a different bundle for the run is a fork.
    let again = a
        .upload("example.org/ai", 1, &file)
        .await
        .expect("idempotent");
    assert!(again.already_present);
    let mut forked = bytes.clone();
    forked[9_000_000] ^= 1;
    let other = bundle(dir.path(), "other.zip", &forked);
    let err = a
        .upload("example.org/ai", 1, &other)
        .await
        .expect_err("a fork");
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");

    // A store that fails parts: the upload is aborted (no parts linger), the error names the
    // key and part, nothing is stored; once the store works again, the retry uploads it.
    let half = &bytes[..6 * 1024 * 1024];
    let second = bundle(dir.path(), "run-000002.zip", half);
    server.fail_upload_parts(BUCKET, true);
    let err = a
        .upload("example.org/ai", 2, &second)
        .await
        .expect_err("the store fails parts");
    let key = format!(
        "iso42001/example.org_2fai/run-000002-{}.zip",
        Sha256Digest::of(half)
    );
    assert!(
        err.to_string().contains(&format!("{key} (part 1)")),
        "{err}"
    );
    assert_eq!(server.aborted_uploads(), std::slice::from_ref(&key));
    assert!(!server.object_path(BUCKET, &key).exists());
    server.fail_upload_parts(BUCKET, false);
    let receipt = a
        .upload("example.org/ai", 2, &second)
        .await
        .expect("the retry");
    assert!(!receipt.already_present);
    assert_eq!(receipt.key, key);

    // Options outside S3's limits are a clear configuration error.
    let bad = archive(
        &server,
        StoreOptions {
            multipart_part_mib: Some(1),
            ..StoreOptions::default()
        },
    );
    let err = bad
        .upload("example.org/ai", 3, &file)
        .await
        .expect_err("parts under 5 MiB");
    assert!(err.to_string().contains("multipart_part_mib"), "{err}");
}

// ----- the same rules on a second, independent S3 implementation ---------------------------

fn moto_archive(server: &MotoServer, options: StoreOptions) -> RemoteArchive {
    let location: ArchiveLocation = format!("s3://{BUCKET}/iso42001").parse().expect("location");
    let options = StoreOptions {
        endpoint_url: Some(server.endpoint.clone()),
        ..options
    };
    RemoteArchive::with_sdk_config(location, options, &server.sdk_config())
}

async fn moto_retention(server: &MotoServer, key: &str) -> Option<String> {
    let head = server
        .client()
        .head_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .expect("HEAD the bundle");
    assert!(head.object_lock_retain_until_date().is_some(), "{head:?}");
    head.object_lock_mode().map(|m| m.as_str().to_owned())
}

/// moto, like AWS, refuses an upload carrying Object Lock retention without `Content-MD5` or
/// `x-amz-sdk-checksum-algorithm` (`MissingUploadObjectWithObjectLockHeaders`).
#[tokio::test]
async fn on_moto_a_retained_upload_is_accepted_write_once_and_downloads_checked() {
    let server = MotoServer::start(&[BUCKET], &[BUCKET]);
    let dir = tempfile::tempdir().expect("tempdir");
    let a = moto_archive(
        &server,
        StoreOptions {
            retention_days: Some(2555),
            require_object_lock: true,
            ..StoreOptions::default()
        },
    );
    let file = bundle(dir.path(), "run-000001.zip", b"PK bundle one");
    let receipt = a.upload("example.org/ai", 1, &file).await.expect("uploads");
    assert!(!receipt.already_present);
    assert!(receipt.retain_until.is_some());
    assert_eq!(
        moto_retention(&server, &receipt.key).await.as_deref(),
        Some("COMPLIANCE")
    );
    let again = a
        .upload("example.org/ai", 1, &file)
        .await
        .expect("idempotent");
    assert!(again.already_present);
    let other = bundle(dir.path(), "other.zip", b"PK forked run one");
    let err = a
        .upload("example.org/ai", 1, &other)
        .await
        .expect_err("a fork");
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");

    // A signature sidecar beside the retained bundle.
    let sig = bundle(
        dir.path(),
        "run-000001.zip.sig",
        b"-----BEGIN SSH SIGNATURE-----",
    );
    let sidecar = a
        .upload_sidecar(&receipt.key, "sig", &sig)
        .await
        .expect("the sidecar uploads");
    let back = dir.path().join("back.sig");
    a.download_sidecar(&sidecar, &back)
        .await
        .expect("reads back");
    assert_eq!(
        std::fs::read(&back).expect("read"),
        b"-----BEGIN SSH SIGNATURE-----"
    );

    let listing = a.list().await.expect("lists");
    assert_eq!(listing.bundles.len(), 1);
    let dest = dir.path().join("down.zip");
    a.download(&listing.bundles[0], &dest)
        .await
        .expect("downloads");
    assert_eq!(std::fs::read(&dest).expect("read"), b"PK bundle one");
}

#[tokio::test]
async fn on_moto_a_large_bundle_is_uploaded_in_parts_retained_and_write_once() {
    let server = MotoServer::start(&[BUCKET], &[BUCKET]);
    let dir = tempfile::tempdir().expect("tempdir");
    let a = moto_archive(
        &server,
        StoreOptions {
            retention_days: Some(2555),
            require_object_lock: true,
            multipart_threshold_mib: Some(5),
            multipart_part_mib: Some(5),
            ..StoreOptions::default()
        },
    );
    let bytes: Vec<u8> = (0..12 * 1024 * 1024 + 7)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let file = bundle(dir.path(), "run-000001.zip", &bytes);
    let receipt = a.upload("example.org/ai", 1, &file).await.expect("uploads");
    assert_eq!(receipt.parts, Some(3));
    assert_eq!(receipt.sha256, Sha256Digest::of(&bytes));
    assert_eq!(
        moto_retention(&server, &receipt.key).await.as_deref(),
        Some("COMPLIANCE")
    );
    let again = a
        .upload("example.org/ai", 1, &file)
        .await
        .expect("idempotent");
    assert!(again.already_present);
    let mut forked = bytes.clone();
    forked[9_000_000] ^= 1;
    let other = bundle(dir.path(), "other.zip", &forked);
    let err = a
        .upload("example.org/ai", 1, &other)
        .await
        .expect_err("a fork");
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    let listing = a.list().await.expect("lists");
    let dest = dir.path().join("down.zip");
    a.download(&listing.bundles[0], &dest)
        .await
        .expect("downloads");
    assert!(std::fs::read(&dest).expect("read") == bytes);
}
