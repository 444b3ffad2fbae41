"""A realistic sample network: associations, towns, civil society, Local Democracy Agencies,
reviewers, and initiatives in every state of their life."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.application import Twinning
from domain.values import Caller, system_actor
from service.cli.demo_activities import load_activities
from service.infrastructure.runtime import Runtime

DEMO_DOMAIN = "demo.twinning.eu"

ORGANISATIONS: list[tuple[str, str, str, str]] = [
    # key, name, type, country
    ("anci", "Associazione Nazionale Comuni Italiani", "national_association", "IT"),
    (
        "afccre",
        "Association française du Conseil des Communes et Régions d'Europe",
        "national_association",
        "FR",
    ),
    ("skgo", "Standing Conference of Towns and Municipalities", "national_association", "RS"),
    ("aam", "Association for Albanian Municipalities", "national_association", "AL"),
    ("nalag", "National Association of Local Authorities of Georgia", "national_association", "GE"),
    ("bologna", "Comune di Bologna", "local_authority", "IT"),
    ("strasbourg", "Ville de Strasbourg", "local_authority", "FR"),
    ("novisad", "Grad Novi Sad", "local_authority", "RS"),
    ("shkoder", "Bashkia Shkodër", "local_authority", "AL"),
    ("kutaisi", "Kutaisi City Hall", "local_authority", "GE"),
    ("mostar", "Grad Mostar", "local_authority", "BA"),
    ("gyumri", "Gyumri Municipality", "local_authority", "AM"),
    ("leipzig", "Stadt Leipzig", "local_authority", "DE"),
    ("lublin", "Urząd Miasta Lublin", "local_authority", "PL"),
    ("rijeka", "Grad Rijeka", "local_authority", "HR"),
    ("zmp", "Związek Miast Polskich", "national_association", "PL"),
    ("dst_rgre", "Deutsche Sektion des RGRE", "national_association", "DE"),
    ("udruga_gradova", "Udruga gradova u Republici Hrvatskoj", "national_association", "HR"),
    ("youth_ns", "Youth Forum Novi Sad", "civil_society", "RS"),
    ("green_shk", "Green Shkodër Association", "civil_society", "AL"),
    ("civic_kut", "Civic Initiative Kutaisi", "civil_society", "GE"),
    ("heritage_bo", "Amici del Patrimonio di Bologna", "civil_society", "IT"),
    ("peace_mo", "Mostar Peace Network", "civil_society", "BA"),
    ("women_gy", "Gyumri Women's Resource Centre", "civil_society", "AM"),
    ("lda_subotica", "Local Democracy Agency Subotica", "local_democracy_agency", "RS"),
    ("lda_georgia", "Local Democracy Agency Georgia", "local_democracy_agency", "GE"),
    ("lda_mostar", "Local Democracy Agency Mostar", "local_democracy_agency", "BA"),
    ("review_board", "European Twinning Review Board", "other", "BE"),
    ("review_panel", "National Twinning Review Panel", "other", "LU"),
]


@dataclass
class Demo:
    app: Twinning
    rt: Runtime
    password: str
    orgs: dict[str, UUID]
    people: dict[str, Caller]

    def person(self, key: str, org: str, roles: list[str], name: str) -> None:
        email = f"{key}@{DEMO_DOMAIN}"
        outcome = self.app.register_account(
            actor=system_actor(),
            email=email,
            name=name,
            organisation_id=self.orgs[org],
            roles=roles,
        )
        account = outcome.aggregate
        self.rt.credentials.set_password(str(account.id), self.password)
        self.people[key] = account.caller()


def load(rt: Runtime, password: str) -> dict[str, Any]:
    """Loads the sample network; refuses when it is there already."""
    app = rt.app
    if app.account_by_email(f"giulia@{DEMO_DOMAIN}") is not None:
        raise RuntimeError("the demo data is loaded already")
    orgs = {
        key: app.register_organisation(
            actor=system_actor(), name=name, type_=type_, country=country
        ).aggregate.id
        for key, name, type_, country in ORGANISATIONS
    }
    demo = Demo(app, rt, password, orgs, {})
    for key, org, roles, name in [
        ("giulia", "bologna", ["partner"], "Giulia Rossi"),
        ("claire", "strasbourg", ["partner"], "Claire Martin"),
        ("milan", "novisad", ["partner"], "Milan Petrović"),
        ("ana", "youth_ns", ["partner"], "Ana Jovanović"),
        ("elira", "shkoder", ["partner"], "Elira Hoxha"),
        ("besa", "green_shk", ["partner"], "Besa Krasniqi"),
        ("nino", "kutaisi", ["partner"], "Nino Beridze"),
        ("giorgi", "civic_kut", ["partner"], "Giorgi Kapanadze"),
        ("lea", "lda_subotica", ["partner"], "Lea Kovač"),
        ("tamar", "lda_georgia", ["partner"], "Tamar Gelashvili"),
        ("amra", "peace_mo", ["partner"], "Amra Hadžić"),
        ("armine", "women_gy", ["partner"], "Armine Sargsyan"),
        ("paolo", "anci", ["partner"], "Paolo Bianchi"),
        ("jonas", "leipzig", ["partner"], "Jonas Weber"),
        # They sign their towns' attendance lists, or run their country's workshop.
        ("lucia", "heritage_bo", ["partner"], "Lucia Ferrari"),
        ("luc", "afccre", ["partner"], "Luc Bernard"),
        ("tomasz", "lublin", ["partner"], "Tomasz Zieliński"),
        ("katarzyna", "zmp", ["partner"], "Katarzyna Nowak"),
        ("anna", "dst_rgre", ["partner"], "Anna Schulz"),
        ("ivana", "rijeka", ["partner"], "Ivana Horvat"),
        ("marko", "udruga_gradova", ["partner"], "Marko Babić"),
        ("sofia", "review_board", ["reviewer"], "Sofia Andersen"),
        ("marc", "review_board", ["reviewer"], "Marc Dubois"),
        ("ines", "review_panel", ["reviewer"], "Inês Costa"),
        ("karl", "review_panel", ["auditor"], "Karl Schmidt"),
        ("admin", "review_board", ["admin"], "Demo Administrator"),
    ]:
        demo.person(key, org, roles, name)
    initiatives = _initiatives(demo)
    activities = load_activities(demo, initiatives)
    return {
        "organisations": len(orgs),
        "accounts": len(demo.people),
        "initiatives": len(initiatives),
        "activities": len(activities),
        # By a short name, for the tests (no endpoint lists activities).
        "activity_ids": {name: str(i) for name, i in activities.items()},
    }


def _initiatives(demo: Demo) -> dict[str, UUID]:
    """Proposes and runs the initiatives; returns their ids by a short name."""
    app, p, o = demo.app, demo.people, demo.orgs
    made: list[UUID] = []

    def propose(lead: str, **fields: Any) -> UUID:
        made.append(app.propose(caller=p[lead], fields=fields).aggregate.id)
        return made[-1]

    def version(initiative: UUID) -> int:
        return app.initiative(initiative).version

    def partner(initiative: UUID, lead: str, who: str, org: str) -> None:
        app.invite_partner(
            initiative, caller=p[lead], expected_version=version(initiative), organisation_id=o[org]
        )
        app.join(
            initiative, caller=p[who], expected_version=version(initiative), organisation_id=o[org]
        )

    def to_review(initiative: UUID, lead: str) -> None:
        app.start_co_design(initiative, caller=p[lead], expected_version=version(initiative))
        app.submit(initiative, caller=p[lead], expected_version=version(initiative))

    def review(initiative: UUID, who: str, decision: str, rationale: str) -> None:
        app.review(
            initiative,
            caller=p[who],
            expected_version=version(initiative),
            decision=decision,
            rationale=rationale,
        )

    def report(initiative: UUID, who: str, start: str, end: str, people: int, text: str) -> None:
        app.record_report(
            initiative,
            caller=p[who],
            expected_version=version(initiative),
            report={
                "period_start": start,
                "period_end": end,
                "participants": people,
                "activities": 3,
                "narrative": {"en": text},
                "evidence_urls": [f"https://{DEMO_DOMAIN}/evidence/{initiative}"],
            },
        )

    # 1. Completed, recognised as good practice: a European youth heritage exchange.
    heritage = propose(
        "giulia",
        title={
            "en": "Young keepers of shared heritage",
            "it": "Giovani custodi del patrimonio",
            "sr": "Млади чувари заједничког наслеђа",
        },
        summary={
            "en": "Secondary-school pupils from Bologna and Novi Sad map the heritage "
            "their towns share and publish a bilingual walking guide.",
            "it": "Studenti di Bologna e Novi Sad mappano il patrimonio comune.",
            "sr": "Ученици из Болоње и Новог Сада мапирају заједничко наслеђе.",
        },
        original_language="en",
        themes=["youth", "culture_heritage"],
        level="european",
        countries=["IT", "RS"],
        target_groups=["pupils", "teachers"],
        expected_participants=60,
        start_date="2026-02-01",
        end_date="2026-09-30",
    )
    partner(heritage, "giulia", "ana", "youth_ns")
    partner(heritage, "giulia", "milan", "novisad")
    to_review(heritage, "giulia")
    review(heritage, "ines", "approve", "Clear national relevance and committed partners.")
    review(heritage, "sofia", "approve", "A model of youth participation across borders.")
    app.start_follow_up(heritage, caller=p["giulia"], expected_version=version(heritage))
    report(heritage, "ana", "2026-02-01", "2026-05-31", 42, "Four mapping walks in each town.")
    report(heritage, "giulia", "2026-06-01", "2026-09-30", 58, "Guide printed; exhibition.")
    app.complete(
        heritage,
        caller=p["giulia"],
        expected_version=version(heritage),
        outcomes={"en": "A bilingual heritage guide and a standing pupils' exchange."},
    )
    app.recognise_good_practice(
        heritage,
        caller=p["marc"],
        expected_version=version(heritage),
        rationale="Replicable, well documented, led by young people.",
    )

    # 2. In follow-up: Lake Shkodër clean-up with a civil society partner (national).
    lake = propose(
        "elira",
        title={"en": "Clean shores of Lake Shkodër", "sq": "Brigje të pastra"},
        summary={
            "en": "The municipality and local volunteers clean the shores and set up "
            "waste sorting at the beach.",
            "sq": "Pastrimi i bregut të liqenit.",
        },
        original_language="en",
        themes=["environment"],
        level="national",
        countries=["AL"],
        expected_participants=200,
    )
    partner(lake, "elira", "besa", "green_shk")
    to_review(lake, "elira")
    review(lake, "ines", "approve", "Concrete, measurable, with volunteers from the start.")
    app.start_follow_up(lake, caller=p["elira"], expected_version=version(lake))
    report(lake, "besa", "2026-04-01", "2026-06-30", 180, "Three clean-up days, 2 t of waste.")

    # 3. Approved: a European local-democracy school with an LDA.
    school = propose(
        "nino",
        title={
            "en": "Local democracy school for young councillors",
            "ka": "ადგილობრივი დემოკრატიის სკოლა",
        },
        summary={
            "en": "Kutaisi and Leipzig train young councillors with the LDA Georgia.",
            "ka": "ახალგაზრდა მრჩევლების სწავლება.",
        },
        original_language="en",
        themes=["local_democracy", "youth"],
        level="european",
        countries=["GE", "DE"],
        expected_participants=35,
    )
    partner(school, "nino", "tamar", "lda_georgia")
    partner(school, "nino", "jonas", "leipzig")
    to_review(school, "nino")
    review(school, "ines", "approve", "Strong partnership with the Local Democracy Agency.")
    review(school, "marc", "approve", "Good European dimension.")

    # 4. In review, first step approved: women's networks across the Caucasus and Balkans.
    women = propose(
        "armine",
        title={"en": "Women in local public life", "hy": "Կանայք տեղական կյանքում"},
        summary={
            "en": "Civil society organisations from Gyumri and Mostar build a mentoring "
            "network for women running for local office.",
            "hy": "Կանանց մենթորական ցանց",
        },
        original_language="en",
        themes=["gender_equality", "civil_society"],
        level="european",
        countries=["AM", "BA"],
    )
    partner(women, "armine", "amra", "peace_mo")
    to_review(women, "armine")
    review(women, "ines", "approve", "Relevant for both countries' local elections.")

    # 5. Co-design with a pending amendment from an outsider and stale translations.
    bridges = propose(
        "amra",
        title={"en": "Bridges of Mostar and Novi Sad", "bs": "Mostovi Mostara"},
        summary={
            "en": "Joint cultural festival on the two towns' bridges.",
            "bs": "Zajednički kulturni festival.",
        },
        original_language="en",
        themes=["culture_heritage", "reconciliation"],
        level="european",
        countries=["BA", "RS"],
    )
    partner(bridges, "amra", "lea", "lda_subotica")
    app.start_co_design(bridges, caller=p["amra"], expected_version=version(bridges))
    app.edit(
        bridges,
        caller=p["lea"],
        expected_version=None,
        fields={
            "summary": {
                "en": "A joint cultural and reconciliation festival on the two towns' bridges.",
                "bs": "Zajednički kulturni festival.",
            }
        },
        base_version=version(bridges),
    )
    app.propose_amendment(
        bridges,
        caller=p["milan"],
        expected_version=None,
        changes={"target_groups": ["artists", "youth clubs"]},
        rationale="Novi Sad's youth clubs would like to take part.",
        base_version=version(bridges),
    )

    # 6. Sent back for changes, now in its second round of co-design.
    tourism = propose(
        "claire",
        title={"en": "Sustainable tourism routes"},
        summary={"en": "Strasbourg and Bologna design low-carbon tourist routes."},
        original_language="en",
        themes=["tourism", "environment"],
        level="national",
        countries=["FR"],
    )
    partner(tourism, "claire", "giulia", "bologna")
    to_review(tourism, "claire")
    review(tourism, "ines", "request_changes", "Please add a budget and measurable targets.")

    # 7. Rejected, and 8. withdrawn.
    rejected = propose(
        "paolo",
        title={"en": "Annual twinning gala"},
        summary={"en": "A gala dinner."},
        original_language="en",
        themes=["tourism"],
        level="national",
        countries=["IT"],
    )
    partner(rejected, "paolo", "giulia", "bologna")
    to_review(rejected, "paolo")
    review(rejected, "ines", "reject", "No cooperation content beyond a social event.")
    withdrawn = propose(
        "jonas",
        title={"en": "Digital town halls"},
        summary={"en": "Shared e-services."},
        original_language="en",
        themes=["local_development"],
        level="national",
        countries=["DE"],
    )
    app.withdraw(
        withdrawn,
        caller=p["jonas"],
        expected_version=version(withdrawn),
        reason="Funding moved to 2027.",
    )

    # 9. A fresh proposal with a pending invitation.
    fresh = propose(
        "giorgi",
        title={"en": "Civic budgeting in Kutaisi"},
        summary={"en": "Citizens decide on part of the municipal budget."},
        original_language="en",
        themes=["local_democracy", "civil_society"],
        level="national",
        countries=["GE"],
    )
    app.invite_partner(
        fresh, caller=p["giorgi"], expected_version=version(fresh), organisation_id=o["kutaisi"]
    )
    names = ["heritage", "lake", "school", "women", "bridges", "tourism", "rejected", "withdrawn"]
    return dict(zip([*names, "fresh"], made, strict=True))
