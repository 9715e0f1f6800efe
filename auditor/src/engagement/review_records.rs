//! The management reviews of an engagement (ISO/IEC 42001 9.3) and their outputs (9.3.3):
//! decisions with an owner and a due date, followed to closure by the next review's input a).

use evidence_model::Timestamp;
use jiff::civil::Date;
use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::db::Engagement;
use super::improvement::store::stored;
use super::{EngagementError, Result};
use crate::review::CitedItem;

/// A management review that was held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewRecord {
    /// e.g. `MR-2027-1`.
    pub id: String,
    pub held_on: Date,
    pub recorded_at: Timestamp,
}

/// A decision of a review (9.3.3): an improvement, a change to the AIMS, a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// `D-0001`.
    pub id: String,
    pub review: String,
    pub decision: String,
    pub owner: String,
    pub due: Date,
    pub recorded_at: Timestamp,
    pub closed_on: Option<Date>,
    pub closure_note: Option<String>,
}

impl Decision {
    /// `closed`, `overdue` or `open` on `day`.
    pub fn status(&self, day: Date) -> &'static str {
        match self.closed_on {
            Some(on) if on <= day => "closed",
            _ if self.due < day => "overdue",
            _ => "open",
        }
    }
}

fn invalid(message: String) -> EngagementError {
    EngagementError::Invalid(message)
}

impl Engagement {
    /// Record that review `id` was held on `held_on`.
    pub fn record_review(&self, id: &str, held_on: Date, now: Timestamp) -> Result<ReviewRecord> {
        let tx = self.immediate()?;
        if id.trim().is_empty() {
            return Err(invalid("a review needs an id, e.g. MR-2027-1".into()));
        }
        if self.reviews()?.iter().any(|r| r.id == id) {
            return Err(EngagementError::Exists {
                what: "management review",
                name: id.to_owned(),
            });
        }
        let r = ReviewRecord {
            id: id.to_owned(),
            held_on,
            recorded_at: now,
        };
        let ordinal = self.next_ordinal("reviews")?;
        self.conn
            .execute(
                "INSERT INTO reviews (id, ordinal, record) VALUES (?1, ?2, ?3)",
                params![r.id, ordinal, stored(&r)?],
            )
            .map_err(self.db())?;
        tx.commit().map_err(self.db())?;
        Ok(r)
    }

    /// Every review, in the order recorded.
    pub fn reviews(&self) -> Result<Vec<ReviewRecord>> {
        self.documents("SELECT record FROM reviews ORDER BY ordinal")
    }

    /// Record a decision of review `review` (which must have been recorded as held).
    pub fn decide(
        &self,
        review: &str,
        decision: &str,
        owner: &str,
        due: Date,
        now: Timestamp,
    ) -> Result<Decision> {
        let tx = self.immediate()?;
        let held = self
            .reviews()?
            .into_iter()
            .find(|r| r.id == review)
            .ok_or_else(|| EngagementError::NotFound {
                what: "management review",
                name: review.to_owned(),
                hint: format!(
                    " (record it first: `evidence-auditor review held {review} --on DATE`)"
                ),
            })?;
        if decision.trim().is_empty() || owner.trim().is_empty() {
            return Err(invalid(
                "a decision needs its text (--decision) and an owner (--owner)".into(),
            ));
        }
        if due < held.held_on {
            return Err(invalid(format!(
                "due date {due} is before the review {review} was held ({})",
                held.held_on
            )));
        }
        let ordinal = self.next_ordinal("decisions")?;
        let d = Decision {
            id: format!("D-{ordinal:04}"),
            review: review.to_owned(),
            decision: decision.trim().to_owned(),
            owner: owner.trim().to_owned(),
            due,
            recorded_at: now,
            closed_on: None,
            closure_note: None,
        };
        self.conn
            .execute(
                "INSERT INTO decisions (id, ordinal, review, record) VALUES (?1, ?2, ?3, ?4)",
                params![d.id, ordinal, d.review, stored(&d)?],
            )
            .map_err(self.db())?;
        tx.commit().map_err(self.db())?;
        Ok(d)
    }

    /// Every decision, in the order recorded.
    pub fn decisions(&self) -> Result<Vec<Decision>> {
        self.documents("SELECT record FROM decisions ORDER BY ordinal")
    }

    /// Close decision `id` on `on` with what was done.
    pub fn close_decision(
        &self,
        id: &str,
        on: Date,
        note: &str,
        now: Timestamp,
    ) -> Result<Decision> {
        let tx = self.immediate()?;
        let mut d = self
            .decisions()?
            .into_iter()
            .find(|d| d.id == id)
            .ok_or_else(|| EngagementError::NotFound {
                what: "decision",
                name: id.to_owned(),
                hint: String::new(),
            })?;
        if let Some(closed) = d.closed_on {
            return Err(invalid(format!(
                "decision {id} was closed on {closed}; nothing was recorded"
            )));
        }
        if note.trim().is_empty() {
            return Err(invalid(
                "closing a decision needs a note saying what was done (--note)".into(),
            ));
        }
        let today = super::improvement::utc_date(now);
        if on > today {
            return Err(invalid(format!("--on {on} is after today ({today})")));
        }
        d.closed_on = Some(on);
        d.closure_note = Some(note.trim().to_owned());
        self.conn
            .execute(
                "UPDATE decisions SET record = ?2 WHERE id = ?1",
                params![d.id, stored(&d)?],
            )
            .map_err(self.db())?;
        tx.commit().map_err(self.db())?;
        Ok(d)
    }

    /// The items of `kinds` with their dates (source time, else collection), oldest first.
    pub fn cited_items(&self, kinds: &[&str]) -> Result<Vec<CitedItem>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT items.item_id, items.origin, items.sha256, items.kind, d.title,
                        substr(coalesce(strftime('%Y-%m-%dT%H:%M:%SZ', items.source_time, 'unixepoch'), d.collected), 1, 10)
                   FROM items JOIN item_details d ON d.id = items.id
                  WHERE items.kind = ?1 ORDER BY 6, items.item_id",
            )
            .map_err(self.db())?;
        let mut out = Vec::new();
        for kind in kinds {
            let rows = st
                .query_map([kind], |r| {
                    Ok(CitedItem {
                        item_id: r.get(0)?,
                        origin: r.get(1)?,
                        sha256: hex::encode(r.get_ref(2)?.as_blob()?),
                        kind: r.get(3)?,
                        title: r.get(4)?,
                        date: r.get(5)?,
                    })
                })
                .map_err(self.db())?;
            for row in rows {
                out.push(row.map_err(self.db())?);
            }
        }
        out.sort_by(|a, b| (&a.date, &a.item_id).cmp(&(&b.date, &b.item_id)));
        out.dedup();
        Ok(out)
    }
}
