//! The convert wing: safetensors files and model folders to `.elv` and back, built on the
//! read and write wings (SPEC.md §10, §10.1): what the `elv` command and the Python
//! package drive.
//!
//! | module | what |
//! |---|---|
//! | `compress`, `decompress`, `verify` | safetensors files and collections in and out; a file against its original |
//! | `safetensors` | safetensors headers: parse, check, build |
//! | `folder` | model folders on disk as collection members |
//! | `pytorch` | PyTorch zip checkpoints read as safetensors, without torch or running their pickle |
//! | `base_model` | a base model opened from a safetensors file, an `.elv` or a folder (§9.1) |
//! | `sniff` | what a wrong input is, in one line, for every entry point |

pub(crate) mod base_model;
pub(crate) mod compress;
pub(crate) mod decompress;
pub(crate) mod folder;
pub mod pytorch;
pub mod safetensors;
pub mod sniff;
pub(crate) mod verify;
