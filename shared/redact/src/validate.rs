//! Checks a candidate must pass after its pattern matched: check digits and entropy. Pure.

/// True when the digits of `text` (spaces and dashes ignored) pass the Luhn check used by
/// payment card numbers, and there are 13 to 19 of them.
pub(crate) fn luhn(text: &[u8]) -> bool {
    let digits: Vec<u32> = text
        .iter()
        .filter(|b| b.is_ascii_digit())
        .map(|b| u32::from(b - b'0'))
        .collect();
    if !(13..=19).contains(&digits.len()) || digits.iter().all(|d| *d == digits[0]) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                *d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// True when `text` (spaces ignored) is an IBAN whose ISO 7064 mod-97 check holds.
pub(crate) fn iban(text: &[u8]) -> bool {
    let compact: Vec<u8> = text.iter().copied().filter(|b| *b != b' ').collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut remainder: u32 = 0;
    for &b in tail.iter().chain(head) {
        let value = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        let width = if value >= 10 { 100 } else { 10 };
        remainder = (remainder * width + value) % 97;
    }
    remainder == 1
}

/// True when every dotted part of an IPv4 address is at most 255 and the address is not a
/// version-like string such as `1.2.3.4` inside a longer dotted run (the pattern anchors that).
pub(crate) fn ipv4(text: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(text) else {
        return false;
    };
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.parse::<u16>().is_ok_and(|n| n <= 255))
}

/// True when `text` parses as an IPv6 address with at least three written groups.
pub(crate) fn ipv6(text: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(text) else {
        return false;
    };
    s.parse::<std::net::Ipv6Addr>().is_ok() && s.split(':').filter(|g| !g.is_empty()).count() >= 3
}

/// Shannon entropy of `text` in bits per byte.
pub(crate) fn entropy(text: &[u8]) -> f64 {
    if text.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in text {
        counts[usize::from(b)] += 1;
    }
    let len = text.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|&c| {
            let p = f64::from(c) / len;
            -p * p.log2()
        })
        .sum()
}

/// A value in key/value context counts as a secret when it is long and random enough, and is
/// not an ordinary word, path or number.
pub(crate) fn high_entropy(text: &[u8]) -> bool {
    let has_digit = text.iter().any(u8::is_ascii_digit);
    let has_alpha = text.iter().any(u8::is_ascii_alphabetic);
    text.len() >= 20 && has_digit && has_alpha && entropy(text) >= 3.5
}

/// Names whose values are opaque but not credentials: pagination and continuation tokens.
const NOT_CREDENTIAL_NAMES: [&[u8]; 5] = [
    b"continuation",
    b"pagination",
    b"cursor",
    b"nexttoken",
    b"pagetoken",
];

/// A high-entropy value in key/value context (`whole` is the whole assignment) is a secret
/// unless the name is a pagination token's or the value is a lowercase path or slug
/// (`models/credit-risk/v14`), which object keys and prefixes are.
pub(crate) fn high_entropy_assignment(value: &[u8], whole: &[u8]) -> bool {
    let name = whole.to_ascii_lowercase();
    let name = name
        .split(|b| *b == b':' || *b == b'=')
        .next()
        .unwrap_or_default();
    if NOT_CREDENTIAL_NAMES
        .iter()
        .any(|n| name.windows(n.len()).any(|w| w == *n))
    {
        return false;
    }
    let has_upper = value.iter().any(u8::is_ascii_uppercase);
    let separated = value.iter().any(|b| matches!(b, b'/' | b'-' | b'_'));
    if !has_upper && separated {
        return false;
    }
    high_entropy(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_published_test_card_numbers_and_refuses_near_misses() {
        assert!(luhn(b"4111 1111 1111 1111"));
        assert!(luhn(b"5500-0000-0000-0004"));
        assert!(luhn(b"378282246310005"));
        assert!(!luhn(b"4111 1111 1111 1112"));
        assert!(
            !luhn(b"0000 0000 0000 0000"),
            "a run of one digit is not a card"
        );
        assert!(!luhn(b"123456789012"), "too short");
    }

    #[test]
    fn iban_checks_the_mod_97_digits() {
        assert!(iban(b"GB82 WEST 1234 5698 7654 32"));
        assert!(iban(b"DE89370400440532013000"));
        assert!(!iban(b"GB82 WEST 1234 5698 7654 33"));
        assert!(!iban(b"GB82"));
    }

    #[test]
    fn object_keys_and_pagination_tokens_are_not_secrets() {
        assert!(!high_entropy_assignment(
            b"models/credit-risk/v14/model",
            b"\"Key\": \"models/credit-risk/v14/model"
        ));
        assert!(!high_entropy_assignment(
            b"1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=",
            b"NextContinuationToken\": \"1ueG"
        ));
        assert!(high_entropy_assignment(
            b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            b"secret_key = wJal"
        ));
        assert!(high_entropy_assignment(
            b"9f2c1e7a4b3d2c1e0f9a8b7c6d5e4f3a",
            b"api_key=9f2c"
        ));
    }

    #[test]
    fn ipv4_octets_stay_within_255() {
        assert!(ipv4(b"192.168.1.20"));
        assert!(!ipv4(b"300.1.1.1"));
        assert!(!ipv4(b"1.2.3"));
    }

    #[test]
    fn entropy_separates_random_tokens_from_words() {
        assert!(high_entropy(b"9fK2xQ7LmZp4Rt8VwYb3Nc6D"));
        assert!(!high_entropy(b"aaaaaaaaaaaaaaaaaaaaaaaa1"));
        assert!(
            !high_entropy(b"configuration_settings_file"),
            "no digit: a word"
        );
        assert!(!high_entropy(b"short1"));
    }
}
