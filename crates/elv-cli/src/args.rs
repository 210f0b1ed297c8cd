//! The zstd habits clap cannot parse on its own: `elv FILE` compresses (no subcommand named),
//! and `-1` … `-22` set the zstd level as `--level N` does.

use std::ffi::OsString;

/// Names and flags that start a subcommand (or ask for help); any other first argument, or
/// none, means `compress`.
const SUBCOMMANDS: [&str; 17] = [
    "compress",
    "decompress",
    "info",
    "verify",
    "extract",
    "completions",
    "help",
    "-z",
    "--compress",
    "-d",
    "--decompress",
    "-l",
    "--list",
    "-t",
    "--test",
    "--help",
    "--version",
];

/// `args` (program name first) as clap should see them: `compress` put in front when no
/// subcommand is named, and each `-N` with 1 ≤ N ≤ 22 (not the value of an option, not after
/// `--`) written as `--level=N`.
pub fn normalize(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut args: Vec<OsString> = args.into_iter().collect();
    let first = args.get(1).and_then(|a| a.to_str());
    // Nothing at all is `compress` too: `cat m.safetensors | elv > m.elv`.
    let named = first.is_some_and(|a| SUBCOMMANDS.contains(&a) || a == "-h" || a == "-V");
    if !named {
        args.insert(1, "compress".into());
    }
    let mut out = Vec::with_capacity(args.len());
    let mut rest_are_files = false;
    for a in args {
        let level = match a.to_str() {
            _ if rest_are_files => None,
            Some("--") => {
                rest_are_files = true;
                None
            }
            // `--level -5`: the -5 is the option's value, a negative level.
            Some(_) if out.last().is_some_and(|p: &OsString| p == "--level") => None,
            Some(s) => s
                .strip_prefix('-')
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse::<u8>().ok())
                .filter(|n| (1..=22).contains(n)),
            None => None,
        };
        out.push(match level {
            Some(n) => format!("--level={n}").into(),
            None => a,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Vec<String> {
        let os = std::iter::once("elv")
            .chain(args.iter().copied())
            .map(OsString::from);
        normalize(os)
            .into_iter()
            .skip(1)
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn a_file_alone_means_compress() {
        assert_eq!(norm(&["m.safetensors"]), ["compress", "m.safetensors"]);
        assert_eq!(
            norm(&["-19", "m.safetensors"]),
            ["compress", "--level=19", "m.safetensors"]
        );
        assert_eq!(
            norm(&["-f", "m.safetensors"]),
            ["compress", "-f", "m.safetensors"]
        );
        assert_eq!(norm(&["-d", "m.elv"]), ["-d", "m.elv"]);
        assert_eq!(norm(&["-l", "m.elv"]), ["-l", "m.elv"]);
        assert_eq!(norm(&["info", "m.elv"]), ["info", "m.elv"]);
        assert_eq!(norm(&["--version"]), ["--version"]);
        assert_eq!(norm(&[]), ["compress"]);
    }

    #[test]
    fn numeric_flags_are_levels_but_not_option_values_or_files() {
        assert_eq!(
            norm(&["compress", "-3", "x"]),
            ["compress", "--level=3", "x"]
        );
        assert_eq!(
            norm(&["compress", "-22", "x"]),
            ["compress", "--level=22", "x"]
        );
        // Out of range, an option's value, or after `--`: left for clap to judge.
        assert_eq!(norm(&["compress", "-23", "x"]), ["compress", "-23", "x"]);
        assert_eq!(norm(&["compress", "-0", "x"]), ["compress", "-0", "x"]);
        assert_eq!(
            norm(&["compress", "--level", "-5", "x"]),
            ["compress", "--level", "-5", "x"]
        );
        assert_eq!(norm(&["compress", "--", "-9"]), ["compress", "--", "-9"]);
        assert_eq!(
            norm(&["compress", "-T", "2", "x"]),
            ["compress", "-T", "2", "x"]
        );
    }
}
