"""The bounded input types every router's payloads are built from (unknown fields, oversized
text, control characters and out-of-range integers are refused with a 422 naming the field), and
the error answers every operation declares."""
import re
from typing import Annotated

from ninja import Field, Path, Query, Schema
from pydantic import AfterValidator, ConfigDict

# Primary keys are signed 64-bit on SQLite and PostgreSQL: a larger id can name nothing.
ID_MAX = 2**63 - 1
_LINE_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# The same rules as JSON Schema patterns, so the OpenAPI schema says what is accepted.
LINE_PATTERN = r"^[^\x00-\x1f\x7f]*$"
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


def _refuse(pattern, message):
    def check(value):
        if value is not None and pattern.search(value):
            raise ValueError(message)
        return value

    return AfterValidator(check)


def Line(max_length, *, pattern=None, **extra):  # noqa: N802 - reads as a type in a schema
    """One line of text: at most ``max_length`` characters, no control characters.

    ``pattern`` only documents a stricter rule that the action checks itself (so its message
    stays the action's own, naming the field the way the rest of its errors do)."""
    return Annotated[str, Field(max_length=max_length,
                                json_schema_extra={"pattern": pattern or LINE_PATTERN}, **extra),
                     _refuse(_LINE_CONTROL, "Control characters are not allowed.")]


def Text(max_length, **extra):  # noqa: N802 - reads as a type in a schema
    """Free text (tabs and line breaks allowed), no other control characters."""
    return Annotated[str, Field(max_length=max_length,
                                json_schema_extra={"pattern": TEXT_PATTERN}, **extra),
                     _refuse(_TEXT_CONTROL, "Control characters are not allowed.")]


Id = Annotated[int, Field(ge=1, le=ID_MAX)]
PathId = Annotated[int, Path(ge=1, le=ID_MAX)]
QueryPage = Annotated[int, Query(ge=1, le=1_000_000)]


class StrictSchema(Schema):
    """Every request payload: a field it does not know is an error, never silently dropped."""

    model_config = ConfigDict(extra="forbid")


class ErrorOut(Schema):
    detail: str = Field(..., description='The first problem; "<field>: message" for bad input.')
    errors: dict[str, str] | None = Field(None, description="Every bad field and its message.")
    field: str | None = None
    code: str | None = None


# What each operation can answer besides its success: declared so the OpenAPI schema is honest.
READ_ERRORS = {401: ErrorOut, 404: ErrorOut, 422: ErrorOut}
WRITE_ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut,
                413: ErrorOut, 422: ErrorOut, 503: ErrorOut}
