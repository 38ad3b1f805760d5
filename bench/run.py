"""Run every benchmark in bench/ one after the other (`make bench`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    for script in sorted(HERE.glob("*.py")):
        # million.py builds a database of a million sessions: run it on its own.
        if script.name in {"run.py", "__init__.py", "million.py"}:
            continue
        print(f"== {script.name}", flush=True)
        subprocess.run([sys.executable, str(script)], check=True)
