//! A JSON value and its serialisation: all `--json` output goes through it
//! (objects keep their insertion order, so output is stable).

use std::fmt::Write;

/// A JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An unsigned integer.
    U(u64),
    /// A signed integer.
    I(i64),
    /// A float (non-finite values are written as `null`).
    F(f64),
    /// A string.
    S(String),
    /// An array.
    A(Vec<Json>),
    /// An object, in insertion order.
    O(Vec<(String, Json)>),
}

impl Json {
    /// An empty object.
    pub fn obj() -> Json {
        Json::O(Vec::new())
    }

    /// Adds `key: value` to an object (builder style).
    pub fn with(mut self, key: &str, value: impl Into<Json>) -> Json {
        if let Json::O(fields) = &mut self {
            fields.push((key.to_string(), value.into()));
        }
        self
    }

    /// Serialises on one line.
    pub fn line(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::U(n) => {
                let _ = write!(out, "{n}");
            }
            Json::I(n) => {
                let _ = write!(out, "{n}");
            }
            Json::F(x) if x.is_finite() => {
                // Rust prints `1` for 1.0; JSON accepts either.
                let _ = write!(out, "{x}");
            }
            Json::F(_) => out.push_str("null"),
            Json::S(s) => write_str(out, s),
            Json::A(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Json::O(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(out, k);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl From<u64> for Json {
    fn from(n: u64) -> Json {
        Json::U(n)
    }
}
impl From<u32> for Json {
    fn from(n: u32) -> Json {
        Json::U(n.into())
    }
}
impl From<u16> for Json {
    fn from(n: u16) -> Json {
        Json::U(n.into())
    }
}
impl From<u8> for Json {
    fn from(n: u8) -> Json {
        Json::U(n.into())
    }
}
impl From<usize> for Json {
    fn from(n: usize) -> Json {
        Json::U(n as u64)
    }
}
impl From<i64> for Json {
    fn from(n: i64) -> Json {
        Json::I(n)
    }
}
impl From<f64> for Json {
    fn from(x: f64) -> Json {
        Json::F(x)
    }
}
impl From<bool> for Json {
    fn from(b: bool) -> Json {
        Json::Bool(b)
    }
}
impl From<&str> for Json {
    fn from(s: &str) -> Json {
        Json::S(s.to_string())
    }
}
impl From<String> for Json {
    fn from(s: String) -> Json {
        Json::S(s)
    }
}
impl<T: Into<Json>> From<Option<T>> for Json {
    fn from(v: Option<T>) -> Json {
        v.map_or(Json::Null, Into::into)
    }
}
impl From<Vec<Json>> for Json {
    fn from(v: Vec<Json>) -> Json {
        Json::A(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises() {
        let v = Json::obj()
            .with("a", 1u64)
            .with("b", "q\"\\\n\u{1}é")
            .with("c", vec![Json::Null, Json::Bool(true), Json::I(-2)])
            .with("d", f64::NAN)
            .with("e", 0.5)
            .with("f", None::<u64>);
        assert_eq!(
            v.line(),
            r#"{"a":1,"b":"q\"\\\n\u0001é","c":[null,true,-2],"d":null,"e":0.5,"f":null}"#
        );
    }
}
