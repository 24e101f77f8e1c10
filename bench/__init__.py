"""lakeprep's benchmark suite: ``python -m bench.run [--quick]`` writes ``bench/results/``.

Every figure is a ratio of two workloads measured in the same run (this machine is shared and noisy),
as the median over repeats. Workloads that touch Spark run in a fresh process each, so peak memory
covers the JVM too (see ``bench.proc``).
"""
