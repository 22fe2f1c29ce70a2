"""What a rule is: metadata (titles, class, severity, parameters), what it reads, and one set-based query.

A rule's ``sql`` is a single SELECT over the unified tables that returns one row per finding with

* ``refs text[]`` – the rows involved, as ``'<target>:<id>'`` (the engine turns them into business keys and
  row versions; ids never leave the run),
* ``geom`` – the problem geometry in EPSG:4490 (the overlap, the outside part …),
* ``vals jsonb`` – the values compared, so a decision can be replayed.

``IN_SCOPE(alias)`` in the SQL is replaced by ``TRUE`` for a full run and by a test against the run's scope
table for an incremental one; ``alias`` must be a row of the rule's ``subject`` table. Parameters are passed
as ``%(name)s``. Areas and distances are planar in the feature's own CGCS2000 3° Gauss-Krüger zone
(``gk(geom)``, see :mod:`checks.sqlfunc`), never in degrees.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BUSINESS = "业务类"
GENERIC = "通用类"

# unified tables by target name (the names of etl.models.ChangedKey.target)
TABLES = {
    "parcel": "layers_parcel",
    "building": "layers_building",
    "permit": "layers_planningpermit",
    "landsupply": "layers_landsupply",
}
# the natural key of each target, as SQL over alias ``t`` (the same text as ChangedKey.key)
KEY_SQL = {
    "parcel": "t.zddm",
    "building": "t.bdcdyh || '/' || t.zrzh",
    "permit": "t.permit_no",
    "landsupply": "t.contract_no",
}
TARGET_TITLES = {
    "parcel": ("宗地", "parcel"),
    "building": ("自然幢", "building"),
    "permit": ("规划许可", "planning permit"),
    "landsupply": ("土地供应", "land supply"),
}


@dataclass(frozen=True)
class Param:
    default: float
    unit: str
    zh: str
    en: str


@dataclass(frozen=True)
class Rule:
    code: str
    rule_class: str  # BUSINESS | GENERIC
    version: str  # "major.minor": the major is part of every finding's fingerprint
    title_zh: str
    title_en: str
    explanation_zh: str
    explanation_en: str
    severity: str  # high | medium | low
    subject: str  # the target a finding is about (what incremental runs scope by)
    reads: dict[str, tuple[str, ...]]  # target -> columns read: the rule's dependencies
    material: dict[str, tuple[str, ...]]  # target -> columns whose change re-opens a 误报 (exception)
    sql: str
    params: dict[str, Param] = field(default_factory=dict)
    # targets whose changed rows dirty the subjects they touch (old and new geometry)
    spatial: tuple[str, ...] = ()
    # (target, its column, subject column): a changed row dirties the subjects whose column equals its value
    key_links: tuple[tuple[str, str, str], ...] = ()
    uses: tuple[str, ...] = ()  # shared relations (checks.relations) the SQL reads
    reads_counties: bool = False  # reads the county polygons (a change there needs a full run)
    manifest_kind: str = ""  # the demo manifest's defect kind this rule must find (tests)

    @property
    def major(self) -> str:
        return self.version.split(".")[0]

    def defaults(self) -> dict[str, float]:
        return {name: p.default for name, p in self.params.items()}

    def describe(self) -> dict:
        """The catalogue entry as data (API, docs, exports)."""
        return {
            "code": self.code,
            "class": self.rule_class,
            "version": self.version,
            "title_zh": self.title_zh,
            "title_en": self.title_en,
            "explanation_zh": self.explanation_zh,
            "explanation_en": self.explanation_en,
            "severity": self.severity,
            "subject": self.subject,
            "reads": {t: list(f) for t, f in self.reads.items()},
            "material": {t: list(f) for t, f in self.material.items()},
            "params": {
                n: {"default": p.default, "unit": p.unit, "zh": p.zh, "en": p.en}
                for n, p in self.params.items()
            },
        }
