//! SIGTERM and SIGINT, for `collect` and `run` alike: the first asks the agent to stop (the run
//! in progress stops its sources and seals what they staged, within the shutdown deadline);
//! the second quits at once. Quitting at once is safe because sealing is atomic: the archive
//! holds either no new bundle or a complete one, and the next run completes or discards an
//! interrupted commit.

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Exit status after a second SIGINT: 128 + 2, as shells report it.
pub const EXIT_SECOND_SIGINT: i32 = 130;
/// Exit status after a second SIGTERM: 128 + 15.
pub const EXIT_SECOND_SIGTERM: i32 = 143;

/// Listen for SIGTERM and SIGINT on the current runtime: cancel `shutdown` on the first, exit
/// the process on the second. `what` says what the first signal lets finish, for the log.
pub fn watch(shutdown: CancellationToken, what: &'static str) -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        let first = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::warn!(
            signal = first,
            "stopping: {what} (send the signal again to quit at once)"
        );
        shutdown.cancel();
        let code = tokio::select! {
            _ = term.recv() => EXIT_SECOND_SIGTERM,
            _ = int.recv() => EXIT_SECOND_SIGINT,
        };
        eprintln!(
            "evidence-agent: second signal: quitting at once; the run in progress is not sealed, and the archive stays valid (the next run completes or discards an interrupted seal)"
        );
        std::process::exit(code);
    });
    Ok(())
}
