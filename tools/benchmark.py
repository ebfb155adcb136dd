"""Run the ome-writers benchmark (same as ``ome-writers bench``).

python tools/benchmark.py --scenarios a f --repeat 3 --compare /path/to/python
"""

import sys

from ome_writers.tools.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
