//! The member table (SPEC.md §10.1): a collection, such as a model folder, as one file. Each
//! member is a relative path and a run of consecutive tensors: a safetensors file (its JSON
//! header kept verbatim), any other file (its bytes as one U8 tensor), or an empty folder (no
//! tensors).
#![deny(clippy::indexing_slicing)]

use crate::cursor::Cursor;
use crate::dtype::DType;
use crate::limits::{self, Limits};
use crate::tensor::{check_unique_names, TensorInfo};
use crate::{Error, ErrorKind, Result};
use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Range;

/// Bytes of a member record besides its path and header.
const RECORD_FIXED: usize = 1 + 3 + 4 + 4 + 2 + 4;

/// What a member is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberKind {
    /// A safetensors file: its header, and its tensors in the member's run.
    Safetensors,
    /// Any other file: its bytes are the member's one tensor, U8 of rank 1.
    File,
    /// An empty folder: no tensors (so a folder round trip keeps empty folders too).
    Folder,
}

impl MemberKind {
    #[doc(hidden)]
    /// The on-disk code.
    pub fn code(self) -> u8 {
        match self {
            MemberKind::Safetensors => 0,
            MemberKind::File => 1,
            MemberKind::Folder => 2,
        }
    }

    #[doc(hidden)]
    /// `safetensors`, `file` or `folder`: the name the conformance manifest uses.
    pub fn name(self) -> &'static str {
        match self {
            MemberKind::Safetensors => "safetensors",
            MemberKind::File => "file",
            MemberKind::Folder => "folder",
        }
    }
}

/// One member of a collection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Relative path, `/`-separated ([`check_path`]).
    pub path: String,
    /// What the member is.
    pub kind: MemberKind,
    /// Its tensors, as indices into the tensor table.
    pub tensors: Range<u32>,
    /// For a safetensors member, its JSON header verbatim (padding included); else empty.
    pub header: String,
}

/// Serializes the member table.
pub fn table_to_bytes(members: &[Member]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(members.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    for m in members {
        out.push(m.kind.code());
        out.extend_from_slice(&[0u8; 3]);
        out.extend_from_slice(&m.tensors.start.to_le_bytes());
        out.extend_from_slice(&(m.tensors.end - m.tensors.start).to_le_bytes());
        out.extend_from_slice(&(m.path.len() as u16).to_le_bytes());
        out.extend_from_slice(m.path.as_bytes());
        out.extend_from_slice(&(m.header.len() as u32).to_le_bytes());
        out.extend_from_slice(m.header.as_bytes());
    }
    out
}

/// Checks that `path` names a file inside the collection's folder and reads the same on
/// POSIX and Windows (SPEC.md §10.1): not empty; `/`-separated components, none empty, `.`
/// or `..`, none ending in `.` or a space, none a Windows device name (`CON`, `PRN`, `AUX`,
/// `NUL`, `COM1`–`COM9`, `LPT1`–`LPT9`, in any case, alone or before a `.`); and no `\`,
/// `:`, `<`, `>`, `|`, `?`, `*`, `"` or control character (U+0000–U+001F, U+007F–U+009F)
/// anywhere (`BadPath`).
pub fn check_path(path: &str) -> Result<()> {
    let bad = path.is_empty()
        || path.split('/').any(bad_component)
        || path.chars().any(|ch| {
            matches!(ch, '\\' | ':' | '<' | '>' | '|' | '?' | '*' | '"') || ch.is_control()
        });
    if bad {
        return Err(Error::bare(ErrorKind::BadPath, "member path"));
    }
    Ok(())
}

/// Whether one component of a path is refused: empty, `.`, `..`, ending in a dot or a space,
/// or a Windows device name.
fn bad_component(c: &str) -> bool {
    const DEVICES: [&str; 4] = ["CON", "PRN", "AUX", "NUL"];
    let stem = c.split('.').next().unwrap_or(c).trim_end_matches(' ');
    let numbered = |prefix: &str| {
        stem.len() == 4
            && stem
                .get(..3)
                .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
            && stem
                .as_bytes()
                .get(3)
                .is_some_and(|d| (b'1'..=b'9').contains(d))
    };
    c.is_empty()
        || c.ends_with('.')
        || c.ends_with(' ')
        || DEVICES.iter().any(|d| stem.eq_ignore_ascii_case(d))
        || numbered("COM")
        || numbered("LPT")
}

/// The paths as a case-insensitive file system compares them (Unicode lowercase).
fn folded(members: &[Member]) -> Vec<Member> {
    members
        .iter()
        .map(|m| Member {
            path: m.path.to_lowercase(),
            kind: m.kind,
            tensors: m.tensors.clone(),
            header: String::new(),
        })
        .collect()
}

/// The folders `path` lies in, outermost first (`a` and `a/b` for `a/b/c`): no member may
/// be one of them (SPEC.md §10.1).
pub fn folders_of(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').filter_map(|(i, _)| path.get(..i))
}

/// Whether some member path is a folder of another (`a` and `a/b`), in time linear in the
/// paths' bytes (times a log): ordered with `/` below every other byte, the paths under `a/`
/// come right after `a`, so comparing neighbours is enough. (Looking up every folder of
/// every path was quadratic in a path's depth: a crafted 39 KB table took minutes.)
fn has_nested(members: &[Member]) -> bool {
    let key = |p: &str| {
        p.bytes()
            .map(|b| if b == b'/' { 0 } else { b })
            .collect::<Vec<u8>>()
    };
    let mut keyed: Vec<(Vec<u8>, &str)> = members
        .iter()
        .map(|m| (key(&m.path), m.path.as_str()))
        .collect();
    keyed.sort_unstable();
    keyed.windows(2).any(|w| match w {
        [(_, a), (_, b)] => {
            b.len() > a.len() && b.starts_with(a) && b.as_bytes().get(a.len()) == Some(&b'/')
        }
        _ => false,
    })
}

/// Parses the member table and checks it against the tensor table, in this order: count
/// within the tensor limit and `18·m` bytes present (`LimitExceeded`, `Truncated`); per
/// member: kind known (`Malformed`), reserved bytes zero (`ReservedNonZero`), first tensor
/// equal to the tensors of earlier members (`Malformed`) and its run within the table
/// (`OutOfRange`), path length within the name limit (`LimitExceeded`), path UTF-8
/// (`InvalidUtf8`) and valid ([`check_path`], `BadPath`), header present and UTF-8
/// (`Truncated`, `InvalidUtf8`), a file member one U8 tensor of rank 1 with no header and a
/// folder member no tensors and no header (`Malformed`); the table ends there (`Malformed`); the runs cover every tensor
/// (`Malformed`); paths unique (`DuplicateName`) and none a folder of another (`BadPath`),
/// then the same after Unicode lowercasing (`BadPath`: one file on a case-insensitive system);
/// tensor names unique within each member (`DuplicateName`).
pub fn parse_table(bytes: &[u8], tensors: &[TensorInfo], limits: &Limits) -> Result<Vec<Member>> {
    let mut c = Cursor::new(bytes);
    let count = c.u32("member count")?;
    c.reserved(4, "member table reserved")?;
    limits::check(count.into(), limits.max_tensors.into(), "members", 0)?;
    if count as usize > c.remaining() / RECORD_FIXED {
        return Err(Error::new(
            ErrorKind::Truncated,
            "member table shorter than its count",
            8,
        ));
    }
    let mut members = Vec::with_capacity(count as usize);
    let mut next = 0u32;
    for _ in 0..count {
        let m = parse_record(&mut c, tensors, next, limits)?;
        next = m.tensors.end;
        members.push(m);
    }
    c.finish("member table")?;
    if next as usize != tensors.len() {
        return Err(
            Error::bare(ErrorKind::Malformed, "tensors not in any member")
                .got_expected(next.into(), tensors.len() as u64),
        );
    }
    let paths: BTreeSet<&str> = members.iter().map(|m| m.path.as_str()).collect();
    if paths.len() != members.len() {
        return Err(Error::bare(ErrorKind::DuplicateName, "member path"));
    }
    if has_nested(&members) {
        return Err(Error::bare(
            ErrorKind::BadPath,
            "member path inside another member",
        ));
    }
    // Paths that differ only in case are one file on a case-insensitive file system.
    let folded = folded(&members);
    let unique: BTreeSet<&str> = folded.iter().map(|m| m.path.as_str()).collect();
    if unique.len() != members.len() || has_nested(&folded) {
        return Err(Error::bare(
            ErrorKind::BadPath,
            "member paths that differ only in case",
        ));
    }
    for m in &members {
        let run = tensors
            .get(m.tensors.start as usize..m.tensors.end as usize)
            .unwrap_or_default();
        check_unique_names(run)?;
    }
    Ok(members)
}

/// One member record at the cursor (§10.1), checked in field order: kind, reserved bytes,
/// its run (starting at `next`, within `tensors`), path, header, and what a file or folder
/// member may hold.
fn parse_record(
    c: &mut Cursor<'_>,
    tensors: &[TensorInfo],
    next: u32,
    limits: &Limits,
) -> Result<Member> {
    let at = c.pos() as u64;
    let kind = match c.u8("member kind")? {
        0 => MemberKind::Safetensors,
        1 => MemberKind::File,
        2 => MemberKind::Folder,
        k => {
            return Err(
                Error::new(ErrorKind::Malformed, "member kind", at).got_expected(k.into(), 2)
            )
        }
    };
    c.reserved(3, "member reserved")?;
    let first_at = c.pos() as u64;
    let first = c.u32("member first tensor")?;
    let len = c.u32("member tensor count")?;
    if first != next {
        return Err(
            Error::new(ErrorKind::Malformed, "member first tensor", first_at)
                .got_expected(first.into(), next.into()),
        );
    }
    let end = first
        .checked_add(len)
        .filter(|&e| e as usize <= tensors.len())
        .ok_or_else(|| {
            Error::new(ErrorKind::OutOfRange, "member tensors", first_at)
                .got_expected(u64::from(first) + u64::from(len), tensors.len() as u64)
        })?;
    let path_at = c.pos() as u64;
    let path_len = c.u16("member path length")?;
    limits::check(
        path_len.into(),
        limits.max_name_len.into(),
        "member path length",
        path_at,
    )?;
    let path = c.utf8(path_len.into(), "member path")?;
    check_path(&path).map_err(|e| e.at(path_at + 2))?;
    let header_len = c.u32("member header length")?;
    let header = c.utf8(header_len as usize, "member header")?;
    if kind == MemberKind::File {
        let one_u8 = len == 1
            && tensors
                .get(first as usize)
                .is_some_and(|t| t.dtype == DType::U8 && t.shape.len() == 1);
        if !one_u8 || !header.is_empty() {
            return Err(Error::new(
                ErrorKind::Malformed,
                "file member (one U8 tensor of rank 1, no header)",
                at,
            ));
        }
    }
    if kind == MemberKind::Folder && (len != 0 || !header.is_empty()) {
        return Err(Error::new(
            ErrorKind::Malformed,
            "folder member (no tensors, no header)",
            at,
        ));
    }
    Ok(Member {
        path,
        kind,
        tensors: first..end,
        header,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(paths: &[&str]) -> bool {
        let members: Vec<Member> = paths
            .iter()
            .map(|p| Member {
                path: String::from(*p),
                kind: MemberKind::File,
                tensors: 0..0,
                header: String::new(),
            })
            .collect();
        has_nested(&members)
    }

    #[test]
    fn a_path_inside_another_is_found_whatever_sorts_between_them() {
        assert!(nested(&["a", "a/b"]));
        assert!(nested(&["a/b", "a"]));
        // `-`, `.` and space sort before `/` in bytes: they must not hide `a/b` from `a`.
        assert!(nested(&["a", "a-b", "a.c", "a b", "a/b"]));
        assert!(nested(&["x/y", "x/y/z", "x/yz"]));
        assert!(!nested(&["a-b", "a/b"]));
        assert!(!nested(&["ab", "a/b", "abc/d"]));
        assert!(!nested(&["a/b", "a/c", "b"]));
        // A 20,000-deep path beside its parent: found (the old check did 20,000 lookups of
        // prefixes up to 40 KB each).
        let deep = alloc::vec!["d"; 20_000].join("/");
        let parent = String::from(deep.rsplit_once('/').unwrap().0);
        assert!(nested(&[&deep, &parent]));
        assert!(!nested(&[&deep, "d/e"]));
    }
}
