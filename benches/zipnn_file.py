"""File-to-file ZipNN for the corpus benchmark:
    python zipnn_file.py compress|decompress IN OUT
Prints the seconds spent reading IN, (de)compressing with ZipNN (2 threads) and writing OUT,
measured in-process: interpreter and torch start-up are excluded, which favours ZipNN.
The byte-grouping dtype is the safetensors file's dominant float dtype."""
import json
import struct
import sys
import time
import warnings

warnings.filterwarnings('ignore')

DTYPES = {'F32': 'float32', 'F16': 'float16', 'BF16': 'bfloat16'}


def dominant(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        h = json.loads(f.read(n))
    h.pop('__metadata__', None)
    sizes = {}
    for e in h.values():
        sizes[e['dtype']] = sizes.get(e['dtype'], 0) + e['data_offsets'][1] - e['data_offsets'][0]
    best = max(sizes, key=sizes.get)
    return DTYPES.get(best, 'float32')


def main():
    from zipnn import ZipNN

    mode, src, dst = sys.argv[1:4]
    if mode == 'compress':
        dtype = dominant(src)
        t = time.perf_counter()
        data = open(src, 'rb').read()
        z = ZipNN(bytearray_dtype=dtype, threads=2)
        out = z.compress(data)
        with open(dst, 'wb') as f:
            f.write(dtype.encode().ljust(16))
            f.write(out)
    else:
        t = time.perf_counter()
        raw = open(src, 'rb').read()
        dtype = raw[:16].decode().strip()
        z = ZipNN(bytearray_dtype=dtype, threads=2)
        out = z.decompress(raw[16:])
        with open(dst, 'wb') as f:
            f.write(out)
    print(f'{time.perf_counter() - t:.6f}')


if __name__ == '__main__':
    main()
