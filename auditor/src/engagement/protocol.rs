//! The sampling protocol as a pure state machine: which step may be taken in which state, and
//! why not. The engagement file reads a population's [`State`] and calls [`check`] inside the
//! same `BEGIN IMMEDIATE` transaction that writes the step, so two processes can never both
//! pass the check.
//!
//! The order (sampling.md §4.3): define → seed commit → freeze → plan (again, until the seed is
//! revealed) → seed reveal → draw (once) → import results (again, until concluded) → conclude
//! (once). A commitment after the freeze is refused: it could be chosen with the population in
//! view.

use std::fmt;

use evidence_model::Timestamp;

/// A step of the sampling protocol that changes the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// `seed commit`: fix the secret's commitment.
    Commit,
    /// `population freeze`: fix the members and the manifest digest.
    Freeze,
    /// `population plan`: fix the sample size.
    Plan,
    /// `seed reveal`: reveal the secret and fix the seed.
    Reveal,
    /// `sample draw`: select the sample.
    Draw,
    /// `workpaper import`: record the test results.
    Import,
    /// `conclude`: evaluate and record the finding.
    Conclude,
}

impl Step {
    /// Every step, in protocol order.
    pub const ALL: [Step; 7] = [
        Step::Commit,
        Step::Freeze,
        Step::Plan,
        Step::Reveal,
        Step::Draw,
        Step::Import,
        Step::Conclude,
    ];

    /// The command that takes the step.
    pub fn command(self) -> &'static str {
        match self {
            Step::Commit => "seed commit",
            Step::Freeze => "population freeze",
            Step::Plan => "population plan",
            Step::Reveal => "seed reveal",
            Step::Draw => "sample draw",
            Step::Import => "workpaper import",
            Step::Conclude => "conclude",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.command())
    }
}

/// A step already taken: when, and what it fixed (for messages: the commitment, the digest,
/// the seed, the finding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub at: Timestamp,
    pub detail: String,
}

/// How far a population's sampling record has got.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub committed: Option<Done>,
    pub frozen: Option<Done>,
    pub planned: Option<Done>,
    pub revealed: Option<Done>,
    pub drawn: Option<Done>,
    /// Picks stored by the draw.
    pub picks: u64,
    /// Results stored by the last import.
    pub results: u64,
    pub imported: Option<Done>,
    pub concluded: Option<Done>,
}

/// Why a step is refused in a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `needs` must be taken first.
    OutOfOrder { step: Step, needs: Step },
    /// The step is taken once and was taken at `at`.
    AlreadyDone {
        step: Step,
        at: Timestamp,
        detail: String,
    },
    /// The step is no longer possible: `after` was taken at `at`.
    TooLate {
        step: Step,
        after: Step,
        at: Timestamp,
    },
    /// Concluding needs a result for every pick.
    ResultsMissing { results: u64, picks: u64 },
}

/// The status word of a state (`population list`, the record's `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Status {
    #[serde(rename = "defined")]
    Defined,
    #[serde(rename = "committed")]
    Committed,
    #[serde(rename = "frozen")]
    Frozen,
    #[serde(rename = "planned")]
    Planned,
    #[serde(rename = "seed revealed")]
    Revealed,
    #[serde(rename = "drawn")]
    Drawn,
    #[serde(rename = "tested")]
    Tested,
    #[serde(rename = "concluded")]
    Concluded,
}

impl Status {
    /// The word printed.
    pub fn label(self) -> &'static str {
        match self {
            Status::Defined => "defined",
            Status::Committed => "committed",
            Status::Frozen => "frozen",
            Status::Planned => "planned",
            Status::Revealed => "seed revealed",
            Status::Drawn => "drawn",
            Status::Tested => "tested",
            Status::Concluded => "concluded",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl State {
    /// The furthest step taken.
    pub fn status(&self) -> Status {
        if self.concluded.is_some() {
            Status::Concluded
        } else if self.imported.is_some() {
            Status::Tested
        } else if self.drawn.is_some() {
            Status::Drawn
        } else if self.revealed.is_some() {
            Status::Revealed
        } else if self.planned.is_some() {
            Status::Planned
        } else if self.frozen.is_some() {
            Status::Frozen
        } else if self.committed.is_some() {
            Status::Committed
        } else {
            Status::Defined
        }
    }
}

fn needs(step: Step, done: Option<&Done>, needed: Step) -> Result<(), Refusal> {
    match done {
        Some(_) => Ok(()),
        None => Err(Refusal::OutOfOrder {
            step,
            needs: needed,
        }),
    }
}

fn once(step: Step, done: Option<&Done>) -> Result<(), Refusal> {
    match done {
        None => Ok(()),
        Some(d) => Err(Refusal::AlreadyDone {
            step,
            at: d.at,
            detail: d.detail.clone(),
        }),
    }
}

fn before(step: Step, done: Option<&Done>, after: Step) -> Result<(), Refusal> {
    match done {
        None => Ok(()),
        Some(d) => Err(Refusal::TooLate {
            step,
            after,
            at: d.at,
        }),
    }
}

/// Whether `step` may be taken in state `s`, or why not. The checks run in the order that
/// gives the most useful message first.
pub fn check(step: Step, s: &State) -> Result<(), Refusal> {
    use Step::*;
    match step {
        Commit => {
            before(step, s.frozen.as_ref(), Freeze)?;
            once(step, s.committed.as_ref())
        }
        Freeze => {
            once(step, s.frozen.as_ref())?;
            needs(step, s.committed.as_ref(), Commit)
        }
        Plan => {
            needs(step, s.frozen.as_ref(), Freeze)?;
            before(step, s.revealed.as_ref(), Reveal)
        }
        Reveal => {
            needs(step, s.committed.as_ref(), Commit)?;
            needs(step, s.frozen.as_ref(), Freeze)?;
            needs(step, s.planned.as_ref(), Plan)?;
            once(step, s.revealed.as_ref())
        }
        Draw => {
            needs(step, s.frozen.as_ref(), Freeze)?;
            needs(step, s.revealed.as_ref(), Reveal)?;
            needs(step, s.planned.as_ref(), Plan)?;
            once(step, s.drawn.as_ref())
        }
        Import => {
            needs(step, s.drawn.as_ref(), Draw)?;
            before(step, s.concluded.as_ref(), Conclude)
        }
        Conclude => {
            needs(step, s.frozen.as_ref(), Freeze)?;
            once(step, s.concluded.as_ref())?;
            needs(step, s.drawn.as_ref(), Draw)?;
            if s.results != s.picks || s.imported.is_none() {
                return Err(Refusal::ResultsMissing {
                    results: s.results,
                    picks: s.picks,
                });
            }
            Ok(())
        }
    }
}

/// The steps that may be taken in state `s`, in protocol order.
pub fn next_allowed(s: &State) -> Vec<Step> {
    Step::ALL
        .into_iter()
        .filter(|step| check(*step, s).is_ok())
        .collect()
}

/// The message for a step attempted before the one it needs, naming the command to run.
pub fn out_of_order_message(population: &str, step: Step, needs: Step) -> String {
    let p = population;
    match (step, needs) {
        (Step::Freeze, Step::Commit) => format!(
            "population {p} has no seed commitment: commit to a secret before freezing, so that the seed cannot be chosen after seeing the population (`evidence-auditor seed commit {p} --secret-file FILE --generate`)"
        ),
        (Step::Reveal, Step::Commit) => {
            format!("population {p} has no commitment; there is nothing to reveal")
        }
        (_, Step::Commit) => format!(
            "population {p} has no seed commitment (`evidence-auditor seed commit {p} --secret-file FILE --generate`)"
        ),
        (_, Step::Freeze) => format!(
            "population {p} is not frozen yet: run `evidence-auditor population freeze {p}`"
        ),
        (_, Step::Plan) => format!(
            "population {p} has no plan: fix the sample size before the seed is known (`evidence-auditor population plan {p}`)"
        ),
        (_, Step::Reveal) => format!(
            "the seed of {p} is not revealed: commit (before the freeze), freeze, plan, then `evidence-auditor seed reveal {p} --secret-file FILE`"
        ),
        (_, Step::Draw) => {
            format!("population {p} has not been drawn yet (`evidence-auditor sample draw {p}`)")
        }
        (_, Step::Import) => format!(
            "population {p} has no imported results: import the filled workpaper first (`evidence-auditor workpaper import {p} FILE`)"
        ),
        (_, Step::Conclude) => {
            format!("population {p} is not concluded yet (`evidence-auditor conclude {p}`)")
        }
    }
}

/// The message for a step that is taken once and already was.
pub fn already_done_message(population: &str, step: Step, at: &Timestamp, detail: &str) -> String {
    let p = population;
    match step {
        Step::Commit => {
            format!("population {p} already has the commitment {detail} (made at {at})")
        }
        Step::Freeze => format!("population {p} was already frozen at {at} (digest {detail})"),
        Step::Plan => format!("population {p} was already planned at {at}"),
        Step::Reveal => format!("the seed of {p} was already revealed at {at}: {detail}"),
        Step::Draw => format!(
            "population {p} was already drawn at {at}; a sample is drawn once (`evidence-auditor sample show {p}`)"
        ),
        Step::Import => format!("the results of population {p} were already imported at {at}"),
        Step::Conclude => format!("population {p} was already concluded at {at} ({detail})"),
    }
}

/// The message for a step that a later step has made impossible.
pub fn too_late_message(population: &str, step: Step, after: Step, at: &Timestamp) -> String {
    let p = population;
    match (step, after) {
        (Step::Commit, Step::Freeze) => format!(
            "population {p} was frozen at {at}: a commitment made after the freeze could be chosen with the population in view; define a new population to sample again"
        ),
        (Step::Plan, Step::Reveal) => format!(
            "the seed of population {p} is already revealed: the plan must be fixed before anyone knows the seed"
        ),
        (Step::Import, Step::Conclude) => {
            format!("population {p} was concluded at {at}; its results are final")
        }
        _ => format!("population {p}: `{step}` is no longer possible after `{after}` (at {at})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(detail: &str) -> Option<Done> {
        Some(Done {
            at: "2026-03-01T00:00:00Z".parse().unwrap(),
            detail: detail.to_owned(),
        })
    }

    /// The state after the first `k` steps of the protocol, in order.
    fn after(k: usize) -> State {
        let mut s = State::default();
        for step in Step::ALL.iter().take(k) {
            match step {
                Step::Commit => s.committed = done("c0ffee"),
                Step::Freeze => s.frozen = done("d1gest"),
                Step::Plan => s.planned = done(""),
                Step::Reveal => s.revealed = done("seed"),
                Step::Draw => {
                    s.drawn = done("");
                    s.picks = 3;
                }
                Step::Import => {
                    s.imported = done("");
                    s.results = 3;
                }
                Step::Conclude => s.concluded = done("conformity"),
            }
        }
        s
    }

    fn ooo(step: Step, needs: Step) -> Result<(), Refusal> {
        Err(Refusal::OutOfOrder { step, needs })
    }

    fn at() -> Timestamp {
        "2026-03-01T00:00:00Z".parse().unwrap()
    }

    fn again(step: Step, detail: &str) -> Result<(), Refusal> {
        Err(Refusal::AlreadyDone {
            step,
            at: at(),
            detail: detail.to_owned(),
        })
    }

    fn late(step: Step, after: Step) -> Result<(), Refusal> {
        Err(Refusal::TooLate {
            step,
            after,
            at: at(),
        })
    }

    #[test]
    fn every_step_in_every_state_of_the_protocol_is_allowed_or_refused_with_its_reason() {
        use Step::*;
        let missing = |results, picks| Err(Refusal::ResultsMissing { results, picks });
        // Rows: the state after k steps (k = 0..=7); columns: Step::ALL.
        let expected: [[Result<(), Refusal>; 7]; 8] = [
            // defined
            [
                Ok(()),
                ooo(Freeze, Commit),
                ooo(Plan, Freeze),
                ooo(Reveal, Commit),
                ooo(Draw, Freeze),
                ooo(Import, Draw),
                ooo(Conclude, Freeze),
            ],
            // committed
            [
                again(Commit, "c0ffee"),
                Ok(()),
                ooo(Plan, Freeze),
                ooo(Reveal, Freeze),
                ooo(Draw, Freeze),
                ooo(Import, Draw),
                ooo(Conclude, Freeze),
            ],
            // frozen
            [
                late(Commit, Freeze),
                again(Freeze, "d1gest"),
                Ok(()),
                ooo(Reveal, Plan),
                ooo(Draw, Reveal),
                ooo(Import, Draw),
                ooo(Conclude, Draw),
            ],
            // planned: planning again is allowed until the seed is revealed
            [
                late(Commit, Freeze),
                again(Freeze, "d1gest"),
                Ok(()),
                Ok(()),
                ooo(Draw, Reveal),
                ooo(Import, Draw),
                ooo(Conclude, Draw),
            ],
            // seed revealed
            [
                late(Commit, Freeze),
                again(Freeze, "d1gest"),
                late(Plan, Reveal),
                again(Reveal, "seed"),
                Ok(()),
                ooo(Import, Draw),
                ooo(Conclude, Draw),
            ],
            // drawn
            [
                late(Commit, Freeze),
                again(Freeze, "d1gest"),
                late(Plan, Reveal),
                again(Reveal, "seed"),
                again(Draw, ""),
                Ok(()),
                missing(0, 3),
            ],
            // tested: importing again replaces the results until concluded
            [
                late(Commit, Freeze),
                again(Freeze, "d1gest"),
                late(Plan, Reveal),
                again(Reveal, "seed"),
                again(Draw, ""),
                Ok(()),
                Ok(()),
            ],
            // concluded
            [
                late(Commit, Freeze),
                again(Freeze, "d1gest"),
                late(Plan, Reveal),
                again(Reveal, "seed"),
                again(Draw, ""),
                late(Import, Conclude),
                again(Conclude, "conformity"),
            ],
        ];
        for (k, row) in expected.iter().enumerate() {
            let s = after(k);
            for (step, want) in Step::ALL.iter().zip(row) {
                assert_eq!(&check(*step, &s), want, "{step} after {k} step(s)");
            }
        }
    }

    #[test]
    fn concluding_needs_a_result_for_every_pick() {
        let mut s = after(6);
        s.results = 2;
        assert_eq!(
            check(Step::Conclude, &s),
            Err(Refusal::ResultsMissing {
                results: 2,
                picks: 3
            })
        );
    }

    #[test]
    fn the_allowed_steps_walk_the_protocol_in_order() {
        use Step::*;
        let walk: Vec<Vec<Step>> = (0..=7).map(|k| next_allowed(&after(k))).collect();
        assert_eq!(
            walk,
            vec![
                vec![Commit],
                vec![Freeze],
                vec![Plan],
                vec![Plan, Reveal],
                vec![Draw],
                vec![Import],
                vec![Import, Conclude],
                vec![],
            ]
        );
        let statuses: Vec<&str> = (0..=7).map(|k| after(k).status().label()).collect();
        assert_eq!(
            statuses,
            [
                "defined",
                "committed",
                "frozen",
                "planned",
                "seed revealed",
                "drawn",
                "tested",
                "concluded"
            ]
        );
    }

    #[test]
    fn messages_name_the_population_and_the_command_to_run() {
        let m = out_of_order_message("pr", Step::Freeze, Step::Commit);
        assert!(
            m.contains("has no seed commitment") && m.contains("seed commit pr"),
            "{m}"
        );
        let m = out_of_order_message("pr", Step::Draw, Step::Reveal);
        assert!(m.contains("the seed of pr is not revealed"), "{m}");
        let m = already_done_message("pr", Step::Draw, &at(), "");
        assert!(m.contains("a sample is drawn once"), "{m}");
        let m = too_late_message("pr", Step::Commit, Step::Freeze, &at());
        assert!(m.contains("a commitment made after the freeze"), "{m}");
        let m = too_late_message("pr", Step::Plan, Step::Reveal, &at());
        assert!(
            m.contains("the plan must be fixed before anyone knows the seed"),
            "{m}"
        );
    }
}
