"""Response quality checks: refusals, and JSON that does not parse where JSON was asked for.

Examples
--------
>>> detect_refusal("I'm sorry, but I can't help with that request.").flagged
True
>>> detect_refusal("I can't wait to help! Here is the plan.").flagged
False
>>> check_json('{"ok": true}').flagged, check_json('{"ok": tru').flagged
(False, True)
"""

from __future__ import annotations

import json
import re

from mlwarden.stats.llm_findings import CheckResult, Finding, casefree, finditer_ci

__all__ = ["check_json", "detect_refusal"]

_I = re.IGNORECASE
_CANT = r"(?:can(?:'|’|no)?t|cannot|won'?t|will\s+not|am\s+(?:not\s+able|unable)\s+to|'m\s+(?:not\s+able|unable)\s+to)"
_VERBS = (
    r"(?:help(?!\s+but)|assist|provide|comply|do\s+(?:that|this)|fulfil+|create|generate|share|answer|"
    r"support|write|engage|give|produce|continue|discuss|participate|offer|complete)"
)
_REFUSALS: list[tuple[str, re.Pattern[str]]] = [
    ("sorry_cannot", re.compile(rf"\b(?:I(?:'m|’m|\s+am)\s+(?:really\s+|very\s+|so\s+)?sorry|sorry|"
                                rf"I\s+apologi[sz]e|unfortunately|afraid),?\s+(?:but\s+)?I\s*{_CANT}"
                                rf"(?:\s+{_VERBS}\b|\s*(?:[.!,;]|$))", _I)),
    ("cannot_help", re.compile(rf"\bI\s*{_CANT}\s+{_VERBS}\b", _I)),
    ("as_an_ai", re.compile(r"\bAs\s+an\s+AI(?:\s+(?:language\s+)?model|\s+assistant)?,?\s+I\s+"
                            r"(?:can(?:'|no)?t|cannot|don'?t|do\s+not|am\s+not\s+able|must\s+not)", _I)),
    ("decline", re.compile(r"\bI\s+(?:must|have\s+to|will\s+have\s+to)\s+(?:respectfully\s+|politely\s+)?"
                           r"(?:decline|refuse)\b", _I)),
    ("against_policy", re.compile(r"\b(?:(?:this|that|your)(?:\s+request)?|it)\s+(?:goes|would\s+go|is)\s+against\s+"
                                  r"(?:my|our|the|OpenAI's|Anthropic's)\s+(?:\w+\s+)?(?:guidelines|polic(?:y|ies)|"
                                  r"principles|terms)", _I)),
    ("not_allowed", re.compile(r"\bI(?:'m|’m|\s+am)\s+not\s+(?:able|allowed|permitted|comfortable|authorized)\s+to\s+"
                               rf"{_VERBS}\b", _I)),
    ("not_comfortable", re.compile(r"\bI(?:'m|’m|\s+am)\s+not\s+comfortable\s+(?:with\s+)?(?:generating|creating|"
                                   r"writing|providing|helping|sharing|discussing|producing|answering)\b", _I)),
    ("unable", re.compile(r"\b(?:I\s+am|I'm)?\s*unable\s+to\s+(?:comply|fulfil+|assist|help)\s+with\b", _I)),
]  # fmt: skip
_FAST = [casefree(p) for _, p in _REFUSALS]
#: Every refusal pattern contains one of these (a quick pre-check on the lowercased text).
_REFUSAL_TRIGGERS = (
    "can",
    "won",
    "will not",
    "unable",
    "not able",
    "decline",
    "refuse",
    "against",
    "not allowed",
    "not permitted",
    "not comfortable",
    "not authorized",
    "as an ai",
)
_HEDGE = re.compile(
    r"[^.!?\n]{0,60}?(?:,\s*but|\.\s*However,?)\s+(?:here|I\s+can|you\s+can|below)", _I
)


def detect_refusal(text: str, *, lead: int = 300) -> CheckResult:
    """Whether a response refuses. A refusal phrase within the first ``lead`` characters (or
    anywhere in a short response) flags it; one followed by an offer ("..., but here is ...")
    is a partial refusal, reported but not flagged.

    Examples
    --------
    >>> r = detect_refusal("As an AI language model, I cannot browse the internet.")
    >>> r.flagged, r.types
    (True, ['as_an_ai'])
    >>> r = detect_refusal("I can't provide exact figures, but here is an estimate: 42.")
    >>> r.flagged, r.types
    (False, ['partial_refusal'])
    >>> detect_refusal("The function cannot return null; I cannot stress this enough.").flagged
    False
    """
    if not text:
        return CheckResult("refusal", False)
    findings = []
    short = len(text) <= 2 * lead
    low = text.lower()
    if not any(t in low for t in _REFUSAL_TRIGGERS):
        return CheckResult("refusal", False)
    for (kind, pattern), fast in zip(_REFUSALS, _FAST, strict=True):
        for m in finditer_ci(pattern, fast, text, low):
            early = m.start() < lead or short
            hedged = _HEDGE.match(text, m.end()) is not None
            if hedged:
                kind_, score = "partial_refusal", 0.3
            else:
                kind_, score = kind, (0.9 if early else 0.4)
            findings.append(
                Finding("refusal", kind_, m.start(), m.end(), text[m.start() : m.end()][:80], score)
            )
    if not findings:
        return CheckResult("refusal", False)
    findings.sort(key=lambda f: (f.start, -f.end))
    kept: list[Finding] = []
    for f in findings:  # overlapping phrasings of one refusal count once
        if not kept or f.start >= kept[-1].end:
            kept.append(f)
    findings = kept
    score = max(f.score for f in findings)
    return CheckResult("refusal", score >= 0.5, score, tuple(findings))


_FENCE = re.compile(r"^\s*```(?:json|JSON)?[ \t]*\n(.*?)\n?```\s*$", re.DOTALL)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def check_json(text: str, *, allow_fences: bool = True) -> CheckResult:
    """Whether a response that should be JSON parses as strict JSON (no NaN, no trailing text).
    With ``allow_fences``, one Markdown code fence around it is accepted (reported as a finding).

    Examples
    --------
    >>> check_json('```json\\n[1, 2]\\n```').types
    ['fenced']
    >>> r = check_json('Sure! {"a": 1}')
    >>> r.flagged, r.findings[0].type, r.findings[0].start
    (True, 'invalid_json', 0)
    """
    body, offset, fenced = text, 0, False
    if allow_fences:
        m = _FENCE.match(text)
        if m:
            body, offset, fenced = m.group(1), m.start(1), True
    try:
        json.loads(body, parse_constant=_reject_constant)
    except ValueError as exc:
        pos = getattr(exc, "pos", 0) or 0
        msg = getattr(exc, "msg", str(exc))
        where = offset + pos
        return CheckResult(
            "json", True, 1.0, (Finding("json", "invalid_json", where, where + 1, msg[:80]),)
        )
    findings = (Finding("json", "fenced", 0, len(text), "```json ... ```", 0.0),) if fenced else ()
    return CheckResult("json", False, 0.0, findings)
