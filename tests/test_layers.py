"""The apps are layered: `backlog` (ground floor) < `flow` < `events`, `integration`. A lower app never
names an upper one: not by import, URL name, template path or module string. `nexus_site.api` (the
REST API kit) is as low as `backlog`. Upper apps add what they bring through `nexus_site.extensions`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UPPER = {
    "backlog": ("flow", "events", "integration"),
    "nexus_site/api": ("flow", "events", "integration"),
    "flow": ("events", "integration"),
}
TEMPLATES = {"backlog": ("flow", "events", "integration"), "flow": ("events", "integration")}


def _naming(names: tuple[str, ...]) -> re.Pattern[str]:
    alt = "|".join(names)
    return re.compile(
        rf"^\s*(from|import)\s+({alt})\b"  # an import
        rf"|['\"]({alt}):[\w-]+['\"]"  # a URL name
        rf"|['\"]({alt})/[\w./-]+\.html"  # a template path
        rf"|['\"]({alt})\.\w+"  # a module string ("flow.bench")
        rf"|['\"]/n/[^'\"]*/({alt}|board|ready-buffer)/",  # a page path of theirs
        re.MULTILINE,
    )


def _hits(folder: Path, pattern: re.Pattern[str], glob: str) -> list[str]:
    hits = []
    for path in sorted(folder.rglob(glob)):
        if "migrations" in path.parts:
            continue
        text = path.read_text()
        for m in pattern.finditer(text):
            line = text[: m.start()].count("\n") + 1
            hits.append(f"{path.relative_to(folder)}:{line}: {m.group(0).strip()}")
    return hits


@pytest.mark.parametrize("app", sorted(UPPER))
def test_a_lower_app_names_no_upper_one_in_code(app):
    assert _hits(ROOT / app, _naming(UPPER[app]), "*.py") == []


@pytest.mark.parametrize("app", sorted(TEMPLATES))
def test_a_lower_app_names_no_upper_one_in_templates(app):
    names = TEMPLATES[app]
    alt = "|".join(names)
    pattern = re.compile(rf"\{{%\s*url\s+['\"]({alt}):|\{{%\s*(include|extends)\s+['\"]({alt})/")
    assert _hits(ROOT / "templates" / app, pattern, "*.html") == []


def test_base_template_names_no_app_page_but_the_registered_ones():
    base = (ROOT / "templates" / "base.html").read_text()
    assert not re.search(r"\{%\s*url\s+['\"](flow|events|integration):", base)


def test_the_check_finds_a_naming_it_is_meant_to_refuse(tmp_path):
    """The patterns are live: each kind of naming is caught."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from flow.selectors import x\n"
        "import events\n"
        "reverse('flow:board')\n"
        "get_template('events/board.html')\n"
        "importlib.import_module('flow.bench')\n"
        "client.get(f'/n/{slug}/board/')\n"
    )
    assert len(_hits(tmp_path, _naming(("flow", "events", "integration")), "*.py")) == 6
