//! Time as the API carries it: UTC, at most microsecond precision.

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
}
