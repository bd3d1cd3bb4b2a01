"""Turn an uploaded file into plain text for chunking.

PDF (pypdf), DOCX (python-docx) and HTML (selectolax) by their parsers; JSON is checked to be
JSON; Markdown, CSV, source code and any other UTF-8 text are taken as they are. The parser is
chosen by the extension, but a PDF or DOCX name is believed only when the bytes start as such a
file does: platforms hand out a document's parsed text under its original name
(``manual.pdf``), and that text is read as text. A file that cannot be read raises
``ParseError`` with OpenAI's ``last_error`` code: ``invalid_file`` (broken or empty) or
``unsupported_file`` (binary of a kind we do not read).
"""

from __future__ import annotations

import io
import json
from pathlib import PurePath

from homeport.errors import HomeportError


class ParseError(HomeportError):
    status_code = 400
    type = "invalid_request_error"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


def _suffix(filename: str) -> str:
    return PurePath(filename).suffix.lower()


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM) or BOM-marked UTF-16; anything else is not text."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    elif b"\x00" not in data:
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            pass
    raise ParseError(
        "unsupported_file",
        "The file is neither UTF-8 text nor a supported document (PDF, DOCX, HTML).",
    )


def _pdf(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ParseError("invalid_file", f"The PDF could not be read: {exc}") from exc
    return "\n\n".join(p.strip() for p in pages if p.strip())


def _docx(data: bytes) -> str:
    import zipfile

    from docx import Document
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ParseError("invalid_file", f"The DOCX file could not be read: {exc}") from exc
    parts = [p.text for p in document.paragraphs if p.text.strip()]
    for table in document.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text.strip() for cell in row.cells))
    return "\n\n".join(parts)


def _html(data: bytes) -> str:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(decode_text(data))
    for node in tree.css("script, style, noscript, template"):
        node.decompose()
    root = tree.body or tree.root
    if root is None:
        return ""
    lines = (line.strip() for line in root.text(separator="\n").splitlines())
    return "\n".join(line for line in lines if line)


def _json(data: bytes) -> str:
    text = decode_text(data)
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError("invalid_file", f"The file is not valid JSON: {exc}") from exc
    return text


_MAGIC = {".pdf": b"%PDF-", ".docx": b"PK\x03\x04"}
"""How files of a binary format begin (a PDF may have up to 1 KiB of junk before its header)."""


def _looks_like(suffix: str, data: bytes) -> bool:
    magic = _MAGIC.get(suffix)
    return magic is None or magic in data[: 1024 + len(magic)]


_PARSERS = {
    ".pdf": _pdf,
    ".docx": _docx,
    ".html": _html,
    ".htm": _html,
    ".json": _json,
}


def parse(data: bytes, filename: str) -> str:
    """The text of a file, chosen by its extension; ``ParseError`` if there is none."""
    if not data:
        raise ParseError("invalid_file", "The file is empty.")
    suffix = _suffix(filename)
    reader = _PARSERS.get(suffix, decode_text) if _looks_like(suffix, data) else decode_text
    text = reader(data)
    if not text.strip():
        raise ParseError("invalid_file", "The file contains no text to index.")
    return text
