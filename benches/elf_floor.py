"""How small ELF with an order-0 entropy stage can make a model, whatever the coder:
    python3 benches/elf_floor.py MODEL.safetensors [MODEL ...]
For every f32 tensor it forms the ELF codes of SPEC.md section 7.2 (sign, then the 23-bit
t = |p|*2^23 rounded to even; |p| >= 1, inf, NaN and t = 2^23 are outliers kept verbatim)
and sums, per block of 2^16 codes, the order-0 entropy of each of the three byte planes
(section 7.1). That sum is what the `ans` stage (section 4.4) could reach with tables and
states that cost nothing; outliers, other tensors and the header are counted as free, so the
ratio printed is a ceiling no ELF file with an order-0 stage can pass. Also printed: how far
three other models of the same codes would move it, and what the smallest tables cost:
  - blocks of 2^14 codes instead of 2^16 (tables that adapt faster, but four times as many);
  - log buckets: the position of t's leading bit and the next 4 bits coded together with the
    sign, the bits below them raw (the shape of the value distribution at every scale);
  - a neighbour context: the top plane coded with one table per magnitude class of the
    previous value's top plane (local scale, as in rows of different norm).
Empirical entropies of small samples run low, so the last two are optimistic. Needs numpy
(the venv of ../shared/data/fetch-models.sh or benches/corpus.sh has it)."""
import json
import struct
import sys

import numpy as np

BLOCK = 1 << 16


def block_entropy(sym, alphabet, block, tables=False):
    """Bits: the sum over blocks of `block` symbols of n * H(block), for symbols < alphabet.
    With `tables`, each block costs at least its table and states instead (a 32-byte presence
    bitmap, a byte per present symbol and 32 bytes of states, SPEC.md 4.4.1), or is stored
    as is when that is smaller, as the `ans` encoder does."""
    if sym.size == 0:
        return 0.0
    ids = (np.arange(sym.size) // block) * alphabet + sym
    counts = np.bincount(ids, minlength=((sym.size - 1) // block + 1) * alphabet)
    counts = counts.reshape(-1, alphabet).astype(np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(divide='ignore', invalid='ignore'):
        terms = np.where(counts > 0, counts * np.log2(totals / np.maximum(counts, 1)), 0.0)
    bits = terms.sum(axis=1)
    if tables:
        coded = bits + 8 * (64 + (counts > 0).sum(axis=1))
        bits = np.minimum(coded, 8 * totals[:, 0])
    return float(bits.sum())


def elf_codes(x):
    """(codes of the in-range values, outlier count) for float32 values x."""
    mag = np.abs(x.astype(np.float64))
    below_one = mag < 1.0  # false for inf and NaN too
    t = np.rint(mag[below_one] * 2.0 ** 23).astype(np.int64)
    keep = t < 2 ** 23
    sign = np.signbit(x[below_one][keep]).astype(np.int64)
    return (sign << 23) | t[keep], x.size - int(keep.sum())


def models_of(code):
    """Bits under each model for one tensor's codes."""
    top, mid, low = code >> 16, (code >> 8) & 255, code & 255
    planes = lambda b, tables=False: sum(block_entropy(p, 256, b, tables) for p in (top, mid, low))
    out = {'order-0 planes, 2^16 blocks': planes(BLOCK), 'order-0 planes, 2^14 blocks': planes(BLOCK >> 2),
           '  with tables, 2^16 blocks': planes(BLOCK, True),
           '  with tables, 2^14 blocks': planes(BLOCK >> 2, True)}
    t, sign = code & (2 ** 23 - 1), code >> 23
    lead = np.where(t > 0, np.floor(np.log2(np.maximum(t, 1))).astype(np.int64), -1)
    k = 4
    small = lead < k
    bucket = np.where(small, t, (lead + 1) * (1 << k) + ((t >> np.maximum(lead - k, 0)) & ((1 << k) - 1)))
    raw_bits = float(np.where(small, 0, lead - k).sum())
    out['log buckets + raw bits'] = block_entropy(bucket * 2 + sign, 1 << 10, BLOCK) + raw_bits
    prev = np.concatenate([[0], top[:-1] & 127])
    cls = np.minimum(np.floor(np.log2(prev + 1)).astype(np.int64), 3)
    out['top plane by neighbour class'] = (block_entropy(top * 4 + cls, 1024, BLOCK)
                                           - block_entropy(cls, 4, BLOCK)
                                           + block_entropy(mid, 256, BLOCK) + block_entropy(low, 256, BLOCK))
    return out


def main(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        size = 8 + n
        other = 0
        bits, outliers, values = {}, 0, 0
        for name, e in header.items():
            if name == '__metadata__':
                continue
            a, b = e['data_offsets']
            size += b - a
            if e['dtype'] != 'F32':
                other += b - a
                continue
            f.seek(base + a)
            x = np.frombuffer(f.read(b - a), dtype=np.float32)
            code, k = elf_codes(x)
            values += x.size
            outliers += k
            for model, v in models_of(code).items():
                bits[model] = bits.get(model, 0.0) + v
    print(f'{path}: {size} bytes; {values} f32 values, {outliers} of them outliers; '
          f'{other} bytes of other tensors')
    if not values:
        return
    floor = None
    for model, v in bits.items():
        total = v / 8
        floor = floor or total
        print(f'  {model:30s} {total / 1e6:10.3f} MB  CR {size / total:.4f}'
              f'  ({(floor - total) / 1e3:+.1f} KB against order-0 in 2^16 blocks)')


if __name__ == '__main__':
    for p in sys.argv[1:]:
        main(p)
