"""The package's import graph (#19): no cycles, and the serving path never reaches torch or the training libraries.

The graph is read from the source (ast over rtguard/**/*.py), so it holds every import a module can
run: module-level, inside functions and under `if TYPE_CHECKING:` alike. Importing `a.b.c` runs the
`__init__.py` of `a` and `a.b` first, so it is an edge to each of them too, except to the importing
module's own packages (those are already being imported when it runs).
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import rtguard

PACKAGE = Path(rtguard.__file__).parent
# Third-party packages only training, compression, evaluation and reports need (the `train` extra of pyproject.toml).
TRAINING_ONLY = ("torch", "torch_pruning", "onnxscript", "onnxconverter_common", "sklearn", "skl2onnx", "art", "matplotlib",
                 "safetensors", "cpuinfo", "lightgbm", "onnxmltools")
# What `rtguard serve` and `rtguard score` run, besides the cli functions of those two commands.
SERVING_MODULES = ("rtguard.serve", "rtguard.stream", "rtguard.runtime", "rtguard.artifact", "rtguard.backends.serving")
SERVING_COMMANDS = ("serve", "score")
# In the base install, but not imported when serving or scoring: a third of `rtguard score`'s start-up time.
NOT_AT_SERVING_TIME = ("pandas",)


def _modules() -> dict[str, tuple[Path, ast.Module]]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = (path, ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return found


MODULES = _modules()


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _imported(module: str, nodes) -> tuple[set[str], set[str]]:
    """(rtguard modules, top-level third-party names) that the import statements among `nodes` name."""
    is_package = MODULES[module][0].name == "__init__.py"
    internal, external = set(), set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            # `from a.b import c`: the module a.b.c when there is one, else a name inside a.b
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] == "rtguard":
                while name not in MODULES:
                    name = name.rpartition(".")[0]
                internal.add(name)
            else:
                external.add(name.split(".")[0])
    return internal, external


def _edges(module: str, internal: set[str]) -> set[str]:
    mine = set(_ancestors(module))
    edges = set(internal)
    for name in internal:
        edges.update(a for a in _ancestors(name) if a not in mine)
    edges.discard(module)
    return edges


def import_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """{module: rtguard modules importing it runs}, {module: third-party packages it imports}."""
    graph, external = {}, {}
    for module, (_, tree) in MODULES.items():
        internal, outside = _imported(module, ast.walk(tree))
        graph[module], external[module] = _edges(module, internal), outside
    return graph, external


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a list of modules, the first again at the end) per strongly connected group of modules."""
    index, low, stack, on_stack, groups, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:  # Tarjan
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(set(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph)))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_in(group, graph) for group in groups]


def _cycle_in(group: set[str], graph: dict[str, set[str]]) -> list[str]:
    start = min(group)
    path, seen = [start], {start}
    while True:  # every member of a strongly connected group has a successor in it
        following = sorted(graph[path[-1]] & group)
        if start in following and len(path) > 1:
            return [*path, start]
        unseen = [name for name in following if name not in seen]
        if not unseen:
            return [*path, following[0]]
        path.append(unseen[0])
        seen.add(unseen[0])


def _command_imports() -> tuple[set[str], set[str]]:
    """(rtguard modules, third-party packages) that the cli module and its `serve` and `score` commands (with the
    cli helpers they call) import; the other commands' own imports are theirs."""
    tree = MODULES["rtguard.cli"][1]
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    todo, done = list(SERVING_COMMANDS), set()
    while todo:
        name = todo.pop()
        if name in done:
            continue
        done.add(name)
        todo += [node.func.id for node in ast.walk(functions[name])
                 if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in functions]
    internal, external = _imported("rtguard.cli", [node for name in done for node in ast.walk(functions[name])])
    module_level, module_external = _imported("rtguard.cli", [node for statement in tree.body if not isinstance(statement, ast.FunctionDef)
                                                              for node in ast.walk(statement)])
    return _edges("rtguard.cli", internal | module_level), external | module_external


def serving_closure(graph: dict[str, set[str]]) -> set[str]:
    reached, todo = set(), [*SERVING_MODULES, *_command_imports()[0]]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo += graph[module]
    return reached


def test_the_graph_sees_the_imports_a_module_runs():
    graph, external = import_graph()
    assert "rtguard.artifact" in graph["rtguard.runtime.session"]
    assert "torch" in external["rtguard.train.loop"]
    # importing a submodule of another package runs that package's __init__ first
    assert {"rtguard.evaluate", "rtguard.evaluate.threat_model"} <= graph["rtguard.train.loop"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def test_the_package_has_no_import_cycles():
    graph, _ = import_graph()
    found = cycles(graph)
    assert not found, "import cycles (a module imports, directly or through others, itself):\n" + "\n".join(
        " -> ".join(cycle) for cycle in found)


def test_the_serving_path_never_imports_training_libraries_anywhere_in_its_source():
    graph, external = import_graph()
    reached = serving_closure(graph)
    assert {"rtguard.serve.app", "rtguard.stream.scoring", "rtguard.runtime.loader", "rtguard.config"} <= reached
    offending = {module: sorted(external[module] & set(TRAINING_ONLY)) for module in sorted(reached)
                 if external[module] & set(TRAINING_ONLY)}
    if _command_imports()[1] & set(TRAINING_ONLY):
        offending["rtguard.cli (module level, serve, score)"] = sorted(_command_imports()[1] & set(TRAINING_ONLY))
    assert not offending, f"the serving path reaches training-only libraries: {offending}"


def test_serve_and_score_run_without_torch(tmp_path):
    """In a fresh interpreter: import the serving modules and run both commands far enough to import all they use
    (pandas too stays out: rtguard.data's __init__ re-exports only the schema for this reason)."""
    script = textwrap.dedent(f"""
        import sys
        from typer.testing import CliRunner
        import {', '.join(SERVING_MODULES)}
        from rtguard.cli import app
        for command in (["score", {str(tmp_path)!r}, "-", "--variant", "missing"],
                        ["serve", {str(tmp_path)!r}, "--variant", "missing"]):
            result = CliRunner().invoke(app, command)
            assert result.exit_code == 2, (command, result.exit_code, result.output, result.exception)
        loaded = sorted({{name.split(".")[0] for name in sys.modules}} & set({(*TRAINING_ONLY, *NOT_AT_SERVING_TIME)!r}))
        assert not loaded, loaded
        print("torch-free")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "torch-free" in done.stdout, done.stdout + done.stderr


def test_the_streams_arrow_code_never_imports_pandas():
    """In a fresh interpreter: a CSV block parsed whole, a Zeek column read, verdict lines joined by Arrow. pyarrow's
    pa.array, pa.scalar and to_numpy import pandas at their first call, ~0.2 s inside a one-shot `rtguard score`."""
    script = textwrap.dedent("""
        import sys
        import numpy as np
        import pyarrow as pa
        from rtguard.data.schema import FeatureSchema, FeatureSpec
        from rtguard.stream import arrow_buffers
        from rtguard.stream.columnar import ColumnarFlows
        from rtguard.stream.file_blocks import Block
        from rtguard.stream.flows import CsvFlows
        from rtguard.stream.sensor_columnar import ZeekColumnar
        from rtguard.stream.verdict_lines import VerdictLines
        schema = FeatureSchema([FeatureSpec("proto", "categorical", vocabulary=["tcp", "udp"]), FeatureSpec("bytes", "continuous", maximum=9.0)],
                               ["benign", "attack"], "benign")
        flows = CsvFlows(schema, None)
        flows.read_header(b"proto,bytes")
        rows, _, unknown = ColumnarFlows(schema, flows).encode_block(Block(2, b"tcp,1.5\\nicmp,2\\n", 4096))
        assert rows.tolist() == [[0.0, 1.5], [2.0, 2.0]] and unknown == [[], ["proto"]], (rows, unknown)
        texts = arrow_buffers.binary([b"3", b"-"]).cast(pa.string())
        assert ZeekColumnar._numbers(texts, "-", 2).tolist() == [3.0, 0.0]
        written = VerdictLines(schema, 0.5).format(range(2, 4), ["a", "b"], unknown, np.array([[0.2, 0.8], [0.9, 0.1]], np.float32),
                                                   {"anomaly_score": np.zeros(2, np.float32)}, {"clipped": np.array([True, False])})
        assert bytes(written.lines).count(b"\\n") == 2 and b'"clipped":true' in bytes(written.lines)
        assert "pandas" not in sys.modules
        print("pandas-free")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "pandas-free" in done.stdout, done.stdout + done.stderr


def _requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[=<>!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-") for requirement in requirements}


def test_the_base_install_is_the_serving_install_and_the_train_extra_brings_the_rest():
    project = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    base, extras = _requirement_names(project["dependencies"]), project["optional-dependencies"]
    distributions = importlib.metadata.packages_distributions()
    training = {name.lower().replace("_", "-") for module in TRAINING_ONLY for name in distributions.get(module, [module])}
    assert not base & training, f"training-only packages in the base install: {sorted(base & training)}"
    assert training <= _requirement_names(extras["train"]), sorted(training - _requirement_names(extras["train"]))
    assert "torch==2.13.0" in extras["train"]  # the CPU wheel on this workplace's disk; never a CUDA build
    assert "serve" in extras and "rtguard[train]" in extras["dev"]  # make run / make test install .[dev]: everything
    # every third-party package the serving path imports is in the base install, or in an opt-in extra
    # (not train, not dev) for a branch only that extra enables, such as `rtguard score --engine spark`
    opt_in = set().union(*(_requirement_names(requirements) for extra, requirements in extras.items() if extra not in ("train", "dev")))
    graph, external = import_graph()
    imported = set().union(*(external[module] for module in serving_closure(graph)), _command_imports()[1]) - set(sys.stdlib_module_names)
    missing = {module: distributions.get(module) for module in imported
               if not {name.lower().replace("_", "-") for name in distributions.get(module, [module])} & (base | opt_in)}
    assert not missing, (f"the serving path imports packages neither the base install nor an opt-in extra of pyproject.toml holds: {missing}; "
                         "add each to `dependencies`, or to an extra of its own when only an opt-in branch imports it")


def _lazy_reexport(node: ast.stmt) -> bool:
    """A module-level __getattr__ that only imports and returns (PEP 562): how the package root re-exports its
    Python API without importing it for every `import rtguard.x`."""
    return (isinstance(node, ast.FunctionDef) and node.name == "__getattr__"
            and all(isinstance(inner, (ast.Import, ast.ImportFrom, ast.Return, ast.Raise, ast.If, ast.Expr)) for inner in node.body))


def test_package_init_files_only_re_export():
    """Stage logic lives in named modules (evaluate/stage.py, ...); an __init__.py holds imports and __all__."""
    offending = []
    for module, (path, tree) in MODULES.items():
        if path.name != "__init__.py":
            continue
        for node in tree.body:
            docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
            names_all = isinstance(node, ast.Assign) and [getattr(target, "id", None) for target in node.targets] == ["__all__"]
            if not (docstring or names_all or isinstance(node, (ast.Import, ast.ImportFrom)) or _lazy_reexport(node)):
                offending.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert not offending, f"logic in __init__.py (move it to a named module and re-export it): {offending}"


def test_the_command_line_starts_light():
    """`import rtguard.cli` (every command's start, `--help` included) loads no model runtime, pandas or training library."""
    heavy = (*TRAINING_ONLY, *NOT_AT_SERVING_TIME, "onnxruntime", "onnx", "openvino", "starlette")
    script = f"import sys, rtguard.cli; print(sorted({{n.split('.')[0] for n in sys.modules}} & set({heavy!r})))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr
