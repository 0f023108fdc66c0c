//! Byte counts and times as people write and read them: `10M` or `1.5MiB` on the command line,
//! `1.5 MiB` and `1.5 MiB/s` in the report and the progress display, `2m05s` for an ETA. One
//! definition of what a unit means, both ways, so the report and the display always agree.

/// Binary units, as the output writes them (`K` = `KiB` = 1024).
const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];

/// Parses a byte count as the output writes sizes: `4096`, `500K`, `500KiB`, `1.5M`, `2MiB`,
/// `1G` (binary units: K = 1024; `KB` and a trailing `B` are accepted too, with the same
/// meaning, as curl and wget read them). A fraction is rounded to the nearest byte.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, suffix) = t.split_at(split);
    let shift = match suffix.trim_start().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => {
            return Err(format!(
                "'{s}': unknown unit '{other}' (use K, M, G or KiB, MiB, GiB; 1K = 1024)"
            ));
        }
    };
    let not_a_size = || format!("'{s}' is not a size (examples: 4096, 500K, 1.5M, 2MiB, 1G)");
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(not_a_size());
    }
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let whole: u64 = whole.parse().map_err(|_| not_a_size())?;
    let too_large = || format!("'{s}' is too large");
    let mut bytes = whole.checked_shl(shift).filter(|b| b >> shift == whole);
    if !fraction.is_empty() {
        // Exact enough: a fraction of at most 1 TiB, in f64's 53 bits.
        let part: f64 = format!("0.{fraction}").parse().map_err(|_| not_a_size())?;
        let extra = (part * (1u64 << shift) as f64).round() as u64;
        bytes = bytes.and_then(|b| b.checked_add(extra));
    }
    bytes.ok_or_else(too_large)
}

/// `512 B`, `12.0 KiB`, `3.4 MiB`, `1.0 GiB`: the unit is chosen after rounding, so a value
/// just under a unit reads `1.0 MiB`, never `1024.0 KiB`.
pub fn human_bytes(n: u64) -> String {
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while (value * 10.0).round() >= 10240.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A rate in bytes per second: `3.4 MiB/s`.
pub fn human_rate(bytes_per_sec: f64) -> String {
    format!("{}/s", human_bytes(bytes_per_sec.max(0.0) as u64))
}

/// A duration for an ETA or an elapsed time, to the second: `45s`, `2m05s`, `1h02m`.
pub fn human_secs(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("500K"), Ok(500 * 1024));
        assert_eq!(parse_size("10m"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert!(parse_size("").is_err());
        assert!(parse_size("K").is_err());
        assert!(parse_size("10X").unwrap_err().contains("unknown unit"));
        assert!(parse_size("-1").is_err());
        assert!(parse_size("1..5M").is_err());
        assert!(parse_size(".5M").is_err());
        assert!(parse_size("5.M").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
        assert!(
            parse_size("18014398509481984G")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn parsing_reads_what_the_output_writes() {
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        assert_eq!(parse_size("1.5M"), Ok(3 << 19));
        assert_eq!(parse_size("1.5 MiB"), Ok(3 << 19));
        assert_eq!(parse_size("12.0 KiB"), Ok(12 * 1024));
        assert_eq!(parse_size("0.5k"), Ok(512));
        assert_eq!(parse_size("1KB"), Ok(1024));
        assert_eq!(parse_size("100B"), Ok(100));
        assert_eq!(parse_size("1.0 GiB"), Ok(1 << 30));
        // Everything the display prints reads back as (nearly) the same number.
        for n in [1, 1023, 1024, 1536 * 1024, 5 << 30, 123_456_789] {
            let back = parse_size(&human_bytes(n)).unwrap();
            assert!(back.abs_diff(n) <= n / 20 + 1, "{n} -> {}", human_bytes(n));
        }
    }

    #[test]
    fn printing() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.0 KiB");
        assert_eq!(human_bytes(1536 * 1024), "1.5 MiB");
        assert_eq!(human_bytes(1 << 30), "1.0 GiB");
        // Just under a unit rounds up into it.
        assert_eq!(human_bytes((1 << 20) - 1), "1.0 MiB");
        assert_eq!(human_bytes(1_048_000), "1023.4 KiB");
        assert_eq!(human_rate(1_048_575.0), "1.0 MiB/s");
        assert_eq!(human_rate(-3.0), "0 B/s");
    }

    #[test]
    fn durations() {
        assert_eq!(human_secs(0.4), "0s");
        assert_eq!(human_secs(59.4), "59s");
        assert_eq!(human_secs(125.0), "2m05s");
        assert_eq!(human_secs(3720.0), "1h02m");
    }
}
