//! SSHSIG signatures (OpenSSH `PROTOCOL.sshsig`), the format of `ssh-keygen -Y sign`: signing
//! and verifying a stream of bytes without holding it in memory, so that a bundle of any size is
//! hashed once as it is read. Which keys to trust is [`crate::allowed_signers`]' business.

use std::io::{self, Read};

use sha2::{Digest, Sha256, Sha512};
use ssh_key::public::KeyData;
use ssh_key::{HashAlg, LineEnding, PrivateKey, SshSig};

/// The namespace (`ssh-keygen -n`) our signatures use unless configured otherwise.
pub const DEFAULT_NAMESPACE: &str = "evidence-archive";
/// Largest signature file read into memory.
pub const MAX_SIGNATURE_BYTES: usize = 64 * 1024;

/// A signature that could not be made, read or verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SshSigError {
    #[error("not an SSH signature (-----BEGIN SSH SIGNATURE-----): {0}")]
    Malformed(String),
    #[error("the signature file is larger than {MAX_SIGNATURE_BYTES} bytes")]
    TooLarge,
    #[error("signature format version {0} is not supported (1 is)")]
    Version(u32),
    #[error("the signature is for namespace {found:?}, not {expected:?}")]
    Namespace { expected: String, found: String },
    #[error("the signature's hash algorithm {0} is not sha256 or sha512")]
    HashAlgorithm(String),
    #[error(
        "the signature does not verify: the signed bytes were changed, or it was made over other bytes"
    )]
    BadSignature,
    #[error("the key cannot sign: {0}")]
    Key(String),
    #[error("reading the signed bytes: {0}")]
    Io(#[source] io::Error),
}

/// A parsed SSHSIG signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshSignature {
    inner: SshSig,
}

impl SshSignature {
    /// Parse the armored form (`-----BEGIN SSH SIGNATURE-----`). Versions other than 1 are
    /// refused, as verifiers must.
    pub fn parse(armored: &[u8]) -> Result<Self, SshSigError> {
        if armored.len() > MAX_SIGNATURE_BYTES {
            return Err(SshSigError::TooLarge);
        }
        let inner = SshSig::from_pem(armored).map_err(|e| SshSigError::Malformed(e.to_string()))?;
        if inner.version() != SshSig::VERSION {
            return Err(SshSigError::Version(inner.version()));
        }
        Ok(Self { inner })
    }

    /// The armored form, as `ssh-keygen -Y sign` writes it (LF line endings, final newline).
    pub fn to_armored(&self) -> Result<String, SshSigError> {
        let mut pem = self
            .inner
            .to_pem(LineEnding::LF)
            .map_err(|e| SshSigError::Malformed(e.to_string()))?;
        if !pem.ends_with('\n') {
            pem.push('\n');
        }
        Ok(pem)
    }

    /// The public key the signature claims to be made with (checked by [`Self::verify`]).
    pub(crate) fn key(&self) -> &KeyData {
        self.inner.public_key()
    }

    /// The key's fingerprint as ssh-keygen prints it: `SHA256:<base64>`.
    pub fn fingerprint(&self) -> String {
        fingerprint(self.key())
    }

    /// The key's algorithm name, e.g. `ssh-ed25519`.
    pub fn key_algorithm(&self) -> String {
        self.key().algorithm().as_str().to_owned()
    }

    /// The namespace it was made for.
    pub fn namespace(&self) -> &str {
        self.inner.namespace()
    }

    /// Check that this signature, in `namespace`, was made by its key over exactly the bytes
    /// `message` yields. Streams: memory does not grow with the message.
    pub fn verify_reader(&self, namespace: &str, message: impl Read) -> Result<(), SshSigError> {
        if self.inner.namespace() != namespace {
            return Err(SshSigError::Namespace {
                expected: namespace.to_owned(),
                found: self.inner.namespace().to_owned(),
            });
        }
        let hash = digest_reader(self.inner.hash_alg(), message)?;
        let data = signed_data(
            namespace,
            self.inner.reserved(),
            self.inner.hash_alg().as_str(),
            &hash,
        );
        signature::Verifier::verify(self.key(), &data, self.inner.signature())
            .map_err(|_| SshSigError::BadSignature)
    }

    /// [`Self::verify_reader`] over bytes in memory.
    pub fn verify(&self, namespace: &str, message: &[u8]) -> Result<(), SshSigError> {
        self.verify_reader(namespace, message)
    }
}

/// Sign the bytes `message` yields, in `namespace`, with SHA-512 as ssh-keygen does.
pub fn sign_reader(
    key: &PrivateKey,
    namespace: &str,
    message: impl Read,
) -> Result<SshSignature, SshSigError> {
    if namespace.is_empty() {
        return Err(SshSigError::Namespace {
            expected: "a non-empty namespace".into(),
            found: String::new(),
        });
    }
    if key.is_encrypted() {
        return Err(SshSigError::Key(
            "it is encrypted with a passphrase; sign with `ssh-keygen -Y sign` instead".into(),
        ));
    }
    let hash = digest_reader(HashAlg::Sha512, message)?;
    let data = signed_data(namespace, &[], HashAlg::Sha512.as_str(), &hash);
    let sig: ssh_key::Signature =
        signature::Signer::try_sign(key, &data).map_err(|e| SshSigError::Key(e.to_string()))?;
    let inner = SshSig::new(
        key.public_key().key_data().clone(),
        namespace,
        HashAlg::Sha512,
        sig,
    )
    .map_err(|e| SshSigError::Key(e.to_string()))?;
    Ok(SshSignature { inner })
}

/// [`sign_reader`] over bytes in memory.
pub fn sign(
    key: &PrivateKey,
    namespace: &str,
    message: &[u8],
) -> Result<SshSignature, SshSigError> {
    sign_reader(key, namespace, message)
}

/// `SHA256:<base64>` of a public key, as ssh-keygen prints it.
pub(crate) fn fingerprint(key: &KeyData) -> String {
    ssh_key::PublicKey::from(key.clone())
        .fingerprint(HashAlg::Sha256)
        .to_string()
}

fn digest_reader(alg: HashAlg, mut message: impl Read) -> Result<Vec<u8>, SshSigError> {
    enum H {
        S256(Sha256),
        S512(Sha512),
    }
    let mut h = match alg {
        HashAlg::Sha256 => H::S256(Sha256::new()),
        HashAlg::Sha512 => H::S512(Sha512::new()),
        other => return Err(SshSigError::HashAlgorithm(other.as_str().to_owned())),
    };
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match message.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(SshSigError::Io(e)),
        };
        match &mut h {
            H::S256(h) => h.update(&buf[..n]),
            H::S512(h) => h.update(&buf[..n]),
        }
    }
    Ok(match h {
        H::S256(h) => h.finalize().to_vec(),
        H::S512(h) => h.finalize().to_vec(),
    })
}

/// The blob an SSHSIG signature signs: `"SSHSIG" || string(namespace) || string(reserved) ||
/// string(hash algorithm) || string(H(message))`, each string length-prefixed (u32, big-endian).
fn signed_data(namespace: &str, reserved: &[u8], hash_alg: &str, hash: &[u8]) -> Vec<u8> {
    let mut out = b"SSHSIG".to_vec();
    for part in [namespace.as_bytes(), reserved, hash_alg.as_bytes(), hash] {
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn test_key(seed: u8) -> PrivateKey {
        let kp = ssh_key::private::Ed25519Keypair::from_seed(&[seed; 32]);
        PrivateKey::new(ssh_key::private::KeypairData::Ed25519(kp), "test").unwrap()
    }

    #[test]
    fn a_signature_round_trips_through_its_armor_and_verifies() {
        let key = test_key(1);
        let sig = sign(&key, "evidence-archive", b"hello").unwrap();
        let text = sig.to_armored().unwrap();
        assert!(text.starts_with("-----BEGIN SSH SIGNATURE-----\n"));
        assert!(text.ends_with("-----END SSH SIGNATURE-----\n"));
        let parsed = SshSignature::parse(text.as_bytes()).unwrap();
        parsed.verify("evidence-archive", b"hello").unwrap();
        assert!(parsed.fingerprint().starts_with("SHA256:"));
    }

    #[test]
    fn other_bytes_another_namespace_or_a_swapped_key_fail() {
        let key = test_key(1);
        let sig = sign(&key, "evidence-archive", b"hello").unwrap();
        assert!(matches!(
            sig.verify("evidence-archive", b"hellO"),
            Err(SshSigError::BadSignature)
        ));
        assert!(matches!(
            sig.verify("git", b"hello"),
            Err(SshSigError::Namespace { .. })
        ));
        let other = sign(&test_key(2), "evidence-archive", b"hello").unwrap();
        let forged = SshSignature {
            inner: SshSig::new(
                other.key().clone(),
                "evidence-archive",
                HashAlg::Sha512,
                sig.inner.signature().clone(),
            )
            .unwrap(),
        };
        assert!(forged.verify("evidence-archive", b"hello").is_err());
    }

    #[test]
    fn no_single_flipped_byte_gives_a_signature_that_verifies() {
        use base64::Engine;
        let sig = sign(&test_key(3), "evidence-archive", b"checkpoint").unwrap();
        let text = sig.to_armored().unwrap();
        let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x01;
            let armored = format!(
                "-----BEGIN SSH SIGNATURE-----\n{}\n-----END SSH SIGNATURE-----\n",
                base64::engine::general_purpose::STANDARD.encode(&bad)
            );
            if let Ok(parsed) = SshSignature::parse(armored.as_bytes()) {
                assert!(
                    parsed.verify("evidence-archive", b"checkpoint").is_err(),
                    "flipping byte {i} still verifies"
                );
            }
        }
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        for bad in [
            &b""[..],
            b"-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----\n",
            b"-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n",
            &[0xff; 100],
        ] {
            assert!(SshSignature::parse(bad).is_err());
        }
        assert!(matches!(
            SshSignature::parse(&vec![b'a'; MAX_SIGNATURE_BYTES + 1]),
            Err(SshSigError::TooLarge)
        ));
    }
}
