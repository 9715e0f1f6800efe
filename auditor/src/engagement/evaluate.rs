//! From test results to a conclusion: tally the results (untestable items count as deviations,
//! ISA 530.11), evaluate the sample with the plan's method and settings (exact decision, see
//! evidence-sampling), and carry the finding category the auditor chose. Pure.

use std::fmt;

use evidence_sampling::{Confidence, EvaluateInput, Evaluation, Likelihood, Rate, evaluate};
use serde::{Deserialize, Serialize};

/// The result of testing one sampled item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestResult {
    /// The control operated as designed for this item.
    Pass,
    /// The control did not operate for this item.
    Deviation,
    /// The item could not be tested (missing or broken evidence): a deviation (ISA 530.11).
    NotTestable,
}

impl TestResult {
    /// The accepted spellings, as a workpaper shows them.
    pub const CHOICES: [&'static str; 3] = ["pass", "deviation", "not testable"];

    /// Parse a workpaper cell: `pass`, `deviation` or `not testable`, ignoring case and
    /// surrounding spaces.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "pass" => Some(Self::Pass),
            "deviation" => Some(Self::Deviation),
            "not testable" => Some(Self::NotTestable),
            _ => None,
        }
    }

    /// The workpaper spelling.
    pub fn label(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Deviation => "deviation",
            Self::NotTestable => "not testable",
        }
    }
}

/// The finding category the auditor proposes for a population (ISO/IEC 17021-1 practice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    Conformity,
    MinorNonconformity,
    MajorNonconformity,
    Observation,
    OpportunityForImprovement,
}

impl Finding {
    /// Every category with its spelling.
    pub const ALL: [(&'static str, Finding); 5] = [
        ("conformity", Finding::Conformity),
        ("minor nonconformity", Finding::MinorNonconformity),
        ("major nonconformity", Finding::MajorNonconformity),
        ("observation", Finding::Observation),
        (
            "opportunity for improvement",
            Finding::OpportunityForImprovement,
        ),
    ];

    /// The spelling, e.g. `minor nonconformity`.
    pub fn label(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(l, _)| l)
    }

    /// The accepted spellings: `minor nonconformity`, `minor-nonconformity` and
    /// `minor_nonconformity` are the same; case is ignored.
    pub fn parse(text: &str) -> Option<Self> {
        let norm = text.trim().to_ascii_lowercase().replace(['-', '_'], " ");
        Self::ALL.iter().find(|(l, _)| *l == norm).map(|(_, f)| *f)
    }

    /// The accepted spellings, joined for messages.
    pub fn choices() -> String {
        Self::ALL
            .iter()
            .map(|(l, _)| l.replace(' ', "-"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Counts of results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tally {
    pub tested: u64,
    pub passed: u64,
    pub deviations: u64,
    pub not_testable: u64,
}

/// Count results.
pub fn tally(results: impl IntoIterator<Item = TestResult>) -> Tally {
    let mut t = Tally::default();
    for r in results {
        t.tested += 1;
        match r {
            TestResult::Pass => t.passed += 1,
            TestResult::Deviation => t.deviations += 1,
            TestResult::NotTestable => t.not_testable += 1,
        }
    }
    t
}

/// The settings a population was planned with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSettings {
    pub likelihood: Likelihood,
    pub tolerable: Rate,
    pub confidence: Confidence,
    pub population: u64,
}

/// Evaluate a tally with the plan's method and settings.
pub fn evaluate_sample(
    settings: &PlanSettings,
    t: &Tally,
) -> Result<Evaluation, evidence_sampling::SamplingError> {
    let mut input = EvaluateInput::new(
        settings.likelihood,
        t.tested,
        t.deviations,
        settings.confidence.clone(),
    );
    input.untestable = t.not_testable;
    input.population = Some(settings.population);
    input.tolerable = Some(settings.tolerable.clone());
    evaluate(&input)
}

/// Warnings about a finding that reads against the evaluation; the auditor may still record it.
pub fn finding_warnings(finding: Finding, supports_reliance: bool, t: &Tally) -> Vec<String> {
    let mut w = Vec::new();
    if finding == Finding::Conformity && !supports_reliance {
        w.push(
            "the proposed finding is conformity, but the sample does not support reliance on the control"
                .to_owned(),
        );
    }
    if finding == Finding::Conformity && (t.deviations + t.not_testable) > 0 && supports_reliance {
        w.push(format!(
            "the proposed finding is conformity with {} deviation(s) in the sample; investigate their nature and cause (ISA 530.12)",
            t.deviations + t.not_testable
        ));
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(n_pop: u64) -> PlanSettings {
        PlanSettings {
            likelihood: Likelihood::Hypergeometric,
            tolerable: Rate::parse("0.05").unwrap(),
            confidence: Confidence::parse("0.95").unwrap(),
            population: n_pop,
        }
    }

    #[test]
    fn results_parse_case_insensitively_and_nothing_else_is_accepted() {
        assert_eq!(TestResult::parse(" Pass "), Some(TestResult::Pass));
        assert_eq!(
            TestResult::parse("NOT TESTABLE"),
            Some(TestResult::NotTestable)
        );
        assert_eq!(TestResult::parse("passed"), None);
        assert_eq!(TestResult::parse(""), None);
    }

    #[test]
    fn finding_spellings_with_dashes_underscores_or_spaces_are_the_same() {
        for s in [
            "minor nonconformity",
            "Minor-Nonconformity",
            "minor_nonconformity",
        ] {
            assert_eq!(Finding::parse(s), Some(Finding::MinorNonconformity), "{s}");
        }
        assert_eq!(Finding::parse("ofi"), None);
        assert!(Finding::choices().contains("opportunity-for-improvement"));
    }

    #[test]
    fn untestable_items_count_as_deviations() {
        let t = tally([
            TestResult::Pass,
            TestResult::NotTestable,
            TestResult::Deviation,
        ]);
        assert_eq!(
            t,
            Tally {
                tested: 3,
                passed: 1,
                deviations: 1,
                not_testable: 1
            }
        );
        let clean = tally(std::iter::repeat_n(TestResult::Pass, 59));
        let e = evaluate_sample(&settings(1000), &clean).unwrap();
        assert_eq!(e.supports_reliance, Some(true));
        let mut one_bad: Vec<TestResult> = std::iter::repeat_n(TestResult::Pass, 58).collect();
        one_bad.push(TestResult::NotTestable);
        let e = evaluate_sample(&settings(1000), &tally(one_bad)).unwrap();
        assert_eq!(e.deviations, 1);
        assert_eq!(e.supports_reliance, Some(false));
    }

    #[test]
    fn a_conformity_finding_against_the_evaluation_is_warned_about() {
        let t = Tally {
            tested: 10,
            passed: 9,
            deviations: 1,
            not_testable: 0,
        };
        assert_eq!(finding_warnings(Finding::Conformity, false, &t).len(), 1);
        assert!(finding_warnings(Finding::MinorNonconformity, false, &t).is_empty());
    }
}
