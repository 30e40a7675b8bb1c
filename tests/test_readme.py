"""The README's promises: two commands first, CI runs exactly the test one, every link and named scenario exists."""

from __future__ import annotations

import re
from pathlib import Path

from ippsim.demo_events import SCENARIOS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_the_first_code_block_is_the_two_commands():
    first_block = re.search(r"```sh\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["bash scripts/demo", "bash scripts/test"]


def test_ci_runs_exactly_the_test_command():
    lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
             if line.strip() and not line.startswith("#") and not line.startswith(("set ", "cd "))]
    assert lines == ["bash scripts/test"]


def test_every_relative_link_exists():
    links = re.findall(r"\]\(((?!https?:)[^)#]+)\)", README)
    assert links, "the README links its docs"
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, missing


def test_every_scenario_the_readme_names_exists():
    named = set(re.findall(r"--scenario ([a-z-]+)", README))
    assert named and named <= set(SCENARIOS), named - set(SCENARIOS)
