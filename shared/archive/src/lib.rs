//! The evidence archive format: the only code that writes or reads sealed bundles.

pub mod merkle;
pub mod zip_write;
