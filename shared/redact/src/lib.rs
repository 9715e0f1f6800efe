//! Redaction of secrets and personal data while an artefact streams in, before any byte reaches
//! disk.
//!
//! - `rules`: the published rules (id, version, class, pattern, check).
//! - `validate`: Luhn, IBAN mod-97, IPv4 and entropy checks.
//! - `policy`: what a source redacts, and the description a bundle records.
//! - `key`: the keyed HMAC behind placeholders (`[REDACTED:<rule>:<8 hex>]`) and pseudonyms.
//! - `stream`: the redacting writer (flat memory, chunking-independent output).
//!
//! Architecture invariant: no IO but the writer it wraps, no clock; the same input, policy and
//! key always give the same bytes.

mod key;
mod policy;
mod rules;
mod stream;
mod validate;

use std::collections::BTreeSet;
use std::io::Write;

pub use key::{KeyError, MIN_KEY_BYTES, RedactionKey};
pub use policy::{POLICY_FORMAT_VERSION, Policy, PolicyDescription, PolicyError, is_scannable};
pub use rules::{RULES, Rule, RuleClass, rule};
pub use stream::{
    MAX_LISTED, MAX_PENDING, MIN_IDENTITY_LEN, PSEUDONYM_RULE, RedactingWriter, Redaction, Report,
};

use rules::{COMPILED, Candidate, Compiled, PLACEHOLDER};

/// A policy ready to apply with its key.
#[derive(Debug)]
pub struct Redactor {
    policy: Policy,
    key: RedactionKey,
    /// Indexes into the compiled rules the policy applies, in priority order.
    active: Vec<usize>,
    allow: BTreeSet<Vec<u8>>,
}

impl Redactor {
    /// A redactor for `policy`, with placeholders keyed by `key`.
    pub fn new(policy: Policy, key: RedactionKey) -> Result<Self, PolicyError> {
        policy.validate()?;
        let active = COMPILED
            .iter()
            .enumerate()
            .filter(|(_, c)| policy.applies(c.rule.class, c.rule.id))
            .map(|(i, _)| i)
            .collect();
        let allow = policy.allow.iter().map(|v| v.as_bytes().to_vec()).collect();
        Ok(Self {
            policy,
            key,
            active,
            allow,
        })
    }

    /// The policy applied.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub(crate) fn key(&self) -> &RedactionKey {
        &self.key
    }

    pub(crate) fn rule_at(&self, priority: usize) -> &'static Rule {
        COMPILED[priority].rule
    }

    /// A writer that redacts what is written through it into `inner`.
    pub fn writer<W: Write>(&self, inner: W) -> RedactingWriter<'_, W> {
        RedactingWriter::new(self, inner)
    }

    /// Redacts a whole text held in memory (a ticket's description, a run's parameter).
    pub fn redact_bytes(&self, input: &[u8]) -> (Vec<u8>, Report) {
        let mut w = self.writer(Vec::with_capacity(input.len()));
        w.write_all(input).expect("writing to memory cannot fail");
        w.finish().expect("writing to memory cannot fail")
    }

    /// Redacts a string; placeholders are ASCII and whole characters are replaced, so the
    /// result is still valid UTF-8.
    pub fn redact_str(&self, input: &str) -> (String, Report) {
        let (bytes, report) = self.redact_bytes(input.as_bytes());
        (String::from_utf8_lossy(&bytes).into_owned(), report)
    }

    /// The non-overlapping values to replace in `text`, leftmost first; at one position the
    /// longest wins, then the earlier rule.
    pub(crate) fn find(&self, text: &[u8]) -> Vec<Candidate> {
        let mut all = Vec::new();
        for &i in &self.active {
            let compiled: &Compiled = &COMPILED[i];
            compiled.find(text, &mut all, i);
        }
        let placeholders: Vec<(usize, usize)> = PLACEHOLDER
            .find_iter(text)
            .map(|m| (m.start(), m.end()))
            .collect();
        all.retain(|c| {
            !self.allow.contains(&text[c.start..c.end])
                && !placeholders
                    .iter()
                    .any(|&(s, e)| c.whole_start < e && s < c.end)
        });
        // At one position a secret beats personal data, then the longer find, then the
        // earlier rule.
        all.sort_by_key(|c| {
            let personal = COMPILED[c.priority].rule.class == RuleClass::Personal;
            (
                c.start,
                personal,
                std::cmp::Reverse(c.end - c.start),
                c.priority,
            )
        });
        let mut chosen: Vec<Candidate> = Vec::with_capacity(all.len());
        let mut last_end = 0;
        for c in all {
            if c.start >= last_end {
                last_end = c.end;
                chosen.push(c);
            }
        }
        chosen
    }
}

#[cfg(test)]
mod tests;
