//! Calendar days in UTC, as the internal-audit records count them: the day of an instant, and
//! the last second of a day (a report "as of" a day includes all of it).

use evidence_model::Timestamp;
use jiff::civil::Date;

/// The UTC calendar day of an instant.
pub fn utc_date(t: Timestamp) -> Date {
    t.to_zoned(jiff::tz::TimeZone::UTC).date()
}

/// The last second of `day` in UTC.
pub fn end_of_day(day: Date) -> Timestamp {
    day.tomorrow()
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map_or(Timestamp::MAX, |z| {
            z.timestamp() - jiff::SignedDuration::from_secs(1)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_ends_at_its_last_second() {
        let d: Date = "2027-02-28".parse().unwrap();
        assert_eq!(end_of_day(d).to_string(), "2027-02-28T23:59:59Z");
        assert_eq!(utc_date(end_of_day(d)), d);
    }
}
