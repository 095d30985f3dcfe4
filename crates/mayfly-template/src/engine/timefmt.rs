//! Time values for `now`, `date` and `dateInZone`.
//!
//! Templates see times as RFC 3339 strings (what Go's `json.Marshal` gives for `time.Time`);
//! `date` also takes Unix seconds, as sprig does. Layouts use Go's reference time
//! `Mon Jan 2 15:04:05 MST 2006`. Only the UTC zone is supported.

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use super::functions::FnError;

/// The current time as RFC 3339 (UTC, seconds precision).
pub(crate) fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc())
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// Reads a time: Unix seconds (number or numeric string) or an RFC 3339 string.
pub(crate) fn to_datetime(v: &Value) -> Result<OffsetDateTime, String> {
    let secs = match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => match s.parse::<i64>() {
            Ok(i) => Some(i),
            Err(_) => {
                return OffsetDateTime::parse(s, &Rfc3339)
                    .map_err(|e| format!("not a time: {s:?}: {e}"));
            }
        },
        _ => None,
    };
    let secs = secs.ok_or_else(|| format!("not a time: {v}"))?;
    OffsetDateTime::from_unix_timestamp(secs).map_err(|e| format!("time out of range: {e}"))
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Formats `v` with a Go layout in `zone` (`UTC` or `Local`, both rendered as UTC).
pub(crate) fn go_format(layout: &str, v: &Value, zone: &str) -> Result<String, FnError> {
    if !matches!(zone, "UTC" | "Local" | "") {
        return Err(FnError::Msg(format!(
            "unsupported time zone {zone:?} (use UTC)"
        )));
    }
    let t = to_datetime(v)?.to_offset(UtcOffset::UTC);
    let month = usize::from(u8::from(t.month())) - 1;
    let weekday = usize::from(t.weekday().number_days_from_monday());
    let hour12 = match t.hour() % 12 {
        0 => 12,
        h => h,
    };
    // Longest tokens first so `2006` wins over `2` and `January` over `Jan`.
    let tokens: [(&str, String); 27] = [
        ("January", MONTHS[month].to_owned()),
        ("Monday", DAYS[weekday].to_owned()),
        ("Z07:00", "Z".to_owned()),
        ("-07:00", "+00:00".to_owned()),
        ("Z0700", "Z".to_owned()),
        ("-0700", "+0000".to_owned()),
        (".000000000", format!(".{:09}", t.nanosecond())),
        (".000000", format!(".{:06}", t.microsecond())),
        (".000", format!(".{:03}", t.millisecond())),
        ("2006", format!("{:04}", t.year())),
        ("Jan", MONTHS[month][..3].to_owned()),
        ("Mon", DAYS[weekday][..3].to_owned()),
        ("MST", "UTC".to_owned()),
        ("01", format!("{:02}", month + 1)),
        ("02", format!("{:02}", t.day())),
        ("_2", format!("{:>2}", t.day())),
        ("15", format!("{:02}", t.hour())),
        ("03", format!("{hour12:02}")),
        ("04", format!("{:02}", t.minute())),
        ("05", format!("{:02}", t.second())),
        ("06", format!("{:02}", t.year() % 100)),
        ("PM", if t.hour() >= 12 { "PM" } else { "AM" }.to_owned()),
        ("1", (month + 1).to_string()),
        ("2", t.day().to_string()),
        ("3", hour12.to_string()),
        ("4", t.minute().to_string()),
        ("5", t.second().to_string()),
    ];
    let mut out = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        for (tok, val) in &tokens {
            if let Some(r) = rest.strip_prefix(tok) {
                out.push_str(val);
                rest = r;
                continue 'outer;
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_layouts() {
        let t = Value::from(1_234_567_890); // 2009-02-13T23:31:30Z, a Friday
        let f = |l: &str| go_format(l, &t, "UTC").map_err(|e| format!("{e:?}"));
        assert_eq!(
            f("2006-01-02T15:04:05Z07:00"),
            Ok("2009-02-13T23:31:30Z".into())
        );
        assert_eq!(
            f("Mon Jan _2 03:04:05 PM MST 2006"),
            Ok("Fri Feb 13 11:31:30 PM UTC 2009".into())
        );
        assert!(go_format("2006", &t, "Europe/Paris").is_err());
        assert_eq!(
            go_format("2006", &Value::from("2030-01-01T00:00:00Z"), "UTC").ok(),
            Some("2030".into())
        );
    }
}
