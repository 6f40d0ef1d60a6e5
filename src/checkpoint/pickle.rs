//! A restricted reader for Python pickles as `torch.save` writes them.
//!
//! It never runs anything: opcodes are interpreted into plain data ([`Value`]). The only globals
//! accepted are the tensor-rebuild functions, the storage types and `collections.OrderedDict`;
//! any other global (e.g. `os.system`, `builtins.eval`) makes the whole file refused before a
//! single object is built from it.

use std::collections::HashMap;

/// A storage element type, named as PyTorch's legacy storage classes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageType {
    F32,
    F64,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl StorageType {
    fn from_class(name: &str) -> Option<Self> {
        Some(match name {
            "FloatStorage" => Self::F32,
            "DoubleStorage" => Self::F64,
            "HalfStorage" => Self::F16,
            "BFloat16Storage" => Self::BF16,
            "LongStorage" => Self::I64,
            "IntStorage" => Self::I32,
            "ShortStorage" => Self::I16,
            "CharStorage" => Self::I8,
            "ByteStorage" => Self::U8,
            "BoolStorage" => Self::Bool,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::F64 | Self::I64 => 8,
            Self::F32 | Self::I32 => 4,
            Self::F16 | Self::BF16 | Self::I16 => 2,
            Self::I8 | Self::U8 | Self::Bool => 1,
        }
    }
}

/// A tensor as described by the pickle: a view into a storage that is read separately.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    pub storage_key: String,
    pub dtype: StorageType,
    /// Offset into the storage, in elements.
    pub offset: usize,
    pub shape: Vec<usize>,
    pub stride: Vec<usize>,
}

/// Plain data decoded from a pickle.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// Dicts and OrderedDicts, in insertion order.
    Dict(Vec<(Value, Value)>),
    Tensor(TensorRef),
    /// A reference to one of the allowed globals (only meaningful as a callable or storage type).
    Global(Global),
    /// A persistent storage reference: (type, key, element count).
    Storage {
        dtype: StorageType,
        key: String,
        numel: usize,
    },
}

/// The globals a checkpoint may reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Global {
    OrderedDict,
    RebuildTensor,
    RebuildTensorV2,
    RebuildParameter,
    RebuildParameterWithState,
    TorchSize,
    Storage(StorageType),
}

impl Global {
    fn resolve(module: &str, name: &str) -> Option<Self> {
        Some(match (module, name) {
            ("collections", "OrderedDict") => Self::OrderedDict,
            ("torch._utils", "_rebuild_tensor") => Self::RebuildTensor,
            ("torch._utils", "_rebuild_tensor_v2") => Self::RebuildTensorV2,
            ("torch._utils", "_rebuild_parameter") => Self::RebuildParameter,
            ("torch._utils", "_rebuild_parameter_with_state") => Self::RebuildParameterWithState,
            ("torch", "Size") => Self::TorchSize,
            ("torch", class) => Self::Storage(StorageType::from_class(class)?),
            _ => return None,
        })
    }
}

/// Why a pickle could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PickleError {
    #[error(
        "the pickle references `{0}`, which is not a tensor or plain container; refusing to load it (stylespace never runs pickled code)"
    )]
    ForbiddenGlobal(String),
    #[error("the pickle ends early (truncated file?)")]
    Truncated,
    #[error("unsupported pickle opcode 0x{0:02x} at byte {1}")]
    UnsupportedOpcode(u8, usize),
    #[error("malformed pickle at byte {0}: {1}")]
    Malformed(usize, String),
}

type Result<T> = std::result::Result<T, PickleError>;

/// Reads one pickle from the start of `data`; returns the value and the bytes consumed.
pub fn read_pickle(data: &[u8]) -> Result<(Value, usize)> {
    Machine::new(data).run()
}

const MAX_DEPTH: usize = 10_000;

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u64, Value>,
}

impl<'a> Machine<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            pos: 0,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
        }
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(PickleError::Truncated)?;
        let slice = self.data.get(self.pos..end).ok_or(PickleError::Truncated)?;
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes(1)?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.bytes(2)?.try_into().unwrap()))
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.bytes(4)?.try_into().unwrap()))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.bytes(8)?.try_into().unwrap()))
    }

    fn line(&mut self) -> Result<&'a str> {
        let rest = &self.data[self.pos..];
        let len = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(PickleError::Truncated)?;
        let line =
            std::str::from_utf8(&rest[..len]).map_err(|_| self.malformed("non-UTF-8 text"))?;
        self.pos += len + 1;
        Ok(line)
    }

    fn malformed(&self, what: &str) -> PickleError {
        PickleError::Malformed(self.pos, what.to_string())
    }

    fn push(&mut self, value: Value) -> Result<()> {
        if self.stack.len() > 10_000_000 {
            return Err(self.malformed("stack too deep"));
        }
        self.stack.push(value);
        Ok(())
    }

    fn pop(&mut self) -> Result<Value> {
        self.stack
            .pop()
            .ok_or_else(|| self.malformed("stack underflow"))
    }

    fn top(&mut self) -> Result<&mut Value> {
        let pos = self.pos;
        self.stack
            .last_mut()
            .ok_or_else(|| PickleError::Malformed(pos, "stack underflow".into()))
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>> {
        let mark = self.marks.pop().ok_or_else(|| self.malformed("no mark"))?;
        if mark > self.stack.len() {
            return Err(self.malformed("mark beyond stack"));
        }
        Ok(self.stack.split_off(mark))
    }

    fn global(&mut self, module: &str, name: &str) -> Result<()> {
        match Global::resolve(module, name) {
            Some(global) => self.push(Value::Global(global)),
            None => Err(PickleError::ForbiddenGlobal(format!("{module}.{name}"))),
        }
    }

    fn memo_get(&mut self, key: u64) -> Result<()> {
        let value = self
            .memo
            .get(&key)
            .cloned()
            .ok_or_else(|| self.malformed("memo key not found"))?;
        self.push(value)
    }

    fn memo_put(&mut self, key: u64) -> Result<()> {
        let value = self.top()?.clone();
        self.memo.insert(key, value);
        Ok(())
    }

    fn run(mut self) -> Result<(Value, usize)> {
        loop {
            let at = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return Err(self.malformed("unknown protocol"));
                    }
                }
                0x95 => {
                    self.u64()?; // FRAME: a length hint only
                }
                b'.' => {
                    let value = self.pop()?;
                    return Ok((value, self.pos));
                }
                b'(' => {
                    if self.marks.len() >= MAX_DEPTH {
                        return Err(self.malformed("marks nested too deeply"));
                    }
                    self.marks.push(self.stack.len());
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let top = self.top()?.clone();
                    self.push(top)?;
                }
                // Constants and numbers.
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'J' => {
                    let v = i32::from_le_bytes(self.bytes(4)?.try_into().unwrap());
                    self.push(Value::Int(v as i128))?
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(v as i128))?
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Value::Int(v as i128))?
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    let v = self.long(n)?;
                    self.push(v)?
                }
                0x8b => {
                    let n = i32::from_le_bytes(self.bytes(4)?.try_into().unwrap());
                    if n < 0 {
                        return Err(self.malformed("negative length"));
                    }
                    let v = self.long(n as usize)?;
                    self.push(v)?
                }
                b'I' => {
                    let line = self.line()?;
                    let v = match line {
                        "00" => Value::Bool(false),
                        "01" => Value::Bool(true),
                        s => Value::Int(s.parse().map_err(|_| self.malformed("bad INT"))?),
                    };
                    self.push(v)?
                }
                b'L' => {
                    let line = self.line()?.trim_end_matches('L');
                    let v = line.parse().map_err(|_| self.malformed("bad LONG"))?;
                    self.push(Value::Int(v))?
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.bytes(8)?.try_into().unwrap());
                    self.push(Value::Float(v))?
                }
                b'F' => {
                    let line = self.line()?;
                    let v = line.parse().map_err(|_| self.malformed("bad FLOAT"))?;
                    self.push(Value::Float(v))?
                }
                // Strings and bytes.
                b'X' => {
                    let n = self.u32()? as usize;
                    let s = self.utf8(n)?;
                    self.push(Value::Str(s))?
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let s = self.utf8(n)?;
                    self.push(Value::Str(s))?
                }
                0x8d => {
                    let n = self.u64()? as usize;
                    let s = self.utf8(n)?;
                    self.push(Value::Str(s))?
                }
                b'V' => {
                    let s = self.line()?.to_string();
                    self.push(Value::Str(s))?
                }
                b'T' => {
                    let n = self.u32()? as usize;
                    let b = self.bytes(n)?.to_vec();
                    self.push(Value::Str(String::from_utf8_lossy(&b).into_owned()))?
                }
                b'U' => {
                    let n = self.u8()? as usize;
                    let b = self.bytes(n)?.to_vec();
                    self.push(Value::Str(String::from_utf8_lossy(&b).into_owned()))?
                }
                b'S' => {
                    let line = self.line()?;
                    let s = line.trim_matches(|c| c == '\'' || c == '"').to_string();
                    self.push(Value::Str(s))?
                }
                b'B' => {
                    let n = self.u32()? as usize;
                    let b = self.bytes(n)?.to_vec();
                    self.push(Value::Bytes(b))?
                }
                b'C' => {
                    let n = self.u8()? as usize;
                    let b = self.bytes(n)?.to_vec();
                    self.push(Value::Bytes(b))?
                }
                0x8e => {
                    let n = self.u64()? as usize;
                    let b = self.bytes(n)?.to_vec();
                    self.push(Value::Bytes(b))?
                }
                // Containers.
                b')' => self.push(Value::Tuple(Vec::new()))?,
                b']' => self.push(Value::List(Vec::new()))?,
                b'}' => self.push(Value::Dict(Vec::new()))?,
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Tuple(items))?
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err(self.malformed("stack underflow"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push(Value::Tuple(items))?
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Value::List(items))?
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let dict = pairs(items).ok_or_else(|| self.malformed("odd DICT"))?;
                    self.push(Value::Dict(dict))?
                }
                b'a' => {
                    let item = self.pop()?;
                    match self.top()? {
                        Value::List(list) => list.push(item),
                        _ => return Err(self.malformed("APPEND to a non-list")),
                    }
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    match self.top()? {
                        Value::List(list) => list.extend(items),
                        _ => return Err(self.malformed("APPENDS to a non-list")),
                    }
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    match self.top()? {
                        Value::Dict(dict) => dict.push((key, value)),
                        _ => return Err(self.malformed("SETITEM on a non-dict")),
                    }
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let new = pairs(items).ok_or_else(|| self.malformed("odd SETITEMS"))?;
                    match self.top()? {
                        Value::Dict(dict) => dict.extend(new),
                        _ => return Err(self.malformed("SETITEMS on a non-dict")),
                    }
                }
                0x8f => self.push(Value::List(Vec::new()))?, // EMPTY_SET, kept as a list
                0x90 => {
                    let items = self.pop_mark()?;
                    match self.top()? {
                        Value::List(list) => list.extend(items),
                        _ => return Err(self.malformed("ADDITEMS on a non-set")),
                    }
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push(Value::List(items))?
                }
                // Memo.
                b'q' => {
                    let k = self.u8()? as u64;
                    self.memo_put(k)?
                }
                b'r' => {
                    let k = self.u32()? as u64;
                    self.memo_put(k)?
                }
                b'p' => {
                    let k = self
                        .line()?
                        .parse()
                        .map_err(|_| self.malformed("bad PUT"))?;
                    self.memo_put(k)?
                }
                0x94 => {
                    let k = self.memo.len() as u64;
                    self.memo_put(k)?
                }
                b'h' => {
                    let k = self.u8()? as u64;
                    self.memo_get(k)?
                }
                b'j' => {
                    let k = self.u32()? as u64;
                    self.memo_get(k)?
                }
                b'g' => {
                    let k = self
                        .line()?
                        .parse()
                        .map_err(|_| self.malformed("bad GET"))?;
                    self.memo_get(k)?
                }
                // Globals: checked against the allowlist before anything uses them.
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.global(module, name)?
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => self.global(&m, &n)?,
                        _ => return Err(self.malformed("STACK_GLOBAL needs two strings")),
                    }
                }
                b'i' => {
                    // INST: a class instantiated from inline names.
                    let module = self.line()?;
                    let name = self.line()?;
                    return Err(PickleError::ForbiddenGlobal(format!("{module}.{name}")));
                }
                b'o' | 0x82..=0x84 => {
                    return Err(PickleError::ForbiddenGlobal(
                        "an object built by OBJ or the extension registry".into(),
                    ));
                }
                b'R' => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let value = self.reduce(func, args)?;
                    self.push(value)?
                }
                0x81 => {
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let value = self.reduce(cls, args)?;
                    self.push(value)?
                }
                0x92 => {
                    let _kwargs = self.pop()?;
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let value = self.reduce(cls, args)?;
                    self.push(value)?
                }
                b'b' => {
                    // BUILD: state for an object. OrderedDict state (`_metadata`) and tensor
                    // state are irrelevant to the weights; nothing else can be on the stack.
                    let _state = self.pop()?;
                    match self.top()? {
                        Value::Dict(_) | Value::Tensor(_) => {}
                        _ => return Err(self.malformed("BUILD on an unsupported object")),
                    }
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let storage = self.persistent(pid)?;
                    self.push(storage)?
                }
                b'P' => {
                    return Err(self.malformed("text persistent ids are not used by torch.save"));
                }
                _ => return Err(PickleError::UnsupportedOpcode(op, at)),
            }
        }
    }

    fn utf8(&mut self, n: usize) -> Result<String> {
        let b = self.bytes(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| self.malformed("invalid UTF-8 string"))
    }

    fn long(&mut self, n: usize) -> Result<Value> {
        if n > 16 {
            return Err(self.malformed("integer too large"));
        }
        let b = self.bytes(n)?;
        if n == 0 {
            return Ok(Value::Int(0));
        }
        let mut buf = if b[n - 1] & 0x80 != 0 {
            [0xffu8; 16]
        } else {
            [0u8; 16]
        };
        buf[..n].copy_from_slice(b);
        Ok(Value::Int(i128::from_le_bytes(buf)))
    }

    /// A storage reference as torch.save writes it:
    /// `('storage', StorageClass, key, location, numel[, view_metadata])`.
    fn persistent(&self, pid: Value) -> Result<Value> {
        let Value::Tuple(items) = pid else {
            return Err(self.malformed("persistent id is not a tuple"));
        };
        match items.as_slice() {
            [
                Value::Str(kind),
                Value::Global(Global::Storage(dtype)),
                key,
                _location,
                Value::Int(numel),
                ..,
            ] if kind == "storage" => {
                let key = match key {
                    Value::Str(s) => s.clone(),
                    Value::Int(i) => i.to_string(),
                    _ => return Err(self.malformed("storage key is not a string")),
                };
                let numel =
                    usize::try_from(*numel).map_err(|_| self.malformed("bad storage size"))?;
                Ok(Value::Storage {
                    dtype: *dtype,
                    key,
                    numel,
                })
            }
            _ => Err(self.malformed("unsupported persistent id")),
        }
    }

    fn reduce(&self, func: Value, args: Value) -> Result<Value> {
        let Value::Global(global) = func else {
            return Err(self.malformed("REDUCE on a non-callable"));
        };
        let Value::Tuple(args) = args else {
            return Err(self.malformed("REDUCE arguments are not a tuple"));
        };
        match global {
            Global::OrderedDict => Ok(Value::Dict(Vec::new())),
            Global::TorchSize => match args.into_iter().next() {
                Some(Value::Tuple(t)) | Some(Value::List(t)) => Ok(Value::Tuple(t)),
                _ => Ok(Value::Tuple(Vec::new())),
            },
            Global::RebuildTensor | Global::RebuildTensorV2 => self.rebuild_tensor(args),
            Global::RebuildParameter | Global::RebuildParameterWithState => args
                .into_iter()
                .next()
                .ok_or_else(|| self.malformed("_rebuild_parameter without data")),
            Global::Storage(_) => Err(self.malformed("storage classes are not callable here")),
        }
    }

    fn rebuild_tensor(&self, args: Vec<Value>) -> Result<Value> {
        let mut it = args.into_iter();
        let (Some(Value::Storage { dtype, key, numel }), Some(Value::Int(offset))) =
            (it.next(), it.next())
        else {
            return Err(self.malformed("_rebuild_tensor needs (storage, offset, size, stride)"));
        };
        let shape = self.usize_tuple(it.next())?;
        let stride = self.usize_tuple(it.next())?;
        if shape.len() != stride.len() {
            return Err(self.malformed("tensor size and stride differ in length"));
        }
        let offset = usize::try_from(offset).map_err(|_| self.malformed("negative offset"))?;
        // The furthest element the view touches must lie inside the storage.
        let mut last = offset;
        let mut empty = false;
        for (&dim, &step) in shape.iter().zip(&stride) {
            if dim == 0 {
                empty = true;
            } else {
                last = dim
                    .checked_sub(1)
                    .and_then(|d| d.checked_mul(step))
                    .and_then(|d| d.checked_add(last))
                    .ok_or_else(|| self.malformed("tensor view overflows"))?;
            }
        }
        if !empty && last >= numel {
            return Err(self.malformed("tensor view reaches past its storage"));
        }
        // A view with more values than its storage repeats them (zero strides): never a weight,
        // and a few bytes of storage could otherwise claim gigabytes (found by fuzzing).
        match shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) {
            Some(values) if values <= numel => {}
            _ => return Err(self.malformed("tensor has more values than its storage")),
        }
        Ok(Value::Tensor(TensorRef {
            storage_key: key,
            dtype,
            offset,
            shape,
            stride,
        }))
    }

    fn usize_tuple(&self, v: Option<Value>) -> Result<Vec<usize>> {
        match v {
            Some(Value::Tuple(items)) | Some(Value::List(items)) => items
                .into_iter()
                .map(|x| match x {
                    Value::Int(i) => {
                        usize::try_from(i).map_err(|_| self.malformed("negative size"))
                    }
                    _ => Err(self.malformed("size is not an integer")),
                })
                .collect(),
            _ => Err(self.malformed("expected a tuple of sizes")),
        }
    }
}

fn pairs(items: Vec<Value>) -> Option<Vec<(Value, Value)>> {
    if !items.len().is_multiple_of(2) {
        return None;
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_plain_containers() {
        // {'x': [1, 2.5, None, True], 'y': (b'\x00',)} pickled with protocol 2.
        let mut p = vec![0x80, 2, b'}', b'(', b'X'];
        p.extend(1u32.to_le_bytes());
        p.extend(b"x]");
        p.extend([b'(', b'K', 1, b'G']);
        p.extend(2.5f64.to_be_bytes());
        p.extend([b'N', 0x88, b'e', b'X']);
        p.extend(1u32.to_le_bytes());
        p.extend(b"yC\x01\x00");
        p.extend([0x85, b'u', b'.']);
        let (v, used) = read_pickle(&p).unwrap();
        assert_eq!(used, p.len());
        assert_eq!(
            v,
            Value::Dict(vec![
                (
                    Value::Str("x".into()),
                    Value::List(vec![
                        Value::Int(1),
                        Value::Float(2.5),
                        Value::None,
                        Value::Bool(true)
                    ])
                ),
                (
                    Value::Str("y".into()),
                    Value::Tuple(vec![Value::Bytes(vec![0])])
                ),
            ])
        );
    }

    #[test]
    fn refuses_forbidden_globals() {
        let p = b"\x80\x02cposix\nsystem\nX\x02\x00\x00\x00ls\x85R.";
        let err = read_pickle(p).unwrap_err();
        assert_eq!(err, PickleError::ForbiddenGlobal("posix.system".into()));
        // STACK_GLOBAL form (protocol 4).
        let mut p = vec![0x80, 4, 0x8c, 8];
        p.extend(b"builtins");
        p.extend([0x8c, 4]);
        p.extend(b"eval");
        p.extend([0x93, b'.']);
        let err = read_pickle(&p).unwrap_err();
        assert_eq!(err, PickleError::ForbiddenGlobal("builtins.eval".into()));
    }

    #[test]
    fn truncated_input_is_an_error() {
        assert_eq!(
            read_pickle(b"\x80\x02}q\x00(X\x05\x00\x00"),
            Err(PickleError::Truncated)
        );
        assert_eq!(read_pickle(b""), Err(PickleError::Truncated));
    }

    /// `_rebuild_tensor_v2(storage('0', numel), 0, shape, stride, False, OrderedDict())`.
    fn tensor_pickle(numel: i64, shape: &[i64], stride: &[i64]) -> Vec<u8> {
        fn global(p: &mut Vec<u8>, module: &str, name: &str) {
            p.push(b'c');
            p.extend(format!("{module}\n{name}\n").bytes());
        }
        fn string(p: &mut Vec<u8>, s: &str) {
            p.push(b'X');
            p.extend((s.len() as u32).to_le_bytes());
            p.extend(s.bytes());
        }
        fn int(p: &mut Vec<u8>, v: i64) {
            p.extend([0x8a, 8]);
            p.extend(v.to_le_bytes());
        }
        let mut p = vec![0x80, 2];
        global(&mut p, "torch._utils", "_rebuild_tensor_v2");
        p.extend(b"((");
        string(&mut p, "storage");
        global(&mut p, "torch", "FloatStorage");
        string(&mut p, "0");
        string(&mut p, "cpu");
        int(&mut p, numel);
        p.extend(b"tQ");
        int(&mut p, 0);
        for ints in [shape, stride] {
            p.push(b'(');
            for &i in ints {
                int(&mut p, i);
            }
            p.push(b't');
        }
        p.push(0x89);
        global(&mut p, "collections", "OrderedDict");
        p.extend(b")RtR.");
        p
    }

    #[test]
    fn tensors_never_hold_more_values_than_their_storage() {
        let (v, _) = read_pickle(&tensor_pickle(6, &[2, 3], &[3, 1])).unwrap();
        assert!(matches!(v, Value::Tensor(t) if t.shape == [2, 3]));
        // Zero strides: one stored float claiming a billion values (a fuzzer's find: it took
        // seconds and 4 GB to expand).
        let err = read_pickle(&tensor_pickle(1, &[1_000_000_000], &[0])).unwrap_err();
        assert!(
            err.to_string().contains("more values than its storage"),
            "{err}"
        );
        // A shape whose product overflows.
        let huge = 1i64 << 40;
        assert!(read_pickle(&tensor_pickle(1, &[huge, huge], &[0, 0])).is_err());
        // Empty tensors stay fine.
        assert!(read_pickle(&tensor_pickle(0, &[0, 3], &[3, 1])).is_ok());
    }

    #[test]
    fn negative_long_decodes() {
        let (v, _) = read_pickle(b"\x80\x02\x8a\x02\x00\xff.").unwrap();
        assert_eq!(v, Value::Int(-256));
    }
}
