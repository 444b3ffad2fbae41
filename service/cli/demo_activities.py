"""The demo network's activities: national workshops, the international twinning
conference, and citizens' meetings and study visits of the demo initiatives, all built
through the application's commands. Participants are generated from name lists with a
fixed seed, so every load shows the same people."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.activity import AGE_BANDS

if TYPE_CHECKING:  # demo.py imports this module: only the type, to avoid the cycle
    from service.cli.demo import Demo

# country -> (female first names, male first names, family names); Latin script, as
# partners type them into the registration form.
NAMES: dict[str, tuple[list[str], list[str], list[str]]] = {
    "IT": (
        ["Chiara", "Francesca", "Elena", "Martina", "Valentina", "Sara", "Alessia", "Laura"],
        ["Luca", "Marco", "Matteo", "Andrea", "Davide", "Lorenzo", "Stefano", "Riccardo"],
        ["Rossi", "Russo", "Ferrari", "Esposito", "Romano", "Colombo", "Ricci", "Marino"],
    ),
    "FR": (
        ["Camille", "Manon", "Chloé", "Léa", "Inès", "Juliette", "Élodie", "Sophie"],
        ["Hugo", "Lucas", "Théo", "Antoine", "Julien", "Mathieu", "Nicolas", "Étienne"],
        ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Lefèvre"],
    ),
    "PL": (
        ["Katarzyna", "Agnieszka", "Małgorzata", "Joanna", "Zofia", "Magdalena", "Ewa"],
        ["Piotr", "Krzysztof", "Tomasz", "Paweł", "Michał", "Łukasz", "Jakub"],
        ["Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kamiński", "Lewandowski", "Zieliński"],
    ),
    "DE": (
        ["Anna", "Lena", "Julia", "Katharina", "Sabine", "Miriam", "Franziska"],
        ["Lukas", "Felix", "Tobias", "Jan", "Stefan", "Matthias", "Jürgen"],
        ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker", "Hoffmann", "Koch"],
    ),
    "HR": (
        ["Ivana", "Petra", "Marija", "Ana", "Lucija", "Maja", "Tea"],
        ["Ivan", "Luka", "Marko", "Josip", "Tomislav", "Filip", "Domagoj"],
        ["Horvat", "Kovačević", "Babić", "Marić", "Jurić", "Novak", "Knežević", "Vuković"],
    ),
    "RS": (
        ["Jelena", "Milica", "Marija", "Ivana", "Jovana", "Dragana", "Tijana"],
        ["Nikola", "Stefan", "Marko", "Miloš", "Aleksandar", "Dušan", "Vuk"],
        ["Jovanović", "Petrović", "Nikolić", "Marković", "Đorđević", "Stojanović", "Ilić"],
    ),
    "AL": (
        ["Elona", "Arta", "Drita", "Klea", "Anisa", "Jonida", "Megi"],
        ["Ardit", "Erion", "Gentian", "Arben", "Klodian", "Dritan", "Besnik"],
        ["Hoxha", "Shehu", "Gjoka", "Leka", "Dervishi", "Kola", "Marku", "Çela"],
    ),
    "GE": (
        ["Nino", "Mariam", "Ana", "Salome", "Tamar", "Ketevan", "Natia"],
        ["Giorgi", "Levan", "Davit", "Irakli", "Luka", "Nikoloz", "Zurab"],
        [
            "Beridze",
            "Kapanadze",
            "Gelashvili",
            "Maisuradze",
            "Lomidze",
            "Tsiklauri",
            "Kvaratskhelia",
        ],
    ),
    "BA": (
        ["Amra", "Lejla", "Selma", "Emina", "Ajla", "Mirela", "Sanja"],
        ["Adnan", "Emir", "Haris", "Dario", "Mirza", "Nedim", "Igor"],
        ["Hadžić", "Begović", "Delić", "Kovačević", "Mehmedović", "Šarić", "Čolak"],
    ),
    "AM": (
        ["Anahit", "Lusine", "Mariam", "Nare", "Gayane", "Armine", "Tatevik"],
        ["Aram", "Tigran", "Davit", "Hayk", "Narek", "Gevorg", "Artur"],
        ["Sargsyan", "Harutyunyan", "Hovhannisyan", "Grigoryan", "Petrosyan", "Vardanyan"],
    ),
}
# Letters NFKD does not decompose into an ASCII base, for the participants' emails.
ASCII = str.maketrans({"ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ß": "ss", "ç": "c"})

# A town's attendance list is signed on its "local" side by a member of the organisation
# its participants came with: (country, town, organisation key, participants, type).
CONFERENCE_LISTS: list[tuple[str, str, str, int, str]] = [
    ("IT", "Bologna", "heritage_bo", 16, "local"),
    ("FR", "Strasbourg", "strasbourg", 14, "invited"),
    ("RS", "Novi Sad", "youth_ns", 12, "invited"),
    ("RS", "Subotica", "lda_subotica", 6, "invited"),
    ("AL", "Shkodër", "green_shk", 13, "invited"),
    ("GE", "Kutaisi", "civic_kut", 13, "invited"),
    ("BA", "Mostar", "peace_mo", 12, "invited"),
    ("AM", "Gyumri", "women_gy", 12, "invited"),
    ("DE", "Leipzig", "leipzig", 14, "invited"),
]
# Person keys of the local side's signers, by organisation key.
SIGNERS = {
    "heritage_bo": "lucia",
    "strasbourg": "claire",
    "youth_ns": "ana",
    "lda_subotica": "lea",
    "green_shk": "besa",
    "civic_kut": "giorgi",
    "peace_mo": "amra",
    "women_gy": "armine",
    "leipzig": "jonas",
    "anci": "paolo",
    "afccre": "luc",
    "zmp": "katarzyna",
    "dst_rgre": "anna",
    "udruga_gradova": "marko",
}
# (country, organiser person, organisation the participants came with, city, date, towns
# with their number of participants, title)
WORKSHOPS: list[tuple[str, str, str, str, str, list[tuple[str, int]], str]] = [
    ("IT", "giulia", "anci", "Bologna", "2026-03-12",
     [("Bologna", 9), ("Modena", 7), ("Ferrara", 6)], "Twinning for beginners"),
    ("FR", "claire", "afccre", "Strasbourg", "2026-04-09",
     [("Strasbourg", 10), ("Colmar", 8), ("Mulhouse", 7)], "Jumelages et jeunesse"),
    ("PL", "tomasz", "zmp", "Lublin", "2026-05-21",
     [("Lublin", 11), ("Kraków", 6), ("Gdańsk", 5)], "Partnerstwo miast w praktyce"),
    ("DE", "jonas", "dst_rgre", "Leipzig", "2026-06-04",
     [("Leipzig", 8), ("Dresden", 7), ("Chemnitz", 5)], "Städtepartnerschaften neu denken"),
    ("HR", "ivana", "udruga_gradova", "Rijeka", "2026-09-17",
     [("Rijeka", 12), ("Split", 9), ("Osijek", 8)], "Bratimljenje gradova i EU fondovi"),
]  # fmt: skip


@dataclass
class Participants:
    """Plausible participants, the same on every load (a fixed seed)."""

    rng: random.Random = field(default_factory=lambda: random.Random(2026))

    def one(
        self, country: str, town: str, organisation_id: UUID | None, type_: str
    ) -> dict[str, Any]:
        female, male, family = NAMES[country]
        gender = self.rng.choices(["female", "male", "other", "undisclosed"], [46, 46, 3, 5])[0]
        first = self.rng.choice(
            female if gender == "female" else male if gender == "male" else female + male
        )
        last = self.rng.choice(family)
        person: dict[str, Any] = {
            "name": f"{first} {last}",
            "country": country,
            "town": town,
            "participant_type": type_,
            "age_band": self.rng.choices(AGE_BANDS, [8, 38, 44, 10])[0],
            "gender": gender,
        }
        if organisation_id is not None:
            person["organisation_id"] = str(organisation_id)
        if self.rng.random() < 0.8:  # some register on paper, without an email
            local = f"{first}.{last}".lower().translate(ASCII).replace(" ", "")
            plain = unicodedata.normalize("NFKD", local).encode("ascii", "ignore").decode()
            person["email"] = f"{plain}{self.rng.randint(1, 99)}@example.org"
        if self.rng.random() < 0.05:  # not every form is complete
            del person["age_band"]
        return person


class Run:
    """One activity driven through its commands, keeping the version each one needs."""

    def __init__(
        self, demo: Demo, who: str, fields: dict[str, Any], co: tuple[str, ...] = ()
    ) -> None:
        self.demo, self.who = demo, who
        outcome = demo.app.plan_activity(
            caller=demo.people[who],
            fields=fields,
            co_organiser_ids=[demo.orgs[o] for o in co],
        )
        self.id: UUID = outcome.aggregate.id
        self.version: int = outcome.aggregate.version
        self.registered: list[str] = []

    def step(self, name: str, who: str | None = None, **kwargs: Any) -> Any:
        command = getattr(self.demo.app, name)
        caller = self.demo.people[who or self.who]
        result = command(self.id, caller=caller, expected_version=self.version, **kwargs)
        outcome = result[0] if isinstance(result, tuple) else result
        self.version = outcome.aggregate.version
        return result

    def register(self, people: list[dict[str, Any]]) -> None:
        for person in people:
            _, registration_id, status = self.step("register_participant", fields=person)
            if status == "registered":
                self.registered.append(registration_id)

    def hold(self, absent: int, lists: list[tuple[str, str, str]]) -> None:
        """Closes, marks held, records attendance (the last `absent` did not come) and
        certifies every list: (town, country, local signer)."""
        self.step("close_registration")
        self.step("mark_held")
        came = self.registered[: len(self.registered) - absent]
        self.step("mark_attendance", registration_ids=came, attended=True)
        if absent:
            missed = self.registered[len(came) :]
            self.step("mark_attendance", registration_ids=missed, attended=False)
        for town, country, signer in lists:
            self.step("certify_list", town=town, country=country)
            self.step("certify_list", who=signer, town=town, country=country)


def _fields(
    kind: str,
    title: str,
    summary: str,
    country: str,
    city: str,
    start: datetime,
    hours: int,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "title": {"en": title},
        "summary": {"en": summary},
        "original_language": "en",
        "themes": ["local_democracy"] if kind != "study_visit" else ["culture_heritage"],
        "country": country,
        "city": city,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=hours)).isoformat(),
        **extra,
    }


def _past(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T09:30:00+00:00")


def load_activities(demo: Demo, initiatives: dict[str, UUID]) -> dict[str, UUID]:
    """Plans and runs the demo's activities; returns their ids by a short name."""
    make = Participants()
    o = demo.orgs
    made: dict[str, UUID] = {}
    for country, who, came_with, city, day, towns, title in WORKSHOPS:
        run = Run(
            demo,
            who,
            _fields(
                "national_workshop",
                title,
                f"A day on town twinning for councillors and officers from {country} towns.",
                country,
                city,
                _past(day),
                7,
            ),
        )
        run.step("open_registration")
        run.register(
            [make.one(country, town, o[came_with], "local") for town, n in towns for _ in range(n)]
        )
        run.hold(absent=2, lists=[(town, country, SIGNERS[came_with]) for town, _ in towns])
        made[f"workshop_{country.lower()}"] = run.id

    conference = Run(
        demo,
        "giulia",
        _fields(
            "international_conference",
            "Twinning Europe: towns that build peace",
            "Mayors, officers, young people and civil society of twinned towns from eight "
            "countries share what their partnerships changed.",
            "IT",
            "Bologna",
            _past("2026-10-08"),
            56,
            capacity=160,
        ),
    )
    conference.step("open_registration")
    people = [
        make.one(country, town, o[org], type_)
        for country, town, org, n, type_ in CONFERENCE_LISTS
        for _ in range(n)
    ]
    make.rng.shuffle(people)  # they registered in no particular order
    conference.register(people)
    conference.hold(
        absent=3, lists=[(town, c, SIGNERS[org]) for c, town, org, _, _ in CONFERENCE_LISTS]
    )
    made["conference"] = conference.id
    return made | _initiative_activities(demo, initiatives, make)


def _initiative_activities(
    demo: Demo, initiatives: dict[str, UUID], make: Participants
) -> dict[str, UUID]:
    o, soon = demo.orgs, demo.app.clock().replace(hour=17, minute=0, second=0, microsecond=0)
    # A held citizens' meeting of the lake clean-up.
    lake = Run(
        demo,
        "besa",
        _fields(
            "citizens_meeting",
            "Which beach first? Citizens decide",
            "Residents choose the stretches of shore for the next clean-up days.",
            "AL",
            "Shkodër",
            _past("2026-03-28"),
            3,
            initiative_id=str(initiatives["lake"]),
        ),
    )
    lake.step("open_registration")
    lake.register([make.one("AL", "Shkodër", o["shkoder"], "local") for _ in range(18)])
    lake.hold(absent=1, lists=[("Shkodër", "AL", "elira")])
    # Coming up, registration open: a waste-sorting meeting...
    sorting = Run(
        demo,
        "elira",
        _fields(
            "citizens_meeting",
            "Sorting waste at the beach",
            "An open meeting on the new sorting points and who looks after them.",
            "AL",
            "Shkodër",
            soon + timedelta(days=24),
            2,
            initiative_id=str(initiatives["lake"]),
        ),
    )
    sorting.step("open_registration")
    sorting.register([make.one("AL", "Shkodër", None, "local") for _ in range(9)])
    # ...and a study visit that is full, with a waiting list.
    visit = Run(
        demo,
        "giulia",
        _fields(
            "study_visit",
            "Study visit: Petrovaradin fortress",
            "Bologna's pupils visit the fortress and the archives with their Novi Sad peers.",
            "RS",
            "Novi Sad",
            soon + timedelta(days=45),
            30,
            capacity=12,
            initiative_id=str(initiatives["heritage"]),
        ),
        co=("youth_ns",),
    )
    visit.step("open_registration")
    visit.register([make.one("IT", "Bologna", o["bologna"], "invited") for _ in range(15)])
    # Planned only: the democracy school's first citizens' meeting.
    school = Run(
        demo,
        "nino",
        _fields(
            "citizens_meeting",
            "Meet your young councillors",
            "Kutaisi's young councillors present their first proposals to residents.",
            "GE",
            "Kutaisi",
            soon + timedelta(days=70),
            2,
            initiative_id=str(initiatives["school"]),
        ),
    )
    return {"lake_meeting": lake.id, "sorting": sorting.id, "visit": visit.id, "school": school.id}
