//! PyTorch checkpoints in a model folder: which become safetensors members, under which
//! names, and the index that names them.

use super::{bad, Checkpoint, MAX_PICKLE_BYTES};
use crate::Result;
use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};

/// A file of a model folder converted when the folder is compressed.
pub enum Converted {
    /// A PyTorch checkpoint, read as the safetensors member it is equivalent to.
    Checkpoint(Checkpoint<std::fs::File>),
    /// `pytorch_model.bin.index.json`'s bytes, its shard names rewritten as the shards were.
    Index(Vec<u8>),
}

/// The name a checkpoint's safetensors member takes, as transformers names them:
/// `pytorch_model-00001-of-00002.bin` becomes `model-00001-of-00002.safetensors`, any other
/// `X.bin`, `X.pt` or `X.pth` becomes `X.safetensors`.
pub fn safetensors_name(path: &str) -> Option<String> {
    let (dir, file) = path.rsplit_once('/').map_or(("", path), |(d, f)| (d, f));
    let stem = [".bin", ".pt", ".pth"]
        .iter()
        .find_map(|ext| file.strip_suffix(ext))?;
    let stem = stem
        .strip_prefix("pytorch_model")
        .map_or(stem.to_string(), |rest| format!("model{rest}"));
    Some(match dir {
        "" => format!("{stem}.safetensors"),
        d => format!("{d}/{stem}.safetensors"),
    })
}

/// An index's JSON with every `.bin` shard named as [`safetensors_name`] renames it.
fn renamed_index(text: &[u8]) -> Result<Vec<u8>> {
    let mut v: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| bad(format!("an index that is not JSON: {e}")))?;
    let Some(map) = v.get_mut("weight_map").and_then(|m| m.as_object_mut()) else {
        return Err(bad("an index without a weight_map"));
    };
    for shard in map.values_mut() {
        if let Some(new) = shard.as_str().and_then(safetensors_name) {
            *shard = serde_json::Value::String(new);
        }
    }
    let mut out = serde_json::to_vec_pretty(&v).map_err(|e| bad(e.to_string()))?;
    out.push(b'\n');
    Ok(out)
}

/// Decides which files of a model folder are converted (SPEC.md §10.1 members): each
/// PyTorch zip checkpoint (`.bin`, `.pt`, `.pth` that reads as tensors) becomes a
/// safetensors member named by [`safetensors_name`], and `pytorch_model.bin.index.json`
/// becomes `model.safetensors.index.json` naming them — unless a new name is taken by a file
/// already there (a repository shipping both formats), or a `pytorch_model*` shard does not
/// read as tensors, in which case every file stays as it is. Renames `inputs` in place and
/// keeps them sorted; returns the converted files, opened once here, by new member path.
pub fn convert_in_folder(
    inputs: &mut [crate::convert::folder::MemberInput],
) -> Result<HashMap<String, Converted>> {
    let taken: HashSet<&str> = inputs.iter().map(|m| m.path.as_str()).collect();
    let mut renames = Vec::new();
    for (i, m) in inputs.iter().enumerate() {
        let Some(file) = m.file.as_ref() else {
            continue;
        };
        if m.path.ends_with("pytorch_model.bin.index.json") {
            let new = m.path.replace(
                "pytorch_model.bin.index.json",
                "model.safetensors.index.json",
            );
            // Read only once the folder is known to be converted.
            renames.push((i, new, None));
            continue;
        }
        let Some(new) = safetensors_name(&m.path) else {
            continue;
        };
        // Only what reads as tensors is converted: a pickled object (transformers'
        // `training_args.bin`) stays a file.
        match Checkpoint::open(file.try_clone()?) {
            Ok(c) => renames.push((i, new, Some(Converted::Checkpoint(c)))),
            // A shard that cannot be converted stays a file, and so must its index and
            // siblings.
            Err(_)
                if m.path
                    .rsplit('/')
                    .next()
                    .is_some_and(|f| f.starts_with("pytorch_model")) =>
            {
                return Ok(HashMap::new())
            }
            Err(_) => {}
        }
    }
    let mut new_names = HashSet::new();
    let clash = renames
        .iter()
        .any(|(_, new, _)| taken.contains(new.as_str()) || !new_names.insert(new.as_str()));
    let any_checkpoint = renames.iter().any(|(_, _, c)| c.is_some());
    if clash || !any_checkpoint {
        return Ok(HashMap::new());
    }
    let mut plan = HashMap::new();
    for (i, new, converted) in renames {
        let Some(m) = inputs.get_mut(i) else {
            continue;
        };
        let converted = match (converted, m.file.as_ref()) {
            (Some(c), _) => c,
            (None, Some(file)) => {
                let mut text = Vec::new();
                (&*file).seek(SeekFrom::Start(0))?;
                file.take(MAX_PICKLE_BYTES).read_to_end(&mut text)?;
                Converted::Index(renamed_index(&text).map_err(|e| e.in_file(&m.path))?)
            }
            (None, None) => continue,
        };
        m.path = new.clone();
        plan.insert(new, converted);
    }
    inputs.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(plan)
}
