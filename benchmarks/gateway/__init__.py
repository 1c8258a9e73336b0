"""The gateway side by side with haproxy and nginx (issue 8).

One command (``python -m benchmarks.gateway``, see ``docs/benchmarks.md``) installs or finds
``wrk``, ``haproxy`` and ``nginx`` (Debian packages), starts one fixed-answer nginx backend,
every contender, and then measures them in alternating rounds with ``wrk`` and ``openssl
s_time``. The modules are named for what they hold:

* `material`  certificates (ECDSA P-256, one CA) and the gateway's data directories
* `rules`     the N source rules, as a Citadel snapshot, an haproxy ACL file and an nginx geo map
* `configs`   the nginx and haproxy configuration texts
* `services`  starting, pinning (``taskset``), measuring (CPU, memory) and stopping processes
* `load`      ``wrk`` and ``openssl s_time`` runs and their parsing
* `contenders` which contenders exist and how each is started
* `report`    medians, ratios, the Markdown table and the PNG chart
"""
