//! Reading ISO base media file format boxes (the container of HEIF, AVIF,
//! MP4 and QuickTime): a box's type and where its header and payload are,
//! and big-endian numbers, all bounds-checked. Nothing here allocates for
//! what a file claims: every position is checked against the bytes at hand.

/// One box: its four-character type and where it lies in the buffer it was
/// read from (`start..end`), with its payload at `body..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxAt {
    pub kind: [u8; 4],
    pub start: usize,
    pub body: usize,
    pub end: usize,
}

impl BoxAt {
    /// The size and type fields: 8 bytes, or 16 with a 64-bit size.
    pub fn header_len(&self) -> usize {
        let payload = if &self.kind == b"uuid" { self.body - 16 } else { self.body };
        payload - self.start
    }
}

/// The boxes in `bytes[from..to]`, in order. A box that claims more bytes
/// than are there ends the walk with an error.
pub fn children(bytes: &[u8], from: usize, to: usize) -> Result<Vec<BoxAt>, &'static str> {
    let mut out = Vec::new();
    let mut at = from;
    let to = to.min(bytes.len());
    while at + 8 <= to {
        let b = header(bytes, at, to)?;
        at = b.end;
        out.push(b);
        if out.len() > 100_000 {
            return Err("too many boxes");
        }
    }
    Ok(out)
}

/// The box that starts at `at`, ending at most at `limit`.
pub fn header(bytes: &[u8], at: usize, limit: usize) -> Result<BoxAt, &'static str> {
    let size32 = u32_at(bytes, at).ok_or("a box header is cut off")?;
    let kind: [u8; 4] = bytes.get(at + 4..at + 8).and_then(|k| k.try_into().ok()).ok_or("a box header is cut off")?;
    let (size, mut body) = match size32 {
        0 => ((limit - at) as u64, at + 8),
        1 => (u64_at(bytes, at + 8).ok_or("a box header is cut off")?, at + 16),
        n => (u64::from(n), at + 8),
    };
    if &kind == b"uuid" {
        body += 16;
    }
    let end = usize::try_from(size).ok().and_then(|s| at.checked_add(s)).ok_or("a box is too large")?;
    if end > limit || body > end {
        return Err("a box is longer than the file");
    }
    Ok(BoxAt { kind, start: at, body, end })
}

/// The first child of `parent` of type `kind` (after `skip` bytes of the
/// parent's payload: 4 for a full box's version and flags).
pub fn find(bytes: &[u8], parent: BoxAt, skip: usize, kind: &[u8; 4]) -> Result<Option<BoxAt>, &'static str> {
    Ok(children(bytes, parent.body + skip, parent.end)?.into_iter().find(|b| &b.kind == kind))
}

pub fn u8_at(bytes: &[u8], at: usize) -> Option<u8> {
    bytes.get(at).copied()
}

pub fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

pub fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

pub fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

/// An unsigned number of `size` bytes (0, 4 or 8 in `iloc`).
pub fn uint_at(bytes: &[u8], at: usize, size: usize) -> Option<u64> {
    match size {
        0 => Some(0),
        2 => u16_at(bytes, at).map(u64::from),
        4 => u32_at(bytes, at).map(u64::from),
        8 => u64_at(bytes, at),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_that_overrun_or_lie_are_errors_not_panics() {
        let mut file = Vec::new();
        file.extend_from_slice(&16u32.to_be_bytes());
        file.extend_from_slice(b"ftyp");
        file.extend_from_slice(b"heic\0\0\0\0");
        file.extend_from_slice(&12u32.to_be_bytes());
        file.extend_from_slice(b"free");
        file.extend_from_slice(b"abcd");
        let boxes = children(&file, 0, file.len()).expect("walk");
        assert_eq!(boxes.iter().map(|b| &b.kind).collect::<Vec<_>>(), [b"ftyp", b"free"]);
        assert_eq!((boxes[1].body, boxes[1].end), (24, 28));
        // A size past the end, a 64-bit size that overflows, a size of 3.
        let mut long = file.clone();
        long[16..20].copy_from_slice(&13u32.to_be_bytes());
        assert!(children(&long, 0, long.len()).is_err());
        let mut huge = file[..16].to_vec();
        huge.extend_from_slice(&1u32.to_be_bytes());
        huge.extend_from_slice(b"mdat");
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert!(children(&huge, 0, huge.len()).is_err());
        let mut tiny = file.clone();
        tiny[16..20].copy_from_slice(&3u32.to_be_bytes());
        assert!(children(&tiny, 0, tiny.len()).is_err());
        // Size 0 runs to the end.
        let mut open = file.clone();
        open[16..20].copy_from_slice(&0u32.to_be_bytes());
        assert_eq!(children(&open, 0, open.len()).expect("walk")[1].end, 28);
    }
}
