//! The dtypes SPEC.md 1.4 adds, through the public API: every one round-trips through the
//! writer's automatic choice; sub-byte values are counted as the bytes they fill.

use elv::{Choice, DType, Reader, WriteOptions, Writer};

fn file(tensors: &[(&str, DType, &[u64], Vec<u8>)], opts: WriteOptions) -> Reader<Vec<u8>> {
    let mut w = Writer::new(Vec::new(), opts).unwrap();
    for (name, dtype, shape, data) in tensors {
        w.add_tensor(name, *dtype, shape, data, Choice::Auto)
            .unwrap();
    }
    Reader::from_bytes(w.finish().unwrap()).unwrap()
}

#[test]
fn every_new_dtype_round_trips_bit_exactly_in_both_modes() {
    let bytes = |n: usize| -> Vec<u8> { (0..n).map(|i| (i * 37 % 251) as u8).collect() };
    let tensors = [
        ("fnuz_a", DType::F8E4M3Fnuz, &[64u64][..], bytes(64)),
        ("fnuz_b", DType::F8E5M2Fnuz, &[8, 8][..], bytes(64)),
        ("e8m0", DType::F8E8M0, &[64][..], bytes(64)),
        ("c64", DType::C64, &[16, 4][..], bytes(512)),
        ("f4", DType::F4, &[10, 6][..], bytes(30)),
        ("f6a", DType::F6E2M3, &[4, 4][..], bytes(12)),
        ("f6b", DType::F6E3M2, &[8][..], bytes(6)),
    ];
    for opts in [WriteOptions::lossless(), WriteOptions::default()] {
        let r = file(&tensors, opts);
        for (name, dtype, shape, data) in &tensors {
            let t = r.get(name).unwrap();
            assert_eq!((t.dtype(), t.shape()), (*dtype, *shape), "{name}");
            assert_eq!(t.byte_len(), data.len() as u64, "{name}");
            assert!(
                t.is_lossless(),
                "{name}: no new dtype is a float dtype ELF applies to"
            );
            assert_eq!(&t.to_vec().unwrap(), data, "{name}");
        }
        r.verify().unwrap();
    }
}

#[test]
fn sub_byte_values_must_fill_whole_bytes_and_rows_too() {
    let mut w = Writer::new(Vec::new(), WriteOptions::lossless()).unwrap();
    let e = w
        .add_tensor("odd", DType::F4, &[3], &[0, 0], Choice::Auto)
        .unwrap_err();
    assert!(matches!(e, elv::Error::InvalidInput(_)), "{e}");
    assert!(e.to_string().contains("whole bytes"), "{e}");
    // 6 F4 values in rows of 2 (a byte each), and in rows of 3 (a byte and a half).
    let r = file(
        &[
            ("rows", DType::F4, &[3, 2], vec![1, 2, 3]),
            ("halves", DType::F4, &[2, 3], vec![1, 2, 3]),
        ],
        WriteOptions::lossless(),
    );
    assert_eq!(r.get("rows").unwrap().read_rows(1..3).unwrap(), [2, 3]);
    let e = r.get("halves").unwrap().read_rows(0..1).unwrap_err();
    assert!(e.to_string().contains("whole bytes"), "{e}");
}
