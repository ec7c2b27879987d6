//! The JSON log (`log_format = "json"`): one object per line on standard
//! output, for a log shipper. Each has `time` (RFC 3339, UTC), `level`,
//! `target` and `message`, plus the record's key-values: the line that ends
//! a request (src/request_id.rs) has `request_id`, `method`, `uri`, `route`,
//! `status` and `duration_ms`, and an error logged while answering a request
//! has its `request_id`.
//!
//! Rocket's own lines about each request (which route matched, the outcome)
//! carry no request id; in this format they are left out, as the request's
//! own line says the same. Rocket's other lines (launch, warnings, errors)
//! stay.

use std::io::Write;

use log::kv::{Key, Value, VisitSource};
use log::{Level, LevelFilter, Log, Metadata, Record};
use serde_json::{Map, Number};

struct JsonLogger;

/// Makes the JSON logger the process's logger, at `level` (Rocket's
/// `log_level`); Rocket then keeps it rather than installing its own.
pub fn init_json(level: LevelFilter) -> Result<(), log::SetLoggerError> {
    log::set_boxed_logger(Box::new(JsonLogger))?;
    log::set_max_level(level);
    Ok(())
}

/// Whether a record is one of Rocket's lines about a single request.
fn is_rocket_request_chatter(record: &Record<'_>) -> bool {
    let target = record.target();
    record.level() >= Level::Info
        && target.starts_with("rocket::")
        && !target.starts_with("rocket::launch")
}

/// One record as a JSON object.
pub fn to_json(record: &Record<'_>, time: &str) -> String {
    let mut object = Map::new();
    object.insert("time".into(), time.into());
    object.insert("level".into(), record.level().as_str().into());
    object.insert("target".into(), record.target().into());
    object.insert(
        "message".into(),
        strip_ansi(&record.args().to_string()).into(),
    );
    let mut fields = Fields(&mut object);
    let _ = record.key_values().visit(&mut fields);
    serde_json::Value::Object(object).to_string()
}

struct Fields<'a>(&'a mut Map<String, serde_json::Value>);

impl<'kvs> VisitSource<'kvs> for Fields<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), log::kv::Error> {
        let json = if let Some(n) = value.to_u64() {
            n.into()
        } else if let Some(n) = value.to_i64() {
            n.into()
        } else if let Some(n) = value.to_f64().and_then(Number::from_f64) {
            serde_json::Value::Number(n)
        } else if let Some(b) = value.to_bool() {
            b.into()
        } else {
            value.to_string().into()
        };
        self.0.insert(key.as_str().to_string(), json);
        Ok(())
    }
}

/// `text` without terminal colour codes (`ESC [ ... m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Log for JsonLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) || is_rocket_request_chatter(record) {
            return;
        }
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let line = to_json(record, &time);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
    }

    fn flush(&self) {
        let _ = std::io::stdout().flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_one_json_object_with_its_key_values() {
        let id = "abc";
        let kvs: &[(&str, Value<'_>)] = &[
            ("request_id", Value::from(id)),
            ("status", Value::from(404u16)),
            ("duration_ms", Value::from(1.5f64)),
        ];
        let record = Record::builder()
            .level(Level::Info)
            .target("bookshelf::request")
            .args(format_args!("request abc \u{1b}[31mGET\u{1b}[0m /books/7"))
            .key_values(&kvs)
            .build();
        let line = to_json(&record, "2026-11-27T20:00:00.000000Z");
        assert!(!line.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["message"], "request abc GET /books/7");
        assert_eq!(value["level"], "INFO");
        assert_eq!(value["request_id"], "abc");
        assert_eq!(value["status"], 404);
        assert_eq!(value["duration_ms"], 1.5);
        assert_eq!(value["time"], "2026-11-27T20:00:00.000000Z");
    }
}
