//! The collection and base-model parts of a [`ContainerWriter`]: members (SPEC.md §10.1)
//! and base entries (§9.1).

use super::*;

impl<S: Sink> ContainerWriter<S> {
    /// Starts the next member of a collection (SPEC.md §10.1): the tensors added until the
    /// next call are its tensors. A `File` member holds one U8 tensor of rank 1, its bytes.
    pub fn begin_member(&mut self, path: &str, kind: MemberKind, header: &str) -> Result<()> {
        if self.features & feature::MEMBERS == 0 {
            return Err(Error::bare(
                ErrorKind::InvalidInput,
                "members need the MEMBERS feature (ContainerWriter::with_features)",
            ));
        }
        if self.pending.is_some() {
            return Err(Error::bare(
                ErrorKind::InvalidInput,
                "a tensor is still open",
            ));
        }
        member::check_path(path).map_err(|_| {
            Error::bare(
                ErrorKind::InvalidInput,
                "not a portable relative path (SPEC.md §10.1: no `\\`, `:`, control characters, empty, `.` or `..` components)",
            )
        })?;
        if path.len() > u16::MAX as usize || header.len() > u32::MAX as usize {
            return Err(Error::bare(
                ErrorKind::InvalidInput,
                "member path or header too long",
            ));
        }
        if self.members.iter().any(|m| m.path == path) {
            return Err(Error::bare(ErrorKind::DuplicateName, "member path"));
        }
        let nested = |a: &str, b: &str| member::folders_of(a).any(|f| f == b);
        if self
            .members
            .iter()
            .any(|m| nested(path, &m.path) || nested(&m.path, path))
        {
            return Err(Error::bare(
                ErrorKind::InvalidInput,
                "member path inside another member (one is a file, not a folder)",
            ));
        }
        self.close_member();
        let at = self.tensors.len() as u32;
        self.members.push(Member {
            path: String::from(path),
            kind,
            tensors: at..at,
            header: String::from(header),
        });
        self.names.clear();
        Ok(())
    }

    pub(super) fn close_member(&mut self) {
        let end = self.tensors.len() as u32;
        if let Some(m) = self.members.last_mut() {
            m.tensors.end = end;
        }
    }

    #[doc(hidden)]
    /// Records that tensor `tensor` (stored as `base`, `delta` or `elf_delta`) was written
    /// against the base twin named `twin` whose bytes hash to `hash` (BLAKE3-256), and names
    /// the base for messages (SPEC.md §9.1).
    pub fn add_base_entry(&mut self, tensor: u32, hash: [u8; 32], twin: &str) -> Result<()> {
        let ok = self.features & feature::BASE != 0
            && self
                .tensors
                .get(tensor as usize)
                .is_some_and(|t| t.encoding.needs_base())
            && self.base.entries.last().is_none_or(|e| e.tensor < tensor)
            && twin.len() <= u16::MAX as usize;
        if !ok {
            return Err(Error::bare(
                ErrorKind::InvalidInput,
                "base entry (BASE feature, a tensor stored against the base, in tensor order)",
            ));
        }
        self.base.entries.push(BaseEntry {
            tensor,
            hash,
            twin: String::from(twin),
        });
        Ok(())
    }

    #[doc(hidden)]
    /// Names the base model in the base table, for messages.
    pub fn set_base_name(&mut self, name: &str) {
        let mut end = name.len().min(u16::MAX as usize);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        self.base.name = String::from(name.get(..end).unwrap_or_default());
    }
}
