"""Personal data that only its context identifies (``find_pii`` types ``date_of_birth``,
``passport``, ``id_card`` and ``person_name``).

A date or an id alone is everywhere in LLM traffic (meeting dates, order ids); these are
personal only next to the words that say whose they are: a date after "date of birth",
"born on", "Geburtsdatum", "né le", "fecha de nacimiento"; a 6-9 character id with a digit
after "passport" (or "Reisepass", "passeport", "pasaporte"); an identity card number after
"Personalausweis", "carte d'identité", "DNI" (a DNI's check letter must match); a full name (two or more
capitalised words) after "my name is", "je m'appelle", "ich heiße", "me llamo", a form label
("Name:", "name=") or a title ("Dr.", "Mrs", "Frau", "Mme"). A title and a surname alone
("Dear Mr. Smith") and a first name alone are not flagged.

Examples
--------
>>> [f.type for f in find_personal("DOB: 14/07/1986, passport no. 925665416")]
['date_of_birth', 'passport']
>>> list(find_personal("The library was founded on March 3, 1979."))
[]
>>> [f.preview for f in find_personal("Hi, my name is Emily Watson.")]
['E**** W*****']
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mlwarden.stats.llm_findings import Finding, redact

__all__ = ["find_personal"]

CHECK = "pii"

_MONTHS = (
    r"(?:jan(?:uary|vier|uar|uari|\.)?|feb(?:ruary|ruar|\.)?|févr(?:ier|\.)?|fevrier|mar(?:ch|s|\.)?|"
    r"märz|apr(?:il|ile|\.)?|avr(?:il|\.)?|abr(?:il)?|may|mai|mayo|maggio|jun(?:e|i|io|\.)?|juin|"
    r"giugno|jul(?:y|i|io|\.)?|juil(?:let|\.)?|luglio|aug(?:ust|\.)?|août|aout|ago(?:sto)?|"
    r"sep(?:t(?:ember|embre|iembre)?|\.)?|set(?:tembre)?|oct(?:ober|obre|ubre|\.)?|okt(?:ober)?|"
    r"ott(?:obre)?|nov(?:ember|embre|iembre|\.)?|dec(?:ember|\.)?|déc(?:embre)?|dez(?:ember)?|"
    r"dic(?:iembre|embre)?|enero|febrero|marzo|junio|julio|agosto|gennaio|febbraio|aprile|"
    r"luglio)"
)
_YEAR = r"(?:19|20)\d{2}"
_DATE = (
    rf"(?:\d{{1,2}}[./-]\d{{1,2}}[./-]{_YEAR}|{_YEAR}[./-]\d{{1,2}}[./-]\d{{1,2}}"
    rf"|(?:the\s+)?\d{{1,2}}(?:st|nd|rd|th|er|\.)?\s+(?:of\s+|de\s+)?{_MONTHS}\s+(?:de\s+)?{_YEAR}"
    rf"|{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+{_YEAR})"
)
_DOB = re.compile(
    r"\b(?:d\.?o\.?b\.?|date\s+of\s+birth|birth\s*date|birthday|born(?:\s+on)?|"
    r"geboren(?:\s+am)?|geburtsdatum|geburtstag|geb\.|date\s+de\s+naissance|née?\s+le|"
    r"fecha\s+de\s+nacimiento|nacid[oa]\s+el|data\s+di\s+nascita|nat[oa]\s+il|"
    r"data\s+de\s+nascimento|nascid[oa]\s+em)"
    rf"[\"'\s:=,-]{{0,6}}(?:was\s+|is\s+|on\s+|am\s+|le\s+|el\s+)?({_DATE})(?!\d)",
    re.IGNORECASE,
)
_DOB_TRIGGERS = ("dob", "d.o.b", "birth", "born", "geb", "naissance", "né", "nacim", "nacid",
                 "nascit", "nato", "nata", "nascid")  # fmt: skip
_PASSPORT = re.compile(
    r"(?i:\b(?:passport|passeport|reisepass|pasaporte|passaporto|passaporte)\w*"
    r"(?:\s+(?:number|no\.?|nr\.?|num(?:ber|éro|ero)|#|id))?)"
    r"\s*(?:(?i:is|was|ist|est|es)\s+)?[:#=]?\s*([A-Z0-9]{6,9})(?![A-Za-z0-9])"
)
# Identity cards: the German Personalausweis (9 characters), the French CNI, the Spanish DNI
# (8 digits and its mod-23 check letter), after the words that name them.
_ID_CARD = re.compile(
    r"(?i:\b(?:personalausweis|ausweis|carte\s+d'identit[ée]|cni|dni|nif|nie|"
    r"documento\s+(?:nacional\s+)?de\s+identidad|id\s+card|identity\s+card)\w*"
    r"(?:\s+(?:number|no\.?|nr\.?|nummer|num(?:ber|éro|ero)|#))?)"
    r"\s*(?:(?i:is|ist|est|es)\s+)?[:#=]?\s*([A-Z0-9]{8,12}|\d{8}-?[A-Z])(?![A-Za-z0-9])"
)
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_NAME_WORD = r"[A-Z][a-zà-öø-ÿ'’-]+"
_PERSON = re.compile(
    r"(?:(?i:\bmy\s+name\s+is|\bmy\s+name's|\bi\s+am\s+called|\bje\s+m'appelle|\bich\s+hei(?:ß|ss)e|"
    r"\bme\s+llamo|\bmi\s+nombre\s+es|\bmi\s+chiamo|\bmeu\s+nome\s+é|\bi'm)\s+"
    r"|(?:^|(?<=[\n;,:{]))\s*(?i:name|full\s+name|nom|nombre|patient|customer|client)\s*[:=]\s*"
    r"|\b(?:Mr|Mrs|Ms|Miss|Dr|Prof|Herr|Frau|Mme|Mlle|Sr|Sra|Sig|Sig\.ra)\.?\s+)"
    rf"({_NAME_WORD}(?:\s+{_NAME_WORD}){{1,2}})",
    re.MULTILINE,
)
_PERSON_TRIGGERS = ("name", "i am called", "appelle", "heiße", "heisse", "llamo",
                    "nombre", "chiamo", "nome", "nom", "patient", "customer", "client")  # fmt: skip
_TITLES = ("Mr", "Ms", "Miss", "Dr", "Prof", "Herr", "Frau", "Mme", "Mlle", "Sr", "Sig")


def _occurrences(text: str, sub: str) -> Iterator[int]:
    i = text.find(sub)
    while i >= 0:
        yield i
        i = text.find(sub, i + 1)


#: Capitalised words after "I'm" that are not a name ("I'm Very Happy" in a title).
_NOT_NAMES = frozenset(
    {"The", "A", "An", "Not", "So", "Very", "Just", "Also", "Still", "Here", "Happy", "Sorry",
     "Looking", "Trying", "Going", "Using", "Working", "In", "On", "At", "From", "Of"}
)  # fmt: skip


def _mask_name(name: str) -> str:
    return " ".join(redact(w, keep_start=1, limit=12) for w in name.split())


def find_personal(text: str) -> Iterator[Finding]:
    """Dates of birth, passport numbers and full names in ``text``, by the words around them."""
    low = text.lower()
    if any(t in low for t in _DOB_TRIGGERS):
        for m in _DOB.finditer(text):
            yield Finding(CHECK, "date_of_birth", m.start(1), m.end(1), redact(m.group(1)))
    if "pass" in low or "reisepass" in low:
        for m in _PASSPORT.finditer(text):
            ident = m.group(1)
            if sum(c.isdigit() for c in ident) >= 5:
                preview = redact(ident, keep_end=2)
                yield Finding(CHECK, "passport", m.start(1), m.end(1), preview)
    if any(w in low for w in ("ausweis", "identit", "cni", "dni", "nif", "nie", "id card")):
        for m in _ID_CARD.finditer(text):
            ident = m.group(1).replace("-", "")
            digits = sum(c.isdigit() for c in ident)
            if re.fullmatch(r"\d{8}[A-Z]", ident):
                if _DNI_LETTERS[int(ident[:8]) % 23] != ident[8]:
                    continue
            elif digits < 4:
                continue
            yield Finding(CHECK, "id_card", m.start(1), m.end(1), redact(ident, keep_end=2))
    if not (
        any(w in low for w in _PERSON_TRIGGERS)
        or any(t in text for t in _TITLES)
        or any(text[i + 4 : i + 5].isupper() for i in _occurrences(text, "I'm "))
    ):
        return
    for m in _PERSON.finditer(text):
        name = m.group(1)
        if name.split()[0] in _NOT_NAMES:
            continue
        yield Finding(CHECK, "person_name", m.start(1), m.end(1), _mask_name(name))
