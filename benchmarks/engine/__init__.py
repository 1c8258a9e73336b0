"""The engine benchmark's parts: corpus, phases, one module per contender, report (issue 14).

`benchmarks/engine_bench.py` is the command. The corpus, phases and Lucene modules use only
the standard library (and pyjnius), because the Lucene contender runs in its own virtualenv.
"""
