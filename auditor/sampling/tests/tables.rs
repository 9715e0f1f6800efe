//! Data-driven checks of planning and evaluation against the published AICPA tables and the
#![allow(clippy::unwrap_used)] // Test harness: a malformed data file must fail loudly.
//! exact-rule vectors in `tests/data/`.

use std::collections::HashMap;

use evidence_sampling::{
    Confidence, EvaluateInput, Expected, Likelihood, PlanInput, Rate, evaluate, plan,
};

/// Reads a CSV data file: `#` lines are comments, the first other line is the header.
fn rows(name: &str) -> Vec<HashMap<String, String>> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut lines = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty());
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(str::to_string))
                .collect()
        })
        .collect()
}

fn sample_size(likelihood: Likelihood, conf: &str, tol: &str, exp: &str, pop: Option<u64>) -> u64 {
    let mut input = PlanInput::new(
        likelihood,
        Rate::parse(tol).unwrap(),
        Confidence::parse(conf).unwrap(),
    );
    input.expected = Expected::Rate(Rate::parse(exp).unwrap());
    input.population = pop;
    plan(&input).unwrap().sample_size
}

/// Checks every row with `f`, which returns `Some(message)` for a mismatch; asserts the row count.
fn check(name: &str, cells: usize, f: impl Fn(&HashMap<String, String>) -> Option<String>) {
    let data = rows(name);
    let failures: Vec<String> = data.iter().filter_map(&f).collect();
    assert_eq!(data.len(), cells, "{name}: cell count");
    assert!(
        failures.is_empty(),
        "{name}: {} of {cells} cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn check_sizes(name: &str, cells: usize) {
    check(name, cells, |r| {
        let got = sample_size(
            Likelihood::Binomial,
            &r["confidence"],
            &r["tolerable"],
            &r["expected"],
            None,
        );
        let want: u64 = r["sample_size"].parse().unwrap();
        let published_ok = match r["status"].as_str() {
            "published" => r["published"] == r["sample_size"],
            "published_deviation" => {
                r["published"] != r["sample_size"] && !r["published"].is_empty()
            }
            "disputed_computed" => r["published"].is_empty(),
            _ => false,
        };
        (got != want || !published_ok).then(|| format!("{r:?}: computed {got}"))
    });
}

#[test]
fn aicpa_a1_sample_sizes_match_all_194_cells() {
    check_sizes("aicpa_a1.csv", 194);
}

#[test]
fn aicpa_a2_sample_sizes_match_all_198_cells_with_documented_deviations() {
    check_sizes("aicpa_a2.csv", 198);
    let deviations = rows("aicpa_a2.csv")
        .into_iter()
        .filter(|r| r["status"] != "published")
        .count();
    assert_eq!(deviations, 4);
}

fn check_limits(name: &str) {
    check(name, 231, |r| {
        let input = EvaluateInput::new(
            Likelihood::Binomial,
            r["sample_size"].parse().unwrap(),
            r["deviations"].parse().unwrap(),
            Confidence::parse(&r["confidence"]).unwrap(),
        );
        let e = evaluate(&input).unwrap();
        let want = format!("{}%", r["upper_limit_percent"]);
        (e.upper_bound_display != want)
            .then(|| format!("{r:?}: computed {}", e.upper_bound_display))
    });
}

#[test]
fn aicpa_a3_upper_limits_match_all_231_cells() {
    check_limits("aicpa_a3.csv");
}

#[test]
fn aicpa_a4_upper_limits_match_all_231_cells() {
    check_limits("aicpa_a4.csv");
}

#[test]
fn aicpa_c1_mus_sample_sizes_match_all_418_cells() {
    check("aicpa_c1.csv", 418, |r| {
        let got = sample_size(
            Likelihood::Poisson,
            &r["confidence"],
            &r["tolerable"],
            &r["expected"],
            None,
        );
        let want: u64 = r["sample_size"].parse().unwrap();
        (got != want).then(|| format!("{r:?}: computed {got}"))
    });
}

#[test]
fn aicpa_c1_expected_taints_are_rounded_up_to_cents() {
    check("aicpa_c1_taints.csv", 38, |r| {
        let mut input = PlanInput::new(
            Likelihood::Poisson,
            Rate::parse("0.005").unwrap(),
            Confidence::parse(&r["confidence"]).unwrap(),
        );
        let ratio = Rate::parse(&r["ratio"]).unwrap();
        let e = ratio.ratio() * Rate::parse("0.005").unwrap().ratio();
        input.expected = Expected::Rate(Rate::parse(&exact_decimal(&e)).unwrap());
        let p = plan(&input).unwrap();
        let ok = p.sample_size.to_string() == r["sample_size_at_0_5_percent"]
            && p.expected_errors_display == r["expected_taints"];
        (!ok).then(|| {
            format!(
                "{r:?}: computed n={} x={}",
                p.sample_size, p.expected_errors_display
            )
        })
    });
}

fn exact_decimal(r: &num_rational::BigRational) -> String {
    // Terminating decimals only (T·ratio with T = 0.005 and ratio in tenths).
    let scaled = r * num_rational::BigRational::from_integer(10_000_000u64.into());
    format!("0.{:0>7}", scaled.to_integer())
}

#[test]
fn hypergeometric_small_population_sizes_match_the_exact_oracle() {
    check("hypergeometric_sizes.csv", 5, |r| {
        let pop = r["population"].parse().unwrap();
        let got = sample_size(
            Likelihood::Hypergeometric,
            &r["confidence"],
            &r["tolerable"],
            &r["expected"],
            Some(pop),
        );
        (got.to_string() != r["sample_size"]).then(|| format!("{r:?}: computed {got}"))
    });
}
