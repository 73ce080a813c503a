//! Sizes in parameters: a plain number of bytes, or a number with a unit
//! (`64 MiB`, `5MB`), because `67108864` means nothing to a reader.

use serde::Deserialize;

/// A size as written in a runbook.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ByteSize {
    Bytes(u64),
    Text(String),
}

impl ByteSize {
    /// The size in bytes, or what is wrong with the text.
    pub fn bytes(&self) -> Result<u64, String> {
        match self {
            ByteSize::Bytes(n) => Ok(*n),
            ByteSize::Text(t) => parse(t),
        }
    }
}

/// Parses `123`, `64KiB`, `64 MiB`, `1GiB`, `5MB` (decimal units are
/// powers of 1000, binary ones powers of 1024).
pub fn parse(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size; write e.g. `64 MiB` or `67108864`"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1000 * 1000,
        "mib" => 1 << 20,
        "g" | "gb" => 1000 * 1000 * 1000,
        "gib" => 1 << 30,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`; use B, KiB, MiB, GiB, KB, MB or GB"
            ))
        }
    };
    Ok((number * factor as f64).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse() {
        assert_eq!(parse("64 MiB").unwrap(), 64 << 20);
        assert_eq!(parse("5MB").unwrap(), 5_000_000);
        assert_eq!(parse("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse("42").unwrap(), 42);
        assert!(parse("lots").unwrap_err().contains("not a size"));
        assert!(parse("3 parsecs").unwrap_err().contains("unknown unit"));
    }
}
