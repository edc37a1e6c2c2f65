"""Annotations: a deploy, a note or an incident marked at a time on a model's (or a project's)
charts.

A CI/CD pipeline marks a deploy (``mlwarden annotate``, ``monitor.annotate(...)``, ``POST
/v1/models/{m}/annotations``); a person adds a note from the UI. Every time chart of the
model draws them as vertical markers. :class:`AnnotationIn` is what a caller sends,
:class:`Annotation` what is stored (with its id, project, model, author and creation time).

Examples
--------
>>> a = AnnotationIn(text="deploy v2", kind="deploy", time="2026-03-01T12:00:00")
>>> a.kind.value, a.time.isoformat()
('deploy', '2026-03-01T12:00:00+00:00')
>>> AnnotationIn(text="  ")
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for AnnotationIn
text
  Value error, The 'text' field must be 1-500 characters (not only spaces). Got '  ' instead. ...
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from mlwarden.errors import expected
from mlwarden.schema.limits import time_problem

__all__ = ["MAX_AUTHOR", "MAX_TEXT", "Annotation", "AnnotationIn", "AnnotationKind"]

#: Longest annotation text (a marker's label and tooltip; a short sentence, not a report).
MAX_TEXT = 500
#: Longest author name.
MAX_AUTHOR = 100


class AnnotationKind(StrEnum):
    """What an annotation marks (the marker's colour and label)."""

    DEPLOY = "deploy"
    NOTE = "note"
    INCIDENT = "incident"
    CONFIG = "config"
    DATA = "data"


def _aware(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


class AnnotationIn(BaseModel):
    """An annotation as sent: ``time`` (default: now; naive times are UTC), an optional
    ``end`` (a span: a rollout, a maintenance window), ``text``, ``kind`` and ``author``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # the bounds are checked by the validators below (in our wording); declared for OpenAPI
    text: str = Field(json_schema_extra={"minLength": 1, "maxLength": MAX_TEXT, "pattern": r"\S"})
    kind: AnnotationKind = AnnotationKind.NOTE
    time: datetime | None = None
    end: datetime | None = None
    author: str = Field("", json_schema_extra={"maxLength": MAX_AUTHOR})

    @field_validator("text")
    @classmethod
    def _text(cls, v: str) -> str:
        t = v.strip()
        if not t or len(v) > MAX_TEXT:
            raise ValueError(
                expected("field", "text", f"be 1-{MAX_TEXT} characters (not only spaces)", v)
            )
        return t

    @field_validator("author")
    @classmethod
    def _author(cls, v: str) -> str:
        t = v.strip()
        if len(v) > MAX_AUTHOR:
            raise ValueError(expected("field", "author", f"be at most {MAX_AUTHOR} characters", v))
        return t

    @field_validator("time", "end", mode="before")
    @classmethod
    def _iso(cls, v: object, info: ValidationInfo) -> object:
        if v is None or isinstance(v, (str, datetime)):
            return v  # a number is not read as epoch seconds: ISO 8601 only
        raise ValueError(expected("field", str(info.field_name), "be an ISO 8601 time", v))

    @field_validator("time", "end")
    @classmethod
    def _in_range(cls, v: datetime | None, info: ValidationInfo) -> datetime | None:
        if v is None:
            return None
        t = _aware(v)
        problem = time_problem(t)
        if problem:
            raise ValueError(f"The {info.field_name!r} field {problem}")
        return t

    @model_validator(mode="after")
    def _order(self) -> AnnotationIn:
        if self.end is not None and self.end <= (self.time or datetime.now(UTC)):
            raise ValueError(
                expected("field", "end", "be after the annotation's 'time'", self.end.isoformat())
            )
        return self


class Annotation(BaseModel):
    """A stored annotation; ``model`` None: it belongs to the whole project."""

    model_config = ConfigDict(frozen=True)

    id: int
    project: str
    model: str | None
    time: datetime
    end: datetime | None
    text: str
    kind: AnnotationKind
    author: str
    created_at: datetime
