//! Errors of the std layer: I/O or format, grouped by who is to blame.

use std::fmt;
use std::io;

/// An error reading or writing `.elv`: the underlying I/O failed, or the bytes break the
/// format (with the kind, section and offset from [`elv_core::Error`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing failed.
    Io(io::Error),
    /// The file (or the input given to a writer) breaks the format.
    Format(elv_core::Error),
    /// A safetensors file is malformed (message says what and where).
    Safetensors(String),
}

impl Error {
    /// The format error kind, if this is a format error.
    pub fn kind(&self) -> Option<elv_core::ErrorKind> {
        match self {
            Error::Format(e) => Some(e.kind()),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Format(e) => write!(f, "invalid .elv: {e}"),
            Error::Safetensors(m) => write!(f, "invalid safetensors: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Format(e) => Some(e),
            Error::Safetensors(_) => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<elv_core::Error> for Error {
    fn from(e: elv_core::Error) -> Self {
        Error::Format(e)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}

/// Result with the std-layer [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
