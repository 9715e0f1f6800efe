//! From one JSON line of an AI system's run-time log to an [`Event`]: the two common shapes are
//! OpenTelemetry's GenAI semantic conventions (OTLP spans with attribute lists, attribute maps,
//! or flat dotted keys) and LiteLLM's standard logging payload. Also strips prompts and
//! responses and pseudonymises users in the line itself before it is kept. Pure.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Which field names a log uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// Decide per line from the fields present.
    #[default]
    Auto,
    /// OpenTelemetry GenAI semantic conventions (`shape = "otel-genai"`).
    #[serde(rename = "otel-genai", alias = "opentelemetry")]
    Opentelemetry,
    /// LiteLLM's standard logging payload.
    Litellm,
}

impl Shape {
    /// The name a config gives it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Shape::Auto => "auto",
            Shape::Opentelemetry => "otel-genai",
            Shape::Litellm => "litellm",
        }
    }
}

/// What one log line says happened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// When the call started.
    pub time: Option<Timestamp>,
    /// The AI system (OpenTelemetry `service.name`), when the line says.
    pub system: Option<String>,
    /// `chat`, `embeddings`, `completion`, …
    pub operation: Option<String>,
    /// The model asked for.
    pub request_model: Option<String>,
    /// The model (and version) that answered.
    pub response_model: Option<String>,
    /// The end user or API key owner, before pseudonymisation.
    pub user: Option<String>,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    /// The call failed.
    pub error: bool,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}

impl Event {
    /// The model seen, as the summary lists it: the answering model, else the requested one.
    pub fn model(&self) -> Option<&str> {
        self.response_model
            .as_deref()
            .or(self.request_model.as_deref())
    }
}

/// Why a line is not an event.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LineError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("a JSON {0}, not an object")]
    NotObject(&'static str),
    #[error("no timestamp field (startTimeUnixNano, timeUnixNano, timestamp, time, startTime)")]
    NoTime,
}

/// Attribute keys whose values are prompts or responses (dropped unless a source keeps them).
const OTEL_CONTENT: [&str; 6] = [
    "gen_ai.prompt",
    "gen_ai.completion",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments",
];
/// LiteLLM fields holding prompts or responses.
const LITELLM_CONTENT: [&str; 3] = ["messages", "response", "system_instructions"];
/// Keys naming a user, in any shape (`userId` is Langfuse's).
const USER_KEYS: [&str; 7] = [
    "enduser.id",
    "user.id",
    "end_user",
    "user_api_key_user_id",
    "user_api_key_user_email",
    "user",
    "userId",
];

/// Parses one line.
pub fn parse_line(line: &[u8], shape: Shape) -> Result<(Event, Value), LineError> {
    let value: Value =
        serde_json::from_slice(line).map_err(|e| LineError::NotJson(e.to_string()))?;
    let Value::Object(object) = &value else {
        return Err(LineError::NotObject(kind_of(&value)));
    };
    let shape = match shape {
        Shape::Auto => detect(object),
        s => s,
    };
    let event = match shape {
        Shape::Litellm => litellm(object),
        _ => opentelemetry(object),
    };
    if event.time.is_none() {
        return Err(LineError::NoTime);
    }
    Ok((event, value))
}

pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn detect(o: &Map<String, Value>) -> Shape {
    let litellm = [
        "call_type",
        "model_id",
        "model_group",
        "startTime",
        "end_user",
    ];
    if litellm.iter().any(|k| o.contains_key(*k)) && !o.contains_key("startTimeUnixNano") {
        Shape::Litellm
    } else {
        Shape::Opentelemetry
    }
}

/// The attributes of an OpenTelemetry line, flattened to `key → value`: OTLP lists
/// (`[{"key", "value": {"stringValue": …}}]`), maps, and dotted keys at the top level.
fn otel_attributes(o: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in o {
        if k.contains('.') {
            out.insert(k.clone(), v.clone());
        }
    }
    for container in [
        o.get("resource").and_then(|r| r.get("attributes")),
        o.get("attributes"),
    ] {
        match container {
            Some(Value::Object(map)) => {
                out.extend(map.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            Some(Value::Array(list)) => {
                for entry in list {
                    if let (Some(k), Some(v)) =
                        (entry.get("key").and_then(Value::as_str), entry.get("value"))
                    {
                        out.insert(k.to_owned(), otlp_any_value(v));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// An OTLP `AnyValue` (`{"stringValue": "x"}`, `{"intValue": "12"}`) as plain JSON.
fn otlp_any_value(v: &Value) -> Value {
    let Value::Object(m) = v else {
        return v.clone();
    };
    for key in ["stringValue", "boolValue", "doubleValue"] {
        if let Some(x) = m.get(key) {
            return x.clone();
        }
    }
    if let Some(x) = m.get("intValue") {
        return match x {
            Value::String(s) => s.parse::<i64>().map_or_else(|_| x.clone(), Value::from),
            other => other.clone(),
        };
    }
    v.clone()
}

pub(crate) fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(crate) fn count(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A time in any of the encodings logs use: RFC 3339 text, Unix nanoseconds (number or text),
/// or Unix seconds with a fraction.
fn time(v: Option<&Value>, unit_nanos: bool) -> Option<Timestamp> {
    match v? {
        Value::String(s) => s.parse::<Timestamp>().ok().or_else(|| {
            s.parse::<i128>()
                .ok()
                .and_then(|n| from_number(n as f64, n, unit_nanos))
        }),
        Value::Number(n) => {
            let f = n.as_f64()?;
            from_number(f, n.as_i64().map_or(f as i128, i128::from), unit_nanos)
        }
        _ => None,
    }
}

fn from_number(seconds_or_nanos: f64, exact: i128, unit_nanos: bool) -> Option<Timestamp> {
    if unit_nanos || exact > 100_000_000_000_000 {
        Timestamp::from_nanosecond(exact).ok()
    } else {
        // Seconds with a fraction: an f64 near today's epoch resolves about half a microsecond,
        // so the fraction is rounded to microseconds (1764493925.25 is .25, not .249999872).
        let seconds = seconds_or_nanos.trunc();
        let micros = ((seconds_or_nanos - seconds) * 1e6).round() as i128;
        Timestamp::from_nanosecond(seconds as i128 * 1_000_000_000 + micros * 1_000).ok()
    }
}

fn opentelemetry(o: &Map<String, Value>) -> Event {
    let a = otel_attributes(o);
    let status_error = match o.get("status").and_then(|s| s.get("code")) {
        Some(Value::Number(n)) => n.as_u64() == Some(2),
        Some(Value::String(s)) => {
            s.eq_ignore_ascii_case("STATUS_CODE_ERROR") || s.eq_ignore_ascii_case("error")
        }
        _ => false,
    };
    Event {
        time: time(o.get("startTimeUnixNano"), true)
            .or_else(|| time(o.get("timeUnixNano"), true))
            .or_else(|| time(o.get("timestamp"), false))
            .or_else(|| time(o.get("time"), false)),
        system: text(a.get("service.name")),
        operation: text(a.get("gen_ai.operation.name")).or_else(|| text(o.get("name"))),
        request_model: text(a.get("gen_ai.request.model")),
        response_model: text(a.get("gen_ai.response.model")),
        user: USER_KEYS.iter().find_map(|k| text(a.get(*k))),
        trace_id: text(o.get("traceId"))
            .or_else(|| text(o.get("trace_id")))
            .or_else(|| text(a.get("trace_id"))),
        span_id: text(o.get("spanId")).or_else(|| text(o.get("span_id"))),
        error: status_error || a.contains_key("error.type"),
        input_tokens: count(a.get("gen_ai.usage.input_tokens"))
            .or_else(|| count(a.get("gen_ai.usage.prompt_tokens"))),
        output_tokens: count(a.get("gen_ai.usage.output_tokens"))
            .or_else(|| count(a.get("gen_ai.usage.completion_tokens"))),
    }
}

fn litellm(o: &Map<String, Value>) -> Event {
    let metadata = o.get("metadata");
    let meta = |k: &str| text(metadata.and_then(|m| m.get(k)));
    Event {
        time: time(o.get("startTime"), false).or_else(|| time(o.get("timestamp"), false)),
        system: meta("user_api_key_team_alias").or_else(|| text(o.get("model_group"))),
        operation: text(o.get("call_type")),
        request_model: text(o.get("model_group")).or_else(|| text(o.get("model"))),
        response_model: text(o.get("model")).map(|m| match text(o.get("model_id")) {
            Some(id) if id != m => format!("{m} ({id})"),
            _ => m,
        }),
        user: text(o.get("end_user"))
            .or_else(|| meta("user_api_key_user_id"))
            .or_else(|| meta("user_api_key_hash")),
        trace_id: text(o.get("trace_id")),
        span_id: text(o.get("id")),
        error: o
            .get("status")
            .and_then(Value::as_str)
            .is_some_and(|s| s != "success")
            || o.get("error_str").is_some_and(|e| !e.is_null()),
        input_tokens: count(o.get("prompt_tokens")),
        output_tokens: count(o.get("completion_tokens")),
    }
}

/// Removes prompts and responses from a line, in place; returns how many fields were removed.
pub fn strip_content(value: &mut Value) -> usize {
    let mut removed = 0;
    let Value::Object(o) = value else {
        return 0;
    };
    for k in LITELLM_CONTENT.iter().chain(OTEL_CONTENT.iter()) {
        removed += usize::from(o.remove(*k).is_some());
    }
    if let Some(Value::Object(attrs)) = o.get_mut("attributes") {
        for k in OTEL_CONTENT {
            removed += usize::from(attrs.remove(k).is_some());
        }
    }
    if let Some(Value::Array(attrs)) = o.get_mut("attributes") {
        let before = attrs.len();
        attrs.retain(|e| {
            !e.get("key")
                .and_then(Value::as_str)
                .is_some_and(|k| OTEL_CONTENT.contains(&k))
        });
        removed += before - attrs.len();
    }
    // OpenTelemetry span events carrying content (gen_ai.content.prompt / completion).
    if let Some(Value::Array(events)) = o.get_mut("events") {
        let before = events.len();
        events.retain(|e| {
            !e.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.starts_with("gen_ai.content."))
        });
        removed += before - events.len();
    }
    removed
}

/// Replaces every user identity in a line with `pseudonym(identity)`, in place, wherever the
/// shapes put it (top level, metadata, attribute maps and lists).
pub fn pseudonymise(value: &mut Value, pseudonym: &dyn Fn(&str) -> String) {
    fn walk(v: &mut Value, pseudonym: &dyn Fn(&str) -> String) {
        match v {
            Value::Object(o) => {
                let is_otlp_user = o
                    .get("key")
                    .and_then(Value::as_str)
                    .is_some_and(|k| USER_KEYS.contains(&k));
                for (k, child) in o.iter_mut() {
                    if USER_KEYS.contains(&k.as_str())
                        && let Value::String(s) = child
                    {
                        *s = pseudonym(s);
                        continue;
                    }
                    if is_otlp_user
                        && k == "value"
                        && let Some(Value::String(s)) = child.get_mut("stringValue")
                    {
                        *s = pseudonym(s);
                        continue;
                    }
                    walk(child, pseudonym);
                }
            }
            Value::Array(list) => list.iter_mut().for_each(|c| walk(c, pseudonym)),
            _ => {}
        }
    }
    walk(value, pseudonym);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Event {
        parse_line(line.as_bytes(), Shape::Auto)
            .expect("an event")
            .0
    }

    #[test]
    fn an_otlp_span_with_an_attribute_list_is_read() {
        let e = parse(
            r#"{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"chat gpt-4o",
            "startTimeUnixNano":"1764493925000000000","endTimeUnixNano":"1764493926000000000",
            "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},
              {"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},
              {"key":"gen_ai.response.model","value":{"stringValue":"gpt-4o-2024-08-06"}},
              {"key":"gen_ai.usage.input_tokens","value":{"intValue":"97"}},
              {"key":"gen_ai.usage.output_tokens","value":{"intValue":52}},
              {"key":"enduser.id","value":{"stringValue":"alice@example.com"}}],
            "resource":{"attributes":{"service.name":"support-bot"}},"status":{"code":2}}"#,
        );
        assert_eq!(e.time, Some("2025-11-30T09:12:05Z".parse().unwrap()));
        assert_eq!(e.system.as_deref(), Some("support-bot"));
        assert_eq!(e.operation.as_deref(), Some("chat"));
        assert_eq!(e.model(), Some("gpt-4o-2024-08-06"));
        assert_eq!((e.input_tokens, e.output_tokens), (Some(97), Some(52)));
        assert_eq!(e.user.as_deref(), Some("alice@example.com"));
        assert!(e.error);
        assert_eq!(
            e.trace_id.as_deref(),
            Some("5b8efff798038103d269b633813fc60c")
        );
    }

    #[test]
    fn flat_dotted_keys_and_rfc3339_times_are_read() {
        let e = parse(
            r#"{"timestamp":"2026-11-30T10:00:00.5Z","gen_ai.operation.name":"embeddings","gen_ai.request.model":"text-embedding-3-small","trace_id":"abc"}"#,
        );
        assert_eq!(e.time, Some("2026-11-30T10:00:00.5Z".parse().unwrap()));
        assert_eq!(e.operation.as_deref(), Some("embeddings"));
        assert_eq!(e.model(), Some("text-embedding-3-small"));
        assert!(!e.error);
    }

    #[test]
    fn a_litellm_standard_logging_payload_is_read() {
        let e = parse(
            r#"{"id":"chatcmpl-1","trace_id":"t-1","call_type":"acompletion","status":"failure","model":"gpt-4o","model_id":"deploy-eu-1",
            "model_group":"gpt-4o","startTime":1764493925.25,"endTime":1764493926.0,"prompt_tokens":10,"completion_tokens":0,
            "end_user":"cust-42","metadata":{"user_api_key_hash":"88dc28","user_api_key_team_alias":"claims-assistant"},
            "messages":[{"role":"user","content":"hello"}],"response":{"choices":[]},"error_str":"RateLimitError"}"#,
        );
        assert_eq!(e.time, Some("2025-11-30T09:12:05.25Z".parse().unwrap()));
        assert_eq!(e.system.as_deref(), Some("claims-assistant"));
        assert_eq!(e.response_model.as_deref(), Some("gpt-4o (deploy-eu-1)"));
        assert_eq!(e.user.as_deref(), Some("cust-42"));
        assert!(e.error);
    }

    #[test]
    fn lines_that_are_not_events_say_why() {
        assert!(matches!(
            parse_line(b"{not json", Shape::Auto),
            Err(LineError::NotJson(_))
        ));
        assert_eq!(
            parse_line(b"[1]", Shape::Auto).unwrap_err(),
            LineError::NotObject("array")
        );
        assert_eq!(
            parse_line(br#"{"model":"x","call_type":"c"}"#, Shape::Auto).unwrap_err(),
            LineError::NoTime
        );
    }

    #[test]
    fn prompts_and_responses_are_stripped_in_both_shapes() {
        let mut lite: Value =
            serde_json::from_str(r#"{"messages":[1],"response":{},"model":"m"}"#).unwrap();
        assert_eq!(strip_content(&mut lite), 2);
        assert_eq!(lite, serde_json::json!({"model": "m"}));
        let mut otel: Value = serde_json::from_str(
            r#"{"attributes":[{"key":"gen_ai.input.messages","value":{"stringValue":"secret prompt"}},{"key":"gen_ai.request.model","value":{"stringValue":"m"}}],
               "events":[{"name":"gen_ai.content.completion"},{"name":"exception"}]}"#,
        )
        .unwrap();
        assert_eq!(strip_content(&mut otel), 2);
        assert!(!otel.to_string().contains("secret prompt"));
        assert!(otel.to_string().contains("exception"));
    }

    #[test]
    fn users_are_pseudonymised_wherever_they_appear() {
        let mut v: Value = serde_json::from_str(
            r#"{"end_user":"cust-42","metadata":{"user_api_key_user_id":"u-7"},
               "attributes":[{"key":"enduser.id","value":{"stringValue":"alice"}}],"model":"m"}"#,
        )
        .unwrap();
        pseudonymise(&mut v, &|s| format!("p({s})"));
        let text = v.to_string();
        assert!(
            text.contains("p(cust-42)") && text.contains("p(u-7)") && text.contains("p(alice)"),
            "{text}"
        );
        assert!(text.contains("\"model\":\"m\""));
    }
}
