"""The kernel, thinly: one file per topic, one documented wrapper per syscall.

Nothing in here reads a Spec; nothing in ``spec/`` calls the kernel.
"""
