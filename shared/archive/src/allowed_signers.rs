//! The `allowed_signers` file of `ssh-keygen -Y verify` (ssh-keygen(1), "ALLOWED SIGNERS"):
//! which keys may sign, for which principals, namespaces and time window. Parsed strictly, as
//! ssh-keygen does: a malformed line is an error naming the line, never skipped silently.
//!
//! Supported: principal pattern lists (`*`, `?`, `!negation`, quoted), the options
//! `namespaces="..."`, `valid-after="..."`, `valid-before="..."` (`YYYYMMDD[HHMM[SS]][Z]`, local
//! time unless `Z`, as ssh-keygen reads them), and comments. `cert-authority` lines are parsed
//! but never match: certificate-signed SSHSIG is not supported.

use std::path::Path;

use jiff::Timestamp;
use ssh_key::public::KeyData;

use crate::sshsig::{SshSignature, fingerprint};

/// Largest allowed_signers file read.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// A line that is not a valid allowed_signers entry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AllowedSignersError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: {reason}")]
    Line {
        file: String,
        line: usize,
        reason: LineError,
    },
}

/// Why one line is not a valid allowed_signers entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    #[error("no principals")]
    NoPrincipals,
    #[error("\"valid-before\" time is before \"valid-after\"")]
    ValidityInverted,
    #[error("expected a key: KEYTYPE BASE64 [COMMENT]")]
    MissingKey,
    #[error("invalid public key: {0}")]
    InvalidKey(String),
    #[error("unterminated quote")]
    UnterminatedQuote,
    #[error("unsupported option in {0:?}")]
    UnsupportedOption(String),
    #[error("unknown key option in {0:?}")]
    UnknownOption(String),
    #[error("unexpected end of options")]
    OptionsEnd,
    #[error("an option value must be in double quotes")]
    Unquoted,
    #[error("invalid time {0:?} (expected YYYYMMDD[HHMM[SS]][Z])")]
    InvalidTime(String),
}

/// One entry.
#[derive(Debug, Clone)]
struct Entry {
    principals: String,
    key: KeyData,
    namespaces: Option<String>,
    valid_after: Option<Timestamp>,
    valid_before: Option<Timestamp>,
    cert_authority: bool,
}

/// A parsed allowed_signers file.
#[derive(Debug, Clone, Default)]
pub struct AllowedSigners {
    entries: Vec<Entry>,
}

/// Who a signature's key is, according to the file, at a given time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerLookup {
    /// The key may sign in this namespace at this time, for these principals (the entries'
    /// principal fields, as `ssh-keygen -Y find-principals` prints them).
    Allowed { principals: Vec<String> },
    /// The key is listed for the namespace, but not for this time.
    OutsideValidity { principals: Vec<String> },
    /// The key is listed, but not for this namespace.
    NamespaceNotAllowed { principals: Vec<String> },
    /// The key is not in the file.
    Unknown,
}

impl AllowedSigners {
    /// Read and parse a file.
    pub fn load(path: &Path) -> Result<Self, AllowedSignersError> {
        use std::io::Read;
        let read_err = |source| AllowedSignersError::Read {
            path: path.display().to_string(),
            source,
        };
        let mut text = String::new();
        std::fs::File::open(path)
            .map_err(read_err)?
            .take(MAX_FILE_BYTES)
            .read_to_string(&mut text)
            .map_err(read_err)?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parse the text of a file called `file` (for messages).
    pub fn parse(text: &str, file: &str) -> Result<Self, AllowedSignersError> {
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_start_matches([' ', '\t']);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let entry = parse_line(line).map_err(|reason| AllowedSignersError::Line {
                file: file.to_owned(),
                line: i + 1,
                reason,
            })?;
            entries.push(entry);
        }
        Ok(Self { entries })
    }

    /// How many entries the file has.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the file has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Who may have made `signature` in `namespace` at `at` (ssh-keygen's semantics:
    /// `valid-after <= at <= valid-before`, `namespaces` a pattern list).
    pub fn lookup(&self, signature: &SshSignature, namespace: &str, at: Timestamp) -> SignerLookup {
        self.lookup_key(signature.key(), namespace, at)
    }

    pub(crate) fn lookup_key(&self, key: &KeyData, namespace: &str, at: Timestamp) -> SignerLookup {
        let mut allowed = Vec::new();
        let mut outside = Vec::new();
        let mut wrong_ns = Vec::new();
        for e in self
            .entries
            .iter()
            .filter(|e| !e.cert_authority && &e.key == key)
        {
            if let Some(ns) = &e.namespaces
                && match_pattern_list(namespace, ns) != Match::Yes
            {
                wrong_ns.push(e.principals.clone());
                continue;
            }
            let too_early = e.valid_after.is_some_and(|t| at < t);
            let too_late = e.valid_before.is_some_and(|t| at > t);
            if too_early || too_late {
                outside.push(e.principals.clone());
            } else {
                allowed.push(e.principals.clone());
            }
        }
        if !allowed.is_empty() {
            SignerLookup::Allowed {
                principals: allowed,
            }
        } else if !outside.is_empty() {
            SignerLookup::OutsideValidity {
                principals: outside,
            }
        } else if !wrong_ns.is_empty() {
            SignerLookup::NamespaceNotAllowed {
                principals: wrong_ns,
            }
        } else {
            SignerLookup::Unknown
        }
    }

    /// The fingerprints of the keys in the file (for messages).
    pub fn fingerprints(&self) -> Vec<String> {
        self.entries.iter().map(|e| fingerprint(&e.key)).collect()
    }
}

/// Whether `principal` matches an entry's principal pattern list (`ssh-keygen -Y verify -I`).
pub fn principal_matches(principal: &str, patterns: &str) -> bool {
    match_pattern_list(principal, patterns) == Match::Yes
}

fn parse_line(line: &str) -> Result<Entry, LineError> {
    let (principals, rest) = next_field(line)?;
    if principals.is_empty() {
        return Err(LineError::NoPrincipals);
    }
    let rest = rest.trim_start_matches([' ', '\t']);
    let (first, after_first) = next_field(rest)?;
    let (options, key_text) = if ssh_key::Algorithm::new(&first).is_ok() {
        (None, rest)
    } else {
        (Some(first), after_first.trim_start_matches([' ', '\t']))
    };
    let mut entry = Entry {
        principals,
        key: parse_key(key_text)?,
        namespaces: None,
        valid_after: None,
        valid_before: None,
        cert_authority: false,
    };
    if let Some(opts) = options {
        parse_options(&opts, &mut entry)?;
    }
    if let (Some(a), Some(b)) = (entry.valid_after, entry.valid_before)
        && b <= a
    {
        return Err(LineError::ValidityInverted);
    }
    Ok(entry)
}

fn parse_key(text: &str) -> Result<KeyData, LineError> {
    let mut parts = text.split([' ', '\t']).filter(|p| !p.is_empty());
    let (Some(alg), Some(b64)) = (parts.next(), parts.next()) else {
        return Err(LineError::MissingKey);
    };
    let key = ssh_key::PublicKey::from_openssh(&format!("{alg} {b64}"))
        .map_err(|e| LineError::InvalidKey(e.to_string()))?;
    Ok(key.key_data().clone())
}

/// One whitespace-delimited field; a field may contain double-quoted parts with spaces (as
/// ssh-keygen's `strdelimw` and option parser allow). Returns the field without surrounding
/// quotes when it is quoted whole, and the rest of the line.
fn next_field(s: &str) -> Result<(String, &str), LineError> {
    let mut in_quotes = false;
    let mut end = s.len();
    for (i, c) in s.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ' ' | '\t' if !in_quotes => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    if in_quotes {
        return Err(LineError::UnterminatedQuote);
    }
    let field = &s[..end];
    let field = match field.strip_prefix('"').and_then(|f| f.strip_suffix('"')) {
        Some(inner) if !inner.contains('"') => inner,
        _ => field,
    };
    Ok((field.to_owned(), &s[end..]))
}

fn parse_options(opts: &str, entry: &mut Entry) -> Result<(), LineError> {
    let mut rest = opts;
    while !rest.is_empty() {
        if let Some(r) = strip_prefix_ci(rest, "cert-authority") {
            entry.cert_authority = true;
            rest = r;
        } else if let Some(r) = strip_prefix_ci(rest, "namespaces=") {
            let (v, r) = quoted(r)?;
            entry.namespaces = Some(v);
            rest = r;
        } else if let Some(r) = strip_prefix_ci(rest, "valid-after=") {
            let (v, r) = quoted(r)?;
            entry.valid_after = Some(parse_time(&v)?);
            rest = r;
        } else if let Some(r) = strip_prefix_ci(rest, "valid-before=") {
            let (v, r) = quoted(r)?;
            entry.valid_before = Some(parse_time(&v)?);
            rest = r;
        } else {
            return Err(LineError::UnsupportedOption(opts.to_owned()));
        }
        if rest.is_empty() {
            break;
        }
        rest = rest
            .strip_prefix(',')
            .ok_or_else(|| LineError::UnknownOption(opts.to_owned()))?;
        if rest.is_empty() {
            return Err(LineError::OptionsEnd);
        }
    }
    Ok(())
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// A double-quoted option value and the text after its closing quote.
fn quoted(s: &str) -> Result<(String, &str), LineError> {
    let inner = s.strip_prefix('"').ok_or(LineError::Unquoted)?;
    let end = inner.find('"').ok_or(LineError::UnterminatedQuote)?;
    Ok((inner[..end].to_owned(), &inner[end + 1..]))
}

/// `YYYYMMDD`, `YYYYMMDDHHMM` or `YYYYMMDDHHMMSS`, local time unless suffixed with `Z` (UTC).
fn parse_time(text: &str) -> Result<Timestamp, LineError> {
    let bad = || LineError::InvalidTime(text.to_owned());
    let (digits, utc) = match text.strip_suffix(['Z', 'z']) {
        Some(d) => (d, true),
        None => (text, false),
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) || ![8, 12, 14].contains(&digits.len()) {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i16, LineError> {
        digits
            .get(r)
            .unwrap_or("0")
            .parse::<i16>()
            .map_err(|_| bad())
    };
    let year = num(0..4)?;
    let (month, day) = (num(4..6)?, num(6..8)?);
    let (hour, minute, second) = if digits.len() >= 12 {
        (
            num(8..10)?,
            num(10..12)?,
            if digits.len() == 14 { num(12..14)? } else { 0 },
        )
    } else {
        (0, 0, 0)
    };
    let dt = jiff::civil::DateTime::new(
        year,
        i8::try_from(month).map_err(|_| bad())?,
        i8::try_from(day).map_err(|_| bad())?,
        i8::try_from(hour).map_err(|_| bad())?,
        i8::try_from(minute).map_err(|_| bad())?,
        i8::try_from(second).map_err(|_| bad())?,
        0,
    )
    .map_err(|_| bad())?;
    let tz = if utc {
        jiff::tz::TimeZone::UTC
    } else {
        jiff::tz::TimeZone::system()
    };
    dt.to_zoned(tz).map(|z| z.timestamp()).map_err(|_| bad())
}

#[derive(Debug, PartialEq, Eq)]
enum Match {
    Yes,
    No,
    Negated,
}

/// OpenSSH's `match_pattern_list`: a comma-separated list of patterns, any of which may be
/// negated with `!`; a matching negated pattern wins.
fn match_pattern_list(s: &str, list: &str) -> Match {
    let mut got = Match::No;
    for pattern in list.split(',') {
        let (negated, p) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern),
        };
        if match_pattern(s.as_bytes(), p.as_bytes()) {
            if negated {
                return Match::Negated;
            }
            got = Match::Yes;
        }
    }
    got
}

/// `*` matches any run of characters, `?` any one character.
fn match_pattern(s: &[u8], p: &[u8]) -> bool {
    let (mut si, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            si += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sshsig::sign;

    fn key(seed: u8) -> ssh_key::PrivateKey {
        let kp = ssh_key::private::Ed25519Keypair::from_seed(&[seed; 32]);
        ssh_key::PrivateKey::new(ssh_key::private::KeypairData::Ed25519(kp), "k").unwrap()
    }

    fn pubkey(seed: u8) -> String {
        key(seed).public_key().to_openssh().unwrap()
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn check(file: &str, seed: u8, ns: &str, time: &str) -> SignerLookup {
        let signers = AllowedSigners::parse(file, "allowed_signers").unwrap();
        let sig = sign(&key(seed), ns, b"x").unwrap();
        signers.lookup(&sig, ns, at(time))
    }

    #[test]
    fn a_plain_line_allows_its_key_for_its_principals() {
        let file = format!("# comment\n\nagent@example.org {}\n", pubkey(1));
        assert_eq!(
            check(&file, 1, "evidence-archive", "2026-01-01T00:00:00Z"),
            SignerLookup::Allowed {
                principals: vec!["agent@example.org".into()]
            }
        );
        assert_eq!(
            check(&file, 2, "evidence-archive", "2026-01-01T00:00:00Z"),
            SignerLookup::Unknown
        );
    }

    #[test]
    fn namespaces_and_validity_windows_are_enforced_inclusively() {
        let file = format!(
            "a,b namespaces=\"evidence-*,!evidence-test\",valid-after=\"20260101Z\",valid-before=\"20261231235959Z\" {}\n",
            pubkey(1)
        );
        let ok = SignerLookup::Allowed {
            principals: vec!["a,b".into()],
        };
        assert_eq!(
            check(&file, 1, "evidence-archive", "2026-01-01T00:00:00Z"),
            ok
        );
        assert_eq!(
            check(&file, 1, "evidence-archive", "2026-12-31T23:59:59Z"),
            ok
        );
        assert!(matches!(
            check(&file, 1, "evidence-archive", "2025-12-31T23:59:59Z"),
            SignerLookup::OutsideValidity { .. }
        ));
        assert!(matches!(
            check(&file, 1, "evidence-archive", "2027-01-01T00:00:00Z"),
            SignerLookup::OutsideValidity { .. }
        ));
        assert!(matches!(
            check(&file, 1, "evidence-test", "2026-06-01T00:00:00Z"),
            SignerLookup::NamespaceNotAllowed { .. }
        ));
        assert!(matches!(
            check(&file, 1, "git", "2026-06-01T00:00:00Z"),
            SignerLookup::NamespaceNotAllowed { .. }
        ));
    }

    #[test]
    fn malformed_lines_are_errors_naming_the_line() {
        for bad in [
            format!("p nonsense=\"1\" {}", pubkey(1)),
            format!("p valid-after=\"2026\" {}", pubkey(1)),
            format!("p valid-after=20260101 {}", pubkey(1)),
            format!(
                "p valid-after=\"20260102Z\",valid-before=\"20260101Z\" {}",
                pubkey(1)
            ),
            "p ssh-ed25519 AAAA".to_owned(),
            "p".to_owned(),
            format!("\"p {}", pubkey(1)),
            format!("p namespaces=\"x\", {}", pubkey(1)),
        ] {
            let text = format!("# ok\n{bad}\n");
            let err = AllowedSigners::parse(&text, "f").unwrap_err().to_string();
            assert!(err.starts_with("f:2:"), "{bad}: {err}");
        }
    }

    #[test]
    fn cert_authority_lines_parse_but_never_match() {
        let file = format!("*@example.org cert-authority {}\n", pubkey(1));
        assert_eq!(
            check(&file, 1, "evidence-archive", "2026-01-01T00:00:00Z"),
            SignerLookup::Unknown
        );
    }

    #[test]
    fn patterns_match_like_openssh() {
        assert!(principal_matches("alice@example.org", "*@example.org"));
        assert!(principal_matches("bob", "alice,bob"));
        assert!(!principal_matches("eve@example.org", "*@example.org,!eve*"));
        assert!(principal_matches("a1", "a?"));
        assert!(!principal_matches("a12", "a?"));
        assert!(principal_matches("", "*"));
        assert!(!principal_matches("x", ""));
    }

    #[test]
    fn quoted_principals_are_unquoted() {
        let file = format!("\"alice@example.org,bob\" {}\n", pubkey(1));
        assert_eq!(
            check(&file, 1, "evidence-archive", "2026-01-01T00:00:00Z"),
            SignerLookup::Allowed {
                principals: vec!["alice@example.org,bob".into()]
            }
        );
    }
}
