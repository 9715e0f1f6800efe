//! Exact rational helpers: ceilings, decimal formatting and rigorous bounds on `e^-λ`.

use num_bigint::BigInt;
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};

/// Ceiling of a rational as a big integer.
pub(crate) fn ceil(r: &BigRational) -> BigInt {
    r.ceil().to_integer()
}

/// Ceiling of a non-negative rational as `u64`, or `None` when it does not fit.
pub(crate) fn ceil_u64(r: &BigRational) -> Option<u64> {
    ceil(r).to_u64()
}

/// A rational from two integers (`den` must be non-zero; callers pass literals or checked values).
pub(crate) fn ratio(num: u64, den: u64) -> BigRational {
    BigRational::new(BigInt::from(num), BigInt::from(den.max(1)))
}

/// A rational as `f64` (nearest; only for display and screening, never for decisions).
pub(crate) fn to_f64(r: &BigRational) -> f64 {
    r.to_f64().unwrap_or(f64::NAN)
}

/// True when the decimal expansion of `r` terminates (denominator of the form 2^a·5^b).
pub(crate) fn terminates(r: &BigRational) -> bool {
    let mut d = r.denom().abs();
    for p in [2u32, 5] {
        let p = BigInt::from(p);
        while d.is_multiple_of(&p) {
            d /= &p;
        }
    }
    d.is_one()
}

/// The exact decimal expansion of a terminating rational, without trailing zeros
/// (at least one digit after the point is dropped: `1/2` → `0.5`, `3` → `3`).
/// Non-terminating values are rounded **up** at `max_places` places.
pub(crate) fn decimal(r: &BigRational, max_places: usize) -> String {
    let s = if terminates(r) {
        // Find the number of places needed (bounded by the powers of 2 and 5).
        let mut places = 0usize;
        let mut scaled = r.clone();
        while !scaled.is_integer() && places < 400 {
            scaled *= BigRational::from_integer(BigInt::from(10));
            places += 1;
        }
        fixed(r, places, false)
    } else {
        fixed(r, max_places, true)
    };
    trim_zeros(s)
}

/// `r` with exactly `places` decimals, rounded up (`round_up`) or down (truncated toward −∞).
pub(crate) fn fixed(r: &BigRational, places: usize, round_up: bool) -> String {
    let scale = num_traits::pow(BigInt::from(10), places);
    let scaled = r * BigRational::from_integer(scale.clone());
    let int = if round_up {
        scaled.ceil().to_integer()
    } else {
        scaled.floor().to_integer()
    };
    let negative = int.is_negative();
    let digits = int.abs().to_string();
    let digits = if digits.len() <= places {
        format!("{}{}", "0".repeat(places + 1 - digits.len()), digits)
    } else {
        digits
    };
    let (whole, frac) = digits.split_at(digits.len() - places);
    let sign = if negative { "-" } else { "" };
    if places == 0 {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{frac}")
    }
}

fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Rigorous rational bounds `lo <= e^-λ <= hi` for rational `λ >= 0`, from the Taylor series of `e^λ`.
///
/// `level` controls the number of terms; raising it tightens the bounds without limit, so a
/// comparison of `e^-λ·S` against a rational can always be decided (`e^-λ` is transcendental for
/// rational `λ > 0`, so exact ties cannot occur).
pub(crate) fn exp_neg_bounds(lambda: &BigRational, level: u32) -> (BigRational, BigRational) {
    if lambda.is_zero() {
        return (BigRational::one(), BigRational::one());
    }
    // Number of terms: enough to pass the peak of the series, then `level`-dependent extra.
    let lam_ceil = ceil(lambda).to_u64().unwrap_or(u64::MAX / 4);
    let m = 2 * lam_ceil + 16 * (1u64 << level.min(20));
    let mut term = BigRational::one();
    let mut sum = BigRational::one();
    for i in 1..=m {
        term = term * lambda / BigRational::from_integer(BigInt::from(i));
        sum += &term;
    }
    // Tail after term m: next = term·λ/(m+1), bounded by a geometric series with ratio λ/(m+2) < 1.
    let next = &term * lambda / BigRational::from_integer(BigInt::from(m + 1));
    let q = lambda / BigRational::from_integer(BigInt::from(m + 2));
    let tail = next / (BigRational::one() - q);
    let upper_exp = &sum + tail;
    (upper_exp.recip(), sum.recip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(n: i64, d: i64) -> BigRational {
        BigRational::new(BigInt::from(n), BigInt::from(d))
    }

    #[test]
    fn decimal_prints_terminating_fractions_exactly() {
        assert_eq!(decimal(&r(1, 20), 10), "0.05");
        assert_eq!(decimal(&r(7, 1), 10), "7");
        assert_eq!(decimal(&r(1, 3), 4), "0.3334");
    }

    #[test]
    fn fixed_rounds_up_or_down_as_asked() {
        assert_eq!(fixed(&r(2, 3), 3, true), "0.667");
        assert_eq!(fixed(&r(2, 3), 3, false), "0.666");
        assert_eq!(fixed(&r(5, 1), 2, true), "5.00");
    }

    #[test]
    fn exp_bounds_enclose_e_to_the_minus_one() {
        let (lo, hi) = exp_neg_bounds(&r(1, 1), 0);
        let e_inv = (-1.0f64).exp();
        assert!(to_f64(&lo) <= e_inv + 1e-15 && e_inv - 1e-15 <= to_f64(&hi));
        assert!(lo < hi);
    }
}
