//! PyTorch checkpoints in a model folder: which become safetensors members, under which
//! names, and the index that names them.

use super::{bad, Checkpoint, MAX_PICKLE_BYTES};
use crate::Result;
use std::io::{Read, Seek, SeekFrom};

/// How a file of a model folder is converted when the folder is compressed.
#[derive(Debug)]
pub enum Conversion {
    /// A PyTorch checkpoint, stored as the safetensors member it is equivalent to.
    Checkpoint,
    /// `pytorch_model.bin.index.json`, its shard names rewritten as the shards were.
    Index,
}

/// A converted file, opened.
pub enum Converted {
    /// A checkpoint read as safetensors.
    Checkpoint(Checkpoint<std::fs::File>),
    /// An index's new bytes.
    Index(Vec<u8>),
}

impl Conversion {
    /// Opens `file` as this conversion says.
    pub fn open(&self, mut file: std::fs::File) -> Result<Converted> {
        Ok(match self {
            Conversion::Checkpoint => Converted::Checkpoint(Checkpoint::open(file)?),
            Conversion::Index => {
                let mut text = Vec::new();
                (&mut file).take(MAX_PICKLE_BYTES).read_to_end(&mut text)?;
                Converted::Index(renamed_index(&text)?)
            }
        })
    }
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
/// PyTorch zip checkpoint (`.bin`, `.pt`, `.pth` starting as a zip) becomes a safetensors
/// member named by [`safetensors_name`], and `pytorch_model.bin.index.json` becomes
/// `model.safetensors.index.json` naming them — unless a new name is taken by a file
/// already there (a repository shipping both formats), in which case every file stays as
/// it is. Renames `inputs` in place and keeps them sorted; returns the conversions by new
/// member path.
pub fn convert_in_folder(
    inputs: &mut [crate::convert::folder::MemberInput],
) -> Result<std::collections::HashMap<String, Conversion>> {
    let mut plan = std::collections::HashMap::new();
    let taken: std::collections::HashSet<String> = inputs.iter().map(|m| m.path.clone()).collect();
    let mut renames = Vec::new();
    for (i, m) in inputs.iter_mut().enumerate() {
        let Some(file) = m.file.as_mut() else {
            continue;
        };
        if m.path.ends_with("pytorch_model.bin.index.json") {
            let new = m.path.replace(
                "pytorch_model.bin.index.json",
                "model.safetensors.index.json",
            );
            renames.push((i, new, Conversion::Index));
            continue;
        }
        let Some(new) = safetensors_name(&m.path) else {
            continue;
        };
        // Only what reads as tensors is converted: a pickled object (transformers'
        // `training_args.bin`) stays a file.
        let tensors = Checkpoint::open(&*file).is_ok();
        file.seek(SeekFrom::Start(0))?;
        if tensors {
            renames.push((i, new, Conversion::Checkpoint));
        } else if new
            .rsplit('/')
            .next()
            .is_some_and(|f| f.starts_with("model"))
            && m.path.contains("pytorch_model")
        {
            // A shard that cannot be converted stays a file, and so must its index and
            // siblings.
            return Ok(plan);
        }
    }
    let mut new_names = std::collections::HashSet::new();
    if renames
        .iter()
        .any(|(_, new, _)| taken.contains(new) || !new_names.insert(new.clone()))
    {
        return Ok(plan);
    }
    if !renames
        .iter()
        .any(|(_, _, c)| matches!(c, Conversion::Checkpoint))
    {
        return Ok(plan);
    }
    for (i, new, how) in renames {
        if let Some(m) = inputs.get_mut(i) {
            m.path = new.clone();
            plan.insert(new, how);
        }
    }
    inputs.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(plan)
}
