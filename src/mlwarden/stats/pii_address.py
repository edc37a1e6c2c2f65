"""Street addresses, the personal data a name usually comes with (``find_pii`` type ``address``).

Patterns for the common written forms, no gazetteer: a house number, capitalised street-name
words and a street type (US, UK, Australian); a Romance street word after the number (French,
Spanish, Italian, Portuguese); a Germanic or Nordic street name then its number (German,
Dutch, Danish, Swedish); PO boxes. Street names must be capitalised, which is what tells
"12 Oak Lane" from "3 avenues of growth".
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
    rf"(?:[A-Z][a-z'’]+\.?\s+){{1,3}}{_STREET_TYPES}\b\.?"
    r"|(?<![\w.,/-])\d{1,5}(?:bis|ter)?,?\s+(?i:rue|avenue|boulevard|bd|place|chemin|allée|"
    r"calle|avenida|paseo|plaza|via|viale|piazza|corso|rua|travessa)\s+"
    r"(?:(?:de|del|de\s+la|la|le|les|des|du|di|da|do|dos|das)\s+)*[A-Z][\w'’-]+"
    r"|\bP\.?\s?O\.?\s+Box\s+\d{1,6}\b"
)
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
    germanic = any(s in low for s in _GERMANIC_STREETS)
    for pattern in (_ADDRESS, _ADDRESS_GERMANIC) if germanic else (_ADDRESS,):
        for m in pattern.finditer(text):
            yield Finding(CHECK, "address", m.start(), m.end(), redact(m.group()))
