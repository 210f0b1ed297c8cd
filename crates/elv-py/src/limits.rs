//! The reader's limits from Python, and the memory budget of a load.

use elv::ReadOptions;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The reader's limits from a Python dict: any field of `elv::Limits` by name,
/// `verify_checksums`, and `max_load_bytes` (the binding's own: the most one load may decode
/// into memory). An unknown key is an error naming the known ones.
pub(crate) fn read_options(
    limits: Option<&Bound<'_, PyDict>>,
) -> PyResult<(ReadOptions, Option<u64>)> {
    let mut o = ReadOptions::default();
    let mut max_load = None;
    let Some(d) = limits else {
        return Ok((o, max_load));
    };
    for (k, v) in d.iter() {
        let key: String = k.extract()?;
        let l = &mut o.limits;
        match key.as_str() {
            "max_sections" => l.max_sections = v.extract()?,
            "max_tensors" => l.max_tensors = v.extract()?,
            "max_rank" => l.max_rank = v.extract()?,
            "max_name_len" => l.max_name_len = v.extract()?,
            "max_metadata_entries" => l.max_metadata_entries = v.extract()?,
            "max_section_bytes" => l.max_section_bytes = v.extract()?,
            "max_tensor_bytes" => l.max_tensor_bytes = v.extract()?,
            "max_chunk_bytes" => l.max_chunk_bytes = v.extract()?,
            "max_table_bytes" => l.max_table_bytes = v.extract()?,
            "max_decoded_bytes" => l.max_decoded_bytes = v.extract()?,
            "verify_checksums" => o.verify_checksums = v.extract()?,
            "max_load_bytes" => max_load = Some(v.extract()?),
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown limit {other:?}; known: max_sections, max_tensors, max_rank, \
                     max_name_len, max_metadata_entries, max_section_bytes, max_tensor_bytes, \
                     max_chunk_bytes, max_table_bytes, max_decoded_bytes, verify_checksums, \
                     max_load_bytes"
                )))
            }
        }
    }
    Ok((o, max_load))
}

/// Bytes of memory this process may still use: the smaller of the system's available
/// memory and what its cgroup (v2) leaves; `None` where neither is known.
fn available_memory() -> Option<u64> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let meminfo = read("/proc/meminfo").and_then(|m| {
        let line = m.lines().find(|l| l.starts_with("MemAvailable:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        kib.checked_mul(1024)
    });
    let cgroup = read("/sys/fs/cgroup/memory.max").and_then(|max| {
        let max: u64 = max.trim().parse().ok()?; // "max": no limit
        let used: u64 = read("/sys/fs/cgroup/memory.current")?.trim().parse().ok()?;
        Some(max.saturating_sub(used))
    });
    match (meminfo, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// An `elves.ElvError` of `kind` saying `message`.
fn elv_error(py: Python<'_>, message: String, kind: &str) -> PyErr {
    let made = py
        .import("elves._error")
        .and_then(|m| m.getattr("ElvError"))
        .and_then(|cls| cls.call1((message.clone(), kind, Option::<u64>::None)));
    match made {
        Ok(inst) => PyErr::from_value(inst),
        Err(_) => PyValueError::new_err(message),
    }
}

/// Refuses to decode `bytes` into memory when that is more than `max` (or, by default, than
/// the memory available): an `ElvError(LimitExceeded)` naming both, instead of the
/// interpreter killed by the out-of-memory killer.
pub(crate) fn check_load(
    py: Python<'_>,
    bytes: u64,
    count: usize,
    max: Option<u64>,
) -> PyResult<()> {
    let (limit, what) = match max {
        Some(m) => (m, "max_load_bytes"),
        None => match available_memory() {
            Some(m) => (m, "the memory available"),
            None => return Ok(()),
        },
    };
    if bytes <= limit {
        return Ok(());
    }
    let gb = |b: u64| b as f64 / 1e9;
    Err(elv_error(
        py,
        format!(
            "loading {count} tensor(s) decodes {:.2} GB, more than {what} ({:.2} GB); read \
             fewer tensors at a time (safe_open(...).get_tensor), or raise \
             limits={{\"max_load_bytes\": ...}}",
            gb(bytes),
            gb(limit)
        ),
        "LimitExceeded",
    ))
}
