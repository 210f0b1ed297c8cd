//! Text for people: names and metadata escaped before they reach a terminal, sizes in one
//! unit system (SI: kB, MB, GB), error bounds and shapes.

use std::borrow::Cow;

/// `s` with every control character (C0 and C1, newlines too), bidirectional override and
/// backslash escaped (`\u{1b}`, `\\`), so a tensor name, path or key cannot move the cursor,
/// hide lines, set the clipboard or forge output. Every message that prints one goes through
/// it, errors included; `--json` output carries names exactly instead.
pub fn escape(s: &str) -> Cow<'_, str> {
    let bad = |c: char| {
        c.is_control()
            || c == '\\'
            || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if bad(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `n` and `noun`, plural unless `n` is 1: `1 tensor`, `3 tensors`, `0 files`.
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    match n.into() {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// A byte count in SI units: `512 B`, `90.87 MB`.
pub fn human(b: u64) -> String {
    let f = b as f64;
    match b {
        0..=999 => format!("{b} B"),
        1_000..=999_999 => format!("{:.1} kB", f / 1e3),
        1_000_000..=999_999_999 => format!("{:.2} MB", f / 1e6),
        1_000_000_000..=999_999_999_999 => format!("{:.2} GB", f / 1e9),
        _ => format!("{:.2} TB", f / 1e12),
    }
}

/// `exact`, or the bound `2^-k`.
pub fn bound(k: u8) -> String {
    if k == 0 {
        "exact".into()
    } else {
        format!("2^-{k}")
    }
}

/// `[384, 1536]`; `[]` for a scalar.
pub fn shape(s: &[u64]) -> String {
    let dims: Vec<String> = s.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_escaped() {
        assert_eq!(escape("w.weight"), "w.weight");
        assert_eq!(escape("a\u{1b}[8mb"), "a\\u{1b}[8mb");
        assert_eq!(escape("x\ny\rz"), "x\\u{a}y\\u{d}z");
        assert_eq!(escape("\u{202e}gpj.exe"), "\\u{202e}gpj.exe");
        assert_eq!(escape("a\\u{1b}"), "a\\\\u{1b}");
    }

    #[test]
    fn sizes_use_one_unit_system() {
        assert_eq!(human(999), "999 B");
        assert_eq!(human(90_868_648), "90.87 MB");
        assert_eq!(human(1_090_000_000), "1.09 GB");
    }
}
