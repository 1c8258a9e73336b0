"""One composition root per process: settings and options in, that process's parts out.

`control_plane.build` (the API and console, on top of `citadel.bootstrap`), `allocator.build`
and `gateway.build` are the only places that open the platform key and the keyring, each once
per process, and turn settings into adapters. The CLI commands parse options, call a root and
run what it returns; nothing below the roots reads settings to build anything.
"""
