"""The browser libraries are served by the app (intranet-only networks): every package listed for vendoring
is present with its recorded npm integrity, and no template or script of ours loads anything from another
host."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "frontend" / "static" / "vendor"


def _listed() -> list[tuple[str, list[str]]]:
    out = []
    for line in (ROOT / "frontend" / "vendor" / "packages.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            spec, *files = line.split()
            out.append((spec, files))
    return out


def test_every_listed_package_is_vendored_with_its_integrity():
    recorded = {}
    for line in (ROOT / "frontend" / "vendor" / "VENDORED.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            spec, integrity = line.split()
            recorded[spec] = integrity
    listed = _listed()
    assert listed, "packages.txt lists nothing"
    for spec, files in listed:
        assert recorded.get(spec, "").startswith("sha512-"), f"{spec}: run scripts/vendor_js.sh"
        name = spec.rsplit("@", 1)[0]
        for f in files:
            path = VENDOR / name / Path(f).name
            assert path.is_file() and path.stat().st_size > 0, f"{path} missing: run scripts/vendor_js.sh"


def test_no_template_or_script_loads_from_another_host():
    remote = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.I)
    offenders = []
    for app in ("frontend", "etl", "checks", "layers", "tiles", "accounts", "analysis"):
        for path in (ROOT / app).rglob("*"):
            if path.suffix in {".html", ".js", ".css"} and "vendor" not in path.parts and path.is_file():
                text = path.read_text(encoding="utf-8", errors="replace")
                offenders += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in remote.finditer(text)]
    assert offenders == []


def test_every_source_map_a_vendored_file_names_is_vendored_too():
    """collectstatic's manifest storage follows ``sourceMappingURL`` comments and fails on a missing map
    (a fresh machine's setup stopped there once)."""
    missing = []
    for path in VENDOR.rglob("*"):
        if path.suffix in {".js", ".css"} and path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            for m in re.finditer(r"sourceMappingURL=([^\s*]+)", text):
                if not m.group(1).startswith("data:") and not (path.parent / m.group(1)).is_file():
                    missing.append(f"{path.relative_to(ROOT)} -> {m.group(1)}")
    assert missing == []
