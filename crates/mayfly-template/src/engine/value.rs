//! How JSON values behave as Go template values: truth, printing, field access, types.
//!
//! Data is plain JSON. Two conventions bridge Go's typed world:
//! - a field `.Name` on a map looks up `Name`, then any key equal ignoring ASCII case (Go field
//!   name vs. JSON tag: `.DNSNames` finds `dnsNames`), so
//!   `.Insecure.CR.Subject.CommonName` works on `{"subject": {"commonName": ...}}`;
//! - a map with a string `"$type"` member reports that Go type to `typeIs`/`kindIs`
//!   (`"*rsa.PublicKey"`), which is how the CSR's public key keeps step's type tests working;
//! - a member whose key starts with `$` is hidden like a Go field tagged `json:"-"`: `toJson`
//!   leaves it out, but `.Name` still finds `$name` (`.Insecure.CR.PublicKey` reads
//!   `$publicKey`), so `{{ toJson .Insecure.CR }}` prints what step prints.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::Value;

/// The key a map uses to report its Go type.
pub const TYPE_KEY: &str = "$type";

static NULL: Value = Value::Null;

/// Go template truth: false, 0, "", nil and empty collections are false.
pub(crate) fn is_true(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// Formats a value the way Go's `fmt.Print` does for the equivalent Go value.
pub(crate) fn go_print(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".to_owned(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(go_print_inner).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Object(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}:{}", go_print_inner(v)))
                .collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

fn go_print_inner(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_owned(),
        other => go_print(other),
    }
}

/// `.field` on a value: maps by key (exact, then ignoring case, then a hidden `$field`
/// other than `$type`), nil gives nil, others fail.
pub(crate) fn lookup_field<'v>(v: &'v Value, field: &str) -> Result<&'v Value, String> {
    match v {
        Value::Object(m) => {
            if let Some(x) = m.get(field) {
                return Ok(x);
            }
            let hidden = |k: &str| {
                k != TYPE_KEY
                    && k.strip_prefix('$')
                        .is_some_and(|k| k.eq_ignore_ascii_case(field))
            };
            Ok(m.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(field))
                .or_else(|| m.iter().find(|(k, _)| hidden(k)))
                .map_or(&NULL, |(_, v)| v))
        }
        Value::Null => Ok(&NULL),
        other => Err(format!(
            "can't evaluate field {field} in type {}",
            go_type(other)
        )),
    }
}

/// `v` without its hidden (`$`-prefixed) members, at any depth: what `toJson` encodes.
pub(crate) fn without_hidden(v: &Value) -> Cow<'_, Value> {
    fn has_hidden(v: &Value) -> bool {
        match v {
            Value::Object(m) => m.iter().any(|(k, x)| k.starts_with('$') || has_hidden(x)),
            Value::Array(a) => a.iter().any(has_hidden),
            _ => false,
        }
    }
    fn strip(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, _)| !k.starts_with('$'))
                    .map(|(k, x)| (k.clone(), strip(x)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    if has_hidden(v) {
        Cow::Owned(strip(v))
    } else {
        Cow::Borrowed(v)
    }
}

/// The Go type name of a value as step templates test it (`typeIs`).
pub(crate) fn go_type(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_owned(),
        Value::Bool(_) => "bool".to_owned(),
        Value::Number(n) if n.is_i64() || n.is_u64() => "int".to_owned(),
        Value::Number(_) => "float64".to_owned(),
        Value::String(_) => "string".to_owned(),
        Value::Array(_) => "[]interface {}".to_owned(),
        Value::Object(m) => match m.get(TYPE_KEY) {
            Some(Value::String(t)) => t.clone(),
            _ => "map[string]interface {}".to_owned(),
        },
    }
}

/// The Go kind of a value (`kindIs`).
pub(crate) fn go_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "invalid",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "int",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "slice",
        Value::Object(m) => match m.get(TYPE_KEY) {
            Some(Value::String(t)) if t.starts_with('*') => "ptr",
            Some(Value::String(_)) => "struct",
            _ => "map",
        },
    }
}

/// sprig's `empty`: the zero value of its type.
pub(crate) fn is_empty(v: &Value) -> bool {
    !is_true(v)
}

/// The string form sprig's `toString`/`strval` gives.
pub(crate) fn strval(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_owned(),
        other => go_print(other),
    }
}

/// Go's `eq`: same basic type and value. Numbers compare numerically.
pub(crate) fn go_eq(a: &Value, b: &Value) -> Result<bool, String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => Ok(x.as_f64() == y.as_f64()),
        (Value::String(x), Value::String(y)) => Ok(x == y),
        (Value::Bool(x), Value::Bool(y)) => Ok(x == y),
        (Value::Null, Value::Null) => Ok(true),
        (Value::Null, _) | (_, Value::Null) => Ok(false),
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => {
            Err("non-comparable type".to_owned())
        }
        (x, y) => Err(format!(
            "incompatible types for comparison: {} and {}",
            go_type(x),
            go_type(y)
        )),
    }
}

/// Go's ordering for `lt`/`le`/`gt`/`ge`: numbers and strings only.
pub(crate) fn go_cmp(a: &Value, b: &Value) -> Result<Ordering, String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y)
                .ok_or_else(|| "NaN is not ordered".to_owned())
        }
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        (x, y) => Err(format!(
            "invalid type for comparison: {} and {}",
            go_type(x),
            go_type(y)
        )),
    }
}
