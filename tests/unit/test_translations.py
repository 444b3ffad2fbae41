"""The console's French is complete: every interface text in the code has a translation, with
the same placeholders, and the compiled catalogue that `make run` uses matches it."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = ROOT / "service" / "console" / "translations"
KEYWORDS = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None, "ngettext": (1, 2)}
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def messages_in_code() -> set[str]:
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT / "service", method_map, options_map, keywords=KEYWORDS
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def french() -> dict[str, str]:
    with (CATALOGUES / "fr" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalogue = read_po(po)
    texts = {}
    for message in catalogue:
        if not message.id:
            continue
        key = message.id[0] if isinstance(message.id, tuple) else message.id
        assert not message.fuzzy, f"fuzzy translation of {key!r}"
        texts[key] = message.string[0] if isinstance(message.string, tuple) else message.string
    return texts


def test_every_interface_text_has_a_french_translation() -> None:
    in_code = messages_in_code()
    assert len(in_code) > 200  # the extraction did find the console's text
    translated = french()
    missing = sorted(m for m in in_code if not translated.get(m))
    assert not missing, f"{len(missing)} texts without French (run make translations): {missing}"


def test_translations_keep_every_placeholder() -> None:
    wrong = {
        english: text
        for english, text in french().items()
        if sorted(PLACEHOLDER.findall(english)) != sorted(PLACEHOLDER.findall(text))
    }
    assert not wrong, wrong


def test_the_compiled_catalogue_matches_the_source() -> None:
    with (CATALOGUES / "fr" / "LC_MESSAGES" / "messages.mo").open("rb") as mo:
        compiled = {
            (m.id[0] if isinstance(m.id, tuple) else m.id): (
                m.string[0] if isinstance(m.string, tuple) else m.string
            )
            for m in read_mo(mo)
            if m.id
        }
    assert compiled == french(), "run make translations (pybabel compile)"
