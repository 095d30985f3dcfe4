//! The ASN.1 time strings OpenSSL keeps in index.txt: `YYMMDDHHMMSSZ` (UTCTime) or
//! `YYYYMMDDHHMMSSZ` (GeneralizedTime).

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use crate::CrlError;

/// Parses either form (UTCTime years 50-99 are 19xx, as RFC 5280 says).
pub(crate) fn parse(s: &str) -> Result<OffsetDateTime, CrlError> {
    let bad = || CrlError::Time(s.to_owned());
    let digits = s.strip_suffix('Z').ok_or_else(bad)?.as_bytes();
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let two = |at: usize| {
        digits
            .get(at..at + 2)
            .map(|d| (d[0] - b'0') * 10 + (d[1] - b'0'))
    };
    let (year, rest) = match digits.len() {
        12 => {
            let yy = i32::from(two(0).ok_or_else(bad)?);
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, 2)
        }
        14 => {
            let (hi, lo) = (two(0).ok_or_else(bad)?, two(2).ok_or_else(bad)?);
            (i32::from(hi) * 100 + i32::from(lo), 4)
        }
        _ => return Err(bad()),
    };
    let field = |i: usize| two(rest + 2 * i).ok_or_else(bad);
    let month = Month::try_from(field(0)?).map_err(|_| bad())?;
    let date = Date::from_calendar_date(year, month, field(1)?).map_err(|_| bad())?;
    let time = Time::from_hms(field(2)?, field(3)?, field(4)?).map_err(|_| bad())?;
    Ok(PrimitiveDateTime::new(date, time).assume_utc())
}

/// Formats as OpenSSL writes: UTCTime for 1950-2049, GeneralizedTime otherwise.
pub(crate) fn format(t: OffsetDateTime) -> String {
    let mut out = Vec::with_capacity(17);
    crate::encode::push_time(&mut out, t);
    String::from_utf8_lossy(&out[2..]).into_owned()
}

/// Formats as GeneralizedTime (`YYYYMMDDHHMMSSZ`).
pub(crate) fn format_generalized(t: OffsetDateTime) -> String {
    let mut out = Vec::with_capacity(17);
    crate::encode::push_generalized_time(&mut out, t);
    String::from_utf8_lossy(&out[2..]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms_and_round_trips() {
        let t = parse("301231235959Z").ok();
        assert_eq!(t, Some(time::macros::datetime!(2030-12-31 23:59:59 UTC)));
        assert_eq!(parse("20301231235959Z").ok(), t);
        assert_eq!(parse("991231000000Z").map(|t| t.year()).ok(), Some(1999));
        assert_eq!(t.map(format).as_deref(), Some("301231235959Z"));
        assert_eq!(
            parse("20991231235959Z").map(format).ok().as_deref(),
            Some("20991231235959Z")
        );
        for bad in [
            "",
            "301231235959",
            "3012312359Z",
            "301331235959Z",
            "30123123595aZ",
            "301231246000Z",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
