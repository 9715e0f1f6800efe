//! Exact decimal rates (`Rate`) and confidence levels (`Confidence`), parsed from text, never from `f64`.

use std::fmt;
use std::str::FromStr;

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Zero};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Result, SamplingError};
use crate::exact;

/// A rate in `[0, 1)`, held as an exact rational.
///
/// Parsed from a decimal string (`"0.05"`, `".035"`) or a percentage (`"5%"`, `"3.5%"`).
/// `0.035 × 400` is exactly `14`. Serialises as its exact decimal string.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate(BigRational);

impl Rate {
    /// Parses a decimal or percentage string into a rate in `[0, 1)`.
    pub fn parse(text: &str) -> Result<Self> {
        let value = parse_decimal(text)?;
        Self::from_ratio_named("rate", value)
    }

    /// A rate from an exact ratio `num/den`.
    pub fn from_ratio(num: u64, den: u64) -> Result<Self> {
        if den == 0 {
            return Err(SamplingError::InvalidNumber {
                input: format!("{num}/{den}"),
                reason: "denominator is zero".into(),
            });
        }
        Self::from_ratio_named("rate", exact::ratio(num, den))
    }

    /// A rate from a rational, checked to lie in `[0, 1)`.
    pub(crate) fn from_ratio_named(name: &'static str, value: BigRational) -> Result<Self> {
        if value < BigRational::zero() || value >= BigRational::one() {
            return Err(SamplingError::OutOfRange {
                name,
                value: exact::decimal(&value, 12),
                reason: "a rate must lie in [0, 1)".into(),
            });
        }
        Ok(Rate(value))
    }

    /// The zero rate.
    pub fn zero() -> Self {
        Rate(BigRational::zero())
    }

    /// The exact value.
    pub fn ratio(&self) -> &BigRational {
        &self.0
    }

    /// True for the zero rate.
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// The nearest `f64` (for display only).
    pub fn to_f64(&self) -> f64 {
        exact::to_f64(&self.0)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&exact::decimal(&self.0, 12))
    }
}

impl fmt::Debug for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rate({self})")
    }
}

impl FromStr for Rate {
    type Err = SamplingError;
    fn from_str(s: &str) -> Result<Self> {
        Rate::parse(s)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Rate::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A confidence level `c` in the open interval `(0, 1)`; the risk is `α = 1 − c`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Confidence(BigRational);

impl Confidence {
    /// Parses `"0.95"` or `"95%"`.
    pub fn parse(text: &str) -> Result<Self> {
        Self::from_ratio_checked(parse_decimal(text)?)
    }

    /// A confidence from an exact ratio `num/den`.
    pub fn from_ratio(num: u64, den: u64) -> Result<Self> {
        if den == 0 {
            return Err(SamplingError::InvalidNumber {
                input: format!("{num}/{den}"),
                reason: "denominator is zero".into(),
            });
        }
        Self::from_ratio_checked(exact::ratio(num, den))
    }

    fn from_ratio_checked(value: BigRational) -> Result<Self> {
        if value <= BigRational::zero() || value >= BigRational::one() {
            return Err(SamplingError::OutOfRange {
                name: "confidence",
                value: exact::decimal(&value, 12),
                reason: "confidence must lie strictly between 0 and 1".into(),
            });
        }
        Ok(Confidence(value))
    }

    /// The exact confidence `c`.
    pub fn ratio(&self) -> &BigRational {
        &self.0
    }

    /// The exact risk `α = 1 − c`.
    pub fn alpha(&self) -> BigRational {
        BigRational::one() - &self.0
    }

    /// The nearest `f64` of `c` (display only).
    pub fn to_f64(&self) -> f64 {
        exact::to_f64(&self.0)
    }
}

impl fmt::Display for Confidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&exact::decimal(&self.0, 12))
    }
}

impl fmt::Debug for Confidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Confidence({self})")
    }
}

impl FromStr for Confidence {
    type Err = SamplingError;
    fn from_str(s: &str) -> Result<Self> {
        Confidence::parse(s)
    }
}

impl Serialize for Confidence {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Confidence {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Confidence::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Parses an unsigned decimal (`"0.05"`, `"5"`, `".5"`) with an optional trailing `%` into a rational.
pub(crate) fn parse_decimal(text: &str) -> Result<BigRational> {
    let invalid = |reason: &str| SamplingError::InvalidNumber {
        input: text.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = text.trim();
    let (body, percent) = match trimmed.strip_suffix('%') {
        Some(b) => (b.trim_end(), true),
        None => (trimmed, false),
    };
    if body.is_empty() {
        return Err(invalid("empty"));
    }
    let (whole, frac) = match body.split_once('.') {
        Some((w, f)) => (w, f),
        None => (body, ""),
    };
    if whole.is_empty() && frac.is_empty() {
        return Err(invalid("no digits"));
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("expected an unsigned decimal such as 0.05 or 5%"));
    }
    if whole.len() + frac.len() > 60 {
        return Err(invalid("too many digits"));
    }
    let digits = format!("{whole}{frac}");
    let num: BigInt = digits
        .parse()
        .map_err(|_| invalid("expected an unsigned decimal"))?;
    let mut places = frac.len();
    if percent {
        places += 2;
    }
    let den = num_traits::pow(BigInt::from(10), places);
    Ok(BigRational::new(num, den))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_exactly_so_0_035_times_400_is_14() {
        let r = Rate::parse("0.035").unwrap();
        let product = r.ratio() * BigRational::from_integer(BigInt::from(400));
        assert_eq!(product, BigRational::from_integer(BigInt::from(14)));
        let r = Rate::parse("0.07").unwrap();
        let product = r.ratio() * BigRational::from_integer(BigInt::from(1300));
        assert_eq!(product, BigRational::from_integer(BigInt::from(91)));
    }

    #[test]
    fn percentages_and_decimals_parse_to_the_same_rate() {
        assert_eq!(Rate::parse("5%").unwrap(), Rate::parse("0.05").unwrap());
        assert_eq!(
            Rate::parse("3.25 %").unwrap(),
            Rate::parse(".0325").unwrap()
        );
    }

    #[test]
    fn rates_outside_the_unit_interval_are_rejected() {
        assert!(Rate::parse("1").is_err());
        assert!(Rate::parse("100%").is_err());
        assert!(Rate::parse("-0.1").is_err());
        assert!(Rate::parse("abc").is_err());
        assert!(Rate::parse("").is_err());
        assert!(Rate::parse(".").is_err());
        assert!(Rate::parse("1e-3").is_err());
    }

    #[test]
    fn confidence_must_be_strictly_between_zero_and_one() {
        assert!(Confidence::parse("0").is_err());
        assert!(Confidence::parse("1").is_err());
        assert!(Confidence::parse("1.5").is_err());
        let c = Confidence::parse("95%").unwrap();
        assert_eq!(c.alpha(), BigRational::new(1.into(), 20.into()));
    }

    #[test]
    fn rates_serialise_as_exact_decimal_strings() {
        let r = Rate::parse("2.75%").unwrap();
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"0.0275\"");
        let back: Rate = serde_json::from_str("\"0.0275\"").unwrap();
        assert_eq!(back, r);
        assert!(serde_json::from_str::<Rate>("\"2\"").is_err());
    }
}
