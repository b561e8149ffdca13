"""accelsim.gpu must run on the bare device machine: no numba, no simpy, and nothing heavy
(torch, triton) imported before a kernel is called."""

from __future__ import annotations

import subprocess
import sys

GPU_MODULES = ("accelsim.gpu", "accelsim.gpu.reference", "accelsim.gpu.ops",
               "accelsim.gpu.timing", "accelsim.gpu.candidates", "accelsim.gpu.bench")
BLOCK = ("import sys\n"
         "class Block:\n"
         "    def find_spec(self, name, path=None, target=None):\n"
         "        if name.split('.')[0] in ('numba', 'simpy'):\n"
         "            raise ImportError(f'{name} is blocked (the device has none)')\n"
         "sys.meta_path.insert(0, Block())\n")


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + code], capture_output=True, text=True)


def test_gpu_modules_import_without_numba_and_simpy():
    """``import accelsim.gpu.x`` runs accelsim/__init__.py first; it loads its public names
    lazily, so neither it nor the gpu modules pull in the simulator (numba, simpy)."""
    code = ("import " + ", ".join(GPU_MODULES) + "\n"
            "assert not {'numba', 'simpy', 'torch', 'triton'} & set(sys.modules), "
            "sorted({'numba', 'simpy', 'torch', 'triton'} & set(sys.modules))\n")
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_gpu_modules_import_no_simulator_module():
    """Read the sources: accelsim.gpu imports only accelsim.errors, accelsim.fileio (stdlib
    only), accelsim.trace, accelsim.spec.geometry and itself from the package (so only the
    package __init__ can pull the simulator in)."""
    import ast
    from pathlib import Path

    import accelsim.gpu

    allowed = ("accelsim.errors", "accelsim.fileio", "accelsim.trace", "accelsim.gpu",
               "accelsim.spec.geometry")
    for f in Path(accelsim.gpu.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("accelsim"):
                assert node.module.startswith(allowed), (f.name, node.module)
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("accelsim") or \
                        alias.name.startswith(allowed), (f.name, alias.name)
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module] if isinstance(node, ast.ImportFrom) else \
                    [a.name for a in node.names]
                assert not any((n or "").split(".")[0] in ("numba", "simpy") for n in names)
