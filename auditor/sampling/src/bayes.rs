//! Bayesian planning, jfa-compatible: a beta (binomial) or gamma (Poisson) prior updated with the
//! unrounded expected errors `x = E·n`; `n` is sufficient when the posterior `c`-quantile is below
//! `T`, i.e. when the posterior CDF at `T` exceeds `c`.
//!
//! The posterior CDF is a transcendental function of the inputs; it is evaluated in double
//! precision (relative error far below `1e-9`), and a value within `1e-9` of `c` counts as not
//! sufficient.

use num_bigint::BigInt;
use num_rational::BigRational;
use serde::Serialize;

use crate::dist;
use crate::error::{Result, SamplingError};
use crate::exact;
use crate::plan::{Likelihood, MAX_SAMPLE_SIZE};
use crate::rate::{Confidence, Rate};

/// What to plan. The default prior is jfa's `prior = TRUE`: beta(1, 1) or gamma(1, 1).
#[derive(Debug, Clone)]
pub struct BayesInput {
    /// Binomial (beta prior) or Poisson (gamma prior).
    pub likelihood: Likelihood,
    /// `T`.
    pub tolerable: Rate,
    /// `E` as a rate.
    pub expected: Rate,
    /// `c`.
    pub confidence: Confidence,
    /// Prior shape `a0` (default 1).
    pub prior_alpha: u64,
    /// Prior `b0` (beta) or rate (gamma) (default 1).
    pub prior_beta: u64,
    /// Largest `n` tried (default 5000).
    pub max_sample_size: u64,
}

impl BayesInput {
    /// A plan with the default prior.
    pub fn new(
        likelihood: Likelihood,
        tolerable: Rate,
        expected: Rate,
        confidence: Confidence,
    ) -> Self {
        BayesInput {
            likelihood,
            tolerable,
            expected,
            confidence,
            prior_alpha: 1,
            prior_beta: 1,
            max_sample_size: 5000,
        }
    }
}

/// A Bayesian plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BayesPlan {
    /// `n`.
    pub sample_size: u64,
    /// `x = E·n`, exact decimal.
    pub expected_errors: String,
    /// The posterior, e.g. `"beta(6.5, 215.5)"`.
    pub posterior: String,
    /// Posterior probability that the rate is below `T`.
    pub posterior_probability: f64,
    /// One sentence.
    pub rationale: String,
}

/// Plans the smallest `n` (linear scan) whose posterior puts more than `c` below `T`.
pub fn plan_bayesian(input: &BayesInput) -> Result<BayesPlan> {
    if input.likelihood == Likelihood::Hypergeometric {
        return Err(SamplingError::Inconsistent(
            "Bayesian planning supports the binomial and Poisson likelihoods".into(),
        ));
    }
    if input.tolerable.is_zero() || input.expected >= input.tolerable {
        return Err(SamplingError::Inconsistent(
            "need 0 <= expected < tolerable and tolerable > 0".into(),
        ));
    }
    if input.max_sample_size > MAX_SAMPLE_SIZE {
        return Err(SamplingError::OutOfRange {
            name: "max_sample_size",
            value: input.max_sample_size.to_string(),
            reason: format!("must be at most {MAX_SAMPLE_SIZE}"),
        });
    }
    if input.prior_alpha == 0 || input.prior_beta == 0 {
        return Err(SamplingError::OutOfRange {
            name: "prior",
            value: format!("({}, {})", input.prior_alpha, input.prior_beta),
            reason: "prior parameters must be positive".into(),
        });
    }
    let t = input.tolerable.to_f64();
    let c = input.confidence.to_f64();
    let (a0, b0) = (input.prior_alpha as f64, input.prior_beta as f64);
    for n in 1..=input.max_sample_size {
        let x_exact = input.expected.ratio() * BigRational::from_integer(BigInt::from(n));
        let x = exact::to_f64(&x_exact);
        if n as f64 <= x {
            continue;
        }
        let (prob, posterior) = match input.likelihood {
            Likelihood::Binomial => {
                let (a, b) = (a0 + x, b0 + n as f64 - x);
                (dist::beta_i(a, b, t), format!("beta({a}, {b})"))
            }
            _ => {
                let (a, b) = (a0 + x, b0 + n as f64);
                (dist::gamma_p(a, b * t), format!("gamma({a}, {b})"))
            }
        };
        if prob > c * (1.0 + 1e-9) {
            return Ok(BayesPlan {
                sample_size: n,
                expected_errors: exact::decimal(&x_exact, 12),
                rationale: format!(
                    "Smallest n (linear scan) whose posterior {posterior} puts probability \
                     {prob:.6} > {} below the tolerable rate {}: n = {n}.",
                    input.confidence, input.tolerable
                ),
                posterior,
                posterior_probability: prob,
            });
        }
    }
    Err(SamplingError::NoSampleSize {
        max: input.max_sample_size,
        reason: "the posterior criterion is not met".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(l: Likelihood, t: &str, e: &str) -> (u64, String) {
        let p = plan_bayesian(&BayesInput::new(
            l,
            Rate::parse(t).unwrap(),
            Rate::parse(e).unwrap(),
            Confidence::parse("0.95").unwrap(),
        ))
        .unwrap();
        (p.sample_size, p.expected_errors)
    }

    #[test]
    fn beta_prior_oracles_from_jfa_reproduce() {
        assert_eq!(
            n(Likelihood::Binomial, "0.05", "0.025"),
            (220, "5.5".into())
        );
        assert_eq!(n(Likelihood::Binomial, "0.05", "0").0, 58);
    }

    #[test]
    fn gamma_prior_oracles_from_jfa_reproduce() {
        assert_eq!(n(Likelihood::Poisson, "0.05", "0.025"), (228, "5.7".into()));
        assert_eq!(n(Likelihood::Poisson, "0.01", "0").0, 299);
    }

    #[test]
    fn invalid_bayesian_inputs_are_errors() {
        let mut i = BayesInput::new(
            Likelihood::Binomial,
            Rate::parse("0.05").unwrap(),
            Rate::parse("0.05").unwrap(),
            Confidence::parse("0.95").unwrap(),
        );
        assert!(plan_bayesian(&i).is_err());
        i.expected = Rate::zero();
        i.prior_alpha = 0;
        assert!(plan_bayesian(&i).is_err());
    }
}
