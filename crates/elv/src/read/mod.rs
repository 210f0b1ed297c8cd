//! The read wing (SPEC.md §13): [`Reader`](crate::Reader), the public face of an open file,
//! and [`Tensor`](crate::Tensor) views over the one [`engine`] that owns the source, the
//! checked tables, the options and the base twins.
//!
//! | module | what |
//! |---|---|
//! | `reader`, `tensor` | the public read API: a file, and a tensor of it (typed and streamed reads) |
//! | `ranges` | part of a tensor: a byte range or rows, decoding only the chunks that hold it |
//! | `in_order` | the pipelined reader: many tensors decoded in order, batches overlapping reads |
//! | `into` | many tensors decoded straight into the caller's buffers, reads overlapping decoding |
//! | `engine` | one open file: span and batch reads of stored streams, padding and section checks |
//! | `fetch` | a run of whole chunks of one tensor (a span) read in one positioned read and decoded |
//! | `twin` | a reader's base twins, each checked against the base table before use (§9.1) |
//! | `source` | where the bytes come from: files, memory, any `Read + Seek` |

pub(crate) mod engine;
pub(crate) mod fetch;
pub(crate) mod in_order;
pub(crate) mod into;
pub(crate) mod ranges;
pub(crate) mod reader;
pub(crate) mod source;
pub(crate) mod tensor;
pub(crate) mod twin;
