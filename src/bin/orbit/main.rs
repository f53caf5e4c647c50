//! `orbit`: the command line of orbit — list, inspect, follow, edit and clean
//! fleets in shared memory. Built and installed with the library; uses only
//! its Rust API (not the C ABI).

mod args;
mod bench;
mod cache;
mod clean;
mod fail;
mod inventory;
mod json;
mod ls;
mod members;
mod out;
mod prometheus;
mod render;
mod signal;
mod stat;
mod tail;
mod top;

use std::process::ExitCode;

use args::{Matches, Parsed, Spec};
use fail::{CliError, CliResult};
use out::Out;

type Run = fn(&Matches, &mut Out) -> CliResult;

/// Every command: its words, grammar and entry point.
const COMMANDS: [(&Spec, Run); 12] = [
    (&ls::SPEC, ls::run),
    (&stat::SPEC, stat::run),
    (&top::SPEC, top::run),
    (&members::SPEC, members::run),
    (&tail::SPEC, tail::run),
    (&cache::GET, cache::get),
    (&cache::SET, cache::set),
    (&cache::DEL, cache::del),
    (&cache::KEYS, cache::keys),
    (&clean::SPEC, clean::run),
    (&bench::SPEC, bench::run),
    (&VERSION, version),
];

static VERSION: Spec = Spec {
    name: "version",
    args: "",
    arity: (0, 0),
    about: "Print the version of orbit and of its C ABI.",
    opts: &[],
    details: "",
};

fn version(_: &Matches, out: &mut Out) -> CliResult {
    out.line(&format!(
        "orbit {} (C ABI {})",
        orbit::VERSION,
        orbit::ABI_VERSION
    ))?;
    Ok(())
}

fn main_help() -> String {
    let mut s = String::from(
        "orbit: inspect and operate fleets of processes sharing memory on this host.\n\n\
         Usage: orbit <command> [arguments] [options]\n       orbit <command> --help\n\n\
         Commands:\n",
    );
    let width = COMMANDS
        .iter()
        .map(|(c, _)| c.name.len())
        .max()
        .unwrap_or(0);
    for (c, _) in COMMANDS {
        s.push_str(&format!("  {:width$}  {}\n", c.name, c.about));
    }
    s.push_str(
        "\nRead commands (ls, stat, members, cache get, cache keys, tail) take --json;\n\
         `orbit stat --prometheus` prints the Prometheus text format.\n\
         Segments live in /dev/shm as orbit:<uid>:<fleet>:<kind>:<name>; only this user's are shown.\n\
         Errors are one line on stderr.\n\n",
    );
    s.push_str(fail::EXIT_CODES_HELP);
    s.push('\n');
    s
}

fn cache_help() -> String {
    let mut s = String::from(
        "Read and write a fleet's cache.\n\nUsage: orbit cache <get|set|del|keys> <fleet> <cache> ...\n\nCommands:\n",
    );
    for c in cache::SUBCOMMANDS {
        s.push_str(&format!(
            "  orbit {} {}\n      {}\n",
            c.name, c.args, c.about
        ));
    }
    s.push_str("\nSee `orbit cache <command> --help` for options.\n");
    s
}

/// Finds the command named by the first words.
fn dispatch(words: &[String]) -> Result<(&'static Spec, Run, &[String]), CliError> {
    let first = words[0].as_str();
    if first == "cache" {
        let Some(sub) = words.get(1) else {
            return Err(CliError::usage(
                "cache needs a command: get, set, del or keys (see `orbit cache --help`)",
            ));
        };
        let name = format!("cache {sub}");
        return COMMANDS
            .iter()
            .find(|(c, _)| c.name == name)
            .map(|(c, r)| (*c, *r, &words[2..]))
            .ok_or_else(|| {
                CliError::usage(format!(
                    "unknown cache command {sub:?}: use get, set, del or keys (see `orbit cache --help`)"
                ))
            });
    }
    COMMANDS
        .iter()
        .find(|(c, _)| c.name == first)
        .map(|(c, r)| (*c, *r, &words[1..]))
        .ok_or_else(|| CliError::usage(format!("unknown command {first:?} (see `orbit --help`)")))
}

fn real_main(words: &[String], out: &mut Out) -> CliResult {
    match words.first().map(String::as_str) {
        None => {
            eprint!("{}", main_help());
            return Err(CliError::usage("a command is needed"));
        }
        Some("-h" | "--help" | "help") if words.len() == 1 => {
            out.write(&main_help())?;
            return Ok(());
        }
        Some("help") => return real_main(&[&words[1..], &["--help".to_string()]].concat(), out),
        Some("-V" | "--version") => return version(&Matches::default(), out),
        Some("cache")
            if words.len() > 1 && matches!(words[1].as_str(), "-h" | "--help" | "help") =>
        {
            out.write(&cache_help())?;
            return Ok(());
        }
        _ => {}
    }
    let (spec, run, rest) = dispatch(words)?;
    match spec.parse(rest)? {
        Parsed::Help => {
            out.write(&spec.help())?;
            Ok(())
        }
        Parsed::Run(m) => run(&m, out),
    }
}

fn main() -> ExitCode {
    signal::default_sigpipe();
    let words: Vec<String> = match std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect::<Result<_, _>>()
    {
        Ok(w) => w,
        Err(bad) => {
            eprintln!("orbit: argument {bad:?} is not valid UTF-8");
            return ExitCode::from(fail::USAGE);
        }
    };
    let mut out = Out::stdout();
    let result = real_main(&words, &mut out);
    let flushed = out.flush();
    match result.and(flushed.map_err(CliError::from)) {
        Ok(()) => ExitCode::from(fail::OK),
        Err(e) => {
            match words.first().and_then(|_| dispatch(&words).ok()) {
                Some((spec, _, _)) => eprintln!("orbit {}: {}", spec.name, e.msg),
                None => eprintln!("orbit: {}", e.msg),
            }
            ExitCode::from(e.code)
        }
    }
}
