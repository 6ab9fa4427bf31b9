"""Every executable a framework needs on PATH, defined once with one line on how to get it.

Adapters name these in their `toolchains`; the cargo build names CARGO when cargo is not there, so the hint
a user reads is the same wherever the missing tool is found.
"""
from __future__ import annotations

from tracker.types import Toolchain

RUSTUP_INSTALL = "curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh"
CARGO = Toolchain("cargo", "cargo", f"install Rust: a distribution's cargo package, or rustup ({RUSTUP_INSTALL})")
RUSTUP = Toolchain("rustup", "rustup", f"install Rust with rustup: {RUSTUP_INSTALL}, then `rustup toolchain "
                   "install nightly`")
NODE = Toolchain("node", "node", "install Node.js 18 or newer (npm comes with it)")
NPM = Toolchain("npm", "npm", "install Node.js 18 or newer (npm comes with it)")
GO = Toolchain("go", "go", "install Go 1.19 or newer (the README says 1.19, go.mod asks 1.20): "
               "apt-get install golang-go or https://go.dev/dl/; its modules come from proxy.golang.org")
CMAKE = Toolchain("cmake", "cmake", "apt-get install cmake (builds the unicorn MIPS emulator)")
MAKE = Toolchain("make", "make", "apt-get install make")
SCARB = Toolchain("scarb", "scarb", "install Scarb: curl --proto '=https' --tlsv1.2 -sSf "
                  "https://docs.swmansion.com/scarb/install.sh | sh (Orion pins 2.6.4; prove/verify need 2.10+)")
