//! The write wing (SPEC.md §12): [`Writer`](crate::Writer) with the automatic choice of each
//! tensor's encoding, [`TensorWriter`](crate::TensorWriter) for tensors given in parts, and
//! [`serialize`](crate::serialize) in one shot, over the core container writer.
//!
//! | module | what |
//! |---|---|
//! | `writer`, `tensor_writer`, `serialize` | the public write API; a tensor streamed span by span, against its base twin if it has one |
//! | `seekable` | a tensor larger than memory in a seekable input: twin and dedup checks, trials on its start and middle, then spans |
//! | `add_all`, `ordered` | the pipelined writer: tensors encoded as cores free up, written in order |
//! | `policy` | per-tensor encoding choice (trials) (§12, informative) |
//! | `pack` | chunks encoded in parallel, their streams through the entropy stage (§4.3, §7) |
//! | `dedup` | identical tensors stored once (HD, §9) |
//! | `options`, `report` | what a writer is told, and what it says it did |

pub(crate) mod add_all;
pub(crate) mod dedup;
pub(crate) mod options;
pub(crate) mod ordered;
pub(crate) mod pack;
pub(crate) mod policy;
pub(crate) mod report;
pub(crate) mod seekable;
pub(crate) mod serialize;
pub(crate) mod tensor_writer;
pub(crate) mod writer;
