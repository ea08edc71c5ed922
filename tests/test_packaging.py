"""What the repository claims about itself holds: license, minimum Home Assistant, quality scale."""

from __future__ import annotations

import json
from pathlib import Path
import re

import yaml

ROOT = Path(__file__).parent.parent
INTEGRATION = ROOT / "custom_components" / "influxdb_ingest"


def _tested_home_assistant() -> str:
    pins = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    match = re.search(r"^homeassistant==(\S+)$", pins, re.MULTILINE)
    assert match
    return match.group(1)


def test_the_minimum_home_assistant_claimed_is_the_one_the_suite_runs_on() -> None:
    tested = _tested_home_assistant()
    assert json.loads((ROOT / "hacs.json").read_text(encoding="utf-8"))["homeassistant"] == tested
    assert f"Requires Home Assistant {tested} or newer" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_repository_carries_home_assistants_license() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "END OF TERMS AND CONDITIONS" in text


def test_the_quality_scale_names_every_bronze_docs_rule() -> None:
    rules = yaml.safe_load((INTEGRATION / "quality_scale.yaml").read_text(encoding="utf-8"))["rules"]
    for rule in ("docs-conditions", "docs-triggers"):
        assert rules[rule]["status"] == "exempt"
        assert rules[rule]["comment"]


def test_the_readme_has_the_sections_the_docs_rules_ask_for_and_no_stale_claim() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^## (.+)$", readme, re.MULTILINE))
    assert {"Known limitations", "Use cases", "Examples"} <= headings
    assert "not part of this version yet" not in readme
