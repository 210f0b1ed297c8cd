//! Files in and out: safetensors files, model folders and `.elv` files converted with the
//! CLI's guarantees (never over an input, an existing output only with `force`, atomic).

use crate::limits::read_options;
use crate::{options, to_py, without_gil};
use elv::atomic::OutputOptions;
use elv::sniff::{self, InputFormat};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;

/// The CLI's guarantees for a file conversion: never over the input (the library's rule),
/// an existing output only with `force`, written atomically, with the input's permissions
/// and mtime.
fn output_for(src: &std::path::Path, force: bool) -> OutputOptions {
    let input = std::fs::metadata(src).ok();
    OutputOptions {
        overwrite: force,
        sync: false,
        like: input.clone(),
        modified: None,
        inputs: input.into_iter().collect(),
    }
}

/// The base model at `path`, if one is given.
fn open_base(path: Option<PathBuf>) -> elv::Result<Option<std::sync::Arc<dyn elv::Base>>> {
    Ok(match path {
        Some(p) => Some(std::sync::Arc::new(elv::BaseModel::open(p)?)),
        None => None,
    })
}

/// `compress_file(src, dst, lossy, elf_half, threads, force, base) -> dict`: safetensors or a
/// PyTorch zip checkpoint (read without torch, its pickle never run) to `.elv`, against the base model `base` if given; says what it did: input and output
/// bytes, and the largest error bound of any tensor (0.0: every value bit-exact).
#[pyfunction]
#[pyo3(signature = (src, dst, lossy=false, elf_half=false, threads=None, force=false, base=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn compress_file(
    py: Python<'_>,
    src: PathBuf,
    dst: PathBuf,
    lossy: bool,
    elf_half: bool,
    threads: Option<usize>,
    force: bool,
    base: Option<PathBuf>,
) -> PyResult<Py<PyDict>> {
    let opts = options(lossy, elf_half)?;
    let input = sniff::open_input(&src, InputFormat::Weights).map_err(|e| to_py(py, e))?;
    let out = output_for(&src, force);
    let report = without_gil(py, threads, || {
        let base = open_base(base)?;
        let input = std::io::BufReader::new(input);
        elv::atomic::write_atomic_with(&dst, &out, |w| {
            elv::compress_weights_with(input, w, &opts, base, None).map(|(_, r)| r)
        })
    })?;
    report_dict(py, &report)
}

/// What a compression did, for Python: sizes, tensor count, the largest error bound of any
/// tensor (0.0: every value bit-exact) and whether the output is lossless.
fn report_dict(py: Python<'_>, report: &elv::Report) -> PyResult<Py<PyDict>> {
    let bound = report
        .tensors
        .iter()
        .map(|t| t.error_bound_log2)
        .filter(|&k| k > 0)
        .min()
        .map_or(0.0, |k| 2f64.powi(-i32::from(k)));
    let d = PyDict::new(py);
    d.set_item("input_bytes", report.input_bytes)?;
    d.set_item("output_bytes", report.output_bytes)?;
    d.set_item("tensors", report.tensors.len())?;
    d.set_item("error_bound", bound)?;
    d.set_item("lossless", bound == 0.0)?;
    Ok(d.unbind())
}

/// `compress_folder(src, dst, lossy, elf_half, threads, force, base) -> dict`: a model folder
/// (shards, index, configs, tokenizer) into one collection `.elv`, as `elv compress DIR`;
/// never over one of its files, an existing `dst` only with `force`.
#[pyfunction]
#[pyo3(signature = (src, dst, lossy=false, elf_half=false, threads=None, force=false, base=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn compress_folder(
    py: Python<'_>,
    src: PathBuf,
    dst: PathBuf,
    lossy: bool,
    elf_half: bool,
    threads: Option<usize>,
    force: bool,
    base: Option<PathBuf>,
) -> PyResult<Py<PyDict>> {
    let opts = options(lossy, elf_half)?;
    let members = elv::gather_members(std::slice::from_ref(&src)).map_err(|e| to_py(py, e))?;
    let out = OutputOptions {
        overwrite: force,
        inputs: members
            .iter()
            .filter_map(|m| m.file.as_ref()?.metadata().ok())
            .collect(),
        ..OutputOptions::default()
    };
    let report = without_gil(py, threads, || {
        let base = open_base(base)?;
        elv::atomic::write_atomic_with(&dst, &out, |w| {
            elv::compress_collection(members, w, &opts, base, None).map(|(_, r)| r)
        })
    })?;
    report_dict(py, &report)
}

/// `decompress_file(src, dst, threads, force, base)`: `.elv` to safetensors, or a
/// collection to the folder `dst`.
#[pyfunction]
#[pyo3(signature = (src, dst, threads=None, force=false, base=None, limits=None))]
pub(crate) fn decompress_file(
    py: Python<'_>,
    src: PathBuf,
    dst: PathBuf,
    threads: Option<usize>,
    force: bool,
    base: Option<PathBuf>,
    limits: Option<&Bound<'_, PyDict>>,
) -> PyResult<()> {
    // Decompressing streams (memory stays bounded): only the reader's limits apply.
    let (options, _) = read_options(limits)?;
    let input = sniff::open_input(&src, InputFormat::Elv).map_err(|e| to_py(py, e))?;
    let out = output_for(&src, force);
    without_gil(py, threads, || {
        let mut reader = elv::Reader::new(input, options)?;
        if let Some(b) = open_base(base)? {
            reader = reader.with_shared_base(b);
        }
        if !reader.members().is_empty() {
            // A collection is a model folder: written back as one, never flattened.
            let folder = elv::FolderOptions {
                overwrite: force,
                sync: false,
                inputs: out.inputs.clone(),
            };
            return elv::decompress_to_folder(&reader, &dst, &folder, None);
        }
        if std::fs::metadata(&dst).map_or(true, |m| m.is_file()) {
            elv::atomic::check_free_space(&elv::atomic::folder_of(&dst), reader.decoded_len())?;
        }
        elv::atomic::write_atomic_with(&dst, &out, |w| {
            elv::decompress_to_safetensors(&reader, w).map(drop)
        })
    })
}
