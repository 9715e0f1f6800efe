//! Canonical JSON (RFC 8785 for the subset we write): object keys sorted, no insignificant
//! whitespace, integers only. The same record always serialises to the same bytes, so its digest
//! is stable across machines and versions.

use serde::Serialize;
use serde_json::Value;

/// Why a value has no canonical form.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CanonicalError {
    #[error("canonical JSON allows integers only; found {0} at {1}")]
    NonIntegerNumber(String, String),
    #[error("cannot serialise to JSON: {0}")]
    Serialise(#[from] serde_json::Error),
}

/// Serialise `value` as canonical JSON bytes.
pub fn to_vec<T: Serialize>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    // serde_json's `Value` keeps objects in a BTreeMap (no `preserve_order`), so keys come out
    // sorted by their UTF-8 bytes; our keys are ASCII, where that equals RFC 8785's UTF-16 order.
    let value = serde_json::to_value(value)?;
    check_integers(&value, &mut String::from("$"))?;
    Ok(serde_json::to_vec(&value)?)
}

fn check_integers(value: &Value, at: &mut String) -> Result<(), CanonicalError> {
    match value {
        Value::Number(n) if !(n.is_i64() || n.is_u64()) => {
            Err(CanonicalError::NonIntegerNumber(n.to_string(), at.clone()))
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let len = at.len();
                at.push_str(&format!("[{i}]"));
                check_integers(v, at)?;
                at.truncate(len);
            }
            Ok(())
        }
        Value::Object(map) => {
            for (k, v) in map {
                let len = at.len();
                at.push('.');
                at.push_str(k);
                check_integers(v, at)?;
                at.truncate(len);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_and_whitespace_removed() {
        let v = json!({"b": 1, "a": {"d": [1, 2], "c": "x"}});
        assert_eq!(to_vec(&v).unwrap(), br#"{"a":{"c":"x","d":[1,2]},"b":1}"#);
    }

    #[test]
    fn floats_are_refused_with_their_location() {
        let v = json!({"metrics": {"loss": 0.25}});
        let err = to_vec(&v).unwrap_err().to_string();
        assert!(err.contains("$.metrics.loss"), "{err}");
    }

    #[test]
    fn control_characters_use_short_escapes() {
        let v = json!({"s": "a\nb\u{1}"});
        assert_eq!(to_vec(&v).unwrap(), br#"{"s":"a\nb\u0001"}"#);
    }
}
