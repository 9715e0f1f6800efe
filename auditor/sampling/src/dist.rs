//! Distribution functions: fast `f64` log-space CDFs for screening, exact rational CDFs for
//! decisions, and the screened comparison that joins them.
//!
//! A decision `risk <= α` is taken from the `f64` value only when it is further than a relative
//! margin of `1e-7` from `α`; the `f64` evaluations below are accurate to far better than that
//! (about `1e-11` relative for populations up to a million). Inside the margin the decision is
//! recomputed exactly: binomial and hypergeometric CDFs are rationals, and Poisson CDFs at integer
//! counts are `e^-λ` times a rational, decided with rigorous Taylor bounds on `e^-λ`.

use std::cmp::Ordering;

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Zero};
use serde::{Deserialize, Serialize};

use crate::exact;

/// How a risk is compared with `α`: `<=` (the textbook test, our default) or `<` (jfa's binomial
/// and Poisson planning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TieConvention {
    /// Accept when the exact risk is at most `α` (`P <= α`).
    #[default]
    AtMost,
    /// Accept only when the exact risk is strictly below `α` (`P < α`), as jfa does.
    Below,
}

impl TieConvention {
    /// Whether a risk that compares to `α` as `ord` is accepted.
    pub(crate) fn accepts(self, ord: Ordering) -> bool {
        match self {
            TieConvention::AtMost => ord != Ordering::Greater,
            TieConvention::Below => ord == Ordering::Less,
        }
    }

    /// The comparison as a symbol, for rationales.
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            TieConvention::AtMost => "<=",
            TieConvention::Below => "<",
        }
    }
}

const MARGIN: f64 = 1e-7;

/// Compares a risk with `α`: from the `f64` screen when it is clearly on one side, otherwise from
/// `exact()`.
pub(crate) fn screened(
    approx: f64,
    alpha: &BigRational,
    exact: impl FnOnce() -> Ordering,
) -> Ordering {
    let a = exact::to_f64(alpha);
    if approx.is_finite() && a.is_finite() {
        if approx < a * (1.0 - MARGIN) {
            return Ordering::Less;
        }
        if approx > a * (1.0 + MARGIN) {
            return Ordering::Greater;
        }
    }
    exact()
}

// ---------------------------------------------------------------------------------------------
// f64 special functions

const LANCZOS: [f64; 9] = [
    0.999_999_999_999_809_9,
    676.520_368_121_885_1,
    -1_259.139_216_722_402_8,
    771.323_428_777_653_1,
    -176.615_029_162_140_6,
    12.507_343_278_686_905,
    -0.138_571_095_265_720_12,
    9.984_369_578_019_572e-6,
    1.505_632_735_149_311_6e-7,
];

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7).
pub(crate) fn ln_gamma(x: f64) -> f64 {
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1−x) = π / sin(πx).
        let s = (std::f64::consts::PI * x).sin();
        return std::f64::consts::PI.ln() - s.abs().ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = LANCZOS[0];
    let t = x + 7.5;
    for (i, c) in LANCZOS.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// `ln C(n, k)`.
pub(crate) fn ln_choose(n: u64, k: u64) -> f64 {
    if k > n {
        return f64::NEG_INFINITY;
    }
    if k == 0 || k == n {
        return 0.0;
    }
    ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
}

fn log_sum_exp(terms: &[f64]) -> f64 {
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    let s: f64 = terms.iter().map(|t| (t - max).exp()).sum();
    max + s.ln()
}

/// `P(Bin(n, p) <= x)` in `f64`.
pub(crate) fn binom_cdf_f64(n: u64, x: u64, p: f64) -> f64 {
    if x >= n || p <= 0.0 {
        return 1.0;
    }
    if p >= 1.0 {
        return 0.0;
    }
    let lp = p.ln();
    let lq = (-p).ln_1p();
    let mut lc = 0.0f64;
    let mut terms = Vec::with_capacity(x as usize + 1);
    for i in 0..=x {
        if i > 0 {
            lc += ((n - i + 1) as f64 / i as f64).ln();
        }
        terms.push(lc + i as f64 * lp + (n - i) as f64 * lq);
    }
    log_sum_exp(&terms).exp().min(1.0)
}

/// `P(Bin(n, p) = i)` in `f64`.
pub(crate) fn binom_pmf_f64(n: u64, i: u64, p: f64) -> f64 {
    if i > n {
        return 0.0;
    }
    if p <= 0.0 {
        return if i == 0 { 1.0 } else { 0.0 };
    }
    (ln_choose(n, i) + i as f64 * p.ln() + (n - i) as f64 * (-p).ln_1p()).exp()
}

/// `H(x; N, K, n) = P(X <= x)` for `X` hypergeometric (population `N`, `K` defects, `n` drawn), `f64`.
pub(crate) fn hyper_cdf_f64(x: u64, pop: u64, defects: u64, n: u64) -> f64 {
    let lo = (n + defects).saturating_sub(pop);
    let hi = x.min(defects).min(n);
    if hi < lo {
        return 0.0;
    }
    if x >= defects.min(n) {
        return 1.0;
    }
    let total = ln_choose(pop, n);
    let terms: Vec<f64> = (lo..=hi)
        .map(|i| ln_choose(defects, i) + ln_choose(pop - defects, n - i) - total)
        .collect();
    log_sum_exp(&terms).exp().min(1.0)
}

/// `P(Pois(λ) <= x)` for integer `x`, `f64`.
pub(crate) fn pois_cdf_f64(x: u64, lambda: f64) -> f64 {
    if lambda <= 0.0 {
        return 1.0;
    }
    let ll = lambda.ln();
    let mut lf = 0.0f64;
    let mut terms = Vec::with_capacity(x as usize + 1);
    for i in 0..=x {
        if i > 0 {
            lf += (i as f64).ln();
        }
        terms.push(-lambda + i as f64 * ll - lf);
    }
    log_sum_exp(&terms).exp().min(1.0)
}

/// Regularised lower incomplete gamma `P(a, x)`.
pub(crate) fn gamma_p(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x < a + 1.0 {
        gamma_series(a, x)
    } else {
        1.0 - gamma_cf(a, x)
    }
}

/// Regularised upper incomplete gamma `Q(a, x) = 1 − P(a, x)`.
pub(crate) fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    if x < a + 1.0 {
        1.0 - gamma_series(a, x)
    } else {
        gamma_cf(a, x)
    }
}

fn gamma_series(a: f64, x: f64) -> f64 {
    let mut ap = a;
    let mut del = 1.0 / a;
    let mut sum = del;
    for _ in 0..100_000 {
        ap += 1.0;
        del *= x / ap;
        sum += del;
        if del.abs() < sum.abs() * 1e-17 {
            break;
        }
    }
    (sum.ln() - x + a * x.ln() - ln_gamma(a)).exp()
}

fn gamma_cf(a: f64, x: f64) -> f64 {
    let tiny = 1e-300;
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / tiny;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..100_000u32 {
        let an = -(i as f64) * (i as f64 - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < tiny {
            d = tiny;
        }
        c = b + an / c;
        if c.abs() < tiny {
            c = tiny;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-17 {
            break;
        }
    }
    (-x + a * x.ln() - ln_gamma(a) + h.ln()).exp()
}

/// Regularised incomplete beta `I_x(a, b)`.
pub(crate) fn beta_i(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (-x).ln_1p();
    if x < (a + 1.0) / (a + b + 2.0) {
        (ln_front).exp() * beta_cf(a, b, x) / a
    } else {
        1.0 - (ln_front).exp() * beta_cf(b, a, 1.0 - x) / b
    }
}

fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    let tiny = 1e-300;
    let qab = a + b;
    let qap = a + 1.0;
    let qam = a - 1.0;
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < tiny {
        d = tiny;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..100_000u32 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < tiny {
            d = tiny;
        }
        c = 1.0 + aa / c;
        if c.abs() < tiny {
            c = tiny;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < tiny {
            d = tiny;
        }
        c = 1.0 + aa / c;
        if c.abs() < tiny {
            c = tiny;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

/// Solves `f(p) = target` for a decreasing `f` on `[lo, hi]` by bisection (quantiles only; the
/// sample-size scans never bisect).
pub(crate) fn solve_decreasing(
    f: impl Fn(f64) -> f64,
    target: f64,
    mut lo: f64,
    mut hi: f64,
) -> f64 {
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if f(mid) > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The `λ` with `Q(shape, λ) = α` (gamma upper quantile at confidence `1 − α`, rate 1).
pub(crate) fn gamma_upper_quantile(shape: f64, alpha: f64) -> f64 {
    let mut hi = shape + 10.0;
    while gamma_q(shape, hi) > alpha && hi < 1e12 {
        hi *= 2.0;
    }
    solve_decreasing(|l| gamma_q(shape, l), alpha, 0.0, hi)
}

// ---------------------------------------------------------------------------------------------
// Exact CDFs

fn big(n: u64) -> BigInt {
    BigInt::from(n)
}

/// `C(n, k)` as a big integer.
pub(crate) fn choose(n: u64, k: u64) -> BigInt {
    if k > n {
        return BigInt::zero();
    }
    let k = k.min(n - k);
    let mut c = BigInt::one();
    for i in 0..k {
        c = c * big(n - i) / big(i + 1);
    }
    c
}

/// `n!` as a big integer.
pub(crate) fn factorial(n: u64) -> BigInt {
    (1..=n).fold(BigInt::one(), |acc, i| acc * big(i))
}

/// Exact `P(Bin(n, p) <= x)` for rational `p` in `[0, 1)`.
pub(crate) fn binom_cdf_exact(n: u64, x: u64, p: &BigRational) -> BigRational {
    if x >= n {
        return BigRational::one();
    }
    let a = p.numer().clone();
    let b = p.denom().clone();
    let c = &b - &a;
    if c.is_zero() {
        return BigRational::zero();
    }
    // term_i = C(n,i)·a^i·c^(n−i); term_{i+1} = term_i·(n−i)·a / ((i+1)·c), an exact division.
    let mut term = num_traits::pow(c.clone(), n as usize);
    let mut sum = term.clone();
    for i in 0..x {
        term = term * big(n - i) * &a / (big(i + 1) * &c);
        sum += &term;
    }
    BigRational::new(sum, num_traits::pow(b, n as usize))
}

/// Exact `P(Bin(n, p) = i)`.
pub(crate) fn binom_pmf_exact(n: u64, i: u64, p: &BigRational) -> BigRational {
    if i > n {
        return BigRational::zero();
    }
    let q = BigRational::one() - p;
    BigRational::from_integer(choose(n, i))
        * num_traits::pow(p.clone(), i as usize)
        * num_traits::pow(q, (n - i) as usize)
}

/// Exact `H(x; N, K, n)`.
pub(crate) fn hyper_cdf_exact(x: u64, pop: u64, defects: u64, n: u64) -> BigRational {
    let lo = (n + defects).saturating_sub(pop);
    let hi = x.min(defects).min(n);
    if hi < lo {
        return BigRational::zero();
    }
    if x >= defects.min(n) {
        return BigRational::one();
    }
    let good = pop - defects;
    let mut ck = choose(defects, lo);
    let mut cg = choose(good, n - lo);
    let mut sum = &ck * &cg;
    for i in lo..hi {
        // C(K, i+1) = C(K, i)·(K−i)/(i+1); C(G, n−i−1) = C(G, n−i)·(n−i)/(G−n+i+1).
        ck = ck * big(defects - i) / big(i + 1);
        cg = cg * big(n - i) / big(good + i + 1 - n);
        sum += &ck * &cg;
    }
    BigRational::new(sum, choose(pop, n))
}

/// Compares `e^-λ·s` with `α` exactly, for rationals `λ >= 0`, `s >= 0`, `α > 0`.
///
/// Generalised to a polynomial in `u = e^-λ` with non-negative coefficients:
/// `Σ_j coef[j]·u^j` (the risk is increasing in `u`, so bounds on `u` bound it).
pub(crate) fn compare_exp_poly(
    lambda: &BigRational,
    coef: &[BigRational],
    alpha: &BigRational,
) -> Ordering {
    let eval = |u: &BigRational| {
        let mut acc = BigRational::zero();
        let mut pow = BigRational::one();
        for c in coef {
            acc += c * &pow;
            pow *= u;
        }
        acc
    };
    if lambda.is_zero() {
        return eval(&BigRational::one()).cmp(alpha);
    }
    for level in 0..12 {
        let (lo, hi) = exact::exp_neg_bounds(lambda, level);
        let low = eval(&lo);
        let high = eval(&hi);
        if high < *alpha {
            return Ordering::Less;
        }
        if low > *alpha {
            return Ordering::Greater;
        }
        if low == high {
            return low.cmp(alpha);
        }
    }
    // Unreachable in practice (e^-λ is transcendental): fall back to the midpoint.
    let (lo, hi) = exact::exp_neg_bounds(lambda, 12);
    let mid = (eval(&lo) + eval(&hi)) / BigRational::from_integer(BigInt::from(2));
    mid.cmp(alpha)
}

/// `Σ_{i<=x} λ^i / i!` (so that `P(Pois(λ) <= x) = e^-λ·this`).
pub(crate) fn pois_partial_sum(x: u64, lambda: &BigRational) -> BigRational {
    let mut term = BigRational::one();
    let mut sum = BigRational::one();
    for i in 1..=x {
        term = term * lambda / BigRational::from_integer(big(i));
        sum += &term;
    }
    sum
}

/// Exact comparison of `P(Pois(λ) <= x)` with `α`.
pub(crate) fn pois_cdf_cmp_exact(x: u64, lambda: &BigRational, alpha: &BigRational) -> Ordering {
    let s = pois_partial_sum(x, lambda);
    compare_exp_poly(lambda, &[BigRational::zero(), s], alpha)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(n: i64, d: i64) -> BigRational {
        BigRational::new(BigInt::from(n), BigInt::from(d))
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        assert!((ln_gamma(1.0)).abs() < 1e-14);
        assert!((ln_gamma(11.0) - 3_628_800f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-13);
    }

    #[test]
    fn exact_binomial_cdf_agrees_with_the_float_one() {
        let p = r(1, 20);
        let exact = exact::to_f64(&binom_cdf_exact(59, 0, &p));
        assert!((exact - 0.95f64.powi(59)).abs() < 1e-15);
        let e = exact::to_f64(&binom_cdf_exact(722, 20, &r(1, 25)));
        let f = binom_cdf_f64(722, 20, 0.04);
        assert!((e - f).abs() < 1e-12 * e);
    }

    #[test]
    fn float_screens_stay_far_inside_the_exact_fallback_margin() {
        let mut worst = 0.0f64;
        for (n, x, num, den) in [
            (59, 0, 1, 20),
            (722, 20, 1, 25),
            (5000, 200, 1, 20),
            (20_000, 150, 1, 200),
        ] {
            let e = exact::to_f64(&binom_cdf_exact(n, x, &r(num, den)));
            let f = binom_cdf_f64(n, x, num as f64 / den as f64);
            worst = worst.max((e - f).abs() / e);
        }
        for (x, pop, k, n) in [
            (0, 100, 1, 90),
            (3, 2000, 100, 150),
            (10, 100_000, 5000, 400),
        ] {
            let e = exact::to_f64(&hyper_cdf_exact(x, pop, k, n));
            let f = hyper_cdf_f64(x, pop, k, n);
            worst = worst.max((e - f).abs() / e);
        }
        assert!(worst < MARGIN / 100.0, "worst relative error {worst:e}");
    }

    #[test]
    fn the_screen_defers_to_the_exact_comparison_inside_the_margin() {
        let alpha = r(1, 20);
        assert_eq!(screened(0.05, &alpha, || Ordering::Less), Ordering::Less);
        assert_eq!(
            screened(0.049, &alpha, || Ordering::Greater),
            Ordering::Less
        );
        assert_eq!(
            screened(f64::NAN, &alpha, || Ordering::Equal),
            Ordering::Equal
        );
    }

    #[test]
    fn exact_hypergeometric_cdf_has_the_documented_tie() {
        // N=100, K=1, n=90, x=0: P = 10/100 exactly.
        assert_eq!(hyper_cdf_exact(0, 100, 1, 90), r(1, 10));
        let f = hyper_cdf_f64(0, 100, 1, 90);
        assert!((f - 0.1).abs() < 1e-12);
    }

    #[test]
    fn poisson_exact_comparison_decides_near_values() {
        // e^-3 = 0.0497870683678639...
        assert_eq!(
            pois_cdf_cmp_exact(0, &r(3, 1), &r(497_870_683_678, 10_000_000_000_000)),
            Ordering::Greater
        );
        assert_eq!(
            pois_cdf_cmp_exact(0, &r(3, 1), &r(497_870_683_679, 10_000_000_000_000)),
            Ordering::Less
        );
    }

    #[test]
    fn incomplete_gamma_and_beta_match_closed_forms() {
        assert!((gamma_q(1.0, 3.0) - (-3.0f64).exp()).abs() < 1e-15);
        assert!((gamma_q(3.0, 2.0) - pois_cdf_f64(2, 2.0)).abs() < 1e-14);
        // I_x(1, b) = 1 − (1−x)^b.
        assert!((beta_i(1.0, 59.0, 0.05) - (1.0 - 0.95f64.powi(59))).abs() < 1e-14);
    }
}
