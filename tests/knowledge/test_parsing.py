"""Parsing: each supported kind yields its text; bad files raise ParseError with OpenAI's code."""

from __future__ import annotations

import io
import json

import pytest

from homeport.knowledge.parsing import ParseError, parse


def _docx(paragraphs: list[str], table: list[list[str]]) -> bytes:
    from docx import Document

    document = Document()
    for text in paragraphs:
        document.add_paragraph(text)
    grid = document.add_table(rows=len(table), cols=len(table[0]))
    for r, row in enumerate(table):
        for c, cell in enumerate(row):
            grid.cell(r, c).text = cell
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _pdf(text: str) -> bytes:
    """A one-page PDF with ``text`` in Helvetica, written by hand (no PDF writer needed)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def test_text_markdown_code_and_csv_are_taken_as_they_are() -> None:
    assert parse(b"# Title\n\nBody", "a.md") == "# Title\n\nBody"
    assert parse("def f():\n    return 'é'\n".encode(), "f.py") == "def f():\n    return 'é'\n"
    assert parse(b"name,age\nada,36\n", "people.csv") == "name,age\nada,36\n"
    assert parse("\ufeffbom text".encode(), "notes") == "bom text"
    assert parse("utf16 text".encode("utf-16"), "u.txt") == "utf16 text"


def test_html_keeps_visible_text_only() -> None:
    html = (
        b"<html><head><style>p{}</style><script>alert(1)</script></head><body><h1>Hi</h1>"
        b"<p>Visible <b>text</b></p></body></html>"
    )
    assert parse(html, "page.html") == "Hi\nVisible\ntext"


def test_json_must_be_json() -> None:
    assert json.loads(parse(b'{"a": [1, 2]}', "data.json")) == {"a": [1, 2]}
    with pytest.raises(ParseError) as bad:
        parse(b"{nope", "data.json")
    assert bad.value.code == "invalid_file"


def test_pdf_and_docx() -> None:
    assert parse(_pdf("Invoices are due in 30 days"), "terms.pdf") == "Invoices are due in 30 days"
    text = parse(_docx(["First paragraph.", "Second one."], [["k", "v"], ["a", "1"]]), "d.docx")
    assert text == "First paragraph.\n\nSecond one.\n\nk | v\n\na | 1"


def test_text_under_a_document_name_is_read_as_text() -> None:
    assert parse(b"Hold the dial for five seconds.", "manual.pdf") == (
        "Hold the dial for five seconds."
    )
    assert parse(b"Returns within thirty days.", "returns.DOCX") == "Returns within thirty days."


@pytest.mark.parametrize(
    ("data", "name", "code"),
    [
        (b"", "empty.txt", "invalid_file"),
        (b"", "empty.pdf", "invalid_file"),
        (b"  \n\t", "blank.md", "invalid_file"),
        (b"%PDF-1.4 garbage", "broken.pdf", "invalid_file"),
        (b"PK\x03\x04 not a zip", "broken.docx", "invalid_file"),
        (bytes(range(256)), "junk.pdf", "unsupported_file"),
        (bytes(range(256)), "junk.bin", "unsupported_file"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "photo.jpg", "unsupported_file"),
    ],
)
def test_bad_files(data: bytes, name: str, code: str) -> None:
    with pytest.raises(ParseError) as failure:
        parse(data, name)
    assert failure.value.code == code
    assert failure.value.message
