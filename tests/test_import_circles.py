"""No import circle inside the jobs app: the code that changes state, the code that sends work and the
code that does it each import downwards only. Imports inside functions count too: they hide a circle,
they do not remove it."""

import ast
from pathlib import Path

JOBS = Path(__file__).resolve().parent.parent / "jobs"


def module_name(path, root):
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path, known):
    """The jobs modules `path` imports anywhere in its body, from `import x` and `from x import y` alike."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from jobs import services` imports jobs.services; `from jobs.models import Job` imports jobs.models.
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in known}
    return found


def import_graph(root=JOBS):
    paths = [p for p in root.rglob("*.py") if "migrations" not in p.parts]
    known = {module_name(p, root) for p in paths}
    return {module_name(p, root): imports_of(p, known) - {module_name(p, root), "jobs"} for p in paths}


def find_cycle(graph):
    """One import circle as a list of modules (first == last), or None."""
    state = {}

    def visit(module, stack):
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target, stack)):
                return cycle
        stack.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module, [])):
            return cycle
    return None


def test_the_jobs_app_has_no_import_circle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_check_finds_a_circle_through_a_function_level_import(tmp_path):
    package = tmp_path / "jobs"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "services.py").write_text("from jobs.models import Job\n\ndef send():\n    from jobs import tasks\n")
    (package / "tasks.py").write_text("import jobs.housekeeping\n")
    (package / "housekeeping.py").write_text("from jobs.services import send\n")
    (package / "models.py").write_text("")
    assert find_cycle(import_graph(package)) == ["jobs.housekeeping", "jobs.services", "jobs.tasks",
                                                 "jobs.housekeeping"]


def test_nothing_in_the_app_imports_the_actors():
    importers = sorted(module for module, targets in import_graph().items() if "jobs.tasks" in targets)
    assert importers == []
