//! Errors of the std layer, grouped by who is to blame: the I/O, the `.elv` file, the
//! caller's request, a safetensors input, or a bug.

use std::fmt;
use std::io;
use std::path::Path;

/// An error reading or writing `.elv`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing failed (the message names the path where one is known).
    Io(io::Error),
    /// The `.elv` bytes break the format: the kind, section and offset are in
    /// [`elv_core::Error`].
    Format(elv_core::Error),
    /// The caller asked for something the format cannot store or the API cannot do: a data
    /// length that does not match dtype and shape, a duplicate name, a limit a reader would
    /// refuse. Nothing invalid was written.
    InvalidInput(InputError),
    /// A safetensors input is malformed.
    Safetensors(SafetensorsError),
    /// The file was written against a base model (SPEC.md §9.1) and the base given is
    /// missing, lacks a tensor, or is not the one it was written against. Nothing was
    /// decoded from it.
    Base(BaseError),
    /// Something that cannot happen did: a bug in this crate.
    Internal(&'static str),
}

/// What was wrong with a request, and for which tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    /// The tensor concerned, if one is.
    pub tensor: Option<String>,
    /// What is wrong (for a format rule, the core error that states it).
    pub reason: String,
}

/// What kind of problem a safetensors input has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SafetensorsErrorKind {
    /// The file ends before its header or data does, or holds more than its header says.
    Truncated,
    /// The header is larger than the file or the 100 MB limit.
    HeaderTooLarge,
    /// The header is not the JSON object safetensors defines.
    InvalidHeader,
    /// A dtype this format does not store.
    UnsupportedDtype,
    /// Data offsets that do not tile the data area, or that disagree with dtype and shape.
    BadOffsets,
}

/// A malformed safetensors input: its kind and a message that says what and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafetensorsError {
    /// The kind of problem.
    pub kind: SafetensorsErrorKind,
    /// What is wrong, naming the tensor where there is one.
    pub message: String,
}

/// A base model that cannot serve a file's deltas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseError {
    /// `BaseMissing` (no base given, or it lacks the tensor) or `BaseMismatch` (another
    /// hash, dtype or shape than the file was written against).
    pub kind: elv_core::ErrorKind,
    /// The tensor of the file that needs the base.
    pub tensor: String,
    /// What is wrong, naming the base.
    pub message: String,
}

impl Error {
    /// The format error kind, if this is a format error or a base error.
    pub fn kind(&self) -> Option<elv_core::ErrorKind> {
        match self {
            Error::Format(e) => Some(e.kind()),
            Error::Base(b) => Some(b.kind),
            _ => None,
        }
    }

    /// A base that cannot serve tensor `tensor` (`kind`: `BaseMissing` or `BaseMismatch`),
    /// as a [`Base`](crate::Base) implementation reports it.
    pub fn base(kind: elv_core::ErrorKind, tensor: &str, message: String) -> Error {
        Error::Base(BaseError {
            kind,
            tensor: tensor.to_owned(),
            message,
        })
    }

    /// An I/O error on `path`: the message names the path, the kind is kept.
    pub fn io_at(path: &Path, e: io::Error) -> Error {
        Error::Io(io::Error::new(e.kind(), format!("{}: {e}", path.display())))
    }

    /// A caller's request refused (`InvalidInput`), for tensor `tensor` if it names one.
    pub fn input(tensor: Option<&str>, reason: impl fmt::Display) -> Error {
        Error::InvalidInput(InputError {
            tensor: tensor.map(str::to_owned),
            reason: reason.to_string(),
        })
    }

    /// Turns a core error from a writer call for `tensor` into a caller's error (the core
    /// writer checks what it is given; what it refuses is the caller's request, not a file).
    pub(crate) fn from_writer(tensor: Option<&str>) -> impl Fn(Error) -> Error + '_ {
        move |e| match e {
            Error::Format(core) => Error::input(tensor, core),
            Error::InvalidInput(mut i) if i.tensor.is_none() => {
                i.tensor = tensor.map(str::to_owned);
                Error::InvalidInput(i)
            }
            other => other,
        }
    }

    /// A safetensors error of the file named `name`: its message starts with the name (other
    /// errors name their path already, or have none).
    pub fn in_file(self, name: &dyn fmt::Display) -> Error {
        match self {
            Error::Safetensors(mut s) => {
                s.message = format!("{name}: {}", s.message);
                Error::Safetensors(s)
            }
            other => other,
        }
    }

    /// A safetensors input refused, of `kind`.
    pub fn safetensors(kind: SafetensorsErrorKind, message: impl Into<String>) -> Error {
        Error::Safetensors(SafetensorsError {
            kind,
            message: message.into(),
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Format(e) => write!(f, "invalid .elv: {e}"),
            Error::InvalidInput(InputError {
                tensor: Some(t),
                reason,
            }) => write!(f, "tensor {t:?}: {reason}"),
            Error::InvalidInput(InputError { reason, .. }) => f.write_str(reason),
            Error::Safetensors(e) => write!(f, "invalid safetensors: {}", e.message),
            Error::Base(b) => write!(f, "base model: {}", b.message),
            Error::Internal(what) => write!(f, "internal error (a bug in elv): {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Format(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        // An error this crate wrapped into io::Error (a TensorReader's) comes back whole.
        if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            if let Some(inner) = e.into_inner() {
                if let Ok(err) = inner.downcast::<Error>() {
                    return *err;
                }
            }
            return Error::Internal("unwrapping an I/O error");
        }
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
            Error::InvalidInput(_) => io::Error::new(io::ErrorKind::InvalidInput, e),
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}

/// Result with the std-layer [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
