"""Search suggestions for the map's search box: business codes by prefix, addresses and project names by
substring, over every layer the user may see.

Why one statement of small ranked pieces: a suggestion list is asked for at every keystroke, over 200,000
parcels. Each (layer, column) piece is answered by its own index and stops at ``limit`` rows: codes by an
``upper(code) COLLATE "C"`` btree (migration ``layers.0006``), which serves the case-insensitive prefix
``LIKE`` *and* the order (in byte order a code sorts before all its extensions, so an exact match comes
first); addresses by a ``pg_trgm`` GIN index. Python then merges the few candidates: exact matches, then
codes in code order, then addresses. The query text only ever travels as a bound parameter, with LIKE's
wildcards escaped.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from layers.features import QueryError, like_escape
from layers.registry import Layer

KINDS = ("zddm", "bdcdyh", "permit", "contract", "address")
MIN_LENGTH = 2
MAX_LENGTH = 100
MAX_LIMIT = 50
DEFAULT_LIMIT = 10
SEPARATOR = " · "


@dataclass(frozen=True)
class _Piece:
    layer: Layer
    kind: str
    column: str
    detail: str | None  # the column shown after the value in the label

    @property
    def is_code(self) -> bool:
        return self.kind != "address"


def _pieces(layers: list[Layer]) -> list[_Piece]:
    """What can be searched in ``layers``: their lookup columns (codes) and their ``search_text``."""
    pieces = []
    for layer in layers:
        label = layer.style.label.column if layer.style.label else None
        main_code = next(iter(layer.lookups.values()), None)
        for kind, column in layer.lookups.items():
            pieces.append(_Piece(layer, kind, column, label if label != column else None))
        for column in layer.search_text:
            pieces.append(_Piece(layer, "address", column, main_code))
    return pieces


def parse_query(q: str | None, limit: str | None) -> tuple[str, int]:
    """The validated search text and limit (``QueryError`` naming ``q`` or ``limit``)."""
    text = (q or "").strip()
    if len(text) < MIN_LENGTH:
        raise QueryError("q", f"the search text needs at least {MIN_LENGTH} characters")
    if len(text) > MAX_LENGTH:
        raise QueryError("q", f"the search text is limited to {MAX_LENGTH} characters")
    try:
        count = DEFAULT_LIMIT if limit in (None, "") else int(limit)
    except ValueError as exc:
        raise QueryError("limit", "not an integer") from exc
    if not 1 <= count <= MAX_LIMIT:
        raise QueryError("limit", f"must be between 1 and {MAX_LIMIT}")
    return text, count


def _piece_sql(piece: _Piece, index: int, cased: bool) -> str:
    """One piece's candidates; parameters: the text (exact match), the LIKE pattern, the limit. ``cased``:
    the text has letters with a case; without them (Chinese, digits) a plain LIKE finds the same rows
    at half the cost of ILIKE where a query too short for trigrams must read every row."""
    column = f"src.{piece.column}"
    detail = f"src.{piece.detail}::text" if piece.detail else "NULL::text"
    if piece.is_code:
        key = f'upper({column}) COLLATE "C"'
        match, exact, order = f"{key} LIKE upper(%s)", f"{key} = upper(%s)", f"{key}, src.id"
    else:
        exact = f"lower({column}) = lower(%s)" if cased else f"{column} = %s"
        match = f"{column} {'ILIKE' if cased else 'LIKE'} %s"
        order = f"{exact} DESC, length({column}), src.id"
    return (
        f"(SELECT {index} AS piece, src.id, {column}::text AS value, {detail} AS detail, {exact} AS exact, "
        "ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) "
        f"FROM {piece.layer.relation()} CROSS JOIN LATERAL Box2D(src.geom) AS b "
        f"WHERE {match} ORDER BY {order} LIMIT %s)"
    )


def search(q: str, layers: list[Layer], limit: int = DEFAULT_LIMIT) -> list[dict]:
    """Suggestions for ``q`` in ``layers`` (those the user may see): at most ``limit``, exact matches
    first, then codes by prefix in code order, then addresses and project names containing ``q``."""
    pieces = _pieces(layers)
    if not pieces:
        return []
    escaped = like_escape(q)
    cased = q.lower() != q or q.upper() != q
    parts, params = [], []
    for index, piece in enumerate(pieces):
        parts.append(_piece_sql(piece, index, cased))
        if piece.is_code:
            params += [q, escaped + "%", limit]
        else:
            params += [q, "%" + escaped + "%", q, limit]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        rows = cursor.fetchall()

    def rank(row) -> tuple:
        index, pk, value, _detail, exact = row[:5]
        if pieces[index].is_code:  # code order (as the index sorts), then the kind and layer order
            return (not exact, 0, 0, value.upper(), index, pk)
        return (not exact, 1, len(value), value, index, pk)  # the shortest (most specific) names first

    results, seen = [], set()
    for index, pk, value, detail, _exact, *box in sorted(rows, key=rank):
        piece = pieces[index]
        if (piece.layer.name, pk) in seen or box[0] is None:  # a record found twice (ZDDM and BDCDYH):
            continue  # once, ranked best; one without a geometry is no place to go to
        seen.add((piece.layer.name, pk))
        if len(results) == limit:
            break
        results.append(
            {
                "kind": piece.kind,
                "layer": piece.layer.name,
                "title_zh": piece.layer.title_zh,
                "title_en": piece.layer.title_en,
                "id": pk,
                "value": value,
                "label": f"{value}{SEPARATOR}{detail}" if detail else value,
                "bbox": box,
            }
        )
    return results
