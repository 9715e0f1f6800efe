//! Exact audit-sampling statistics and reproducible selection.
