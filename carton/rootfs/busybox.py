"""``carton rootfs busybox DIR``: a small root filesystem built from the host's static busybox.

The quick start and the tests need a root filesystem without downloading
anything. A *statically linked* busybox (Debian: ``busybox-static``) runs
anywhere, needs no shared libraries inside the rootfs, and provides a shell
and ~400 tools as links to one binary.
"""

import os
import shutil
import struct
import subprocess

from ..errors import CartonError

CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")

PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
user:x:1000:1000:user:/home/user:/bin/sh
"""

GROUP = """root:x:0:
daemon:x:1:
tty:x:5:
wheel:x:10:root
users:x:100:user
nogroup:x:65534:
user:x:1000:
"""

DIRS = {"bin": 0o755, "sbin": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755, "etc": 0o755,
        "proc": 0o555, "sys": 0o555, "dev": 0o755, "tmp": 0o1777, "root": 0o700,
        "home/user": 0o755, "var/tmp": 0o1777, "run": 0o755}


def build(target, busybox=None):
    """Fill ``target`` with a busybox root filesystem; return the busybox used."""
    busybox = busybox or _find_busybox()
    if not _is_static(busybox):
        raise CartonError(f"{busybox} is dynamically linked and would not run in a rootfs "
                          "without its libraries: install busybox-static "
                          "(apt-get install busybox-static)")
    if os.path.exists(target) and not os.path.isdir(target):
        raise CartonError(f"{target}: exists and is not a directory")
    if os.path.isdir(target) and os.listdir(target) and not os.path.exists(
            os.path.join(target, "bin", "busybox")):
        raise CartonError(f"{target}: not empty (and not a busybox rootfs to refresh)")
    os.makedirs(target, 0o755, exist_ok=True)
    os.chmod(target, 0o755)  # the container's "/": every user must be able to enter it
    for path, mode in DIRS.items():
        full = os.path.join(target, path)
        os.makedirs(full, exist_ok=True)
        os.chmod(full, mode)
    os.chown(os.path.join(target, "home/user"), 1000, 1000)
    shutil.copy(busybox, os.path.join(target, "bin", "busybox"))
    os.chmod(os.path.join(target, "bin", "busybox"), 0o755)

    applets = subprocess.run([busybox, "--list-full"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        link = os.path.join(target, applet)
        if applet == "bin/busybox" or os.path.lexists(link):
            continue
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink("/bin/busybox", link)
    for name, text in (("passwd", PASSWD), ("group", GROUP)):
        with open(os.path.join(target, "etc", name), "w") as f:
            f.write(text)
    return busybox


def _find_busybox():
    for path in CANDIDATES:
        if os.path.exists(path):
            return path
    found = shutil.which("busybox")
    if found:
        return found
    raise CartonError("busybox not found: install busybox-static (apt-get install busybox-static)")


def _is_static(path):
    """True if the ELF file has no PT_INTERP program header (no dynamic loader needed)."""
    with open(path, "rb") as f:
        header = f.read(64)
        if header[:4] != b"\x7fELF" or header[4] != 2:  # 64-bit ELF only
            return False
        phoff, = struct.unpack_from("<Q", header, 32)
        phentsize, phnum = struct.unpack_from("<HH", header, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != 3 for i in range(phnum))
