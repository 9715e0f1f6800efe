//! The statistics commands an auditor runs on their own figures: `plan` (sample size), `evaluate`
//! (upper deviation limit and decision), `draw` (a Rivest 2011 SHA-256 sample anyone can
//! re-perform) and `sites` (IAF MD 1 multi-site sampling). Thin wrappers over evidence-sampling.

use anyhow::Context;
use clap::Args;
use evidence_sampling::{
    AuditType, Confidence, EvaluateInput, Expected, Likelihood, PlanInput, Rate, RivestDraw,
    SamplingError, TieConvention, evaluate, plan, rivest_draw, sites_to_sample,
    sites_without_sampling,
};
use serde_json::json;

use crate::exit::{EXIT_FAILED, EXIT_OK};

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Model of deviations: binomial (AICPA attribute tables), poisson (MUS), hypergeometric
    /// (exact for a known population of items; needs --population).
    #[arg(long, value_parser = parse_likelihood)]
    pub likelihood: Likelihood,
    /// Tolerable deviation rate, e.g. 0.05 or 5%.
    #[arg(long)]
    pub tolerable: String,
    /// Expected deviation rate, e.g. 0.01 (default 0).
    #[arg(long, conflicts_with = "expected_errors")]
    pub expected: Option<String>,
    /// Expected deviations as a count instead of a rate.
    #[arg(long, value_name = "K")]
    pub expected_errors: Option<u64>,
    /// Population size in items, when known.
    #[arg(long, value_name = "N")]
    pub population: Option<u64>,
    /// Confidence, e.g. 0.95 (the risk of overreliance is 1 − confidence).
    #[arg(long)]
    pub confidence: String,
    /// Accept only when the risk is strictly below 1 − confidence (jfa-compatible) instead of
    /// at most (the default).
    #[arg(long)]
    pub strict: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Model for the upper limit: binomial (Clopper–Pearson), poisson, hypergeometric
    /// (needs --population). The same flag as `plan --likelihood`; `--method` is its old name.
    #[arg(long, alias = "method", value_parser = parse_likelihood)]
    pub likelihood: Likelihood,
    /// Items tested.
    #[arg(long, value_name = "N")]
    pub sample_size: u64,
    /// Deviations found.
    #[arg(long, value_name = "K")]
    pub deviations: u64,
    /// Items that could not be tested; they count as deviations (ISA 530.11).
    #[arg(long, value_name = "U", default_value_t = 0)]
    pub untestable: u64,
    /// Confidence, e.g. 0.95.
    #[arg(long)]
    pub confidence: String,
    /// Population size in items.
    #[arg(long, value_name = "N")]
    pub population: Option<u64>,
    /// Tolerable deviation rate; with it, the p-value and the decision are reported and the
    /// exit code is 1 when the result does not support reliance.
    #[arg(long)]
    pub tolerable: Option<String>,
    /// Strict comparison of the p-value with the risk (jfa-compatible).
    #[arg(long)]
    pub strict: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DrawArgs {
    /// The seed, used verbatim ("0" and "00" differ).
    #[arg(long)]
    pub seed: String,
    /// Smallest value (1 for 1-based positions).
    #[arg(long, value_name = "A")]
    pub min: u64,
    /// Largest value (the population size N for positions 1..N).
    #[arg(long, value_name = "B")]
    pub max: u64,
    /// Number of new picks.
    #[arg(long, value_name = "N")]
    pub count: u64,
    /// Keep duplicates (default: without replacement, duplicates rejected and logged).
    #[arg(long)]
    pub with_replacement: bool,
    /// Reproduce this many earlier picks first and leave them out (to extend a sample).
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub skip: u64,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SitesArgs {
    /// Number of sites, excluding the central function.
    #[arg(long, value_name = "X")]
    pub sites: u64,
    /// Audit type.
    #[arg(long, value_parser = parse_audit)]
    pub audit: AuditType,
    /// Use IAF MD 1 §6.2 (sampling not appropriate): all sites at initial and recertification,
    /// 30% per year at surveillance.
    #[arg(long)]
    pub no_sampling: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

fn parse_likelihood(s: &str) -> Result<Likelihood, SamplingError> {
    s.parse::<Likelihood>()
}

fn parse_audit(s: &str) -> Result<AuditType, SamplingError> {
    s.parse::<AuditType>()
}

fn tie(strict: bool) -> TieConvention {
    if strict {
        TieConvention::Below
    } else {
        TieConvention::AtMost
    }
}

/// `evidence-auditor plan`.
pub fn run_plan(a: &PlanArgs) -> anyhow::Result<u8> {
    let tolerable = Rate::parse(&a.tolerable).context("--tolerable")?;
    let confidence = Confidence::parse(&a.confidence).context("--confidence")?;
    let mut input = PlanInput::new(a.likelihood, tolerable, confidence);
    input.expected = match (&a.expected, a.expected_errors) {
        (_, Some(k)) => Expected::Count(k),
        (Some(e), None) => Expected::Rate(Rate::parse(e).context("--expected")?),
        (None, None) => Expected::default(),
    };
    input.population = a.population;
    input.tie = tie(a.strict);
    let p = plan(&input)?;
    if a.json {
        crate::outln!("{}", serde_json::to_string(&p)?);
    } else {
        crate::outln!("Sample size: {}", p.sample_size);
        crate::outln!(
            "Deviations allowed in the sample: {}",
            p.expected_errors_display
        );
        crate::outln!(
            "Achieved risk: {} ({:?} tie convention)",
            p.achieved_risk,
            p.tie_convention
        );
        if p.test_all {
            crate::outln!("The sample covers the whole population: test 100% instead of sampling.");
        }
        crate::outln!("{}", p.rationale);
        if let Some(s) = &p.suggestion {
            crate::outln!("Suggestion: {s}");
        }
    }
    Ok(EXIT_OK)
}

/// `evidence-auditor evaluate`.
pub fn run_evaluate(a: &EvaluateArgs) -> anyhow::Result<u8> {
    let confidence = Confidence::parse(&a.confidence).context("--confidence")?;
    let mut input = EvaluateInput::new(a.likelihood, a.sample_size, a.deviations, confidence);
    input.untestable = a.untestable;
    input.population = a.population;
    input.tolerable = a
        .tolerable
        .as_deref()
        .map(Rate::parse)
        .transpose()
        .context("--tolerable")?;
    input.tie = tie(a.strict);
    let e = evaluate(&input)?;
    if a.json {
        crate::outln!("{}", serde_json::to_string(&e)?);
    } else {
        crate::outln!(
            "Upper deviation limit at {} confidence: {} (exact {:.6})",
            a.confidence,
            e.upper_bound_display,
            e.upper_bound
        );
        crate::outln!("Most likely deviation rate: {}", e.most_likely_exact);
        if let Some(p) = e.p_value {
            crate::outln!("p-value: {p:.6}");
        }
        crate::outln!("{}", e.rationale);
    }
    Ok(match e.supports_reliance {
        Some(false) => EXIT_FAILED,
        _ => EXIT_OK,
    })
}

/// `evidence-auditor draw`.
pub fn run_draw(a: &DrawArgs) -> anyhow::Result<u8> {
    let s = rivest_draw(&RivestDraw {
        seed: a.seed.clone(),
        min: a.min,
        max: a.max,
        count: a.count,
        with_replacement: a.with_replacement,
        skip: a.skip,
    })?;
    if a.json {
        let out = json!({
            "algorithm": s.algorithm,
            "seed": s.seed,
            "min": s.min,
            "max": s.max,
            "with_replacement": s.with_replacement,
            "skip": a.skip,
            "picks": s.picks.iter().map(|p| p.value).collect::<Vec<_>>(),
            "counters": s.picks.iter().map(|p| p.counter).collect::<Vec<_>>(),
            "skipped": s.skipped.iter().map(|p| p.value).collect::<Vec<_>>(),
            "rejected": s.rejected,
            "sorted": s.sorted,
            "last_counter": s.last_counter,
        });
        crate::outln!("{out}");
    } else {
        crate::outln!(
            "{} draw, seed {:?}, range {}..={}",
            s.algorithm,
            s.seed,
            s.min,
            s.max
        );
        crate::outln!("{:>5}  {:>8}  {:>10}", "#", "counter", "pick");
        for (i, p) in s.picks.iter().enumerate() {
            crate::outln!(
                "{:>5}  {:>8}  {:>10}",
                i + 1 + a.skip as usize,
                p.counter,
                p.value
            );
        }
        if !s.rejected.is_empty() {
            let r: Vec<String> = s
                .rejected
                .iter()
                .map(|p| format!("{} (counter {})", p.value, p.counter))
                .collect();
            crate::outln!("Duplicates rejected: {}", r.join(", "));
        }
        crate::outln!("Sorted: {:?}", s.sorted);
    }
    Ok(EXIT_OK)
}

/// `evidence-auditor sites`.
pub fn run_sites(a: &SitesArgs) -> anyhow::Result<u8> {
    let s = if a.no_sampling {
        sites_without_sampling(a.sites, a.audit)
    } else {
        sites_to_sample(a.sites, a.audit)
    };
    if a.json {
        let out = json!({
            "sites": s.sites_to_visit,
            "sites_in_scope": s.sites,
            "audit": s.audit,
            "sampling": s.sampling,
            "rule": s.rule,
            "rationale": s.rationale,
        });
        crate::outln!("{out}");
    } else {
        crate::outln!(
            "Sites to visit: {} (plus the central function)",
            s.sites_to_visit
        );
        crate::outln!("{}", s.rationale);
    }
    Ok(EXIT_OK)
}
