//! The redaction key: a keyed HMAC that turns a secret into the same short placeholder in every
//! item and run, and an actor identity into the same pseudonym, without revealing either. The key
//! lives outside the archive (in the environment); without it a placeholder cannot be reversed
//! or guessed by trying candidate secrets.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Domain separation: a placeholder digest and a pseudonym of the same text differ.
const PLACEHOLDER_DOMAIN: &[u8] = b"evidence-redact/placeholder/v1\0";
const PSEUDONYM_DOMAIN: &[u8] = b"evidence-redact/pseudonym/v1\0";

/// The shortest key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 16;

/// Why a redaction key could not be used. Never carries the key itself.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The environment variable named is not set.
    #[error(
        "the redaction key variable {0} is not set; set it to at least {MIN_KEY_BYTES} random bytes (e.g. `openssl rand -hex 32`)"
    )]
    Missing(String),
    /// The key is too short to resist guessing.
    #[error(
        "the redaction key in {name} is {len} bytes; it must be at least {MIN_KEY_BYTES} (e.g. `openssl rand -hex 32`)"
    )]
    TooShort { name: String, len: usize },
}

/// The secret key behind placeholders and pseudonyms.
#[derive(Clone)]
pub struct RedactionKey {
    bytes: Vec<u8>,
}

impl std::fmt::Debug for RedactionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedactionKey(<hidden>)")
    }
}

impl RedactionKey {
    /// A key from raw bytes (a hex string is used as its text, not decoded: any 16+ byte
    /// string from a secret manager works).
    pub fn new(bytes: impl Into<Vec<u8>>, name: &str) -> Result<Self, KeyError> {
        let bytes = bytes.into();
        if bytes.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort {
                name: name.to_owned(),
                len: bytes.len(),
            });
        }
        Ok(Self { bytes })
    }

    /// The key held in the environment variable `name`.
    pub fn from_env(name: &str) -> Result<Self, KeyError> {
        let value = std::env::var_os(name).ok_or_else(|| KeyError::Missing(name.to_owned()))?;
        Self::new(value.into_encoded_bytes(), name)
    }

    fn mac(&self, domain: &[u8]) -> HmacSha256 {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.bytes)
            .expect("HMAC accepts keys of any length");
        mac.update(domain);
        mac
    }

    /// A running digest of one secret, for secrets that arrive in pieces (a private-key block).
    pub(crate) fn digest(&self) -> SecretDigest {
        SecretDigest(self.mac(PLACEHOLDER_DOMAIN))
    }

    /// The placeholder for `secret` found by rule `rule_id`: `[REDACTED:<rule>:<8 hex>]`.
    pub fn placeholder(&self, rule_id: &str, secret: &[u8]) -> String {
        let mut digest = self.digest();
        digest.update(secret);
        digest.placeholder(rule_id)
    }

    /// The stable pseudonym of an actor identity (a login, an e-mail, an account id):
    /// `pseudonym-<16 hex>`. The same identity gets the same pseudonym in every source and run.
    pub fn pseudonym(&self, identity: &str) -> String {
        let mut mac = self.mac(PSEUDONYM_DOMAIN);
        mac.update(identity.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!("pseudonym-{}", hex::encode(&tag[..8]))
    }
}

/// A keyed digest of a secret being read piece by piece.
pub(crate) struct SecretDigest(HmacSha256);

impl SecretDigest {
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub(crate) fn placeholder(self, rule_id: &str) -> String {
        let tag = self.0.finalize().into_bytes();
        format!("[REDACTED:{rule_id}:{}]", hex::encode(&tag[..4]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> RedactionKey {
        RedactionKey::new(text.as_bytes().to_vec(), "TEST_KEY").expect("long enough")
    }

    #[test]
    fn the_same_secret_gets_the_same_placeholder_and_different_keys_differ() {
        let a = key("0123456789abcdef-key-one");
        let b = key("0123456789abcdef-key-two");
        let p1 = a.placeholder("github-token", b"ghp_secret");
        assert_eq!(p1, a.placeholder("github-token", b"ghp_secret"));
        assert_ne!(p1, b.placeholder("github-token", b"ghp_secret"));
        assert_ne!(p1, a.placeholder("github-token", b"ghp_other"));
        assert!(
            p1.starts_with("[REDACTED:github-token:")
                && p1.len() == "[REDACTED:github-token:]".len() + 8
        );
    }

    #[test]
    fn a_piecewise_digest_equals_the_whole() {
        let k = key("0123456789abcdef-key-one");
        let mut d = k.digest();
        d.update(b"-----BEGIN ");
        d.update(b"PRIVATE KEY-----");
        assert_eq!(
            d.placeholder("private-key"),
            k.placeholder("private-key", b"-----BEGIN PRIVATE KEY-----")
        );
    }

    #[test]
    fn pseudonyms_are_stable_and_not_placeholders() {
        let k = key("0123456789abcdef-key-one");
        assert_eq!(k.pseudonym("alice"), k.pseudonym("alice"));
        assert_ne!(k.pseudonym("alice"), k.pseudonym("bob"));
        assert!(k.pseudonym("alice").starts_with("pseudonym-"));
    }

    #[test]
    fn a_short_or_missing_key_is_refused_without_printing_it() {
        let err = RedactionKey::new(b"short".to_vec(), "K").unwrap_err();
        assert!(!err.to_string().contains("short"));
        assert_eq!(
            RedactionKey::from_env("EVIDENCE_REDACT_TEST_UNSET_VARIABLE").unwrap_err(),
            KeyError::Missing("EVIDENCE_REDACT_TEST_UNSET_VARIABLE".into())
        );
        assert_eq!(
            format!("{:?}", key("0123456789abcdef-key-one")),
            "RedactionKey(<hidden>)"
        );
    }
}
