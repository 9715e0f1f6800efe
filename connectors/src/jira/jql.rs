//! Pure JQL helpers: the incremental query sent to Jira, watermark arithmetic, and JQL's local
//! date-time literals (`"yyyy-MM-dd HH:mm"` in the searching account's time zone).

use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// How tickets are ordered: newest change first. Offset paging then never skips a ticket when
/// tickets change during the walk (a changed ticket moves to the front, already walked, and
/// shifts the rest back, so some are seen twice rather than not at all).
pub(super) const ORDER_BY: &str = "ORDER BY updated DESC, key DESC";

/// True when `jql` has an `ORDER BY` clause outside quoted strings.
pub(super) fn has_order_by(jql: &str) -> bool {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in jql.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        if c == '"' || c == '\'' {
            quote = Some(c);
            words.push(std::mem::take(&mut word));
        } else if c.is_alphanumeric() || c == '_' {
            word.push(c.to_ascii_lowercase());
        } else {
            words.push(std::mem::take(&mut word));
        }
    }
    words.push(word);
    let words: Vec<&String> = words.iter().filter(|w| !w.is_empty()).collect();
    words.windows(2).any(|w| w[0] == "order" && w[1] == "by")
}

/// The earliest update time a run searches from: the watermark minus the overlap window.
/// `None` (no watermark yet) searches the whole history.
pub(super) fn search_from(watermark: Option<Timestamp>, overlap: Duration) -> Option<Timestamp> {
    let watermark = watermark?;
    let overlap_secs = i64::try_from(overlap.as_secs()).unwrap_or(i64::MAX);
    let secs = watermark.as_second().saturating_sub(overlap_secs);
    Some(Timestamp::from_second(secs).unwrap_or(Timestamp::MIN))
}

/// A JQL date-time literal (`yyyy-MM-dd HH:mm` in `tz`) that no reading of the literal puts
/// after `at`: the local minute is truncated, and where the local time occurs twice (clocks
/// going back) or not at all (clocks going forward), the literal steps back until every
/// interpretation Jira may choose is at or before `at`.
pub(super) fn local_literal_at_or_before(at: Timestamp, tz: &TimeZone) -> String {
    let mut candidate = at;
    for _ in 0..4 {
        let local = truncate_to_minute(tz.to_datetime(candidate));
        let ambiguous = tz.to_ambiguous_timestamp(local);
        let latest = [ambiguous.earlier(), ambiguous.later()]
            .into_iter()
            .filter_map(Result::ok)
            .max();
        match latest {
            Some(latest) if latest > at => {
                // Step back by how far the latest reading overshoots, at least a minute.
                let overshoot = latest.as_second() - at.as_second();
                let back = overshoot.max(60);
                candidate = Timestamp::from_second(candidate.as_second().saturating_sub(back))
                    .unwrap_or(Timestamp::MIN);
            }
            _ => return format_literal(local),
        }
    }
    // Offsets shift by at most a day; four steps always settle. Fall back a whole day anyway.
    let day_before =
        Timestamp::from_second(at.as_second().saturating_sub(86_400)).unwrap_or(Timestamp::MIN);
    format_literal(truncate_to_minute(tz.to_datetime(day_before)))
}

fn truncate_to_minute(dt: DateTime) -> DateTime {
    dt.with()
        .second(0)
        .subsec_nanosecond(0)
        .build()
        .unwrap_or(dt)
}

fn format_literal(dt: DateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute()
    )
}

/// The JQL sent for a query: the configured JQL, bounded below by `updated >= literal` when
/// there is a lower bound, ordered newest change first.
pub(super) fn incremental_jql(jql: &str, updated_from: Option<&str>) -> String {
    match updated_from {
        Some(from) => format!("({jql}) AND updated >= \"{from}\" {ORDER_BY}"),
        None => format!("{jql} {ORDER_BY}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").unwrap()
    }

    #[test]
    fn order_by_is_found_outside_quotes_only() {
        assert!(has_order_by("project = A order  by created"));
        assert!(has_order_by("project = A ORDER BY key"));
        assert!(!has_order_by("summary ~ \"order by\" AND project = A"));
        assert!(!has_order_by("labels = reorder AND project = bypass"));
        assert!(!has_order_by("summary ~ 'say \\' order by'"));
    }

    #[test]
    fn the_search_starts_the_overlap_before_the_watermark() {
        let from = search_from(Some(ts("2026-03-01T10:00:00Z")), Duration::from_secs(900));
        assert_eq!(from, Some(ts("2026-03-01T09:45:00Z")));
        assert_eq!(search_from(None, Duration::from_secs(900)), None);
    }

    #[test]
    fn a_utc_literal_truncates_to_the_minute() {
        assert_eq!(
            local_literal_at_or_before(ts("2026-03-01T09:45:59Z"), &TimeZone::UTC),
            "2026-03-01 09:45"
        );
    }

    #[test]
    fn berlin_literals_use_winter_and_summer_offsets() {
        assert_eq!(
            local_literal_at_or_before(ts("2026-01-15T09:30:00Z"), &berlin()),
            "2026-01-15 10:30"
        );
        assert_eq!(
            local_literal_at_or_before(ts("2026-07-15T09:30:00Z"), &berlin()),
            "2026-07-15 11:30"
        );
    }

    #[test]
    fn a_literal_just_before_clocks_go_forward_keeps_winter_time() {
        // On 2026-03-29 clocks jump at 01:00 UTC from 02:00 CET to 03:00 CEST.
        assert_eq!(
            local_literal_at_or_before(ts("2026-03-29T00:59:30Z"), &berlin()),
            "2026-03-29 01:59"
        );
        assert_eq!(
            local_literal_at_or_before(ts("2026-03-29T01:00:00Z"), &berlin()),
            "2026-03-29 03:00"
        );
    }

    #[test]
    fn a_literal_in_the_repeated_hour_steps_back_before_it() {
        // Clocks go back at 01:00 UTC on 2026-10-25: 02:00–02:59 local happens twice.
        // 00:30 UTC is the first 02:30 (CEST); "02:30" could also mean 01:30 UTC (CET), which
        // is after it, so the literal steps back out of the repeated hour.
        let first = ts("2026-10-25T00:30:00Z");
        let literal = local_literal_at_or_before(first, &berlin());
        assert_eq!(literal, "2026-10-25 01:30");
        // The second 02:30 (CET) is unambiguous as a bound: both readings are at or before it.
        let second = ts("2026-10-25T01:30:00Z");
        assert_eq!(
            local_literal_at_or_before(second, &berlin()),
            "2026-10-25 02:30"
        );
    }

    #[test]
    fn every_reading_of_a_literal_is_at_or_before_the_instant_across_a_whole_dst_day() {
        let tz = berlin();
        let mut t = ts("2026-10-24T22:00:00Z");
        while t < ts("2026-10-25T04:00:00Z") {
            let literal = local_literal_at_or_before(t, &tz);
            let dt: DateTime = literal.replace(' ', "T").parse().unwrap();
            let amb = tz.to_ambiguous_timestamp(dt);
            let latest = amb.earlier().unwrap().max(amb.later().unwrap());
            assert!(latest <= t, "{t} -> {literal}");
            assert!(
                t.as_second() - latest.as_second() <= 2 * 3600 + 60,
                "{t} -> {literal}"
            );
            t = Timestamp::from_second(t.as_second() + 7 * 60 + 13).unwrap();
        }
    }

    #[test]
    fn the_incremental_query_brackets_the_configured_jql() {
        assert_eq!(
            incremental_jql("project = A OR project = B", Some("2026-01-15 10:30")),
            "(project = A OR project = B) AND updated >= \"2026-01-15 10:30\" ORDER BY updated DESC, key DESC"
        );
        assert_eq!(
            incremental_jql("project = A", None),
            "project = A ORDER BY updated DESC, key DESC"
        );
    }
}
