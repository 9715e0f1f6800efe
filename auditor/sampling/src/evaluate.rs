//! Evaluation of a tested sample: one-sided upper deviation limit, most likely rate, p-value and
//! the reliance decision.

use std::cmp::Ordering;

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::ToPrimitive;
use serde::{Deserialize, Serialize};

use crate::dist::{self, TieConvention};
use crate::error::{Result, SamplingError};
use crate::exact;
use crate::plan::{Likelihood, MAX_SAMPLE_SIZE};
use crate::rate::{Confidence, Rate};

/// What was tested and found.
#[derive(Debug, Clone)]
pub struct EvaluateInput {
    /// The model for the upper limit (Clopper–Pearson binomial, Poisson, hypergeometric).
    pub method: Likelihood,
    /// Items tested, `n >= 1`.
    pub sample_size: u64,
    /// Deviations found in tested items.
    pub deviations: u64,
    /// Items that could not be tested (missing or broken evidence). They count as deviations
    /// (ISA 530.11) and are added to `deviations`; they must not be replaced.
    pub untestable: u64,
    /// The confidence `c`.
    pub confidence: Confidence,
    /// The population size `N` (required for hypergeometric).
    pub population: Option<u64>,
    /// The tolerable rate `T`; the p-value and the decision are reported only when it is given.
    pub tolerable: Option<Rate>,
    /// `<=` (default) or strict `<` for the decision `p-value vs α`.
    pub tie: TieConvention,
}

impl EvaluateInput {
    /// An evaluation without population, tolerable rate or untestable items.
    pub fn new(
        method: Likelihood,
        sample_size: u64,
        deviations: u64,
        confidence: Confidence,
    ) -> Self {
        EvaluateInput {
            method,
            sample_size,
            deviations,
            untestable: 0,
            confidence,
            population: None,
            tolerable: None,
            tie: TieConvention::AtMost,
        }
    }
}

/// The outcome of the test against the tolerable rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The upper limit does not exceed the tolerable rate: the control can be relied on.
    SupportsReliance,
    /// The upper limit exceeds the tolerable rate: the control cannot be relied on.
    DoesNotSupportReliance,
}

/// The evaluation of a sample. Serialises to the `evaluate` JSON contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// The method used.
    pub method: Likelihood,
    /// `n`.
    pub sample_size: u64,
    /// `k`: deviations found plus untestable items.
    pub deviations: u64,
    /// The untestable items included in `deviations`.
    pub untestable: u64,
    /// `c`.
    pub confidence: Confidence,
    /// `T`, when given.
    pub tolerable: Option<Rate>,
    /// `N`, when given.
    pub population: Option<u64>,
    /// The one-sided upper deviation limit as a fraction (`f64`, for convenience; never rounded
    /// before the decision).
    pub upper_bound: f64,
    /// The upper limit rounded **up** to 0.1% as the AICPA tables print it, e.g. `"7.8%"`.
    pub upper_bound_display: String,
    /// `⌈UB·1000⌉`, computed exactly.
    pub upper_bound_per_mille: u64,
    /// Hypergeometric only: the exact upper limit `K_UB/N`.
    pub upper_bound_exact: Option<String>,
    /// Hypergeometric only: `K_UB`, the largest population deviation count not rejected.
    pub population_deviations_upper: Option<u64>,
    /// The most likely deviation rate `k/n`.
    pub most_likely: f64,
    /// `k/n` as an exact fraction.
    pub most_likely_exact: String,
    /// The p-value for "the deviation rate is below T", when `T` is given.
    pub p_value: Option<f64>,
    /// The decision, when `T` is given.
    pub decision: Option<Decision>,
    /// `decision == SupportsReliance`, when `T` is given.
    pub supports_reliance: Option<bool>,
    /// How the p-value was compared with `α`.
    pub tie_convention: TieConvention,
    /// One sentence that states the result.
    pub rationale: String,
}

fn int(n: u64) -> BigRational {
    BigRational::from_integer(BigInt::from(n))
}

/// Evaluates a tested sample.
///
/// The decision is `p-value <= α` computed exactly, which is equivalent to `UB <= T` on the
/// unrounded limit for the binomial and Poisson methods, and to `K_UB < ⌈T·N⌉` for the
/// hypergeometric method (whose limit `K_UB/N` is the largest population rate not rejected).
pub fn evaluate(input: &EvaluateInput) -> Result<Evaluation> {
    let n = input.sample_size;
    let k = input
        .deviations
        .checked_add(input.untestable)
        .ok_or_else(|| SamplingError::Inconsistent("deviation count overflows".into()))?;
    if n == 0 {
        return Err(SamplingError::OutOfRange {
            name: "sample_size",
            value: "0".into(),
            reason: "at least one item must have been tested".into(),
        });
    }
    if n > MAX_SAMPLE_SIZE {
        return Err(SamplingError::OutOfRange {
            name: "sample_size",
            value: n.to_string(),
            reason: format!("at most {MAX_SAMPLE_SIZE} items can be evaluated"),
        });
    }
    if k > n {
        return Err(SamplingError::Inconsistent(format!(
            "{k} deviations (including {} untestable) exceed the sample size {n}",
            input.untestable
        )));
    }
    if let Some(t) = &input.tolerable
        && t.is_zero()
    {
        return Err(SamplingError::OutOfRange {
            name: "tolerable",
            value: t.to_string(),
            reason: "the tolerable rate must be greater than 0".into(),
        });
    }
    let alpha = input.confidence.alpha();
    let alpha_f = exact::to_f64(&alpha);
    let mut upper_exact = None;
    let mut k_ub = None;
    let (upper, per_mille, p_value_cmp): (f64, u64, Option<(f64, Ordering)>) = match input.method {
        Likelihood::Binomial => {
            let ub = if k == n {
                1.0
            } else {
                dist::solve_decreasing(|p| dist::binom_cdf_f64(n, k, p), alpha_f, 0.0, 1.0)
            };
            let le = |j: u64| {
                let p = exact::ratio(j, 1000);
                let ord =
                    dist::screened(dist::binom_cdf_f64(n, k, j as f64 / 1000.0), &alpha, || {
                        dist::binom_cdf_exact(n, k, &p).cmp(&alpha)
                    });
                ord != Ordering::Greater
            };
            let pm = smallest_per_mille(ub, 1000, le);
            let pv = input.tolerable.as_ref().map(|t| {
                let exact_p = dist::binom_cdf_exact(n, k, t.ratio());
                (exact::to_f64(&exact_p), exact_p.cmp(&alpha))
            });
            (ub, pm, pv)
        }
        Likelihood::Poisson => {
            let ub = dist::gamma_upper_quantile(k as f64 + 1.0, alpha_f) / n as f64;
            let le = |j: u64| {
                let lambda = int(n) * exact::ratio(j, 1000);
                let lf = n as f64 * j as f64 / 1000.0;
                let ord = dist::screened(dist::pois_cdf_f64(k, lf), &alpha, || {
                    dist::pois_cdf_cmp_exact(k, &lambda, &alpha)
                });
                ord != Ordering::Greater
            };
            let pm = smallest_per_mille(ub, u64::MAX / 2, le);
            let pv = input.tolerable.as_ref().map(|t| {
                let lambda = int(n) * t.ratio();
                let approx = dist::pois_cdf_f64(k, exact::to_f64(&lambda));
                let ord = dist::screened(approx, &alpha, || {
                    dist::pois_cdf_cmp_exact(k, &lambda, &alpha)
                });
                (approx, ord)
            });
            (ub, pm, pv)
        }
        Likelihood::Hypergeometric => {
            let pop = input.population.ok_or(SamplingError::Missing(
                "population (N) for the hypergeometric method",
            ))?;
            if n > pop {
                return Err(SamplingError::Inconsistent(format!(
                    "the sample size {n} exceeds the population size {pop}"
                )));
            }
            let gt = |defects: u64| {
                let approx = dist::hyper_cdf_f64(k, pop, defects, n);
                dist::screened(approx, &alpha, || {
                    dist::hyper_cdf_exact(k, pop, defects, n).cmp(&alpha)
                }) == Ordering::Greater
            };
            // H(k; N, K, n) decreases in K; K = k always gives H = 1 > α.
            let (mut lo, mut hi) = (k, pop - (n - k));
            while lo < hi {
                let mid = lo + (hi - lo).div_ceil(2);
                if gt(mid) {
                    lo = mid;
                } else {
                    hi = mid - 1;
                }
            }
            let ub_rat = exact::ratio(lo, pop);
            k_ub = Some(lo);
            upper_exact = Some(format!("{lo}/{pop}"));
            let pm = exact::ceil_u64(&(ub_rat.clone() * int(1000))).unwrap_or(1000);
            let pv = input.tolerable.as_ref().map(|t| {
                let kt = exact::ceil_u64(&(t.ratio() * int(pop))).unwrap_or(pop);
                let p = dist::hyper_cdf_exact(k, pop, kt, n);
                (exact::to_f64(&p), p.cmp(&alpha))
            });
            (exact::to_f64(&ub_rat), pm, pv)
        }
    };
    let decision = p_value_cmp.map(|(_, ord)| {
        if input.tie.accepts(ord) {
            Decision::SupportsReliance
        } else {
            Decision::DoesNotSupportReliance
        }
    });
    let display = format!("{}.{}%", per_mille / 10, per_mille % 10);
    let mut rationale = format!(
        "{} of {n} items deviated{}; the {} upper deviation limit at {} confidence is {display} \
         (rounded up to 0.1%).",
        k,
        if input.untestable > 0 {
            format!(
                " (including {} untestable, counted as deviations)",
                input.untestable
            )
        } else {
            String::new()
        },
        method_name(input.method),
        input.confidence,
    );
    if let (Some(t), Some(d), Some((p, _))) = (&input.tolerable, decision, p_value_cmp) {
        rationale.push_str(&match d {
            Decision::SupportsReliance => format!(
                " It does not exceed the tolerable rate {t} (p = {p:.6} {} α = {}): the sample \
                 supports reliance on the control.",
                input.tie.symbol(),
                exact::decimal(&alpha, 12)
            ),
            Decision::DoesNotSupportReliance => format!(
                " It exceeds the tolerable rate {t} (p = {p:.6}, α = {}): the sample does not \
                 support reliance on the control.",
                exact::decimal(&alpha, 12)
            ),
        });
    }
    Ok(Evaluation {
        method: input.method,
        sample_size: n,
        deviations: k,
        untestable: input.untestable,
        confidence: input.confidence.clone(),
        tolerable: input.tolerable.clone(),
        population: input.population,
        upper_bound: upper,
        upper_bound_display: display,
        upper_bound_per_mille: per_mille,
        upper_bound_exact: upper_exact,
        population_deviations_upper: k_ub,
        most_likely: k as f64 / n as f64,
        most_likely_exact: format!("{k}/{n}"),
        p_value: p_value_cmp.map(|(p, _)| p),
        decision,
        supports_reliance: decision.map(|d| d == Decision::SupportsReliance),
        tie_convention: input.tie,
        rationale,
    })
}

fn method_name(m: Likelihood) -> &'static str {
    match m {
        Likelihood::Binomial => "Clopper–Pearson (binomial)",
        Likelihood::Poisson => "Poisson",
        Likelihood::Hypergeometric => "hypergeometric",
    }
}

/// The smallest `j` with `le(j)` (the CDF at `j/1000` is at most `α`), which is `⌈UB·1000⌉`.
/// Starts from the `f64` guess and walks to the exact answer (`le` is monotone in `j`).
fn smallest_per_mille(ub: f64, cap: u64, le: impl Fn(u64) -> bool) -> u64 {
    let guess = (ub * 1000.0).ceil();
    let mut j = if guess.is_finite() && guess >= 0.0 {
        guess.to_u64().unwrap_or(cap).min(cap)
    } else {
        cap
    };
    while j < cap && !le(j) {
        j += 1;
    }
    while j > 0 && le(j - 1) {
        j -= 1;
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(m: Likelihood, n: u64, k: u64, c: &str) -> EvaluateInput {
        EvaluateInput::new(m, n, k, Confidence::parse(c).unwrap())
    }

    #[test]
    fn one_deviation_in_59_gives_an_upper_limit_of_7_8_percent() {
        let mut i = eval(Likelihood::Binomial, 59, 1, "0.95");
        i.tolerable = Some(Rate::parse("0.05").unwrap());
        let e = evaluate(&i).unwrap();
        assert_eq!(e.upper_bound_display, "7.8%");
        assert!((e.upper_bound - 0.0779).abs() < 1e-3);
        assert_eq!(e.supports_reliance, Some(false));
        assert_eq!(e.decision, Some(Decision::DoesNotSupportReliance));
    }

    #[test]
    fn zero_deviations_in_59_support_reliance_at_5_percent() {
        let mut i = eval(Likelihood::Binomial, 59, 0, "0.95");
        i.tolerable = Some(Rate::parse("0.05").unwrap());
        let e = evaluate(&i).unwrap();
        assert_eq!(e.supports_reliance, Some(true));
        assert!((e.upper_bound - (1.0 - 0.05f64.powf(1.0 / 59.0))).abs() < 1e-12);
        assert_eq!(e.most_likely, 0.0);
    }

    #[test]
    fn untestable_items_count_as_deviations() {
        let mut i = eval(Likelihood::Binomial, 59, 0, "0.95");
        i.untestable = 1;
        i.tolerable = Some(Rate::parse("0.05").unwrap());
        let e = evaluate(&i).unwrap();
        assert_eq!(e.deviations, 1);
        assert_eq!(e.supports_reliance, Some(false));
        assert!(e.rationale.contains("untestable"));
    }

    #[test]
    fn all_items_deviating_gives_an_upper_limit_of_one() {
        let e = evaluate(&eval(Likelihood::Binomial, 5, 5, "0.95")).unwrap();
        assert_eq!(e.upper_bound, 1.0);
        assert_eq!(e.upper_bound_display, "100.0%");
    }

    #[test]
    fn poisson_zero_deviation_limit_is_minus_ln_alpha_over_n() {
        let e = evaluate(&eval(Likelihood::Poisson, 60, 0, "0.95")).unwrap();
        assert!((e.upper_bound - 0.05f64.ln().abs() / 60.0).abs() < 1e-12);
        assert_eq!(e.upper_bound_per_mille, 50);
    }

    #[test]
    fn hypergeometric_limit_is_a_count_over_n() {
        let mut i = eval(Likelihood::Hypergeometric, 31, 0, "0.95");
        i.population = Some(50);
        i.tolerable = Some(Rate::parse("0.05").unwrap());
        let e = evaluate(&i).unwrap();
        assert_eq!(e.population_deviations_upper, Some(2));
        assert_eq!(e.upper_bound_exact.as_deref(), Some("2/50"));
        assert_eq!(e.supports_reliance, Some(true));
        // The documented tie: N=100, K=1, n=90 gives p = 0.1 exactly.
        let mut i = eval(Likelihood::Hypergeometric, 90, 0, "0.90");
        i.population = Some(100);
        i.tolerable = Some(Rate::parse("0.01").unwrap());
        assert_eq!(evaluate(&i).unwrap().supports_reliance, Some(true));
        i.tie = TieConvention::Below;
        assert_eq!(evaluate(&i).unwrap().supports_reliance, Some(false));
    }

    #[test]
    fn evaluations_serialise_with_the_contract_fields() {
        let mut i = eval(Likelihood::Binomial, 59, 1, "0.95");
        i.tolerable = Some(Rate::parse("0.05").unwrap());
        let v = serde_json::to_value(evaluate(&i).unwrap()).unwrap();
        for key in [
            "upper_bound",
            "upper_bound_display",
            "most_likely",
            "p_value",
            "decision",
            "supports_reliance",
            "method",
            "sample_size",
            "deviations",
            "confidence",
            "tolerable",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["decision"], "does_not_support_reliance");
        assert_eq!(v["method"], "binomial");
    }

    #[test]
    fn impossible_inputs_are_errors() {
        assert!(evaluate(&eval(Likelihood::Binomial, 0, 0, "0.95")).is_err());
        assert!(evaluate(&eval(Likelihood::Binomial, 5, 6, "0.95")).is_err());
        assert!(evaluate(&eval(Likelihood::Hypergeometric, 5, 0, "0.95")).is_err());
        let mut i = eval(Likelihood::Hypergeometric, 60, 0, "0.95");
        i.population = Some(50);
        assert!(evaluate(&i).is_err());
        let mut i = eval(Likelihood::Binomial, 5, 5, "0.95");
        i.untestable = u64::MAX;
        assert!(evaluate(&i).is_err());
        assert!(evaluate(&eval(Likelihood::Binomial, u64::MAX, 0, "0.95")).is_err());
    }
}
