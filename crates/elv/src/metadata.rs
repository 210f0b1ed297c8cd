//! What the keys of the METADATA section mean (SPEC.md §10): the implementation's
//! namespaces (`safetensors.`, `elv.`), the user's metadata (safetensors' `__metadata__`)
//! stored under a prefix and presented without it, and the modification times of a
//! collection's members.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Metadata key holding the original safetensors header text verbatim (SPEC.md §10).
pub const KEY_SAFETENSORS_HEADER: &str = "safetensors.header";
/// Prefix of metadata keys carrying `__metadata__` entries (SPEC.md §10).
pub const KEY_SAFETENSORS_METADATA: &str = "safetensors.metadata.";
/// Metadata keys starting with these belong to the implementation, not to `__metadata__`.
const RESERVED_PREFIXES: [&str; 2] = ["safetensors.", "elv."];

/// The safetensors `__metadata__` a file's metadata `pairs` carry (SPEC.md §10): each
/// `safetensors.metadata.KEY` as `KEY`, and every key outside the implementation's
/// namespaces (`safetensors.`, `elv.`) as itself; where both name one key, the prefixed one
/// wins. This is what [`Reader::metadata`](crate::Reader::metadata) returns, what
/// [`serialize`](crate::serialize()) stored, and what decompressing writes as `__metadata__`.
pub fn user_metadata(pairs: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = pairs
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix(KEY_SAFETENSORS_METADATA)?;
            Some((key.to_string(), v.clone()))
        })
        .collect();
    let prefixed = out.len();
    for (k, v) in pairs {
        let shadowed = out
            .get(..prefixed)
            .unwrap_or_default()
            .iter()
            .any(|(key, _)| key == k);
        if !shadowed && !RESERVED_PREFIXES.iter().any(|p| k.starts_with(p)) {
            out.push((k.clone(), v.clone()));
        }
    }
    out
}

/// The metadata pairs that store the `__metadata__` entries `user` (each under
/// `safetensors.metadata.`), so that [`user_metadata`] gives `user` back.
pub fn stored_metadata(user: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    user.into_iter()
        .map(|(k, v)| (format!("{KEY_SAFETENSORS_METADATA}{k}"), v))
        .collect()
}

/// Metadata key recording collection members' modification times (SPEC.md §10): a JSON
/// object from member path to `[seconds, nanoseconds]` since the Unix epoch.
pub const KEY_MEMBER_MTIMES: &str = "elv.member.mtimes";

/// The [`KEY_MEMBER_MTIMES`] value for members' (path, modification time), if any has one.
pub fn member_mtimes_value<'a>(
    members: impl IntoIterator<Item = (&'a str, Option<SystemTime>)>,
) -> Option<String> {
    let times: serde_json::Map<String, serde_json::Value> = members
        .into_iter()
        .filter_map(|(path, modified)| {
            let (secs, nanos) = match modified?.duration_since(UNIX_EPOCH) {
                Ok(d) => (i64::try_from(d.as_secs()).ok()?, d.subsec_nanos()),
                // Before 1970: whole seconds back, then nanoseconds forward.
                Err(e) => {
                    let d = e.duration();
                    let back = i64::try_from(d.as_secs()).ok()?;
                    match d.subsec_nanos() {
                        0 => (-back, 0),
                        n => (-back - 1, 1_000_000_000 - n),
                    }
                }
            };
            Some((path.to_string(), serde_json::json!([secs, nanos])))
        })
        .collect();
    (!times.is_empty()).then(|| serde_json::Value::Object(times).to_string())
}

/// The members' modification times recorded in the metadata value `raw` ([`KEY_MEMBER_MTIMES`]),
/// one per member; `None` where none is recorded or the record is not one.
pub fn member_mtimes(raw: Option<&str>, members: &[elv_core::Member]) -> Vec<Option<SystemTime>> {
    let parsed: Option<serde_json::Map<String, serde_json::Value>> =
        raw.and_then(|r| serde_json::from_str(r).ok());
    members
        .iter()
        .map(|m| {
            let pair = parsed.as_ref()?.get(&m.path)?.as_array()?;
            let secs = pair.first()?.as_i64()?;
            let nanos = u32::try_from(pair.get(1)?.as_u64()?).ok()?;
            if nanos >= 1_000_000_000 || pair.len() != 2 {
                return None;
            }
            let since = Duration::new(secs.unsigned_abs(), 0);
            let whole = match secs >= 0 {
                true => UNIX_EPOCH.checked_add(since)?,
                false => UNIX_EPOCH.checked_sub(since)?,
            };
            whole.checked_add(Duration::from_nanos(u64::from(nanos)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_metadata_is_the_prefixed_keys_then_the_plain_ones() {
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        let raw = [
            pair(KEY_SAFETENSORS_HEADER, "{}"),
            pair("elv.member.mtimes", "{}"),
            pair("plain", "old writer"),
            pair("safetensors.metadata.format", "pt"),
            pair("format", "shadowed by the prefixed key"),
        ];
        let user = user_metadata(&raw);
        assert_eq!(user, [pair("format", "pt"), pair("plain", "old writer")]);
        let stored = stored_metadata(user.clone());
        assert_eq!(user_metadata(&stored), user);
    }
}
