//! Sample-size planning for attribute (and MUS) tests: the smallest `n` whose exact risk at the
//! tolerable rate is at most `α`, found by a linear scan.

use std::cmp::Ordering;

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::ToPrimitive;
use serde::{Deserialize, Serialize};

use crate::dist::{self, TieConvention};
use crate::error::{Result, SamplingError};
use crate::exact;
use crate::rate::{Confidence, Rate};

/// The largest sample size the crate plans or evaluates (keeps exact arithmetic bounded).
pub const MAX_SAMPLE_SIZE: u64 = 1_000_000;

/// The statistical model of the number of deviations in a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Likelihood {
    /// Sampling with replacement / infinite population (AICPA attribute tables ).
    Binomial,
    /// The MUS convention (AICPA table C-1); the expected error count may be fractional.
    Poisson,
    /// Sampling without replacement from a known population of `N` items (exact).
    Hypergeometric,
}

impl Likelihood {
    /// The lower-case name used in JSON and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Likelihood::Binomial => "binomial",
            Likelihood::Poisson => "poisson",
            Likelihood::Hypergeometric => "hypergeometric",
        }
    }
}

impl std::str::FromStr for Likelihood {
    type Err = SamplingError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "binomial" => Ok(Likelihood::Binomial),
            "poisson" => Ok(Likelihood::Poisson),
            "hypergeometric" => Ok(Likelihood::Hypergeometric),
            _ => Err(SamplingError::InvalidChoice {
                what: "likelihood",
                input: s.to_string(),
                choices: "binomial, poisson or hypergeometric",
            }),
        }
    }
}

/// The deviations the auditor expects to find: a rate of the sample size or a fixed count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expected {
    /// `E` as a rate: `x = ⌈E·n⌉` (binomial, hypergeometric) or `x = E·n` (Poisson, fractional).
    Rate(Rate),
    /// A fixed number of deviations `x`, whatever `n`.
    Count(u64),
}

impl Default for Expected {
    fn default() -> Self {
        Expected::Rate(Rate::zero())
    }
}

/// What to plan. Build with [`PlanInput::new`] and set the optional fields directly.
#[derive(Debug, Clone)]
pub struct PlanInput {
    /// The likelihood (model of deviations).
    pub likelihood: Likelihood,
    /// The tolerable deviation rate `T`, in `(0, 1)`.
    pub tolerable: Rate,
    /// The expected deviations (default: rate 0).
    pub expected: Expected,
    /// The confidence `c`; the risk of overreliance is `α = 1 − c`.
    pub confidence: Confidence,
    /// The population size `N` in items, when known (required for hypergeometric).
    pub population: Option<u64>,
    /// `<=` (default) or jfa's strict `<`.
    pub tie: TieConvention,
    /// The largest sample size tried (default 5000, as in jfa).
    pub max_sample_size: u64,
    /// Scan step (default 1). Sizes tried are 1, step, 2·step, …; a step above 1 changes the
    /// answer by design.
    pub step: u64,
}

impl PlanInput {
    /// A plan with expected rate 0, no population, `<=` ties, max 5000 and step 1.
    pub fn new(likelihood: Likelihood, tolerable: Rate, confidence: Confidence) -> Self {
        PlanInput {
            likelihood,
            tolerable,
            expected: Expected::default(),
            confidence,
            population: None,
            tie: TieConvention::AtMost,
            max_sample_size: 5000,
            step: 1,
        }
    }
}

/// A planned sample size and how it was reached. Serialises to the `plan` JSON contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The smallest sufficient sample size `n`.
    pub sample_size: u64,
    /// The deviations allowed at `n` (`x`), exact decimal (fractional for Poisson rates).
    pub expected_errors: String,
    /// `x` rounded **up** to two decimals (the AICPA C-1 display convention).
    pub expected_errors_display: String,
    /// The likelihood used.
    pub likelihood: Likelihood,
    /// `T`, exact decimal.
    pub tolerable: Rate,
    /// The expected rate, when given as a rate.
    pub expected_rate: Option<Rate>,
    /// The expected count, when given as a count.
    pub expected_count: Option<u64>,
    /// `c`, exact decimal.
    pub confidence: Confidence,
    /// `N`, when known.
    pub population: Option<u64>,
    /// Hypergeometric only: `K = ⌈T·N⌉`, the smallest intolerable number of population deviations.
    pub population_errors: Option<u64>,
    /// How the risk was compared with `α`.
    pub tie_convention: TieConvention,
    /// The risk at `n` (`P(deviations <= x)` at the tolerable rate), rounded up to 10 decimals.
    pub achieved_risk: String,
    /// True when `n >= N`: test the whole population instead of sampling.
    pub test_all: bool,
    /// Advice when another likelihood fits the population better.
    pub suggestion: Option<String>,
    /// One sentence that states the rule and the result.
    pub rationale: String,
}

/// Plans the smallest sample size (linear scan from 1; never bisects, because the criterion is
/// not monotone in `n` when expected deviations are a rate).
pub fn plan(input: &PlanInput) -> Result<Plan> {
    let core = plan_core(input)?;
    let n = core.n;
    let mut test_all = false;
    let mut suggestion = None;
    if let Some(pop) = input.population {
        if n >= pop {
            test_all = true;
        }
        if input.likelihood != Likelihood::Hypergeometric {
            let mut h = input.clone();
            h.likelihood = Likelihood::Hypergeometric;
            if let Ok(hyper) = plan_core(&h)
                && hyper.n < n
            {
                suggestion = Some(format!(
                    "The population size is known (N = {pop}) and items are the sampling unit: \
                     the hypergeometric likelihood, exact for sampling without replacement, needs \
                     {} items instead of {n}.",
                    hyper.n
                ));
            }
        }
    }
    let x_text = exact::decimal(&core.x, 12);
    let mut rationale = format!(
        "Smallest n (linear scan from 1, step {}) with {} {} {} at the tolerable rate {}: n = {n} \
         with {x_text} expected deviation(s), achieved risk {} at confidence {}.",
        input.step,
        risk_formula(input, &core),
        input.tie.symbol(),
        exact::decimal(&input.confidence.alpha(), 12),
        input.tolerable,
        core.risk,
        input.confidence,
    );
    if test_all {
        rationale.push_str(&format!(
            " The sample size reaches the population size {}: test 100% of the population.",
            input.population.unwrap_or(n)
        ));
    }
    Ok(Plan {
        sample_size: n,
        expected_errors: x_text,
        expected_errors_display: exact::fixed(&core.x, 2, true),
        likelihood: input.likelihood,
        tolerable: input.tolerable.clone(),
        expected_rate: match &input.expected {
            Expected::Rate(r) => Some(r.clone()),
            Expected::Count(_) => None,
        },
        expected_count: match &input.expected {
            Expected::Count(c) => Some(*c),
            Expected::Rate(_) => None,
        },
        confidence: input.confidence.clone(),
        population: input.population,
        population_errors: core.defects,
        tie_convention: input.tie,
        achieved_risk: core.risk,
        test_all,
        suggestion,
        rationale,
    })
}

fn risk_formula(input: &PlanInput, core: &Core) -> String {
    let t = &input.tolerable;
    match input.likelihood {
        Likelihood::Binomial => format!("P(Bin(n, {t}) <= x)"),
        Likelihood::Poisson => format!("Q(x + 1, n·{t})"),
        Likelihood::Hypergeometric => format!(
            "H(x; N = {}, K = {}, n)",
            input.population.unwrap_or(0),
            core.defects.unwrap_or(0)
        ),
    }
}

pub(crate) struct Core {
    pub(crate) n: u64,
    pub(crate) x: BigRational,
    pub(crate) defects: Option<u64>,
    pub(crate) risk: String,
}

fn int(n: u64) -> BigRational {
    BigRational::from_integer(BigInt::from(n))
}

/// Validates the input and returns `K = ⌈T·N⌉` for the hypergeometric likelihood.
fn validate(input: &PlanInput) -> Result<Option<u64>> {
    if input.tolerable.is_zero() {
        return Err(SamplingError::OutOfRange {
            name: "tolerable",
            value: input.tolerable.to_string(),
            reason: "the tolerable rate must be greater than 0".into(),
        });
    }
    if input.step == 0 {
        return Err(SamplingError::OutOfRange {
            name: "step",
            value: "0".into(),
            reason: "the scan step must be at least 1".into(),
        });
    }
    if input.max_sample_size == 0 || input.max_sample_size > MAX_SAMPLE_SIZE {
        return Err(SamplingError::OutOfRange {
            name: "max_sample_size",
            value: input.max_sample_size.to_string(),
            reason: format!("must be between 1 and {MAX_SAMPLE_SIZE}"),
        });
    }
    match &input.expected {
        Expected::Rate(e) if e >= &input.tolerable => {
            return Err(SamplingError::Inconsistent(format!(
                "the expected rate {e} must be below the tolerable rate {}",
                input.tolerable
            )));
        }
        Expected::Count(c) if *c >= input.max_sample_size => {
            return Err(SamplingError::Inconsistent(format!(
                "the expected count {c} must be below the maximum sample size {}",
                input.max_sample_size
            )));
        }
        _ => {}
    }
    if input.population == Some(0) {
        return Err(SamplingError::OutOfRange {
            name: "population",
            value: "0".into(),
            reason: "the population must contain at least one item".into(),
        });
    }
    if input.likelihood != Likelihood::Hypergeometric {
        return Ok(None);
    }
    let pop = input.population.ok_or(SamplingError::Missing(
        "population (N) for the hypergeometric likelihood",
    ))?;
    let k = exact::ceil_u64(&(input.tolerable.ratio() * int(pop)))
        .ok_or_else(|| SamplingError::Inconsistent("population too large".into()))?;
    let x_pop = match &input.expected {
        Expected::Rate(e) => exact::ceil_u64(&(e.ratio() * int(pop))).unwrap_or(u64::MAX),
        Expected::Count(c) => *c,
    };
    if x_pop >= k {
        return Err(SamplingError::Inconsistent(format!(
            "the expected deviations in the population ({x_pop}) must be below K = ⌈T·N⌉ = {k}"
        )));
    }
    Ok(Some(k))
}

/// The scan shared by [`plan`] and the suggestion.
pub(crate) fn plan_core(input: &PlanInput) -> Result<Core> {
    let defects = validate(input)?;
    let alpha = input.confidence.alpha();
    let t = input.tolerable.ratio();
    let t_f = exact::to_f64(t);
    let mut max = input.max_sample_size;
    if let (Likelihood::Hypergeometric, Some(pop)) = (input.likelihood, input.population) {
        max = max.min(pop);
    }
    let mut candidate = 1u64;
    while candidate <= max {
        let n = candidate;
        candidate = if n < input.step {
            input.step
        } else {
            n + input.step
        };
        let x = match (&input.expected, input.likelihood) {
            (Expected::Count(c), _) => int(*c),
            (Expected::Rate(e), Likelihood::Poisson) => e.ratio() * int(n),
            (Expected::Rate(e), _) => BigRational::from_integer(exact::ceil(&(e.ratio() * int(n)))),
        };
        if int(n) <= x {
            continue;
        }
        let (ord, risk) = risk_vs_alpha(input.likelihood, n, &x, t, t_f, defects, input, &alpha);
        if input.tie.accepts(ord) {
            let risk = risk();
            return Ok(Core {
                n,
                x,
                defects,
                risk,
            });
        }
    }
    Err(SamplingError::NoSampleSize {
        max,
        reason: format!(
            "the {} criterion at tolerable {} and confidence {} is not met",
            input.likelihood.name(),
            input.tolerable,
            input.confidence
        ),
    })
}

type RiskText<'a> = Box<dyn FnOnce() -> String + 'a>;

#[allow(clippy::too_many_arguments)]
fn risk_vs_alpha<'a>(
    likelihood: Likelihood,
    n: u64,
    x: &'a BigRational,
    t: &'a BigRational,
    t_f: f64,
    defects: Option<u64>,
    input: &'a PlanInput,
    alpha: &BigRational,
) -> (Ordering, RiskText<'a>) {
    match likelihood {
        Likelihood::Binomial => {
            let xi = x.to_integer().to_u64().unwrap_or(u64::MAX);
            let approx = dist::binom_cdf_f64(n, xi, t_f);
            let ord = dist::screened(approx, alpha, || dist::binom_cdf_exact(n, xi, t).cmp(alpha));
            (
                ord,
                Box::new(move || exact::fixed(&dist::binom_cdf_exact(n, xi, t), 10, true)),
            )
        }
        Likelihood::Hypergeometric => {
            let xi = x.to_integer().to_u64().unwrap_or(u64::MAX);
            let pop = input.population.unwrap_or(n);
            let k = defects.unwrap_or(0);
            let approx = dist::hyper_cdf_f64(xi, pop, k, n);
            let ord = dist::screened(approx, alpha, || {
                dist::hyper_cdf_exact(xi, pop, k, n).cmp(alpha)
            });
            (
                ord,
                Box::new(move || exact::fixed(&dist::hyper_cdf_exact(xi, pop, k, n), 10, true)),
            )
        }
        Likelihood::Poisson => {
            let lambda = t * int(n);
            let lambda_f = exact::to_f64(&lambda);
            if x.is_integer() {
                let xi = x.to_integer().to_u64().unwrap_or(u64::MAX);
                let approx = dist::pois_cdf_f64(xi, lambda_f);
                let ord = dist::screened(approx, alpha, || {
                    dist::pois_cdf_cmp_exact(xi, &lambda, alpha)
                });
                (ord, Box::new(move || format!("{approx:.10}")))
            } else {
                // Fractional shape: Q(x+1, λ) is transcendental in both arguments; decided in
                // double precision (relative error far below 1e-9; exact ties are impossible).
                let approx = dist::gamma_q(exact::to_f64(x) + 1.0, lambda_f);
                let a = exact::to_f64(alpha);
                let ord = approx.partial_cmp(&a).unwrap_or(Ordering::Greater);
                (ord, Box::new(move || format!("{approx:.10}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(l: Likelihood, t: &str, c: &str) -> PlanInput {
        PlanInput::new(l, Rate::parse(t).unwrap(), Confidence::parse(c).unwrap())
    }

    #[test]
    fn zero_expected_binomial_gives_59_and_45() {
        assert_eq!(
            plan(&input(Likelihood::Binomial, "0.05", "0.95"))
                .unwrap()
                .sample_size,
            59
        );
        assert_eq!(
            plan(&input(Likelihood::Binomial, "0.05", "0.90"))
                .unwrap()
                .sample_size,
            45
        );
    }

    #[test]
    fn zero_expected_poisson_gives_60_and_300() {
        assert_eq!(
            plan(&input(Likelihood::Poisson, "0.05", "0.95"))
                .unwrap()
                .sample_size,
            60
        );
        assert_eq!(
            plan(&input(Likelihood::Poisson, "0.01", "0.95"))
                .unwrap()
                .sample_size,
            300
        );
    }

    #[test]
    fn the_tightest_aicpa_cell_comes_out_at_722() {
        let mut i = input(Likelihood::Binomial, "0.04", "0.95");
        i.expected = Expected::Rate(Rate::parse("0.0275").unwrap());
        let p = plan(&i).unwrap();
        assert_eq!(p.sample_size, 722);
        assert_eq!(p.expected_errors, "20");
        assert!(
            p.achieved_risk.starts_with("0.04998545"),
            "{}",
            p.achieved_risk
        );
    }

    #[test]
    fn the_binomial_tie_oracle_depends_on_the_convention() {
        let mut i = input(Likelihood::Binomial, "0.5", "0.75");
        assert_eq!(plan(&i).unwrap().sample_size, 2);
        i.tie = TieConvention::Below;
        assert_eq!(plan(&i).unwrap().sample_size, 3);
    }

    #[test]
    fn hypergeometric_ties_give_90_for_n_100_at_1_percent() {
        let mut i = input(Likelihood::Hypergeometric, "0.01", "0.90");
        i.population = Some(100);
        let p = plan(&i).unwrap();
        assert_eq!(p.sample_size, 90);
        assert_eq!(p.achieved_risk, "0.1000000000");
        i.tie = TieConvention::Below;
        assert_eq!(plan(&i).unwrap().sample_size, 91);
    }

    #[test]
    fn small_populations_suggest_the_hypergeometric_plan() {
        let mut i = input(Likelihood::Binomial, "0.05", "0.95");
        i.population = Some(50);
        let p = plan(&i).unwrap();
        assert_eq!(p.sample_size, 59);
        assert!(p.test_all);
        assert!(
            p.suggestion
                .as_deref()
                .unwrap_or("")
                .contains("31 items instead of 59")
        );
        assert!(p.rationale.contains("test 100%"));
        i.likelihood = Likelihood::Hypergeometric;
        let h = plan(&i).unwrap();
        assert_eq!(
            (h.sample_size, h.population_errors, h.test_all),
            (31, Some(3), false)
        );
    }

    #[test]
    fn invalid_inputs_are_errors_not_panics() {
        let mut i = input(Likelihood::Binomial, "0.05", "0.95");
        i.expected = Expected::Rate(Rate::parse("0.05").unwrap());
        assert!(matches!(plan(&i), Err(SamplingError::Inconsistent(_))));
        let i = input(Likelihood::Hypergeometric, "0.05", "0.95");
        assert!(matches!(plan(&i), Err(SamplingError::Missing(_))));
        let mut i = input(Likelihood::Binomial, "0.02", "0.95");
        i.expected = Expected::Rate(Rate::parse("0.0199").unwrap());
        i.max_sample_size = 100;
        assert!(matches!(plan(&i), Err(SamplingError::NoSampleSize { .. })));
        let i = PlanInput::new(
            Likelihood::Poisson,
            Rate::zero(),
            Confidence::parse("0.9").unwrap(),
        );
        assert!(plan(&i).is_err());
    }

    #[test]
    fn expected_counts_are_used_as_given() {
        let mut i = input(Likelihood::Binomial, "0.05", "0.95");
        i.expected = Expected::Count(1);
        let p = plan(&i).unwrap();
        assert_eq!(p.sample_size, 93);
        assert_eq!(p.expected_count, Some(1));
    }

    #[test]
    fn plans_serialise_with_the_contract_fields() {
        let p = plan(&input(Likelihood::Binomial, "0.05", "0.95")).unwrap();
        let v = serde_json::to_value(&p).unwrap();
        for key in [
            "sample_size",
            "expected_errors",
            "likelihood",
            "tolerable",
            "confidence",
            "population",
            "tie_convention",
            "achieved_risk",
            "rationale",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["likelihood"], "binomial");
        assert_eq!(v["tolerable"], "0.05");
    }
}
