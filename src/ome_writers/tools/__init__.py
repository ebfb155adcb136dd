"""Tools built on the public API: the `ome-writers` command, the benchmark,
dataset inspection, repair of interrupted datasets and the demo acquisition."""
