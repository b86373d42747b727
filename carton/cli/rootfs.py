"""``carton rootfs busybox DIR``: build the default root filesystem."""

import sys

from ..errors import CartonError

USAGE = "Usage: carton rootfs busybox DIR\n\nBuild a root filesystem in DIR from the host's static busybox.\n"


def main(argv, root):
    if argv[:1] in (["--help"], ["-h"]):
        sys.stdout.write(USAGE)
        return 0
    if len(argv) != 2 or argv[0] != "busybox":
        raise CartonError("expected: carton rootfs busybox DIR")
    from ..rootfs import busybox

    used = busybox.build(argv[1])
    print(f"built a busybox root filesystem in {argv[1]} (from {used})")
    return 0
