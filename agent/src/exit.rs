//! The agent's documented exit codes, shared by every command.

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the run sealed a bundle, but at least one source failed or recorded a gap, or a
/// bundle still waits for its upload to the S3 archive (or `check` found a source unhealthy).
pub const EXIT_GAPS: u8 = 1;
/// Exit code: usage, configuration, state or IO error, or another agent holds the archive;
/// nothing was sealed.
pub const EXIT_ERROR: u8 = 2;
