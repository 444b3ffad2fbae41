"""The console's impact charts and good-practice catalogue: the same numbers as the API."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from domain.values import THEMES
from tests.conftest import a_report
from tests.service.conftest import Browser, Client, World, browser, ok


def path_of(body: dict[str, Any]) -> str:
    return f"/api/v1/initiatives/{body['id']}"


def good_practice(
    world: World, lead: Client, partner: Client, reviewers: list[Client], **fields: Any
) -> dict[str, Any]:
    """An initiative driven through the API from proposal to recognised good practice."""
    body = world.in_co_design(lead, partner, **fields)
    body = ok(lead.post(f"{path_of(body)}/submit", version=body["version"]))
    for reviewer in reviewers[: len(body["approval"]["steps"])]:
        body = ok(
            reviewer.post(
                f"{path_of(body)}/reviews",
                {"decision": "approve", "rationale": "Sound plan."},
                version=body["version"],
            )
        )
    assert body["state"] == "approved"
    body = ok(lead.post(f"{path_of(body)}/follow-up", version=body["version"]))
    report = a_report()
    body = ok(partner.post(f"{path_of(body)}/reports", report, version=body["version"]), 201)
    body = ok(
        lead.post(
            f"{path_of(body)}/complete", {"outcomes": {"en": "A map."}}, version=body["version"]
        )
    )
    return ok(
        reviewers[0].post(
            f"{path_of(body)}/good-practice", {"rationale": "Replicable."}, version=body["version"]
        )
    )


class Figures(HTMLParser):
    """The numbers a page shows: the tables of each chart (by figure id), the indicators
    (by data-indicator), the svgs' attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, list[str]]] = {}
        self.indicators: dict[str, str] = {}
        self.svgs: list[dict[str, str | None]] = []
        self.headings: list[int] = []
        self._figure: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_body = False
        self._indicator: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "figure":
            self._figure = str(found.get("id", ""))
            self.tables[self._figure] = {}
        elif tag == "svg":
            self.svgs.append(found)
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self._row = []
        elif tag in ("th", "td") and self._row is not None:
            self._cell = []
        elif tag == "dd" and found.get("data-indicator"):
            self._indicator = str(found["data-indicator"])
            self.indicators[self._indicator] = ""
        elif re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._figure:
                self.tables[self._figure][self._row[0]] = self._row[1:]
            self._row = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "figure":
            self._figure = None
        elif tag == "dd":
            self._indicator = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._indicator is not None:
            self.indicators[self._indicator] += data.strip()


def figures(html: str) -> Figures:
    parser = Figures()
    parser.feed(html)
    return parser


def numbers(table: dict[str, list[str]]) -> dict[str, list[int]]:
    return {name: [int(v) for v in values] for name, values in table.items()}


def setting(world: World) -> dict[str, Any]:
    lead = world.partner(country="IT")
    partner = world.partner(country="RS", type_="civil_society")
    reviewers = [world.reviewer(country="FR"), world.reviewer(country="DE")]
    recognised = good_practice(
        world,
        lead,
        partner,
        reviewers,
        title={"en": "Heritage youth exchange"},
        themes=["youth", "culture_heritage"],
        level="european",
        countries=["IT", "RS"],
    )
    proposed = world.propose(
        lead, title={"en": "Riverside clean-up"}, themes=["environment"], countries=["AT"]
    )
    world.project()
    return {"lead": lead, "recognised": recognised, "proposed": proposed}


def assert_same_as_api(page: Figures, stats: dict[str, Any]) -> None:
    for level in ("national", "european"):
        for key, value in stats[level].items():
            assert page.indicators[f"{level}.{key}"] == str(value), (level, key)
    themes = numbers(page.tables["chart-theme"])
    assert themes == {THEMES[t]["en"]: [n] for t, n in stats["by_theme"].items()}
    states = numbers(page.tables["chart-state"])
    assert sorted(n for [n] in states.values()) == sorted(stats["by_state"].values())
    countries = numbers(page.tables["chart-country"])
    assert sorted(n for [n] in countries.values()) == sorted(stats["by_country"].values())
    assert numbers(page.tables["chart-level"]) == {
        "National": [stats["national"]["initiatives"]],
        "European": [stats["european"]["international"]],
    }
    assert numbers(page.tables["chart-participants"]) == {
        "National": [stats["national"]["participants"]],
        "European": [stats["european"]["participants"]],
    }


def test_the_impact_page_shows_the_figures_of_the_api(world: World) -> None:
    made = setting(world)
    lead = made["lead"]
    stats = ok(lead.get("/api/v1/stats/impact"))
    assert stats["european"]["international"] == 1  # the setting is what the test thinks

    response = browser(world, lead).get("/console/impact")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for theme in ("youth", "culture_heritage", "environment"):
        assert THEMES[theme]["en"] in html
    page = figures(html)
    assert_same_as_api(page, stats)
    assert page.tables["chart-country"].keys() >= {"Italy", "Serbia", "Austria"}

    this_year = datetime.now(UTC).year
    in_year = ok(lead.get("/api/v1/stats/impact", query_string={"year": this_year}))
    years = numbers(page.tables["chart-year"])
    assert str(this_year) in years
    assert years[str(this_year)] == [
        sum(in_year["by_state"].values()),
        in_year["national"]["initiatives"] + in_year["european"]["international"],
    ]

    # Every chart: an svg image with a description, scaling to the screen; no inline style.
    assert len(page.svgs) == 6
    for svg in page.svgs:
        assert svg["role"] == "img" and svg["aria-label"]
        assert svg["viewbox"] and svg["width"] == "100%"
    assert "style=" not in html and "<script>" not in html
    assert page.headings[0] == 1 and page.headings.count(1) == 1
    assert all(b - a <= 1 for a, b in zip(page.headings, page.headings[1:], strict=False))


def test_the_impact_page_filters_like_the_api(world: World) -> None:
    made = setting(world)
    lead = made["lead"]
    person = browser(world, lead)
    for query in ({"theme": "environment"}, {"country": "RS"}, {"year": 1999}):
        stats = ok(lead.get("/api/v1/stats/impact", query_string=query))
        response = person.get("/console/impact", query_string={**query, "lang": "en"})
        assert response.status_code == 200, query
        assert_same_as_api(figures(response.get_data(as_text=True)), stats)
    # The filters of a form left empty are no filters.
    empty = person.get("/console/impact", query_string={"year": "", "theme": "", "country": ""})
    assert empty.status_code == 200


def test_an_invalid_filter_is_refused_with_its_field_error(world: World) -> None:
    person = browser(world, world.partner())
    response = person.get("/console/impact", query_string={"year": "soon"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'class="field-error" id="f-year-error"' in html
    assert 'aria-invalid="true"' in html and 'value="soon"' in html
    assert person.get("/console/impact", query_string={"year": "1800"}).status_code == 422
    assert person.get("/console/impact", query_string={"country": "ITA"}).status_code == 422


def test_the_impact_page_needs_a_sign_in(world: World) -> None:
    response = Browser(world.app).get("/console/impact")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/console/login")


def test_the_impact_page_reads_in_french(world: World) -> None:
    made = setting(world)
    response = browser(world, made["lead"]).get("/console/impact", query_string={"lang": "fr"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert THEMES["youth"]["fr"] in html and "Italie" in html


def test_the_catalogue_is_public_and_filters(world: World) -> None:
    made = setting(world)
    recognised, lead = made["recognised"], made["lead"]
    visitor = Browser(world.app)
    response = visitor.get("/console/good-practices")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Heritage youth exchange" in html
    assert "Riverside clean-up" not in html  # not a good practice
    assert THEMES["youth"]["en"] in html and "Serbia" in html
    assert f"/console/initiatives/{recognised['id']}" not in html  # signed out: no link

    other_theme = visitor.get("/console/good-practices", query_string={"theme": "environment"})
    assert other_theme.status_code == 200
    assert "Heritage youth exchange" not in other_theme.get_data(as_text=True)
    same_theme = visitor.get("/console/good-practices", query_string={"theme": "youth"})
    assert "Heritage youth exchange" in same_theme.get_data(as_text=True)
    in_country = visitor.get("/console/good-practices", query_string={"country": "RS"})
    assert "Heritage youth exchange" in in_country.get_data(as_text=True)
    elsewhere = visitor.get("/console/good-practices", query_string={"country": "AT"})
    assert "Heritage youth exchange" not in elsewhere.get_data(as_text=True)
    api = ok(world.anonymous.get("/api/v1/good-practices", query_string={"country": "AT"}))
    assert api["items"] == []

    signed_in = browser(world, lead).get("/console/good-practices")
    assert f"/console/initiatives/{recognised['id']}" in signed_in.get_data(as_text=True)


def test_the_catalogue_refuses_bad_filters_and_cursors(world: World) -> None:
    visitor = Browser(world.app)
    assert (
        visitor.get("/console/good-practices", query_string={"country": "ITA"}).status_code == 422
    )
    stale = visitor.get("/console/good-practices", query_string={"cursor": "not-a-cursor"})
    assert stale.status_code == 422
    assert "no longer valid" in stale.get_data(as_text=True)
