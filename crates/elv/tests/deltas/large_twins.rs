//! Twins larger than what a reader reads whole (16 MiB): checked, then read by range, and
//! hashed again as the decode reads them.

use super::*;

#[test]
fn a_twin_larger_than_a_span_is_checked_then_read_by_range() {
    // 18 MB: above the 16 MiB a reader reads whole, so the twin is hashed a span at a time,
    // then read by range for each span, for each part of a stream, and for a reference.
    let n = 4_500_000usize;
    let mut x = 7u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let base_w: Vec<u8> = (0..n)
        .flat_map(|_| (((next() % 2001) as f32 - 1000.0) * 1e-4).to_le_bytes())
        .collect();
    let ft_w: Vec<u8> = base_w
        .chunks(4)
        .flat_map(|c| {
            let v = f32::from_le_bytes(c.try_into().unwrap());
            (v + ((next() % 21) as f32 - 10.0) * 1e-7).to_le_bytes()
        })
        .collect();
    let mut map = MapBase(HashMap::new());
    let shape = vec![n as u64];
    map.0
        .insert("w".into(), (DType::F32, shape.clone(), base_w.clone()));
    map.0
        .insert("same".into(), (DType::F32, shape.clone(), base_w.clone()));
    let base: Arc<dyn Base> = Arc::new(map);
    let layout = elv::Layout {
        collection: false,
        base: Some(Arc::clone(&base)),
    };
    let opts = WriteOptions {
        lossless: true,
        ..WriteOptions::default()
    };
    let mut w = Writer::with_layout(Vec::new(), opts, layout).unwrap();
    w.add_tensor("w", DType::F32, &shape, &ft_w, Choice::Auto)
        .unwrap();
    w.add_tensor("same", DType::F32, &shape, &base_w, Choice::Auto)
        .unwrap();
    let reader = Reader::from_bytes(w.finish().unwrap())
        .unwrap()
        .with_shared_base(base);
    let t = reader.get("w").unwrap();
    assert_eq!(t.encoding(), Encoding::Delta);
    assert_eq!(t.to_vec().unwrap(), ft_w);
    let mut streamed = Vec::new();
    std::io::copy(&mut t.stream(), &mut streamed).unwrap();
    assert_eq!(streamed, ft_w);
    let same = reader.get("same").unwrap();
    assert_eq!(same.encoding(), Encoding::BaseRef);
    let mut streamed = Vec::new();
    std::io::copy(&mut same.stream(), &mut streamed).unwrap();
    assert_eq!(streamed, base_w);
    reader.verify().unwrap();
    let out = elv::decompress_to_safetensors(&reader, Vec::new()).unwrap();
    assert!(out.len() > 2 * ft_w.len());
}

/// A base that gives its true bytes until `honest` reads have been served, then one flipped
/// byte: a base file rewritten after the reader's first check.
struct ChangingBase {
    inner: MapBase,
    reads: std::sync::atomic::AtomicUsize,
    honest: usize,
}

impl Base for ChangingBase {
    fn name(&self) -> &str {
        "changing"
    }
    fn twin(&self, name: &str) -> Option<(DType, Vec<u64>)> {
        self.inner.twin(name)
    }
    fn read(&self, name: &str) -> elv::Result<Vec<u8>> {
        self.inner.read(name)
    }
    fn read_range(&self, name: &str, offset: u64, len: u64) -> elv::Result<Vec<u8>> {
        let k = self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut b = self.inner.read(name)?[offset as usize..(offset + len) as usize].to_vec();
        if k >= self.honest {
            b[0] ^= 1;
        }
        Ok(b)
    }
}

/// A large twin is hashed again as it is read for the decode: a base rewritten after the
/// first check is BaseMismatch, never decoded into the output.
#[test]
fn a_base_rewritten_after_its_check_is_refused() {
    let n = 4_500_000usize; // 18 MB: a twin read by range
    let base_w: Vec<u8> = (0..n)
        .flat_map(|i| ((i % 1000) as f32 * 1e-4).to_le_bytes())
        .collect();
    let ft_w: Vec<u8> = (0..n)
        .flat_map(|i| ((i % 1000) as f32 * 1e-4 + 1e-6).to_le_bytes())
        .collect();
    let shape = vec![n as u64];
    let mut map = MapBase(HashMap::new());
    map.0
        .insert("w".into(), (DType::F32, shape.clone(), base_w));
    let honest: Arc<dyn Base> = Arc::new(map);
    let layout = elv::Layout {
        collection: false,
        base: Some(Arc::clone(&honest)),
    };
    let mut w = Writer::with_layout(Vec::new(), WriteOptions::lossless(), layout).unwrap();
    w.add_tensor(
        "w",
        DType::F32,
        &shape,
        &ft_w,
        Choice::Exact(Encoding::Delta),
    )
    .unwrap();
    let file = w.finish().unwrap();
    let inner = MapBase(HashMap::from([(
        "w".to_string(),
        (DType::F32, shape.clone(), honest.read("w").unwrap()),
    )]));
    // The check reads the 18 MB twin in two ranges (16 MiB and the rest); every later
    // read is of the rewritten file.
    let changing = ChangingBase {
        inner,
        reads: 0.into(),
        honest: 2,
    };
    let reader = Reader::from_bytes(file).unwrap().with_base(changing);
    let e = reader.get("w").unwrap().to_vec().unwrap_err();
    assert_eq!(e.kind(), Some(ErrorKind::BaseMismatch), "{e}");
    assert!(e.to_string().contains("changed while it was read"), "{e}");
}
