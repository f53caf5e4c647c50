//! Exit codes and the one-line errors behind them.

use orbit::{Error, Status};

/// Success.
pub const OK: u8 = 0;
/// An operational error: I/O, permission, a corrupt or incompatible segment.
pub const FAILED: u8 = 1;
/// A usage error: unknown command or option, missing or malformed argument.
pub const USAGE: u8 = 2;
/// What was asked for does not exist: fleet, object, key.
pub const NOT_FOUND: u8 = 3;
/// Refused: `clean` while a member is alive, a conflicting write.
pub const REFUSED: u8 = 4;

/// The table `orbit --help` prints.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  operational error (I/O, permission, corrupt or incompatible segment)
  2  usage error (unknown command or option, missing or malformed argument)
  3  not found (no such fleet, object or key)
  4  refused (clean while a member is alive or a process maps the fleet, ...)";

/// An error that ends the command: printed as one line on stderr, exits
/// with `code`.
#[derive(Debug)]
pub struct CliError {
    /// The exit code.
    pub code: u8,
    /// The message (one line).
    pub msg: String,
}

impl CliError {
    /// A usage error (exit 2).
    pub fn usage(msg: impl Into<String>) -> CliError {
        CliError {
            code: USAGE,
            msg: msg.into(),
        }
    }

    /// Not found (exit 3).
    pub fn not_found(msg: impl Into<String>) -> CliError {
        CliError {
            code: NOT_FOUND,
            msg: msg.into(),
        }
    }

    /// Refused (exit 4).
    pub fn refused(msg: impl Into<String>) -> CliError {
        CliError {
            code: REFUSED,
            msg: msg.into(),
        }
    }

    /// An operational error (exit 1).
    pub fn failed(msg: impl Into<String>) -> CliError {
        CliError {
            code: FAILED,
            msg: msg.into(),
        }
    }

    /// The library error `e`, with what was being done.
    pub fn orbit(context: impl std::fmt::Display, e: &Error) -> CliError {
        let code = match e.status() {
            Status::NotExist | Status::NotFound => NOT_FOUND,
            Status::InvalidArgument => USAGE,
            Status::Conflict => REFUSED,
            _ => FAILED,
        };
        CliError {
            code,
            msg: format!("{context}: {e}"),
        }
    }

    /// An I/O error of the command itself (writing output, reading /proc).
    pub fn io(context: impl std::fmt::Display, e: &std::io::Error) -> CliError {
        CliError::failed(format!("{context}: {e}"))
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> CliError {
        CliError::io("writing output", &e)
    }
}

/// The result of a command.
pub type CliResult<T = ()> = Result<T, CliError>;

/// Adds context to library results.
pub trait Context<T> {
    /// Maps an `orbit::Error` to a [`CliError`] saying what was being done.
    fn ctx(self, what: impl std::fmt::Display) -> CliResult<T>;
}

impl<T> Context<T> for orbit::Result<T> {
    fn ctx(self, what: impl std::fmt::Display) -> CliResult<T> {
        self.map_err(|e| CliError::orbit(what, &e))
    }
}

/// Checks a fleet given on the command line: a bare name (the caller's own
/// fleet) or `<uid>:<fleet>` (another user's fleet opened to a group).
/// Returns the owner uid and the bare name.
pub fn check_fleet(fleet: &str) -> CliResult<(u32, &str)> {
    let (uid, bare) = orbit::shm::split_owner(fleet).map_err(|e| CliError::usage(e.to_string()))?;
    check_name("fleet", bare)?;
    Ok((uid, bare))
}

/// Checks a fleet or object name given on the command line (usage error).
pub fn check_name(what: &str, name: &str) -> CliResult {
    orbit::shm::validate_name(what, name).map_err(|e| match e {
        Error::InvalidArgument(msg) => CliError::usage(msg),
        e => CliError::usage(e.to_string()),
    })
}
