//! The engagement's operations: audits, population definitions, and the steps of the sampling
//! protocol. Each step opens one `BEGIN IMMEDIATE` transaction, reads the population's
//! [`State`](super::protocol::State), asks [`protocol::check`] whether the step may be taken,
//! computes and writes its result, and commits: two processes racing on one population
//! serialise, and the loser is refused with the same typed error as a step taken late.
//! The caller passes the time in; the CLI only parses arguments and prints what comes back.

use std::io::Write;
use std::path::Path;

use evidence_model::{ClauseId, ControlId, Kind, Sha256Digest, Timestamp};
use evidence_sampling::{Confidence, Expected, Likelihood, PlanInput, Rate, plan};

use super::db::{AuditRow, ConclusionRow, Engagement, FrozenRow, ImportRow, PickRow, ResultRow};
use super::evaluate::{
    Finding, PlanSettings, Tally, TestResult, evaluate_sample, finding_warnings, tally,
};
use super::population::{ActorFilter, Definition, Dimension, Member, write_manifest};
use super::protocol::{self, Status, Step};
use super::records::{
    CommitmentRow, Evaluated, PlannedStratum, RECORD_VERSION, StoredEvaluation, StoredPlan,
};
use super::sample::{self, Drawn};
use super::seed::{Beacon, SeedSecret, derive_seed};
use super::workpaper::{self, ExpectedRow};
use super::{EngagementError, Result, export};

/// A date (`2026-01-01`, midnight UTC) or an RFC 3339 time; `what` names the option.
pub fn parse_time(text: &str, what: &str) -> Result<Timestamp> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    let date: jiff::civil::Date = text.parse().map_err(|_| {
        EngagementError::Invalid(format!(
            "{what}: {text:?} is neither a date (2026-01-31) nor an RFC 3339 time"
        ))
    })?;
    Ok(date
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map_err(|e| EngagementError::Invalid(format!("{what}: {e}")))?
        .timestamp())
}

fn setting<T, E: std::error::Error + Send + Sync + 'static>(
    r: std::result::Result<T, E>,
    what: &str,
) -> Result<T> {
    r.map_err(|e| EngagementError::Setting {
        what: what.to_owned(),
        source: Box::new(e),
    })
}

/// An audit to add.
#[derive(Debug, Clone, Default)]
pub struct AuditRequest {
    pub id: String,
    /// `initial`, `surveillance` or `recertification`.
    pub audit_type: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub confidence: Option<String>,
    pub tolerable: Option<String>,
    pub expected: Option<String>,
}

/// A population to define: the filters as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct DefineRequest {
    pub name: String,
    pub audit: Option<String>,
    pub kinds: Vec<String>,
    pub controls: Vec<String>,
    pub clauses: Vec<String>,
    pub sources: Vec<String>,
    pub actors: Vec<String>,
    pub origins: Vec<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub any_period: bool,
    pub stratify_by: Option<Dimension>,
}

/// A defined population.
#[derive(Debug, Clone)]
pub struct Defined {
    pub name: String,
    pub audit: String,
    pub definition: Definition,
    /// Ingested items that match now (the members are fixed at the freeze).
    pub matching_now: usize,
    pub left_out_without_source_time: u64,
}

/// Where the secret of a commitment comes from.
#[derive(Debug, Clone, Copy)]
pub enum SecretSource<'a> {
    /// Generate one from the operating system's random generator into this new file (0600).
    Generate(&'a Path),
    /// Read it from this file.
    File(&'a Path),
}

/// A frozen population.
#[derive(Debug, Clone)]
pub struct FreezeOutcome {
    pub frozen: FrozenRow,
    pub commitment: String,
    pub left_out_without_source_time: u64,
}

/// The options of a plan; `None` takes the audit's settings.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    pub likelihood: Option<String>,
    pub tolerable: Option<String>,
    pub confidence: Option<String>,
    pub expected: Option<String>,
    pub expected_errors: Option<u64>,
}

/// A plan made.
#[derive(Debug, Clone)]
pub struct Planned {
    pub stored: StoredPlan,
    /// The statistics' suggestion when the plan is unusual (e.g. testing everything).
    pub suggestion: Option<String>,
    pub population_size: u64,
}

/// A public beacon value to fold into the seed.
#[derive(Debug, Clone)]
pub struct BeaconInput {
    pub chain: String,
    pub round: u64,
    pub value: String,
}

/// A revealed seed.
#[derive(Debug, Clone)]
pub struct Revealed {
    pub commitment: String,
    pub seed: String,
    pub beacon: Option<Beacon>,
    pub revealed_at: Timestamp,
}

/// A drawn sample with everything needed to show it.
#[derive(Debug, Clone)]
pub struct Sample {
    pub population: String,
    pub drawn: Drawn,
    pub drawn_at: Timestamp,
    pub seed: String,
    pub frozen: FrozenRow,
    pub picks: Vec<PickRow>,
    pub results: Vec<ResultRow>,
}

/// An imported workpaper.
#[derive(Debug, Clone)]
pub struct ImportOutcome {
    pub results: usize,
    pub tally: Tally,
    pub finding: Option<Finding>,
    pub import: ImportRow,
}

/// Where a conclusion's finding came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingSource {
    /// `--finding`.
    Option,
    /// The workpaper's "Proposed finding" cell.
    Workpaper,
}

impl FindingSource {
    /// The word stored.
    pub fn label(self) -> &'static str {
        match self {
            FindingSource::Option => "option",
            FindingSource::Workpaper => "workpaper",
        }
    }
}

/// A recorded conclusion.
#[derive(Debug, Clone)]
pub struct Concluded {
    pub evaluated: Evaluated,
    pub finding: Finding,
    pub source: FindingSource,
    /// The workpaper's proposed finding that `--finding` replaced.
    pub replaced: Option<Finding>,
    pub warnings: Vec<String>,
    pub concluded_at: Timestamp,
    /// The finding the conclusion was recorded as (`F-0001`); none when the population names
    /// no requirement to raise it against.
    pub finding_id: Option<String>,
}

impl Engagement {
    /// Take `step` on `population`: in one immediate transaction, check the protocol and run
    /// `write`; commit only if both succeed.
    fn step<T>(
        &self,
        population: &str,
        step: Step,
        write: impl FnOnce(&Self) -> Result<T>,
    ) -> Result<T> {
        let tx = self.immediate()?;
        let state = self.state(population)?;
        protocol::check(step, &state).map_err(|r| EngagementError::refused(population, r))?;
        let out = write(self)?;
        tx.commit().map_err(self.db())?;
        Ok(out)
    }

    /// The status of `population`'s sampling record.
    pub fn status(&self, population: &str) -> Result<Status> {
        Ok(self.state(population)?.status())
    }

    // ----- audits and definitions ----------------------------------------------------------

    /// Add an audit of the certification cycle. A surveillance audit's period starts where the
    /// previous audit's ended unless `from` is given; settings default to confidence 0.95 (0.90
    /// for surveillance), tolerable rate 0.05, expected rate 0.
    pub fn add_audit(&self, a: &AuditRequest, now: Timestamp) -> Result<AuditRow> {
        let tx = self.immediate()?;
        let audits = self.audits()?;
        let surveillance = a.audit_type == "surveillance";
        let from = match (&a.from, audits.last()) {
            (Some(f), _) => Some(parse_time(f, "--from")?),
            (None, Some(prev)) if surveillance => Some(prev.period_to.ok_or_else(|| {
                EngagementError::Invalid(format!(
                    "the previous audit {} has no period end: give --from for this surveillance audit",
                    prev.id
                ))
            })?),
            _ => None,
        };
        let to = a.to.as_deref().map(|t| parse_time(t, "--to")).transpose()?;
        if let (Some(f), Some(t)) = (from, to)
            && t <= f
        {
            return Err(EngagementError::Invalid(format!(
                "--to {t} is not after --from {f}"
            )));
        }
        let confidence = a
            .confidence
            .clone()
            .unwrap_or_else(|| if surveillance { "0.90" } else { "0.95" }.to_owned());
        let tolerable = a.tolerable.clone().unwrap_or_else(|| "0.05".to_owned());
        let expected = a.expected.clone().unwrap_or_else(|| "0".to_owned());
        let row = self.insert_audit(&AuditRow {
            id: a.id.clone(),
            ordinal: 0,
            audit_type: a.audit_type.clone(),
            period_from: from,
            period_to: to,
            confidence: setting(Confidence::parse(&confidence), "--confidence")?.to_string(),
            tolerable: setting(Rate::parse(&tolerable), "--tolerable")?.to_string(),
            expected: setting(Rate::parse(&expected), "--expected")?.to_string(),
            created_at: now,
        })?;
        tx.commit().map_err(self.db())?;
        Ok(row)
    }

    /// Define a population of an audit (the only one when none is named). Filters are checked
    /// (kinds, controls and clauses exist, origins were ingested); the period defaults to the
    /// audit's.
    pub fn define(&self, a: &DefineRequest, now: Timestamp) -> Result<Defined> {
        let tx = self.immediate()?;
        let audits = self.audits()?;
        let audit = match &a.audit {
            Some(id) => {
                audits
                    .iter()
                    .find(|x| &x.id == id)
                    .ok_or_else(|| EngagementError::NotFound {
                        what: "audit",
                        name: id.clone(),
                        hint: " (`evidence-auditor audit list`)".into(),
                    })?
            }
            None => match audits.as_slice() {
                [only] => only,
                [] => {
                    return Err(EngagementError::Invalid(
                        "the engagement has no audit yet: `evidence-auditor audit add ID --type initial` first".into(),
                    ));
                }
                _ => {
                    return Err(EngagementError::Invalid(
                        "the engagement has several audits: name one with --audit".into(),
                    ));
                }
            },
        };
        let invalid = |what: &str, e: &dyn std::fmt::Display| {
            EngagementError::Invalid(format!("{what}: {e}"))
        };
        for k in &a.kinds {
            k.parse::<Kind>().map_err(|e| invalid("--kind", &e))?;
        }
        for c in &a.controls {
            c.parse::<ControlId>()
                .map_err(|e| invalid("--control", &e))?;
        }
        for c in &a.clauses {
            c.parse::<ClauseId>().map_err(|e| invalid("--clause", &e))?;
        }
        let actors = a
            .actors
            .iter()
            .map(|t| ActorFilter::parse(t).map_err(|e| invalid("--actor", &e)))
            .collect::<Result<Vec<_>>>()?;
        let known: Vec<String> = self.origins()?.into_iter().map(|(o, _, _)| o).collect();
        if let Some(o) = a.origins.iter().find(|o| !known.contains(o)) {
            return Err(EngagementError::Invalid(format!(
                "--origin {o:?}: no archive of that origin was ingested (ingested: {})",
                known.join(", ")
            )));
        }
        let (from, to) = if a.from.is_some() || a.to.is_some() || a.any_period {
            (
                a.from
                    .as_deref()
                    .map(|t| parse_time(t, "--from"))
                    .transpose()?,
                a.to.as_deref().map(|t| parse_time(t, "--to")).transpose()?,
            )
        } else {
            (audit.period_from, audit.period_to)
        };
        let definition = Definition {
            kinds: a.kinds.clone(),
            controls: a.controls.clone(),
            clauses: a.clauses.clone(),
            sources: a.sources.clone(),
            actors,
            origins: a.origins.clone(),
            from,
            to,
            stratify_by: a.stratify_by,
        };
        let (members, without_time) = self.candidates(&definition)?;
        self.define_population(&a.name, &audit.id, &definition, now)?;
        let audit = audit.id.clone();
        tx.commit().map_err(self.db())?;
        Ok(Defined {
            name: a.name.clone(),
            audit,
            definition,
            matching_now: members.len(),
            left_out_without_source_time: without_time,
        })
    }

    // ----- the protocol's steps ------------------------------------------------------------

    /// Commit to a secret before the freeze: store `SHA-256(secret)`.
    pub fn commit_seed(
        &self,
        population: &str,
        source: SecretSource<'_>,
        now: Timestamp,
    ) -> Result<CommitmentRow> {
        self.step(population, Step::Commit, |e| {
            let secret = match source {
                SecretSource::Generate(path) => {
                    let secret = generate_secret()?;
                    write_secret(path, &secret)?;
                    secret
                }
                SecretSource::File(path) => read_secret(path)?,
            };
            let commitment = secret.commitment();
            e.store_commitment(population, &commitment, now)?;
            Ok(CommitmentRow {
                commitment,
                committed_at: now,
            })
        })
    }

    /// Freeze a committed population: fix its members in manifest order and the digest.
    pub fn freeze(&self, population: &str, now: Timestamp) -> Result<FreezeOutcome> {
        self.step(population, Step::Freeze, |e| {
            let p = e.population(population)?;
            let (members, without_time) = e.candidates(&p.definition)?;
            let frozen = super::population::freeze(members).map_err(|source| {
                EngagementError::Invalid(format!("population {population}: {source}"))
            })?;
            e.store_freeze(population, &frozen, now)?;
            let row = e
                .population(population)?
                .frozen
                .ok_or_else(|| EngagementError::NotYet {
                    population: population.to_owned(),
                    needs: Step::Freeze,
                })?;
            let commitment = e
                .commitment(population)?
                .map(|c| c.commitment)
                .unwrap_or_default();
            Ok(FreezeOutcome {
                frozen: row,
                commitment,
                left_out_without_source_time: without_time,
            })
        })
    }

    /// Plan the sample size of a frozen population (again, until the seed is revealed).
    /// Defaults to the hypergeometric likelihood (exact for N known items drawn without
    /// replacement) and to the audit's settings.
    pub fn plan_sample(
        &self,
        population: &str,
        r: &PlanRequest,
        now: Timestamp,
    ) -> Result<Planned> {
        self.step(population, Step::Plan, |e| {
            let p = e.population(population)?;
            let f = frozen_of(&p.frozen, population)?;
            let audit = e.audit(&p.audit)?.ok_or_else(|| EngagementError::NotFound {
                what: "audit",
                name: p.audit.clone(),
                hint: format!(" (the audit of population {population})"),
            })?;
            let (likelihood, likelihood_reason) = match &r.likelihood {
                Some(l) => (
                    setting(l.parse::<Likelihood>(), "--likelihood")?,
                    "chosen by the auditor".to_owned(),
                ),
                None => (
                    Likelihood::Hypergeometric,
                    format!(
                        "hypergeometric by default: the population size N = {} is known and items are drawn without replacement, so the hypergeometric likelihood is exact (sampling.md §2.2); the binomial (AICPA tables) would over-sample a finite population",
                        f.size
                    ),
                ),
            };
            let tolerable = setting(
                Rate::parse(r.tolerable.as_deref().unwrap_or(&audit.tolerable)),
                "--tolerable",
            )?;
            let confidence = setting(
                Confidence::parse(r.confidence.as_deref().unwrap_or(&audit.confidence)),
                "--confidence",
            )?;
            let expected = match (&r.expected, r.expected_errors) {
                (_, Some(k)) => Expected::Count(k),
                (Some(x), None) => Expected::Rate(setting(Rate::parse(x), "--expected")?),
                (None, None) => Expected::Rate(setting(
                    Rate::parse(&audit.expected),
                    "the audit's expected rate",
                )?),
            };
            let from_audit = r.tolerable.is_none()
                && r.confidence.is_none()
                && r.expected.is_none()
                && r.expected_errors.is_none();
            let mut input = PlanInput::new(likelihood, tolerable.clone(), confidence.clone());
            input.expected = expected;
            input.population = Some(f.size);
            input.max_sample_size = f.size.clamp(1, evidence_sampling::MAX_SAMPLE_SIZE);
            let planned = plan(&input).or_else(|err| match err {
                evidence_sampling::SamplingError::NoSampleSize { .. } => {
                    let mut all = input.clone();
                    all.max_sample_size = evidence_sampling::MAX_SAMPLE_SIZE;
                    plan(&all)
                }
                other => Err(other),
            })?;
            let sample_size = planned.sample_size.min(f.size);
            let allocation = if f.strata.is_empty() {
                Vec::new()
            } else {
                sample::allocation(&f.strata, sample_size)?
            };
            let stored = StoredPlan {
                version: RECORD_VERSION,
                settings: PlanSettings {
                    likelihood,
                    tolerable,
                    confidence,
                    population: f.size,
                },
                sample_size,
                test_all: sample_size >= f.size,
                likelihood_reason,
                settings_source: if from_audit {
                    format!("the {} audit {}'s settings", audit.audit_type, audit.id)
                } else {
                    "options given by the auditor".to_owned()
                },
                rationale: planned.rationale.clone(),
                allocation: f
                    .strata
                    .iter()
                    .zip(&allocation)
                    .map(|(s, n)| PlannedStratum {
                        stratum: s.name.clone(),
                        size: s.size,
                        allocated: *n,
                    })
                    .collect(),
                plan: serde_json::to_value(&planned).map_err(|e| {
                    EngagementError::Invalid(format!("the plan cannot be recorded: {e}"))
                })?,
            };
            e.store_plan(population, &stored, now)?;
            Ok(Planned {
                stored,
                suggestion: planned.suggestion.clone(),
                population_size: f.size,
            })
        })
    }

    /// Reveal the secret committed to (checked against the commitment), optionally with a
    /// beacon value published after the freeze, and fix the seed.
    pub fn reveal_seed(
        &self,
        population: &str,
        secret_file: &Path,
        beacon: Option<&BeaconInput>,
        now: Timestamp,
    ) -> Result<Revealed> {
        self.step(population, Step::Reveal, |e| {
            let commitment = e
                .commitment(population)?
                .map(|c| c.commitment)
                .unwrap_or_default();
            let p = e.population(population)?;
            let f = frozen_of(&p.frozen, population)?;
            let secret = read_secret(secret_file)?;
            secret.check(&commitment)?;
            let beacon = beacon
                .map(|b| Beacon::new(&b.chain, b.round, &b.value, f.frozen_at, now))
                .transpose()?;
            let digest: Sha256Digest = f.digest.parse().map_err(|e| {
                EngagementError::Invalid(format!(
                    "the stored digest of population {population}: {e}"
                ))
            })?;
            let seed = derive_seed(&secret, beacon.as_ref(), &digest);
            e.store_seed(population, secret.expose(), beacon.as_ref(), &seed, now)?;
            Ok(Revealed {
                commitment,
                seed,
                beacon,
                revealed_at: now,
            })
        })
    }

    /// Draw the planned sample with the revealed seed, once.
    pub fn draw_sample(&self, population: &str, now: Timestamp) -> Result<Sample> {
        self.step(population, Step::Draw, |e| {
            let p = e.population(population)?;
            let f = frozen_of(&p.frozen, population)?;
            let seed = e
                .seed(population)?
                .ok_or_else(|| EngagementError::NotYet {
                    population: population.to_owned(),
                    needs: Step::Reveal,
                })?
                .seed;
            let n = e
                .plan(population)?
                .ok_or_else(|| EngagementError::NotYet {
                    population: population.to_owned(),
                    needs: Step::Plan,
                })?
                .plan
                .sample_size;
            let (rows, stratum_of) = e.members(population)?;
            let drawn = sample::draw(&seed, f.size, n, &f.strata, &stratum_of)?;
            let items: Vec<i64> = drawn
                .picks
                .iter()
                .map(|p| {
                    rows.get(p.position as usize - 1).copied().ok_or_else(|| {
                        EngagementError::Invalid(format!(
                            "position {} is outside the manifest of population {population}",
                            p.position
                        ))
                    })
                })
                .collect::<Result<_>>()?;
            e.store_draw(population, &drawn, &items, now)?;
            e.sample(population)
        })
    }

    /// The drawn sample of `population`, its picks and any results imported.
    pub fn sample(&self, population: &str) -> Result<Sample> {
        let p = self.population(population)?;
        let (drawn, drawn_at) = self
            .draw(population)?
            .ok_or_else(|| EngagementError::NotYet {
                population: population.to_owned(),
                needs: Step::Draw,
            })?;
        let frozen = frozen_of(&p.frozen, population)?.clone();
        Ok(Sample {
            population: population.to_owned(),
            drawn,
            drawn_at,
            seed: self.seed(population)?.map(|s| s.seed).unwrap_or_default(),
            frozen,
            picks: self.picks(population)?,
            results: self.results(population)?,
        })
    }

    /// Import a filled workpaper (`.xlsx` or `.csv`): every row is checked against the sample
    /// and nothing is stored if any has a problem; the results replace earlier ones until the
    /// population is concluded.
    pub fn import_results(
        &self,
        population: &str,
        path: &Path,
        now: Timestamp,
    ) -> Result<ImportOutcome> {
        self.step(population, Step::Import, |e| {
            let table = workpaper::read(path)?;
            let expected: Vec<ExpectedRow> = e
                .picks(population)?
                .iter()
                .map(|p| ExpectedRow {
                    pick: p.pick.pick,
                    origin: p.item.origin.clone(),
                    item_id: p.item.item_id.clone(),
                    sha256: p.item.sha256.clone(),
                })
                .collect();
            let imported =
                workpaper::validate(&table, population, &expected).map_err(|problems| {
                    EngagementError::Workpaper {
                        path: path.to_owned(),
                        problems,
                    }
                })?;
            let bytes = std::fs::read(path).map_err(|source| EngagementError::Io {
                path: path.to_owned(),
                source,
            })?;
            let results: Vec<ResultRow> = imported
                .iter()
                .map(|i| ResultRow {
                    pick: i.pick,
                    result: i.result.label().to_owned(),
                    notes: i.notes.clone(),
                    tested_by: i.tested_by.clone(),
                })
                .collect();
            let finding = table.finding.as_deref().and_then(Finding::parse);
            let import = ImportRow {
                file: path.display().to_string(),
                sha256: Sha256Digest::of(&bytes).to_hex(),
                finding: finding.map(|f| f.label().to_owned()),
                finding_note: table.finding_note.clone(),
                imported_at: now,
            };
            e.store_results(population, &results, &import)?;
            Ok(ImportOutcome {
                results: results.len(),
                tally: tally(imported.iter().map(|i| i.result)),
                finding,
                import,
            })
        })
    }

    /// The evaluation of `population`'s imported results with its plan's settings.
    pub fn evaluated(&self, population: &str) -> Result<Evaluated> {
        let p = self.population(population)?;
        let f = frozen_of(&p.frozen, population)?;
        let plan = self
            .plan(population)?
            .ok_or_else(|| EngagementError::NotYet {
                population: population.to_owned(),
                needs: Step::Plan,
            })?;
        let parsed: Vec<TestResult> = self
            .results(population)?
            .iter()
            .map(|r| {
                TestResult::parse(&r.result).ok_or_else(|| {
                    EngagementError::Invalid(format!("stored result {:?} is unreadable", r.result))
                })
            })
            .collect::<Result<_>>()?;
        let t = tally(parsed);
        let evaluation = evaluate_sample(&plan.plan.settings, &t)?;
        Ok(Evaluated {
            population_size: f.size,
            tally: t,
            supports_reliance: evaluation.supports_reliance.unwrap_or(false),
            evaluation,
        })
    }

    /// Evaluate a tested population and record the finding: `finding` (`--finding`) or else
    /// the workpaper's proposed one; with neither, nothing is recorded ([`EngagementError::NoFinding`]).
    pub fn conclude(
        &self,
        population: &str,
        finding: Option<&str>,
        note: Option<String>,
        now: Timestamp,
    ) -> Result<Concluded> {
        self.step(population, Step::Conclude, |e| {
            let evaluated = e.evaluated(population)?;
            let import = e.import(population)?;
            let from_sheet = import
                .as_ref()
                .and_then(|i| i.finding.as_deref())
                .and_then(Finding::parse);
            let (finding, source, replaced) = match (finding, from_sheet) {
                (Some(text), sheet) => {
                    let f = Finding::parse(text).ok_or_else(|| {
                        EngagementError::Invalid(format!(
                            "--finding {text:?} is not one of {}",
                            Finding::choices()
                        ))
                    })?;
                    (f, FindingSource::Option, sheet.filter(|s| *s != f))
                }
                (None, Some(s)) => (s, FindingSource::Workpaper, None),
                (None, None) => {
                    return Err(EngagementError::NoFinding {
                        population: population.to_owned(),
                        evaluation: Box::new(evaluated),
                    });
                }
            };
            let warnings = finding_warnings(finding, evaluated.supports_reliance, &evaluated.tally);
            let row = ConclusionRow {
                evaluation: StoredEvaluation {
                    version: RECORD_VERSION,
                    tally: evaluated.tally,
                    evaluation: serde_json::to_value(&evaluated.evaluation).map_err(|e| {
                        EngagementError::Invalid(format!("the evaluation cannot be recorded: {e}"))
                    })?,
                    warnings: warnings.clone(),
                },
                finding: finding.label().to_owned(),
                finding_source: source.label().to_owned(),
                note: note.or_else(|| import.and_then(|i| i.finding_note)),
                concluded_at: now,
            };
            e.store_conclusion(population, &row)?;
            let finding_id = e.record_conclusion_finding(population, &row, &evaluated, finding)?;
            Ok(Concluded {
                evaluated,
                finding,
                source,
                replaced,
                warnings,
                concluded_at: now,
                finding_id,
            })
        })
    }

    /// Record a conclusion as an audit finding (inside the conclusion's transaction): against
    /// the population's controls and clauses (or those its kinds evidence), resting on the
    /// population's conclusion.
    fn record_conclusion_finding(
        &self,
        population: &str,
        row: &ConclusionRow,
        evaluated: &Evaluated,
        finding: Finding,
    ) -> Result<Option<String>> {
        let p = self.population(population)?;
        let requirements = conclusion_requirements(&p.definition);
        if requirements.is_empty() {
            return Ok(None);
        }
        let statement = row.note.clone().unwrap_or_else(|| {
            let t = &evaluated.tally;
            format!(
                "Sampling of population {population} ({}; N = {}): {} deviation(s) and {} not testable in {} tested; upper deviation limit {} at {} confidence; the sample {} reliance on the control.",
                p.definition.describe(),
                evaluated.population_size,
                t.deviations,
                t.not_testable,
                t.tested,
                evaluated.evaluation.upper_bound_display,
                evaluated.evaluation.confidence,
                if evaluated.supports_reliance { "supports" } else { "does not support" }
            )
        });
        let evidence = vec![super::improvement::store::population_ref(population, row)];
        let f = self.insert_finding(
            &p.audit,
            finding,
            requirements,
            statement,
            evidence,
            None,
            row.concluded_at,
        )?;
        self.link_population(&f.id, population)?;
        Ok(Some(f.id))
    }

    // ----- reading ---------------------------------------------------------------------------

    /// The coverage matrix: for each Annex A control, the sampled items evidencing it in each
    /// audit.
    pub fn coverage(&self) -> Result<super::report::Coverage> {
        let audits: Vec<String> = self.audits()?.into_iter().map(|a| a.id).collect();
        let controls: Vec<(String, String)> = evidence_model::Catalogue::iso42001()
            .controls()
            .map(|c| (c.id.clone(), c.title.clone()))
            .collect();
        Ok(super::report::coverage(
            &audits,
            &controls,
            &self.sampled_controls()?,
        ))
    }

    /// Write the canonical manifest of a frozen population to `path`, checking that what was
    /// read back has the frozen digest.
    pub fn export_manifest(&self, population: &str, path: &Path) -> Result<()> {
        let p = self.population(population)?;
        let f = frozen_of(&p.frozen, population)?;
        let members: Vec<Member> = self.manifest_members(population)?;
        let mut bytes = Vec::new();
        write_manifest(&members, &mut bytes).map_err(|source| EngagementError::Io {
            path: path.to_owned(),
            source,
        })?;
        let digest = Sha256Digest::of(&bytes);
        export::write_document(path, &bytes)?;
        if f.digest != digest.to_hex() {
            return Err(EngagementError::Invalid(format!(
                "the manifest read back from {} has digest {digest}, not the frozen {}",
                self.path().display(),
                f.digest
            )));
        }
        Ok(())
    }
}

fn frozen_of<'a>(frozen: &'a Option<FrozenRow>, population: &str) -> Result<&'a FrozenRow> {
    frozen.as_ref().ok_or_else(|| EngagementError::NotYet {
        population: population.to_owned(),
        needs: Step::Freeze,
    })
}

fn secret_error(
    message: String,
    path: &Path,
    source: impl std::error::Error + Send + Sync + 'static,
) -> EngagementError {
    EngagementError::SecretFile {
        message,
        path: path.to_owned(),
        source: Box::new(source),
    }
}

fn read_secret(path: &Path) -> Result<SeedSecret> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        secret_error(
            format!("cannot read the secret file {}", path.display()),
            path,
            e,
        )
    })?;
    SeedSecret::parse(&text)
        .map_err(|e| secret_error(format!("secret file {}", path.display()), path, e))
}

fn generate_secret() -> Result<SeedSecret> {
    let mut entropy = [0u8; 128];
    getrandom::fill(&mut entropy).map_err(|e| {
        EngagementError::Invalid(format!(
            "the operating system's random generator failed: {e}"
        ))
    })?;
    SeedSecret::from_entropy(&entropy).ok_or_else(|| {
        EngagementError::Invalid("the random generator gave too few usable bytes".into())
    })
}

/// Create the secret file (never replacing one), owner-only, and write the secret durably.
fn write_secret(path: &Path, secret: &SeedSecret) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(|e| {
        secret_error(
            format!(
                "cannot create the secret file {} (it must not exist yet)",
                path.display()
            ),
            path,
            e,
        )
    })?;
    f.write_all(format!("{}\n", secret.expose()).as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| {
            secret_error(
                format!("cannot write the secret file {}", path.display()),
                path,
                e,
            )
        })
}

/// The requirements a population's conclusion is a finding against: its controls and clauses,
/// else the primary controls of the kinds it samples.
fn conclusion_requirements(d: &Definition) -> Vec<String> {
    let mut out: Vec<String> = d.controls.iter().chain(&d.clauses).cloned().collect();
    if out.is_empty() {
        let catalogue = evidence_model::Catalogue::iso42001();
        for kind in &d.kinds {
            for c in catalogue
                .kind(kind)
                .map(|k| k.controls.clone())
                .unwrap_or_default()
            {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// A new engagement with one audit, `n` items and the population `p` of all of them.
    fn engagement(dir: &Path, n: i64) -> Engagement {
        let e = Engagement::create(&dir.join("e.sqlite")).unwrap();
        e.add_audit(
            &AuditRequest {
                id: "stage2".into(),
                audit_type: "initial".into(),
                ..AuditRequest::default()
            },
            at("2026-01-01T00:00:00Z"),
        )
        .unwrap();
        for i in 1..=n {
            e.conn
                .execute(
                    "INSERT INTO items (id, item_id, origin, sha256, kind, source_name, controls, clauses, actor_key, source_time)
                     VALUES (?1, ?2, 'example.org/ai', ?3, 'ai_policy', 'docs', 'A.2.2', '', '', NULL)",
                    rusqlite::params![i, format!("item-{i}"), vec![i as u8; 32]],
                )
                .unwrap();
            e.conn
                .execute(
                    "INSERT INTO item_details (id, bundle_seq, leaf_index, title, phase, connector, reference, collected, artefact_path, size, media_type, actors, attributes)
                     VALUES (?1, 1, ?1, 't', 'operation', 'local', 'r', '2026-01-01T00:00:00Z', 'data/items/x', 1, 'text/plain', '[]', '{}')",
                    [i],
                )
                .unwrap();
        }
        e.define(
            &DefineRequest {
                name: "p".into(),
                ..DefineRequest::default()
            },
            at("2026-01-02T00:00:00Z"),
        )
        .unwrap();
        e
    }

    fn out_of_order(r: Result<impl std::fmt::Debug>, step: Step, needs: Step) {
        match r {
            Err(EngagementError::OutOfOrder {
                population,
                step: s,
                needs: n,
            }) => {
                assert_eq!((population.as_str(), s, n), ("p", step, needs));
            }
            other => panic!("expected {step} to need {needs}, got {other:?}"),
        }
    }

    fn already_done(r: Result<impl std::fmt::Debug>, step: Step) {
        match r {
            Err(EngagementError::AlreadyDone { step: s, .. }) => assert_eq!(s, step),
            other => panic!("expected {step} to be done already, got {other:?}"),
        }
    }

    fn too_late(r: Result<impl std::fmt::Debug>, step: Step, after: Step) {
        match r {
            Err(EngagementError::TooLate {
                step: s, after: a, ..
            }) => assert_eq!((s, a), (step, after)),
            other => panic!("expected {step} to be too late after {after}, got {other:?}"),
        }
    }

    #[test]
    fn the_steps_refuse_every_out_of_order_attempt_with_a_typed_error_and_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let e = engagement(dir.path(), 5);
        let now = at("2026-02-01T00:00:00Z");
        let secret = dir.path().join("s.secret");
        let wrong = dir.path().join("wrong.secret");
        std::fs::write(&wrong, "99999999999999999999\n").unwrap();
        let short = dir.path().join("short.secret");
        std::fs::write(&short, "1234\n").unwrap();
        let plan = PlanRequest::default();

        // defined
        out_of_order(e.freeze("p", now), Step::Freeze, Step::Commit);
        out_of_order(e.plan_sample("p", &plan, now), Step::Plan, Step::Freeze);
        out_of_order(
            e.reveal_seed("p", &secret, None, now),
            Step::Reveal,
            Step::Commit,
        );
        out_of_order(e.draw_sample("p", now), Step::Draw, Step::Freeze);
        out_of_order(e.import_results("p", &wrong, now), Step::Import, Step::Draw);
        out_of_order(
            e.conclude("p", None, None, now),
            Step::Conclude,
            Step::Freeze,
        );
        // A refused secret leaves no commitment behind.
        assert!(matches!(
            e.commit_seed("p", SecretSource::File(&short), now),
            Err(EngagementError::SecretFile { .. })
        ));
        assert_eq!(e.status("p").unwrap(), Status::Defined);

        // committed
        e.commit_seed("p", SecretSource::Generate(&secret), now)
            .unwrap();
        already_done(
            e.commit_seed("p", SecretSource::File(&wrong), now),
            Step::Commit,
        );
        out_of_order(e.plan_sample("p", &plan, now), Step::Plan, Step::Freeze);
        out_of_order(
            e.reveal_seed("p", &secret, None, now),
            Step::Reveal,
            Step::Freeze,
        );
        out_of_order(e.draw_sample("p", now), Step::Draw, Step::Freeze);

        // frozen
        let f = e.freeze("p", now).unwrap();
        assert_eq!(f.frozen.size, 5);
        already_done(e.freeze("p", now), Step::Freeze);
        too_late(
            e.commit_seed("p", SecretSource::File(&wrong), now),
            Step::Commit,
            Step::Freeze,
        );
        out_of_order(
            e.reveal_seed("p", &secret, None, now),
            Step::Reveal,
            Step::Plan,
        );
        out_of_order(e.draw_sample("p", now), Step::Draw, Step::Reveal);
        out_of_order(e.conclude("p", None, None, now), Step::Conclude, Step::Draw);

        // planned (and planned again)
        e.plan_sample("p", &plan, now).unwrap();
        let planned = e.plan_sample("p", &plan, now).unwrap();
        out_of_order(e.draw_sample("p", now), Step::Draw, Step::Reveal);
        assert!(matches!(
            e.reveal_seed("p", &wrong, None, now),
            Err(EngagementError::Seed(_))
        ));
        assert_eq!(e.status("p").unwrap(), Status::Planned);

        // revealed
        e.reveal_seed("p", &secret, None, now).unwrap();
        already_done(e.reveal_seed("p", &secret, None, now), Step::Reveal);
        too_late(e.plan_sample("p", &plan, now), Step::Plan, Step::Reveal);
        out_of_order(e.import_results("p", &wrong, now), Step::Import, Step::Draw);

        // drawn
        let s = e.draw_sample("p", now).unwrap();
        assert_eq!(s.picks.len() as u64, planned.stored.sample_size);
        already_done(e.draw_sample("p", now), Step::Draw);
        assert!(matches!(
            e.conclude("p", Some("conformity"), None, now),
            Err(EngagementError::ResultsMissing { results: 0, .. })
        ));
        assert_eq!(e.status("p").unwrap(), Status::Drawn);
        assert_eq!(e.sample("p").unwrap().picks.len(), s.picks.len());
    }

    #[test]
    fn a_plan_is_stored_typed_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let e = engagement(dir.path(), 3);
        let now = at("2026-02-01T00:00:00Z");
        e.commit_seed(
            "p",
            SecretSource::Generate(&dir.path().join("s.secret")),
            now,
        )
        .unwrap();
        e.freeze("p", now).unwrap();
        let planned = e.plan_sample("p", &PlanRequest::default(), now).unwrap();
        let view = e.plan("p").unwrap().unwrap();
        assert_eq!(view.plan, planned.stored);
        assert_eq!(view.planned_at, now);
        assert_eq!(view.plan.settings.population, 3);
        assert!(view.plan.sample_size <= 3);
    }

    #[test]
    fn a_new_engagement_is_not_created_over_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.sqlite");
        std::fs::write(&path, b"").unwrap();
        assert!(matches!(
            Engagement::create(&path),
            Err(EngagementError::Exists { .. })
        ));
    }

    #[test]
    fn dates_are_midnight_utc_and_times_are_kept() {
        assert_eq!(
            parse_time("2026-01-31", "--from").unwrap().to_string(),
            "2026-01-31T00:00:00Z"
        );
        assert_eq!(
            parse_time("2026-01-31T12:30:00Z", "--from")
                .unwrap()
                .to_string(),
            "2026-01-31T12:30:00Z"
        );
        assert!(parse_time("31/01/2026", "--from").is_err());
    }
}
