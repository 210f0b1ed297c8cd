#!/usr/bin/env python3
"""elves conformance runner (SPEC.md §14.3): checks a third-party .elv decoder against
testdata/manifest.txt.

    python3 testdata/conformance.py [--reader-1.1 | --reader-1.3] DECODER [ARG...]

For every vector it runs `DECODER [ARG...] FILE` with the vector's path (`DECODER [ARG...]
--base BASE FILE` for a file written against a base model: the manifest's `base` lines name
BASE, another vector) and checks:
- a valid vector: exit status 0 and, on stdout, one line per tensor in file order
      tensor<TAB>NAME<TAB>DTYPE<TAB>SHAPE<TAB>ENCODING<TAB>DECODED_BYTES<TAB>FNV1A64
  then, for a collection, one line per member in file order
      member<TAB>PATH<TAB>KIND<TAB>TENSOR_COUNT
  then one line per metadata pair in file order
      metadata<TAB>KEY<TAB>VALUE
  with the fields exactly as manifest.txt writes them (escapes of §14.1);
- an invalid vector: a non-zero exit status and, as the last line of stdout,
      error<TAB>KIND
  with KIND the manifest's error kind (the names of §2.3). A `LimitExceeded` vector passes
  with any error kind (§14.1: a decoder with higher limits may find another fault first).
With --reader-1.1 the decoder is held to a full reader 1.1 (§15): a vector whose header sets
the MEMBERS or BASE bit must give UnknownRequiredFeature, and one holding a member or base
table without its bit UnknownCriticalSection, and one using a 1.2 encoding without them
UnknownEncoding; and as --reader-1.3 says. With --reader-1.3 it is held to a full reader 1.3:
a vector using a dtype 1.4 adds (codes 15-21) must give UnknownDtype; every other vector as
the manifest says.
It prints one line per failing vector and a last line `N passed, N failed`; the exit status
is 0 only if none failed. Needs Python 3.8+ and nothing else.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def manifest():
    valid, invalid, bases = {}, {}, {}
    with open(os.path.join(HERE, 'manifest.txt'), encoding='utf-8') as f:
        for line in f:
            line = line.rstrip('\n')
            if not line or line.startswith('#'):
                continue
            kind, path, *rest = line.split('\t')
            if kind == 'file':
                valid.setdefault(path, [])
            elif kind in ('tensor', 'member', 'metadata'):
                valid.setdefault(path, []).append('\t'.join([kind] + rest))
            elif kind == 'invalid':
                invalid[path] = rest[0]
            elif kind == 'base':
                bases[path] = rest[0]
            else:
                sys.exit(f'manifest: unknown line kind {kind!r}')
    return valid, invalid, bases


MEMBERS, BASE = 1, 2  # required-feature bits (§3.1)
MEMBER_TABLE, BASE_TABLE = 5, 6  # section kinds of 1.2 (§4.2)
# Vectors without 1.2's bits or tables that still use 1.2: an encoding a 1.1 reader does
# not know (§7: 6-8 are 1.2's).
USES_1_2 = {'invalid/base_ref_without_base_table.elv': 'UnknownEncoding'}


# Vectors using a dtype 1.4 adds (§6.2, codes 15-21): a 1.3 reader stops at its record.
USES_1_4 = {'valid/raw_dtypes_1_4.elv', 'valid/dtypes_1_4_encoded.elv',
            'invalid/f4_values_not_whole_bytes.elv', 'invalid/f6_values_not_whole_bytes.elv',
            'invalid/elf_on_c64.elv'}


def as_reader_1_3(path, want):
    """What a full reader 1.3 gives for the vector at `path`."""
    return 'UnknownDtype' if path in USES_1_4 else want


def as_reader_1_1(path, want):
    """What a full reader 1.1 gives for the vector at `path`: `want` (the manifest's
    expectation: a list of lines, or an error kind) unless the file uses 1.2."""
    with open(os.path.join(HERE, path), 'rb') as f:
        data = f.read()
    if path in USES_1_2:
        return USES_1_2[path]
    want = as_reader_1_3(path, want)
    if len(data) < 64 or data[:8] != b'\x89ELV\r\n\x1a\n':
        return want
    if int.from_bytes(data[12:16], 'little') & (MEMBERS | BASE):
        return 'UnknownRequiredFeature'
    index = int.from_bytes(data[-32:-24], 'little')
    count = int.from_bytes(data[index:index + 4], 'little') if index + 8 <= len(data) else 0
    kinds = {data[index + 8 + 32 * i + 28] for i in range(count)
             if index + 8 + 32 * i + 32 <= len(data)}
    if kinds & {MEMBER_TABLE, BASE_TABLE}:
        return 'UnknownCriticalSection'
    return want


def run(decoder, path, base=None):
    args = ['--base', os.path.join(HERE, base)] if base else []
    p = subprocess.run(decoder + args + [os.path.join(HERE, path)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    return p.returncode, p.stdout.decode('utf-8', 'replace').splitlines()


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    args = sys.argv[1:]
    older = {'--reader-1.1': as_reader_1_1, '--reader-1.3': as_reader_1_3}.get(args[0])
    decoder = args[1:] if older else args
    if not decoder:
        sys.exit(__doc__)
    valid, invalid, bases = manifest()
    if older:
        for path in list(valid):
            kind = older(path, None)
            if kind:
                del valid[path]
                invalid[path] = kind
        invalid = {p: older(p, k) for p, k in invalid.items()}
    passed = failed = 0
    for path, want in sorted(valid.items()):
        code, out = run(decoder, path, bases.get(path))
        if code == 0 and out == want:
            passed += 1
            continue
        failed += 1
        got = '; '.join(out[:3]) + (' ...' if len(out) > 3 else '')
        print(f'FAIL {path}: exit {code}, want {len(want)} lines, got: {got}')
    for path, kind in sorted(invalid.items()):
        code, out = run(decoder, path, bases.get(path))
        last = out[-1] if out else ''
        any_kind = kind == 'LimitExceeded' and last.startswith('error\t')
        if code != 0 and (last == f'error\t{kind}' or any_kind):
            passed += 1
            continue
        failed += 1
        print(f'FAIL {path}: exit {code}, want error {kind}, got {last!r}')
    print(f'{passed} passed, {failed} failed')
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
