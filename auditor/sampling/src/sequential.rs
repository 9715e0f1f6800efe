//! Multi-stage (sequential) attribute plans fixed before sampling, after jfa's
//! `planning(expected = c(k1, k2, …))`: every stage has the same size `n`.
//!
//! With allowances `(k1, …, km)` (strictly decreasing to `0`) and `K = k1`, after stage `j` with
//! `S_j` deviations in total: accept if `S_j <= K − k_j`, draw the next stage if
//! `K − k_j < S_j <= K`, otherwise reject. For `(1, 0)`: accept on 0 deviations; on exactly 1,
//! draw a second stage of `n` and accept if it has none; otherwise reject.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::Zero;
use serde::Serialize;

use crate::dist::{self, TieConvention};
use crate::error::{Result, SamplingError};
use crate::exact;
use crate::plan::{Likelihood, MAX_SAMPLE_SIZE};
use crate::rate::{Confidence, Rate};

/// What to plan.
#[derive(Debug, Clone)]
pub struct SequentialInput {
    /// Binomial or Poisson (hypergeometric stages are not supported).
    pub likelihood: Likelihood,
    /// `T`.
    pub tolerable: Rate,
    /// `c`.
    pub confidence: Confidence,
    /// The stage allowances `(k1, …, km)`, e.g. `[1, 0]` for the classic two-stage plan.
    pub stages: Vec<u64>,
    /// `<=` (default) or jfa's strict `<` on `P_accept(T)`.
    pub tie: TieConvention,
    /// Largest stage size tried (default 5000).
    pub max_stage_size: u64,
}

impl SequentialInput {
    /// A two-stage `(1, 0)` plan.
    pub fn two_stage(likelihood: Likelihood, tolerable: Rate, confidence: Confidence) -> Self {
        SequentialInput {
            likelihood,
            tolerable,
            confidence,
            stages: vec![1, 0],
            tie: TieConvention::AtMost,
            max_stage_size: 5000,
        }
    }
}

/// The rule applied after one stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageRule {
    /// 1-based stage number.
    pub stage: usize,
    /// Cumulative sample size after this stage.
    pub cumulative_size: u64,
    /// Accept when the cumulative deviations are at most this.
    pub accept_at_most: u64,
    /// Draw the next stage when the cumulative deviations are above `accept_at_most` and at
    /// most this (absent on the last stage).
    pub continue_at_most: Option<u64>,
}

/// A sequential plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SequentialPlan {
    /// `n`, the size of every stage.
    pub stage_size: u64,
    /// `m·n`, the size if every stage is drawn.
    pub max_total_size: u64,
    /// The likelihood.
    pub likelihood: Likelihood,
    /// `T`.
    pub tolerable: Rate,
    /// `c`.
    pub confidence: Confidence,
    /// The rules, one per stage.
    pub rules: Vec<StageRule>,
    /// `P_accept(T)` at `n`, rounded up to 10 decimals.
    pub achieved_risk: String,
    /// The comparison used.
    pub tie_convention: TieConvention,
    /// One sentence.
    pub rationale: String,
}

/// Probability mass of accepting at each stage, as coefficients of `u^j` (Poisson: `u = e^-λ`;
/// binomial: the coefficients already hold the whole probability).
fn accept_mass<T: Clone + Zero + for<'a> std::ops::AddAssign<&'a T>>(
    pmf: &[T],
    stages: &[u64],
    mul: impl Fn(&T, &T) -> T,
) -> Vec<T> {
    let cap = stages[0] as usize;
    let mut running = vec![T::zero(); cap + 1];
    let mut out = Vec::with_capacity(stages.len());
    for (j, kj) in stages.iter().enumerate() {
        let mut next = vec![T::zero(); cap + 1];
        if j == 0 {
            next[..=cap].clone_from_slice(&pmf[..=cap]);
        } else {
            for (s, mass) in running.iter().enumerate() {
                for (i, p) in pmf.iter().enumerate().take(cap + 1 - s) {
                    next[s + i] += &mul(mass, p);
                }
            }
        }
        let limit = (cap as u64 - kj) as usize;
        let mut acc = T::zero();
        for m in next.iter_mut().take(limit + 1) {
            acc += m;
            *m = T::zero();
        }
        out.push(acc);
        running = next;
    }
    out
}

fn validate(input: &SequentialInput) -> Result<()> {
    if input.likelihood == Likelihood::Hypergeometric {
        return Err(SamplingError::Inconsistent(
            "sequential plans support the binomial and Poisson likelihoods".into(),
        ));
    }
    if input.tolerable.is_zero() {
        return Err(SamplingError::OutOfRange {
            name: "tolerable",
            value: "0".into(),
            reason: "the tolerable rate must be greater than 0".into(),
        });
    }
    let s = &input.stages;
    if input.max_stage_size == 0 || input.max_stage_size > MAX_SAMPLE_SIZE {
        return Err(SamplingError::OutOfRange {
            name: "max_stage_size",
            value: input.max_stage_size.to_string(),
            reason: format!("must be between 1 and {MAX_SAMPLE_SIZE}"),
        });
    }
    if s.len() < 2 || s.last() != Some(&0) || s.windows(2).any(|w| w[0] <= w[1]) || s[0] > 1000 {
        return Err(SamplingError::Inconsistent(
            "stage allowances must have at least two entries, decrease strictly and end in 0 \
             (e.g. [1, 0])"
                .into(),
        ));
    }
    Ok(())
}

/// Plans the smallest common stage size `n` with `P_accept(T) <= α` (linear scan).
pub fn plan_sequential(input: &SequentialInput) -> Result<SequentialPlan> {
    validate(input)?;
    let alpha = input.confidence.alpha();
    let t = input.tolerable.ratio();
    let t_f = exact::to_f64(t);
    let cap = input.stages[0];
    let m = input.stages.len() as u64;
    for n in 1..=input.max_stage_size {
        let (ord, risk) = match input.likelihood {
            Likelihood::Poisson => {
                let lambda = t * BigRational::from_integer(BigInt::from(n));
                let lf = exact::to_f64(&lambda);
                let pmf_f: Vec<f64> = (0..=cap)
                    .map(|i| (-lf + i as f64 * lf.ln() - dist::ln_gamma(i as f64 + 1.0)).exp())
                    .collect();
                let approx: f64 = accept_mass(&pmf_f, &input.stages, |a, b| a * b)
                    .iter()
                    .sum();
                let ord = dist::screened(approx, &alpha, || {
                    // P_accept = Σ_j u^(j+1)·A_j with u = e^-λ and A_j rational.
                    let g: Vec<BigRational> = (0..=cap)
                        .map(|i| {
                            num_traits::pow(lambda.clone(), i as usize)
                                / BigRational::from_integer(dist::factorial(i))
                        })
                        .collect();
                    let a = accept_mass(&g, &input.stages, |x, y| x * y);
                    let mut coef = vec![BigRational::zero()];
                    coef.extend(a);
                    dist::compare_exp_poly(&lambda, &coef, &alpha)
                });
                (ord, format!("{approx:.10}"))
            }
            _ => {
                let pmf_f: Vec<f64> = (0..=cap).map(|i| dist::binom_pmf_f64(n, i, t_f)).collect();
                let approx: f64 = accept_mass(&pmf_f, &input.stages, |a, b| a * b)
                    .iter()
                    .sum();
                let exact_risk = || {
                    let pmf: Vec<BigRational> =
                        (0..=cap).map(|i| dist::binom_pmf_exact(n, i, t)).collect();
                    accept_mass(&pmf, &input.stages, |a, b| a * b)
                        .into_iter()
                        .fold(BigRational::zero(), |acc, x| acc + x)
                };
                let ord = dist::screened(approx, &alpha, || exact_risk().cmp(&alpha));
                let text = if input.tie.accepts(ord) {
                    exact::fixed(&exact_risk(), 10, true)
                } else {
                    String::new()
                };
                (ord, text)
            }
        };
        if input.tie.accepts(ord) {
            let rules = input
                .stages
                .iter()
                .enumerate()
                .map(|(j, kj)| StageRule {
                    stage: j + 1,
                    cumulative_size: n * (j as u64 + 1),
                    accept_at_most: cap - kj,
                    continue_at_most: (*kj > 0).then_some(cap),
                })
                .collect();
            return Ok(SequentialPlan {
                stage_size: n,
                max_total_size: n * m,
                likelihood: input.likelihood,
                tolerable: input.tolerable.clone(),
                confidence: input.confidence.clone(),
                rules,
                rationale: format!(
                    "Smallest common stage size n (linear scan) whose probability of accepting at \
                     the tolerable rate {} is {} α = {}: n = {n} per stage, {} in total if every \
                     stage is drawn (P_accept = {risk}). Fix the plan before sampling.",
                    input.tolerable,
                    input.tie.symbol(),
                    exact::decimal(&alpha, 12),
                    n * m
                ),
                achieved_risk: risk,
                tie_convention: input.tie,
            });
        }
    }
    Err(SamplingError::NoSampleSize {
        max: input.max_stage_size,
        reason: "no stage size meets the sequential criterion".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two(l: Likelihood, t: &str, c: &str) -> SequentialInput {
        SequentialInput::two_stage(l, Rate::parse(t).unwrap(), Confidence::parse(c).unwrap())
    }

    #[test]
    fn two_stage_binomial_at_90_percent_needs_49_per_stage() {
        let p = plan_sequential(&two(Likelihood::Binomial, "0.05", "0.90")).unwrap();
        assert_eq!((p.stage_size, p.max_total_size), (49, 98));
        assert_eq!(p.rules[0].accept_at_most, 0);
        assert_eq!(p.rules[0].continue_at_most, Some(1));
        assert_eq!(p.rules[1].accept_at_most, 1);
    }

    #[test]
    fn two_stage_binomial_at_95_percent_needs_61_per_stage() {
        assert_eq!(
            plan_sequential(&two(Likelihood::Binomial, "0.05", "0.95"))
                .unwrap()
                .stage_size,
            61
        );
    }

    #[test]
    fn two_stage_poisson_at_3_percent_needs_105_per_stage() {
        assert_eq!(
            plan_sequential(&two(Likelihood::Poisson, "0.03", "0.95"))
                .unwrap()
                .stage_size,
            105
        );
    }

    #[test]
    fn malformed_stage_allowances_are_rejected() {
        let mut i = two(Likelihood::Binomial, "0.05", "0.95");
        i.stages = vec![0, 1];
        assert!(plan_sequential(&i).is_err());
        i.stages = vec![1];
        assert!(plan_sequential(&i).is_err());
        i.stages = vec![1, 0];
        i.likelihood = Likelihood::Hypergeometric;
        assert!(plan_sequential(&i).is_err());
    }

    #[test]
    fn three_stage_plans_need_fewer_items_per_stage_than_one_stage_with_two_deviations() {
        let mut i = two(Likelihood::Binomial, "0.05", "0.95");
        i.stages = vec![2, 1, 0];
        let p = plan_sequential(&i).unwrap();
        assert_eq!(p.rules.len(), 3);
        assert!(p.stage_size < 124);
    }
}
