"""The corpus tests import the repository's ``scripts`` and ``benchmarks`` packages."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # scripts.dup_adapt
