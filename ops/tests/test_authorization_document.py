"""docs/authorization.md is the table the services enforce (crm_kit.access), rendered."""

from crm_kit import access
from crm_ops.apidocs import ROOT


def test_the_authorization_document_is_the_enforced_table() -> None:
    document = ROOT / "docs" / "authorization.md"
    assert document.read_text() == access.render_markdown(), (
        "regenerate with `uv run crm-apidocs` and commit docs/authorization.md"
    )
