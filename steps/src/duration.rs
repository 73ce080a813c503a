//! Durations as runbooks write them: `500ms`, `30s`, `5m`, `1h30m`, `2d`.

use std::time::Duration;

/// Parses a duration, with a message that shows the accepted forms.
pub fn parse(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty duration; write e.g. `30s`, `5m` or `1h30m`".into());
    }
    humantime::parse_duration(trimmed).map_err(|_| {
        format!("invalid duration `{trimmed}`; write e.g. `500ms`, `30s`, `5m` or `1h30m`")
    })
}

/// Parses a duration as Go prints one (`time.Duration.String()`), as
/// Vault's and OpenBao's APIs report them: `0s`, `850ms`, `12.5s`,
/// `1m2.3s`, `1h0m5s`, `1.2µs`.
pub fn parse_go(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}` is not a Go duration (like `850ms`, `12.5s` or `1m2.3s`)");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let number: f64 = rest[..number_len].parse().map_err(|_| bad())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e-6,
            "ns" => 1e-9,
            _ => return Err(bad()),
        };
        total += number * seconds;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_secs_f64(total))
}

/// Formats a duration compactly for people: `1h02m`, `4m05s`, `12.3s`, `850ms`.
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    if secs < 60 {
        return format!("{:.1}s", d.as_secs_f64());
    }
    if secs < 3600 {
        return format!("{}m{:02}s", secs / 60, secs % 60);
    }
    format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(parse("soon").unwrap_err().contains("`soon`"));
        assert!(parse("").is_err());
    }

    #[test]
    fn parses_go_durations_as_vault_reports_them() {
        assert_eq!(parse_go("0s").unwrap(), Duration::ZERO);
        assert_eq!(parse_go("850ms").unwrap(), Duration::from_millis(850));
        assert_eq!(parse_go("12.5s").unwrap(), Duration::from_millis(12_500));
        assert_eq!(parse_go("1m2.5s").unwrap(), Duration::from_millis(62_500));
        assert_eq!(parse_go("1h0m5s").unwrap(), Duration::from_secs(3605));
        assert_eq!(parse_go("1.5\u{b5}s").unwrap(), Duration::from_nanos(1500));
        for bad in ["", "12", "5x", "s", "1..2s"] {
            assert!(parse_go(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_for_people() {
        assert_eq!(format(Duration::from_millis(850)), "850ms");
        assert_eq!(format(Duration::from_secs(245)), "4m05s");
        assert_eq!(format(Duration::from_secs(3720)), "1h02m");
    }
}
