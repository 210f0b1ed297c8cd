"""Build a large real-weights model for the memory benchmark:
    python3 benches/make_big_model.py SRC.safetensors OUT.safetensors COPIES
Writes COPIES copies of every tensor of SRC, copy k rotated by k+1 elements, so the bytes
differ (HD cannot collapse them) while the values stay real weights. Streams tensor by tensor.
Needs numpy (the venv made by ../shared/data/fetch-models.sh has it)."""
import json
import struct
import sys

import numpy as np

src, out, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(src, 'rb') as f:
    n = struct.unpack('<Q', f.read(8))[0]
    header = json.loads(f.read(n))
    base = 8 + n
    meta = header.pop('__metadata__', None)
    entries = sorted(header.items(), key=lambda kv: kv[1]['data_offsets'][0])
    new, pos = {}, 0
    if meta:
        new['__metadata__'] = meta
    for k in range(copies):
        for name, e in entries:
            size = e['data_offsets'][1] - e['data_offsets'][0]
            new[f'copy{k}.{name}'] = dict(dtype=e['dtype'], shape=e['shape'], data_offsets=[pos, pos + size])
            pos += size
    h = json.dumps(new, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    with open(out, 'wb') as o:
        o.write(struct.pack('<Q', len(h)))
        o.write(h)
        for k in range(copies):
            for name, e in entries:
                f.seek(base + e['data_offsets'][0])
                raw = np.frombuffer(f.read(e['data_offsets'][1] - e['data_offsets'][0]), dtype=np.uint8)
                width = {'F32': 4, 'F16': 2, 'BF16': 2, 'I64': 8, 'F64': 8}.get(e['dtype'], 1)
                o.write(np.roll(raw.reshape(-1, width), k + 1, axis=0).tobytes())
print(f'wrote {out}: {pos / 1e9:.2f} GB of tensor data')
