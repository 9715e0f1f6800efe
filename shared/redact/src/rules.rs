//! The redaction rules: each has an id, a version, a class (secret or personal data), a pattern
//! written from the token format its issuer publishes, the capture group that holds the value,
//! and an optional check (Luhn, IBAN mod-97, entropy) the value must pass. Pure.

use std::sync::LazyLock;

use regex::bytes::Regex;
use serde::Serialize;

use crate::validate;

/// What a rule protects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleClass {
    /// Credentials and keys: on by default for every text artefact.
    Secret,
    /// Personal data about people: switched on per source.
    Personal,
}

/// One published rule.
#[derive(Debug)]
pub struct Rule {
    /// Stable identifier, written into every placeholder (`[REDACTED:<id>:…]`).
    pub id: &'static str,
    /// Bumped whenever the pattern or check changes what the rule matches.
    pub version: u32,
    /// Secret or personal data.
    pub class: RuleClass,
    /// One line on what it catches, and the published format it follows.
    pub description: &'static str,
    pattern: &'static str,
    /// The capture group holding the value to replace (0: the whole match).
    group: usize,
    check: Option<Check>,
}

/// A test a found value must pass: (value, whole match) → keep it.
type Check = fn(&[u8], &[u8]) -> bool;

/// A rule with its pattern compiled.
pub(crate) struct Compiled {
    pub(crate) rule: &'static Rule,
    pub(crate) regex: Regex,
}

impl Compiled {
    /// Every value this rule finds in `text`: (whole-match span, value span).
    pub(crate) fn find(&self, text: &[u8], out: &mut Vec<Candidate>, priority: usize) {
        for caps in self.regex.captures_iter(text) {
            let (Some(whole), Some(value)) = (caps.get(0), caps.get(self.rule.group)) else {
                continue;
            };
            let bytes = value.as_bytes();
            if bytes.starts_with(b"[REDACTED:") || bytes.is_empty() {
                continue;
            }
            if self
                .rule
                .check
                .is_some_and(|check| !check(bytes, whole.as_bytes()))
            {
                continue;
            }
            out.push(Candidate {
                whole_start: whole.start(),
                start: value.start(),
                end: value.end(),
                priority,
            });
        }
    }
}

/// A value one rule found, before overlapping finds are resolved.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Candidate {
    pub(crate) whole_start: usize,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) priority: usize,
}

fn not_a_placeholder_value(value: &[u8]) -> bool {
    let lower = value.to_ascii_lowercase();
    let ordinary: [&[u8]; 8] = [
        b"null",
        b"none",
        b"true",
        b"false",
        b"undefined",
        b"required",
        b"optional",
        b"redacted",
    ];
    !(ordinary.contains(&lower.as_slice())
        || lower.starts_with(b"${")
        || lower.starts_with(b"{{")
        || lower.starts_with(b"<")
        || lower.starts_with(b"$(")
        || lower.starts_with(b"%(")
        || lower.iter().all(|b| *b == b'*' || *b == b'x' || *b == b'.'))
}

fn phone_digits(value: &[u8]) -> bool {
    let digits = value.iter().filter(|b| b.is_ascii_digit()).count();
    (8..=15).contains(&digits)
}

/// Every rule, in priority order: when two rules find the same span, the earlier one names it.
pub static RULES: &[Rule] = &[
    Rule {
        id: "private-key",
        version: 1,
        class: RuleClass::Secret,
        description: "a PEM private-key block (RSA, EC, OpenSSH, PKCS#8, PGP), on one line or many",
        pattern: r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----",
        group: 0,
        check: None,
    },
    Rule {
        id: "github-token",
        version: 1,
        class: RuleClass::Secret,
        description: "GitHub personal, OAuth, user-to-server, server-to-server and refresh tokens (ghp_, gho_, ghu_, ghs_, ghr_ + 36)",
        pattern: r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b",
        group: 0,
        check: None,
    },
    Rule {
        id: "github-fine-grained-token",
        version: 1,
        class: RuleClass::Secret,
        description: "GitHub fine-grained personal access tokens (github_pat_ + 22 + _ + 59)",
        pattern: r"\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b",
        group: 0,
        check: None,
    },
    Rule {
        id: "gitlab-token",
        version: 1,
        class: RuleClass::Secret,
        description: "GitLab personal, deploy, runner, pipeline-trigger, feed, OAuth and agent tokens (glpat- and siblings)",
        pattern: r"\bgl(?:pat|dt|rt|ptt|ft|cbt|oas|soat|imt|agent)-[A-Za-z0-9_\-]{20,}",
        group: 0,
        check: None,
    },
    Rule {
        id: "aws-access-key-id",
        version: 1,
        class: RuleClass::Secret,
        description: "AWS access key ids (AKIA, ASIA, ABIA, ACCA + 16)",
        pattern: r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",
        group: 0,
        check: None,
    },
    Rule {
        id: "aws-secret-access-key",
        version: 1,
        class: RuleClass::Secret,
        description: "AWS secret access keys (40 base64 characters) after an aws_secret_access_key name",
        pattern: r#"(?i)aws_?secret_?(?:access_?)?key["']?[ \t]*[:=][ \t]*["']?([A-Za-z0-9/+=]{40})(?:[^A-Za-z0-9/+=]|$)"#,
        group: 1,
        check: None,
    },
    Rule {
        id: "gcp-api-key",
        version: 1,
        class: RuleClass::Secret,
        description: "Google Cloud API keys (AIza + 35)",
        pattern: r"\bAIza[0-9A-Za-z_\-]{35}",
        group: 0,
        check: None,
    },
    Rule {
        id: "azure-storage-key",
        version: 1,
        class: RuleClass::Secret,
        description: "Azure storage account keys in a connection string (AccountKey= + 88 base64)",
        pattern: r"(?i)AccountKey=([A-Za-z0-9+/]{86}==)",
        group: 1,
        check: None,
    },
    Rule {
        id: "azure-client-secret",
        version: 1,
        class: RuleClass::Secret,
        description: "Microsoft Entra ID client secrets (3 characters, a digit, Q~, 31 to 34 characters)",
        pattern: r"\b[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.\-]{31,34}",
        group: 0,
        check: None,
    },
    Rule {
        id: "slack-token",
        version: 1,
        class: RuleClass::Secret,
        description: "Slack bot, user, app and configuration tokens (xoxb-, xoxp-, xoxa-, xoxe-, xoxs-, xoxr-, xoxo-)",
        pattern: r"\bxox[abeposr]-[0-9A-Za-z\-]{10,}",
        group: 0,
        check: None,
    },
    Rule {
        id: "slack-webhook",
        version: 1,
        class: RuleClass::Secret,
        description: "Slack incoming-webhook URLs",
        pattern: r"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{20,}",
        group: 0,
        check: None,
    },
    Rule {
        id: "stripe-key",
        version: 1,
        class: RuleClass::Secret,
        description: "Stripe secret and restricted keys (sk_live_, sk_test_, rk_live_, rk_test_)",
        pattern: r"\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{24,}",
        group: 0,
        check: None,
    },
    Rule {
        id: "anthropic-key",
        version: 1,
        class: RuleClass::Secret,
        description: "Anthropic API and admin keys (sk-ant-api03-, sk-ant-admin01-)",
        pattern: r"\bsk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_\-]{80,}",
        group: 0,
        check: None,
    },
    Rule {
        id: "openai-key",
        version: 1,
        class: RuleClass::Secret,
        description: "OpenAI API keys (sk-, sk-proj-, sk-svcacct-, sk-admin-; the T3BlbkFJ marker)",
        pattern: r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}T3BlbkFJ[A-Za-z0-9_\-]{20,}|\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,}",
        group: 0,
        check: None,
    },
    Rule {
        id: "huggingface-token",
        version: 1,
        class: RuleClass::Secret,
        description: "Hugging Face user access tokens (hf_ + 34)",
        pattern: r"\bhf_[A-Za-z0-9]{34}\b",
        group: 0,
        check: None,
    },
    Rule {
        id: "atlassian-api-token",
        version: 1,
        class: RuleClass::Secret,
        description: "Atlassian (Jira, Confluence) API tokens (ATATT3 + about 186)",
        pattern: r"\bATATT3[A-Za-z0-9_\-=]{150,}",
        group: 0,
        check: None,
    },
    Rule {
        id: "jwt",
        version: 1,
        class: RuleClass::Secret,
        description: "JSON Web Tokens (three base64url parts, header and payload starting eyJ)",
        pattern: r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{16,}",
        group: 0,
        check: None,
    },
    Rule {
        id: "url-credentials",
        version: 1,
        class: RuleClass::Secret,
        description: "the password in a URL's user information (scheme://user:password@host)",
        pattern: r#"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@"']+:([^/\s@"']+)@"#,
        group: 1,
        check: None,
    },
    Rule {
        id: "password-assignment",
        version: 1,
        class: RuleClass::Secret,
        description: "the value of a password=, secret:, api_key=, token: style assignment (JSON, YAML, env, query strings)",
        pattern: r#"(?i)(?:\b|[_.\-])(?:password|passwd|pwd|passphrase|secret|client_secret|api_?key|access_?token|auth_?token|token)["']?[ \t]*[:=][ \t]*["']?([^\s"',;&}\]]{4,})"#,
        group: 1,
        check: Some(|v, _| not_a_placeholder_value(v)),
    },
    Rule {
        id: "high-entropy-assignment",
        version: 1,
        class: RuleClass::Secret,
        description: "a random-looking value (20+ characters, ≥ 3.5 bits per character) assigned to a name containing key, secret, token, credential, auth or signature",
        pattern: r#"(?i)\b[\w.\-]*(?:key|secret|token|credential|auth|signature)[\w.\-]*["']?[ \t]*[:=][ \t]*["']?([A-Za-z0-9+/_=\-]{20,})"#,
        group: 1,
        check: Some(validate::high_entropy_assignment),
    },
    Rule {
        id: "email",
        version: 1,
        class: RuleClass::Personal,
        description: "e-mail addresses",
        pattern: r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b",
        group: 0,
        check: None,
    },
    Rule {
        id: "phone",
        version: 1,
        class: RuleClass::Personal,
        description: "telephone numbers in international (+…) or North American ((555) 123-4567) form",
        pattern: r"\+[1-9][0-9 ().\-]{6,18}[0-9]|\(\d{3}\) ?\d{3}-\d{4}",
        group: 0,
        check: Some(|v, _| phone_digits(v)),
    },
    Rule {
        id: "iban",
        version: 1,
        class: RuleClass::Personal,
        description: "International Bank Account Numbers that pass the ISO 7064 mod-97 check",
        pattern: r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b",
        group: 0,
        check: Some(|v, _| validate::iban(v)),
    },
    Rule {
        id: "payment-card",
        version: 1,
        class: RuleClass::Personal,
        description: "payment card numbers (13 to 19 digits) that pass the Luhn check",
        pattern: r"\b\d(?:[ \-]?\d){12,18}\b",
        group: 0,
        check: Some(|v, _| validate::luhn(v)),
    },
    Rule {
        id: "ipv4",
        version: 1,
        class: RuleClass::Personal,
        description: "IPv4 addresses",
        pattern: r"\b(?:\d{1,3}\.){3}\d{1,3}\b",
        group: 0,
        check: Some(|v, _| validate::ipv4(v)),
    },
    Rule {
        id: "ipv6",
        version: 1,
        class: RuleClass::Personal,
        description: "IPv6 addresses, full or compressed (three groups at least, so a::b in code is not one)",
        pattern: r"\b(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b|\b(?:[0-9a-fA-F]{1,4}:){1,6}:(?:[0-9a-fA-F]{1,4}:){0,5}[0-9a-fA-F]{1,4}\b",
        group: 0,
        check: Some(|v, _| validate::ipv6(v)),
    },
];

/// The start of a private-key block whose end is on a later line.
pub(crate) static BLOCK_BEGIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----").expect("a valid pattern")
});
/// The end of a private-key block.
pub(crate) static BLOCK_END: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----").expect("a valid pattern")
});
/// A placeholder this crate wrote: never redacted again, and nothing matches across it.
pub(crate) static PLACEHOLDER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[REDACTED:[a-z0-9\-]+:[0-9a-f]{8}\]").expect("a valid pattern"));
/// The rule id a multi-line private-key block is redacted under.
pub(crate) const BLOCK_RULE: &str = "private-key";

/// Every rule compiled once, in priority order.
pub(crate) static COMPILED: LazyLock<Vec<Compiled>> = LazyLock::new(|| {
    RULES
        .iter()
        .map(|rule| Compiled {
            rule,
            regex: Regex::new(rule.pattern).expect("every rule's pattern compiles (tested)"),
        })
        .collect()
});

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}
