"""Every pipeline stage lists, as DVC dependencies, the project modules its command runs, so that
editing one (a config default, a seeding helper) reruns the stages it can change."""

import ast
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

# Modules that cannot change a stage's outputs: console output, error types, MLflow logging.
NO_OUTPUT_EFFECT = {"src/ui.py", "src/errors.py", "src/tracking.py", "src/cli.py"}
# Modules a stage imports but never runs: `runs` (stage distill) holds DataDAM runs only (config
# rejects PAD there), and the shared CLI imports each method's modules inside that method's branch
# alone, so tuning PAD does not rerun the DataDAM distillations, nor DataDAM the PAD ones.
NOT_RUN = {"distill": {"src.distill.pad", "src.distill.experts"}, "distill-pad": {"src.distill.datadam"}}


def module_file(name: str) -> Path | None:
    path = REPO / Path(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_files(entry: str, skip: frozenset[str] = frozenset()) -> set[str]:
    """Project files reached from module `entry` through its imports (module-level and inside
    functions), not following the modules named in `skip`."""
    todo = [f for f in (module_file(entry), module_file(entry + ".__main__")) if f is not None]
    seen: set[str] = set()
    while todo:
        f = todo.pop()
        rel = f.relative_to(REPO).as_posix()
        if rel in seen:
            continue
        seen.add(rel)
        parts = f.relative_to(REPO).with_suffix("").parts
        for node in ast.walk(ast.parse(f.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative import
                    pkg = parts[: len(parts) - node.level]
                    base = ".".join(pkg + ((base,) if base else ()))
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            for name in names:
                if name.split(".")[0] == "src" and name not in skip and (g := module_file(name)) is not None:
                    todo.append(g)
                    for i in range(2, name.count(".") + 2):  # parent packages' __init__ run too
                        if (pkg := module_file(".".join(name.split(".")[:i]))) is not None:
                            todo.append(pkg)
    return seen


def stages() -> list[tuple[str, str, list[str]]]:
    out = []
    for name, stage in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"].items():
        body = stage.get("do", stage)
        words = body["cmd"].split()
        assert words[:2] == ["python", "-m"], f"{name}: expected `python -m src....`"
        deps = [d for d in body.get("deps", []) if isinstance(d, str) and d.startswith("src")]
        out.append((name, words[2], deps))
    return out


def trivial_init(rel: str) -> bool:
    """A package marker holding only a docstring and constants (src/__init__'s version) changes no output."""
    tree = ast.parse((REPO / rel).read_text())
    return rel.endswith("__init__.py") and all(
        isinstance(n, ast.Expr) or (isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)) for n in tree.body)


@pytest.mark.parametrize("name, entry, deps", stages(), ids=[s[0] for s in stages()])
def test_stage_lists_the_modules_it_runs(name, entry, deps):
    def covered(rel):
        return any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in deps)

    missing = sorted(f for f in imported_files(entry, frozenset(NOT_RUN.get(name, ())))
                     if not covered(f) and f not in NO_OUTPUT_EFFECT and not trivial_init(f))
    assert not missing, f"dvc.yaml stage {name}: deps omit {missing}"
