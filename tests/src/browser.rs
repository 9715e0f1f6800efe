//! Headless Chromium for the report pages: find Debian's browser, run it offline (every host
//! name fails to resolve), read its console errors, and check that a page is self-contained.

use std::path::{Path, PathBuf};
use std::process::Command;

/// No script, no external reference: every link is a fragment, nothing is loaded.
pub fn check_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    for banned in [
        "<script", "src=", "url(", "@import", "http:", "https:", "<link", "<iframe",
    ] {
        assert!(!lower.contains(banned), "the page contains {banned:?}");
    }
    for (i, _) in lower.match_indices("href=\"") {
        let rest = &lower[i + 6..];
        assert!(
            rest.starts_with('#'),
            "a link that is not a fragment: {}",
            &rest[..40.min(rest.len())]
        );
    }
}

/// Debian's Chromium on the PATH, if installed.
pub fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// The browser headless, offline, with a throw-away profile.
pub fn headless(browser: &Path, profile: &Path) -> Command {
    let mut c = Command::new(browser);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
        // Any attempt to resolve a host name fails: the page must need none.
        "--host-resolver-rules=MAP * ~NOTFOUND",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// The lines of the browser's log that report a console error or a failed load.
pub fn console_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| {
            l.contains("CONSOLE")
                || l.contains("Uncaught")
                || l.contains("ERR_NAME_NOT_RESOLVED")
                || l.contains("net::ERR_")
        })
        .collect()
}

/// Say loudly that a browser check was skipped (Chromium missing).
pub fn skipped(what: &str) {
    eprintln!(
        "\n\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
         SKIPPED: the headless-browser check of {what} needs Debian's chromium.\n\
         Install it with `apt-get install -y chromium` (scripts/test does, as root).\n\
         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    );
}

/// Open `page` offline and return its DOM; no console error, and the page is self-contained.
pub fn dump_dom(browser: &Path, page: &Path) -> String {
    let profile = tempfile::tempdir().expect("a temporary profile");
    let url = format!("file://{}", page.display());
    let o = crate::run(headless(browser, profile.path()).args(["--dump-dom", &url]));
    assert!(o.status.success(), "{}", crate::text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(console_errors(&stderr).is_empty(), "{stderr}");
    let dom = String::from_utf8_lossy(&o.stdout).to_string();
    check_self_contained(&dom);
    dom
}

/// Print `page` to a PDF next to it and return the number of PDF pages.
pub fn print_to_pdf(browser: &Path, page: &Path) -> usize {
    let profile = tempfile::tempdir().expect("a temporary profile");
    let url = format!("file://{}", page.display());
    let pdf = page.with_extension("pdf");
    let o = crate::run(
        headless(browser, profile.path())
            .arg(format!("--print-to-pdf={}", pdf.display()))
            .args(["--no-pdf-header-footer", &url]),
    );
    assert!(o.status.success(), "{}", crate::text(&o));
    let bytes = std::fs::read(&pdf).expect("the PDF was written");
    assert!(bytes.starts_with(b"%PDF"), "not a PDF");
    let count = |needle: &[u8]| bytes.windows(needle.len()).filter(|w| *w == needle).count();
    count(b"/Type /Page") - count(b"/Type /Pages")
}
