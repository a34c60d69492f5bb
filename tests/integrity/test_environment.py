"""What the integrity guarantees rest on: library versions, and a serving path without torch."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version


def test_onnx_carries_the_external_data_path_traversal_fixes():
    major, minor = (int(part) for part in version("onnx").split(".")[:2])
    assert (major, minor) >= (1, 21), f"onnx {version('onnx')} < 1.21 lacks the external-data path-traversal fixes"


def test_the_serving_path_never_imports_torch():
    code = "import sys, rtguard.runtime, rtguard.integrity; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
