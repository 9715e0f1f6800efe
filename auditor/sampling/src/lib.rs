//! Exact audit-sampling statistics and reproducible selection.
//!
//! Pure functions over data: no IO, no clocks, no global RNG. Rates are exact rationals parsed
//! from decimal text; every accept/reject decision is taken on exact values (see `dist`).

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
