"""The space engine's modules depend one way (docs/architecture.md): no module cycle in
rust/core/src/space/, and SIMD code (`#[target_feature]`) only in space/simd.rs."""

from __future__ import annotations

import re
from pathlib import Path

SPACE = Path(__file__).resolve().parents[1] / "rust" / "core" / "src" / "space"
PATH = re.compile(r"\b((?:super::)+|crate::space::)(\w+)")


def _code(path: Path) -> str:
    """A file's code without its tests and comments."""
    text = re.split(r"#\[cfg\(test\)\]\s*(?:pub(?:\(\w+\))?\s+)?mod \w+ \{", path.read_text())[0]
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))


def _module_path(path: Path) -> list[str]:
    parts = list(path.relative_to(SPACE).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "mod" else parts


def dependencies() -> dict[str, set[str]]:
    """Each top-level module of space/ and the top-level modules its code refers to."""
    deps: dict[str, set[str]] = {}
    for path in sorted(SPACE.rglob("*.rs")):
        if path.name == "tests.rs" or path.parent == SPACE and path.name == "mod.rs":
            continue
        module = _module_path(path)
        top = module[0]
        for prefix, name in PATH.findall(_code(path)):
            if prefix == "crate::space::":
                target = [name]
            else:
                up = prefix.count("super::")
                if up > len(module):  # above space/: crate::...
                    continue
                target = module[: len(module) - up] + [name]
            is_module = (SPACE / target[0]).is_dir() or (SPACE / f"{target[0]}.rs").is_file()
            if is_module and target[0] != top:
                deps.setdefault(top, set()).add(target[0])
        deps.setdefault(top, set())
    return deps


def _cycle(deps: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for d in sorted(deps.get(m, ())):
            if state.get(d) == 1:
                return stack[stack.index(d) :] + [d]
            if d not in state and (c := visit(d)):
                return c
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(deps):
        if m not in state and (c := visit(m)):
            return c
    return None


def test_the_dependency_reader_sees_known_edges() -> None:
    deps = dependencies()
    # the engine evaluates compiled programs; the compiler parses expressions
    assert {"compile", "networks"} <= deps["engine"] and "expr" in deps["compile"]
    assert deps["simd"] == set(), deps["simd"]


def test_no_module_cycle_in_space() -> None:
    assert _cycle(dependencies()) is None, f"module cycle in rust/core/src/space: {' -> '.join(_cycle(dependencies()) or [])}"


def test_a_cycle_is_found() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_target_feature_only_in_simd() -> None:
    crate = SPACE.parent
    found = [p.relative_to(crate) for p in crate.rglob("*.rs") if "#[target_feature" in _code(p) and p != SPACE / "simd.rs"]
    assert found == [], f"#[target_feature] outside space/simd.rs: {found}"
