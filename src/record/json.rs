//! States as JSON, driven by their [`Layout`]: the JSON schema of a
//! buffer's channel, a state's encoding, and the small parser replay uses
//! to turn a recorded message back into the state's bytes.
//!
//! Numbers are written so that they parse back to the same bits: floats
//! with Rust's shortest round-trip form, integers exactly; NaN and the
//! infinities (which JSON lacks) as the strings `"NaN"`, `"Infinity"` and
//! `"-Infinity"` (a NaN's payload bits are not kept).

use crate::layout::{ElementType, Field, Layout};
use std::fmt::Write as _;

/// The JSON schema of a buffer's channel: the publish's metadata and the
/// state, field by field.
pub(crate) fn channel_schema(title: &str, layout: &Layout) -> String {
    let mut props = String::new();
    for (i, f) in layout.fields().iter().enumerate() {
        if i > 0 {
            props.push(',');
        }
        let item = element_schema(f.element);
        if f.count == 1 {
            let _ = write!(props, "{}:{item}", quote(&f.name));
        } else {
            let _ = write!(
                props,
                "{}:{{\"type\":\"array\",\"items\":{item},\"minItems\":{n},\"maxItems\":{n}}}",
                quote(&f.name),
                n = f.count
            );
        }
    }
    format!(
        concat!(
            "{{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",",
            "\"title\":{title},\"type\":\"object\",",
            "\"properties\":{{",
            "\"version\":{{\"type\":\"integer\",\"description\":\"the buffer's version of this publish\"}},",
            "\"seq\":{{\"type\":\"integer\",\"description\":\"sequence number, never reused\"}},",
            "\"source\":{{\"type\":\"string\",\"description\":\"the publisher's name\"}},",
            "\"timestamp\":{{\"type\":\"number\",\"description\":\"the state's time, wall-clock seconds\"}},",
            "\"publish_time\":{{\"type\":\"number\",\"description\":\"publish time, wall-clock seconds\"}},",
            "\"state\":{{\"type\":\"object\",\"properties\":{{{props}}}}}",
            "}}}}"
        ),
        title = quote(title),
        props = props
    )
}

fn element_schema(e: ElementType) -> &'static str {
    match e {
        ElementType::F64 | ElementType::F32 => "{\"type\":[\"number\",\"string\"]}",
        ElementType::Bool => "{\"type\":\"boolean\"}",
        _ => "{\"type\":\"integer\"}",
    }
}

/// `s` as a JSON string literal.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn push_f64(out: &mut String, v: f64) {
    if v.is_finite() {
        let _ = write!(out, "{v:?}");
    } else if v.is_nan() {
        out.push_str("\"NaN\"");
    } else if v > 0.0 {
        out.push_str("\"Infinity\"");
    } else {
        out.push_str("\"-Infinity\"");
    }
}

fn push_f32(out: &mut String, v: f32) {
    if v.is_finite() {
        let _ = write!(out, "{v:?}");
    } else {
        push_f64(out, v as f64);
    }
}

fn array<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[..N]);
    a
}

fn push_element(out: &mut String, e: ElementType, b: &[u8]) {
    match e {
        ElementType::F64 => push_f64(out, f64::from_ne_bytes(array(b))),
        ElementType::F32 => push_f32(out, f32::from_ne_bytes(array(b))),
        ElementType::I64 => {
            let _ = write!(out, "{}", i64::from_ne_bytes(array(b)));
        }
        ElementType::U64 => {
            let _ = write!(out, "{}", u64::from_ne_bytes(array(b)));
        }
        ElementType::I32 => {
            let _ = write!(out, "{}", i32::from_ne_bytes(array(b)));
        }
        ElementType::U32 => {
            let _ = write!(out, "{}", u32::from_ne_bytes(array(b)));
        }
        ElementType::U8 => {
            let _ = write!(out, "{}", b[0]);
        }
        ElementType::Bool => out.push_str(if b[0] != 0 { "true" } else { "false" }),
    }
}

/// The state's fields as a JSON object (`bytes` has the layout's size).
pub(crate) fn push_state(out: &mut String, layout: &Layout, bytes: &[u8]) {
    out.push('{');
    for (i, f) in layout.fields().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&quote(&f.name));
        out.push(':');
        let size = f.element.size();
        if f.count == 1 {
            push_element(out, f.element, &bytes[f.offset..]);
        } else {
            out.push('[');
            for k in 0..f.count {
                if k > 0 {
                    out.push(',');
                }
                push_element(out, f.element, &bytes[f.offset + k * size..]);
            }
            out.push(']');
        }
    }
    out.push('}');
}

/// A parsed JSON value; numbers keep their text so that they convert to
/// the field's type exactly.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Number(String),
    Str(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

impl Value {
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(items) => items.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(crate) fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.parse().ok(),
            _ => None,
        }
    }

    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => n.parse().ok(),
            Value::Str(s) => match s.as_str() {
                "NaN" => Some(f64::NAN),
                "Infinity" => Some(f64::INFINITY),
                "-Infinity" => Some(f64::NEG_INFINITY),
                _ => None,
            },
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Parses one JSON document (nesting at most 64 deep).
pub(crate) fn parse(text: &[u8]) -> Result<Value, String> {
    let mut p = Parser { s: text, i: 0 };
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("trailing bytes at offset {}", p.i));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at offset {}", self.i))
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.s[self.i..].starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > 64 {
            return self.err("nesting too deep");
        }
        self.ws();
        let Some(&c) = self.s.get(self.i) else {
            return self.err("unexpected end");
        };
        match c {
            b'{' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat(b"}") {
                    return Ok(Value::Object(items));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    self.ws();
                    if !self.eat(b":") {
                        return self.err("expected ':'");
                    }
                    let v = self.value(depth + 1)?;
                    items.push((key, v));
                    self.ws();
                    if self.eat(b",") {
                        continue;
                    }
                    if self.eat(b"}") {
                        return Ok(Value::Object(items));
                    }
                    return self.err("expected ',' or '}'");
                }
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat(b"]") {
                    return Ok(Value::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    if self.eat(b",") {
                        continue;
                    }
                    if self.eat(b"]") {
                        return Ok(Value::Array(items));
                    }
                    return self.err("expected ',' or ']'");
                }
            }
            b'"' => Ok(Value::Str(self.string()?)),
            b't' if self.eat(b"true") => Ok(Value::Bool(true)),
            b'f' if self.eat(b"false") => Ok(Value::Bool(false)),
            b'n' if self.eat(b"null") => Ok(Value::Null),
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                let text =
                    std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
                Ok(Value::Number(text.to_owned()))
            }
            _ => self.err("unexpected character"),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        if !self.eat(b"\"") {
            return self.err("expected a string");
        }
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return self.err("unterminated string");
            };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return self.err("unterminated escape");
                    };
                    self.i += 1;
                    match e {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let hex = self
                                .s
                                .get(self.i..self.i + 4)
                                .and_then(|h| std::str::from_utf8(h).ok())
                                .and_then(|h| u32::from_str_radix(h, 16).ok());
                            let Some(code) = hex else {
                                return self.err("bad \\u escape");
                            };
                            self.i += 4;
                            let ch = char::from_u32(code).unwrap_or('\u{fffd}');
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return self.err("bad escape"),
                    }
                }
                c => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|e| e.to_string())
    }
}

fn put_element(f: &Field, v: &Value, out: &mut [u8]) -> Result<(), String> {
    let bad = || format!("field {:?}: {v:?} is not a {}", f.name, f.element);
    let num = || match v {
        Value::Number(n) => Ok(n.as_str()),
        _ => Err(bad()),
    };
    match f.element {
        ElementType::F64 => {
            let x = v.as_f64().ok_or_else(bad)?;
            out.copy_from_slice(&x.to_ne_bytes());
        }
        ElementType::F32 => {
            let x: f32 = match v {
                Value::Number(n) => n.parse().map_err(|_| bad())?,
                _ => v.as_f64().ok_or_else(bad)? as f32,
            };
            out.copy_from_slice(&x.to_ne_bytes());
        }
        ElementType::I64 => {
            out.copy_from_slice(&num()?.parse::<i64>().map_err(|_| bad())?.to_ne_bytes())
        }
        ElementType::U64 => {
            out.copy_from_slice(&num()?.parse::<u64>().map_err(|_| bad())?.to_ne_bytes())
        }
        ElementType::I32 => {
            out.copy_from_slice(&num()?.parse::<i32>().map_err(|_| bad())?.to_ne_bytes())
        }
        ElementType::U32 => {
            out.copy_from_slice(&num()?.parse::<u32>().map_err(|_| bad())?.to_ne_bytes())
        }
        ElementType::U8 => out[0] = num()?.parse::<u8>().map_err(|_| bad())?,
        ElementType::Bool => match v {
            Value::Bool(b) => out[0] = u8::from(*b),
            _ => return Err(bad()),
        },
    }
    Ok(())
}

/// The state's bytes from its JSON object (every field of the layout, of
/// the field's type and length; other keys are refused).
pub(crate) fn state_bytes(layout: &Layout, state: &Value) -> Result<Vec<u8>, String> {
    let Value::Object(items) = state else {
        return Err("the state is not a JSON object".into());
    };
    if let Some((k, _)) = items.iter().find(|(k, _)| layout.field(k).is_none()) {
        return Err(format!("field {k:?} is not in the layout"));
    }
    let mut out = vec![0u8; layout.size()];
    for f in layout.fields() {
        let v = state
            .get(&f.name)
            .ok_or_else(|| format!("field {:?} is missing", f.name))?;
        let size = f.element.size();
        if f.count == 1 {
            put_element(f, v, &mut out[f.offset..f.offset + size])?;
        } else {
            let Value::Array(xs) = v else {
                return Err(format!("field {:?} is not an array", f.name));
            };
            if xs.len() != f.count {
                return Err(format!(
                    "field {:?} has {} elements, the layout {}",
                    f.name,
                    xs.len(),
                    f.count
                ));
            }
            for (k, x) in xs.iter().enumerate() {
                let at = f.offset + k * size;
                put_element(f, x, &mut out[at..at + size])?;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::PodLayout;
    use crate::FastDroneState;

    #[test]
    fn a_state_round_trips_bit_for_bit() {
        let layout = FastDroneState::layout();
        let s = FastDroneState {
            timestamp: 1.0e9 + 0.1,
            position: [-0.0, 1e-300, f64::MAX],
            velocity: [f64::NAN, f64::INFINITY, f64::NEG_INFINITY],
            attitude: [0.1, 0.2, 0.3],
            angular_velocity: [f64::MIN_POSITIVE, 5e-324, -1.5],
        };
        let mut text = String::new();
        push_state(&mut text, &layout, bytemuck::bytes_of(&s));
        let back = state_bytes(&layout, &parse(text.as_bytes()).unwrap()).unwrap();
        assert_eq!(back, bytemuck::bytes_of(&s));
    }

    #[test]
    fn bad_json_is_an_error() {
        assert!(parse(b"{\"a\":").is_err());
        assert!(parse(b"[1,2").is_err());
        assert!(parse(b"{} x").is_err());
        let layout = FastDroneState::layout();
        let v = parse(b"{\"timestamp\":1.0}").unwrap();
        assert!(state_bytes(&layout, &v).unwrap_err().contains("missing"));
    }

    #[test]
    fn the_schema_is_json() {
        let s = channel_schema("drone\"1", &FastDroneState::layout());
        let v = parse(s.as_bytes()).unwrap();
        assert_eq!(v.get("title").and_then(Value::as_str), Some("drone\"1"));
    }
}
