//! The one error type of the core: what went wrong, and where (SPEC.md §2.3).

use core::fmt;

/// What kind of problem a decoder or encoder met.
///
/// The names (see [`ErrorKind::name`]) are stable: `testdata/manifest.txt` uses them to say
/// which error an invalid conformance vector must produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file does not start with the `.elv` magic, or does not end with the trailer magic.
    BadMagic,
    /// The major version is not one this decoder implements.
    UnsupportedVersion,
    /// A required-feature bit this decoder does not understand is set.
    UnknownRequiredFeature,
    /// A reserved field, flag bit or padding byte is not zero.
    ReservedNonZero,
    /// A CRC32 does not match the bytes it covers.
    ChecksumMismatch,
    /// The input ends before a structure it declares.
    Truncated,
    /// A structure is inconsistent with itself or with the file (wrong length, bad field value).
    Malformed,
    /// An offset or index points outside what the file holds.
    OutOfRange,
    /// A declared size or count is beyond this decoder's [`Limits`](crate::Limits).
    LimitExceeded,
    /// A section marked critical has a type this decoder does not know.
    UnknownCriticalSection,
    /// A section uses a codec this decoder does not know or was built without.
    UnsupportedCodec,
    /// A tensor record names a dtype code this decoder does not know.
    UnknownDtype,
    /// A tensor record names an encoding this decoder does not know, or one not defined for
    /// the tensor's dtype.
    UnknownEncoding,
    /// A DE repeat points before the first value of its chunk (SPEC.md §7.4).
    DistanceBeforeStart,
    /// A dedup reference is invalid: chained, forward, or to a tensor of another dtype or shape.
    BadDedup,
    /// Two tensors of one member, two members or two metadata keys share a name.
    DuplicateName,
    /// The base table is inconsistent with the tensor table (SPEC.md §9.1).
    BadBase,
    /// Decoding needs a base model (SPEC.md §9.1) that was not given, or that lacks a tensor.
    BaseMissing,
    /// The given base's tensor is not the one the file was written against: another hash,
    /// dtype or shape (SPEC.md §9.1).
    BaseMismatch,
    /// A member path is not a relative path inside the folder (SPEC.md §10.1).
    BadPath,
    /// A text field is not valid UTF-8.
    InvalidUtf8,
    /// No tensor of the requested name exists.
    NotFound,
    /// An encoder was given input it cannot encode (wrong byte length, encoding not
    /// applicable to the dtype, ...). Never produced by a decoder.
    InvalidInput,
}

impl ErrorKind {
    /// The stable name of this kind, as used in `testdata/manifest.txt`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::BadMagic => "BadMagic",
            ErrorKind::UnsupportedVersion => "UnsupportedVersion",
            ErrorKind::UnknownRequiredFeature => "UnknownRequiredFeature",
            ErrorKind::ReservedNonZero => "ReservedNonZero",
            ErrorKind::ChecksumMismatch => "ChecksumMismatch",
            ErrorKind::Truncated => "Truncated",
            ErrorKind::Malformed => "Malformed",
            ErrorKind::OutOfRange => "OutOfRange",
            ErrorKind::LimitExceeded => "LimitExceeded",
            ErrorKind::UnknownCriticalSection => "UnknownCriticalSection",
            ErrorKind::UnsupportedCodec => "UnsupportedCodec",
            ErrorKind::UnknownDtype => "UnknownDtype",
            ErrorKind::UnknownEncoding => "UnknownEncoding",
            ErrorKind::DistanceBeforeStart => "DistanceBeforeStart",
            ErrorKind::BadDedup => "BadDedup",
            ErrorKind::DuplicateName => "DuplicateName",
            ErrorKind::BadBase => "BadBase",
            ErrorKind::BaseMissing => "BaseMissing",
            ErrorKind::BaseMismatch => "BaseMismatch",
            ErrorKind::BadPath => "BadPath",
            ErrorKind::InvalidUtf8 => "InvalidUtf8",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::InvalidInput => "InvalidInput",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An error with its kind and location.
///
/// `section` is the index of the section (in the section table) where the problem was found,
/// if any. `offset`, where there is one, is a byte offset: into the file when `section` is
/// `None`, otherwise into that section's decoded bytes. `got`/`expected` carry the offending value and the bound or
/// value it was checked against, where there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    what: &'static str,
    section: Option<u32>,
    offset: Option<u64>,
    got: Option<u64>,
    expected: Option<u64>,
}

impl Error {
    #[doc(hidden)]
    /// A new error of `kind` at file or section offset `offset`; `what` names the field or
    /// structure involved.
    pub fn new(kind: ErrorKind, what: &'static str, offset: u64) -> Self {
        Error {
            kind,
            what,
            section: None,
            offset: Some(offset),
            got: None,
            expected: None,
        }
    }

    #[doc(hidden)]
    /// A new error of `kind` with no byte offset (a whole structure, or a caller's request).
    pub fn bare(kind: ErrorKind, what: &'static str) -> Self {
        Error {
            kind,
            what,
            section: None,
            offset: None,
            got: None,
            expected: None,
        }
    }

    #[doc(hidden)]
    /// Adds the offending value and the value or bound it was checked against.
    pub fn got_expected(mut self, got: u64, expected: u64) -> Self {
        self.got = Some(got);
        self.expected = Some(expected);
        self
    }

    #[doc(hidden)]
    /// Sets the byte offset (for a check made apart from where its field lies).
    pub fn at(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }

    #[doc(hidden)]
    /// Places the error in section `index` (offset then counts from that section's start).
    pub fn in_section(mut self, index: u32) -> Self {
        self.section = Some(index);
        self
    }

    #[doc(hidden)]
    /// Turns a section index relative to a chunk's first stream into an absolute one by
    /// adding `base` (chunk decoders number their streams from 0).
    pub fn rebase_section(mut self, base: u32) -> Self {
        self.section = Some(base.saturating_add(self.section.unwrap_or(0)));
        self
    }

    /// The kind of problem.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    #[doc(hidden)]
    /// The field or structure the problem was found in.
    pub fn what(&self) -> &'static str {
        self.what
    }
    #[doc(hidden)]
    /// The section where the problem was found, if it was inside one.
    pub fn section(&self) -> Option<u32> {
        self.section
    }
    /// The byte offset, where there is one: in the file, or in the section's decoded bytes if
    /// [`Error::section`] is set.
    pub fn offset(&self) -> Option<u64> {
        self.offset
    }
    #[doc(hidden)]
    /// The offending value, where there is one.
    pub fn got(&self) -> Option<u64> {
        self.got
    }
    #[doc(hidden)]
    /// The value or bound the offending value was checked against, where there is one.
    pub fn expected(&self) -> Option<u64> {
        self.expected
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.what)?;
        match (self.section, self.offset) {
            (Some(s), Some(o)) => write!(f, " (section {s}, byte {o})")?,
            (Some(s), None) => write!(f, " (section {s})")?,
            (None, Some(o)) => write!(f, " (file byte {o})")?,
            (None, None) => {}
        }
        if let (Some(g), Some(e)) = (self.got, self.expected) {
            write!(f, ": got {g}, expected {e}")?;
        }
        Ok(())
    }
}

impl core::error::Error for Error {}

/// Result with the core [`Error`].
pub type Result<T> = core::result::Result<T, Error>;
