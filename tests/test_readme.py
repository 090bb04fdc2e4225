import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_documents_every_environment_variable():
    code = "\n".join(p.read_text() for d in ("heygem_site", "accounts", "jobs") for p in (ROOT / d).rglob("*.py"))
    names = set(re.findall(r'env_(?:str|bool|int|list|choice|networks)\("([A-Z0-9_]+)"', code))
    names |= set(re.findall(r'environ\.get\("([A-Z0-9_]+)"', code))
    assert len(names) > 20
    readme = (ROOT / "README.md").read_text()
    assert sorted(n for n in names if f"`{n}`" not in readme) == []


def test_the_readme_starts_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```sh", 1)[1].split("```", 1)[0]
    assert "make run" in first_block and "make test" in first_block
