//! The auditor's documented exit codes, shared by every command.

/// Exit code: success (the archive verifies; the command did what was asked).
pub const EXIT_OK: u8 = 0;
/// Exit code: verification failed (or an evaluation does not support reliance).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: usage or IO error; nothing was concluded.
pub const EXIT_ERROR: u8 = 2;
