//! YAML front matter (`---` … `---` at the top of Markdown files, as in Hugging Face model and
//! dataset cards): parsed into JSON attributes, actors with roles and the period covered.

use evidence_model::{Actor, Period, Timestamp};
use serde_json::{Map, Value};

/// Front matter larger than this is not parsed (it is still sealed as part of the artefact).
pub const MAX_FRONT_MATTER_BYTES: usize = 64 * 1024;

/// What the front matter says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrontMatter {
    /// Every field, as canonical-JSON-safe values (numbers that are not integers become strings).
    pub fields: Map<String, Value>,
    pub title: Option<String>,
    pub actors: Vec<Actor>,
    pub period: Option<Period>,
}

/// Keys naming people, and the role each gives them.
const ACTOR_KEYS: &[(&str, &str)] = &[
    ("author", "author"),
    ("authors", "author"),
    ("owner", "owner"),
    ("owners", "owner"),
    ("approver", "approver"),
    ("approvers", "approver"),
    ("approved_by", "approver"),
    ("reviewer", "reviewer"),
    ("reviewers", "reviewer"),
    ("reviewed_by", "reviewer"),
    ("attendees", "attendee"),
    ("chair", "chair"),
];

/// Split `text` into front matter (if any) and parse it. `Ok(None)` when there is none;
/// `Err` with a reason when a block is present but is not a YAML mapping.
pub fn parse(text: &str) -> Result<Option<FrontMatter>, String> {
    let Some(yaml) = extract(text) else {
        return Ok(None);
    };
    if yaml.len() > MAX_FRONT_MATTER_BYTES {
        return Err(format!(
            "front matter larger than {MAX_FRONT_MATTER_BYTES} bytes"
        ));
    }
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml)
        .map_err(|e| format!("front matter is not valid YAML: {e}"))?;
    let json = to_json(value);
    let Value::Object(fields) = json else {
        return Ok(None);
    };
    let mut fm = FrontMatter {
        title: fields
            .get("title")
            .and_then(Value::as_str)
            .map(str::to_owned),
        ..FrontMatter::default()
    };
    for (key, role) in ACTOR_KEYS {
        for name in strings(fields.get(*key)) {
            fm.actors.push(Actor {
                role: (*role).to_owned(),
                name,
                id: None,
            });
        }
    }
    fm.actors.sort();
    fm.actors.dedup();
    let (start, end) = match fields.get("period") {
        Some(Value::Object(p)) => (p.get("start").cloned(), p.get("end").cloned()),
        _ => (
            fields.get("period_start").cloned(),
            fields.get("period_end").cloned(),
        ),
    };
    let start = start.as_ref().and_then(Value::as_str).and_then(parse_time);
    let end = end
        .as_ref()
        .and_then(Value::as_str)
        .and_then(parse_time_end);
    if start.is_some() || end.is_some() {
        fm.period = Some(Period { start, end });
    }
    fm.fields = fields;
    Ok(Some(fm))
}

fn extract(text: &str) -> Option<&str> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))?;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" || line.trim_end() == "..." {
            return Some(&rest[..offset]);
        }
        offset += line.len();
    }
    None
}

/// The people a key names: a YAML list names one per element; a scalar names one person,
/// commas and all (`"Raman, Priya"` is one name, not two).
fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => Some(s.trim())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .into_iter()
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.trim().to_owned()),
                Value::Object(o) => o.get("name").and_then(Value::as_str).map(str::to_owned),
                _ => None,
            })
            .filter(|s| !s.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

/// An RFC 3339 instant, or a civil date taken as 00:00 UTC.
pub fn parse_time(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    let date: jiff::civil::Date = s.parse().ok()?;
    date.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

/// Like [`parse_time`], but a civil date means the end of that day (23:59:59 UTC).
fn parse_time_end(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    let date: jiff::civil::Date = s.parse().ok()?;
    date.at(23, 59, 59, 0)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

/// YAML to canonical-JSON-safe JSON: floats become their decimal text, tags are dropped,
/// non-string keys become their text.
pub fn to_json(value: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::String(n.to_string())
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        other => match to_json(other) {
                            Value::String(s) => s,
                            v => v.to_string(),
                        },
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => to_json(tagged.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hugging_face_card_header_becomes_attributes() {
        let text = "---\nlicense: apache-2.0\ndatasets:\n  - claims-2025\nmetrics:\n  - f1\naccuracy: 0.93\n---\n# Model card\n";
        let fm = parse(text).unwrap().unwrap();
        assert_eq!(fm.fields["license"], "apache-2.0");
        assert_eq!(fm.fields["datasets"][0], "claims-2025");
        assert_eq!(fm.fields["accuracy"], "0.93", "floats are kept as text");
    }

    #[test]
    fn people_keys_become_actors_with_roles() {
        let text = "---\nauthor: Ana Ortiz\napproved_by: [Ben Kim, Chloe Wu]\n---\nbody";
        let fm = parse(text).unwrap().unwrap();
        let roles: Vec<_> = fm
            .actors
            .iter()
            .map(|a| (a.role.as_str(), a.name.as_str()))
            .collect();
        assert_eq!(
            roles,
            [
                ("approver", "Ben Kim"),
                ("approver", "Chloe Wu"),
                ("author", "Ana Ortiz")
            ]
        );
    }

    #[test]
    fn a_scalar_with_a_comma_is_one_person_and_only_lists_name_several() {
        let names = |text: &str| -> Vec<String> {
            parse(text)
                .unwrap()
                .unwrap()
                .actors
                .into_iter()
                .map(|a| a.name)
                .collect()
        };
        assert_eq!(
            names("---\napproved_by: \"Raman, Priya\"\n---\n"),
            ["Raman, Priya"]
        );
        assert_eq!(names("---\nowner: Smith; Jones\n---\n"), ["Smith; Jones"]);
        assert_eq!(
            names("---\nreviewers:\n  - Raman, Priya\n  - Ben Kim\n---\n"),
            ["Ben Kim", "Raman, Priya"]
        );
    }

    #[test]
    fn a_period_is_read_from_civil_dates_covering_whole_days() {
        let fm = parse("---\nperiod_start: 2026-01-01\nperiod_end: 2026-03-31\n---\n")
            .unwrap()
            .unwrap();
        let p = fm.period.unwrap();
        assert_eq!(p.start.unwrap().to_string(), "2026-01-01T00:00:00Z");
        assert_eq!(p.end.unwrap().to_string(), "2026-03-31T23:59:59Z");
    }

    #[test]
    fn text_without_front_matter_has_none_and_broken_yaml_is_an_error() {
        assert_eq!(parse("# Title\n---\n").unwrap(), None);
        assert!(parse("---\n: : :\n  - [\n---\n").is_err());
        assert_eq!(parse("---\nno closing fence\n").unwrap(), None);
    }
}
