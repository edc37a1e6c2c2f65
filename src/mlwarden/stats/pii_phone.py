"""Phone numbers (``find_pii`` group ``phone``): international, NANP, UK mobile, French and,
after a phone word, other grouped national numbers; never right after "order", "invoice",
"ref", "#" and the like, nor inside a longer run of digit groups (a serial number), nor in a
North American toll-free area code (800, 888, ...: a company's line).

Examples
--------
>>> [f.preview for f in find_phones("call (415) 555-0132, order #415-555-0199")]
['************32']
>>> [f.type for f in find_phones("Mon portable : 06 12 34 56 78")]
['phone']
>>> list(find_phones("Support: +1 800 466 2210; serial 4915-2231-0098-7713"))
[]
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mlwarden.stats.llm_findings import Finding, redact

__all__ = ["find_phones"]

CHECK = "pii"

# +CC then 6-14 more digits in groups, or NANP (XXX) XXX-XXXX / XXX-XXX-XXXX / XXX.XXX.XXXX
_PHONE_INTL = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}|(?<!\d[ .-])00[1-9]\d{0,2}(?=[ .-]))(?:[ .-]?\(?\d{1,4}\)?){2,5}(?![\w-])"
)
# French national numbers: 0X XX XX XX XX (five pairs with separators)
_PHONE_FR = re.compile(r"(?<![\w.+-])0[1-9](?:([ .-])\d{2})(?:\1\d{2}){3}(?![\w-]|\.\d)")
# any grouped national number (9-12 digits, 2+ groups): a phone only after a phone word
_PHONE_GROUPED = re.compile(r"(?<![\w.+-])\(?\d{2,5}\)?(?:[ ./-]\d{2,8}){1,4}(?![\w-]|\.\d)")
_PHONE_NANP = re.compile(
    r"(?<![\w.+-])(?:1[ .-])?(?:\(\d{3}\)\s?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w-]|\.\d)"
)
# a UK mobile in national form: 07xxx xxxxxx (11 digits, one block of five)
_PHONE_UK_MOBILE = re.compile(r"(?<![\w.+-])07\d{3}[ -]?\d{3}[ -]?\d{3}(?![\w-]|\.\d)")
_PHONE_BARE = re.compile(r"(?<![\w.+-])\d{10,11}(?![\w-]|\.\d)")
_PHONE_CONTEXT = re.compile(
    r"\b(?:call|phone|tel|telephone|mobile|cell|whatsapp|sms|text me|fax|reach me|contact|ring|"
    r"tél|téléphone|portable|appelle[rz]?|rappele[rz]|telefon\w*|handy\w*|mobil\w*|anrufen|ruf|"
    r"teléfono|telefono|móvil|movil|llámame|llamame|cellulare|cel|signal|telegram)\b",
    re.IGNORECASE,
)
_NOT_PHONE_CONTEXT = re.compile(
    r"(?:\b(?:order|invoice|inv|ref|reference|(?<!caller\s)(?<!caller-)id|ticket|case|tracking|sku|part|serial|account|"
    r"acct|confirmation|booking|po|item|model|build|txn|transaction|isbn)"
    r"(?:\s*(?:number|no\.?|id|#))?|#)[\s:#.]*$",
    re.IGNORECASE,
)

_DATE_LIKE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}$")
#: North American toll-free area codes (a business's line, not a person's) and 555, an area
#: code never assigned to a place (the fictional "(555) 010-0123" of films and examples).
_TOLL_FREE = frozenset({"800", "833", "844", "855", "866", "877", "888", "555"})


def _toll_free(digits: str, international: bool) -> bool:
    """A +1 (or national NANP) number in a toll-free or the fictional 555 area code."""
    if international:
        return len(digits) == 11 and digits[0] == "1" and digits[1:4] in _TOLL_FREE
    national = digits[1:] if len(digits) == 11 and digits[0] == "1" else digits
    return len(national) == 10 and national[:3] in _TOLL_FREE


def _before(text: str, start: int, width: int = 24) -> str:
    return text[max(0, start - width) : start]


#: A run of the characters phone numbers are written with, holding a digit. Every pattern
#: above matches inside one run (plus a "+" or "(" just before it), so the patterns run only
#: on the runs, not over the whole text (each starts with a look-behind, which makes re try it
#: at every position).
_RUN = re.compile(r"\d[\d ().+/-]*")


def _runs(text: str) -> list[tuple[int, int]]:
    """(pos, endpos) windows around each run of phone characters; endpos leaves two characters
    of context after the run for the patterns' look-aheads."""
    out = []
    n = len(text)
    for m in _RUN.finditer(text):
        start = m.start() - 1 if m.start() and text[m.start() - 1] in "(+" else m.start()
        if m.end() - start >= 5:  # no pattern matches fewer than five characters
            out.append((start, min(n, m.end() + 2)))
    return out


def _matches(
    pattern: re.Pattern[str], text: str, runs: list[tuple[int, int]]
) -> Iterator[re.Match[str]]:
    for pos, endpos in runs:
        yield from pattern.finditer(text, pos, endpos)


def find_phones(text: str) -> Iterator[Finding]:
    """Phone numbers in ``text`` (type ``phone``, all but the last two digits masked)."""
    seen: list[tuple[int, int]] = []
    patterns = (
        (_PHONE_INTL, False), (_PHONE_NANP, False), (_PHONE_UK_MOBILE, False),
        (_PHONE_FR, False), (_PHONE_BARE, True), (_PHONE_GROUPED, True),
    )  # fmt: skip
    runs = _runs(text)
    if not runs:
        return
    context: bool | None = None  # whether any phone word occurs, found when first needed
    for pattern, needs_context in patterns:
        if needs_context:
            if context is None:
                context = _PHONE_CONTEXT.search(text) is not None
            if not context:
                continue  # the context-only rules are moot
        for m in _matches(pattern, text, runs):
            if any(s < m.end() and m.start() < e for s, e in seen):
                continue
            before = _before(text, m.start())
            if _NOT_PHONE_CONTEXT.search(before):
                continue
            digits = re.sub(r"\D", "", m.group())
            if pattern is _PHONE_INTL:
                if not 8 <= len(digits) <= 15:
                    continue
            elif pattern is _PHONE_UK_MOBILE or pattern is _PHONE_FR:
                pass  # the pattern is the whole rule
            elif pattern is _PHONE_GROUPED:
                if not 9 <= len(digits) <= 12 or _DATE_LIKE.match(m.group()):
                    continue
            else:
                national = digits[1:] if len(digits) == 11 and digits[0] == "1" else digits
                if len(national) != 10 or national[0] in "01" or national[3] in "01":
                    continue
            if needs_context and not _PHONE_CONTEXT.search(_before(text, m.start(), 40)):
                continue
            if _toll_free(digits, international=m.group().startswith(("+", "00"))):
                continue
            seen.append((m.start(), m.end()))
            yield Finding(CHECK, "phone", m.start(), m.end(), redact(m.group(), keep_end=2))
