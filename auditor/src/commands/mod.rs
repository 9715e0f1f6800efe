//! Commands over an archive source (a local folder or an S3 location): `verify` and `ingest`.

pub mod ingest;
pub mod verify;
