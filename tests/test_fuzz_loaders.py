"""Damaged checkpoints: every failure to read one is the loader's own named error, never a raw exception.

A seeded fuzzer flips, truncates, duplicates and inserts bytes in real checkpoints of each format we read
(an official stylegan2-ada-pytorch pickle, a rosinality ``.pt``, our own ``.pt``); each mutant must either
load (harmless mutations exist) or raise ``CheckpointError`` naming the file.
"""
import random
from pathlib import Path

import pytest

import generators
from generators import CheckpointError

FIXTURES = Path(__file__).parent / "fixtures"
SOURCES = {"official-pickle": FIXTURES / "official_tiny_snapshot.pkl", "rosinality": FIXTURES / "rosinality_tiny.pt",
           "cfgan": FIXTURES / "official_tiny.pt"}
CASES_PER_FORMAT = 100


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random corruption of the kind disks, downloads and hand edits produce."""
    buf = bytearray(data)
    kind = rng.choice(["flip", "flip", "bytes", "truncate", "insert", "duplicate", "zero"])
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif kind == "bytes":
        at = rng.randrange(len(buf) - 8)
        buf[at:at + 8] = bytes(rng.randrange(256) for _ in range(8))
    elif kind == "truncate":
        del buf[rng.randrange(1, len(buf)):]
    elif kind == "insert":
        at = rng.randrange(len(buf))
        buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    elif kind == "duplicate":
        at, n = rng.randrange(len(buf)), rng.randint(1, 256)
        buf[at:at] = buf[at:at + n]
    else:
        at = rng.randrange(len(buf))
        buf[at:at + rng.randint(1, 512)] = bytes(min(512, len(buf) - at))
    return bytes(buf)


@pytest.mark.parametrize("fmt", sorted(SOURCES))
def test_mutated_checkpoints_load_or_fail_with_the_loaders_error(fmt, tmp_path):
    original = SOURCES[fmt].read_bytes()
    rng = random.Random(f"fuzz-{fmt}")
    outcomes = {"loaded": 0, "refused": 0}
    for case in range(CASES_PER_FORMAT):
        path = tmp_path / f"case{case:03d}{SOURCES[fmt].suffix}"
        path.write_bytes(mutate(original, rng))
        try:
            generators.load(str(path))
            outcomes["loaded"] += 1
        except CheckpointError as err:
            assert str(path) in str(err), err
            outcomes["refused"] += 1
        except Exception as err:  # noqa: BLE001 - the point of the test
            pytest.fail(f"{fmt} case {case}: {type(err).__name__} escaped the loader: {err}")
        path.unlink()
    assert outcomes["refused"] > CASES_PER_FORMAT // 4  # the fuzzer really damages files
