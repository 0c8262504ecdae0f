//! Bounds checks run on a PyTorch zip checkpoint before candle's pickle reader sees it.
//!
//! candle 0.11's reader (`candle_core::pickle`) trusts the file: a `BINUNICODE` length
//! is allocated before it is read (4 GiB from five bytes), `BINGET` clones memoised
//! objects, so a pickle of a few hundred bytes can double an object thirty times ("billion
//! laughs"), deeply nested objects are dropped recursively, and a tensor's claimed shape
//! is allocated before its bytes are read. [`check_pth`] walks every `data.pkl` of the
//! archive with the opcodes candle understands, accounting for what candle would build
//! without building it, and checks every tensor record's extent against its blob before
//! anything is allocated in proportion to a claim.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use crate::{Error, Result};

/// Nesting depth of pickled objects accepted (PyTorch state dicts nest a handful deep).
pub const MAX_PICKLE_DEPTH: u32 = 256;

/// Largest `data.pkl` read (its uncompressed size).
pub const MAX_PICKLE_BYTES: u64 = 256 << 20;

/// Objects candle may build from a pickle of `len` bytes: every opcode makes at most one
/// object except `BINGET`, which clones, so this allows cloning small shared objects (as
/// PyTorch's storage classes are) but not exponential growth.
fn node_budget(len: usize) -> u64 {
    16 * len as u64 + 4096
}

#[derive(Clone, Copy)]
enum Item {
    Mark,
    Obj { size: u64, depth: u32 },
}

/// Walks the pickle `data` as candle's `Stack::read_loop` would, without building it.
pub(crate) fn check_pickle(data: &[u8]) -> std::result::Result<(), String> {
    let budget = node_budget(data.len());
    let mut stack: Vec<Item> = Vec::new();
    let mut memo: HashMap<u32, (u64, u32)> = HashMap::new();
    let mut made: u64 = 0;
    let mut pos = 0usize;
    let take = |pos: &mut usize, n: usize| -> std::result::Result<&[u8], String> {
        let end = pos
            .checked_add(n)
            .filter(|&e| e <= data.len())
            .ok_or_else(|| format!("a pickle argument of {n} bytes runs past the end"))?;
        let s = &data[*pos..end];
        *pos = end;
        Ok(s)
    };
    let pop = |stack: &mut Vec<Item>| -> std::result::Result<(u64, u32), String> {
        match stack.pop() {
            Some(Item::Obj { size, depth }) => Ok((size, depth)),
            Some(Item::Mark) => Err("a mark where an object was expected".into()),
            None => Err("the pickle pops an empty stack".into()),
        }
    };
    let pop_to_mark = |stack: &mut Vec<Item>| -> std::result::Result<(u64, u32), String> {
        let (mut size, mut depth) = (0u64, 0u32);
        loop {
            match stack.pop() {
                Some(Item::Obj { size: s, depth: d }) => {
                    size = size.saturating_add(s);
                    depth = depth.max(d);
                }
                Some(Item::Mark) => return Ok((size, depth)),
                None => return Err("no mark on the stack".into()),
            }
        }
    };
    loop {
        let op = *take(&mut pos, 1)?.first().unwrap();
        // (size, depth) of the object this opcode pushes, if any.
        let pushed: Option<(u64, u32)> = match op {
            0x80 => {
                take(&mut pos, 1)?;
                None
            }
            b'.' => return Ok(()),
            b'c' => {
                for _ in 0..2 {
                    let rest = &data[pos..];
                    let n = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
                    pos += (n + 1).min(rest.len());
                }
                Some((1, 0))
            }
            b'X' => {
                let n = u32::from_le_bytes(take(&mut pos, 4)?.try_into().unwrap()) as usize;
                take(&mut pos, n)?;
                Some((1 + n as u64 / 8, 0))
            }
            b'J' => {
                take(&mut pos, 4)?;
                Some((1, 0))
            }
            b'K' => {
                take(&mut pos, 1)?;
                Some((1, 0))
            }
            b'M' => {
                take(&mut pos, 2)?;
                Some((1, 0))
            }
            b'G' => {
                take(&mut pos, 8)?;
                Some((1, 0))
            }
            0x8a => {
                // candle 0.11 shifts each byte into an i64 (`<< (i * 8)`), which
                // overflows past 8 bytes; pickle's LONG1 allows 255.
                let n = take(&mut pos, 1)?[0] as usize;
                if n > 8 {
                    return Err(format!("a LONG1 integer of {n} bytes (more than 8)"));
                }
                take(&mut pos, n)?;
                Some((1, 0))
            }
            b'N' | 0x88 | 0x89 | b')' | b']' | b'}' | b'd' => Some((1, 0)),
            b'(' => {
                stack.push(Item::Mark);
                None
            }
            b't' => {
                let (s, d) = pop_to_mark(&mut stack)?;
                Some((s + 1, d + 1))
            }
            0x85..=0x87 => {
                let (mut s, mut d) = (1u64, 0u32);
                for _ in 0..(op - 0x84) {
                    let (a, b) = pop(&mut stack)?;
                    s = s.saturating_add(a);
                    d = d.max(b);
                }
                Some((s, d + 1))
            }
            b'Q' => {
                let (s, d) = pop(&mut stack)?;
                Some((s + 1, d + 1))
            }
            b'R' | 0x81 | b'b' => {
                let (a, da) = pop(&mut stack)?;
                let (b, db) = pop(&mut stack)?;
                Some((a.saturating_add(b) + 1, da.max(db) + 1))
            }
            b'a' | b's' | b'e' | b'u' => {
                let (s, d) = match op {
                    b'a' => pop(&mut stack)?,
                    b's' => {
                        let (a, da) = pop(&mut stack)?;
                        let (b, db) = pop(&mut stack)?;
                        (a.saturating_add(b), da.max(db))
                    }
                    _ => pop_to_mark(&mut stack)?,
                };
                // Appended into the object below (in place).
                match stack.last_mut() {
                    Some(Item::Obj { size, depth }) => {
                        *size = size.saturating_add(s);
                        *depth = (*depth).max(d + 1);
                        if *depth > MAX_PICKLE_DEPTH {
                            return Err(format!(
                                "objects nested more than {MAX_PICKLE_DEPTH} deep"
                            ));
                        }
                    }
                    _ => return Err("nothing to add items to".into()),
                }
                None
            }
            b'h' | b'j' => {
                let id = if op == b'h' {
                    u32::from(take(&mut pos, 1)?[0])
                } else {
                    u32::from_le_bytes(take(&mut pos, 4)?.try_into().unwrap())
                };
                let &(s, d) = memo
                    .get(&id)
                    .ok_or_else(|| format!("memo entry {id} read before it was written"))?;
                Some((s, d))
            }
            b'q' | b'r' => {
                let id = if op == b'q' {
                    u32::from(take(&mut pos, 1)?[0])
                } else {
                    u32::from_le_bytes(take(&mut pos, 4)?.try_into().unwrap())
                };
                match stack.last() {
                    Some(&Item::Obj { size, depth }) => {
                        memo.insert(id, (size, depth));
                    }
                    _ => return Err("memo put with no object on the stack".into()),
                }
                None
            }
            // candle rejects every other opcode itself.
            _ => return Ok(()),
        };
        if let Some((size, depth)) = pushed {
            // A clone (BINGET) makes `size` objects; anything else one.
            made = made.saturating_add(if matches!(op, b'h' | b'j') { size } else { 1 });
            if made > budget {
                return Err(format!(
                    "the pickle would build more than {budget} objects from {} bytes \
                     (memoised objects cloned into an exponentially growing structure)",
                    data.len()
                ));
            }
            if depth > MAX_PICKLE_DEPTH {
                return Err(format!("objects nested more than {MAX_PICKLE_DEPTH} deep"));
            }
            stack.push(Item::Obj { size, depth });
        }
    }
}

/// Checks the shape of every tensor record candle 0.11's `read_pth_tensor_info` would
/// take apart in the pickle `data` (already bounded by [`check_pickle`]): candle indexes
/// the rebuild tuples with `Vec::remove`, which panics on a tuple shorter than it
/// expects, and multiplies a negative storage offset, cast to `usize`, by the element
/// size. This follows candle's unwrapping of the top object (`__torch__.Module`, then
/// `key`) and its three record forms, and refuses those inputs with an error instead.
pub(crate) fn check_tensor_records(
    data: &[u8],
    key: Option<&str>,
) -> std::result::Result<(), String> {
    use candle_core::pickle::{Object, Stack};
    let mut stack = Stack::empty();
    let mut reader = data;
    // Errors here are candle's own (it reports them the same way later).
    if stack.read_loop(&mut reader).is_err() {
        return Ok(());
    }
    let Ok(obj) = stack.finalize() else {
        return Ok(());
    };
    let obj = match obj {
        Object::Build { callable, args } => match *callable {
            Object::Reduce { callable, .. }
                if matches!(&*callable, Object::Class { module_name, class_name }
                    if module_name == "__torch__" && class_name == "Module") =>
            {
                *args
            }
            _ => return Ok(()),
        },
        obj => obj,
    };
    let obj = match (key, obj) {
        (Some(key), Object::Dict(kv)) => match kv
            .into_iter()
            .find(|(k, _)| matches!(k, Object::Unicode(s) if s == key))
        {
            Some((_, v)) => v,
            None => return Ok(()),
        },
        (_, obj) => obj,
    };
    let Object::Dict(kv) = obj else {
        return Ok(());
    };
    let is = |o: &Object, m: &str, c: &str| matches!(o, Object::Class { module_name, class_name } if module_name == m && class_name == c);
    let tuple_len = |o: &Object| match o {
        Object::Tuple(t) => Some(t.len()),
        _ => None,
    };
    for (name, value) in &kv {
        let Object::Unicode(name) = name else {
            continue;
        };
        let Object::Reduce { callable, args } = value else {
            continue;
        };
        let short = |what: &str, need: usize, got: usize| {
            format!("tensor {name}: {what} has {got} items where {need} are needed")
        };
        // Candle's two wrappers, then `_rebuild_tensor_v2(storage, offset, size, stride)`.
        let (callable, args): (&Object, &Object) =
            if is(callable, "torch._tensor", "_rebuild_from_type_v2") {
                match &**args {
                    Object::Tuple(t) if t.len() >= 3 => (&t[0], &t[2]),
                    Object::Tuple(t) => {
                        return Err(short("_rebuild_from_type_v2's tuple", 3, t.len()))
                    }
                    _ => continue,
                }
            } else if is(callable, "torch._utils", "_rebuild_parameter") {
                match &**args {
                    Object::Tuple(t) if !t.is_empty() => match &t[0] {
                        Object::Reduce { callable, args } => (&**callable, &**args),
                        _ => continue,
                    },
                    Object::Tuple(_) => return Err(short("_rebuild_parameter's tuple", 1, 0)),
                    _ => continue,
                }
            } else {
                (&**callable, &**args)
            };
        if !is(callable, "torch._utils", "_rebuild_tensor_v2") {
            continue;
        }
        let Object::Tuple(args) = args else {
            continue;
        };
        if args.len() < 4 {
            return Err(short("_rebuild_tensor_v2's tuple", 4, args.len()));
        }
        let offset = match &args[1] {
            Object::Int(v) => Some(*v as i64),
            Object::Long(v) => Some(*v),
            _ => None,
        };
        if let Some(offset) = offset {
            // Candle scales the offset by the element size (at most 8 bytes) in usize.
            if offset < 0 || offset > (usize::MAX / 8).min(i64::MAX as usize) as i64 {
                return Err(format!(
                    "tensor {name}: storage offset {offset} is out of range"
                ));
            }
        }
        if let Object::PersistentLoad(storage) = &args[0] {
            if let Some(n) = tuple_len(storage) {
                if n < 5 {
                    return Err(short("the storage record", 5, n));
                }
            }
        }
    }
    Ok(())
}

/// Checks every `data.pkl` of the zip checkpoint at `path` with [`check_pickle`], and
/// then every tensor record candle reads from it (with `key`): its bytes must lie within
/// its blob, and the blob within the file.
pub(crate) fn check_pth(path: &Path, key: Option<&str>) -> Result<()> {
    let bad = |m: String| Error::format(path, format!("not a valid PyTorch checkpoint: {m}"));
    let file_len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| bad(format!("zip: {e}")))?;
    let names: Vec<String> = zip
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad(format!("zip: {e}")))?;
    let mut sizes = HashMap::new();
    for name in &names {
        let entry = zip.by_name(name).map_err(|e| bad(format!("{name}: {e}")))?;
        let size = entry.size();
        if size > file_len {
            return Err(bad(format!(
                "{name} claims {size} bytes in a file of {file_len} (compressed entries are not read)"
            )));
        }
        sizes.insert(name.clone(), size);
        if name.ends_with("data.pkl") {
            if size > MAX_PICKLE_BYTES {
                return Err(bad(format!("{name}: {size} bytes of pickle")));
            }
            let mut data = Vec::with_capacity(size as usize);
            entry
                .take(size)
                .read_to_end(&mut data)
                .map_err(|e| bad(format!("{name}: {e}")))?;
            check_pickle(&data).map_err(|m| bad(format!("{name}: {m}")))?;
            check_tensor_records(&data, key).map_err(|m| bad(format!("{name}: {m}")))?;
        }
    }
    let infos = candle_core::pickle::read_pth_tensor_info(path, false, key)
        .map_err(|e| bad(Error::from(e).to_string()))?;
    for t in infos {
        let layout = &t.layout;
        let elems = layout
            .shape()
            .dims()
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d as u64));
        let need = elems
            .and_then(|n| n.checked_mul(t.dtype.size_in_bytes() as u64))
            .and_then(|n| n.checked_add(layout.start_offset() as u64));
        let have = sizes
            .iter()
            .find(|(n, _)| n.as_str() == t.path || n.ends_with(&format!("/{}", t.path)))
            .map(|(_, &s)| s)
            .unwrap_or(0);
        match need {
            Some(n) if n <= have => {}
            _ => {
                return Err(bad(format!(
                    "tensor {} ({:?} {:?}) needs more bytes than its blob {} holds ({have})",
                    t.name,
                    t.dtype,
                    layout.shape().dims(),
                    t.path
                )))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{check_pickle, check_pth};

    #[test]
    fn short_rebuild_tuples_and_negative_offsets_are_refused() {
        // Each of these made candle 0.11's reader panic (`Vec::remove` past the end of a
        // rebuild tuple, or an overflowing offset) before `check_tensor_records`.
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/pth");
        for (file, says) in [
            (
                "rebuild-tensor-args-1-tuple",
                "_rebuild_tensor_v2's tuple has 1 items where 4",
            ),
            (
                "rebuild-storage-3-tuple",
                "the storage record has 3 items where 5",
            ),
            (
                "rebuild-negative-offset",
                "storage offset -1 is out of range",
            ),
            (
                "rebuild-from-type-v2-1-tuple",
                "_rebuild_from_type_v2's tuple has 1 items where 3",
            ),
            (
                "rebuild-parameter-empty-tuple",
                "_rebuild_parameter's tuple has 0 items where 1",
            ),
        ] {
            let e = check_pth(&dir.join(file), None).unwrap_err().to_string();
            assert!(e.contains(says) && e.contains("tensor w"), "{file}: {e}");
        }
    }

    #[test]
    fn billion_laughs_and_long_strings_are_refused() {
        // EMPTY_LIST, BINPUT 0, then 40 × (BINGET 0, BINGET 0, TUPLE2, BINPUT 0), STOP.
        let mut p = vec![b']', b'q', 0];
        for _ in 0..40 {
            p.extend([b'h', 0, b'h', 0, 0x86, b'q', 0]);
        }
        p.push(b'.');
        let e = check_pickle(&p).unwrap_err();
        assert!(e.contains("exponentially"), "{e}");
        // A 4 GiB string claimed in 6 bytes.
        let e = check_pickle(&[b'X', 0xff, 0xff, 0xff, 0xff, b'.']).unwrap_err();
        assert!(e.contains("runs past the end"), "{e}");
        // Deep nesting: 300 × (EMPTY_TUPLE? no: TUPLE1 around the top).
        let mut p = vec![b'N'];
        p.extend(std::iter::repeat_n(0x85, 300));
        p.push(b'.');
        assert!(check_pickle(&p).unwrap_err().contains("nested"));
        // A LONG1 of 9 bytes (candle's decoder overflows its shift; found by fuzzing).
        let mut p = vec![0x8a, 9];
        p.extend([1u8; 9]);
        p.push(b'.');
        assert!(check_pickle(&p).unwrap_err().contains("LONG1"));
        assert_eq!(
            check_pickle(&[0x8a, 8, 1, 0, 0, 0, 0, 0, 0, 0, b'.']),
            Ok(())
        );
        // A small honest pickle: {'a': (1, 2)}.
        let ok = [
            b'}', b'q', 0, b'X', 1, 0, 0, 0, b'a', b'K', 1, b'K', 2, 0x86, b's', b'.',
        ];
        assert_eq!(check_pickle(&ok), Ok(()));
    }
}
