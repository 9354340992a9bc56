"""Ankommen's benchmarks: the runtime's throughput and latency beside the machine's ceilings.

Run every benchmark with ``make bench`` (or ``python -m bench``); see ``bench/README.md``.
Every figure is reported next to a ceiling measured in the same run, as a ratio, because
the absolute numbers on a shared 2-core machine are noisy.
"""
