"""Compiled seccomp filters, kept: docker's profile is compiled once, not at every start.

libseccomp needs 10-15 ms to turn docker's default profile (some 350
syscall rules) into BPF. The result depends only on the profile and on the
libseccomp, kernel and machine that compiled it, so it is kept in
``<root>/.cache/seccomp/<sha256>.bpf`` (the state root, a tmpfs by default:
gone at reboot) and the next container with the same profile loads the
kept program (``linux/seccomp.load_program``): no libseccomp at all.

The key is the SHA-256 of that fingerprint and of the profile's JSON, so a
different profile can never load another's program. The directory is
root's alone (0700): who can write there is root already.
"""

import os

from .. import jsonc
from ..linux import seccomp


def program(config, root):
    """The compiled BPF program for the OCI ``linux.seccomp`` object ``config``."""
    try:
        from _sha256 import sha256  # the C module; hashlib would load OpenSSL first
    except ImportError:
        from hashlib import sha256

    key = sha256((seccomp.fingerprint() + "\n" + jsonc.dumps(config)).encode()).hexdigest()
    directory = os.path.join(root, ".cache", "seccomp")
    path = os.path.join(directory, key + ".bpf")
    try:
        with open(path, "rb") as f:
            kept = f.read()
        if kept and len(kept) % 8 == 0:
            from .. import explain

            explain.note(f"seccomp: the compiled filter is kept in {path}")
            return kept
    except FileNotFoundError:
        pass
    compiled = seccomp.compile(config)
    try:
        os.makedirs(directory, 0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(compiled)
        os.rename(tmp, path)  # atomic: a reader sees the whole program or none
    except OSError:
        pass  # a cache that cannot be written is only slower
    return compiled
