//! Built-in functions: Go's template builtins, step's `toJson`/`fail`/`typeIs`, and the sprig
//! functions step templates use in practice.

use std::borrow::Cow;
use std::cmp::Ordering;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value};

use super::timefmt;
use super::value::{
    go_cmp, go_eq, go_kind, go_print, go_type, is_empty, is_true, strval, without_hidden,
};

/// Why a function call failed.
#[derive(Debug)]
pub(crate) enum FnError {
    /// An ordinary error (bad arguments, ...).
    Msg(String),
    /// The template called `fail`.
    Fail(String),
}

impl From<String> for FnError {
    fn from(m: String) -> Self {
        Self::Msg(m)
    }
}

type Args<'a, 'd> = &'a [Cow<'d, Value>];
type FnResult = Result<Value, FnError>;

/// Every function name a template may call (also `and`/`or`, which the evaluator runs itself).
pub(crate) const FUNCTIONS: &[&str] = &[
    "and",
    "or",
    "not",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "len",
    "index",
    "print",
    "printf",
    "println",
    "toJson",
    "toRawJson",
    "toPrettyJson",
    "fail",
    "typeIs",
    "typeOf",
    "kindIs",
    "kindOf",
    "default",
    "empty",
    "coalesce",
    "lower",
    "upper",
    "trim",
    "trimPrefix",
    "trimSuffix",
    "hasPrefix",
    "hasSuffix",
    "contains",
    "replace",
    "split",
    "splitList",
    "join",
    "list",
    "dict",
    "first",
    "last",
    "has",
    "hasKey",
    "keys",
    "quote",
    "squote",
    "b64enc",
    "b64dec",
    "toString",
    "atoi",
    "regexMatch",
    "now",
    "date",
    "dateInZone",
    "unixEpoch",
];

/// Whether `name` is a function (as opposed to a keyword).
pub(crate) fn is_function(name: &str) -> bool {
    FUNCTIONS.contains(&name)
}

fn arity(args: Args<'_, '_>, n: usize) -> Result<(), FnError> {
    if args.len() == n {
        Ok(())
    } else {
        Err(FnError::Msg(format!(
            "wrong number of args: want {n} got {}",
            args.len()
        )))
    }
}

fn string_arg<'a>(args: Args<'a, '_>, i: usize) -> Result<&'a str, FnError> {
    match args.get(i).map(|c| &**c) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(FnError::Msg(format!(
            "argument {} must be a string, got {}",
            i + 1,
            go_type(other)
        ))),
        None => Err(FnError::Msg(format!("missing argument {}", i + 1))),
    }
}

fn strings2<'a>(args: Args<'a, '_>) -> Result<(&'a str, &'a str), FnError> {
    arity(args, 2)?;
    Ok((string_arg(args, 0)?, string_arg(args, 1)?))
}

fn list_arg<'a>(args: Args<'a, '_>, i: usize) -> Result<&'a [Value], FnError> {
    match args.get(i).map(|c| &**c) {
        Some(Value::Array(a)) => Ok(a),
        Some(other) => Err(FnError::Msg(format!(
            "argument {} must be a list, got {}",
            i + 1,
            go_type(other)
        ))),
        None => Err(FnError::Msg(format!("missing argument {}", i + 1))),
    }
}

/// Go's `encoding/json` escapes `<`, `>` and `&`; step output therefore does too. Hidden
/// (`$`-prefixed) members are left out, as Go leaves out `json:"-"` fields.
fn go_json(v: &Value, pretty: bool, escape_html: bool) -> FnResult {
    let v = without_hidden(v);
    let s = if pretty {
        serde_json::to_string_pretty(&*v)
    } else {
        serde_json::to_string(&*v)
    }
    .map_err(|e| FnError::Msg(e.to_string()))?;
    let s = if escape_html && s.contains(['<', '>', '&']) {
        s.replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026")
    } else {
        s
    };
    Ok(Value::String(s))
}

fn compare(args: Args<'_, '_>, want: fn(Ordering) -> bool) -> FnResult {
    arity(args, 2)?;
    Ok(Value::Bool(want(go_cmp(&args[0], &args[1])?)))
}

/// Calls function `name`; a piped value is already the last argument.
pub(crate) fn call(name: &str, args: Args<'_, '_>) -> FnResult {
    match name {
        "not" => {
            arity(args, 1)?;
            Ok(Value::Bool(!is_true(&args[0])))
        }
        "eq" => {
            let Some((first, rest)) = args.split_first() else {
                return Err(FnError::Msg("missing arguments for comparison".into()));
            };
            if rest.is_empty() {
                return Err(FnError::Msg("missing argument for comparison".into()));
            }
            let mut any = false;
            for other in rest {
                any |= go_eq(first, other)?;
            }
            Ok(Value::Bool(any))
        }
        // Unlike `eq`, Go's `ne` takes exactly two arguments.
        "ne" => {
            arity(args, 2)?;
            Ok(Value::Bool(!go_eq(&args[0], &args[1])?))
        }
        "lt" => compare(args, Ordering::is_lt),
        "le" => compare(args, Ordering::is_le),
        "gt" => compare(args, Ordering::is_gt),
        "ge" => compare(args, Ordering::is_ge),
        "len" => {
            arity(args, 1)?;
            match &*args[0] {
                Value::String(s) => Ok(Value::from(s.len())),
                Value::Array(a) => Ok(Value::from(a.len())),
                Value::Object(m) => Ok(Value::from(m.len())),
                other => Err(FnError::Msg(format!("len of {}", go_type(other)))),
            }
        }
        "index" => index(args),
        "print" => Ok(Value::String(go_sprint(args))),
        "println" => {
            let parts: Vec<String> = args.iter().map(|a| go_print(a)).collect();
            Ok(Value::String(parts.join(" ") + "\n"))
        }
        "printf" => {
            let format = string_arg(args, 0)?;
            Ok(Value::String(sprintf(format, &args[1..])))
        }
        "toJson" | "toRawJson" | "toPrettyJson" => {
            arity(args, 1)?;
            go_json(&args[0], name == "toPrettyJson", name != "toRawJson")
        }
        "fail" => Err(FnError::Fail(string_arg(args, 0)?.to_owned())),
        "typeIs" | "kindIs" => {
            arity(args, 2)?;
            let want = string_arg(args, 0)?;
            let have = if name == "typeIs" {
                go_type(&args[1])
            } else {
                go_kind(&args[1]).to_owned()
            };
            Ok(Value::Bool(want == have))
        }
        "typeOf" => {
            arity(args, 1)?;
            Ok(Value::String(go_type(&args[0])))
        }
        "kindOf" => {
            arity(args, 1)?;
            Ok(Value::String(go_kind(&args[0]).to_owned()))
        }
        "default" => match args {
            [d] => Ok(d.clone().into_owned()),
            [d, given] => Ok(if is_empty(given) { d } else { given }.clone().into_owned()),
            _ => Err(FnError::Msg("default takes 1 or 2 arguments".into())),
        },
        "empty" => {
            arity(args, 1)?;
            Ok(Value::Bool(is_empty(&args[0])))
        }
        "coalesce" => Ok(args
            .iter()
            .find(|a| !is_empty(a))
            .map_or(Value::Null, |a| a.clone().into_owned())),
        "lower" | "upper" | "trim" | "toString" | "quote" | "squote" | "b64enc" | "b64dec"
        | "atoi" => string_fn(name, args),
        "trimPrefix" => {
            let (p, s) = strings2(args)?;
            Ok(Value::from(s.strip_prefix(p).unwrap_or(s)))
        }
        "trimSuffix" => {
            let (p, s) = strings2(args)?;
            Ok(Value::from(s.strip_suffix(p).unwrap_or(s)))
        }
        "hasPrefix" => strings2(args).map(|(p, s)| Value::Bool(s.starts_with(p))),
        "hasSuffix" => strings2(args).map(|(p, s)| Value::Bool(s.ends_with(p))),
        "contains" => strings2(args).map(|(p, s)| Value::Bool(s.contains(p))),
        "replace" => {
            arity(args, 3)?;
            let s = strval(&args[2]);
            Ok(Value::from(
                s.replace(string_arg(args, 0)?, string_arg(args, 1)?),
            ))
        }
        "split" => {
            let (sep, s) = strings2(args)?;
            let m: Map<String, Value> = s
                .split(sep)
                .enumerate()
                .map(|(i, p)| (format!("_{i}"), Value::from(p)))
                .collect();
            Ok(Value::Object(m))
        }
        "splitList" => {
            let (sep, s) = strings2(args)?;
            Ok(Value::Array(s.split(sep).map(Value::from).collect()))
        }
        "join" => {
            arity(args, 2)?;
            let sep = string_arg(args, 0)?;
            let parts: Vec<String> = match &*args[1] {
                Value::Array(a) => a.iter().map(strval).collect(),
                other => vec![strval(other)],
            };
            Ok(Value::from(parts.join(sep)))
        }
        "list" => Ok(Value::Array(
            args.iter().map(|a| a.clone().into_owned()).collect(),
        )),
        "dict" => {
            let mut m = Map::new();
            for pair in args.chunks(2) {
                let key = strval(&pair[0]);
                let val = pair
                    .get(1)
                    .map_or(Value::String(String::new()), |v| v.clone().into_owned());
                m.insert(key, val);
            }
            Ok(Value::Object(m))
        }
        "first" | "last" => {
            arity(args, 1)?;
            let list = list_arg(args, 0)?;
            let item = if name == "first" {
                list.first()
            } else {
                list.last()
            };
            Ok(item.cloned().unwrap_or(Value::Null))
        }
        "has" => {
            arity(args, 2)?;
            let list = list_arg(args, 1)?;
            Ok(Value::Bool(
                list.iter().any(|x| go_eq(x, &args[0]).unwrap_or(false)),
            ))
        }
        "hasKey" => {
            arity(args, 2)?;
            let key = string_arg(args, 1)?;
            Ok(Value::Bool(
                args[0].as_object().is_some_and(|m| m.contains_key(key)),
            ))
        }
        "keys" => {
            let mut keys: Vec<Value> = Vec::new();
            for a in args {
                if let Value::Object(m) = &**a {
                    keys.extend(m.keys().map(|k| Value::from(k.as_str())));
                }
            }
            Ok(Value::Array(keys))
        }
        "regexMatch" => {
            let (re, s) = strings2(args)?;
            let re = regex::RegexBuilder::new(re)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| FnError::Msg(format!("regexMatch: {e}")))?;
            Ok(Value::Bool(re.is_match(s)))
        }
        "now" => {
            arity(args, 0)?;
            Ok(Value::from(timefmt::now_rfc3339()))
        }
        "unixEpoch" => {
            arity(args, 1)?;
            Ok(Value::from(
                timefmt::to_datetime(&args[0])?.unix_timestamp().to_string(),
            ))
        }
        "date" => {
            arity(args, 2)?;
            timefmt::go_format(string_arg(args, 0)?, &args[1], "UTC").map(Value::from)
        }
        "dateInZone" => {
            arity(args, 3)?;
            timefmt::go_format(string_arg(args, 0)?, &args[1], string_arg(args, 2)?)
                .map(Value::from)
        }
        other => Err(FnError::Msg(format!("function {other:?} not defined"))),
    }
}

fn string_fn(name: &str, args: Args<'_, '_>) -> FnResult {
    if name == "quote" || name == "squote" {
        let q: Vec<String> = args
            .iter()
            .filter(|a| !a.is_null())
            .map(|a| {
                let s = strval(a);
                if name == "quote" {
                    serde_json::to_string(&s).unwrap_or_default()
                } else {
                    format!("'{s}'")
                }
            })
            .collect();
        return Ok(Value::from(q.join(" ")));
    }
    arity(args, 1)?;
    let s = strval(&args[0]);
    Ok(match name {
        "lower" => Value::from(s.to_lowercase()),
        "upper" => Value::from(s.to_uppercase()),
        "trim" => Value::from(s.trim()),
        "toString" => Value::from(s),
        "b64enc" => Value::from(B64.encode(s.as_bytes())),
        "b64dec" => match B64.decode(s.as_bytes()) {
            Ok(bytes) => Value::from(String::from_utf8_lossy(&bytes).into_owned()),
            Err(e) => Value::from(e.to_string()),
        },
        // sprig's atoi yields 0 for anything that is not an integer.
        _ => Value::from(s.trim().parse::<i64>().unwrap_or(0)),
    })
}

fn index(args: Args<'_, '_>) -> FnResult {
    let Some((first, keys)) = args.split_first() else {
        return Err(FnError::Msg("index of nothing".into()));
    };
    let mut cur: Value = first.clone().into_owned();
    for key in keys {
        cur = match (&cur, &**key) {
            (Value::Array(a), Value::Number(n)) => {
                let i = n
                    .as_u64()
                    .and_then(|i| usize::try_from(i).ok())
                    .ok_or_else(|| FnError::Msg(format!("index {n} is not valid")))?;
                a.get(i)
                    .cloned()
                    .ok_or_else(|| FnError::Msg(format!("index out of range: {i}")))?
            }
            (Value::Object(m), Value::String(k)) => m.get(k).cloned().unwrap_or(Value::Null),
            (Value::Null, _) => return Err(FnError::Msg("index of untyped nil".into())),
            (c, k) => {
                return Err(FnError::Msg(format!(
                    "can't index item of type {} with {}",
                    go_type(c),
                    go_type(k)
                )));
            }
        };
    }
    Ok(cur)
}

/// Go's `fmt.Sprint`: spaces between operands when neither is a string.
fn go_sprint(args: Args<'_, '_>) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !a.is_string() && !args[i - 1].is_string() {
            out.push(' ');
        }
        out.push_str(&strval(a));
    }
    out
}

/// The widest field `printf` pads to.
const MAX_WIDTH: usize = 1024;

/// A subset of Go's `fmt.Sprintf`: flags `-`/`0`, width, and verbs `v s d q t x X f %`.
fn sprintf(format: &str, args: &[Cow<'_, Value>]) -> String {
    let mut out = String::new();
    let mut it = format.chars().peekable();
    let mut next_arg = args.iter();
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut left, mut zero, mut width) = (false, false, 0usize);
        while let Some(&f) = it.peek() {
            match f {
                '-' => left = true,
                '0' if width == 0 => zero = true,
                d if d.is_ascii_digit() => {
                    width = width
                        .saturating_mul(10)
                        .saturating_add(d as usize - '0' as usize)
                }
                _ => break,
            }
            it.next();
        }
        let Some(verb) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = next_arg.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let s = match (verb, &**arg) {
            ('q', v) => serde_json::to_string(&strval(v)).unwrap_or_default(),
            ('x', Value::Number(n)) => n.as_i64().map_or(n.to_string(), |i| format!("{i:x}")),
            ('X', Value::Number(n)) => n.as_i64().map_or(n.to_string(), |i| format!("{i:X}")),
            ('x', v) => hex::encode(strval(v)),
            ('X', v) => hex::encode_upper(strval(v)),
            ('f', Value::Number(n)) => format!("{:.6}", n.as_f64().unwrap_or(0.0)),
            ('d', Value::Number(n)) if n.as_i64().is_some() => n.to_string(),
            ('v' | 's' | 't', v) => strval(v),
            (verb, v) => format!("%!{verb}({}={})", go_type(v), strval(v)),
        };
        // Widths are capped so `%099999999d` cannot allocate without bound.
        let pad = width.min(MAX_WIDTH).saturating_sub(s.chars().count());
        if left {
            out.push_str(&s);
            out.extend(std::iter::repeat_n(' ', pad));
        } else {
            out.extend(std::iter::repeat_n(if zero { '0' } else { ' ' }, pad));
            out.push_str(&s);
        }
    }
    for extra in next_arg {
        out.push_str(&format!("%!(EXTRA {}={})", go_type(extra), strval(extra)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, args: Vec<Value>) -> Value {
        let args: Vec<Cow<'_, Value>> = args.into_iter().map(Cow::Owned).collect();
        match call(name, &args) {
            Ok(v) => v,
            Err(e) => panic!("{name}: {e:?}"),
        }
    }

    #[test]
    fn sprig_strings() {
        assert_eq!(c("trimPrefix", vec!["C:".into(), "C:/x".into()]), "/x");
        assert_eq!(
            c("replace", vec!["\\".into(), "/".into(), "a\\b".into()]),
            "a/b"
        );
        assert_eq!(c("quote", vec!["a\"b".into()]), "\"a\\\"b\"");
        assert_eq!(c("b64enc", vec!["hi".into()]), "aGk=");
        assert_eq!(c("b64dec", vec!["aGk=".into()]), "hi");
        assert_eq!(c("atoi", vec!["42".into()]), 42);
        assert_eq!(c("atoi", vec!["x".into()]), 0);
        assert_eq!(
            c("join", vec![",".into(), serde_json::json!(["a", 1])]),
            "a,1"
        );
        assert_eq!(
            c("splitList", vec![".".into(), "a.b".into()]),
            serde_json::json!(["a", "b"])
        );
        assert_eq!(
            c("split", vec![".".into(), "a.b".into()]),
            serde_json::json!({"_0": "a", "_1": "b"})
        );
        assert_eq!(c("regexMatch", vec!["^a+$".into(), "aaa".into()]), true);
    }

    #[test]
    fn empty_is_the_zero_value_of_any_type() {
        use serde_json::json;
        for zero in [
            json!(0),
            json!(0.0),
            json!(""),
            json!([]),
            json!({}),
            json!(false),
        ] {
            assert_eq!(c("empty", vec![zero.clone()]), true, "{zero}");
        }
        assert_eq!(c("empty", vec![Value::Null]), true);
        for set in [
            json!(1),
            json!(-0.5),
            json!(" "),
            json!("0"),
            json!([0]),
            json!({"a": 0}),
        ] {
            assert_eq!(c("empty", vec![set.clone()]), false, "{set}");
        }
        assert!(call("empty", &[]).is_err());
    }

    #[test]
    fn sprig_string_predicates_and_case() {
        assert_eq!(c("lower", vec!["MiXeD É".into()]), "mixed é");
        assert_eq!(c("upper", vec!["MiXeD é".into()]), "MIXED É");
        // Go's strings.TrimSpace: every Unicode space, both ends, nothing inside.
        assert_eq!(c("trim", vec![" \t a b \n\u{a0}".into()]), "a b");
        // sprig's argument order: the affix first, the string last (so it can be piped).
        assert_eq!(
            c("trimSuffix", vec![".com".into(), "a.com.com".into()]),
            "a.com"
        );
        assert_eq!(c("trimSuffix", vec!["x".into(), "abc".into()]), "abc");
        assert_eq!(c("hasPrefix", vec!["ab".into(), "abc".into()]), true);
        assert_eq!(c("hasPrefix", vec!["bc".into(), "abc".into()]), false);
        assert_eq!(c("hasSuffix", vec!["bc".into(), "abc".into()]), true);
        assert_eq!(c("hasSuffix", vec!["ab".into(), "abc".into()]), false);
        assert_eq!(c("contains", vec!["@".into(), "jane@doe.com".into()]), true);
        assert_eq!(
            c("contains", vec!["jane@doe.com".into(), "@".into()]),
            false
        );
        assert_eq!(c("contains", vec!["".into(), "x".into()]), true);
        // A non-string is an error, not a silent `false`.
        assert!(call("hasPrefix", &[Cow::Owned("1".into()), Cow::Owned(1.into())]).is_err());
    }

    #[test]
    fn squote_and_to_string_print_like_go() {
        use serde_json::json;
        assert_eq!(c("squote", vec!["a".into()]), "'a'");
        assert_eq!(c("squote", vec!["it's".into()]), "'it's'");
        // Several arguments are joined by spaces; nil ones are dropped; others use %v.
        assert_eq!(
            c(
                "squote",
                vec!["a".into(), Value::Null, 1.into(), true.into()]
            ),
            "'a' '1' 'true'"
        );
        assert_eq!(c("toString", vec![7.into()]), "7");
        assert_eq!(c("toString", vec![1.5.into()]), "1.5");
        assert_eq!(c("toString", vec![false.into()]), "false");
        assert_eq!(c("toString", vec![Value::Null]), "<nil>");
        assert_eq!(c("toString", vec![json!(["a", 1])]), "[a 1]");
        assert_eq!(
            c("toString", vec![json!({"b": 2, "a": "x"})]),
            "map[a:x b:2]"
        );
    }

    #[test]
    fn kind_is_reports_go_kinds() {
        use serde_json::json;
        for (kind, v) in [
            ("string", json!("s")),
            ("int", json!(3)),
            ("float64", json!(3.5)),
            ("bool", json!(true)),
            ("slice", json!([1])),
            ("map", json!({"a": 1})),
            ("invalid", Value::Null),
            ("ptr", json!({"$type": "*rsa.PublicKey", "size": 256})),
            ("struct", json!({"$type": "x509util.Subject"})),
        ] {
            assert_eq!(
                c("kindIs", vec![kind.into(), v.clone()]),
                true,
                "{kind} {v}"
            );
            assert_eq!(c("kindOf", vec![v.clone()]), kind, "{v}");
        }
        assert_eq!(c("kindIs", vec!["map".into(), json!([])]), false);
        // typeIs sees the Go type, kindIs only its kind.
        let rsa = json!({"$type": "*rsa.PublicKey"});
        assert_eq!(
            c("typeIs", vec!["*rsa.PublicKey".into(), rsa.clone()]),
            true
        );
        assert_eq!(c("kindIs", vec!["*rsa.PublicKey".into(), rsa]), false);
    }

    #[test]
    fn now_and_date() {
        use time::OffsetDateTime;
        use time::format_description::well_known::Rfc3339;
        let before = OffsetDateTime::now_utc().unix_timestamp();
        let now = c("now", vec![]);
        let after = OffsetDateTime::now_utc().unix_timestamp();
        let parsed = OffsetDateTime::parse(now.as_str().unwrap_or_default(), &Rfc3339)
            .unwrap_or_else(|e| panic!("{now}: {e}"));
        assert!((before..=after).contains(&parsed.unix_timestamp()), "{now}");
        assert_eq!(parsed.offset(), time::UtcOffset::UTC);
        // `date` takes Unix seconds (number or numeric string) or an RFC 3339 time, and a Go
        // layout built from the reference time Mon Jan 2 15:04:05 MST 2006.
        assert_eq!(c("date", vec!["2006-01-02".into(), 0.into()]), "1970-01-01");
        assert_eq!(
            c("date", vec!["2006-01-02".into(), 1_234_567_890.into()]),
            "2009-02-13"
        );
        assert_eq!(
            c("date", vec!["02/01/06 15:04".into(), "1234567890".into()]),
            "13/02/09 23:31"
        );
        assert_eq!(
            c(
                "date",
                vec!["Jan 2, 2006".into(), "2030-07-04T12:00:00+02:00".into()]
            ),
            "Jul 4, 2030"
        );
        // `date` of `now` is today.
        let today = OffsetDateTime::now_utc().date().to_string();
        let formatted = c("date", vec!["2006-01-02".into(), now]);
        assert!(
            formatted == today || after / 86_400 != before / 86_400,
            "{formatted} vs {today}"
        );
        assert!(
            call(
                "date",
                &[Cow::Owned("2006".into()), Cow::Owned("soon".into())]
            )
            .is_err()
        );
        assert!(call("now", &[Cow::Owned(1.into())]).is_err());
    }

    #[test]
    fn ne_takes_exactly_two_arguments_like_go() {
        assert_eq!(c("ne", vec![1.into(), 2.into()]), true);
        assert_eq!(c("ne", vec!["a".into(), "a".into()]), false);
        // `eq` compares its first argument with each of the rest; Go's `ne` has no such form.
        assert_eq!(c("eq", vec![1.into(), 2.into(), 1.into()]), true);
        assert!(
            call(
                "ne",
                &[
                    Cow::Owned(1.into()),
                    Cow::Owned(2.into()),
                    Cow::Owned(1.into())
                ]
            )
            .is_err()
        );
    }

    #[test]
    fn to_json_leaves_hidden_members_out() {
        use serde_json::json;
        let cr = json!({"dnsNames": ["a"], "$publicKey": {"$type": "*ecdsa.PublicKey", "curve": "P-256"}});
        assert_eq!(c("toJson", vec![cr]), r#"{"dnsNames":["a"]}"#);
        let key = json!([{"$type": "*rsa.PublicKey", "size": 256}]);
        assert_eq!(c("toJson", vec![key]), r#"[{"size":256}]"#);
    }

    #[test]
    fn printf_and_json() {
        assert_eq!(
            c(
                "printf",
                vec![
                    "%s-%03d %q %v%%".into(),
                    "a".into(),
                    7.into(),
                    "x".into(),
                    true.into()
                ]
            ),
            "a-007 \"x\" true%"
        );
        // A width of 40 digits overflows usize: padded to MAX_WIDTH like any other huge width
        // (it overflowed and panicked in debug builds; found by the template_engine fuzz
        // target).
        let huge = format!("%{}s", "3".repeat(40));
        assert_eq!(
            c("printf", vec![huge.into(), "x".into()]),
            format!("{}x", " ".repeat(MAX_WIDTH - 1))
        );
        assert_eq!(
            c("toJson", vec!["<a&b>".into()]),
            "\"\\u003ca\\u0026b\\u003e\""
        );
        assert_eq!(c("toRawJson", vec!["<a>".into()]), "\"<a>\"");
    }

    #[test]
    fn defaults_and_collections() {
        assert_eq!(c("default", vec!["d".into(), "".into()]), "d");
        assert_eq!(c("default", vec!["d".into(), "g".into()]), "g");
        assert_eq!(c("coalesce", vec![Value::Null, "".into(), "x".into()]), "x");
        assert_eq!(c("first", vec![serde_json::json!([1, 2])]), 1);
        assert_eq!(c("last", vec![serde_json::json!([1, 2])]), 2);
        assert_eq!(c("has", vec![2.into(), serde_json::json!([1, 2])]), true);
        assert_eq!(
            c("dict", vec!["a".into(), 1.into()]),
            serde_json::json!({"a": 1})
        );
        assert_eq!(
            c(
                "index",
                vec![serde_json::json!({"a": [5, 6]}), "a".into(), 1.into()]
            ),
            6
        );
        assert!(
            matches!(call("fail", &[Cow::Owned("boom".into())]), Err(FnError::Fail(m)) if m == "boom")
        );
    }
}
