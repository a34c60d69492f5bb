"""report.json, report.md, report.html and plots/ of a real (tiny) run."""

import base64
import copy
import json
import re

from rtguard.report.plots import draw_plots

EXISTING_KEYS = {"run", "created", "dataset", "machine", "versions", "training", "variants", "findings"}


def test_report_json_keeps_its_keys_and_adds_the_selection(tiny_run):
    folder, _ = tiny_run
    report = json.loads((folder / "report.json").read_text())
    assert EXISTING_KEYS | {"selection", "plots"} <= report.keys()
    assert report["run"] == "tiny"
    assert report["selection"] == json.loads((folder / "selection.json").read_text())
    for variant in report["variants"]:
        metrics = variant["metrics"]
        assert set(metrics["throughput_by_batch"]) == {"1", "16", "64", "256", "1024"}  # the sweep and the configured 64
        assert metrics["throughput_per_s"] == metrics["throughput_by_batch"]["64"]
        assert metrics["train_seconds"] >= report["training"]["wall_time_s"]
        assert (variant["artifact"] is None) == (variant["name"] == "torch-fp32")


def test_html_is_self_contained(tiny_run):
    folder, report = tiny_run
    page = (folder / "report.html").read_text()
    links = re.findall(r"""\b(?:src|href)\s*=\s*["']?([^"'\s>]*)""", page, flags=re.IGNORECASE)
    assert len(links) == len(report["plots"]) == 8
    for link in links:
        assert link.startswith("data:image/png;base64,")
        assert base64.b64decode(link.removeprefix("data:image/png;base64,")).startswith(b"\x89PNG\r\n\x1a\n")
    for outside in ("http://", "https://", "<link", "<script", "@import", "url("):
        assert outside not in page.lower()


def test_markdown_opens_with_the_verdict_and_links_existing_plots(tiny_run):
    folder, report = tiny_run
    blocks = (folder / "report.md").read_text().split("\n\n")
    assert blocks[0] == "# rtguard report: tiny"
    assert blocks[1] == f"**{report['selection']['verdict']}**"
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", "\n\n".join(blocks))
    assert linked == [plot["file"] for plot in report["plots"]]
    assert all((folder / path).is_file() for path in linked)


def test_every_finding_carries_a_number(tiny_run):
    _, report = tiny_run
    assert all(re.search(r"\d", note) for note in report["findings"])


def test_security_plots_draw_the_measured_curves_and_say_when_there_are_none(tiny_run, tmp_path):
    _, report = tiny_run
    captions = _captions(report)
    assert all("did not measure" not in captions[name] for name in ("evasion_pgd", "evasion_hopskipjump", "noise_accuracy"))
    report = copy.deepcopy(report)
    for variant in report["variants"]:
        for key in ("evasion_rate", "noise_accuracy"):
            variant["metrics"].pop(key)
    plots = draw_plots(report, tmp_path / "plots")
    assert "did not measure evasion rate under pgd" in _captions(report, plots)["evasion_pgd"]
    assert "did not measure accuracy under noise" in _captions(report, plots)["noise_accuracy"]
    assert all((tmp_path / plot["file"]).stat().st_size > 5000 for plot in plots)


def test_markdown_sets_robustness_beside_speed_with_its_sample_sizes(tiny_run):
    folder, report = tiny_run
    section = (folder / "report.md").read_text().split("## Robustness vs speed\n\n")[1].split("\n## ")[0]
    table, notes = section.split("\n\n")[:2]
    rows = table.splitlines()[2:]
    assert [row.split(" | ")[0].removeprefix("| ") for row in rows] == [v["name"] for v in report["variants"]]
    assert "worst evasion Δ vs torch-fp32" in table and "membership AUC" in table
    flows = report["variants"][0]["metrics"]["robustness"]["samples"]["fgsm"]["flows"]
    assert f"{flows} selection-split attack flows" in notes and "HopSkipJump: the first 6" in notes and "queries per flow" in notes


def _captions(report, plots=None):
    return {plot["file"].split("/")[-1].removesuffix(".png"): plot["caption"] for plot in plots or report["plots"]}
