//! The typed error of a source's configuration: the entry it is about, the key at fault, and
//! what to do. The agent adds the file it read the configuration from.

/// A `[[source]]` entry the connector cannot use. Displays as `<at>: <reason>`, e.g.
/// `source "docs" rule 2: invalid glob "[": unclosed character class`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {reason}")]
pub struct ConfigError {
    /// The entry as the user finds it in the file: `source "docs"`, `source "ml" rule 2`.
    pub at: String,
    /// The key at fault (`api_url`, `glob`, `kind`), when one key is.
    pub key: Option<String>,
    /// What is wrong and how to put it right; never repeats a credential.
    pub reason: String,
}

impl ConfigError {
    /// An error about the entry `at`.
    pub fn new(at: impl AsRef<str>, reason: impl Into<String>) -> Self {
        Self {
            at: at.as_ref().to_owned(),
            key: None,
            reason: reason.into(),
        }
    }

    /// The same error, naming the key at fault.
    #[must_use]
    pub fn key(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_the_entry_then_the_reason_and_keeps_the_key() {
        let e = ConfigError::new("source \"docs\" rule 2", "invalid glob \"[\"").key("glob");
        assert_eq!(e.to_string(), "source \"docs\" rule 2: invalid glob \"[\"");
        assert_eq!(e.key.as_deref(), Some("glob"));
        assert_eq!(e.at, "source \"docs\" rule 2");
    }
}
