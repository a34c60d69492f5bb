"""The README's quickstart, executed: its fenced blocks are read from README.md and run in order.

What the test changes, and only this: `rtguard run` gets `--config` with the suite's tiny
settings (two variants, ONNX Runtime only) so it takes seconds, port 8000 becomes a free
port, and the commands run in a scratch folder where `docs/` and `.venv` point at the real
ones. A command that fails, a block that disappears or a block that stops meaning what the
checks below expect fails the test, so the README and this test cannot drift apart.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from rtguard.config import dump_config, validate_config

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
COMMAND_TIMEOUT_S = 600
QUICK = {"optimize": {"variants": ["onnx-fp32", "int8-dynamic"]}, "evaluate": {"backends": ["onnxruntime"]}}  # on top of TINY


def quickstart_blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of every bash and python block in the README's Quickstart section, in order."""
    section = re.search(r"(?ms)^## Quickstart.*?(?=^## )", text)
    assert section, "README.md has no '## Quickstart' section"
    return re.findall(r"(?ms)^```(bash|python)\n(.*?)^```", section.group(0))


def test_readme_is_a_front_door():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    assert "make run" in text and "make test" in text
    for link in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (REPO / link).exists(), f"README links to {link}, which does not exist"
    blocks = quickstart_blocks(text)
    commands = "\n".join(code for language, code in blocks if language == "bash")
    for step in ("rtguard run", "rtguard keygen", "rtguard sign", "rtguard serve", "curl ", "rtguard score"):
        assert step in commands, f"the quickstart lost its {step!r} step"
    assert any("tritonclient" in code for language, code in blocks if language == "python")


def test_cli_synopsis_names_every_command():
    import typer

    from rtguard.cli import app

    section = re.search(r"(?ms)^## Command line.*?(?=^## )", README.read_text(encoding="utf-8"))
    assert section, "README.md has no '## Command line' section"
    for name, command in typer.main.get_command(app).commands.items():
        assert re.search(rf"\b{name}\b", section.group(0)), f"the README's CLI synopsis lacks `rtguard {name}`"
        for sub in getattr(command, "commands", {}):
            assert f"{name} {sub}" in section.group(0), f"the README's CLI synopsis lacks `rtguard {name} {sub}`"


def test_docs_links_resolve():
    for page in (REPO / "docs").glob("*.md"):
        for link in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            assert (page.parent / link).exists(), f"{page.name} links to {link}, which does not exist"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _uncommented(line: str) -> str:
    return re.sub(r"\s+#.*$", "", line).strip()


@pytest.fixture
def scratch(tmp_path, tiny_config) -> Path:
    (tmp_path / "docs").symlink_to(REPO / "docs")
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    tiny = tiny_config.model_dump(mode="json", exclude_none=True)
    for section, values in QUICK.items():
        tiny[section].update(values)
    (tmp_path / "tiny.toml").write_text(dump_config(validate_config(tiny)))
    return tmp_path


def test_quickstart_runs_as_written(scratch):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")  # the curl lines are half the quickstart: nothing to check without it
    pytest.importorskip("tritonclient.http")
    port = str(_free_port())
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("VIRTUAL_ENV", None)
    background: list[subprocess.Popen] = []
    outputs: list[tuple[str, str]] = []  # (command, stdout)

    def run(argv: list[str], what: str) -> str:
        done = subprocess.run(argv, cwd=scratch, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
        assert done.returncode == 0, f"{what!r} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        outputs.append((what, done.stdout))
        return done.stdout

    try:
        for language, code in quickstart_blocks(README.read_text(encoding="utf-8")):
            code = code.replace("8000", port)
            if language == "python":
                run([sys.executable, "-c", code], code)
                continue
            for line in code.splitlines():
                command = _uncommented(line)
                if not command:
                    continue
                if command.startswith("rtguard run "):
                    command += " --config tiny.toml"
                if command == "kill %1":
                    assert background, "kill %1 without a background job"
                    stopped = background.pop()
                    stopped.terminate()
                    assert stopped.wait(30) in (0, -15), "the server did not stop on SIGTERM"
                elif command.endswith("&"):
                    log = (scratch / f"background-{len(background)}.log").open("w")
                    background.append(subprocess.Popen(["bash", "-c", "exec " + command[:-1]], cwd=scratch, env=env,
                                                       stdout=log, stderr=subprocess.STDOUT))
                else:
                    run(["bash", "-c", command], command)
    finally:
        for process in background:
            process.kill()
            process.wait()

    by_step = {what.split()[0] + (" " + what.split()[1] if what.startswith("rtguard") else ""): out for what, out in outputs}
    schema = json.loads((scratch / "runs" / "demo" / "schema.json").read_text())
    metadata = json.loads(next(out for what, out in outputs if what.endswith("/v2/models/rtguard")))
    assert [f["name"] for f in metadata["inputs"][0]["parameters"]["features"]] == [f["name"] for f in schema["features"]]
    scored = json.loads(next(out for what, out in outputs if "/score" in what))
    assert set(scored["results"][0]) >= {"class", "scores", "alert"}
    assert "alert:" in next(out for what, out in outputs if "tritonclient" in what)
    verdicts = [json.loads(line) for line in by_step["rtguard score"].splitlines()]
    assert verdicts and all(v["alert"] is True and v["id"].startswith("f") for v in verdicts)
    assert "alerts" in next(out for what, out in outputs if "open_run" in what)
