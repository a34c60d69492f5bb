"""The generated pages: docs/configuration.md from rtguard/config.py, the catalog table of docs/variants.md from rtguard/catalog.py."""

from __future__ import annotations

from rtguard import catalog, docs
from rtguard.config import RunConfig


def test_committed_configuration_page_is_current():
    assert docs.PAGE.read_text(encoding="utf-8") == docs.render(), (
        "docs/configuration.md is stale: run `python -m rtguard.docs` and commit it")


def test_committed_catalog_table_is_current():
    page = docs.VARIANTS_PAGE.read_text(encoding="utf-8")
    assert page == docs.with_catalog(page), "docs/variants.md's catalog is stale: run `python -m rtguard.docs` and commit it"
    assert all(f"| `{row.name.replace('|', chr(92) + '|')}` |" in page for row in catalog.ENTRIES)


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
    out, variants = tmp_path / "configuration.md", tmp_path / "variants.md"
    variants.write_text(f"# Variants\n\n{docs.CATALOG_START}\nold table\n{docs.CATALOG_END}\n\nafter\n")
    paths = ["--out", str(out), "--variants", str(variants)]
    assert docs.main(["--check", *paths]) == 1
    assert docs.main(paths) == 0 and docs.main(["--check", *paths]) == 0
    assert "old table" not in variants.read_text() and variants.read_text().endswith("after\n")
    out.write_text(page + "hand edit\n")
    assert docs.main(["--check", *paths]) == 1
