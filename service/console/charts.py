"""Console pages for the programme's impact (charts) and the good-practice catalogue.

Data only through `projections.queries` (the same reads as GET /api/v1/stats/impact and
GET /api/v1/good-practices), query strings checked by the API's own schemas. Charts are
server-drawn SVG (no script, no inline style: the CSP allows neither), each with a table of
the same numbers for screen readers and for browsers that do not show SVG.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import EXCLUDE

from domain.errors import InvalidFields
from domain.values import COUNTRIES, THEMES
from projections import queries
from service.api.schemas import GoodPracticeQuerySchema, ImpactQuerySchema
from service.console import (
    LEVELS,
    STATES,
    bp,
    country_name,
    forms,
    label,
    need_login,
    theme_name,
)
from service.context import reader
from service.infrastructure.runtime import runtime

CATALOGUE_PAGE = 12
MAX_YEARS = 15
MAX_ROWS = 20  # bars in one chart; the table always has every row

# Drawing units of the SVG viewBox (the figure scales to the width of the screen).
WIDTH = 360
LABEL_HEIGHT = 18
BAR_HEIGHT = 16
BAR_GAP = 3
ROW_GAP = 10
VALUE_ROOM = 48  # right of the longest bar, for its number

NATIONAL_INDICATORS = {
    "initiatives": _l("National initiatives that reached approval"),
    "local_authority_civil_society": _l(
        "National initiatives joining a local authority and civil society"
    ),
    "association_civil_society": _l(
        "National initiatives joining a national association and civil society"
    ),
    "participants": _l("Participants in national initiatives"),
}
EUROPEAN_INDICATORS = {
    "international": _l("European initiatives that reached approval"),
    "civil_society_networking": _l(
        "European initiatives networking civil society of two countries or more"
    ),
    "participants": _l("Participants in European initiatives"),
}


# ------------------------------------------------------------------ drawing
@dataclass
class Chart:
    """A horizontal bar chart, drawn to the viewBox: one row per category, one bar per
    series; `rows` keep every number for the table."""

    key: str
    caption: str
    series: list[str]
    rows: list[tuple[str, list[int]]]
    note: str = ""
    highlight: str | None = None
    rows_heading: str = ""
    bars: list[dict[str, Any]] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)
    values: list[dict[str, Any]] = field(default_factory=list)
    height: int = 0
    width: int = WIDTH

    @property
    def empty(self) -> bool:
        return not self.rows

    @property
    def description(self) -> str:
        """The chart in words, for the svg's aria-label."""
        parts = []
        for name, values in self.rows[:MAX_ROWS]:
            numbers = ", ".join(
                f"{series} {value}" if len(self.series) > 1 else str(value)
                for series, value in zip(self.series, values, strict=True)
            )
            parts.append(f"{name}: {numbers}")
        return f"{self.caption}. " + "; ".join(parts)


def bar_chart(
    key: str,
    caption: str,
    rows: Iterable[tuple[str, Sequence[int]]],
    series: Sequence[str],
    rows_heading: str = "",
    note: str = "",
    highlight: str | None = None,
) -> Chart:
    chart = Chart(
        key,
        caption,
        [str(s) for s in series],
        [(str(name), [int(v) for v in values]) for name, values in rows],
        note=note,
        highlight=highlight,
        rows_heading=rows_heading,
    )
    shown = chart.rows[:MAX_ROWS]
    if len(chart.rows) > MAX_ROWS and not note:
        chart.note = _(
            "The chart shows the first %(count)d; the table has them all.", count=MAX_ROWS
        )
    top = max((v for _, values in shown for v in values), default=0) or 1
    room = WIDTH - VALUE_ROOM
    y = 0
    for name, values in shown:
        chart.labels.append({"x": 0, "y": y + LABEL_HEIGHT - 5, "text": name})
        y += LABEL_HEIGHT
        for index, value in enumerate(values):
            length = round(room * value / top, 1)
            classes = ["bar", f"series-{index}"]
            if highlight is not None and name == highlight:
                classes.append("highlight")
            if value:
                chart.bars.append(
                    {
                        "x": 0,
                        "y": y,
                        "width": max(length, 1.5),
                        "height": BAR_HEIGHT,
                        "class": " ".join(classes),
                    }
                )
            chart.values.append(
                {
                    "x": (max(length, 1.5) if value else 0) + 5,
                    "y": y + BAR_HEIGHT - 2,
                    "text": value,
                }
            )
            y += BAR_HEIGHT + BAR_GAP
        y += ROW_GAP
    chart.height = max(y, 1)
    return chart


# ------------------------------------------------------------------ impact
def query_of(schema_class: type, names: Sequence[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The filled-in filters of the query string, loaded by the API's schema (which ignores
    unknown parameters, like the API does for its query strings)."""
    raw = {
        name: request.args[name].strip()
        for name in names
        if name in request.args and request.args[name].strip()
    }
    if "country" in raw:
        raw["country"] = raw["country"].upper()
    return forms.load(schema_class(unknown=EXCLUDE), raw), raw


def reached_approval(stats: dict[str, Any]) -> int:
    return int(stats["national"]["initiatives"]) + int(stats["european"]["international"])


def impact_charts(
    stats: dict[str, Any], yearly: list[tuple[int, dict[str, Any]]], year: int | None
) -> list[Chart]:
    national, european = stats["national"], stats["european"]
    level_names = [label(LEVELS, "national"), label(LEVELS, "european")]
    by_theme = sorted(stats["by_theme"].items(), key=lambda kv: (-kv[1], theme_name(kv[0])))
    by_country = sorted(stats["by_country"].items(), key=lambda kv: (-kv[1], country_name(kv[0])))
    order = list(STATES)
    by_state = sorted(
        stats["by_state"].items(),
        key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0]),
    )
    one = [_("Initiatives")]
    return [
        bar_chart(
            "level",
            _("Initiatives that reached approval, by level"),
            zip(level_names, [[national["initiatives"]], [european["international"]]], strict=True),
            one,
            rows_heading=_("Level"),
        ),
        bar_chart(
            "participants",
            _("Participants reported, by level"),
            zip(level_names, [[national["participants"]], [european["participants"]]], strict=True),
            [_("Participants")],
            rows_heading=_("Level"),
        ),
        bar_chart(
            "year",
            _("Initiatives by year"),
            [(str(y), [sum(s["by_state"].values()), reached_approval(s)]) for y, s in yearly],
            [_("Proposed or approved that year"), _("Approved that year")],
            note=_("Each year's counts follow the theme and country chosen, not the year."),
            highlight=str(year) if year is not None else None,
            rows_heading=_("Year"),
        ),
        bar_chart(
            "state",
            _("Initiatives by state"),
            [(label(STATES, state), [n]) for state, n in by_state],
            one,
            rows_heading=_("State"),
        ),
        bar_chart(
            "theme",
            _("Initiatives by theme"),
            [(theme_name(theme), [n]) for theme, n in by_theme],
            one,
            rows_heading=_("Theme"),
        ),
        bar_chart(
            "country",
            _("Initiatives by country"),
            [(country_name(code), [n]) for code, n in by_country],
            one,
            rows_heading=_("Country"),
        ),
    ]


@bp.get("/impact")
def impact() -> Any:
    need_login()
    errors: dict[str, list[str]] = {}
    filters: dict[str, Any] = {}
    try:
        query, filters = query_of(ImpactQuerySchema, ("year", "country", "theme"))
    except InvalidFields as invalid:
        errors = forms.field_errors(invalid.errors)
        filters = {k: v for k, v in request.args.items() if k in ("year", "country", "theme")}
        query = {}
    stats: dict[str, Any] | None = None
    charts: list[Chart] = []
    if not errors:
        this_year = runtime().now().year
        conn = reader()
        stats = queries.impact(conn, **query)
        start = queries.first_year(conn) or this_year
        start = max(min(start, this_year), this_year - MAX_YEARS + 1)
        across = {k: v for k, v in query.items() if k != "year"}
        yearly = [(y, queries.impact(conn, year=y, **across)) for y in range(start, this_year + 1)]
        charts = impact_charts(stats, yearly, query.get("year"))
    return render_template(
        "console/impact.html",
        stats=stats,
        charts=charts,
        filters=filters,
        errors=errors,
        national_indicators=NATIONAL_INDICATORS,
        european_indicators=EUROPEAN_INDICATORS,
        themes=sorted(THEMES, key=theme_name),
        countries=sorted(COUNTRIES, key=country_name),
    ), (422 if errors else 200)


# ------------------------------------------------------------------ good practices
@bp.get("/good-practices")
def good_practices() -> Any:
    """The catalogue: public, like GET /api/v1/good-practices."""
    errors: dict[str, list[str]] = {}
    filters: dict[str, Any] = {}
    page = queries.Page([], None)
    try:
        request_args = ("theme", "country", "cursor")
        query, filters = query_of(GoodPracticeQuerySchema, request_args)
        query["limit"] = CATALOGUE_PAGE
        page = queries.good_practices(reader(), **query)
    except InvalidFields as invalid:
        errors = forms.field_errors(invalid.errors)
        filters = {k: v for k, v in request.args.items() if k in ("theme", "country")}
    except queries.BadCursor:
        errors = {"cursor": [_("This page link is no longer valid; start again.")]}
    filters.pop("cursor", None)
    return render_template(
        "console/good_practices.html",
        items=page.as_dict()["items"],
        next_cursor=page.next_cursor,
        first_page=bool(request.args.get("cursor")),
        filters=filters,
        errors=errors,
        themes=sorted(THEMES, key=theme_name),
        countries=sorted(COUNTRIES, key=country_name),
    ), (422 if errors else 200)
