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

/// The unpickled value; dropped without recursion (see [`dismantle`]).
pub(crate) struct Unpickled(pub Value);

impl Drop for Unpickled {
    fn drop(&mut self) {
        dismantle(vec![std::mem::replace(&mut self.0, Value::None)]);
    }
}

/// Drops `values` with a work list instead of recursion: a pickle can nest containers a
/// million deep, which a recursive drop would follow off the end of the stack. A container
/// still shared is only released; its last owner takes it apart. (Containers in a cycle,
/// made through the memo, stay allocated: at most the pickle's own size.)
pub(crate) fn dismantle(mut work: Vec<Value>) {
    while let Some(v) = work.pop() {
        match v {
            Value::List(l) => {
                if let Ok(items) = Rc::try_unwrap(l) {
                    work.extend(items.into_inner());
                }
            }
            Value::Dict(d) => {
                if let Ok(items) = Rc::try_unwrap(d) {
                    for (k, v) in items.into_inner() {
                        work.push(k);
                        work.push(v);
                    }
                }
            }
            Value::Tuple(t) => {
                if let Ok(items) = Rc::try_unwrap(t) {
                    work.extend(items);
                }
            }
            _ => {}
        }
    }
}
