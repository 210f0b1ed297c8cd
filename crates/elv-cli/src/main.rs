//! `elv`: compress safetensors models to `.elv` and back, inspect, verify and extract.
//! Conventions follow gzip and zstd: several inputs each to their own output, `-` for
//! stdin/stdout, inputs kept (`--rm` removes them once the output is on disk), existing
//! files never replaced without `-f`, output appearing only when complete.

mod args;
mod convert;
mod input;
mod inspect;
mod npy;
mod output;
mod text;

use clap::{Args, CommandFactory, Parser, Subcommand};
use convert::{Direction, Flags};
use elv::WriteOptions;
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

/// `elv --version`: the tool's version and the format versions it reads and writes.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (.elv format: reads 1.0 to 1.2; writes 1.0, and 1.2 for collections and deltas)"
);

const EXAMPLES: &str = "Examples:
  elv compress model.safetensors              # -> model.elv (ELF on f32: |error| <= 2^-24)
  elv model.safetensors                       # the same: compress is the default, as in zstd
  elv compress -19 --lossless *.safetensors   # every value bit-exact, one .elv per input
  elv -l model.elv                            # list tensors (elv info); -t tests (elv verify)
  elv -d model.elv -o back.safetensors        # decompress
  elv compress MODEL_DIR -o model.elv         # a whole folder: shards, index, configs
  elv -d model.elv -o MODEL_DIR2              # ... back to a folder, byte for byte
  elv compress --base base.safetensors ft.safetensors -o ft.elv   # a fine-tune as a delta
  elv -d --base base.safetensors ft.elv       # (decoding needs the same base)
  cat model.safetensors | elv > model.elv      # no file named: stdin to stdout
  elv info model.elv --json                   # tensors, encodings, sizes, bounds
  elv verify model.elv --against model.safetensors
  elv extract model.elv embeddings.weight -o emb.npy
  elv extract model.elv --member config.json  # one file of a collection";

#[derive(Parser)]
#[command(
    name = "elv",
    version = VERSION,
    about = "Compress model weights (safetensors) into .elv and back",
    after_help = EXAMPLES
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
    /// Worker threads (0, the default: all cores).
    #[arg(short = 'T', long, default_value_t = 0)]
    threads: usize,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
    /// Print a line per tensor.
    #[arg(short, long)]
    verbose: bool,
    /// Make each output durable before going on (fsync the file and its folder), as gzip's
    /// --synchronous; --rm always does.
    #[arg(long)]
    sync: bool,
    /// Remove each input once its output is complete and on disk.
    #[arg(long)]
    rm: bool,
    /// Keep the inputs (the default; for symmetry with --rm).
    #[arg(short, long, conflicts_with = "rm")]
    keep: bool,
    /// Write to stdout.
    #[arg(short = 'c', long = "stdout", conflicts_with = "output")]
    to_stdout: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Compress safetensors files into .elv (lossy ELF on f32/f64 by default; see --lossless).
    #[command(short_flag = 'z', long_flag = "compress")]
    Compress {
        /// Input .safetensors files, or - for stdin (the default when stdin is not a terminal).
        inputs: Vec<PathBuf>,
        /// Output file, for one input (default: the input with .elv; stdout for -).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Keep every value bit-exact.
        #[arg(long)]
        lossless: bool,
        /// Also use ELF on f16 and bf16 (error bounds 2^-11 and 2^-8).
        #[arg(long)]
        elf_half: bool,
        /// Keep a tensor lossless when more than this fraction of its non-zero values are below
        /// 2^-16, where ELF's error is large relative to them (optimizer state looks like this).
        #[arg(long, default_value_t = 0.1)]
        max_small: f64,
        /// zstd level for the sections where zstd beats ans (-7 to 22); -1 ... -22 also set
        /// it, as in zstd.
        #[arg(long, default_value_t = 3, allow_negative_numbers = true,
              value_parser = clap::value_parser!(i32).range(-7..=22))]
        level: i32,
        /// Values per chunk.
        #[arg(long, default_value_t = elv::DEFAULT_CHUNK_LEN,
              value_parser = clap::value_parser!(u64).range(1..=(1 << 31)))]
        chunk: u64,
        /// Store tensors as deltas against this base model (a safetensors file, an .elv, or
        /// a folder of them): identical tensors as references, changed ones as deltas when
        /// smaller. Decompressing needs the same base.
        #[arg(long)]
        base: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Decompress .elv files back to safetensors (a collection back to a folder).
    #[command(short_flag = 'd', long_flag = "decompress")]
    Decompress {
        /// Input .elv files, or - for stdin (the default when stdin is not a terminal).
        inputs: Vec<PathBuf>,
        /// Output file, for one input (default: the input with .safetensors; stdout for -);
        /// for a collection, the folder (default: the input without .elv).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// The base model the input was compressed against (--base of compress).
        #[arg(long)]
        base: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// List the tensors of an .elv file with their encoding, sizes and error bound (and the
    /// members of a collection, the base model of a file of deltas).
    #[command(short_flag = 'l', long_flag = "list")]
    Info {
        /// Input .elv file, or - for stdin.
        input: PathBuf,
        /// Print JSON, every name and value exact, for tools.
        #[arg(long)]
        json: bool,
    },
    /// Check every checksum; with --against, compare each tensor with the original.
    #[command(short_flag = 't', long_flag = "test")]
    Verify {
        /// Input .elv file.
        input: PathBuf,
        /// The original safetensors file.
        #[arg(long)]
        against: Option<PathBuf>,
        /// The base model the input was compressed against.
        #[arg(long)]
        base: Option<PathBuf>,
        /// Print only failures and the summary.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Write one tensor, decoded without the others, as raw bytes or .npy; or one member
    /// of a collection as its file.
    Extract {
        /// Input .elv file.
        input: PathBuf,
        /// Tensor name (optional with --member: then the whole member is written).
        #[arg(required_unless_present = "member")]
        name: Option<String>,
        /// In a collection, the member (its path) to read from.
        #[arg(long)]
        member: Option<String>,
        /// The base model the input was compressed against.
        #[arg(long)]
        base: Option<PathBuf>,
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
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(args::normalize(std::env::args_os()));
    // An interrupt must leave no partial output: remove named temporaries (unnamed ones
    // vanish with the process), then exit 130.
    let _ = ctrlc::set_handler(|| {
        elv::atomic::remove_temporaries();
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
            eprintln!("elv: error: {}", text::escape(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}

fn flags(c: &Common) -> Flags {
    Flags {
        force: c.force,
        quiet: c.quiet,
        verbose: c.verbose,
        sync: c.sync,
        rm: c.rm,
    }
}

fn setup_threads(c: &Common) -> output::Fallible<()> {
    if c.threads > 0 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(c.threads)
            .build_global()?;
    }
    Ok(())
}

/// The inputs named, or stdin (`-`) when none is and stdin is not a terminal, as zstd does.
fn or_stdin(inputs: Vec<PathBuf>) -> output::Fallible<Vec<PathBuf>> {
    if !inputs.is_empty() {
        return Ok(inputs);
    }
    if io::IsTerminal::is_terminal(&io::stdin()) {
        let kind = clap::error::ErrorKind::MissingRequiredArgument;
        Cli::command()
            .error(kind, "no input: name a file, or pipe one in")
            .exit();
    }
    Ok(vec![PathBuf::from("-")])
}

fn run(cli: Cli) -> output::Fallible<ExitCode> {
    match cli.cmd {
        Cmd::Compress {
            inputs,
            output,
            lossless,
            elf_half,
            max_small,
            level,
            chunk,
            base,
            common,
        } => {
            setup_threads(&common)?;
            let inputs = or_stdin(inputs)?;
            if !(0.0..=1.0).contains(&max_small) {
                return Err("--max-small must be between 0 and 1".into());
            }
            let opts = WriteOptions {
                lossless,
                elf_half,
                max_small_fraction: max_small,
                level,
                chunk_len: chunk,
                ..WriteOptions::default()
            };
            let direction = Direction::Compress(opts, input::open_base(base.as_deref())?);
            convert::run(
                &inputs,
                output,
                common.to_stdout,
                &direction,
                &flags(&common),
            )
        }
        Cmd::Decompress {
            inputs,
            output,
            base,
            common,
        } => {
            setup_threads(&common)?;
            let inputs = or_stdin(inputs)?;
            let direction = Direction::Decompress(input::open_base(base.as_deref())?);
            convert::run(
                &inputs,
                output,
                common.to_stdout,
                &direction,
                &flags(&common),
            )
        }
        Cmd::Info { input, json } => {
            inspect::info(&input, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Verify {
            input,
            against,
            base,
            quiet,
        } => inspect::verify(
            &input,
            against.as_deref(),
            &input::open_base(base.as_deref())?,
            quiet,
        ),
        Cmd::Extract {
            input,
            name,
            member,
            base,
            output,
            npy,
            force,
        } => {
            let what = inspect::Extracted {
                name: name.as_deref(),
                member: member.as_deref(),
            };
            let base = input::open_base(base.as_deref())?;
            inspect::extract(&input, what, &base, output.as_deref(), npy, force)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "elv", &mut io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}
