//! The ASN.1 time strings OpenSSL keeps in index.txt: `YYMMDDHHMMSSZ` (UTCTime) or
//! `YYYYMMDDHHMMSSZ` (GeneralizedTime).

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use crate::CrlError;
use crate::encode::{push_header, tag};

/// A checked calendar time, kept as its digits so that a CRL entry copies them into the DER
/// instead of converting through a date type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Asn1Time {
    /// `YYYYMMDDHHMMSSZ` (always the four-digit year).
    digits: [u8; 15],
    /// Whether RFC 5280 §4.1.2.5 wants UTCTime (years 1950-2049) rather than GeneralizedTime.
    utc: bool,
}

impl Asn1Time {
    /// Parses either form (UTCTime years 50-99 are 19xx, as RFC 5280 says), checking the date
    /// and time exist (seconds 0-59).
    #[inline(always)]
    pub(crate) fn parse(s: &[u8]) -> Option<Self> {
        let mut digits = [b'Z'; 15];
        match s {
            [d @ .., b'Z'] if d.len() == 12 => {
                let century = if d[0] < b'5' { b"20" } else { b"19" };
                digits[..2].copy_from_slice(century);
                digits[2..14].copy_from_slice(d);
            }
            [d @ .., b'Z'] if d.len() == 14 => digits[..14].copy_from_slice(d),
            _ => return None,
        }
        if !digits[..14]
            .iter()
            .fold(true, |ok, b| ok & b.is_ascii_digit())
        {
            return None;
        }
        let two = |at: usize| (digits[at] - b'0') * 10 + (digits[at + 1] - b'0');
        let year = i32::from(two(0)) * 100 + i32::from(two(2));
        let (month, day) = (two(4), two(6));
        if !(1..=12).contains(&month) || two(8) > 23 || two(10) > 59 || two(12) > 59 {
            return None;
        }
        const DAYS: [u8; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        let leap_day = u8::from(month == 2 && time::util::is_leap_year(year));
        if day == 0 || day > DAYS[usize::from(month - 1)] + leap_day {
            return None;
        }
        Some(Self {
            digits,
            utc: (1950..2050).contains(&year),
        })
    }

    /// The time of `t` (in UTC, whole seconds; years clamped to 0-9999).
    pub(crate) fn from_datetime(t: OffsetDateTime) -> Self {
        let t = t.to_offset(time::UtcOffset::UTC);
        let (year, month, day) = t.to_calendar_date();
        let (hour, minute, second) = t.to_hms();
        let year = year.clamp(0, 9999) as u32;
        let mut digits = [b'Z'; 15];
        let fields = [
            year / 100,
            year % 100,
            u32::from(u8::from(month)),
            u32::from(day),
            u32::from(hour),
            u32::from(minute),
            u32::from(second),
        ];
        for (pair, v) in digits.chunks_exact_mut(2).zip(fields) {
            pair[0] = b'0' + (v / 10) as u8;
            pair[1] = b'0' + (v % 10) as u8;
        }
        Self {
            digits,
            utc: (1950..2050).contains(&year),
        }
    }

    /// The same instant as a date-time.
    pub(crate) fn to_datetime(self) -> Result<OffsetDateTime, CrlError> {
        let bad = || CrlError::Time(self.text().escape_ascii().to_string());
        let two = |at: usize| (self.digits[at] - b'0') * 10 + (self.digits[at + 1] - b'0');
        let year = i32::from(two(0)) * 100 + i32::from(two(2));
        let month = Month::try_from(two(4)).map_err(|_| bad())?;
        let date = Date::from_calendar_date(year, month, two(6)).map_err(|_| bad())?;
        let time = Time::from_hms(two(8), two(10), two(12)).map_err(|_| bad())?;
        Ok(PrimitiveDateTime::new(date, time).assume_utc())
    }

    /// The text OpenSSL writes: UTCTime for 1950-2049, GeneralizedTime otherwise.
    pub(crate) fn text(&self) -> &[u8] {
        if self.utc {
            &self.digits[2..]
        } else {
            &self.digits
        }
    }

    /// Size of the DER Time TLV.
    #[inline(always)]
    pub(crate) fn der_len(&self) -> usize {
        2 + self.text().len()
    }

    /// Writes the DER Time (UTCTime or GeneralizedTime as RFC 5280 requires).
    #[inline(always)]
    pub(crate) fn push_der(&self, out: &mut Vec<u8>) {
        let tag = if self.utc {
            tag::UTC_TIME
        } else {
            tag::GENERALIZED_TIME
        };
        let text = self.text();
        push_header(out, tag, text.len());
        out.extend_from_slice(text);
    }

    /// Writes a DER GeneralizedTime, whatever the year.
    pub(crate) fn push_generalized(&self, out: &mut Vec<u8>) {
        push_header(out, tag::GENERALIZED_TIME, self.digits.len());
        out.extend_from_slice(&self.digits);
    }
}

/// Formats as OpenSSL writes: UTCTime for 1950-2049, GeneralizedTime otherwise.
pub(crate) fn format(t: OffsetDateTime) -> String {
    String::from_utf8_lossy(Asn1Time::from_datetime(t).text()).into_owned()
}

/// Formats as GeneralizedTime (`YYYYMMDDHHMMSSZ`).
pub(crate) fn format_generalized(t: OffsetDateTime) -> String {
    String::from_utf8_lossy(&Asn1Time::from_datetime(t).digits).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<OffsetDateTime, CrlError> {
        Asn1Time::parse(s.as_bytes())
            .ok_or_else(|| CrlError::Time(s.to_owned()))?
            .to_datetime()
    }

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
        for leap in ["20240229120000Z", "20000229000000Z", "000229000000Z"] {
            assert_eq!(parse(leap).map(|t| t.day()).ok(), Some(29), "{leap}");
        }
        for bad in [
            "",
            "Z",
            "301231235959",
            "3012312359Z",
            "301331235959Z",
            "30123123595aZ",
            "301231246000Z",
            "301231235960Z",
            "300001000000Z",
            "300100000000Z",
            "230229000000Z",
            "21000229000000Z",
            "+01231235959Z",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn digits_are_the_der_time() {
        for (text, der) in [
            ("260102030405Z", &b"\x17\x0d260102030405Z"[..]),
            ("20260102030405Z", b"\x17\x0d260102030405Z"),
            ("19491231235959Z", b"\x18\x0f19491231235959Z"),
            ("20500101000000Z", b"\x18\x0f20500101000000Z"),
        ] {
            let Some(t) = Asn1Time::parse(text.as_bytes()) else {
                panic!("{text}")
            };
            let mut out = Vec::new();
            t.push_der(&mut out);
            assert_eq!(out, der, "{text}");
            assert_eq!(out.len(), t.der_len());
            let dt = t.to_datetime().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(Asn1Time::from_datetime(dt), t, "{text}");
        }
    }
}
