//! A small tmpfs for the disk-full tests, mounted in a private mount namespace so it needs no
//! privilege and cannot leak onto the machine: `unshare --user --map-root-user --mount` (any
//! user, where user namespaces are enabled) or, failing that, `unshare --mount` (root). A
//! shell script runs inside with the mount at `$MNT`; the mount disappears when it ends.
//! If neither way works the test fails with the reasons: it is never skipped.

use std::path::Path;
use std::process::{Command, Output};

/// The ways to get a private mount namespace, tried in order.
const WAYS: [&[&str]; 2] = [
    &["unshare", "--user", "--map-root-user", "--mount"],
    &["unshare", "--mount"],
];

/// Exit status of the wrapper script when the mount itself failed.
const MOUNT_FAILED: i32 = 97;

/// Run `script` (POSIX shell) with a tmpfs of `size_bytes` mounted at `mount_point` (an
/// existing empty directory), exported as `$MNT`, plus `env`. Returns the script's output.
pub fn run_in_small_tmpfs(
    size_bytes: u64,
    mount_point: &Path,
    env: &[(&str, &str)],
    script: &str,
) -> Output {
    let wrapper = format!(
        "mount -t tmpfs -o size={size_bytes},mode=0755 evidence-test \"$MNT\" || exit {MOUNT_FAILED}\n{script}"
    );
    let mut reasons = Vec::new();
    for way in WAYS {
        let mut c = Command::new(way[0]);
        c.args(&way[1..])
            .args(["sh", "-c", &wrapper])
            .env("MNT", mount_point);
        for (k, v) in env {
            c.env(k, v);
        }
        match c.output() {
            Ok(o)
                if o.status.code() == Some(MOUNT_FAILED)
                    || (!o.status.success() && o.stdout.is_empty() && is_namespace_refusal(&o)) =>
            {
                reasons.push(format!(
                    "`{}`: {}",
                    way.join(" "),
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
            }
            Ok(o) => return o,
            Err(e) => reasons.push(format!("`{}`: {e}", way.join(" "))),
        }
    }
    panic!(
        "cannot mount a small tmpfs for the disk-full test; it needs user namespaces \
         (`unshare --user --map-root-user --mount`) or root with CAP_SYS_ADMIN (`unshare --mount`):\n{}",
        reasons.join("\n")
    );
}

/// True when `unshare` itself was refused (before the script ran).
fn is_namespace_refusal(o: &Output) -> bool {
    String::from_utf8_lossy(&o.stderr).contains("unshare failed")
}
