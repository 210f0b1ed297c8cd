//! A checkpoint's object graph as flat names: tensors as `model.layer.weight` (dict keys
//! and list indices joined with dots, as transformers and `safetensors` name them, so an
//! optimizer's state reads `optimizer.state.0.exp_avg`), and every value that holds no
//! tensor (an epoch, a learning rate, a list of parameter groups) as JSON text under its
//! name, for the safetensors metadata.

use super::unpickle::{Value, View};
use crate::{Error, Result};
use serde_json::Value as Json;
use std::collections::HashSet;
use std::rc::Rc;

/// How deep dicts and lists may nest: real checkpoints use a handful of levels.
const MAX_DEPTH: usize = 64;

/// The flat view of a checkpoint.
#[derive(Default)]
pub(crate) struct Flat {
    /// Tensors by name, in the order the pickle holds them.
    pub tensors: Vec<(String, Rc<View>)>,
    /// Values that hold no tensor, by name, as JSON text.
    pub values: Vec<(String, String)>,
    names: HashSet<String>,
    /// Values still to visit: a pickle can share one list many times over (a list of the
    /// same list, a thousand levels deep), which a walk would expand without end.
    budget: u64,
}

impl Flat {
    fn visit(&mut self) -> Result<()> {
        self.budget = self.budget.checked_sub(1).ok_or_else(|| {
            bad("the checkpoint's values share one another too many times to be flattened")
        })?;
        Ok(())
    }
}

/// Flattens the checkpoint's root value, read from a pickle of `pickle_len` bytes: at most
/// a few visits per byte.
pub(crate) fn flatten(root: &Value, pickle_len: usize) -> Result<Flat> {
    let mut flat = Flat {
        budget: 1_000_000 + 16 * pickle_len as u64,
        ..Flat::default()
    };
    match root {
        Value::Tensor(t) => flat.tensors.push(("tensor".into(), t.clone())),
        Value::Dict(_) | Value::List(_) | Value::Tuple(_) => walk(root, "", 0, &mut flat)?,
        _ => return Err(bad("the checkpoint holds no tensors, only a plain value")),
    }
    if flat.tensors.is_empty() {
        return Err(bad("the checkpoint holds no tensors"));
    }
    Ok(flat)
}

fn bad(why: impl std::fmt::Display) -> Error {
    Error::input(None, why)
}

fn join(prefix: &str, key: &str) -> String {
    match prefix {
        "" => key.to_string(),
        p => format!("{p}.{key}"),
    }
}

fn walk(v: &Value, name: &str, depth: usize, flat: &mut Flat) -> Result<()> {
    flat.visit()?;
    if depth > MAX_DEPTH {
        return Err(bad(format!("{name}: nested more than {MAX_DEPTH} deep")));
    }
    let items: Vec<(String, Value)> = match v {
        Value::Tensor(t) => {
            if !flat.names.insert(name.to_string()) {
                return Err(bad(format!("two tensors are both named {name}")));
            }
            flat.tensors.push((name.to_string(), t.clone()));
            return Ok(());
        }
        Value::Dict(d) => {
            let mut out = Vec::new();
            for (k, v) in d.borrow().iter() {
                let key = match k {
                    Value::Str(s) => s.to_string(),
                    Value::Int(i) => i.to_string(),
                    _ => {
                        return Err(bad(format!(
                            "{name}: a dict key that is not a string or int"
                        )))
                    }
                };
                out.push((key, v.clone()));
            }
            out
        }
        Value::List(l) => enumerate(&l.borrow()),
        Value::Tuple(t) => enumerate(t),
        _ => Vec::new(),
    };
    if !holds_tensor(v, depth, flat)? {
        if !name.is_empty() {
            let text = json(v, depth, flat)?.to_string();
            flat.values.push((name.to_string(), text));
        }
        return Ok(());
    }
    for (key, child) in items {
        walk(&child, &join(name, &key), depth + 1, flat)?;
    }
    Ok(())
}

fn enumerate(items: &[Value]) -> Vec<(String, Value)> {
    items
        .iter()
        .enumerate()
        .map(|(i, v)| (i.to_string(), v.clone()))
        .collect()
}

fn holds_tensor(v: &Value, depth: usize, flat: &mut Flat) -> Result<bool> {
    flat.visit()?;
    if depth > MAX_DEPTH {
        return Err(bad(format!("values nested more than {MAX_DEPTH} deep")));
    }
    Ok(match v {
        Value::Tensor(_) => true,
        Value::Dict(d) => {
            let d = d.borrow();
            let mut any = false;
            for (_, v) in d.iter() {
                any |= holds_tensor(v, depth + 1, flat)?;
            }
            any
        }
        Value::List(l) => any_tensor(&l.borrow(), depth, flat)?,
        Value::Tuple(t) => any_tensor(t, depth, flat)?,
        _ => false,
    })
}

fn any_tensor(items: &[Value], depth: usize, flat: &mut Flat) -> Result<bool> {
    let mut any = false;
    for v in items {
        any |= holds_tensor(v, depth + 1, flat)?;
    }
    Ok(any)
}

/// A value holding no tensor as JSON: non-finite floats as strings (`"nan"`, `"inf"`),
/// bytes as a list of numbers, dict keys as text.
fn json(v: &Value, depth: usize, flat: &mut Flat) -> Result<Json> {
    flat.visit()?;
    if depth > MAX_DEPTH {
        return Err(bad(format!("values nested more than {MAX_DEPTH} deep")));
    }
    let mut list = |items: &[Value]| -> Result<Json> {
        Ok(Json::Array(
            items
                .iter()
                .map(|x| json(x, depth + 1, flat))
                .collect::<Result<_>>()?,
        ))
    };
    Ok(match v {
        Value::None => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map_or_else(|| Json::String(f.to_string().to_lowercase()), Json::Number),
        Value::Str(s) => Json::String(s.to_string()),
        Value::Bytes(b) => Json::from(b.to_vec()),
        Value::List(l) => list(&l.borrow())?,
        Value::Tuple(t) => list(t)?,
        Value::Dict(d) => {
            let mut m = serde_json::Map::new();
            for (k, v) in d.borrow().iter() {
                let key = match k {
                    Value::Str(s) => s.to_string(),
                    other => json(other, depth + 1, flat)?.to_string(),
                };
                m.insert(key, json(v, depth + 1, flat)?);
            }
            Json::Object(m)
        }
        Value::Global(g) => Json::String(format!("{g:?}")),
        Value::Storage(_) => return Err(bad("a storage outside any tensor")),
        Value::Tensor(_) => Json::Null,
    })
}
