"""The pure paging and cursor rules of `teampulse backfill` (no LRS, no Kafka)."""

from __future__ import annotations

from pathlib import Path

import pytest

from teampulse.contract.timestamps import parse_rfc3339
from teampulse.ingest.backfill import (
    BackfillError,
    BackfillQuery,
    Cursor,
    Page,
    default_state_path,
    page_url,
    parse_page,
    refusal,
    save_cursor,
    statements_url,
)
from teampulse.settings import Settings

LRS = "https://lrs.example.com/xAPI/statements"
QUERY = BackfillQuery(since="2026-01-01T00:00:00Z", until=None, limit=100)
STORED = parse_rfc3339("2026-03-02T10:00:00.500Z")
assert STORED is not None


@pytest.mark.parametrize(
    "given",
    [
        "https://lrs.example.com/xAPI",
        "https://lrs.example.com/xAPI/",
        "https://lrs.example.com/xAPI/statements",
        "https://lrs.example.com/xAPI/statements/",
    ],
)
def test_the_statements_resource_is_found_from_the_xapi_endpoint_or_itself(given):
    assert statements_url(given) == LRS


def test_an_lrs_that_is_not_an_http_url_is_refused_with_an_example():
    with pytest.raises(BackfillError, match=r"e\.g\. https://lrs\.example\.com/xAPI/"):
        statements_url("lrs.example.com/xAPI")


def test_the_first_page_asks_for_ascending_stored_order_with_the_query():
    query = BackfillQuery(since="2026-01-01T00:00:00Z", until="2026-02-01T00:00:00Z", limit=50)
    assert page_url(LRS, query) == (
        f"{LRS}?ascending=true&limit=50&since=2026-01-01T00%3A00%3A00Z"
        "&until=2026-02-01T00%3A00%3A00Z"
    )


def test_a_relative_more_link_is_resolved_against_the_lrs_host():
    body = b'{"statements": [], "more": "/xAPI/statements?search_after=abc&limit=100"}'
    page = parse_page(body, f"{LRS}?limit=100")
    assert page.next_url == "https://lrs.example.com/xAPI/statements?search_after=abc&limit=100"


def test_an_absolute_more_link_is_followed_as_given():
    body = b'{"statements": [], "more": "https://other.example.com/more/2"}'
    assert parse_page(body, LRS).next_url == "https://other.example.com/more/2"


@pytest.mark.parametrize(
    "body", [b'{"statements": [{"id": "a"}]}', b'{"statements": [], "more": ""}']
)
def test_a_page_without_a_more_link_is_the_last(body):
    assert parse_page(body, LRS).next_url is None


def test_a_page_that_is_not_json_names_what_came_and_the_fix():
    with pytest.raises(BackfillError) as caught:
        parse_page(b"<html><body>Sign in</body></html>", LRS, "text/html")
    message = str(caught.value)
    assert "not JSON (text/html" in message
    assert "--lrs must be the xAPI endpoint" in message


def test_json_that_is_not_a_statement_result_is_refused():
    with pytest.raises(BackfillError, match="not a StatementResult"):
        parse_page(b'{"version": ["1.0.3"]}', LRS)


def test_a_401_tells_how_to_pass_credentials():
    message = str(refusal(401, LRS, b""))
    assert "refused the credentials" in message
    assert "--credentials user:secret" in message
    assert "TEAMPULSE_BACKFILL_LRS_CREDENTIALS" in message


def test_a_404_says_the_url_is_not_an_xapi_endpoint():
    assert "no statements resource" in str(refusal(404, LRS, b"Not Found"))


def test_a_saved_more_link_is_where_the_next_run_starts():
    cursor = Cursor(LRS, QUERY, next_url=f"{LRS}?search_after=abc", newest_stored=STORED)
    assert cursor.start_url() == f"{LRS}?search_after=abc"


def test_without_a_more_link_the_next_run_asks_since_just_before_the_newest_stored():
    cursor = Cursor(LRS, QUERY, next_url=None, newest_stored=STORED)
    assert cursor.start_url() == (
        f"{LRS}?ascending=true&limit=100&since=2026-03-02T10%3A00%3A00.499Z"
    )


def test_a_fresh_cursor_starts_at_the_query_since():
    assert Cursor(LRS, QUERY).start_url() == page_url(LRS, QUERY)


def test_a_page_moves_the_newest_stored_and_the_link():
    page = Page([], next_url=f"{LRS}?page=2")
    cursor = Cursor(LRS, QUERY).after_page(
        page, {"a": STORED - 10, "b": STORED}, sent=2, rejected=0
    )
    assert (cursor.next_url, cursor.newest_stored, cursor.pages, cursor.sent) == (
        f"{LRS}?page=2",
        STORED,
        1,
        2,
    )


def test_ids_stored_close_to_the_newest_are_remembered_and_older_ones_forgotten():
    page = Page([], next_url=None)
    cursor = Cursor(LRS, QUERY).after_page(
        page, {"old": STORED - 1.0, "near": STORED - 0.001, "newest": STORED}, sent=3, rejected=0
    )
    assert set(cursor.recent) == {"near", "newest"}


def test_ids_sharing_the_newest_stored_across_two_pages_are_all_remembered():
    first = Cursor(LRS, QUERY).after_page(Page([], "x"), {"a": STORED}, sent=1, rejected=0)
    second = first.after_page(Page([], None), {"b": STORED}, sent=1, rejected=0)
    assert set(second.recent) == {"a", "b"}
    assert second.handled_before("a")


def test_a_newer_page_forgets_the_ids_of_the_older_instant():
    first = Cursor(LRS, QUERY).after_page(Page([], "x"), {"a": STORED}, sent=1, rejected=0)
    second = first.after_page(Page([], None), {"b": STORED + 5}, sent=1, rejected=0)
    assert set(second.recent) == {"b"}


def test_a_statement_without_stored_keeps_the_newest_instant():
    first = Cursor(LRS, QUERY).after_page(Page([], "x"), {"a": STORED}, sent=1, rejected=0)
    second = first.after_page(Page([], None), {"b": None}, sent=0, rejected=1)
    assert (second.newest_stored, second.rejected) == (STORED, 1)


def test_the_cursor_survives_its_state_file(tmp_path: Path):
    cursor = Cursor(
        LRS,
        QUERY,
        next_url=f"{LRS}?page=3",
        newest_stored=STORED,
        recent={"a": STORED},
        pages=2,
        sent=150,
        rejected=3,
    )
    path = tmp_path / "state" / "lrs.json"
    save_cursor(path, cursor)
    assert Cursor.from_json(path.read_bytes(), str(path)) == cursor
    assert [p.name for p in path.parent.iterdir()] == ["lrs.json"]


def test_an_unreadable_state_file_is_refused_with_the_fix():
    with pytest.raises(BackfillError, match="delete it to start over"):
        Cursor.from_json(b"{not json", "state.json")


def test_a_cursor_of_another_lrs_or_query_does_not_continue_this_run():
    cursor = Cursor(LRS, QUERY)
    assert cursor.matches(LRS, QUERY) is None
    assert cursor.matches("https://other/xAPI/statements", QUERY) == (
        f"it belongs to the LRS {LRS}"
    )
    assert "started with" in (cursor.matches(LRS, BackfillQuery(limit=10)) or "")


def test_each_lrs_gets_its_own_state_file_under_the_data_dir():
    settings = Settings(data_dir=Path("/var/lib/teampulse"))
    one = default_state_path(settings, LRS)
    other = default_state_path(settings, "https://lrs.example.com/other/xAPI/statements")
    assert one.parent == Path("/var/lib/teampulse/backfill")
    assert one.name.startswith("lrs-example-com-")
    assert one != other
