//! One Langfuse observation, as its public API returns it (`GET /api/public/v2/observations`,
//! also the older `/api/public/observations` field names), to an [`Event`]: which observation
//! types are model calls, the time range a pass asks for, and the prompts and responses
//! (`input`, `output`) dropped unless kept. Pure.

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::mapping::{Event, LineError, count, kind_of, text};

/// The observation types collected by default: the calls of a model.
pub const MODEL_CALL_TYPES: [&str; 2] = ["GENERATION", "EMBEDDING"];

/// The fields of an observation holding prompts and responses.
const CONTENT_FIELDS: [&str; 2] = ["input", "output"];

/// The v2 field groups a pass asks for: identity and time (`core`), name, level, user and
/// environment (`basic`), the model, token usage and the prompt template; `io` (the prompts and
/// responses themselves) only when the source keeps content.
pub fn field_groups(include_content: bool) -> &'static str {
    if include_content {
        "core,basic,model,usage,prompt,io"
    } else {
        "core,basic,model,usage,prompt"
    }
}

/// The span of start times one pass collects: from `from` (inclusive; none on a first run)
/// to `until` (exclusive), as the API's `fromStartTime` and `toStartTime` filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub from: Option<Timestamp>,
    pub until: Timestamp,
}

impl Range {
    /// Whether an observation that started at `t` belongs to this pass.
    pub fn contains(&self, t: Timestamp) -> bool {
        t < self.until && self.from.is_none_or(|f| t >= f)
    }
}

/// An observation of a pass: the event it records and the object to keep.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub event: Event,
    /// The observation, stripped of `input` and `output` unless kept, with `traceName` added
    /// when it was looked up. Users are pseudonymised by the caller, like any line.
    pub value: Value,
    /// The observation's id (for messages).
    pub id: Option<String>,
    /// Its type (`GENERATION`, `SPAN`, …).
    pub kind: Option<String>,
}

/// Reads one observation. `trace_name` is the name of its trace when known; `system`, when
/// set, is the system every observation belongs to (the trace name is then only kept).
pub fn read(
    value: Value,
    trace_name: Option<&str>,
    system: Option<&str>,
    include_content: bool,
) -> Result<Observation, LineError> {
    let Value::Object(mut o) = value else {
        return Err(LineError::NotObject(kind_of(&value)));
    };
    let event = event(&o, trace_name, system);
    if event.time.is_none() {
        return Err(LineError::NoTime);
    }
    if !include_content {
        for field in CONTENT_FIELDS {
            o.remove(field);
        }
    }
    if let Some(name) = trace_name
        && !o.contains_key("traceName")
    {
        o.insert("traceName".into(), Value::String(name.to_owned()));
    }
    Ok(Observation {
        id: text(o.get("id")),
        kind: text(o.get("type")),
        event,
        value: Value::Object(o),
    })
}

/// Whether an observation of type `kind` is collected when `types` are.
pub fn is_collected<S: AsRef<str>>(kind: Option<&str>, types: &[S]) -> bool {
    kind.is_some_and(|k| types.iter().any(|t| t.as_ref().eq_ignore_ascii_case(k)))
}

fn event(o: &Map<String, Value>, trace_name: Option<&str>, system: Option<&str>) -> Event {
    let usage = o.get("usageDetails").or_else(|| o.get("usage"));
    let tokens = |keys: [&str; 2], flat: &str| {
        keys.iter()
            .find_map(|k| count(usage.and_then(|u| u.get(*k))))
            .or_else(|| count(o.get(flat)))
    };
    let model = text(o.get("providedModelName")).or_else(|| text(o.get("model")));
    Event {
        time: o
            .get("startTime")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok()),
        system: system
            .map(str::to_owned)
            .or_else(|| trace_name.map(str::to_owned)),
        operation: text(o.get("name")).or_else(|| text(o.get("type")).map(|t| t.to_lowercase())),
        request_model: model.clone(),
        response_model: model,
        user: text(o.get("userId")),
        trace_id: text(o.get("traceId")),
        span_id: text(o.get("id")),
        error: o
            .get("level")
            .and_then(Value::as_str)
            .is_some_and(|l| l.eq_ignore_ascii_case("ERROR")),
        input_tokens: tokens(["input", "promptTokens"], "promptTokens"),
        output_tokens: tokens(["output", "completionTokens"], "completionTokens"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn generation() -> Value {
        json!({
            "id": "obs-1", "traceId": "trace-1", "type": "GENERATION", "name": "chat-completion",
            "startTime": "2026-11-30T09:00:00.250Z", "endTime": "2026-11-30T09:00:02Z",
            "level": "ERROR", "statusMessage": "rate limited upstream", "userId": "alice@example.com",
            "providedModelName": "gpt-4o-2024-08-06", "modelParameters": {"temperature": "0.2"},
            "usageDetails": {"input": 120, "output": 40, "total": 160},
            "input": [{"role": "user", "content": "my secret prompt"}], "output": "the answer",
        })
    }

    #[test]
    fn a_generation_becomes_an_event_with_its_model_usage_user_and_error() {
        let o = read(generation(), Some("claims-assistant"), None, false).unwrap();
        let e = &o.event;
        assert_eq!(e.time, Some(t("2026-11-30T09:00:00.25Z")));
        assert_eq!(e.system.as_deref(), Some("claims-assistant"));
        assert_eq!(e.operation.as_deref(), Some("chat-completion"));
        assert_eq!(e.model(), Some("gpt-4o-2024-08-06"));
        assert_eq!((e.input_tokens, e.output_tokens), (Some(120), Some(40)));
        assert_eq!(e.user.as_deref(), Some("alice@example.com"));
        assert!(e.error);
        assert_eq!(o.id.as_deref(), Some("obs-1"));
        assert_eq!(o.value["traceName"], "claims-assistant");
    }

    #[test]
    fn input_and_output_are_dropped_unless_kept() {
        let stripped = read(generation(), None, None, false).unwrap().value;
        assert!(stripped.get("input").is_none() && stripped.get("output").is_none());
        assert!(!stripped.to_string().contains("secret prompt"));
        let kept = read(generation(), None, None, true).unwrap().value;
        assert!(kept.to_string().contains("secret prompt"));
    }

    #[test]
    fn a_configured_system_wins_over_the_trace_name() {
        let o = read(generation(), Some("chat-request"), Some("claims"), false).unwrap();
        assert_eq!(o.event.system.as_deref(), Some("claims"));
        assert_eq!(o.value["traceName"], "chat-request");
    }

    #[test]
    fn the_older_field_names_are_read_too() {
        let v1 = json!({"id": "o", "type": "GENERATION", "startTime": "2026-11-30T09:00:00Z",
            "model": "claude-3", "usage": {"input": 5, "output": 7, "unit": "TOKENS"}, "level": "DEFAULT"});
        let e = read(v1, None, None, false).unwrap().event;
        assert_eq!(e.model(), Some("claude-3"));
        assert_eq!((e.input_tokens, e.output_tokens), (Some(5), Some(7)));
        assert!(!e.error);
        assert_eq!(e.operation.as_deref(), Some("generation"));
    }

    #[test]
    fn observations_without_a_start_time_or_not_objects_are_refused() {
        assert_eq!(
            read(json!({"id": "o"}), None, None, false).unwrap_err(),
            LineError::NoTime
        );
        assert_eq!(
            read(json!("x"), None, None, false).unwrap_err(),
            LineError::NotObject("string")
        );
    }

    #[test]
    fn the_range_is_half_open_and_the_types_are_matched_without_case() {
        let r = Range {
            from: Some(t("2026-11-30T00:00:00Z")),
            until: t("2026-12-01T00:00:00Z"),
        };
        assert!(r.contains(t("2026-11-30T00:00:00Z")));
        assert!(!r.contains(t("2026-12-01T00:00:00Z")));
        assert!(!r.contains(t("2026-11-29T23:59:59Z")));
        let types = vec!["GENERATION".to_owned()];
        assert!(is_collected(Some("generation"), &types));
        assert!(!is_collected(Some("SPAN"), &types));
        assert!(!is_collected(None, &types));
    }
}
