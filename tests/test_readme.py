"""The README lists every environment variable config/settings.py reads."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_documented_in_the_readme() -> None:
    settings = (ROOT / "config" / "settings.py").read_text()
    readme = (ROOT / "README.md").read_text()
    names = set(re.findall(r'env_(?:str|bool|int|float|list)\(\s*"([A-Z0-9_]+)"', settings))
    assert len(names) > 40
    missing = sorted(name for name in names if f"`{name}`" not in readme)
    assert missing == [], f"README's configuration table lacks {missing}"


def test_readme_shows_the_two_commands_first() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```bash", 1)[1].split("```", 1)[0]
    assert "make run" in first_block and "make test" in first_block
