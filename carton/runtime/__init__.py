"""The runtime core: one container, from a Spec to a running process and back to nothing.

``create`` makes the namespaces, the root filesystem and the init process,
which then waits; ``start`` lets it exec the user's command; ``attach`` waits
for it while relaying signals and the terminal; ``run`` does all of it for a foreground
``carton run`` and removes what is left.
"""
