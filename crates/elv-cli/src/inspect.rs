//! `elv info`, `elv verify` and `elv extract`: reading an `.elv` without converting it.

use crate::input::{open_reader, open_weights, with_base};
use crate::npy;
use crate::output::{write_output, Fallible};
use crate::text::{bound, count, escape, human, shape};
use elv::atomic::OutputOptions;
use elv::{Base, Reader};
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// The tensors of a file with their encoding, sizes and bound: columns fitted to the names,
/// sizes in SI units, names escaped; or, with `json`, every field exactly.
pub fn info(input: &Path, json: bool) -> Fallible<()> {
    let reader = open_reader(input)?;
    let mut out = io::stdout().lock();
    if json {
        return info_json(&reader, &mut out);
    }
    info_table(&reader, &mut out)?;
    info_summary(&reader, &mut out)
}

/// `info --json`: every field exactly, names unescaped; `metadata` is the user's
/// (`__metadata__`), `raw_metadata` every pair of the section.
fn info_json(reader: &Reader<File>, out: &mut dyn Write) -> Fallible<()> {
    let tensors: Vec<serde_json::Value> = reader
        .iter()
        .map(|t| {
            serde_json::json!({
                "name": t.name(),
                "dtype": t.dtype().name(),
                "shape": t.shape(),
                "encoding": t.encoding().name(),
                "duplicate_of": t.duplicate_of().map(|d| d.name()),
                "decoded_bytes": t.byte_len(),
                "stored_bytes": t.stored_len(),
                "error_bound_log2": t.error_bound_log2(),
                "member": t.member(),
            })
        })
        .collect();
    let members: Vec<serde_json::Value> = reader
        .members()
        .iter()
        .map(|m| {
            let run = || (m.tensors.start..m.tensors.end).filter_map(|i| reader.tensor(i as usize));
            serde_json::json!({
                "path": m.path,
                "kind": m.kind.name(),
                "tensors": m.tensors.len(),
                "decoded_bytes": run().map(|t| t.byte_len()).sum::<u64>(),
                "stored_bytes": run().map(|t| t.stored_len()).sum::<u64>(),
            })
        })
        .collect();
    let object = |pairs: &[(String, String)]| -> serde_json::Map<String, serde_json::Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect()
    };
    let doc = serde_json::json!({
        "file_bytes": reader.file_len(),
        "tensors": tensors,
        "members": members,
        "base": reader.base_name(),
        "metadata": object(&reader.metadata()),
        "raw_metadata": object(reader.raw_metadata()),
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)?;
    Ok(())
}

/// One row per tensor, columns fitted to the names, under the heading of its member.
fn info_table(reader: &Reader<File>, mut out: &mut dyn Write) -> Fallible<()> {
    let rows: Vec<[String; 8]> = reader
        .iter()
        .map(|t| {
            let stored = t.stored_len();
            [
                escape(t.name()).into_owned(),
                t.dtype().name().to_string(),
                shape(t.shape()),
                match t.duplicate_of() {
                    Some(d) => format!("= {}", escape(d.name())),
                    None => t.encoding().name().to_string(),
                },
                human(t.byte_len()),
                human(stored),
                match stored {
                    0 => "-".to_string(),
                    s => format!("{:.3}", t.byte_len() as f64 / s as f64),
                },
                bound(t.error_bound_log2()),
            ]
        })
        .collect();
    let head = [
        "name", "dtype", "shape", "encoding", "decoded", "stored", "ratio", "bound",
    ];
    let mut width = head.map(str::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    width[0] = width[0].min(60);
    let line = |out: &mut dyn Write, c: [&str; 8]| -> io::Result<()> {
        writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {:>w4$}  {:>w5$}  {:>w6$}  {:>w7$}",
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            c[5],
            c[6],
            c[7],
            w0 = width[0],
            w1 = width[1],
            w2 = width[2],
            w3 = width[3],
            w4 = width[4],
            w5 = width[5],
            w6 = width[6],
            w7 = width[7],
        )
    };
    line(&mut out, head)?;
    let members = reader.members();
    let mut next_member = members.iter().peekable();
    for (i, r) in rows.iter().enumerate() {
        // The heading of every member whose run starts here (empty folders have none).
        while let Some(m) = next_member.next_if(|m| m.tensors.start as usize <= i) {
            member_heading(&mut out, m)?;
        }
        line(
            &mut out,
            [&r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6], &r[7]],
        )?;
    }
    for m in next_member {
        member_heading(&mut out, m)?;
    }
    Ok(())
}

/// What the table does not say: members and shared tensors, the base model, each error
/// bound in words, and the totals.
fn info_summary(reader: &Reader<File>, out: &mut dyn Write) -> Fallible<()> {
    let members = reader.members();
    if !members.is_empty() {
        // Tensors stored once for several members (HD across the collection, §9).
        let shared = reader
            .iter()
            .filter(|t| t.duplicate_of().is_some_and(|o| o.member() != t.member()))
            .count();
        writeln!(
            out,
            "{} members; {shared} tensors stored once for several members",
            members.len()
        )?;
    }
    if let Some(name) = reader.base_name() {
        let against = reader.iter().filter(|t| t.needs_base()).count();
        let refs = reader
            .iter()
            .filter(|t| t.encoding() == elv::Encoding::BaseRef)
            .count();
        writeln!(
            out,
            "written against base model \"{}\": {against} tensors need it ({refs} identical to it); decode with --base",
            escape(name)
        )?;
    }
    let mut bounds: Vec<u8> = reader
        .iter()
        .map(|t| t.error_bound_log2())
        .filter(|&k| k > 0)
        .collect();
    bounds.sort_unstable();
    bounds.dedup();
    for k in bounds {
        writeln!(
            out,
            "bound {}: |error| <= {} for values in (-1, 1), all others exact (files of format 1.1 on also keep values of magnitude <= {} exact: nothing non-zero becomes zero)",
            bound(k),
            bound(k),
            bound(k)
        )?;
    }
    let decoded = reader.decoded_len();
    let stored: u64 = reader.iter().map(|t| t.stored_len()).sum();
    writeln!(
        out,
        "{}: {} of tensor data in {} of streams; file {}, ratio {:.3} (tensor data / file)",
        count(reader.len() as u64, "tensor"),
        human(decoded),
        human(stored),
        human(reader.file_len()),
        decoded as f64 / reader.file_len().max(1) as f64
    )?;
    Ok(())
}

fn member_heading(out: &mut dyn Write, m: &elv::Member) -> io::Result<()> {
    writeln!(
        out,
        "== {} ({}, {})",
        escape(&m.path),
        m.kind.name(),
        count(m.tensors.len() as u64, "tensor")
    )
}

/// Checks every checksum; against the original, every tensor's bound.
pub fn verify(
    input: &Path,
    against: Option<&Path>,
    base: &Option<Arc<dyn Base>>,
    quiet: bool,
) -> Fallible<ExitCode> {
    let mut out = io::stdout().lock();
    let reader =
        with_base(open_reader(input)?, base).map_err(|e| format!("{}: {e}", input.display()))?;
    reader
        .verify()
        .map_err(|e| format!("{}: {e}", input.display()))?;
    let Some(orig) = against else {
        if !quiet {
            writeln!(
                out,
                "{}: all checksums OK, {} {}",
                input.display(),
                count(reader.len() as u64, "tensor"),
                if reader.len() == 1 {
                    "decodes"
                } else {
                    "decode"
                }
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    };
    writeln!(
        out,
        "{:<50} {:>7} {:>8} {:>14} {:>12} {:>9}  result",
        "name", "dtype", "bound", "max abs err", "bit-exact", "of"
    )?;
    let mut original = io::BufReader::new(open_weights(orig)?);
    let pytorch = elv::pytorch::looks_like_zip(io::BufRead::fill_buf(&mut original)?);
    let original: Box<dyn ReadSeek> = match pytorch {
        true => Box::new(elv::pytorch::Checkpoint::open(original)?),
        false => Box::new(original),
    };
    let mut written: io::Result<()> = Ok(());
    let cmp = elv::verify_against(&reader, original, &mut |t| {
        if written.is_err() || (quiet && t.ok) {
            return;
        }
        written = match t.error_bound_log2 {
            None => writeln!(out, "{:<50} missing from the .elv", escape(&t.name)),
            Some(k) => writeln!(
                out,
                "{:<50} {:>7} {:>8} {:>14.3e} {:>12} {:>9}  {}",
                escape(&t.name),
                t.dtype.name(),
                bound(k),
                t.max_abs_error,
                t.exact,
                t.values,
                if t.ok { "ok" } else { "BOUND BROKEN" }
            ),
        };
    })
    .map_err(|e| format!("{}: {e}", orig.display()))?;
    written?;
    let (original, stored) = cmp.counts;
    let mut failures = cmp.tensors.iter().filter(|t| !t.ok).count();
    if original != stored {
        writeln!(
            out,
            "tensor count differs: original {original}, .elv {stored}"
        )?;
        failures += 1;
    }
    if failures > 0 {
        writeln!(
            out,
            "FAILED: {failures} tensors break their bound or differ"
        )?;
        return Ok(ExitCode::FAILURE);
    }
    writeln!(
        out,
        "OK: every tensor within its stated bound ({original} tensors)"
    )?;
    Ok(ExitCode::SUCCESS)
}

/// What `elv extract` writes: a tensor (of a member, if given), or a whole member.
pub struct Extracted<'a> {
    pub name: Option<&'a str>,
    pub member: Option<&'a str>,
}

/// Writes one tensor, streamed, as raw bytes or `.npy`; or one member of a collection as
/// its file.
pub fn extract(
    input: &Path,
    what: Extracted<'_>,
    base: &Option<Arc<dyn Base>>,
    output: Option<&Path>,
    npy_header: bool,
    force: bool,
) -> Fallible<()> {
    let reader =
        with_base(open_reader(input)?, base).map_err(|e| format!("{}: {e}", input.display()))?;
    let member = match what.member {
        Some(p) => Some(
            reader
                .member_index(p)
                .ok_or_else(|| format!("{}: no member \"{}\"", input.display(), escape(p)))?,
        ),
        None => None,
    };
    let options = OutputOptions {
        overwrite: force,
        // `elv extract m.elv NAME -o m.elv -f` must not replace the file it reads.
        inputs: std::fs::metadata(input).ok().into_iter().collect(),
        ..OutputOptions::default()
    };
    let out = output.unwrap_or(Path::new("-"));
    let (Some(name), m) = (what.name, member) else {
        let m = member.ok_or("give a tensor name or --member")?;
        return write_output(out, &options, force, |w| {
            elv::decompress_member(&reader, m, w, None)?;
            Ok(())
        });
    };
    let t = match m {
        Some(m) => reader.get_in(m, name),
        None => reader.get(name),
    }
    .ok_or_else(|| format!("{}: no tensor named \"{}\"", input.display(), escape(name)))?;
    let as_npy = npy_header || output.is_some_and(|p| p.extension().is_some_and(|e| e == "npy"));
    write_output(out, &options, force, |w| {
        if as_npy {
            npy::write_header(w, t.dtype(), t.shape()).map_err(elv::Error::Io)?;
        }
        io::copy(&mut t.stream(), w)?;
        Ok(())
    })
}

/// An original to verify against: safetensors, or a PyTorch checkpoint read as one.
trait ReadSeek: io::Read + io::Seek {}
impl<T: io::Read + io::Seek> ReadSeek for T {}
