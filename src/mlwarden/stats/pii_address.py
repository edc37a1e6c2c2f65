"""Street addresses, the personal data a name usually comes with (``find_pii`` type ``address``).

Patterns for the common written forms, no gazetteer: a house number, capitalised street-name
words and a street type (US, UK, Australian); a Romance street word after the number (French,
Spanish, Italian, Portuguese); a Germanic or Nordic street name then its number (German,
Dutch, Danish, Swedish); a street, its number, a postcode and a town ("Am Markt 3, 28195
Bremen"); a Spanish street word first ("Calle de Alcalá 45"); PO boxes. Street names must be
capitalised, which is what tells "12 Oak Lane" from "3 avenues of growth".

Policy: an address is personal data unless the sentence around it names a business (head
office, company, shop, "Inc", "GmbH") and no person ("my", "ship to", "I live", "billing"):
"Our headquarters are at 1 Infinite Loop" is not flagged, "ship to 1 Infinite Loop" is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mlwarden.stats.llm_findings import Finding, redact

__all__ = ["find_addresses"]

CHECK = "pii"

# A house number, capitalised street-name words and a street type (742 Evergreen Terrace,
# 1550 N. Lake Shore Drive, 221B Baker Street); a Romance street word after the number
# (47 rue de Rivoli, 77 Calle Mayor); a Germanic street name then its number (Hauptstraße 5,
# Keizersgracht 123); a PO box. Lower-case or missing name words ("3 avenues of growth",
# "500 Drive units") and words of other kinds after the number do not match.
_STREET_TYPES = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|Boulevard|Blvd|Way|Court|Ct|Place|Pl|"
    r"Terrace|Close|Crescent|Square|Sq|Parkway|Pkwy|Highway|Hwy|Row|Mews|Gardens|Grove|Walk|"
    r"Circle|Cir|Trail|Alley)"
)
_ADDRESS = re.compile(
    r"(?<![\w.,/-])\d{1,5}[A-Za-z]?,?\s+(?:(?:[NSEW]\.?|North|South|East|West)\s+)?"
    rf"(?:(?:[A-Z][a-z'’]+|\d{{1,3}}(?:st|nd|rd|th))\.?\s+){{1,3}}{_STREET_TYPES}\b\.?"
    r"|(?<![\w.,/-])\d{1,5}(?:bis|ter)?,?\s+(?i:rue|avenue|boulevard|bd|place|chemin|allée|"
    r"calle|avenida|paseo|plaza|via|viale|piazza|corso|rua|travessa)\s+"
    r"(?:(?:de|del|de\s+la|la|le|les|des|du|di|da|do|dos|das)\s+)*[A-Z][\w'’-]+"
    r"|\bP\.?\s?O\.?\s+Box\s+\d{1,6}\b"
)
# A street then its number, then a 4-5 digit postcode and a town: "Am Markt 3, 28195 Bremen",
# "Calle de Alcalá 45, 28014 Madrid" (the German, French, Spanish, Italian, Dutch order).
_PARTICLES = r"(?:am|an|im|auf|zum|zur|der|de|del|la|le|du|des|di|da|do|dos|van|von|den|het)"
_ADDRESS_POSTCODE = re.compile(
    rf"\b[A-Z][\w'’.-]*(?:\s+(?:[A-Z][\w'’.-]*|{_PARTICLES}))*\s+\d{{1,4}}[a-zA-Z]?,?\s+"
    r"(?:[A-Z]{1,2}-)?\d{4,5}\s+[A-Z][\w'’-]+"
)
# A Spanish or Portuguese street word, the name, then the number: "Calle Mayor 12", "Rua Augusta, 45"
_ADDRESS_STREET_FIRST = re.compile(
    r"\b(?i:calle|c/|avenida|avda\.|paseo|plaza|carrer|camino|ronda|travesía|rua|avenida)\s+"
    r"(?:(?:de|del|de\s+la|de\s+los|de\s+las|da|do|dos|das)\s+)?[A-Z][\w'’-]+"
    r"(?:\s+[A-Z][\w'’-]+)*,?\s+(?:n[º°o]\.?\s*)?\d{1,4}\b"
)
# A US address without a street type, known by its tail: town, state and ZIP code
# ("2200 Broadway Apt 5C, New York, NY 10024").
_ADDRESS_US_ZIP = re.compile(
    r"(?<![\w.,/-])\d{1,5}[A-Za-z]?\s+(?:[A-Z][\w'’.-]*\s+){1,4}(?:(?:Apt|Apartment|Suite|Ste|Unit|"
    r"Fl|Floor|#)\.?\s*\w{1,5},?\s+)?(?:[A-Z][a-z]+\.?\s+){0,2}?(?:[A-Z][a-z]+),\s+[A-Z]{2}\s+"
    r"\d{5}(?:-\d{4})?\b"
)
# Quick pre-checks: the tail or the head each of the patterns above needs.
_STREET_FIRST_WORDS = re.compile(
    r"\b(?:calle|c/|avenida|avda\.|paseo|plaza|carrer|camino|ronda|travesía|rua)\s"
)
_POSTCODE_TOWN = re.compile(r"\d,?\s+(?:[A-Z]{1,2}-)?\d{4,5}\s+[A-Z]")
_STATE_ZIP = re.compile(r",\s+[A-Z]{2}\s+\d{5}\b")
#: Words around an address that make it a business's (a head office, a shop): not personal,
#: unless words of a person come with it ("my", "ship to", "I live").
_BUSINESS = re.compile(
    r"\b(?:headquarters|hq|head\s+office|registered\s+office|offices?|company|corporate|firm|"
    r"business|firmensitz|sitz|zentrale|unternehmen|siège|société|sede|oficinas?|empresa|"
    r"museum|hotel|station|airport|store|shop|branch|restaurant|showroom|campus|reception|"
    r"visitors|opening\s+hours|opens?|tickets|landmark|monument|tower|cathedral|palace|stadium|"
    r"university|hospital|church|embassy|town\s+hall|city\s+hall|tourists?|tours?|"
    r"inc|ltd|llc|gmbh|ag|sa|sas|sarl|plc|corp|corporation|co)\b",
    re.IGNORECASE,
)
_PERSONAL = re.compile(
    r"\b(?:my|me|i|i'm|i've|mine|home|ship|deliver|delivery|send|live|lives|living|resid\w*|"
    r"domicile|wohne|wohnt|wohnhaft|mein|meine|meiner|lieferadresse|privat\w*|mon|ma|mes|chez|"
    r"domicilio|mi|vivo|vive|habite|j'habite|his|her|patient|billing|shipping)\b",
    re.IGNORECASE,
)


def _business_context(text: str, start: int, end: int) -> bool:
    """The sentence around an address names a business and no person."""
    left = text[max(0, start - 120) : start]
    right = text[end : end + 120]
    for stop in ".!?\n":
        cut = left.rfind(stop + " ") if stop != "\n" else left.rfind(stop)
        left = left[cut + 1 :] if cut >= 0 else left
        cut = right.find(stop + " ") if stop != "\n" else right.find(stop)
        right = right[:cut] if cut >= 0 else right
    around = left + " " + right
    return _BUSINESS.search(around) is not None and _PERSONAL.search(around) is None


_GERMANIC_STREETS = (
    "straße", "strasse", "str.", "weg", "gasse", "platz", "allee", "gracht", "laan", "straat",
    "plein", "ring", "damm", "ufer", "gade", "vej", "gatan", "vägen",
)  # fmt: skip
_ADDRESS_GERMANIC = re.compile(
    rf"\b[A-Z][a-zäöüß]+(?:{'|'.join(re.escape(s) for s in _GERMANIC_STREETS)})\s+\d{{1,4}}[a-z]?\b"
)


def find_addresses(text: str) -> Iterator[Finding]:
    """Street addresses in ``text`` (type ``address``, masked preview).

    Examples
    --------
    >>> [f.preview for f in find_addresses("Ship to 742 Evergreen Terrace, Springfield")]
    ['*********************']
    >>> list(find_addresses("Route 66 and the 3 avenues of growth"))
    []
    """
    if not any(c.isdigit() for c in text):
        return
    low = text.lower()
    patterns = [_ADDRESS]
    if _STREET_FIRST_WORDS.search(low):
        patterns.append(_ADDRESS_STREET_FIRST)
    if _POSTCODE_TOWN.search(text):
        patterns.append(_ADDRESS_POSTCODE)
    if _STATE_ZIP.search(text):
        patterns.append(_ADDRESS_US_ZIP)
    if any(s in low for s in _GERMANIC_STREETS):
        patterns.insert(1, _ADDRESS_GERMANIC)
    seen: list[tuple[int, int]] = []
    for pattern in patterns:
        for m in pattern.finditer(text):
            if any(s < m.end() and m.start() < e for s, e in seen):
                continue
            seen.append((m.start(), m.end()))
            if _business_context(text, m.start(), m.end()):
                continue
            yield Finding(CHECK, "address", m.start(), m.end(), redact(m.group()))
