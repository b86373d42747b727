"""The OCI runtime-spec: the contract between Carton's front doors and its runtime core.

``model`` holds the classes (``Spec``, ``Process``, ``Mount`` ...), ``load``
reads and checks a ``config.json``, ``defaults`` knows what docker and runc
give a container when nothing else is said. Nothing here calls the kernel.
"""
