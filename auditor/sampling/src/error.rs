//! The one error type of the crate: every failure is an invalid input, named by category.

use thiserror::Error;

/// Why a sampling computation refused its input.
///
/// Every public function validates its input and returns one of these instead of panicking.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SamplingError {
    /// A rate or confidence could not be parsed as an exact decimal.
    #[error("invalid number {input:?}: {reason}")]
    InvalidNumber {
        /// The text that was given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A word that must be one of a fixed set of choices is none of them.
    #[error("invalid {what} {input:?}: choose {choices}")]
    InvalidChoice {
        /// What was being chosen (audit type, likelihood).
        what: &'static str,
        /// The text that was given.
        input: String,
        /// The accepted words, for the message.
        choices: &'static str,
    },
    /// A rate lies outside the interval it must lie in.
    #[error("{name} = {value} is out of range: {reason}")]
    OutOfRange {
        /// Which parameter (tolerable, expected, confidence, …).
        name: &'static str,
        /// The value as given.
        value: String,
        /// The rule it breaks.
        reason: String,
    },
    /// Parameters are individually valid but inconsistent with each other.
    #[error("inconsistent parameters: {0}")]
    Inconsistent(String),
    /// A required parameter is missing for the chosen method.
    #[error("missing parameter: {0}")]
    Missing(&'static str),
    /// No sample size up to the search limit satisfies the criterion.
    #[error("no sample size up to {max} satisfies the criterion: {reason}")]
    NoSampleSize {
        /// The largest size that was tried.
        max: u64,
        /// Why the scan stopped.
        reason: String,
    },
    /// A population for selection is empty, has duplicates or otherwise cannot be sampled.
    #[error("invalid population: {0}")]
    InvalidPopulation(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = SamplingError> = std::result::Result<T, E>;
