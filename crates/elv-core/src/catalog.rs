//! Opening a file: the tables that describe it, read and checked before any tensor data
//! (SPEC.md §3–§6, §9, §10; the open steps of §13).

#![deny(clippy::indexing_slicing)]

use crate::base::{self, BaseTable};
use crate::header::{feature, Header, Trailer};
use crate::limits::{self, Limits};
use crate::member::{self, Member};
use crate::section::SectionIndex;
use crate::tensor::TensorInfo;
use crate::{dedup, metadata, tensor, Error, ErrorKind, Result};
use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

/// What a reader checks and how far it trusts the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    /// Bounds on what the file may declare.
    pub limits: Limits,
    /// Check section and tensor CRCs (default true). Compiled out under `cfg(fuzzing)`.
    pub verify_checksums: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            limits: Limits::default(),
            verify_checksums: true,
        }
    }
}

/// The parsed tables of a file: everything but the tensor data.
#[derive(Clone, Debug)]
pub struct Catalog {
    header: Header,
    index: SectionIndex,
    index_offset: u64,
    tensors: Vec<TensorInfo>,
    /// Tensor indices sorted by name, for lookups.
    by_name: Vec<u32>,
    metadata: Vec<(String, String)>,
    members: Vec<Member>,
    base: Option<BaseTable>,
    /// Decoded bytes of all tensors (a dedup tensor counting its original again), as checked
    /// against `max_decoded_bytes` at open.
    decoded_len: u64,
}

impl Catalog {
    /// Parses the tables given the index bytes and a way to fetch decoded sections: the
    /// shared open procedure of the slice and stream readers (SPEC.md §13).
    pub fn load<'s>(
        header: Header,
        trailer: &Trailer,
        index_bytes: &[u8],
        options: &ReadOptions,
        mut fetch: impl FnMut(&SectionIndex, u32) -> Result<Cow<'s, [u8]>>,
    ) -> Result<Catalog> {
        if options.verify_checksums && !cfg!(fuzzing) {
            let crc = crc32fast::hash(index_bytes);
            if crc != trailer.index_crc {
                return Err(Error::new(
                    ErrorKind::ChecksumMismatch,
                    "section index CRC",
                    trailer.index_offset,
                )
                .got_expected(crc.into(), trailer.index_crc.into()));
            }
        }
        let index = SectionIndex::parse(
            index_bytes,
            trailer.index_offset,
            header.alignment(),
            &options.limits,
        )?;
        // Table sections are checked against their limit before they are decoded.
        let mut fetch = |index: &SectionIndex, i: u32| {
            let e = index.get(i)?;
            limits::check(
                e.decoded_len,
                options.limits.max_table_bytes,
                "table section decoded length",
                0,
            )
            .map_err(|err| err.in_section(i))?;
            fetch(index, i)
        };
        check_features(&header, &index, trailer.index_offset)?;
        let table = fetch(&index, index.tensor_table)?;
        let mut tensors = tensor::parse_table(
            &table,
            index.stream_count,
            &options.limits,
            index.member_table.is_none(),
        )
        .map_err(|e| e.in_section(index.tensor_table))?;
        drop(table);
        match index.dedup_table {
            Some(d) => {
                let bytes = fetch(&index, d)?;
                dedup::apply_table(Some(&bytes), &mut tensors).map_err(|e| e.in_section(d))?
            }
            None => dedup::apply_table(None, &mut tensors)?,
        }
        let members = match index.member_table {
            Some(m) => member::parse_table(&fetch(&index, m)?, &tensors, &options.limits)
                .map_err(|e| e.in_section(m))?,
            None => Vec::new(),
        };
        let base = match index.base_table {
            Some(b) => Some(
                BaseTable::parse(&fetch(&index, b)?, &tensors, &options.limits)
                    .map_err(|e| e.in_section(b))?,
            ),
            None => {
                base::check_none_needed(&tensors).map_err(|e| e.in_section(index.tensor_table))?;
                None
            }
        };
        let metadata = match index.metadata {
            Some(m) => {
                metadata::parse(&fetch(&index, m)?, &options.limits).map_err(|e| e.in_section(m))?
            }
            None => Vec::new(),
        };
        let decoded = tensors
            .iter()
            .fold(0u64, |a, t| a.saturating_add(t.byte_len()));
        limits::check(
            decoded,
            options.limits.max_decoded_bytes,
            "decoded bytes of all tensors",
            0,
        )
        .map_err(|e| e.in_section(index.tensor_table))?;
        let mut by_name: Vec<u32> = (0..tensors.len() as u32).collect();
        // Stable: within a name, file order, so a lookup finds the first.
        by_name.sort_by(|&a, &b| name_of(&tensors, a).cmp(name_of(&tensors, b)));
        Ok(Catalog {
            header,
            index,
            index_offset: trailer.index_offset,
            tensors,
            by_name,
            metadata,
            members,
            base,
            decoded_len: decoded,
        })
    }

    /// Decoded bytes of all tensors: what decoding the whole file writes (SPEC.md §11).
    pub fn decoded_len(&self) -> u64 {
        self.decoded_len
    }

    /// The members of a collection, in file order (SPEC.md §10.1); empty for a file without
    /// a member table.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The base table, if the file was written against a base model (SPEC.md §9.1).
    pub fn base(&self) -> Option<&BaseTable> {
        self.base.as_ref()
    }

    /// Index of the member holding tensor `i`.
    pub fn member_of(&self, i: usize) -> Option<usize> {
        let i = u32::try_from(i).ok()?;
        let k = self.members.partition_point(|m| m.tensors.end <= i);
        self.members
            .get(k)
            .filter(|m| m.tensors.contains(&i))
            .map(|_| k)
    }

    /// The file header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The section index.
    pub fn index(&self) -> &SectionIndex {
        &self.index
    }

    /// File offset of the section index.
    pub fn index_offset(&self) -> u64 {
        self.index_offset
    }

    /// The tensors, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// File metadata pairs, in file order.
    pub fn metadata(&self) -> &[(String, String)] {
        &self.metadata
    }

    /// Index of the tensor named `name` (a binary search over the names): in a collection,
    /// the first in file order (names are unique only within a member).
    pub fn find(&self, name: &str) -> Option<usize> {
        self.named(name).next()
    }

    /// Index of the tensor named `name` in member `m`.
    pub fn find_in(&self, m: usize, name: &str) -> Option<usize> {
        let run = self.members.get(m)?.tensors.clone();
        self.named(name)
            .find(|&i| u32::try_from(i).is_ok_and(|i| run.contains(&i)))
    }

    /// Indices of the tensors named `name`, in file order (`by_name` is sorted stably).
    fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = usize> + 'a {
        let k = self
            .by_name
            .partition_point(|&i| name_of(&self.tensors, i) < name);
        self.by_name
            .get(k..)
            .unwrap_or_default()
            .iter()
            .take_while(move |&&i| name_of(&self.tensors, i) == name)
            .map(|&i| i as usize)
    }

    /// What a whole-file check must still read after [`load`](Self::load): the sections that
    /// decoding tensors does not cover (the tables, decoded by `load`, and ancillary sections,
    /// of which only the CRC is checked), and the tensors that own streams (a dedup reference
    /// decodes its original).
    pub fn verify_plan(&self) -> (core::ops::Range<u32>, Vec<usize>) {
        let sections = self.index.stream_count..self.index.entries.len() as u32;
        let owners = (0..self.tensors.len())
            .filter(|&i| self.tensors.get(i).is_some_and(|t| t.dedup_of.is_none()))
            .collect();
        (sections, owners)
    }

    /// The tensor whose streams hold tensor `i`'s values: itself, or its dedup original.
    /// (Either may be stored against the base: see [`base`](Self::base).)
    pub fn storage_of(&self, i: usize) -> Result<&TensorInfo> {
        let t = self
            .tensors
            .get(i)
            .ok_or_else(|| Error::bare(ErrorKind::NotFound, "tensor index"))?;
        match t.dedup_of {
            Some(c) => self
                .tensors
                .get(c as usize)
                .ok_or_else(|| Error::bare(ErrorKind::BadDedup, "dedup target")),
            None => Ok(t),
        }
    }

    /// Stored bytes of the stream sections of tensor `i` (0 for a dedup reference).
    pub fn stored_len(&self, i: usize) -> u64 {
        let Some(t) = self.tensors.get(i) else {
            return 0;
        };
        let first = t.first_stream as usize;
        let count = usize::try_from(t.stream_count()).unwrap_or(0);
        self.index
            .entries
            .get(first..first.saturating_add(count))
            .unwrap_or_default()
            .iter()
            .map(|e| e.stored_len)
            .sum()
    }
}

/// Each required feature is set exactly when its section is present (SPEC.md §3.1):
/// `Malformed` otherwise.
fn check_features(header: &Header, index: &SectionIndex, at: u64) -> Result<()> {
    let has = |bit: u32| header.required_features & bit != 0;
    if has(feature::MEMBERS) != index.member_table.is_some() {
        return Err(Error::new(
            ErrorKind::Malformed,
            "members feature bit and member table disagree",
            at,
        ));
    }
    if has(feature::BASE) != index.base_table.is_some() {
        return Err(Error::new(
            ErrorKind::Malformed,
            "base feature bit and base table disagree",
            at,
        ));
    }
    Ok(())
}

fn name_of(tensors: &[TensorInfo], i: u32) -> &str {
    tensors.get(i as usize).map_or("", |t| t.name.as_str())
}
