"""Spot-check statistics against values worked out by hand (the arithmetic is in the comments)."""

import math

import pytest

from studio.spotcheck.stats import (
    Z95,
    bradley_terry,
    fleiss_kappa,
    matchup,
    percent_agreement,
    summarize_votes,
    wilson_interval,
)
from studio.spotcheck.store import Pair, Session, Vote


def test_wilson_matches_textbook_value_for_8_of_10():
    # p = 0.8, z^2/n = 0.384146: centre = (0.8 + 0.192073) / 1.384146 = 0.716741,
    # half = 1.959964 * sqrt(0.016 + 0.009604) / 1.384146 = 0.226557 -> (0.4902, 0.9433)
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=5e-5)
    assert high == pytest.approx(0.9433, abs=5e-5)


def test_wilson_zero_successes_has_closed_form_upper_bound():
    # k = 0: the upper bound is (z^2/n) / (1 + z^2/n) = 0.384146 / 1.384146 = 0.27753
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(0.384146 / 1.384146, abs=1e-6)


@pytest.mark.parametrize("k, n", [(7.5, 10), (1.5, 10), (3, 7), (50, 100), (1, 1)])
def test_wilson_bounds_solve_the_defining_quadratic(k, n):
    # Wilson's bounds are the p0 with |p - p0| = z sqrt(p0 (1 - p0) / n), i.e. the roots of
    # (1 + z^2/n) p0^2 - (2p + z^2/n) p0 + p^2 = 0.
    p, z2n = k / n, Z95**2 / n
    a, b, c = 1 + z2n, -(2 * p + z2n), p * p
    disc = math.sqrt(b * b - 4 * a * c)
    expected = ((-b - disc) / (2 * a), (-b + disc) / (2 * a))
    assert wilson_interval(k, n) == pytest.approx(expected, abs=1e-12)


def test_wilson_of_no_votes_is_uninformative():
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_matchup_counts_ties_and_both_bad_as_half_and_gives_verdicts():
    # 6 wins, 2 ties, 1 both-bad, 1 loss: preference (6 + 1.5) / 10 = 0.75, Wilson (0.4422, 0.9191) -> contains 0.5
    m = matchup("fast", "baseline", ["variant"] * 6 + ["tie"] * 2 + ["both_bad"] + ["reference"])
    assert (m.wins, m.ties, m.both_bad, m.losses, m.n) == (6, 2, 1, 1, 10)
    assert m.preference == 0.75
    assert (m.low, m.high) == pytest.approx((0.4422, 0.9191), abs=5e-5)
    assert m.verdict == "indistinguishable from baseline"
    assert "more votes" in m.note and "(10 votes)" in m.note  # 0.48 wide: says so
    assert "(1 vote)" in matchup("fast", "baseline", ["tie"]).note
    # 1 win, 1 tie, 8 losses: 1.5 / 10 = 0.15: centre (0.15 + 0.19207) / 1.38415 = 0.24714, half
    # 1.959964 * sqrt(0.01275 + 0.0096) / 1.38415 = 0.21171 -> (0.0354, 0.4588), wholly below 0.5
    worse = matchup("naive4", "baseline", ["variant"] + ["tie"] + ["reference"] * 8)
    assert worse.high == pytest.approx(0.24714 + 0.21171, abs=1e-4)
    assert worse.verdict == "worse than baseline"
    # 10 of 10: Wilson (0.7225, 1) -> wholly above
    better = matchup("student", "baseline", ["variant"] * 10)
    assert better.low == pytest.approx(0.7225, abs=5e-5)
    assert better.verdict == "better than baseline"
    assert matchup("x", "baseline", []).verdict == "no votes yet"


def test_bradley_terry_two_items_recovers_the_odds():
    # a beats b 3 times out of 4: the ML strengths satisfy p_a / p_b = 3
    s = bradley_terry([("a", "b", 1.0)] * 3 + [("a", "b", 0.0)], prior=0.0)
    assert s["a"] / s["b"] == pytest.approx(3.0, rel=1e-6)


def test_bradley_terry_orders_a_transitive_table():
    games = ([("a", "b", 1.0)] * 7 + [("a", "b", 0.0)] * 3 + [("b", "c", 1.0)] * 7 + [("b", "c", 0.0)] * 3
             + [("a", "c", 1.0)] * 8 + [("a", "c", 0.0)] * 2)
    s = bradley_terry(games)
    assert s["a"] > s["b"] > s["c"]
    plain = bradley_terry(games, prior=0.0)
    assert plain["a"] > plain["b"] > plain["c"]


def test_bradley_terry_prior_keeps_an_unbeaten_variant_finite():
    s = bradley_terry([("a", "b", 1.0)] * 5 + [("c", "b", 0.5)] * 2)
    assert all(math.isfinite(v) and v > 0 for v in s.values())
    assert s["a"] > s["c"] > s["b"]


def test_fleiss_kappa_and_percent_agreement_hand_table():
    # 4 pairs x 3 raters. Per-pair P_i: 1, 1, 1/3, 1 -> mean 5/6. Category shares: variant 5/12, reference 4/12,
    # tie 3/12 -> P_e = (25 + 16 + 9) / 144 = 25/72. kappa = (5/6 - 25/72) / (1 - 25/72) = 35/47.
    items = [["variant"] * 3, ["reference"] * 3, ["variant", "variant", "reference"], ["tie"] * 3]
    assert fleiss_kappa(items) == pytest.approx(35 / 47)
    # agreeing rater pairs: 3 + 3 + 1 + 3 = 10 of 12
    assert percent_agreement(items) == pytest.approx(10 / 12)


def test_fleiss_kappa_with_a_different_number_of_raters_per_pair():
    # [v, v] -> P = 1; [v, r, r] -> P = (1 + 4 - 3) / 6 = 1/3; mean 2/3. Shares v 3/5, r 2/5 -> P_e = 13/25.
    # kappa = (2/3 - 13/25) / (12/25) = 11/36. A pair with one vote does not count.
    items = [["variant", "variant"], ["variant", "reference", "reference"], ["tie"]]
    assert fleiss_kappa(items) == pytest.approx(11 / 36)
    assert percent_agreement(items) == pytest.approx(2 / 4)  # 1 of 1 + 1 of 3


def test_agreement_is_undefined_without_two_raters_or_variety():
    assert fleiss_kappa([["variant"], ["tie"]]) is None
    assert percent_agreement([["variant"]]) is None
    assert fleiss_kappa([["tie", "tie"], ["tie", "tie"]]) is None  # chance agreement 1: kappa undefined


def _session() -> Session:
    pairs = tuple(Pair(i, f"p{i // 2}", i // 2, "fast" if i % 2 == 0 else "slowish", "baseline", f"/m/{i}a.png",
                       f"/m/{i}b.png") for i in range(4))
    return Session("abcdef12", "t", "2025", "src", "image", pairs)


def test_summary_of_a_fixed_vote_table():
    s = _session()
    table = [  # (pair, rater, stored choice, label shown left)
        (0, "ana", "variant", "fast"), (0, "bob", "variant", "baseline"), (0, "cy", "tie", "fast"),
        (2, "ana", "variant", "baseline"), (2, "bob", "reference", "fast"),
        (1, "ana", "reference", "baseline"), (1, "bob", "reference", "slowish"), (1, "cy", "reference", "baseline"),
        (3, "ana", "both_bad", "slowish"),
    ]
    votes = [Vote(s.id, p, r, c, left, "", "t") for p, r, c, left in table]
    out = summarize_votes(s, votes)
    by = {m["variant"]: m for m in out["matchups"]}
    assert (by["fast"]["wins"], by["fast"]["ties"], by["fast"]["losses"]) == (3, 1, 1)
    assert by["fast"]["preference"] == pytest.approx(3.5 / 5)
    assert (by["slowish"]["wins"], by["slowish"]["losses"], by["slowish"]["both_bad"]) == (0, 3, 1)
    assert by["slowish"]["preference"] == pytest.approx(0.5 / 4)
    # 0.125 from only 4 votes: Wilson(0.5, 4) = centre (0.125 + 0.48018) / 1.96037 = 0.30871, half 0.29552
    # -> (0.0132, 0.6042) contains 0.5: not enough votes to call it worse, and the note says so
    assert (by["slowish"]["low"], by["slowish"]["high"]) == pytest.approx((0.0132, 0.6042), abs=5e-5)
    assert by["slowish"]["verdict"] == "indistinguishable from baseline" and by["slowish"]["note"]
    assert [v["variant"] for v in out["ranking"]["variants"]] == ["fast", "baseline", "slowish"]
    assert out["votes"] == 9 and out["raters"] == 3
    # pairs with 2+ votes: 0 [v, v, t], 2 [v, r], 1 [r, r, r] -> agreeing pairs 1 + 0 + 3 of 3 + 1 + 3
    assert out["agreement"]["percent"] == pytest.approx(4 / 7)
    assert out["agreement"]["pairs_with_2plus_votes"] == 3
    # decisive votes that picked the left side: pair0 ana (fast, left) yes, bob (fast, baseline left) no,
    # pair2 ana no, bob (baseline picked, fast left) no, pair1 ana yes, bob no, cy yes -> 3 of 7
    assert out["position_bias"]["decisive_votes"] == 7
    assert out["position_bias"]["left_share"] == pytest.approx(3 / 7)
