//! The values a tensor checkpoint's pickle builds: plain data, storages and tensor views,
//! shared where the pickle's memo shares them, and dropped without recursion.

use super::globals::Global;
use elv_core::DType;
use std::cell::RefCell;
use std::rc::Rc;

/// A value of the unpickled object graph.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    Tuple(Rc<Vec<Value>>),
    List(Rc<RefCell<Vec<Value>>>),
    /// A dict or an OrderedDict, in insertion order.
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    /// One of the allowed globals, not yet applied.
    Global(Global),
    /// A storage named by a persistent id: the zip member `data/KEY`.
    Storage(Rc<Storage>),
    /// A tensor: a view into a storage.
    Tensor(Rc<View>),
}

/// A storage: `numel` elements of `dtype` in the zip member `data/<key>` (an untyped
/// storage counts bytes, as `U8`).
#[derive(Debug)]
pub(crate) struct Storage {
    pub key: String,
    pub dtype: DType,
    pub numel: u64,
}

/// A tensor as `_rebuild_tensor_v2` describes it: its dtype (the storage's, or the one
/// `_rebuild_tensor_v3` gives), offset, shape and strides in elements of that dtype.
#[derive(Debug)]
pub(crate) struct View {
    pub storage: Rc<Storage>,
    pub dtype: DType,
    pub offset: u64,
    pub shape: Vec<u64>,
    pub stride: Vec<u64>,
}

/// The unpickled value, and what else the pickle built (its memo), which may share
/// containers with it; all dropped together without recursion (see [`dismantle`]).
pub(crate) struct Unpickled(pub Value, pub(crate) Vec<Value>);

impl Unpickled {
    pub(crate) fn new(root: Value, rest: Vec<Value>) -> Self {
        Unpickled(root, rest)
    }
}

impl Drop for Unpickled {
    fn drop(&mut self) {
        // The whole graph goes: shared lists and dicts are emptied too, which also frees
        // those a pickle tied into a cycle through its memo.
        let mut all = std::mem::take(&mut self.1);
        all.push(std::mem::replace(&mut self.0, Value::None));
        dismantle(all, true);
    }
}

/// Drops `values` with a work list instead of recursion: a pickle can nest containers a
/// million deep, which a recursive drop would follow off the end of the stack. A container
/// still shared is only released, its last owner taking it apart — unless `everything`,
/// when the caller drops the whole graph: then every list and dict is emptied as it is
/// reached, so containers a pickle made into a cycle (a list holding itself, through the
/// memo) are freed too instead of leaking. A tuple still shared is looked into once (it
/// cannot be emptied), so a list that a tuple ties into a cycle is reached as well.
pub(crate) fn dismantle(mut work: Vec<Value>, everything: bool) {
    // Shared tuples already looked into: a pickle can share one many times over.
    let mut seen = std::collections::HashSet::new();
    while let Some(v) = work.pop() {
        match v {
            Value::List(l) => match Rc::try_unwrap(l) {
                Ok(items) => work.extend(items.into_inner()),
                Err(shared) if everything => {
                    if let Ok(mut items) = shared.try_borrow_mut() {
                        work.extend(std::mem::take(&mut *items));
                    }
                }
                Err(_) => {}
            },
            Value::Dict(d) => {
                let items = match Rc::try_unwrap(d) {
                    Ok(items) => items.into_inner(),
                    Err(shared) if everything => shared
                        .try_borrow_mut()
                        .map(|mut items| std::mem::take(&mut *items))
                        .unwrap_or_default(),
                    Err(_) => Vec::new(),
                };
                for (k, v) in items {
                    work.push(k);
                    work.push(v);
                }
            }
            Value::Tuple(t) => match Rc::try_unwrap(t) {
                Ok(items) => work.extend(items),
                Err(shared) if everything => {
                    if seen.insert(Rc::as_ptr(&shared)) {
                        work.extend(shared.iter().cloned());
                    }
                }
                Err(_) => {}
            },
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{dismantle, Value};
    use std::rc::Rc;

    /// Tuples sharing the tuple below them twice, 64 deep: a walk into every shared tuple
    /// each time it is reached would take 2^64 steps; each is looked into once, and all go.
    #[test]
    fn shared_tuples_are_looked_into_once() {
        let bottom = Rc::new(vec![Value::Int(1)]);
        let weak = Rc::downgrade(&bottom);
        let mut t = bottom;
        for _ in 0..64 {
            t = Rc::new(vec![Value::Tuple(t.clone()), Value::Tuple(t)]);
        }
        dismantle(vec![Value::Tuple(t)], true);
        assert!(weak.upgrade().is_none());
    }
}
