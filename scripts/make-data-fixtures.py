#!/usr/bin/env python3
"""Writes the tiny NumPy-made fixtures that test/data/*.test.ts read, as a cross-implementation check.

Run once from the repository root (needs numpy): python3 scripts/make-data-fixtures.py
The tests rebuild the expected values from the same formulas, so keep the two in step.
"""
import os

import numpy as np

OUT = os.path.join("test", "data", "fixtures")


def arrays():
    return {
        "f4_2x3": np.arange(6, dtype="<f4").reshape(2, 3) / np.float32(4) - np.float32(0.5),
        "f8_scalar": np.array(np.pi, dtype="<f8"),
        "i8_vec": np.array([-(2**40), -1, 0, 1, 2**62], dtype="<i8"),
        "i4_2x2x2": np.arange(8, dtype="<i4").reshape(2, 2, 2) - 4,
        "u1_3": np.array([0, 127, 255], dtype="|u1"),
        "b1_2x2": np.array([[True, False], [False, True]]),
        "f4_empty": np.zeros((0, 3), dtype="<f4"),
    }


def write_npy(name, array, version=None):
    with open(os.path.join(OUT, name), "wb") as f:
        np.lib.format.write_array(f, array, version=version, allow_pickle=False)


def main():
    os.makedirs(OUT, exist_ok=True)
    np.savez(os.path.join(OUT, "numpy-savez.npz"), **arrays())
    np.savez_compressed(os.path.join(OUT, "numpy-savez-compressed.npz"), **arrays())
    a = arrays()
    write_npy("numpy-v1.npy", a["i4_2x2x2"], version=(1, 0))
    write_npy("numpy-v2.npy", a["f4_2x3"], version=(2, 0))
    write_npy("numpy-v3.npy", a["i8_vec"], version=(3, 0))
    write_npy("numpy-fortran.npy", np.asfortranarray(a["f4_2x3"]))
    write_npy("numpy-big-endian.npy", a["f4_2x3"].astype(">f4"))


if __name__ == "__main__":
    main()
