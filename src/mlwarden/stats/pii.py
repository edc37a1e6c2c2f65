"""Personal data and secrets in text, found by patterns plus checksums (no model, no download).

Each candidate a pattern finds must also pass the validation its kind allows,
which is what keeps false alarms down on the numbers LLM traffic is full of
(order ids, dates, versions, amounts):

==============  =================================================================
type            validation
==============  =================================================================
email           local part, ``@``, a dotted domain with an alphabetic TLD; not a
                placeholder at a documentation domain (example.com, .test), nor a
                role mailbox (billing@, kundenservice@, security-audit@)
phone           ``+`` or ``00`` country code, or a NANP number (area and exchange
                2-9) with separators; a UK mobile (07xxx xxxxxx); a French
                number (0X XX XX XX XX); bare digit runs and other grouped
                national numbers (9-12 digits) only after words like "call",
                "tel", "Handy", "portable", "móvil"; never right after
                "order", "invoice", "ref", "id", "#", ...
credit_card     13-19 digits, a known issuer prefix, the Luhn checksum, not one
                repeated digit
iban            country code, check digits, the ISO 13616 mod-97 checksum and the
                country's length
ip_address      IPv4 with octets 0-255 (not a version number, nor after "update
                to" unless a network word comes between; not loopback 127.x,
                0.0.0.0, a netmask or a CIDR block), IPv6 parsed by :mod:`ipaddress` (not ::1)
us_ssn          ``AAA-GG-SSSS`` outside the never-issued ranges (area 000, 666,
                900-999; group 00; serial 0000; advertised sample numbers)
uk_nino         UK National Insurance number with its prefix exclusions
secret          AWS access keys, GitHub tokens, ``sk-`` API keys, Slack tokens,
                Google API keys, Stripe keys, private key blocks, JWTs whose
                header decodes to JSON with ``alg``
personal        dates of birth, passport numbers and full names, by the words
                around them ("date of birth", "passport no.", "my name is",
                "Name:", "Dr."): :mod:`mlwarden.stats.pii_personal`
address         a house number, capitalised street-name words and a street
                type ("742 Evergreen Terrace"); "47 rue de Rivoli";
                "Hauptstraße 5"; PO boxes
==============  =================================================================

Examples
--------
>>> r = find_pii("Card 4111 1111 1111 1111, order #415-555-0199, mail bo@acme.io")
>>> [(f.type, f.preview) for f in r.findings]
[('credit_card', '**** **** **** 1111'), ('email', 'b*@a***.io')]
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Iterator

from mlwarden.stats.llm_findings import CheckResult, Finding, redact
from mlwarden.stats.pii_address import find_addresses
from mlwarden.stats.pii_personal import find_personal
from mlwarden.stats.pii_phone import find_phones

__all__ = ["PII_TYPES", "find_pii", "iban_valid", "luhn_valid"]

CHECK = "pii"

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,24}(?![\w-]|:[\w/~])"  # not an SSH remote (git@github.com:org/repo)
)
_CARD = re.compile(r"(?<![\w.-])(?:\d[ -]?){12,18}\d(?![\w-]|\.\d)")
_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![A-Za-z0-9])"
)
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_VERSION_CONTEXT = re.compile(
    r"(?:\bv|\bversion|\bver\.?|\brelease|\bbuild|\bsection|\bchapter|\bclause|§)\s*$",
    re.IGNORECASE,
)
#: "update to 10.4.2.1", "after upgrading the driver to ...": a version, unless the words in
#: between name a network thing ("update the DNS record to 203.0.113.7").
_UPGRADE_TO = re.compile(
    r"\b(?:updat|upgrad|downgrad|bump|roll(?:ed|ing)?\s+back|patch|pin|migrat)\w*"
    r"(?P<between>(?:\s+[\w.-]+){0,4}?)\s+to\s*$",
    re.IGNORECASE,
)
_NETWORK_NOUNS = re.compile(
    r"\b(?:ip|ips|address|host|hosts|server|dns|record|gateway|subnet|route|proxy|endpoint|node|"
    r"box|machine|interface|nameserver|resolver|peer|firewall|allowlist|whitelist)\b",
    re.IGNORECASE,
)
_RELEASE_AFTER = re.compile(
    r"\s*(?:build|release|version|update|upgrade|patch|is\s+out|was\s+released|ships)\b",
    re.IGNORECASE,
)
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_TIME = re.compile(r"^\d{1,2}:\d{2}(?::\d{2})?$")
_SSN = re.compile(r"(?<![\w-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w-])")
_SSN_BARE = re.compile(r"(?<![\w-])(\d{3})(\d{2})(\d{4})(?![\w-])")
_SSN_CONTEXT = re.compile(
    r"\b(?:ssn|social\s+security)\b(?:\s*(?:number|no\.?|#))?[\s:#=.]*$", re.IGNORECASE
)
_NINO = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2}) ?(\d{2}) ?(\d{2}) ?(\d{2}) ?([A-D])(?![A-Za-z0-9])")
_SECRETS: list[tuple[str, re.Pattern[str], int]] = [
    (
        "aws_access_key",
        re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}(?![A-Z0-9])"),
        4,
    ),
    (
        "aws_secret_key",
        re.compile(
            r"(?i:aws_?secret_?access_?key|aws_?secret)[\"']?\s*[:=]\s*[\"']?"
            r"([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"
        ),
        0,
    ),
    (
        "github_token",
        re.compile(r"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{36,255}(?![A-Za-z0-9_])"),
        4,
    ),
    ("github_token", re.compile(r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{60,255}"), 11),
    (
        "api_key",
        re.compile(r"(?<![A-Za-z0-9_-])sk-(?:proj-|ant-|live-|svcacct-)?[A-Za-z0-9_-]{20,}"),
        3,
    ),
    ("slack_token", re.compile(r"(?<![A-Za-z0-9])xox[abprs]-[A-Za-z0-9-]{10,}"), 5),
    ("google_api_key", re.compile(r"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])"), 4),
    ("stripe_key", re.compile(r"(?<![A-Za-z0-9_])(?:sk|rk)_live_[0-9A-Za-z]{16,}"), 8),
    (
        "private_key",
        re.compile(
            r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----"
            r"(?:[\s\S]{0,8000}?-----END [A-Z ]*PRIVATE KEY(?: BLOCK)?-----)?"
        ),
        0,
    ),
    (
        "jwt",
        re.compile(
            r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
        ),
        3,
    ),
]

# ISO 13616 lengths of the countries most seen; others need 15-34 characters and the checksum.
_IBAN_LENGTH = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20,
    "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18,
    "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30,
    "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24,
    "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28,
    "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24,
    "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip
_NINO_BAD_PREFIX = {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}
_SSN_SAMPLES = {"078051120", "219099999", "123456789"}


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) checksum of a digit string, as payment card numbers carry.

    Examples
    --------
    >>> luhn_valid("4111111111111111"), luhn_valid("4111111111111112")
    (True, False)
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """ISO 13616: country length (where known) and the mod-97 checksum equal to 1.

    Examples
    --------
    >>> iban_valid("GB82 WEST 1234 5698 7654 32"), iban_valid("GB82 WEST 1234 5698 7654 33")
    (True, False)
    """
    s = iban.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", s):
        return False
    want = _IBAN_LENGTH.get(s[:2])
    if want is not None and len(s) != want:
        return False
    moved = s[4:] + s[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


def _card_issuer_ok(d: str) -> bool:
    n = len(d)
    if d[0] == "4":
        return n in (13, 16, 19)
    two, four = int(d[:2]), int(d[:4])
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16
    if two in (34, 37):
        return n == 15
    if d.startswith("6011") or two == 65 or 644 <= int(d[:3]) <= 649:
        return n in (16, 19)
    if 3528 <= four <= 3589:
        return 16 <= n <= 19
    if two in (36, 38, 39) or 300 <= int(d[:3]) <= 305:
        return 14 <= n <= 19
    if two == 62:
        return 16 <= n <= 19
    return False


def _before(text: str, start: int, width: int = 24) -> str:
    return text[max(0, start - width) : start]


#: Domains reserved for documentation (RFC 2606, RFC 6761): an address there is a placeholder
#: when its local part is generic ("user@example.com") or the text around it is documentation.
_RESERVED_DOMAIN = re.compile(
    r"(?:^|\.)(?:example\.(?:com|net|org)|example|test|invalid|localhost)$"
)
_GENERIC_LOCAL = frozenset(
    {"user", "username", "name", "yourname", "your.name", "your-name", "you", "your_email",
     "youremail", "your.email", "email", "mail", "foo", "bar", "baz", "test", "tester", "someone",
     "somebody", "example", "sample", "firstname.lastname", "first.last", "noreply", "no-reply",
     "donotreply", "me", "address", "placeholder", "info", "contact", "hello"}
)  # fmt: skip
_DOC_CONTEXT = re.compile(
    r"\b(?:e\.g\.|for\s+example|for\s+instance|such\s+as|placeholder|format|syntax|replace|"
    r"config\w*|settings?|env|variable|docs?|documentation|demo|sample|template|tutorial)\b"
)  # run on lowercased text
_ENV_ASSIGN = re.compile(r"[A-Za-z_]{3,}=\Z")


#: Words that make a mailbox a role's, not a person's ("billing@", "kundenservice@",
#: "security-audit@"): a local part made only of these (and digits) is not personal data.
_ROLE_WORDS = frozenset(
    {"support", "help", "helpdesk", "service", "services", "customerservice", "customercare",
     "care", "kundenservice", "kundendienst", "serviceclient", "soporte", "assistenza",
     "atencion", "billing", "invoice", "invoices", "invoicing", "accounts", "accounting",
     "finance", "payments", "payment", "payroll", "sales", "info", "information", "contact",
     "kontakt", "contacto", "contatto", "hello", "office", "admin", "administrator",
     "webmaster", "postmaster", "hostmaster", "abuse", "security", "privacy", "dpo", "legal",
     "compliance", "audit", "hr", "jobs", "careers", "recruiting", "recruitment", "team",
     "facilities", "it", "noreply", "no", "reply", "donotreply", "do", "not", "newsletter",
     "news", "marketing", "press", "media", "orders", "order", "shop", "store", "returns",
     "shipping", "archive", "archiv", "notifications", "alerts", "feedback", "enquiries",
     "inquiries", "reception", "bookings", "booking", "reservations", "operations", "ops",
     "devops", "mailer", "bounce", "community", "partners", "procurement", "purchasing",
     "ventas", "facturation", "facturas", "rechnung", "rechnungen", "buchhaltung", "verwaltung",
     "empfang", "staff", "all", "everyone", "general", "desk", "mail", "updates", "update",
     "verify", "verification", "notify", "system", "reports", "report",
     "servicedesk", "helpline", "customers", "customer", "clients", "client", "members", "payable",
     "receivable"}
)  # fmt: skip


def _role_mailbox(local: str) -> bool:
    words = [w for w in re.split(r"[._+\-\d]+", local.lower()) if w]
    return bool(words) and all(w in _ROLE_WORDS for w in words)


def _placeholder_email(text: str, start: int, end: int, local: str, domain: str) -> bool:
    if _role_mailbox(local):
        return True
    if not _RESERVED_DOMAIN.search(domain.lower()):
        return False
    if local.lower() in _GENERIC_LOCAL:
        return True
    around = text[max(0, start - 60) : start] + " " + text[end : end + 60]
    return _DOC_CONTEXT.search(around.lower()) is not None or (
        around.endswith("=") and _ENV_ASSIGN.search(around) is not None
    )


# "jsmith at example dot com", "jane [at] mail [dot] de": an address spelled out against
# scrapers; only after a word that offers it ("email", "reach me", "write to").
_EMAIL_SPELLED = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][\w.+-]{1,63}(?:\s+dot\s+[\w+-]{1,63})*\s*(?:\[at\]|\(at\)|\s+at\s+)\s*[A-Za-z0-9-]{2,63}"
    r"(?:\s*(?:\[dot\]|\(dot\)|\s+dot\s+|\.)\s*[A-Za-z0-9-]{2,63})*"
    r"\s*(?:\[dot\]|\(dot\)|\s+dot\s+)\s*[A-Za-z]{2,6}\b",
    re.IGNORECASE,
)
_EMAIL_OFFER = re.compile(
    r"\b(?:e-?mail|mail|write|reach|contact|send|message|ping|correo|courriel|schreib)\w*\b",
    re.IGNORECASE,
)


def _emails(text: str) -> Iterator[Finding]:
    low = text.lower()
    if "dot" in low and (" at " in low or "[at]" in low or "(at)" in low):
        for m in _EMAIL_SPELLED.finditer(text):
            if _EMAIL_OFFER.search(_before(text, m.start(), 40)):
                yield Finding(CHECK, "email", m.start(), m.end(), redact(m.group(), keep_start=1))
    for m in _EMAIL.finditer(text):
        local, _, domain = m.group().partition("@")
        if _placeholder_email(text, m.start(), m.end(), local, domain):
            continue
        host, _, tld = domain.rpartition(".")
        preview = (
            f"{redact(local, keep_start=1, limit=6)}@{redact(host, keep_start=1, limit=6)}.{tld}"
        )
        yield Finding(CHECK, "email", m.start(), m.end(), preview)


def _card_in(raw: str) -> tuple[int, int] | None:
    """Offsets of a valid card number inside a digit run (whole, or whole separator groups)."""
    tokens = [(m.start(), m.end()) for m in re.finditer(r"\d+", raw)]
    for i in range(len(tokens)):
        for j in range(len(tokens), i, -1):
            start, end = tokens[i][0], tokens[j - 1][1]
            digits = re.sub(r"\D", "", raw[start:end])
            if not 13 <= len(digits) <= 19:
                continue
            if len(set(digits)) > 1 and _card_issuer_ok(digits) and luhn_valid(digits):
                return start, end
    return None


#: The card networks' and payment processors' published test numbers: personal data when
#: given as someone's card, not when a text documents them as test numbers.
_TEST_CARDS = frozenset(
    {"4242424242424242", "4111111111111111", "5555555555554444", "378282246310005",
     "6011111111111117", "4012888888881881", "5105105105105100", "4000056655665556",
     "371449635398431", "3530111333300000"}
)  # fmt: skip
_TEST_CONTEXT = re.compile(
    r"\b(?:test\s+(?:cards?|numbers?|mode|environment|data|keys?)|testing|sandbox|documented|"
    r"documentation|dummy\s+(?:cards?|numbers?)|sample\s+(?:cards?|numbers?))\b",
    re.IGNORECASE,
)


def _cards(text: str) -> Iterator[Finding]:
    for m in _CARD.finditer(text):
        span = _card_in(m.group())
        if span is None:
            continue
        digits = re.sub(r"\D", "", m.group()[span[0] : span[1]])
        if digits in _TEST_CARDS and _TEST_CONTEXT.search(
            text, max(0, m.start() - 60), m.end() + 60
        ):
            continue
        raw = m.group()[span[0] : span[1]]
        preview = re.sub(r"\d", "*", raw[:-4]) + raw[-4:]
        yield Finding(CHECK, "credit_card", m.start() + span[0], m.start() + span[1], preview)


def _ibans(text: str) -> Iterator[Finding]:
    for m in _IBAN.finditer(text):
        if iban_valid(m.group()):
            compact = m.group().replace(" ", "")
            yield Finding(
                CHECK, "iban", m.start(), m.end(), redact(compact, keep_start=2, keep_end=4)
            )


def _ips(text: str) -> Iterator[Finding]:
    for m in _IPV4.finditer(text):
        parts = m.group().split(".")
        if any(int(p) > 255 or (len(p) > 1 and p[0] == "0") for p in parts):
            continue
        if not _personal_ipv4(parts) or re.match(r"/\d{1,2}\b", text[m.end() : m.end() + 3]):
            continue  # names no machine, or a network block (10.0.0.0/8)
        if parts[3] == "0" and _RELEASE_AFTER.match(text, m.end()):
            continue  # "PostgreSQL 16.2.1.0 build is out": a release, not a network
        if _VERSION_CONTEXT.search(_before(text, m.start(), 12)):
            continue
        upgrade = _UPGRADE_TO.search(_before(text, m.start(), 60))
        if upgrade and not _NETWORK_NOUNS.search(upgrade.group("between")):
            continue
        yield Finding(CHECK, "ip_address", m.start(), m.end(), parts[0] + ".*.*.*")
    for m in _IPV6.finditer(text):
        s = m.group()
        if s.count(":") < 2 or not any(c.isdigit() for c in s) or _TIME.match(s):
            continue
        try:
            v6 = ipaddress.IPv6Address(s)
        except ValueError:
            continue
        if v6.is_loopback or v6.is_unspecified:
            continue
        yield Finding(CHECK, "ip_address", m.start(), m.end(), redact(s))


def _personal_ipv4(parts: list[str]) -> bool:
    """Not an address that names no machine: loopback (127.x), unspecified (0.0.0.0), or a
    netmask (255.255.255.0: ones then zeros)."""
    value = int.from_bytes(bytes(int(p) for p in parts), "big")
    if parts[0] in ("127", "0"):
        return False
    inverted = ~value & 0xFFFFFFFF
    return not (parts[0] == "255" and inverted & (inverted + 1) == 0)


def _ssn_ok(area: str, group: str, serial: str) -> bool:
    a = int(area)
    return (
        a != 0
        and a != 666
        and a < 900
        and group != "00"
        and serial != "0000"
        and area + group + serial not in _SSN_SAMPLES
    )


def _national_ids(text: str) -> Iterator[Finding]:
    for m in _SSN.finditer(text):
        area, _, group, serial = m.groups()
        if _ssn_ok(area, group, serial):
            yield Finding(CHECK, "us_ssn", m.start(), m.end(), "***-**-" + serial)
    for m in _SSN_BARE.finditer(text):
        if _SSN_CONTEXT.search(_before(text, m.start(), 30)) and _ssn_ok(*m.groups()):
            yield Finding(CHECK, "us_ssn", m.start(), m.end(), "*****" + m.group(3))
    for m in _NINO.finditer(text):
        prefix = m.group(1)
        if (
            prefix[0] in "DFIQUV"
            or prefix[1] in "DFIOQUV"
            or prefix in _NINO_BAD_PREFIX
            or prefix[0] == "O"
        ):
            continue
        yield Finding(CHECK, "uk_nino", m.start(), m.end(), redact(m.group(), keep_start=2))


def _jwt_ok(token: str) -> bool:
    head = token.split(".", 1)[0]
    try:
        decoded = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))
        header = json.loads(decoded)
    except (binascii.Error, ValueError):
        return False
    return isinstance(header, dict) and "alg" in header


_SECRET_TRIGGERS = {
    "aws_access_key": ("AKIA", "ASIA", "ABIA", "ACCA"),
    "aws_secret_key": ("secret", "SECRET", "Secret"),
    "github_token": ("gh", "github_pat_"),
    "api_key": ("sk-",),
    "slack_token": ("xox",),
    "google_api_key": ("AIza",),
    "stripe_key": ("_live_",),
    "private_key": ("PRIVATE KEY",),
    "jwt": ("eyJ",),
}


def _secrets(text: str) -> Iterator[Finding]:
    for kind, pattern, keep in _SECRETS:
        if not any(t in text for t in _SECRET_TRIGGERS[kind]):
            continue
        for m in pattern.finditer(text):
            start, end = (m.start(1), m.end(1)) if pattern.groups else (m.start(), m.end())
            s = text[start:end]
            if kind == "api_key":
                tail = s.rsplit("-", 1)[-1] if s.count("-") > 1 else s[3:]
                if not (any(c.isdigit() for c in s[3:]) and any(c.isalpha() for c in tail)):
                    continue
            if kind == "jwt" and not _jwt_ok(s):
                continue
            preview = (
                "-----BEGIN PRIVATE KEY-----..."
                if kind == "private_key"
                else redact(s, keep_start=keep)
            )
            yield Finding(CHECK, f"secret:{kind}", start, end, preview)


_DETECTORS: dict[str, Callable[[str], Iterable[Finding]]] = {
    "email": _emails,
    "phone": find_phones,
    "credit_card": _cards,
    "iban": _ibans,
    "ip_address": _ips,
    "national_id": _national_ids,
    "secret": _secrets,
    "address": find_addresses,
    "personal": find_personal,
}
#: The groups of personal data :func:`find_pii` looks for (its ``types`` argument).
PII_TYPES: tuple[str, ...] = tuple(_DETECTORS)


def find_pii(text: str, *, types: Iterable[str] | None = None) -> CheckResult:
    """Personal data and secrets in ``text``; each finding has its type, offsets and a masked
    preview. ``types`` limits the search to some of :data:`PII_TYPES`.

    Overlapping findings keep the more specific one (a card number is not also a phone number).

    Examples
    --------
    >>> find_pii("my ssn is 219-09-9998 and key AKIAIOSFODNN7EXAMPLE").types
    ['secret:aws_access_key', 'us_ssn']
    >>> find_pii("Invoice INV-2024-000123, order #4155550199, version 1.2.3.4").flagged
    False
    >>> find_pii("x", types=["fax"])
    Traceback (most recent call last):
    ...
    mlwarden.errors.ConfigError: The 'types' argument must be a subset of email, phone, credit_card, iban, ip_address, national_id, secret, address, personal. Got ['fax'] instead.
    """  # noqa: E501
    chosen = PII_TYPES if types is None else tuple(types)
    unknown = [t for t in chosen if t not in _DETECTORS]
    if unknown:
        from mlwarden.errors import ConfigError, expected

        raise ConfigError(
            expected("argument", "types", f"be a subset of {', '.join(PII_TYPES)}", unknown)
        )
    if not text:
        return CheckResult(CHECK, False)
    # most specific first: secrets and checksummed numbers win overlaps over phones and IPs
    order = (
        "secret", "credit_card", "iban", "national_id", "email", "ip_address", "personal",
        "phone", "address",
    )  # fmt: skip
    found: list[Finding] = []
    for group in order:
        if group not in chosen:
            continue
        for f in _DETECTORS[group](text):
            if not any(g.start < f.end and f.start < g.end for g in found):
                found.append(f)
    found.sort(key=lambda f: (f.start, f.end))
    return CheckResult(CHECK, bool(found), 1.0 if found else 0.0, tuple(found))
