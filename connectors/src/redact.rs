//! Keeping credentials out of messages: whether a config value that should name an environment
//! variable holds a credential instead, and text with the user information of every URL in it
//! removed, and errors as a chain of their `Display` texts. Pure.

use std::borrow::Cow;

/// Prefixes of well-known credential formats: GitHub, GitLab, Slack, OpenAI-style, Atlassian,
/// Stripe, npm, PyPI, Hugging Face.
const CREDENTIAL_PREFIXES: &[&str] = &[
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xoxa-",
    "xoxb-",
    "xoxp-",
    "xoxr-",
    "xoxs-",
    "xapp-",
    "sk-",
    "sk_live_",
    "rk_live_",
    "ATATT",
    "ATCTT",
    "npm_",
    "pypi-",
    "hf_",
    "eyJ",
];

/// True when `name` can be an environment variable's name: a letter or `_`, then letters,
/// digits and `_` (POSIX portable names; any case).
pub fn is_env_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 255
}

/// True when `value` looks like a credential rather than a name: a known token prefix, an AWS
/// access key id, or a long run of letters and digits without the underscores names have.
pub fn looks_like_credential(value: &str) -> bool {
    let aws_key_id = value.len() == 20
        && (value.starts_with("AKIA") || value.starts_with("ASIA"))
        && value
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    let random_looking = value.len() >= 20
        && !value.contains('_')
        && value.bytes().any(|b| b.is_ascii_digit())
        && value.bytes().all(|b| b.is_ascii_alphanumeric());
    // Real tokens are long and carry digits or capitals after their prefix; a lowercase name
    // such as `hf_token` or `npm_config_token` is a variable's name.
    let known_prefix = CREDENTIAL_PREFIXES.iter().any(|p| {
        value.len() >= 12
            && value.strip_prefix(p).is_some_and(|rest| {
                rest.bytes()
                    .any(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
            })
    });
    known_prefix || aws_key_id || random_looking
}

/// Why `value`, given for a key that names an environment variable (`token_env`), is not
/// usable as one; `None` when it is a plausible name. The reason never repeats the value.
pub fn env_var_name_problem(value: &str) -> Option<&'static str> {
    if looks_like_credential(value) {
        Some(
            "looks like a credential, not the name of an environment variable (the value is not repeated here); remove it from the file, rotate it, and put the variable's name here, e.g. \"GITHUB_TOKEN\"",
        )
    } else if !is_env_var_name(value) {
        Some(
            "is not the name of an environment variable (letters, digits and '_', not starting with a digit; the value is not repeated here), e.g. \"GITHUB_TOKEN\"",
        )
    } else {
        None
    }
}

/// True when `value` is a URL carrying user information (`https://user:password@host/`).
pub fn url_has_userinfo(value: &str) -> bool {
    redact_urls(value) != value
}

/// `text` with the user information of every URL in it replaced by `***`:
/// `https://user:pass@host/x` becomes `https://***@host/x`. Text without URLs is unchanged.
pub fn redact_urls(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut rest = text;
    let mut changed = false;
    while let Some(at) = rest.find("://") {
        let authority_start = at + 3;
        let after = &rest[authority_start..];
        let authority_len = after
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>' | '`' | ')')
                    || c.is_whitespace()
            })
            .unwrap_or(after.len());
        let authority = &after[..authority_len];
        out.push_str(&rest[..authority_start]);
        match authority.rfind('@') {
            Some(i) => {
                out.push_str("***");
                out.push_str(&authority[i..]);
                changed = true;
            }
            None => out.push_str(authority),
        }
        rest = &after[authority_len..];
    }
    if !changed {
        return Cow::Borrowed(text);
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// `text` with every word that looks like a credential replaced by `***`, and the user
/// information of every URL redacted: for messages that quote input, such as a TOML error
/// showing the offending line.
pub fn redact_credentials(text: &str) -> String {
    let text = redact_urls(text);
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if looks_like_credential(word) {
            out.push_str("***");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '-') {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// An error and its sources as one line of their `Display` texts joined by `: ` (never a
/// `Debug` dump), with URLs' user information redacted.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let text = e.to_string();
        // Some errors repeat their source's text in their own; say it once.
        if !text.is_empty() && !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    redact_urls(&parts.join(": ")).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_variables_pass_and_pasted_tokens_do_not() {
        for name in [
            "GITHUB_TOKEN",
            "JIRA_API_TOKEN",
            "_X",
            "mlflow_token",
            "HF_TOKEN",
            "hf_token",
            "npm_config_token",
        ] {
            assert_eq!(env_var_name_problem(name), None, "{name}");
        }
        for token in [
            "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
            "github_pat_11ABCDEFG0123456789_abcdefghijkl",
            "AKIAIOSFODNN7EXAMPLE",
            "xoxb-123-456-abc",
            "sk-proj-abc123",
            "ATATT3xFfGF0abc",
            "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
        ] {
            let problem = env_var_name_problem(token).unwrap();
            assert!(problem.contains("credential"), "{token}: {problem}");
            assert!(!problem.contains(token));
        }
        assert!(
            env_var_name_problem("my token")
                .unwrap()
                .contains("not the name")
        );
        assert!(env_var_name_problem("").is_some());
    }

    #[derive(Debug)]
    struct Wrapper(std::io::Error);
    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "cannot create https://u:p@h/x: {}", self.0)
        }
    }
    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn an_error_chain_names_each_cause_once_and_no_credentials() {
        let e = Wrapper(std::io::Error::from(std::io::ErrorKind::AlreadyExists));
        let text = error_chain(&e);
        assert_eq!(text.matches("entity already exists").count(), 1, "{text}");
        assert!(text.starts_with("cannot create https://***@h/x"), "{text}");
    }

    #[test]
    fn user_information_in_urls_is_redacted_wherever_it_is_in_the_text() {
        assert_eq!(
            redact_urls("endpoint https://ak:s3cret@minio.local:9000/b failed; see http://x/"),
            "endpoint https://***@minio.local:9000/b failed; see http://x/"
        );
        assert_eq!(
            redact_urls("\"http://u:p@h\" and (s3://k:v@bucket)"),
            "\"http://***@h\" and (s3://***@bucket)"
        );
        assert!(matches!(
            redact_urls("no credentials at https://example.org/a@b"),
            Cow::Borrowed(_)
        ));
        assert!(url_has_userinfo("https://user:pass@example.org"));
        assert_eq!(
            redact_credentials("2 | token = \"ghp_A1b2C3d4E5f6G7h8I9j0\"\n  | ^ unknown field"),
            "2 | token = \"***\"\n  | ^ unknown field"
        );
        assert!(!url_has_userinfo("https://example.org/user@x"));
    }
}
