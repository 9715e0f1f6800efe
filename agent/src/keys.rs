//! Signing keys on disk: generating an Ed25519 key in OpenSSH format (owner-only, mode 0600),
//! loading one with ssh's own permission rule, and the `allowed_signers` line that names it.
//! Key material never appears in messages or logs; errors name the file only.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey};

/// Largest key file read.
const MAX_KEY_BYTES: u64 = 64 * 1024;

/// A key file that cannot be written or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("key file {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} already exists; a key is never overwritten")]
    Exists { path: PathBuf },
    #[error(
        "{path}: permissions {mode:04o} are too open; a private key must be readable by its owner only (chmod 600)"
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("{path} is not an OpenSSH private key")]
    NotAKey { path: PathBuf },
    #[error(
        "{path} is protected by a passphrase; the agent needs an unencrypted key (sign by hand with `ssh-keygen -Y sign` instead)"
    )]
    Encrypted { path: PathBuf },
    #[error("{path} is a {algorithm} key; only Ed25519 keys are supported")]
    Algorithm { path: PathBuf, algorithm: String },
    #[error("cannot generate a key: {0}")]
    Generate(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Generate an Ed25519 key, write it to `path` in OpenSSH format with mode 0600 (refusing to
/// replace a file) and its public half to `path.pub`; return it.
pub fn generate(path: &Path, comment: &str) -> Result<PrivateKey, KeyError> {
    let mut key = PrivateKey::random(&mut rand_core_legacy::OsRng, Algorithm::Ed25519)
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    key.set_comment(comment);
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let mut pub_path = path.as_os_str().to_owned();
    pub_path.push(".pub");
    let pub_path = PathBuf::from(pub_path);
    for p in [path, pub_path.as_path()] {
        if p.exists() {
            return Err(KeyError::Exists { path: p.to_owned() });
        }
    }
    write_new(path, text.as_bytes(), 0o600)?;
    write_new(&pub_path, format!("{public}\n").as_bytes(), 0o644)?;
    Ok(key)
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|source| match source.kind() {
            io::ErrorKind::AlreadyExists => KeyError::Exists {
                path: path.to_owned(),
            },
            _ => KeyError::Io {
                path: path.to_owned(),
                source,
            },
        })?;
    // The umask may have narrowed the mode; make it exact.
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

/// Load an unencrypted Ed25519 private key, refusing a file others can read (as ssh does).
pub fn load(path: &Path) -> Result<PrivateKey, KeyError> {
    let file = fs::File::open(path).map_err(io_err(path))?;
    let mode = file.metadata().map_err(io_err(path))?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    let mut text = String::new();
    file.take(MAX_KEY_BYTES)
        .read_to_string(&mut text)
        .map_err(|_| KeyError::NotAKey {
            path: path.to_owned(),
        })?;
    let key = PrivateKey::from_openssh(text.as_bytes()).map_err(|_| KeyError::NotAKey {
        path: path.to_owned(),
    })?;
    if key.is_encrypted() {
        return Err(KeyError::Encrypted {
            path: path.to_owned(),
        });
    }
    if key.algorithm() != Algorithm::Ed25519 {
        return Err(KeyError::Algorithm {
            path: path.to_owned(),
            algorithm: key.algorithm().as_str().to_owned(),
        });
    }
    Ok(key)
}

/// The key's public fingerprint, `SHA256:<base64>`.
pub fn fingerprint(key: &PrivateKey) -> String {
    key.public_key().fingerprint(HashAlg::Sha256).to_string()
}

/// The `allowed_signers` line for `key`: `<principal> namespaces="<ns>" ssh-ed25519 AAAA… <comment>`.
pub fn allowed_signers_line(
    key: &PrivateKey,
    principal: &str,
    namespace: &str,
) -> Result<String, KeyError> {
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    Ok(format!("{principal} namespaces=\"{namespace}\" {public}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_owner_only_loads_back_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent-key");
        let key = generate(&path, "agent").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load(&path).unwrap().public_key(), key.public_key());
        assert!(
            fs::read_to_string(dir.path().join("agent-key.pub"))
                .unwrap()
                .starts_with("ssh-ed25519 ")
        );
        assert!(matches!(
            generate(&path, "again"),
            Err(KeyError::Exists { .. })
        ));
        let line = allowed_signers_line(&key, "agent@example.org", "evidence-archive").unwrap();
        assert!(line.starts_with("agent@example.org namespaces=\"evidence-archive\" ssh-ed25519 "));
    }

    #[test]
    fn a_key_others_can_read_or_garbage_is_refused_without_showing_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        generate(&path, "k").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = load(&path).unwrap_err();
        assert!(
            matches!(err, KeyError::TooOpen { mode: 0o644, .. }),
            "{err}"
        );
        let junk = dir.path().join("junk");
        write_new(
            &junk,
            b"-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n",
            0o600,
        )
        .unwrap();
        let err = load(&junk).unwrap_err().to_string();
        assert!(!err.contains("secret"), "{err}");
    }
}
