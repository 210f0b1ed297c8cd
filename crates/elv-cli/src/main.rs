//! `elv`: compress safetensors models to `.elv` and back, inspect, verify and extract.
//! Conventions follow `zstd`/`xz`: `-` is stdin/stdout, existing files are never replaced
//! without `-f`, output appears only when complete (temporary file, synced, renamed).

mod npy;

use clap::{Args, Parser, Subcommand};

/// mimalloc keeps freed pages mapped for reuse: every chunk's planes and sections are fresh
/// multi-MiB buffers, and with the system allocator each one was mapped and faulted in anew.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use elv::{
    atomic, compress_safetensors, decompress_to_safetensors, Encoding, ReadOptions, Reader, Report,
    WriteOptions,
};
use indicatif::{ProgressBar, ProgressStyle};
use std::fs::File;
use std::io::{self, BufReader, IsTerminal, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "elv",
    version,
    about = "Compress model weights (safetensors) into .elv and back"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct Common {
    /// Overwrite existing output files.
    #[arg(short, long)]
    force: bool,
    /// Worker threads (default: all cores).
    #[arg(short = 'T', long)]
    threads: Option<usize>,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
    /// Print a line per tensor.
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Compress a safetensors file into .elv (lossy ELF on f32/f64 by default; see --lossless).
    Compress {
        /// Input .safetensors file, or - for stdin.
        input: PathBuf,
        /// Output file (default: input with .elv; stdout when the input is -).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Keep every value bit-exact.
        #[arg(long)]
        lossless: bool,
        /// Also use ELF on f16 and bf16 (error bounds 2^-11 and 2^-8).
        #[arg(long)]
        elf_half: bool,
        /// Keep a tensor lossless if ELF would flush more than this fraction of its non-zero values to zero.
        #[arg(long, default_value_t = 0.001)]
        max_flush: f64,
        /// zstd level for the entropy stage.
        #[arg(short, long, default_value_t = 3)]
        level: i32,
        /// Values per chunk.
        #[arg(long, default_value_t = elv::DEFAULT_CHUNK_LEN)]
        chunk: u64,
        #[command(flatten)]
        common: Common,
    },
    /// Decompress .elv back to safetensors.
    Decompress {
        /// Input .elv file, or - for stdin.
        input: PathBuf,
        /// Output file (default: input with .safetensors; stdout when the input is -).
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// List the tensors of an .elv file with their encoding, sizes and error bound.
    Info {
        /// Input .elv file.
        input: PathBuf,
    },
    /// Check every checksum; with --against, compare each tensor with the original.
    Verify {
        /// Input .elv file.
        input: PathBuf,
        /// The original safetensors file.
        #[arg(long)]
        against: Option<PathBuf>,
        /// Print only failures and the summary.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Write one tensor, decoded without the others, as raw bytes or .npy.
    Extract {
        /// Input .elv file.
        input: PathBuf,
        /// Tensor name.
        name: String,
        /// Output file (default: stdout); a name ending in .npy gets a NumPy header.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Write .npy even to stdout.
        #[arg(long)]
        npy: bool,
        /// Overwrite an existing output file.
        #[arg(short, long)]
        force: bool,
    },
}

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // An interrupt must leave no partial output: remove temporaries, then exit 130.
    let _ = ctrlc::set_handler(|| {
        atomic::remove_temporaries();
        eprintln!("elv: interrupted; no output written");
        std::process::exit(130);
    });
    match run(cli) {
        Ok(code) => code,
        Err(e)
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            let msg = e.to_string().replace('\n', " ");
            eprintln!("elv: error: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Fallible<ExitCode> {
    match cli.cmd {
        Cmd::Compress {
            input,
            output,
            lossless,
            elf_half,
            max_flush,
            level,
            chunk,
            common,
        } => {
            setup_threads(&common)?;
            if !(0.0..=1.0).contains(&max_flush) {
                return Err("--max-flush must be between 0 and 1".into());
            }
            let opts = WriteOptions {
                lossless,
                elf_half,
                max_flush_fraction: max_flush,
                level,
                chunk_len: chunk.max(1),
                ..WriteOptions::default()
            };
            let out = output_path(&input, output, "elv");
            let src = open_input(&input)?;
            let bar = progress_bar(&common);
            let mut tick = |done: u64, total: u64| {
                bar.set_length(total);
                bar.set_position(done);
            };
            let report = write_output(&out, common.force, |w| {
                Ok(compress_safetensors(src, w, &opts, &mut tick)?.1)
            })?;
            bar.finish_and_clear();
            summarize(&report, &common, &out, opts.lossless);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Decompress {
            input,
            output,
            common,
        } => {
            setup_threads(&common)?;
            let out = output_path(&input, output, "safetensors");
            let reader = open_reader(&input)?;
            let bar = progress_bar(&common);
            let mut tick = |done: u64, total: u64| {
                bar.set_length(total);
                bar.set_position(done);
            };
            write_output(&out, common.force, |w| {
                decompress_to_safetensors(&reader, w, &mut tick)?;
                Ok(())
            })?;
            bar.finish_and_clear();
            if !common.quiet {
                let tensors: u64 = reader.iter().map(|t| t.byte_len()).sum();
                eprintln!(
                    "elv: {} ({}) -> {}: {} tensors, {} of tensor data",
                    display_path(&input),
                    human(reader.file_len()),
                    display_path(&out),
                    reader.len(),
                    human(tensors)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Info { input } => {
            info(&input)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Verify {
            input,
            against,
            quiet,
        } => verify(&input, against.as_deref(), quiet),
        Cmd::Extract {
            input,
            name,
            output,
            npy,
            force,
        } => {
            let reader = open_reader(&input)?;
            let t = reader
                .get(&name)
                .ok_or_else(|| format!("no tensor named {name:?}"))?;
            let as_npy = npy
                || output
                    .as_ref()
                    .is_some_and(|p| p.extension().is_some_and(|e| e == "npy"));
            let out = output.unwrap_or_else(|| PathBuf::from("-"));
            write_output(&out, force, |w| {
                if as_npy {
                    npy::write_header(w, t.dtype(), t.shape()).map_err(elv::Error::Io)?;
                }
                io::copy(&mut t.stream(), w)?;
                Ok(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn setup_threads(c: &Common) -> Fallible<()> {
    if let Some(n) = c.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global()?;
    }
    Ok(())
}

/// Copies stdin into an unnamed temporary file (removed by the OS when closed, whatever
/// happens), so a piped input is read like a file in bounded memory: both formats need
/// random access (safetensors for trials and large tensors, `.elv` for its trailing index).
fn spool_stdin() -> Fallible<File> {
    let mut stdin = io::stdin().lock();
    if stdin.is_terminal() {
        return Err("stdin is a terminal; pipe a file in, or name one".into());
    }
    let mut f = tempfile::tempfile().map_err(|e| format!("temporary file for stdin: {e}"))?;
    io::copy(&mut stdin, &mut f).map_err(|e| format!("copying stdin: {e}"))?;
    f.seek(io::SeekFrom::Start(0))?;
    Ok(f)
}

fn open_file(p: &Path) -> Fallible<File> {
    if p.as_os_str() == "-" {
        return spool_stdin();
    }
    let f = File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
    if f.metadata()?.is_dir() {
        return Err(format!("{} is a directory", p.display()).into());
    }
    Ok(f)
}

/// A safetensors input: a file, or stdin spooled to a temporary file.
fn open_input(p: &Path) -> Fallible<BufReader<File>> {
    Ok(BufReader::new(open_file(p)?))
}

/// An `.elv` reader over a file (positioned reads), or stdin spooled to a temporary file.
fn open_reader(p: &Path) -> Fallible<Reader<File>> {
    Ok(Reader::new(open_file(p)?, ReadOptions::default())?)
}

fn output_path(input: &Path, output: Option<PathBuf>, ext: &str) -> PathBuf {
    match output {
        Some(o) => o,
        None if input.as_os_str() == "-" => PathBuf::from("-"),
        None => input.with_extension(ext),
    }
}

/// Writes to stdout, or to a file atomically (temporary file, sync, rename; never replacing an
/// existing file without `force`).
fn write_output<T>(
    out: &Path,
    force: bool,
    fill: impl FnOnce(&mut (dyn Write + Send)) -> elv::Result<T>,
) -> Fallible<T> {
    if out.as_os_str() == "-" {
        let stdout = io::stdout();
        if stdout.is_terminal() && !force {
            return Err("refusing to write binary data to a terminal (use -o FILE, or -f)".into());
        }
        let mut w = io::BufWriter::with_capacity(1 << 20, stdout);
        let v = fill(&mut w)?;
        w.flush()?;
        return Ok(v);
    }
    atomic::write_atomic(out, force, |w| fill(w)).map_err(|e| match e {
        elv::Error::Io(io) if io.kind() == io::ErrorKind::AlreadyExists => {
            format!("{io} (use -f to overwrite)").into()
        }
        other => other.into(),
    })
}

fn progress_bar(c: &Common) -> ProgressBar {
    if c.quiet || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

fn bound_text(k: u8) -> String {
    if k == 0 {
        "exact".into()
    } else {
        format!("2^-{k}")
    }
}

fn shape_text(s: &[u64]) -> String {
    format!(
        "[{}]",
        s.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn summarize(r: &Report, c: &Common, out: &Path, lossless: bool) {
    if c.quiet {
        return;
    }
    if c.verbose {
        for t in &r.tensors {
            eprintln!(
                "{:<50} {:>5} {:>7} {:>12} -> {:>12}  {}{}",
                t.name,
                t.dtype.name(),
                t.encoding.name(),
                t.original,
                t.stored,
                bound_text(t.error_bound_log2),
                t.note.map(|n| format!("  ({n})")).unwrap_or_default()
            );
        }
    }
    let ratio = r.input_bytes as f64 / r.output_bytes.max(1) as f64;
    let dest = if out.as_os_str() == "-" {
        "stdout".to_string()
    } else {
        out.display().to_string()
    };
    let lossy: Vec<_> = r
        .tensors
        .iter()
        .filter(|t| t.encoding == Encoding::Elf)
        .collect();
    eprintln!(
        "elv: {} -> {dest}: {} tensors, ratio {ratio:.3}",
        human(r.input_bytes),
        r.tensors.len()
    );
    if lossy.is_empty() {
        eprintln!("elv: lossless: every tensor decodes bit for bit");
    } else {
        let mut bounds: Vec<String> = lossy
            .iter()
            .map(|t| format!("{} {}", t.dtype.name(), bound_text(t.error_bound_log2)))
            .collect();
        bounds.sort();
        bounds.dedup();
        eprintln!("elv: LOSSY: {} of {} tensors use ELF; values in (-1, 1) change by at most {} (absolute), all others are exact. Use --lossless for bit-exact output.", lossy.len(), r.tensors.len(), bounds.join(", "));
    }
    let kept = r.tensors.iter().filter(|t| t.note.is_some()).count();
    if kept > 0 && !lossless {
        eprintln!("elv: {kept} tensors kept lossless because ELF would flush too many small values to zero (see --max-flush)");
    }
}

fn display_path(p: &Path) -> String {
    if p.as_os_str() == "-" {
        "stdin/stdout".into()
    } else {
        p.display().to_string()
    }
}

fn human(b: u64) -> String {
    let f = b as f64;
    if f >= 1e9 {
        format!("{:.2} GB", f / 1e9)
    } else if f >= 1e6 {
        format!("{:.2} MB", f / 1e6)
    } else {
        format!("{b} B")
    }
}

fn info(input: &Path) -> Fallible<()> {
    let reader = open_reader(input)?;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "{:<50} {:>7} {:<20} {:>8} {:>12} {:>12} {:>7} {:>7}",
        "name", "dtype", "shape", "encoding", "decoded", "stored", "ratio", "bound"
    )?;
    let (mut total_dec, mut total_sto) = (0u64, 0u64);
    for t in reader.iter() {
        let stored = t.stored_len();
        total_dec += t.byte_len();
        total_sto += stored;
        let ratio = if stored == 0 {
            "-".to_string()
        } else {
            format!("{:.3}", t.byte_len() as f64 / stored as f64)
        };
        let enc = match t.duplicate_of() {
            Some(c) => format!("dedup->{}", c.index()),
            None => t.encoding().name().to_string(),
        };
        writeln!(
            out,
            "{:<50} {:>7} {:<20} {:>8} {:>12} {:>12} {:>7} {:>7}",
            t.name(),
            t.dtype().name(),
            shape_text(t.shape()),
            enc,
            t.byte_len(),
            stored,
            ratio,
            bound_text(t.error_bound_log2())
        )?;
    }
    writeln!(
        out,
        "{} tensors, {} bytes decoded, {} bytes of streams",
        reader.len(),
        total_dec,
        total_sto
    )?;
    if input.as_os_str() != "-" {
        writeln!(
            out,
            "file {} bytes, ratio {:.3} (tensor bytes / file bytes)",
            reader.file_len(),
            total_dec as f64 / reader.file_len().max(1) as f64
        )?;
    }
    Ok(())
}

fn verify(input: &Path, against: Option<&Path>, quiet: bool) -> Fallible<ExitCode> {
    let mut out = io::stdout().lock();
    let reader = open_reader(input)?;
    reader.verify()?;
    let Some(orig) = against else {
        if !quiet {
            writeln!(
                out,
                "{}: all checksums OK, {} tensors decode",
                input.display(),
                reader.len()
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    };
    writeln!(
        out,
        "{:<50} {:>7} {:>8} {:>14} {:>12} {:>9}  result",
        "name", "dtype", "bound", "max abs err", "bit-exact", "of"
    )?;
    let mut lines = Vec::new();
    let cmp = elv::verify_against(&reader, open_input(orig)?, &mut |t| {
        if !quiet || !t.ok {
            lines.push(match t.error_bound_log2 {
                None => format!("{:<50} missing from the .elv", t.name),
                Some(k) => format!(
                    "{:<50} {:>7} {:>8} {:>14.3e} {:>12} {:>9}  {}",
                    t.name,
                    t.dtype.name(),
                    bound_text(k),
                    t.max_abs_error,
                    t.exact,
                    t.values,
                    if t.ok { "ok" } else { "BOUND BROKEN" }
                ),
            });
        }
    })?;
    for l in lines {
        writeln!(out, "{l}")?;
    }
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
