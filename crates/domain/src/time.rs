//! Time as the API carries it: UTC instants of at most microsecond precision, Go's renderings,
//! and durations written as Go writes them (`90s`, `1h30m`).

use std::time::Duration as StdDuration;

use chrono::{DateTime, SubsecRound, Utc};

/// A UTC instant truncated to microseconds, the precision both databases keep and the
/// wire format promises; truncating before storing makes a value read back equal to the
/// value written.
pub fn truncate(instant: DateTime<Utc>) -> DateTime<Utc> {
    instant.trunc_subsecs(6)
}

/// Go's `time.Time.String()` for a UTC instant (`2026-11-28 21:25:23.1234 +0000 UTC`),
/// which Coder prints in some messages: the fraction loses its trailing zeros.
pub fn go_time_string(instant: DateTime<Utc>) -> String {
    let fraction = format!("{:09}", instant.timestamp_subsec_nanos());
    let fraction = fraction.trim_end_matches('0');
    let dot = if fraction.is_empty() { "" } else { "." };
    format!("{}{dot}{fraction} +0000 UTC", instant.format("%Y-%m-%d %H:%M:%S"))
}

/// Go's duration syntax: a sequence of numbers with units `h`, `m`, `s`, `ms` (`1h30m`, `90s`).
pub fn parse_duration(raw: &str) -> Result<StdDuration, String> {
    let invalid = || format!("invalid duration {raw:?}: use a number with a unit, like 90s, 30m or 168h");
    if raw.is_empty() {
        return Err(invalid());
    }
    let mut total = StdDuration::ZERO;
    let mut rest = raw;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(invalid)?;
        let value: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "h" => StdDuration::from_secs(3600),
            "m" => StdDuration::from_secs(60),
            "s" => StdDuration::from_secs(1),
            "ms" => StdDuration::from_millis(1),
            _ => return Err(invalid()),
        };
        total += unit.checked_mul(u32::try_from(value).map_err(|_| invalid())?).ok_or_else(invalid)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn go_time_strings_drop_trailing_zeros() {
        let at = Utc.with_ymd_and_hms(2026, 11, 28, 21, 25, 23).single().unwrap_or_default();
        assert_eq!(go_time_string(at), "2026-11-28 21:25:23 +0000 UTC");
        let at = at + chrono::Duration::microseconds(120_000);
        assert_eq!(go_time_string(at), "2026-11-28 21:25:23.12 +0000 UTC");
    }

    #[test]
    fn truncation_drops_nanoseconds_only() {
        let t = Utc.timestamp_opt(1_700_000_000, 123_456_789).single();
        let t = t.map(truncate).map(|t| t.timestamp_subsec_nanos());
        assert_eq!(t, Some(123_456_000));
    }

    #[test]
    fn durations_read_as_go_writes_them() {
        assert_eq!(parse_duration("90s"), Ok(StdDuration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Ok(StdDuration::from_secs(5400)));
        assert_eq!(parse_duration("168h0m0s"), Ok(StdDuration::from_secs(168 * 3600)));
        assert_eq!(parse_duration("250ms"), Ok(StdDuration::from_millis(250)));
        for bad in ["", "10", "m", "5 minutes", "-1s", "1d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
