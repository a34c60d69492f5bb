"""docs/configuration.md is generated from rtguard/config.py and must match it."""

from __future__ import annotations

from rtguard import docs
from rtguard.config import RunConfig


def test_committed_configuration_page_is_current():
    assert docs.PAGE.read_text(encoding="utf-8") == docs.render(), (
        "docs/configuration.md is stale: run `python -m rtguard.docs` and commit it")


def test_every_key_is_on_the_page(tmp_path):
    page = docs.render()

    def keys(model, prefix):
        for name, field in model.model_fields.items():
            if docs._is_model(field.annotation):
                assert f"## `[{prefix}{name}]`" in page
                yield from keys(field.annotation, f"{prefix}{name}.")
            else:
                yield name

    names = list(keys(RunConfig, ""))
    assert len(names) > 100 and all(f"| `{name}` |" in page for name in names)
    out = tmp_path / "configuration.md"
    assert docs.main(["--out", str(out)]) == 0 and docs.main(["--check", "--out", str(out)]) == 0
    out.write_text(page + "hand edit\n")
    assert docs.main(["--check", "--out", str(out)]) == 1
