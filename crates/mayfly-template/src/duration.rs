//! Durations written the way step-ca (Go's `time.ParseDuration`) writes them: "24h", "5m",
//! "1m0s", "87600h", "1.5h", "300ms"; plus `d` for days, which operators type for validity.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration in Go's notation, as ca.json spells claims, backdate and CRL periods.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoDuration(pub Duration);

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {input:?}: {reason} (use Go's form, such as \"24h\", \"5m\" or \"1h30m\")"
)]
pub struct DurationError {
    input: String,
    reason: &'static str,
}

impl GoDuration {
    /// Parses Go's duration syntax: an optional `+`, then one or more decimal numbers each
    /// followed by a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`, and `d` = 24 h, which Go
    /// lacks). Negative durations are
    /// refused: no claim or period in a CA makes sense below zero.
    pub fn parse(input: &str) -> Result<Self, DurationError> {
        let err = |reason| DurationError {
            input: input.to_owned(),
            reason,
        };
        let mut rest = input.strip_prefix('+').unwrap_or(input);
        if rest.starts_with('-') {
            return Err(err("negative durations are not allowed"));
        }
        if rest == "0" {
            return Ok(Self(Duration::ZERO));
        }
        if rest.is_empty() {
            return Err(err("empty"));
        }
        let mut total_nanos: u128 = 0;
        while !rest.is_empty() {
            let number_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(|| err("missing unit"))?;
            let (number, after) = rest.split_at(number_len);
            if number.is_empty() || number == "." {
                return Err(err("expected a number"));
            }
            let unit_len = after
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(after.len());
            let (unit, after) = after.split_at(unit_len);
            let unit_nanos: u128 = match unit {
                "ns" => 1,
                "us" | "µs" | "μs" => 1_000,
                "ms" => 1_000_000,
                "s" => 1_000_000_000,
                "m" => 60 * 1_000_000_000,
                "h" => 3_600 * 1_000_000_000,
                "d" => 86_400 * 1_000_000_000,
                "" => return Err(err("missing unit")),
                _ => return Err(err("unknown unit")),
            };
            let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
            let whole: u128 = if whole.is_empty() {
                0
            } else {
                whole.parse().map_err(|_| err("number too large"))?
            };
            let mut nanos = whole
                .checked_mul(unit_nanos)
                .ok_or_else(|| err("number too large"))?;
            let mut scale = unit_nanos;
            for digit in fraction.chars().take(18) {
                scale /= 10;
                nanos += u128::from(digit.to_digit(10).ok_or_else(|| err("bad fraction"))?) * scale;
            }
            total_nanos = total_nanos
                .checked_add(nanos)
                .ok_or_else(|| err("number too large"))?;
            rest = after;
        }
        let secs =
            u64::try_from(total_nanos / 1_000_000_000).map_err(|_| err("number too large"))?;
        Ok(Self(Duration::new(
            secs,
            (total_nanos % 1_000_000_000) as u32,
        )))
    }

    /// The duration from whole seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }
}

impl fmt::Display for GoDuration {
    /// Formats the way Go does for whole seconds ("24h0m0s" is written "24h", "90s" as "1m30s").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() != 0 {
            return write!(f, "{}ms", d.as_millis());
        }
        let secs = d.as_secs();
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        if secs == 0 {
            return f.write_str("0s");
        }
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if s > 0 {
            write!(f, "{s}s")?;
        }
        Ok(())
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl From<GoDuration> for Duration {
    fn from(d: GoDuration) -> Self {
        d.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_step_forms() {
        let cases = [
            ("24h", 86_400),
            ("5m", 300),
            ("1m0s", 60),
            ("2m0s", 120),
            ("87600h", 87_600 * 3600),
            ("0s", 0),
            ("0", 0),
            ("1h30m", 5400),
            ("1.5h", 5400),
            ("30d", 30 * 86_400),
        ];
        for (text, secs) in cases {
            assert_eq!(
                GoDuration::parse(text).unwrap().0,
                Duration::from_secs(secs),
                "{text}"
            );
        }
        assert_eq!(
            GoDuration::parse("300ms").unwrap().0,
            Duration::from_millis(300)
        );
    }

    #[test]
    fn refuses_bad_forms() {
        for text in [
            "",
            "h",
            "5",
            "5y",
            "-5m",
            "1.2.3h",
            "99999999999999999999999h",
        ] {
            let err = GoDuration::parse(text).unwrap_err();
            assert!(err.to_string().contains(&format!("{text:?}")), "{err}");
        }
    }

    #[test]
    fn displays_like_go() {
        assert_eq!(GoDuration::from_secs(86_400).to_string(), "24h");
        assert_eq!(GoDuration::from_secs(90).to_string(), "1m30s");
        assert_eq!(GoDuration::from_secs(0).to_string(), "0s");
    }
}
