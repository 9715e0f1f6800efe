//! The Stringer bound for monetary-unit (value-weighted) samples, and ratio projection of sample
//! misstatement for tests of details.
//!
//! Understatements: the basic Stringer bound covers overstatements only and ignores
//! understatements, which is conservative for an overstatement test. We never net them silently:
//! understatement taints are reported separately, with their own Stringer bound computed on their
//! absolute values (each direction evaluated on its own), and the net most-likely misstatement.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{Signed, ToPrimitive, Zero};
use serde::Serialize;

use crate::dist;
use crate::error::{Result, SamplingError};
use crate::exact;
use crate::rate::{Confidence, Rate, parse_decimal};

/// A taint: misstatement / book value of one sampled item, in `[-1, 1]`, exact.
/// Positive for overstatements, negative for understatements.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Taint(BigRational);

impl Taint {
    /// Parses `"0.25"`, `"-0.1"`, `"100%"`.
    pub fn parse(text: &str) -> Result<Self> {
        let (negative, body) = match text.trim().strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.trim()),
        };
        let v = parse_decimal(body)?;
        let one = BigRational::from_integer(BigInt::from(1));
        if v > one {
            return Err(SamplingError::OutOfRange {
                name: "taint",
                value: text.to_string(),
                reason: "a taint lies in [-1, 1]; an item misstated beyond its book value is \
                         outside the basic Stringer bound"
                    .into(),
            });
        }
        Ok(Taint(if negative { -v } else { v }))
    }

    /// The taint of a misstatement `book − audited` on a book value (both in cents, book > 0).
    pub fn from_cents(book_cents: i64, audited_cents: i64) -> Result<Self> {
        if book_cents <= 0 {
            return Err(SamplingError::OutOfRange {
                name: "book value",
                value: book_cents.to_string(),
                reason: "MUS taints need a positive book value".into(),
            });
        }
        let t = BigRational::new(
            BigInt::from(book_cents) - BigInt::from(audited_cents),
            BigInt::from(book_cents),
        );
        Self::parse(&exact::decimal(&t, 30))
    }
}

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct StringerInput {
    /// `n`, the number of monetary units sampled.
    pub sample_size: u64,
    /// One taint per misstated sampled unit (zeros are ignored).
    pub taints: Vec<Taint>,
    /// `c`.
    pub confidence: Confidence,
    /// `B`, the population book value in cents, to express the bound in money.
    pub book_value_cents: Option<u64>,
    /// Tolerable misstatement as a fraction of `B`; the decision is reported only when given.
    pub tolerable: Option<Rate>,
}

/// A Stringer evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StringerBound {
    /// `n`.
    pub sample_size: u64,
    /// `c`.
    pub confidence: Confidence,
    /// Number of overstatement taints.
    pub overstatements: usize,
    /// Sum of overstatement taints, exact decimal.
    pub overstatement_taint_sum: String,
    /// The Stringer upper bound on the overstatement rate (fraction of `B`).
    pub upper_bound: f64,
    /// The bound rounded up to 0.01%.
    pub upper_bound_display: String,
    /// `⌈UB·B⌉` in cents, when `B` is given.
    pub upper_bound_cents: Option<u64>,
    /// Most likely overstatement rate `Σt⁺/n`.
    pub most_likely: f64,
    /// Number of understatement taints.
    pub understatements: usize,
    /// Sum of the absolute understatement taints, exact decimal.
    pub understatement_taint_sum: String,
    /// Stringer bound on the understatement rate (absolute taints), evaluated separately.
    pub understatement_upper_bound: f64,
    /// Net most likely misstatement rate `(Σt⁺ − Σ|t⁻|)/n`.
    pub net_most_likely: f64,
    /// `⌈(Σt⁺ − Σ|t⁻|)/n · B⌉` in cents, when `B` is given (negative for net understatement).
    pub net_most_likely_cents: Option<i64>,
    /// Poisson upper-limit factors `UL(0..=k)` used.
    pub factors: Vec<f64>,
    /// `T`, when given.
    pub tolerable: Option<Rate>,
    /// `UB <= T`, when `T` is given (a bound within `1e-9` relative of `T` counts as exceeding).
    pub supports_assertion: Option<bool>,
    /// One sentence.
    pub rationale: String,
}

fn stringer(n: u64, taints_desc: &[f64], alpha: f64) -> (f64, Vec<f64>) {
    let factors: Vec<f64> = (0..=taints_desc.len())
        .map(|i| dist::gamma_upper_quantile(i as f64 + 1.0, alpha))
        .collect();
    let mut ub = factors[0];
    for (i, t) in taints_desc.iter().enumerate() {
        ub += (factors[i + 1] - factors[i]) * t;
    }
    (ub / n as f64, factors)
}

/// Computes the Stringer bound: `[UL(0) + Σ_i (UL(i) − UL(i−1))·t_(i)] / n` with taints sorted
/// descending and `UL(i)` the Poisson upper-limit factor for `i` errors.
pub fn stringer_bound(input: &StringerInput) -> Result<StringerBound> {
    let n = input.sample_size;
    if n == 0 {
        return Err(SamplingError::OutOfRange {
            name: "sample_size",
            value: "0".into(),
            reason: "at least one unit must have been sampled".into(),
        });
    }
    if input.taints.len() as u64 > n {
        return Err(SamplingError::Inconsistent(format!(
            "{} taints exceed the sample size {n}",
            input.taints.len()
        )));
    }
    let mut over: Vec<BigRational> = input
        .taints
        .iter()
        .filter(|t| t.0.is_positive())
        .map(|t| t.0.clone())
        .collect();
    let mut under: Vec<BigRational> = input
        .taints
        .iter()
        .filter(|t| t.0.is_negative())
        .map(|t| t.0.abs())
        .collect();
    over.sort_by(|a, b| b.cmp(a));
    under.sort_by(|a, b| b.cmp(a));
    let alpha = exact::to_f64(&input.confidence.alpha());
    let f = |v: &[BigRational]| v.iter().map(exact::to_f64).collect::<Vec<f64>>();
    let (ub, factors) = stringer(n, &f(&over), alpha);
    let (ub_under, _) = stringer(n, &f(&under), alpha);
    let sum_over: BigRational = over.iter().fold(BigRational::zero(), |a, b| a + b);
    let sum_under: BigRational = under.iter().fold(BigRational::zero(), |a, b| a + b);
    let nn = BigRational::from_integer(BigInt::from(n));
    let net = (&sum_over - &sum_under) / &nn;
    let ub_cents = input
        .book_value_cents
        .map(|b| (ub * b as f64).ceil() as u64);
    let net_cents = input
        .book_value_cents
        .and_then(|b| exact::ceil(&(&net * BigRational::from_integer(BigInt::from(b)))).to_i64());
    let display = format!("{:.2}%", (ub * 10_000.0).ceil() / 100.0);
    let supports = input.tolerable.as_ref().map(|t| {
        let tf = t.to_f64();
        ub < tf * (1.0 - 1e-9)
    });
    let mut rationale = format!(
        "Stringer bound at {} confidence on {n} monetary units with {} overstatement taint(s) \
         (sum {}): {display} of the population value",
        input.confidence,
        over.len(),
        exact::decimal(&sum_over, 12)
    );
    if let Some(c) = ub_cents {
        rationale.push_str(&format!(" ({}.{:02} in money)", c / 100, c % 100));
    }
    rationale.push('.');
    if !under.is_empty() {
        rationale.push_str(&format!(
            " {} understatement taint(s) are evaluated separately (bound {:.4}%), not netted.",
            under.len(),
            ub_under * 100.0
        ));
    }
    if let (Some(t), Some(s)) = (&input.tolerable, supports) {
        rationale.push_str(&if s {
            format!(" It is below the tolerable misstatement {t}.")
        } else {
            format!(" It is not below the tolerable misstatement {t}.")
        });
    }
    Ok(StringerBound {
        sample_size: n,
        confidence: input.confidence.clone(),
        overstatements: over.len(),
        overstatement_taint_sum: exact::decimal(&sum_over, 12),
        upper_bound: ub,
        upper_bound_display: display,
        upper_bound_cents: ub_cents,
        most_likely: exact::to_f64(&(sum_over / &nn)),
        understatements: under.len(),
        understatement_taint_sum: exact::decimal(&sum_under, 12),
        understatement_upper_bound: ub_under,
        net_most_likely: exact::to_f64(&net),
        net_most_likely_cents: net_cents,
        factors,
        tolerable: input.tolerable.clone(),
        supports_assertion: supports,
        rationale,
    })
}

/// A ratio projection of sample misstatement to the population (tests of details).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Projection {
    /// `misstatement · N/n` in cents, exact fraction.
    pub projected_cents_exact: String,
    /// The projection rounded away from zero to a whole cent.
    pub projected_cents: i64,
}

/// Ratio projection `projected = sample_misstatement · N/n` (PCAOB AS 2315.26: 3,000 in 50 of
/// 1,000 items projects to 60,000).
pub fn project_ratio(
    sample_misstatement_cents: i64,
    sample_size: u64,
    population: u64,
) -> Result<Projection> {
    if sample_size == 0 || sample_size > population {
        return Err(SamplingError::Inconsistent(format!(
            "sample size {sample_size} must be between 1 and the population size {population}"
        )));
    }
    let p = BigRational::new(
        BigInt::from(sample_misstatement_cents) * BigInt::from(population),
        BigInt::from(sample_size),
    );
    let rounded = if p.is_negative() { p.floor() } else { p.ceil() };
    Ok(Projection {
        projected_cents_exact: if p.is_integer() {
            p.to_integer().to_string()
        } else {
            format!("{}/{}", p.numer(), p.denom())
        },
        projected_cents: rounded.to_integer().to_i64().ok_or_else(|| {
            SamplingError::Inconsistent("projection does not fit in 64-bit cents".into())
        })?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::{EvaluateInput, evaluate};
    use crate::plan::Likelihood;

    fn input(n: u64, taints: &[&str]) -> StringerInput {
        StringerInput {
            sample_size: n,
            taints: taints.iter().map(|t| Taint::parse(t).unwrap()).collect(),
            confidence: Confidence::parse("0.95").unwrap(),
            book_value_cents: Some(100_000_000),
            tolerable: None,
        }
    }

    #[test]
    fn the_worked_example_matches_the_independent_oracle() {
        // tests/oracles/stringer_oracle.py: UB = 0.058114016513, ⌈UB·B⌉ = 5811402 cents.
        let b = stringer_bound(&input(100, &["0.5", "0.2", "1"])).unwrap();
        assert!(
            (b.upper_bound - 0.058_114_016_513).abs() < 1e-11,
            "{}",
            b.upper_bound
        );
        assert_eq!(b.upper_bound_cents, Some(5_811_402));
        assert_eq!(b.overstatement_taint_sum, "1.7");
        assert!((b.factors[1] - 4.743_865).abs() < 1e-6);
    }

    #[test]
    fn with_no_taints_the_bound_equals_the_poisson_bound() {
        let b = stringer_bound(&input(60, &[])).unwrap();
        let e = evaluate(&EvaluateInput::new(
            Likelihood::Poisson,
            60,
            0,
            Confidence::parse("0.95").unwrap(),
        ))
        .unwrap();
        assert!((b.upper_bound - e.upper_bound).abs() < 1e-14);
        assert!((b.upper_bound - 0.049_928_871_226).abs() < 1e-11);
    }

    #[test]
    fn understatements_are_reported_separately_not_netted() {
        let b = stringer_bound(&input(100, &["0.5", "-0.3"])).unwrap();
        let only_over = stringer_bound(&input(100, &["0.5"])).unwrap();
        assert_eq!(b.upper_bound, only_over.upper_bound);
        assert_eq!(b.understatements, 1);
        assert_eq!(b.understatement_taint_sum, "0.3");
        assert!((b.net_most_likely - 0.002).abs() < 1e-15);
        assert_eq!(b.net_most_likely_cents, Some(200_000));
    }

    #[test]
    fn taints_come_from_book_and_audited_values() {
        assert_eq!(
            Taint::from_cents(10_000, 7_500).unwrap(),
            Taint::parse("0.25").unwrap()
        );
        assert!(Taint::from_cents(0, 0).is_err());
        assert!(Taint::parse("1.5").is_err());
        assert!(stringer_bound(&input(1, &["0.1", "0.2"])).is_err());
    }

    #[test]
    fn the_tolerable_decision_is_reported_when_asked() {
        let mut i = input(100, &["0.5", "0.2", "1"]);
        i.tolerable = Some(Rate::parse("0.06").unwrap());
        assert_eq!(stringer_bound(&i).unwrap().supports_assertion, Some(true));
        i.tolerable = Some(Rate::parse("0.05").unwrap());
        assert_eq!(stringer_bound(&i).unwrap().supports_assertion, Some(false));
    }

    #[test]
    fn ratio_projection_reproduces_the_pcaob_example() {
        let p = project_ratio(300_000, 50, 1_000).unwrap();
        assert_eq!(p.projected_cents, 6_000_000);
        assert_eq!(p.projected_cents_exact, "6000000");
        assert!(project_ratio(1, 0, 10).is_err());
    }
}
