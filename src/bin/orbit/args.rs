//! Command-line parsing, by hand: every command is a [`Spec`] (usage line,
//! positional count, options with their help), so `--help` exists for each one
//! and is generated from the same table the parser reads.
//!
//! Accepted forms: `--opt value`, `--opt=value`, flags without a value,
//! `-h`/`--help` anywhere, and `--` to end the options (a positional that
//! starts with `-` goes after it).

use std::time::Duration;

use crate::fail::CliError;

/// One option of a command.
pub struct Opt {
    /// Long name without the dashes.
    pub long: &'static str,
    /// Placeholder of its value; `None` for a flag.
    pub value: Option<&'static str>,
    /// One line of help.
    pub help: &'static str,
}

/// A command's grammar and help.
pub struct Spec {
    /// Words after `orbit` (`"cache get"`).
    pub name: &'static str,
    /// Positional placeholders after the name (`"<fleet> [name]"`).
    pub args: &'static str,
    /// Fewest and most positionals.
    pub arity: (usize, usize),
    /// One line: what it does.
    pub about: &'static str,
    /// Options.
    pub opts: &'static [Opt],
    /// More help after the options (may be empty).
    pub details: &'static str,
}

/// What the parser made of a command line.
pub enum Parsed {
    /// `--help` was asked for.
    Help,
    /// The positionals and options.
    Run(Matches),
}

/// Positionals and options of one invocation.
#[derive(Debug, Default)]
pub struct Matches {
    /// Positional arguments in order.
    pub pos: Vec<String>,
    opts: Vec<(&'static str, Option<String>)>,
    command: &'static str,
}

impl Spec {
    /// The help text (`orbit <name> --help`).
    pub fn help(&self) -> String {
        let mut s = format!(
            "{}\n\nUsage: orbit {} {}{}\n",
            self.about,
            self.name,
            self.args,
            if self.opts.is_empty() {
                ""
            } else {
                " [options]"
            }
        );
        if !self.opts.is_empty() {
            s.push_str("\nOptions:\n");
            let shown: Vec<String> = self
                .opts
                .iter()
                .map(|o| match o.value {
                    Some(v) => format!("--{} {v}", o.long),
                    None => format!("--{}", o.long),
                })
                .collect();
            let width = shown.iter().map(|s| s.len()).max().unwrap_or(0).max(10);
            for (o, shown) in self.opts.iter().zip(&shown) {
                s.push_str(&format!("  {shown:width$}  {}\n", o.help));
            }
            s.push_str(&format!("  {:width$}  show this help\n", "-h, --help"));
        } else {
            s.push_str("\nOptions:\n  -h, --help  show this help\n");
        }
        if !self.details.is_empty() {
            s.push('\n');
            s.push_str(self.details.trim_end());
            s.push('\n');
        }
        s
    }

    fn usage_error(&self, msg: impl std::fmt::Display) -> CliError {
        CliError::usage(format!("{msg} (see `orbit {} --help`)", self.name))
    }

    /// Parses the words after the command name.
    pub fn parse(&'static self, words: &[String]) -> Result<Parsed, CliError> {
        let mut m = Matches {
            command: self.name,
            ..Matches::default()
        };
        let mut it = words.iter();
        let mut only_positionals = false;
        while let Some(w) = it.next() {
            let negative_number = w.len() > 1 && w[1..].parse::<f64>().is_ok();
            if only_positionals || w == "-" || !w.starts_with('-') || negative_number {
                m.pos.push(w.clone());
                continue;
            }
            if w == "--" {
                only_positionals = true;
                continue;
            }
            if w == "-h" || w == "--help" {
                return Ok(Parsed::Help);
            }
            let Some(body) = w.strip_prefix("--") else {
                return Err(self.usage_error(format!("unknown option {w}")));
            };
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let Some(opt) = self.opts.iter().find(|o| o.long == name) else {
                return Err(self.usage_error(format!("unknown option --{name}")));
            };
            let value = match (opt.value, inline) {
                (None, None) => None,
                (None, Some(_)) => {
                    return Err(self.usage_error(format!("--{name} takes no value")));
                }
                (Some(_), Some(v)) => Some(v),
                (Some(meta), None) => match it.next() {
                    Some(v) => Some(v.clone()),
                    None => {
                        return Err(self.usage_error(format!("--{name} needs a value {meta}")));
                    }
                },
            };
            if m.opts.iter().any(|(n, _)| *n == opt.long) {
                return Err(self.usage_error(format!("--{name} given twice")));
            }
            m.opts.push((opt.long, value));
        }
        let (min, max) = self.arity;
        if m.pos.len() < min {
            return Err(self.usage_error(format!("missing arguments: expected {}", self.args)));
        }
        if m.pos.len() > max {
            return Err(self.usage_error(format!(
                "unexpected argument {:?}: expected {}",
                m.pos[max], self.args
            )));
        }
        Ok(Parsed::Run(m))
    }
}

impl Matches {
    /// Whether a flag (or an option with a value) was given.
    pub fn flag(&self, long: &str) -> bool {
        self.opts.iter().any(|(n, _)| *n == long)
    }

    /// The value of an option.
    pub fn value(&self, long: &str) -> Option<&str> {
        self.opts
            .iter()
            .find(|(n, _)| *n == long)
            .and_then(|(_, v)| v.as_deref())
    }

    /// The positional at `i`, if given.
    pub fn positional(&self, i: usize) -> Option<&str> {
        self.pos.get(i).map(String::as_str)
    }

    fn bad_value(&self, long: &str, v: &str, what: &str) -> CliError {
        CliError::usage(format!(
            "--{long} {v:?}: {what} (see `orbit {} --help`)",
            self.command
        ))
    }

    /// A non-negative integer option.
    pub fn count(&self, long: &str) -> Result<Option<u64>, CliError> {
        self.value(long)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| self.bad_value(long, v, "expected a whole number"))
            })
            .transpose()
    }

    /// A duration option (see [`parse_duration`]).
    pub fn duration(&self, long: &str) -> Result<Option<Duration>, CliError> {
        self.value(long)
            .map(|v| parse_duration(v).map_err(|e| self.bad_value(long, v, &e)))
            .transpose()
    }

    /// An option whose value is one of `choices`.
    pub fn choice(
        &self,
        long: &str,
        choices: &[&'static str],
    ) -> Result<Option<&'static str>, CliError> {
        self.value(long)
            .map(|v| {
                choices.iter().copied().find(|c| *c == v).ok_or_else(|| {
                    self.bad_value(long, v, &format!("expected one of {}", choices.join(", ")))
                })
            })
            .transpose()
    }

    /// Fails when two options that exclude each other were both given.
    pub fn exclusive(&self, a: &str, b: &str) -> Result<(), CliError> {
        if self.flag(a) && self.flag(b) {
            return Err(CliError::usage(format!(
                "--{a} and --{b} exclude each other (see `orbit {} --help`)",
                self.command
            )));
        }
        Ok(())
    }
}

/// Parses `1.5`, `250ms`, `2s`, `5m`, `1h` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" => 1e-6,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("unknown unit {unit:?}; use ms, s, m or h")),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| "expected a duration such as 500ms, 2s, 1.5, 5m".to_string())?;
    let secs = n * scale;
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err("duration out of range".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    static SPEC: Spec = Spec {
        name: "t",
        args: "<a> [b]",
        arity: (1, 2),
        about: "test",
        opts: &[
            Opt {
                long: "json",
                value: None,
                help: "json",
            },
            Opt {
                long: "count",
                value: Some("N"),
                help: "n",
            },
        ],
        details: "",
    };

    fn words(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    fn run(s: &[&str]) -> Result<Matches, CliError> {
        match SPEC.parse(&words(s))? {
            Parsed::Run(m) => Ok(m),
            Parsed::Help => panic!("help"),
        }
    }

    #[test]
    fn forms() {
        let m = run(&["x", "--json", "--count", "3"]).unwrap();
        assert_eq!(m.pos, ["x"]);
        assert!(m.flag("json"));
        assert_eq!(m.count("count").unwrap(), Some(3));
        let m = run(&["--count=4", "x", "--", "-y"]).unwrap();
        assert_eq!(m.pos, ["x", "-y"]);
        assert_eq!(run(&["x", "-5"]).unwrap().pos, ["x", "-5"]);
        assert_eq!(m.count("count").unwrap(), Some(4));
        assert!(matches!(
            SPEC.parse(&words(&["--nope", "-h"])),
            Err(_) | Ok(Parsed::Help)
        ));
        assert!(matches!(SPEC.parse(&words(&["x", "-h"])), Ok(Parsed::Help)));
    }

    #[test]
    fn errors_are_usage_errors() {
        for bad in [
            &["x", "--nope"][..],
            &["x", "--count"],
            &["x", "--json=1"],
            &["x", "--json", "--json"],
            &[],
            &["x", "y", "z"],
            &["x", "-j"],
        ] {
            let e = run(bad).unwrap_err();
            assert_eq!(e.code, crate::fail::USAGE, "{bad:?}");
        }
        let m = run(&["x", "--count", "-1"]).unwrap();
        assert_eq!(m.count("count").unwrap_err().code, crate::fail::USAGE);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        for bad in ["", "x", "1d", "-1", "1e400", "..", "1.2.3s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
