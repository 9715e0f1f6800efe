//! The evidence archive format: the only code that writes or reads sealed bundles.

pub mod strict_zip;
pub mod zip_write;
