//! `elv compress` and `elv decompress`: each input to its own output, like gzip and zstd.
//! An input is never written over, an existing output only with `-f`, and the output keeps
//! the input's permission bits and modification time.

use crate::input::{open_reader, open_weights, with_base};
use crate::output::{is_stdio, write_output, Fallible};
use crate::text::{bound, count, escape, human, shape};
use elv::atomic::OutputOptions;
use elv::{
    compress_collection, compress_weights_with, decompress_to_safetensors_with, Base, Encoding,
    Reader, Report, WriteOptions, DEFAULT_DECODE_BATCH_BYTES,
};
use elv::{decompress_to_folder, FolderOptions};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{BufReader, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// Which way to convert, and against which base model (SPEC.md §9.1), if any.
pub enum Direction {
    Compress(WriteOptions, Option<Arc<dyn Base>>),
    Decompress(Option<Arc<dyn Base>>),
}

/// What the user asked of every input.
pub struct Flags {
    pub force: bool,
    pub quiet: bool,
    pub verbose: bool,
    pub sync: bool,
    pub rm: bool,
}

/// Converts every input; a failing one is reported in one line and the others go on. The
/// exit status is 1 if any failed.
pub fn run(
    inputs: &[PathBuf],
    output: Option<PathBuf>,
    to_stdout: bool,
    direction: &Direction,
    flags: &Flags,
) -> Fallible<ExitCode> {
    if output.is_some() && to_stdout {
        return Err("-o and -c both name the output: give one".into());
    }
    let one_output = output.is_some() || to_stdout;
    if let (Direction::Compress(opts, base), true) = (direction, inputs.len() > 1 && one_output) {
        // Several inputs and one output: one collection of them all.
        let out = output.unwrap_or_else(|| PathBuf::from("-"));
        compress_folder(inputs, &out, opts, base.clone(), flags)?;
        return Ok(ExitCode::SUCCESS);
    }
    if inputs.len() > 1 && one_output {
        return Err("-o and -c name one output: with several inputs each gets its own".into());
    }
    let mut failed = false;
    for input in inputs {
        let out = match (&output, to_stdout) {
            (_, true) => PathBuf::from("-"),
            (Some(o), _) => o.clone(),
            (None, _) => default_output(input, direction),
        };
        if let Err(e) = convert(input, &out, direction, flags) {
            eprintln!("elv: error: {}", crate::text::escape(&e.to_string()));
            failed = true;
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn default_output(input: &Path, direction: &Direction) -> PathBuf {
    if is_stdio(input) {
        return PathBuf::from("-");
    }
    match direction {
        Direction::Compress(..) if input.is_dir() => {
            let name = input.as_os_str().to_string_lossy();
            PathBuf::from(format!("{}.elv", name.trim_end_matches('/')))
        }
        Direction::Compress(..) => input.with_extension("elv"),
        Direction::Decompress(_) => input.with_extension("safetensors"),
    }
}

/// Compresses `inputs` (files and folders) into the one collection `out` (SPEC.md §10.1).
fn compress_folder(
    inputs: &[PathBuf],
    out: &Path,
    opts: &WriteOptions,
    base: Option<Arc<dyn Base>>,
    flags: &Flags,
) -> Fallible<()> {
    if flags.rm {
        return Err("--rm removes input files one by one; it does not remove folders or a collection's inputs".into());
    }
    let members = elv::gather_members(inputs)?;
    if !flags.quiet {
        for (link, to) in elv::links_leaving(inputs)? {
            let (link, to) = (link.display().to_string(), to.display().to_string());
            eprintln!(
                "elv: note: {} is a link out of the folder, to {}: its bytes are packed",
                escape(&link),
                escape(&to)
            );
        }
    }
    let options = OutputOptions {
        overwrite: flags.force,
        sync: flags.sync,
        inputs: members
            .iter()
            .filter_map(|m| m.file.as_ref()?.metadata().ok())
            .collect(),
        ..OutputOptions::default()
    };
    let bar = progress_bar(flags.quiet);
    let mut tick = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let files = members.len();
    let report = write_output(out, &options, flags.force, |w| {
        Ok(compress_collection(members, w, opts, base, Some(&mut tick))?.1)
    })?;
    bar.finish_and_clear();
    if !flags.quiet {
        let from = inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" ");
        compress_summary(
            &report,
            Path::new(&format!("{from} ({})", count(files as u64, "file"))),
            out,
            flags.verbose,
        );
    }
    Ok(())
}

fn convert(input: &Path, out: &Path, direction: &Direction, flags: &Flags) -> Fallible<()> {
    let in_meta = match is_stdio(input) {
        true => None,
        false => Some(std::fs::metadata(input).map_err(|e| format!("{}: {e}", input.display()))?),
    };
    let name = input.display().to_string();
    let options = OutputOptions {
        overwrite: flags.force,
        // Removing the source needs the output on disk first.
        sync: flags.sync || flags.rm,
        like: in_meta.clone(),
        modified: None,
        inputs: in_meta.iter().cloned().collect(),
    };
    let bar = progress_bar(flags.quiet);
    let mut tick = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    match direction {
        Direction::Compress(opts, base) if input.is_dir() => {
            compress_folder(
                std::slice::from_ref(&input.to_path_buf()),
                out,
                opts,
                base.clone(),
                flags,
            )?;
        }
        Direction::Compress(opts, base) => {
            let src = BufReader::new(open_weights(input)?);
            let report = write_output(out, &options, flags.force, |w| {
                Ok(compress_weights_with(src, w, opts, base.clone(), Some(&mut tick))?.1)
            })
            .map_err(|e| with_input(&name, e))?;
            bar.finish_and_clear();
            if !flags.quiet {
                compress_summary(&report, input, out, flags.verbose);
            }
        }
        Direction::Decompress(base) => {
            let reader =
                with_base(open_reader(input)?, base).map_err(|e| format!("{name}: {e}"))?;
            if !reader.members().is_empty() {
                return decompress_collection(&reader, input, out, in_meta, flags, &bar, &mut tick);
            }
            // Room for the output (not for /dev/null or another device named as output).
            if !is_stdio(out) && std::fs::metadata(out).map_or(true, |m| m.is_file()) {
                let need = reader.decoded_len();
                elv::atomic::check_free_space(&elv::atomic::folder_of(out), need)?;
            }
            write_output(out, &options, flags.force, |w| {
                decompress_to_safetensors_with(
                    &reader,
                    w,
                    DEFAULT_DECODE_BATCH_BYTES,
                    Some(&mut tick),
                )?;
                Ok(())
            })
            .map_err(|e| with_input(&name, e))?;
            bar.finish_and_clear();
            if !flags.quiet {
                decompress_summary(&reader, input, out, flags.verbose);
            }
        }
    }
    if flags.rm && in_meta.is_some() && !is_stdio(out) {
        std::fs::remove_file(input).map_err(|e| format!("{name}: removing it: {e}"))?;
    }
    Ok(())
}

/// Writes the collection `reader` (read from `input`) back as a folder: `out`, or the input
/// without `.elv` when `out` is the default file name.
fn decompress_collection(
    reader: &Reader<std::fs::File>,
    input: &Path,
    out: &Path,
    in_meta: Option<std::fs::Metadata>,
    flags: &Flags,
    bar: &ProgressBar,
    tick: &mut dyn FnMut(u64, u64),
) -> Fallible<()> {
    let name = input.display().to_string();
    let out = if out == input.with_extension("safetensors") {
        input.with_extension("")
    } else {
        out.to_path_buf()
    };
    if is_stdio(&out) || out == input {
        return Err(format!(
            "{name}: is a collection of {} files: it decompresses to a folder (-o DIR)",
            reader.members().len()
        )
        .into());
    }
    let options = FolderOptions {
        overwrite: flags.force,
        sync: flags.sync || flags.rm,
        inputs: in_meta.iter().cloned().collect(),
    };
    decompress_to_folder(reader, &out, &options, Some(tick)).map_err(|e| match e {
        elv::Error::Io(io) if io.kind() == std::io::ErrorKind::AlreadyExists => {
            format!("{io} (use -f to write into it)").into()
        }
        other => with_input(&name, other.into()),
    })?;
    bar.finish_and_clear();
    if !flags.quiet {
        decompress_summary(reader, input, &out, flags.verbose);
    }
    if flags.rm {
        std::fs::remove_file(input).map_err(|e| format!("{name}: removing it: {e}"))?;
    }
    Ok(())
}

/// An error of converting `name`, with the input's name in front unless it already names it.
fn with_input(name: &str, e: Box<dyn std::error::Error>) -> Box<dyn std::error::Error> {
    let text = e.to_string();
    if text.contains(name) {
        e
    } else {
        format!("{name}: {text}").into()
    }
}

fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    let template =
        "{bar:40} {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec} eta {eta}";
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

fn where_to(p: &Path) -> String {
    if is_stdio(p) {
        "stdout".into()
    } else {
        escape(&p.display().to_string()).into_owned()
    }
}

fn where_from(p: &Path) -> String {
    if is_stdio(p) {
        "stdin".into()
    } else {
        escape(&p.display().to_string()).into_owned()
    }
}

/// `IN (SIZE) -> OUT (SIZE), ratio R, lossy: ...`: one line, then one for tensors kept
/// lossless by the optimizer-state guard; with `-v`, a line per tensor first.
fn compress_summary(r: &Report, input: &Path, out: &Path, verbose: bool) {
    if verbose {
        for t in &r.tensors {
            eprintln!(
                "{:<50} {:>5} {:>7} {:>10} -> {:>10}  {}{}",
                escape(&t.name),
                t.dtype.name(),
                t.encoding.name(),
                human(t.original),
                human(t.stored),
                bound(t.error_bound_log2),
                t.note.map(|n| format!("  ({n})")).unwrap_or_default()
            );
        }
    }
    let ratio = r.input_bytes as f64 / r.output_bytes.max(1) as f64;
    let mut lossy: Vec<String> = r
        .tensors
        .iter()
        .filter(|t| t.error_bound_log2 > 0)
        .map(|t| format!("{} ({})", bound(t.error_bound_log2), t.dtype.name()))
        .collect();
    lossy.sort();
    lossy.dedup();
    let kind = if lossy.is_empty() {
        "lossless: every value decodes bit for bit".to_string()
    } else {
        format!(
            "lossy: |error| <= {} for values in (-1, 1); tiny values and all others exact, nothing non-zero becomes zero (--lossless for bit-exact)",
            lossy.join(", ")
        )
    };
    eprintln!(
        "elv: {} ({}) -> {} ({}), ratio {ratio:.3}, {kind}",
        where_from(input),
        human(r.input_bytes),
        where_to(out),
        human(r.output_bytes),
    );
    let kept = r
        .tensors
        .iter()
        .filter(|t| t.note.is_some() && t.encoding != Encoding::Elf)
        .count();
    if kept > 0 && !lossy.is_empty() {
        eprintln!(
            "elv: {} kept lossless: most of their values are below 2^-16, like optimizer state (--max-small)",
            count(kept as u64, "tensor")
        );
    }
}

fn decompress_summary<S: elv::Source>(reader: &Reader<S>, input: &Path, out: &Path, verbose: bool) {
    if verbose {
        for t in reader.iter() {
            eprintln!(
                "{:<50} {:>5} {:<16} {:>10}  {}",
                escape(t.name()),
                t.dtype().name(),
                shape(t.shape()),
                human(t.byte_len()),
                bound(t.error_bound_log2())
            );
        }
    }
    let tensors = reader.decoded_len();
    eprintln!(
        "elv: {} ({}) -> {}: {}, {} of tensor data",
        where_from(input),
        human(reader.file_len()),
        where_to(out),
        count(reader.len() as u64, "tensor"),
        human(tensors)
    );
}
