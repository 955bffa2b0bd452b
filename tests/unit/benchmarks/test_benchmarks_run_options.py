"""`make bench` options: the large organisation and the state phase."""

from __future__ import annotations

from benchmarks.run import parse_args


def test_large_org_is_a_hundred_thousand_people_in_five_thousand_teams_with_the_state():
    args = parse_args(["--large-org"])
    assert (args.people, args.teams, "state" in args.skip) == (100_000, 5_000, False)


def test_people_and_teams_given_win_over_the_large_org():
    args = parse_args(["--large-org", "--people", "20000", "--teams", "1000"])
    assert (args.people, args.teams) == (20_000, 1_000)


def test_the_state_phase_is_opt_in():
    assert "state" in parse_args([]).skip
    assert "state" not in parse_args(["--state"]).skip
    assert (parse_args([]).people, parse_args([]).teams) == (10_000, 500)
