//! A restricted unpickler for PyTorch's `data.pkl`: it interprets the pickle opcodes a
//! tensor checkpoint uses and builds plain values from them. Nothing is ever called or
//! imported: a global is accepted only from a short list of names that mean "a tensor", "an
//! ordered dict" or "a tuple" (the names `torch.load(weights_only=True)` allows for plain
//! checkpoints), and those are interpreted here; any other global (`os.system`,
//! `builtins.eval`, a model class) is refused when it is read, naming it.
//!
//! Memory stays bounded by the pickle's length: every value is made from bytes present in
//! it, and a value fetched from the memo again is shared, not copied.

#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

use crate::{Error, Result};
use elv_core::DType;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::globals::{allowed, refusal, Global};
use super::value::dismantle;
pub(crate) use super::value::{Storage, Unpickled, Value, View};

/// Reads the pickle `bytes` (named `what` in errors) to its one value.
pub(crate) fn unpickle(bytes: &[u8], what: &str) -> Result<Unpickled> {
    let mut machine = Machine {
        input: bytes,
        at: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        kept: Vec::new(),
        what,
    };
    let root = machine.run()?;
    // What the stack and memo still hold goes with the result, to be taken apart with it.
    let mut rest = std::mem::take(&mut machine.stack);
    rest.extend(machine.memo.drain().map(|(_, v)| v));
    rest.append(&mut machine.kept);
    Ok(Unpickled::new(root, rest))
}

impl Drop for Machine<'_> {
    fn drop(&mut self) {
        // A pickle that failed: all it built goes, cycles included.
        let mut all = std::mem::take(&mut self.stack);
        all.extend(self.memo.drain().map(|(_, v)| v));
        all.append(&mut self.kept);
        dismantle(all, true);
    }
}

struct Machine<'a> {
    input: &'a [u8],
    at: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u64, Value>,
    /// Shared containers taken off the stack or out of the memo (see
    /// [`Machine::keep_if_shared`]).
    kept: Vec<Value>,
    what: &'a str,
}

impl Machine<'_> {
    fn fail(&self, why: impl std::fmt::Display) -> Error {
        Error::input(None, format!("{} byte {}: {why}", self.what, self.at))
    }

    fn take(&mut self, n: u64) -> Result<&[u8]> {
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| self.at.checked_add(n))
            .filter(|&e| e <= self.input.len())
            .ok_or_else(|| self.fail("the pickle ends inside an opcode's argument"))?;
        let got = self.input.get(self.at..end).unwrap_or_default();
        self.at = end;
        Ok(got)
    }

    fn le(&mut self, n: usize) -> Result<u64> {
        let b = self.take(n as u64)?;
        Ok(b.iter().rev().fold(0u64, |v, &x| v << 8 | u64::from(x)))
    }

    fn line(&mut self) -> Result<String> {
        let rest = self.input.get(self.at..).unwrap_or_default();
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| self.fail("a GLOBAL name without its newline"))?;
        let s = String::from_utf8_lossy(self.take(n as u64)?).into_owned();
        self.at += 1;
        Ok(s)
    }

    /// Keeps a reference to `v` with what the pickle built if it is a container shared
    /// elsewhere: it may be in a cycle (a list holding itself), which only taking the
    /// whole graph apart frees, whatever the opcode that took `v` then does with it.
    fn keep_if_shared(&mut self, v: &Value) {
        let shared = match v {
            Value::List(l) => Rc::strong_count(l) > 1,
            Value::Dict(d) => Rc::strong_count(d) > 1,
            Value::Tuple(t) => Rc::strong_count(t) > 1,
            _ => false,
        };
        if shared {
            self.kept.push(v.clone());
        }
    }

    fn pop(&mut self) -> Result<Value> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.fail("an opcode pops from an empty stack"));
        }
        let v = self.stack.pop().ok_or_else(|| self.fail("empty stack"))?;
        self.keep_if_shared(&v);
        Ok(v)
    }

    fn top(&self) -> Result<&Value> {
        let floor = self.marks.last().copied().unwrap_or(0);
        match self.stack.get(floor..).and_then(<[Value]>::last) {
            Some(v) => Ok(v),
            None => Err(self.fail("an opcode reads an empty stack")),
        }
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| self.fail("no MARK for this opcode"))?;
        let items = self.stack.split_off(m.min(self.stack.len()));
        for v in &items {
            self.keep_if_shared(v);
        }
        Ok(items)
    }

    fn text(&mut self, n: u64) -> Result<Value> {
        let b = self.take(n)?;
        match std::str::from_utf8(b) {
            Ok(s) => Ok(Value::Str(s.into())),
            Err(_) => Err(self.fail("a string that is not UTF-8")),
        }
    }

    fn run(&mut self) -> Result<Value> {
        loop {
            let op = *self
                .input
                .get(self.at)
                .ok_or_else(|| self.fail("the pickle ends without STOP"))?;
            self.at += 1;
            let v = match op {
                b'.' => return self.pop(),
                0x80 => {
                    self.take(1)?;
                    continue;
                }
                0x95 => {
                    self.take(8)?;
                    continue;
                }
                b'(' => {
                    self.marks.push(self.stack.len());
                    continue;
                }
                b'0' => {
                    let v = self.pop()?;
                    dismantle(vec![v], false);
                    continue;
                }
                b'1' => {
                    let items = self.pop_mark()?;
                    dismantle(items, false);
                    continue;
                }
                b'2' => self.top()?.clone(),
                b'N' => Value::None,
                0x88 => Value::Bool(true),
                0x89 => Value::Bool(false),
                b'J' => Value::Int(i64::from(self.le(4)? as u32 as i32)),
                b'K' => Value::Int(self.le(1)? as i64),
                b'M' => Value::Int(self.le(2)? as i64),
                0x8a => {
                    let n = self.le(1)?;
                    self.long(n)?
                }
                0x8b => {
                    let n = self.le(4)?;
                    self.long(n)?
                }
                b'G' => Value::Float(f64::from_bits(self.le(8)?.swap_bytes())),
                b'X' => {
                    let n = self.le(4)?;
                    self.text(n)?
                }
                0x8c => {
                    let n = self.le(1)?;
                    self.text(n)?
                }
                0x8d => {
                    let n = self.le(8)?;
                    self.text(n)?
                }
                b'T' | b'U' => {
                    // Python 2 `str`: bytes read as Latin-1.
                    let n = if op == b'T' { self.le(4)? } else { self.le(1)? };
                    let s: String = self.take(n)?.iter().map(|&b| char::from(b)).collect();
                    Value::Str(s.into())
                }
                b'B' | b'C' | 0x8e => {
                    let n = match op {
                        b'B' => self.le(4)?,
                        b'C' => self.le(1)?,
                        _ => self.le(8)?,
                    };
                    Value::Bytes(self.take(n)?.into())
                }
                b')' => Value::Tuple(Rc::default()),
                b't' => Value::Tuple(Rc::new(self.pop_mark()?)),
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    Value::Tuple(Rc::new(items))
                }
                b']' | 0x8f => Value::List(Rc::default()),
                b'l' => Value::List(Rc::new(RefCell::new(self.pop_mark()?))),
                0x91 => Value::List(Rc::new(RefCell::new(self.pop_mark()?))),
                b'a' => {
                    let v = self.pop()?;
                    self.extend_list(vec![v])?;
                    continue;
                }
                b'e' | 0x90 => {
                    let items = self.pop_mark()?;
                    self.extend_list(items)?;
                    continue;
                }
                b'}' => Value::Dict(Rc::default()),
                b'd' => {
                    let items = self.pop_mark()?;
                    let d = Value::Dict(Rc::default());
                    self.stack.push(d);
                    self.set_items(items)?;
                    continue;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?;
                    continue;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                    continue;
                }
                b'q' | b'r' | 0x94 => {
                    let key = match op {
                        b'q' => self.le(1)?,
                        b'r' => self.le(4)?,
                        _ => self.memo.len() as u64,
                    };
                    let v = self.top()?.clone();
                    if let Some(old) = self.memo.insert(key, v) {
                        self.keep_if_shared(&old);
                        dismantle(vec![old], false);
                    }
                    continue;
                }
                b'h' | b'j' => {
                    let key = if op == b'h' { self.le(1)? } else { self.le(4)? };
                    self.memo
                        .get(&key)
                        .cloned()
                        .ok_or_else(|| self.fail(format!("memo {key} was never stored")))?
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.global(&module, &name)?
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => self.global(&m, &n)?,
                        _ => return Err(self.fail("STACK_GLOBAL without two strings")),
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let f = self.pop()?;
                    self.reduce(f, args)?
                }
                b'Q' => {
                    let pid = self.pop()?;
                    self.persistent(pid)?
                }
                b'b' => {
                    // An object's state: for an OrderedDict, the module's `_metadata`
                    // (versions), which a flat list of tensors has no place for.
                    let _state = self.pop()?;
                    match self.top()? {
                        Value::Dict(_) => continue,
                        _ => return Err(self.fail("BUILD on something other than a dict")),
                    }
                }
                other => {
                    return Err(self.fail(format!(
                        "pickle opcode 0x{other:02x} is not one a tensor checkpoint uses"
                    )))
                }
            };
            self.stack.push(v);
        }
    }

    fn long(&mut self, n: u64) -> Result<Value> {
        if n > 8 {
            return Err(self.fail(format!("an integer of {n} bytes")));
        }
        let raw = self.le(n as usize)?;
        let shift = 64 - 8 * n as u32;
        Ok(Value::Int(if n == 0 {
            0
        } else {
            ((raw << shift) as i64) >> shift
        }))
    }

    fn global(&self, module: &str, name: &str) -> Result<Value> {
        allowed(module, name)
            .map(Value::Global)
            .ok_or_else(|| self.fail(refusal(module, name)))
    }

    fn extend_list(&mut self, items: Vec<Value>) -> Result<()> {
        match self.top()? {
            Value::List(l) => {
                l.borrow_mut().extend(items);
                Ok(())
            }
            _ => Err(self.fail("APPEND to something other than a list")),
        }
    }

    fn set_items(&mut self, items: Vec<Value>) -> Result<()> {
        if items.len() % 2 != 0 {
            return Err(self.fail("SETITEMS with a key and no value"));
        }
        let Value::Dict(d) = self.top()? else {
            return Err(self.fail("SETITEM on something other than a dict"));
        };
        let mut d = d.borrow_mut();
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            d.push((k, v));
        }
        Ok(())
    }

    fn reduce(&self, f: Value, args: Value) -> Result<Value> {
        let Value::Tuple(args) = args else {
            return Err(self.fail("REDUCE with arguments that are not a tuple"));
        };
        let Value::Global(g) = f else {
            return Err(self.fail("REDUCE of something that is not an allowed global"));
        };
        let arg = |i: usize| args.get(i).cloned().unwrap_or(Value::None);
        Ok(match (g, args.len()) {
            (Global::OrderedDict, 0) => Value::Dict(Rc::default()),
            (Global::RebuildTensor, 6..=7) => self.rebuild_tensor(&args, None)?,
            (Global::RebuildTensorV3, 7..=8) => match arg(6) {
                Value::Global(Global::DType(d)) => self.rebuild_tensor(&args, Some(d))?,
                _ => return Err(self.fail("_rebuild_tensor_v3 without a dtype")),
            },
            (Global::RebuildParameter, 2..=4) => match arg(0) {
                t @ Value::Tensor(_) => t,
                _ => return Err(self.fail("_rebuild_parameter of something not a tensor")),
            },
            (Global::Size, 1) => match arg(0) {
                t @ Value::Tuple(_) => t,
                _ => return Err(self.fail("torch.Size of something not a tuple")),
            },
            (Global::Device, 1 | 2) => arg(0),
            (Global::Encode, 1 | 2) => match arg(0) {
                Value::Str(s) => Value::Bytes(s.chars().map(|c| c as u32 as u8).collect()),
                _ => return Err(self.fail("_codecs.encode of something not a string")),
            },
            (Global::Set, 0) => Value::List(Rc::default()),
            (Global::Set, 1) => match arg(0) {
                l @ Value::List(_) => l,
                _ => return Err(self.fail("a set of something not a list")),
            },
            (g, n) => return Err(self.fail(format!("{g:?} applied to {n} arguments"))),
        })
    }

    fn rebuild_tensor(&self, args: &[Value], dtype: Option<DType>) -> Result<Value> {
        let ints = |v: Option<&Value>| -> Option<Vec<u64>> {
            match v? {
                Value::Tuple(t) => t
                    .iter()
                    .map(|x| match x {
                        Value::Int(i) => u64::try_from(*i).ok(),
                        _ => None,
                    })
                    .collect(),
                _ => None,
            }
        };
        let (Some(Value::Storage(storage)), Some(Value::Int(offset)), Some(shape), Some(stride)) = (
            args.first(),
            args.get(1),
            ints(args.get(2)),
            ints(args.get(3)),
        ) else {
            return Err(self.fail("_rebuild_tensor_v2 without storage, offset, size and stride"));
        };
        if shape.len() != stride.len() {
            return Err(self.fail("a tensor whose size and stride differ in length"));
        }
        let offset = u64::try_from(*offset).map_err(|_| self.fail("a negative storage offset"))?;
        Ok(Value::Tensor(Rc::new(View {
            storage: storage.clone(),
            dtype: dtype.unwrap_or(storage.dtype),
            offset,
            shape,
            stride,
        })))
    }

    fn persistent(&self, pid: Value) -> Result<Value> {
        let Value::Tuple(t) = pid else {
            return Err(self.fail("a persistent id that is not a tuple"));
        };
        match &t[..] {
            [Value::Str(tag), Value::Global(Global::StorageType(dtype)), Value::Str(key), _, Value::Int(numel), ..]
                if &**tag == "storage" =>
            {
                let numel =
                    u64::try_from(*numel).map_err(|_| self.fail("a negative storage size"))?;
                Ok(Value::Storage(Rc::new(Storage {
                    key: key.to_string(),
                    dtype: *dtype,
                    numel,
                })))
            }
            _ => {
                Err(self.fail("a persistent id that is not ('storage', type, key, location, size)"))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{unpickle, Value};
    use std::rc::Rc;

    /// A list that holds itself (EMPTY_LIST, BINPUT 0, BINGET 0, APPEND, STOP), and one
    /// made so but left in the memo only (POP, then None as the result): both freed when
    /// the result is dropped, not leaked through their cycle.
    #[test]
    fn containers_in_a_cycle_are_freed() {
        let root_cycle = b"\x80\x02]q\x00h\x00a.";
        let u = unpickle(root_cycle, "test").unwrap();
        let Value::List(l) = &u.0 else {
            panic!("not a list")
        };
        let weak = Rc::downgrade(l);
        drop(u);
        assert!(weak.upgrade().is_none(), "the self-holding list leaked");

        let memo_cycle = b"\x80\x02]q\x00h\x00a0N.";
        kept_list_is_freed(memo_cycle, "the memo's self-holding list");

        // A list holding a tuple that holds the list, only the tuple in the memo (EMPTY_LIST,
        // DUP, TUPLE1, BINPUT 0, APPEND, POP, None): found by `fuzz/run.sh pytorch`.
        let tuple_cycle = b"\x80\x02]2\x85q\x00a0N.";
        let u = unpickle(tuple_cycle, "test").unwrap();
        let Some(Value::Tuple(t)) = u.1.first().cloned() else {
            panic!("the memo's tuple is kept with the result")
        };
        let Some(Value::List(l)) = t.first().cloned() else {
            panic!("the tuple holds the list")
        };
        let (weak_t, weak_l) = (Rc::downgrade(&t), Rc::downgrade(&l));
        drop((t, l));
        drop(u);
        assert!(weak_t.upgrade().is_none(), "the tuple in a cycle leaked");
        assert!(weak_l.upgrade().is_none(), "the list in a cycle leaked");

        // A list appended to itself, then popped off the stack and never memoized
        // (EMPTY_LIST, DUP, DUP, APPEND, POP, POP, None): kept with what the pickle built.
        let popped_cycle = b"\x80\x02]22a00N.";
        kept_list_is_freed(popped_cycle, "the popped self-holding list");
    }

    /// `pickle` gives None and keeps `what`, a list, first among the rest of what it built;
    /// dropping the result frees that list.
    fn kept_list_is_freed(pickle: &[u8], what: &str) {
        let u = unpickle(pickle, "test").unwrap();
        assert!(matches!(u.0, Value::None));
        let Some(Value::List(l)) = u.1.first().cloned() else {
            panic!("{what} is not kept with the result")
        };
        let weak = Rc::downgrade(&l);
        drop(l);
        drop(u);
        assert!(weak.upgrade().is_none(), "{what} leaked");
    }
}
