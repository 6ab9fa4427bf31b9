"""Barretenberg's reference string (CRS) from a known tau, for bb.js's UltraHonk: one directory per machine.

bb.js reads its CRS from a directory (`crsPath`) and downloads what is missing from Aztec's CRS host, which
is out of reach here. The files, their names and sizes as bb.js's `src/crs/node/index.ts` (0.72 to 0.85)
reads them: `bn254_g1.dat` holds the points tau^i G1, 64 bytes each, at least circuit size + 1 of them;
`bn254_g2.dat` is tau G2, 128 bytes. The byte order was found with bb itself: x then y, each a 32-byte
big-endian integer (bb 5.0.0's `prove` rejects 64-bit limbs in that order: "point is not on the curve"),
and G2 as x.c0, x.c1, y.c0, y.c1; bb.js 0.72 to 0.85 verify proofs made against it, and not with 4 G2 in
the file. bb.js loads them when both sizes fit, so nothing is fetched.

The tau is 2, so the G1 points are a chain of doublings (Jacobian, then one batch inversion): a few
seconds in Python for 2^18 points. Anyone can forge proofs against it: insecure, for benchmarks only, and
every record says so (proving and verifying cost the same whatever tau is).

Which releases take such a file is the adapter's table (tracker.adapters.noir): from 0.87.0 bb.js's
verifier uses a [tau]_2 built into it and ignores `bn254_g2.dat`, and 5.0.0 rejects a G1 file whose
second point is not the ceremony's at load.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path

from tracker.adapters.ptau import _lock, ptau_dir

KNOWN_TAU = "known tau (tau = 2), written by zkml-tracker: insecure, for benchmarks only"
DEFAULT_POWER = 18  # 2^18 + 1 points (16 MiB): every tiny and standard zoo circuit is smaller
# bn254's base field, G2's generator (EIP-197), and the twist's b = 3 / (9 + u)
P = 21888242871839275222246405745257275088696311157297823662689037894645226208583
G2 = ((10857046999023057135944570762232829481370756359578518086990519993285655852781,
       11559732032986387107991004021392285783925812861821192530917403151452391805634),
      (8495653923123431417604973247489272438418190587263600148770280649306958101930,
       4082367875863433681332203403145435568316851327593401208105741076214120093531))


def crs_dir(power: int = DEFAULT_POWER) -> Path:
    """The machine's CRS directory of 2^power + 1 points, written once (under a lock) and then reused."""
    path = ptau_dir() / f"bb-crs-known-tau-{power:02d}"
    with _lock(path):
        if not (path / "meta.json").exists():
            _write(path, power)
    return path


def _write(path: Path, power: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    started = time.monotonic()
    try:
        tmp.mkdir(parents=True)
        points = g1_powers(2 ** power + 1)
        (tmp / "bn254_g1.dat").write_bytes(b"".join(_be(x) + _be(y) for x, y in points))
        x, y = g2_double(*G2)
        (tmp / "bn254_g2.dat").write_bytes(_be(x[0]) + _be(x[1]) + _be(y[0]) + _be(y[1]))
        meta = {"version": 1, "kind": KNOWN_TAU, "points": len(points),
                "seconds": round(time.monotonic() - started, 2)}
        (tmp / "meta.json").write_text(json.dumps(meta))
        shutil.rmtree(path, ignore_errors=True)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def g1_powers(n: int) -> list[tuple[int, int]]:
    """2^i (1, 2) for i < n, affine: doublings in Jacobian coordinates, then one batch inversion."""
    X, Y, Z = 1, 2, 1
    jac = []
    for _ in range(n):
        jac.append((X, Y, Z))
        A, B = X * X % P, Y * Y % P
        C = B * B % P
        D, E = 2 * ((X + B) ** 2 - A - C) % P, 3 * A % P
        X3 = (E * E - 2 * D) % P
        X, Y, Z = X3, (E * (D - X3) - 8 * C) % P, 2 * Y * Z % P
    prefix, acc = [], 1
    for _, _, z in jac:
        prefix.append(acc)
        acc = acc * z % P
    inv, out = pow(acc, -1, P), [(0, 0)] * n
    for i in range(n - 1, -1, -1):
        x, y, z = jac[i]
        zi = inv * prefix[i] % P
        inv = inv * z % P
        out[i] = (x * zi * zi % P, y * zi * zi * zi % P)
    return out


def _f2mul(a, b):
    return ((a[0] * b[0] - a[1] * b[1]) % P, (a[0] * b[1] + a[1] * b[0]) % P)


def _f2inv(a):
    n = pow(a[0] * a[0] + a[1] * a[1], -1, P)
    return (a[0] * n % P, -a[1] * n % P)


def g2_double(x, y):
    """2 (x, y) on the twist, affine over Fq2 = Fq[u] / (u^2 + 1)."""
    lam = _f2mul(_f2mul((3, 0), _f2mul(x, x)), _f2inv(((2 * y[0]) % P, (2 * y[1]) % P)))
    l2 = _f2mul(lam, lam)
    x3 = ((l2[0] - 2 * x[0]) % P, (l2[1] - 2 * x[1]) % P)
    t = _f2mul(lam, ((x[0] - x3[0]) % P, (x[1] - x3[1]) % P))
    return x3, ((t[0] - y[0]) % P, (t[1] - y[1]) % P)


def on_twist(x, y) -> bool:
    b = _f2mul((3, 0), _f2inv((9, 1)))
    lhs, x3 = _f2mul(y, y), _f2mul(_f2mul(x, x), x)
    return ((lhs[0] - x3[0] - b[0]) % P, (lhs[1] - x3[1] - b[1]) % P) == (0, 0)


def _be(v: int) -> bytes:
    return v.to_bytes(32, "big")
