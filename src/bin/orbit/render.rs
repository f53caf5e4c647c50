//! Rendering for people: aligned tables, ages, rates, sizes, timestamps, and
//! payloads shown as text when they are printable UTF-8, else as hex.

use std::fmt::Write;

use crate::json::Json;

/// A table with a header row; numeric-looking columns are right-aligned.
pub struct Table {
    head: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(head: &[&'static str]) -> Table {
        Table {
            head: head.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (as many cells as titles).
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.head.len());
        self.rows.push(cells);
    }

    /// The table, each line indented by `indent` spaces and ending in `\n`.
    pub fn render(&self, indent: usize) -> String {
        let n = self.head.len();
        let mut width: Vec<usize> = self.head.iter().map(|h| h.chars().count()).collect();
        let mut numeric = vec![true; n];
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                width[i] = width[i].max(c.chars().count());
                numeric[i] &= looks_numeric(c);
            }
        }
        let mut out = String::new();
        let mut line = |cells: &[String]| {
            let mut l = " ".repeat(indent);
            for (i, c) in cells.iter().enumerate().take(n) {
                let pad = width[i].saturating_sub(c.chars().count());
                let last = i + 1 == n;
                if numeric[i] && !self.rows.is_empty() {
                    l.push_str(&" ".repeat(pad));
                    l.push_str(c);
                } else {
                    l.push_str(c);
                    if !last {
                        l.push_str(&" ".repeat(pad));
                    }
                }
                if !last {
                    l.push_str("  ");
                }
            }
            out.push_str(l.trim_end());
            out.push('\n');
        };
        line(&self.head.iter().map(|h| h.to_string()).collect::<Vec<_>>());
        for r in &self.rows {
            line(r);
        }
        out
    }
}

fn looks_numeric(s: &str) -> bool {
    s == "-"
        || s.chars().next().is_some_and(|c| c.is_ascii_digit())
            && s.chars()
                .all(|c| c.is_ascii_digit() || ".,%kMGTiB /smhd".contains(c))
}

/// An age in ms as `850ms`, `3.2s`, `5m12s`, `2h03m`, `3d04h`.
pub fn age(ms: u64) -> String {
    let s = ms / 1000;
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m{:02}s", s / 60, s % 60),
        3_600_000..86_400_000 => format!("{}h{:02}m", s / 3600, s / 60 % 60),
        _ => format!("{}d{:02}h", s / 86_400, s / 3600 % 24),
    }
}

/// How long ago `at_ms` (Unix ms) was, as of `now_ms`; `-` for 0 (never).
pub fn ago(now_ms: u64, at_ms: u64) -> String {
    if at_ms == 0 {
        return "-".into();
    }
    format!("{} ago", age(now_ms.saturating_sub(at_ms)))
}

/// A count with SI suffixes: `950`, `12.3k`, `4.56M`, `1.20G`.
pub fn si(x: f64) -> String {
    let a = x.abs();
    if a < 1000.0 {
        if x.fract() == 0.0 {
            format!("{x:.0}")
        } else {
            format!("{x:.1}")
        }
    } else if a < 1e6 {
        format!("{:.1}k", x / 1e3)
    } else if a < 1e9 {
        format!("{:.2}M", x / 1e6)
    } else {
        format!("{:.2}G", x / 1e9)
    }
}

/// A size in bytes: `512 B`, `4.0 KiB`, `1.5 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// Unix ms as RFC 3339 UTC with milliseconds (`2024-05-01T12:00:00.123Z`).
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (h, m, s) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{:03}Z",
        ms % 1000
    )
}

/// `bytes` as text, when it is UTF-8 without control characters other than
/// tab, newline and carriage return.
pub fn printable(bytes: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(bytes).ok()?;
    s.chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
        .then_some(s)
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Parses hex (an optional `0x`, even length), as `--hex` arguments are given.
pub fn unhex(s: &str) -> Result<Vec<u8>, String> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    if s.len() % 2 != 0 {
        return Err("hex needs an even number of digits".into());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or_else(|| format!("{:?} is not hex", s))
        })
        .collect()
}

/// A payload on one line: `"text"` (with `\n`, `\r`, `\t`, `"` and `\`
/// escaped) when printable, else `0x` and hex.
pub fn payload(bytes: &[u8]) -> String {
    match printable(bytes) {
        Some(s) => {
            let mut out = String::with_capacity(s.len() + 2);
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        None => format!("0x{}", hex(bytes)),
    }
}

/// A key or name for a table cell: as is when printable on one line, else
/// `0x` and hex.
pub fn key(bytes: &[u8]) -> String {
    match printable(bytes) {
        Some(s) if !s.contains(['\n', '\r', '\t']) && !s.starts_with("0x") => s.to_string(),
        _ => format!("0x{}", hex(bytes)),
    }
}

/// JSON fields describing binary data: `text` (when printable) and `hex`.
pub fn bytes_json(obj: Json, field: &str, data: &[u8]) -> Json {
    obj.with(field, printable(data).map(str::to_string))
        .with(&format!("{field}_hex"), hex(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(age(850), "850ms");
        assert_eq!(age(3_250), "3.2s");
        assert_eq!(age(312_000), "5m12s");
        assert_eq!(age(2 * 3_600_000 + 180_000), "2h03m");
        assert_eq!(age(3 * 86_400_000 + 4 * 3_600_000), "3d04h");
        assert_eq!(si(950.0), "950");
        assert_eq!(si(12_345.0), "12.3k");
        assert_eq!(si(4_560_000.0), "4.56M");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(1_709_251_199_999), "2024-02-29T23:59:59.999Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn payloads() {
        assert_eq!(payload(b"order \"42\"\n"), r#""order \"42\"\n""#);
        assert_eq!(payload(&[0, 1, 0xff]), "0x0001ff");
        assert_eq!(payload(&[0xc3]), "0xc3", "invalid UTF-8 is hex");
        assert_eq!(payload("é".as_bytes()), "\"é\"");
        assert_eq!(key(b"user:1"), "user:1");
        assert_eq!(key(b"0x12"), "0x30783132", "no ambiguity with hex");
        assert_eq!(unhex("0x0a0B").unwrap(), [10, 11]);
        assert!(unhex("abc").is_err());
        assert!(unhex("zz").is_err());
        assert!(unhex("é1").is_err());
    }

    #[test]
    fn tables_align() {
        let mut t = Table::new(&["NAME", "N"]);
        t.row(vec!["a".into(), "5".into()]);
        t.row(vec!["long".into(), "1234".into()]);
        assert_eq!(t.render(2), "  NAME     N\n  a        5\n  long  1234\n");
    }
}
