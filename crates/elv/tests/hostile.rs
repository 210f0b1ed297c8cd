//! Crafted files with valid CRCs that declare far more than they hold (issue #14): each
//! ends in a clean error while both readers allocate almost nothing, measured by a
//! counting global allocator in this test binary. What they declare is checked against the
//! limits of SPEC.md §11 before anything is sized by it.

use elv::{Reader, StdCodecs};
use elv_core::engine::section::kind;
use elv_core::engine::writer::StoredStream;
use elv_core::fuzzing::tensor_table_to_bytes as table_to_bytes;
use elv_core::{
    Archive, Codec, ContainerWriter, DType, Encoding, ErrorKind, Limits, ReadOptions, TensorInfo,
};

mod counting;

use counting::{peak_during, SERIAL};

#[global_allocator]
static A: counting::Counting = counting::Counting;

/// A stream of a few stored bytes that declares `decoded_len` decoded bytes (codec `ans`,
/// so no reader can tell from the index alone that it cannot hold that many).
fn claiming(decoded_len: u64) -> StoredStream {
    StoredStream {
        codec: Codec::Ans,
        stored: vec![0x5a; 16],
        decoded_len,
    }
}

fn tensor(
    name: &str,
    dtype: DType,
    shape: &[u64],
    encoding: Encoding,
    chunk_len: u64,
) -> TensorInfo {
    TensorInfo {
        name: name.into(),
        dtype,
        shape: shape.to_vec(),
        encoding,
        error_bound_log2: encoding.error_bound_log2(dtype),
        crc32: 0,
        chunk_len,
        first_stream: 0,
        dedup_of: None,
    }
}

/// A file of the given records, streams and table sections, every CRC valid. Bypasses the
/// writer's checks, as a hostile file would.
fn craft(
    mut tensors: Vec<TensorInfo>,
    streams: Vec<StoredStream>,
    table: Option<StoredStream>,
    metadata: Option<StoredStream>,
) -> Vec<u8> {
    let mut first = 0u32;
    for t in &mut tensors {
        t.first_stream = first;
        first += t.stream_count() as u32;
    }
    let mut w = ContainerWriter::new(Vec::new(), 3).unwrap();
    for s in &streams {
        w.add_section(kind::STREAM, true, s).unwrap();
    }
    let table = table.unwrap_or_else(|| StoredStream::plain(table_to_bytes(&tensors)));
    w.add_section(kind::TENSOR_TABLE, true, &table).unwrap();
    if let Some(m) = metadata {
        w.add_section(kind::METADATA, false, &m).unwrap();
    }
    w.finish_sections_only().unwrap()
}

/// Both readers reject `file` with `kind`, opening, verifying and decoding every tensor,
/// allocating less than `budget` bytes.
fn rejected(case: &str, file: &[u8], options: ReadOptions, kind: ErrorKind, budget: usize) {
    let _g = SERIAL.lock().unwrap();
    let (r, peak) = peak_during(|| {
        let a = Archive::parse(file, &StdCodecs, options)?;
        a.verify()?;
        (0..a.tensors().len()).try_for_each(|i| a.decode(i).map(drop))
    });
    assert_eq!(r.map_err(|e| e.kind()), Err(kind), "{case}: slice reader");
    assert!(peak < budget, "{case}: slice reader allocated {peak} bytes");
    let (r, peak) = peak_during(|| -> elv::Result<()> {
        let r = Reader::new(file, options)?;
        r.verify()?;
        for t in r.iter() {
            std::io::copy(&mut t.stream(), &mut std::io::sink())?;
            t.to_vec()?;
        }
        Ok(())
    });
    assert_eq!(
        r.map_err(|e| e.kind()),
        Err(Some(kind)),
        "{case}: file reader"
    );
    assert!(peak < budget, "{case}: file reader allocated {peak} bytes");
}

const SMALL: usize = 256 << 10;

#[test]
fn chunks_declaring_2_31_values_are_refused_before_anything_is_sized() {
    // The 131 KB and 792-byte files of #14: one 4 GiB u8 tensor in a 2^31-value chunk, and
    // an F64 `bytes` tensor of 2^31-value chunks, over a few stored bytes.
    let u8_tensor = tensor("t", DType::U8, &[1 << 32], Encoding::Raw, 1 << 31);
    let f = craft(
        vec![u8_tensor],
        vec![claiming(1 << 31), claiming(1 << 31)],
        None,
        None,
    );
    rejected(
        "u8 raw",
        &f,
        ReadOptions::default(),
        ErrorKind::LimitExceeded,
        SMALL,
    );
    let f64_tensor = tensor("t", DType::F64, &[1 << 31], Encoding::BytePlanes, 1 << 31);
    let planes = (0..8).map(|_| claiming(1 << 31)).collect();
    let f = craft(vec![f64_tensor], planes, None, None);
    rejected(
        "f64 bytes",
        &f,
        ReadOptions::default(),
        ErrorKind::LimitExceeded,
        SMALL,
    );
    // ~250-byte files: one chunk of 2^31 values for each encoding with streams.
    for (enc, dtype) in [
        (Encoding::De, DType::F32),
        (Encoding::Elf, DType::F32),
        (Encoding::FloatPlanes, DType::F32),
        (Encoding::BytePlanes, DType::I32),
    ] {
        let t = tensor("t", dtype, &[1 << 31], enc, 1 << 31);
        let streams = (0..enc.streams_per_chunk(dtype))
            .map(|_| claiming(1 << 20))
            .collect();
        let f = craft(vec![t], streams, None, None);
        assert!(f.len() < 1024);
        rejected(
            enc.name(),
            &f,
            ReadOptions::default(),
            ErrorKind::LimitExceeded,
            SMALL,
        );
    }
}

#[test]
fn a_stream_declaring_more_than_its_chunk_can_hold_is_not_decoded() {
    // A stream section declaring 2^31 decoded bytes for a 1-byte tensor: rejected before
    // its codec runs, not decoded to its declared length first.
    let t = tensor("t", DType::U8, &[1], Encoding::Raw, 1);
    let f = craft(vec![t], vec![claiming(1 << 31)], None, None);
    rejected(
        "1-byte tensor",
        &f,
        ReadOptions::default(),
        ErrorKind::Malformed,
        SMALL,
    );
    // The same for an ELF chunk's outlier stream and a DE bitstream.
    for enc in [Encoding::Elf, Encoding::De] {
        let t = tensor("t", DType::F32, &[1000], enc, 1000);
        let mut streams: Vec<StoredStream> = (0..enc.streams_per_chunk(DType::F32))
            .map(|_| claiming(1000))
            .collect();
        streams[0] = claiming(1 << 30);
        let f = craft(vec![t], streams, None, None);
        rejected(
            enc.name(),
            &f,
            ReadOptions::default(),
            ErrorKind::Malformed,
            SMALL,
        );
    }
}

#[test]
fn tables_and_metadata_declaring_gigabytes_are_refused() {
    // A tensor table of 2^32 decoded bytes (#14: 5.1 GB for `info`), and a metadata section
    // of 2^32 bytes (#14: OOM-killed in `info`).
    let f = craft(Vec::new(), Vec::new(), Some(claiming(1 << 32)), None);
    rejected(
        "table",
        &f,
        ReadOptions::default(),
        ErrorKind::LimitExceeded,
        SMALL,
    );
    let f = craft(Vec::new(), Vec::new(), None, Some(claiming(1 << 32)));
    rejected(
        "metadata",
        &f,
        ReadOptions::default(),
        ErrorKind::LimitExceeded,
        SMALL,
    );
}

#[test]
fn total_output_is_bounded_by_the_decoded_bytes_limit() {
    // Many dedup references to one tensor (the dedup bomb of #14), and one tensor of many
    // chunks: a service that lowers max_decoded_bytes gets LimitExceeded at open.
    let data: Vec<u8> = (0..4096u32).map(|i| i as u8).collect();
    let mut w = elv::Writer::new(Vec::new(), elv::WriteOptions::default()).unwrap();
    for i in 0..1000 {
        w.add_tensor(
            &format!("t{i}"),
            DType::U8,
            &[4096],
            &data,
            elv::Choice::Auto,
        )
        .unwrap();
    }
    let file = w.finish().unwrap();
    let tight = ReadOptions {
        limits: Limits {
            max_decoded_bytes: 1 << 20,
            ..Limits::default()
        },
        ..ReadOptions::default()
    };
    rejected(
        "dedup bomb",
        &file,
        tight,
        ErrorKind::LimitExceeded,
        4 << 20,
    );
    // Within the limit it opens, and every reference decodes.
    let r = Reader::new(&file[..], ReadOptions::default()).unwrap();
    assert_eq!(r.iter().filter(|t| t.duplicate_of().is_some()).count(), 999);
}

#[test]
fn a_huge_declared_tensor_is_an_error_not_an_abort() {
    // A tensor of 2^39 bytes declared in valid 2^25-byte chunks: opening is fine (it is what
    // the file says), but asking for it whole is LimitExceeded from the fallible reservation
    // (or from max_decoded_bytes), never an allocation failure.
    let _g = SERIAL.lock().unwrap();
    let chunks = 1u64 << 14;
    let t = tensor("t", DType::U8, &[1 << 39], Encoding::Raw, 1 << 25);
    let f = craft(
        vec![t],
        (0..chunks).map(|_| claiming(1 << 25)).collect(),
        None,
        None,
    );
    let r = Reader::new(&f[..], ReadOptions::default()).unwrap();
    let e = r.get("t").unwrap().to_vec().unwrap_err();
    assert!(
        matches!(
            e.kind(),
            Some(ErrorKind::LimitExceeded) | Some(ErrorKind::Malformed)
        ),
        "{e}"
    );
}
