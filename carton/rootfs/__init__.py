"""The container's filesystem: its mounts, its /dev, pivot_root, and the default busybox rootfs."""
