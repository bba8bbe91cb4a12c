//! Sizes (`"512m"`, `"1.5gb"`) and durations (`"1m30s"`) as Compose parses them
//! (docker/go-units `RAMInBytes` and Go's `time.ParseDuration`).

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// Parses a byte size: a plain number of bytes, or a number with a binary unit
/// `b`, `k`/`kb`, `m`/`mb`, `g`/`gb`, `t`/`tb`, `p`/`pb` (any case; 1k = 1024).
pub fn parse_size(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num
        .parse()
        .map_err(|_| format!("invalid size {s:?}: expected a number with an optional unit"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024f64.powi(4),
        "p" | "pb" | "pib" => 1024f64.powi(5),
        other => return Err(format!("invalid size {s:?}: unknown unit {other:?}")),
    };
    Ok((num * mult) as i64)
}

/// Parses a Go duration string such as `"1h2m3.5s"`, `"300ms"` or `"10us"`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let err = |why: &str| format!("invalid duration {s:?}: {why}");
    let mut rest = s.trim();
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(err("empty"));
    }
    if rest.starts_with('-') {
        return Err(err("negative durations are not allowed"));
    }
    rest = rest.strip_prefix('+').unwrap_or(rest);
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| err("missing unit (use ns, us, ms, s, m or h)"))?;
        if n == 0 {
            return Err(err("expected a number"));
        }
        let value: f64 = rest[..n].parse().map_err(|_| err("bad number"))?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            other => return Err(err(&format!("unknown unit {other:?}"))),
        };
        total += value * nanos_per;
        rest = &rest[u..];
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

/// Formats a duration as Go's `time.Duration.String()` does (`"1m30s"`, `"1h0m0s"`, `"500ms"`).
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000_000_000 {
        let (unit, div) = if nanos < 1_000 {
            ("ns", 1u128)
        } else if nanos < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", trim_fraction(nanos, div));
    }
    let secs_total = nanos / 1_000_000_000;
    let h = secs_total / 3600;
    let m = (secs_total % 3600) / 60;
    let s = trim_fraction(nanos % 60_000_000_000, 1_000_000_000);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

fn trim_fraction(value: u128, div: u128) -> String {
    let whole = value / div;
    let frac = value % div;
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let f = format!("{frac:0width$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

/// A size written as a number or a string with a unit.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawSize {
    Int(i64),
    Float(f64),
    Str(String),
}

fn size_from(raw: RawSize) -> Result<i64, String> {
    match raw {
        RawSize::Int(i) => Ok(i),
        RawSize::Float(f) => Ok(f as i64),
        RawSize::Str(s) => parse_size(&s),
    }
}

/// serde helpers for `Option<i64>` sizes.
pub mod size_opt {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match Option::<RawSize>::deserialize(d)? {
            None => Ok(None),
            Some(raw) => size_from(raw).map(Some).map_err(serde::de::Error::custom),
        }
    }

    pub fn serialize<S: Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_i64(*v),
            None => s.serialize_none(),
        }
    }
}

/// serde helpers for `Option<Duration>` written as Go duration strings.
pub mod duration_opt {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => parse_duration(&s)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }

    pub fn serialize<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.serialize_str(&format_duration(*d)),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let cases: &[(&str, i64)] = &[
            ("0", 0),
            ("1024", 1024),
            ("1b", 1),
            ("1k", 1024),
            ("1kb", 1024),
            ("512m", 512 << 20),
            ("512M", 512 << 20),
            ("1g", 1 << 30),
            ("1.5gb", 3 << 29),
            ("2GB", 2 << 30),
            ("1t", 1 << 40),
            ("-1", -1),
        ];
        for (input, want) in cases {
            assert_eq!(parse_size(input), Ok(*want), "{input}");
        }
        for bad in ["", "abc", "1x", "1.2.3m"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        let cases: &[(&str, u64, &str)] = &[
            ("10s", 10_000, "10s"),
            ("1m30s", 90_000, "1m30s"),
            ("1h", 3_600_000, "1h0m0s"),
            ("1.5s", 1_500, "1.5s"),
            ("500ms", 500, "500ms"),
            ("2h45m", 9_900_000, "2h45m0s"),
            ("0", 0, "0s"),
        ];
        for (input, ms, out) in cases {
            let d = parse_duration(input).unwrap();
            assert_eq!(d, Duration::from_millis(*ms), "{input}");
            assert_eq!(format_duration(d), *out);
            assert_eq!(parse_duration(out).unwrap(), d);
        }
        assert_eq!(format_duration(Duration::from_micros(10)), "10µs");
        for bad in ["", "10", "1x", "-1s", "s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
