"""The form of `POST /imports/upload`: text fields and one file part, parsed with werkzeug."""

from __future__ import annotations

import io
from typing import IO

from trackly.errors import BadRequest, PayloadTooLarge, Unprocessable, UnsupportedMediaType

FILE_FIELD = "file"


def _in_memory(
    total_content_length: int | None,
    content_type: str | None,
    filename: str | None,
    content_length: int | None = None,
) -> IO[bytes]:
    return io.BytesIO()  # the body is already in memory (and bounded by the endpoint)


def parse(body: bytes, content_type_header: str | None, *, limit: int) -> tuple[dict[str, str], bytes]:
    """The text fields and the bytes of the one part named `file`."""
    from werkzeug.exceptions import RequestEntityTooLarge
    from werkzeug.formparser import FormDataParser
    from werkzeug.http import parse_options_header

    mimetype, options = parse_options_header(content_type_header or "")
    if mimetype.lower() != "multipart/form-data":
        raise UnsupportedMediaType(
            f"Send the import as multipart/form-data (got '{mimetype[:100] or 'no content type'}')."
        )
    if not options.get("boundary"):
        raise BadRequest("The multipart/form-data content type has no boundary parameter.")
    parser = FormDataParser(
        stream_factory=_in_memory,
        max_form_memory_size=64 * 1024,
        max_content_length=limit,
        max_form_parts=20,
        silent=False,
    )
    try:
        _stream, form, files = parser.parse(io.BytesIO(body), "multipart/form-data", len(body), options)
    except RequestEntityTooLarge:
        raise PayloadTooLarge(f"The request is larger than the limit of {limit} bytes.") from None
    except ValueError:
        raise BadRequest("The multipart/form-data body is malformed.") from None
    parts = files.getlist(FILE_FIELD)
    if len(parts) != 1:
        raise Unprocessable(
            f"Send exactly one file in a part named '{FILE_FIELD}'.",
            errors=[{"loc": f"body.{FILE_FIELD}", "msg": "Exactly one file is required.", "type": "missing"}],
        )
    stream = parts[0].stream
    data = stream.getvalue() if isinstance(stream, io.BytesIO) else stream.read()
    return {key: str(form.get(key)) for key in form}, data
