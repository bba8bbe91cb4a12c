//! Small value parsers with Go's semantics: durations (`time.ParseDuration`),
//! booleans (`strconv.ParseBool`), unsigned integers in a base
//! (`strconv.ParseUint`) and memory sizes (`go-units.RAMInBytes`).
//!
//! Dockerfile flags are interpreted by Go code in BuildKit, so values such as
//! `--interval=1m30s` or `size=64m` must be read exactly as Go reads them.

use std::time::Duration;

/// A value that could not be parsed; the message is Go's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct UnitError {
    /// Human readable reason, worded as Go's standard library words it.
    pub message: String,
}

impl UnitError {
    fn new(message: String) -> Self {
        Self { message }
    }
}

/// Parses a Go duration string ("300ms", "-1.5h", "2h45m", "0") into signed
/// nanoseconds, as Go's `time.ParseDuration` does.
///
/// Valid units are "ns", "us" (or "µs"/"μs"), "ms", "s", "m", "h".
pub fn parse_go_duration_nanos(s: &str) -> Result<i128, UnitError> {
    let invalid = || UnitError::new(format!("time: invalid duration {}", go_quote(s)));
    let mut rest = s;
    let mut neg = false;
    if let Some(r) = rest.strip_prefix('-') {
        neg = true;
        rest = r;
    } else if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    }
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        // Integer part.
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        // Fraction.
        let mut frac_part = "";
        if let Some(r) = rest.strip_prefix('.') {
            let frac_len = r.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &r[..frac_len];
            rest = &r[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            // No digits at all (e.g. ".s" or "s").
            return Err(invalid());
        }
        // Unit.
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        if unit_len == 0 {
            return Err(UnitError::new(format!(
                "time: missing unit in duration {}",
                go_quote(s)
            )));
        }
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3600 * 1_000_000_000,
            _ => {
                return Err(UnitError::new(format!(
                    "time: unknown unit {} in duration {}",
                    go_quote(unit),
                    go_quote(s)
                )))
            }
        };
        let int_val: i128 = if int_part.is_empty() {
            0
        } else {
            // Bound the digits so that the multiplication cannot overflow i128.
            if int_part.len() > 30 {
                return Err(invalid());
            }
            int_part.parse::<i128>().map_err(|_| invalid())?
        };
        let mut value = int_val.checked_mul(scale).ok_or_else(invalid)?;
        if !frac_part.is_empty() {
            // Only the digits that still matter at nanosecond precision.
            let digits: String = frac_part.chars().take(18).collect();
            let frac: i128 = digits.parse::<i128>().map_err(|_| invalid())?;
            let denom = 10i128.pow(digits.len() as u32);
            value += frac * scale / denom;
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
        // Go rejects anything that does not fit an int64 of nanoseconds.
        if total > i64::MAX as i128 + 1 {
            return Err(invalid());
        }
    }
    if !neg && total > i64::MAX as i128 {
        return Err(invalid());
    }
    Ok(if neg { -total } else { total })
}

/// Parses a Go duration that must not be negative.
pub fn parse_go_duration(s: &str) -> Result<Duration, UnitError> {
    let n = parse_go_duration_nanos(s)?;
    if n < 0 {
        return Err(UnitError::new(format!(
            "time: negative duration {}",
            go_quote(s)
        )));
    }
    let n = u64::try_from(n)
        .map_err(|_| UnitError::new(format!("time: invalid duration {}", go_quote(s))))?;
    Ok(Duration::from_nanos(n))
}

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(s: &str) -> Result<bool, UnitError> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(UnitError::new(format!(
            "strconv.ParseBool: parsing {}: invalid syntax",
            go_quote(s)
        ))),
    }
}

/// Go's `strconv.ParseUint(s, radix, bits)` for radix 8 or 10 and bits ≤ 64.
pub fn parse_go_uint(s: &str, radix: u32, bits: u32) -> Result<u64, UnitError> {
    let syntax = || {
        UnitError::new(format!(
            "strconv.ParseUint: parsing {}: invalid syntax",
            go_quote(s)
        ))
    };
    if s.is_empty() || !s.chars().all(|c| c.is_digit(radix) || c == '_') {
        return Err(syntax());
    }
    // Go only allows underscores with a base prefix (radix 0), so reject them.
    if s.contains('_') {
        return Err(syntax());
    }
    let v = u64::from_str_radix(s, radix).map_err(|_| {
        UnitError::new(format!(
            "strconv.ParseUint: parsing {}: value out of range",
            go_quote(s)
        ))
    })?;
    if bits < 64 && v >> bits != 0 {
        return Err(UnitError::new(format!(
            "strconv.ParseUint: parsing {}: value out of range",
            go_quote(s)
        )));
    }
    Ok(v)
}

/// Go's `strconv.ParseInt(s, 10, 32)`.
pub fn parse_go_int32(s: &str) -> Result<i64, UnitError> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UnitError::new(format!(
            "strconv.ParseInt: parsing {}: invalid syntax",
            go_quote(s)
        )));
    }
    let range = || {
        UnitError::new(format!(
            "strconv.ParseInt: parsing {}: value out of range",
            go_quote(s)
        ))
    };
    let v: i64 = s.parse().map_err(|_| range())?;
    if v < i32::MIN as i64 || v > i32::MAX as i64 {
        return Err(range());
    }
    Ok(v)
}

/// `go-units.RAMInBytes`: "64m", "1.5g", "512 KiB", "1024" → bytes, with
/// binary (1024) multipliers.
pub fn parse_ram_in_bytes(s: &str) -> Result<i64, UnitError> {
    let invalid = || UnitError::new(format!("invalid size: '{s}'"));
    let num_len = {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == 0 {
            return Err(invalid());
        }
        // (\.\d+)*
        loop {
            if i < b.len() && b[i] == b'.' {
                let mut j = i + 1;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                if j == i + 1 {
                    break;
                }
                i = j;
            } else {
                break;
            }
        }
        i
    };
    let num_str = &s[..num_len];
    let mut suffix = &s[num_len..];
    if let Some(r) = suffix.strip_prefix(' ') {
        suffix = r;
    }
    let mut chars = suffix.chars().peekable();
    let mut mul: f64 = 1.0;
    if let Some(&c) = chars.peek() {
        let m = match c.to_ascii_lowercase() {
            'k' => Some(1024f64),
            'm' => Some(1024f64.powi(2)),
            'g' => Some(1024f64.powi(3)),
            't' => Some(1024f64.powi(4)),
            'p' => Some(1024f64.powi(5)),
            _ => None,
        };
        if let Some(m) = m {
            mul = m;
            chars.next();
        }
    }
    if matches!(chars.peek(), Some('i' | 'I')) {
        chars.next();
    }
    if matches!(chars.peek(), Some('b' | 'B')) {
        chars.next();
    }
    if chars.next().is_some() {
        return Err(invalid());
    }
    // Go's ParseFloat accepts "1.2" but not "1.2.3"; the regexp allows the latter.
    let num: f64 = num_str.parse().map_err(|_| invalid())?;
    let v = num * mul;
    if !v.is_finite() || v > i64::MAX as f64 {
        return Err(invalid());
    }
    Ok(v as i64)
}

/// Quotes a string the way Go's `%q` does for printable text.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let ok = [
            ("0", 0i128),
            ("30s", 30_000_000_000),
            ("1m30s", 90_000_000_000),
            ("500ms", 500_000_000),
            ("1.5h", 5_400_000_000_000),
            ("-2s", -2_000_000_000),
            ("1h2m3s4ms5us6ns", 3_723_004_005_006),
            ("3µs", 3_000),
            (".5s", 500_000_000),
            ("1.s", 1_000_000_000),
        ];
        for (s, want) in ok {
            assert_eq!(parse_go_duration_nanos(s).unwrap(), want, "{s}");
        }
        for bad in [
            "",
            "30",
            "s",
            "1x",
            "-",
            ".",
            "1.5.5s",
            "99999999999999999999h",
        ] {
            assert!(parse_go_duration_nanos(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_go_duration("10").unwrap_err().to_string(),
            "time: missing unit in duration \"10\""
        );
    }

    #[test]
    fn ram() {
        assert_eq!(parse_ram_in_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_ram_in_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(parse_ram_in_bytes("1.5k").unwrap(), 1536);
        assert_eq!(parse_ram_in_bytes("2 GiB").unwrap(), 2 << 30);
        assert_eq!(parse_ram_in_bytes("3Kb").unwrap(), 3072);
        for bad in ["", "m", "12x", "-1", "1 2"] {
            assert!(parse_ram_in_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ints_and_bools() {
        assert_eq!(parse_go_uint("0755", 8, 32).unwrap(), 0o755);
        assert!(parse_go_uint("8", 8, 32).is_err());
        assert!(parse_go_uint("4294967296", 10, 32).is_err());
        assert_eq!(parse_go_int32("-3").unwrap(), -3);
        assert!(parse_go_int32("x").is_err());
        assert!(parse_go_bool("True").unwrap());
        assert!(!parse_go_bool("0").unwrap());
        assert!(parse_go_bool("yes").is_err());
    }
}
