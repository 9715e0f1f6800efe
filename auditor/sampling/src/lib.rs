//! Exact audit-sampling statistics and reproducible selection.
//!
//! Pure functions over data: no IO, no clocks, no global RNG. Rates are exact rationals parsed
//! from decimal text; every accept/reject decision is taken on exact values (see `dist`).
//!
//! Code map:
//! - `rate`: `Rate` and `Confidence`, parsed from decimal text.
//! - `exact`, `dist`: rational helpers; `f64` log-space CDFs that screen, exact CDFs that decide.
//! - `plan`, `sequential`, `bayes`: sample sizes (linear scans).
//! - `evaluate`, `stringer`: upper limits, p-values, decisions, MUS bounds, projection.
//! - `sites`: IAF MD 1 site counts in integer arithmetic.
//! - `select`: Rivest sampler, consistent sampler, systematic, stratified and PPS selection.
//!
//! Architecture invariant: nothing here reads files, the clock or an ambient random generator;
//! every output is a function of the arguments, so an auditor can re-perform any draw.

mod bayes;
mod dist;
mod error;
mod evaluate;
mod exact;
mod plan;
mod rate;
mod select;
mod sequential;
mod sites;
mod stringer;

pub use bayes::{BayesInput, BayesPlan, plan_bayesian};
pub use dist::TieConvention;
pub use error::{Result, SamplingError};
pub use evaluate::{Decision, EvaluateInput, Evaluation, evaluate};
pub use plan::{Expected, Likelihood, MAX_SAMPLE_SIZE, Plan, PlanInput, plan};
pub use rate::{Confidence, Rate};
pub use select::consistent::{
    CONSISTENT_ALGORITHM, Ticket, consistent_sample, first_ticket_number, next_ticket_number,
    sha256_uniform,
};
pub use select::pps::{PpsPick, ValuedItem, pps_sieve};
pub use select::rivest::{
    Pick, RIVEST_ALGORITHM, RivestDraw, RivestSample, rivest_draw, rivest_hash_hex, rivest_value,
};
pub use select::stratified::{Allocation, Stratum, StratumSample, allocate, stratified_draw};
pub use select::systematic::{
    MusHit, MusSample, START_GRID, SystematicSample, systematic_items, systematic_mus,
};
pub use sequential::{SequentialInput, SequentialPlan, StageRule, plan_sequential};
pub use sites::{AuditType, SiteSample, sites_to_sample, sites_without_sampling};
pub use stringer::{
    Projection, StringerBound, StringerInput, Taint, project_ratio, stringer_bound,
};
