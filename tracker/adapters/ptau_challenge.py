"""A powers-of-tau file in the `challenge` layout zkTorch reads (src/ptau.rs), made here with a known tau.

zkTorch ships one with 2^7 powers; our nets need more (its README says to make one with snarkjs). The
layout is the phase-1 ceremony's uncompressed challenge on bn254: a 64-byte hash, then tau^i*G1 for
i < 2^(n+1)-1, tau^i*G2 for i < 2^n, alpha*tau^i*G1 and beta*tau^i*G1 for i < 2^n, and beta*G2;
coordinates big-endian, a G2 coordinate written as (c1, c0). zkTorch reads only the two tau sections and
checks nothing (`new_unchecked`), so this module also checks its own points are on their curves.

tau is a small known number (alpha = beta = 1): the file is insecure by construction, which is fine for
benchmarks and no worse than any locally made ceremony; the costs of zkTorch's proofs do not depend on
tau. Pure Python: 2^15 powers take about half a minute; the file is made once per power and cached.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator

P = 21888242871839275222246405745257275088696311157297823662689037894645226208583
TAU = 7
G1 = (1, 2)
G2 = ((10857046999023057135944570762232829481370756359578518086990519993285655852781,
       11559732032986387107991004021392285783925812861821192530917403151452391805634),
      (8495653923123431417604973247489272438418190587263600148770280649306958101930,
       4082367875863433681332203403145435568316851327593401208105741076214120093531))
HEADER = b"\0" * 64


class Fq:
    """The base field's operations on ints, so one set of curve formulas serves G1 and G2."""
    zero, one = 0, 1

    @staticmethod
    def add(a, b): return (a + b) % P

    @staticmethod
    def sub(a, b): return (a - b) % P

    @staticmethod
    def mul(a, b): return a * b % P

    @staticmethod
    def inv(a): return pow(a, P - 2, P)


class Fq2:
    """Fq[u]/(u^2 + 1) on (c0, c1) pairs: bn254's G2 lives on its twist over this field."""
    zero, one = (0, 0), (1, 0)

    @staticmethod
    def add(a, b): return ((a[0] + b[0]) % P, (a[1] + b[1]) % P)

    @staticmethod
    def sub(a, b): return ((a[0] - b[0]) % P, (a[1] - b[1]) % P)

    @staticmethod
    def mul(a, b):
        t0, t1 = a[0] * b[0], a[1] * b[1]
        return ((t0 - t1) % P, ((a[0] + a[1]) * (b[0] + b[1]) - t0 - t1) % P)

    @staticmethod
    def inv(a):
        d = pow((a[0] * a[0] + a[1] * a[1]) % P, P - 2, P)
        return (a[0] * d % P, -a[1] * d % P)


def _double(F, pt):
    """Jacobian doubling on y^2 = x^3 + b (dbl-2009-l)."""
    x, y, z = pt
    a, b = F.mul(x, x), F.mul(y, y)
    c = F.mul(b, b)
    xb = F.add(x, b)
    d = F.sub(F.sub(F.mul(xb, xb), a), c)
    d = F.add(d, d)
    e = F.add(F.add(a, a), a)
    x3 = F.sub(F.mul(e, e), F.add(d, d))
    c8 = F.add(c, c); c8 = F.add(c8, c8); c8 = F.add(c8, c8)
    yz = F.mul(y, z)
    return x3, F.sub(F.mul(e, F.sub(d, x3)), c8), F.add(yz, yz)


def _add(F, p1, p2):
    """Jacobian addition of two distinct points, neither at infinity (add-2007-bl)."""
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    z1z1, z2z2 = F.mul(z1, z1), F.mul(z2, z2)
    u1, u2 = F.mul(x1, z2z2), F.mul(x2, z1z1)
    s1, s2 = F.mul(y1, F.mul(z2, z2z2)), F.mul(y2, F.mul(z1, z1z1))
    h = F.sub(u2, u1)
    i = F.add(h, h); i = F.mul(i, i)
    j = F.mul(h, i)
    r = F.sub(s2, s1); r = F.add(r, r)
    v = F.mul(u1, i)
    x3 = F.sub(F.sub(F.mul(r, r), j), F.add(v, v))
    s1j = F.mul(s1, j)
    y3 = F.sub(F.mul(r, F.sub(v, x3)), F.add(s1j, s1j))
    zs = F.add(z1, z2)
    return x3, y3, F.mul(F.sub(F.sub(F.mul(zs, zs), z1z1), z2z2), h)


def _times_tau(F, pt):
    """tau * pt, double-and-add from the top bit."""
    out = pt
    for bit in bin(TAU)[3:]:
        out = _double(F, out)
        if bit == "1":
            out = _add(F, out, pt)
    return out


def powers(F, generator, count: int) -> list[tuple]:
    """tau^i * generator for i < count, in affine coordinates (one inversion for all of them)."""
    jac = [(generator[0], generator[1], F.one)]
    for _ in range(count - 1):
        jac.append(_times_tau(F, jac[-1]))
    return _to_affine(F, jac)


def _to_affine(F, points: list[tuple]) -> list[tuple]:
    prefix, acc = [], F.one
    for _, _, z in points:  # Montgomery's trick: the inverse of every z from one inversion
        prefix.append(acc)
        acc = F.mul(acc, z)
    inv = F.inv(acc)
    out = [None] * len(points)
    for k in range(len(points) - 1, -1, -1):
        x, y, z = points[k]
        zi = F.mul(inv, prefix[k])
        inv = F.mul(inv, z)
        zi2 = F.mul(zi, zi)
        out[k] = (F.mul(x, zi2), F.mul(y, F.mul(zi2, zi)))
    return out


def on_curve(F, b, pt) -> bool:
    x, y = pt
    return F.mul(y, y) == F.add(F.mul(F.mul(x, x), x), b)


G1_B = 3
G2_B = Fq2.mul((3, 0), Fq2.inv((9, 1)))  # the twist's b' = 3 / (9 + u)


def g1_bytes(pt) -> bytes:
    return pt[0].to_bytes(32, "big") + pt[1].to_bytes(32, "big")


def g2_bytes(pt) -> bytes:
    (x0, x1), (y0, y1) = pt
    return b"".join(v.to_bytes(32, "big") for v in (x1, x0, y1, y0))


def challenge_chunks(power: int) -> Iterator[bytes]:
    """The file's bytes, section by section, for 2^power powers."""
    n = 1 << power
    g1 = powers(Fq, G1, 2 * n - 1)
    g2 = powers(Fq2, G2, n)
    for pts, curve in ((g1[:1] + g1[-1:], (Fq, G1_B)), (g2[:1] + g2[-1:], (Fq2, G2_B))):
        if not all(on_curve(curve[0], curve[1], p) for p in pts):
            raise ArithmeticError("a point made for the challenge file is not on its curve")
    yield HEADER
    yield b"".join(map(g1_bytes, g1))
    yield b"".join(map(g2_bytes, g2))
    alpha_tau = b"".join(map(g1_bytes, g1[:n]))  # alpha = beta = 1
    yield alpha_tau
    yield alpha_tau
    yield g2_bytes(G2)


def write_challenge(path: Path, power: int, publish: Callable[[Path, Path], None]) -> None:
    """Write the file beside `path` and hand it to `publish(tmp, path)` (which must not replace one)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # two jobs may make the same file at once
    with open(tmp, "wb") as f:
        for chunk in challenge_chunks(power):
            f.write(chunk)
    try:
        publish(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
