"""Statistics of a spot-check session: win/tie/loss with Wilson intervals, a verdict, Bradley-Terry strengths,
agreement between raters, and a left/right position-bias check. Pure Python (math only).

Preference for a variant over its reference = (wins + half of ties and both-bad) / votes: a tie or "both bad"
says neither side was preferred, so it counts half for each, as chess scores a draw. The verdict reads the
Wilson 95% interval of that preference: it contains 50% -> "indistinguishable", wholly below -> "worse",
wholly above -> "better".
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass

from studio.spotcheck.store import CHOICES, Session, Vote, VoteStore

Z95 = 1.959963984540054  # two-sided 95% normal quantile
WIDE_INTERVAL = 0.30  # an "indistinguishable" interval wider than this says more about n than about quality


def wilson_interval(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion (Wilson 1927). n = 0 gives the uninformative (0, 1).

    >>> [round(x, 4) for x in wilson_interval(8, 10)]
    [0.4902, 0.9433]
    """
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return max(0.0, center - half), min(1.0, center + half)


@dataclass(frozen=True)
class Matchup:
    variant: str
    reference: str
    wins: int  # the variant was preferred
    ties: int
    losses: int  # the reference was preferred
    both_bad: int
    n: int
    preference: float | None  # (wins + (ties + both_bad) / 2) / n
    low: float | None
    high: float | None
    verdict: str
    note: str


def verdict_of(low: float, high: float, reference: str) -> str:
    if high < 0.5:
        return f"worse than {reference}"
    if low > 0.5:
        return f"better than {reference}"
    return f"indistinguishable from {reference}"


def matchup(variant: str, reference: str, choices: list[str]) -> Matchup:
    c = Counter(choices)
    wins, losses, ties, both_bad = c["variant"], c["reference"], c["tie"], c["both_bad"]
    n = wins + losses + ties + both_bad
    if n == 0:
        return Matchup(variant, reference, 0, 0, 0, 0, 0, None, None, None, "no votes yet", "")
    score = wins + 0.5 * (ties + both_bad)
    low, high = wilson_interval(score, n)
    verdict = verdict_of(low, high, reference)
    note = ""
    if verdict.startswith("indistinguishable") and high - low > WIDE_INTERVAL:
        note = f"wide interval ({n} vote{'' if n == 1 else 's'}): more votes are needed to tell a small difference"
    return Matchup(variant, reference, wins, ties, losses, both_bad, n, score / n, low, high, verdict, note)


def bradley_terry(games: list[tuple[str, str, float]], prior: float = 1.0, iterations: int = 2000,
                  tol: float = 1e-12) -> dict[str, float]:
    """Bradley-Terry strengths from (a, b, score of a) games, score 1 / 0.5 / 0, by Hunter's (2004) MM updates
    p_i <- W_i / sum_j n_ij / (p_i + p_j).

    `prior` adds that many virtual ties per item against a fixed opponent of strength 1: it keeps strengths
    finite when an item wins or loses every game (raising it pulls every strength towards 1). prior=0 is the
    plain maximum-likelihood fit. Strengths are returned on the fixed opponent's scale (prior > 0) or with
    geometric mean 1 (prior = 0).
    """
    items = sorted({x for a, b, _ in games for x in (a, b)})
    if not items:
        return {}
    wins = dict.fromkeys(items, 0.5 * prior)
    met: dict[tuple[str, str], float] = defaultdict(float)
    for a, b, score in games:
        wins[a] += score
        wins[b] += 1.0 - score
        met[(a, b)] += 1
        met[(b, a)] += 1
    p = dict.fromkeys(items, 1.0)
    for _ in range(iterations):
        new = {}
        for i in items:
            denom = prior / (p[i] + 1.0) + sum(n / (p[i] + p[j]) for (a, j), n in met.items() if a == i)
            new[i] = wins[i] / denom if denom > 0 else p[i]
        if prior == 0:
            g = math.exp(sum(math.log(max(v, 1e-300)) for v in new.values()) / len(new))
            new = {k: v / g for k, v in new.items()}
        change = max(abs(new[i] - p[i]) for i in items)
        p = new
        if change < tol:
            break
    return p


def fleiss_kappa(items: list[list[str]], categories: tuple[str, ...] = CHOICES) -> float | None:
    """Fleiss' kappa over items rated by 2+ raters, allowing a different number of raters per item (P_i per
    item from its own n_i; category shares pooled). None when undefined (fewer than one such item, or every
    rating in one category so chance agreement is 1)."""
    rated = [r for r in items if len(r) >= 2]
    if not rated:
        return None
    per_item = []
    totals: Counter = Counter()
    for ratings in rated:
        counts = Counter(ratings)
        n = len(ratings)
        per_item.append((sum(c * c for c in counts.values()) - n) / (n * (n - 1)))
        totals.update(counts)
    all_ratings = sum(totals.values())
    p_bar = sum(per_item) / len(per_item)
    p_e = sum((totals[c] / all_ratings) ** 2 for c in categories)
    if p_e >= 1.0:
        return None
    return (p_bar - p_e) / (1 - p_e)


def percent_agreement(items: list[list[str]]) -> float | None:
    """Share of rater pairs (two raters, same item) that chose the same, pooled over items."""
    agree = pairs = 0
    for ratings in items:
        counts = Counter(ratings)
        agree += sum(c * (c - 1) // 2 for c in counts.values())
        pairs += len(ratings) * (len(ratings) - 1) // 2
    return agree / pairs if pairs else None


def _picked_left(session: Session, v: Vote) -> bool | None:
    p = session.pairs[v.pair_index]
    picked = {"variant": p.variant, "reference": p.reference}.get(v.choice)
    return None if picked is None else picked == v.shown_left


def summarize_votes(session: Session, votes: list[Vote]) -> dict:
    """Everything the results page and `spotcheck results --json` show, as plain JSON-ready data."""
    pairs = session.pairs
    by_matchup: dict[tuple[str, str], list[str]] = defaultdict(list)
    for p in pairs:
        by_matchup.setdefault((p.variant, p.reference), [])
    by_pair: dict[int, list[str]] = defaultdict(list)
    games = []
    for v in votes:
        p = pairs[v.pair_index]
        by_matchup[(p.variant, p.reference)].append(v.choice)
        by_pair[v.pair_index].append(v.choice)
        games.append((p.variant, p.reference, {"variant": 1.0, "reference": 0.0}.get(v.choice, 0.5)))
    matchups = [matchup(a, b, c) for (a, b), c in by_matchup.items()]

    strengths = bradley_terry(games)
    references = Counter(p.reference for p in pairs)
    anchor = references.most_common(1)[0][0]  # the baseline when the session compares against one
    scale = strengths.get(anchor) or 1.0
    ranking = [{"rank": r, "variant": name, "strength": s / scale,
                "p_beats_reference": s / (s + scale)}
               for r, (name, s) in enumerate(sorted(strengths.items(), key=lambda kv: -kv[1]), 1)]

    items = list(by_pair.values())
    lefts = [x for x in (_picked_left(session, v) for v in votes) if x is not None]
    left_low, left_high = wilson_interval(sum(lefts), len(lefts))
    return {
        "session": {"id": session.id, "title": session.title, "created": session.created,
                    "media_kind": session.media_kind, "pairs": len(pairs)},
        "votes": len(votes),
        "raters": len({v.rater.casefold() for v in votes}),
        "matchups": [asdict(m) for m in matchups],
        "ranking": {"method": f"Bradley-Terry (MM iterations, ties count half, 1 virtual tie per variant), "
                              f"strength relative to {anchor}",
                    "reference": anchor, "variants": ranking},
        "agreement": {"method": "pairwise percent agreement and Fleiss' kappa (variable raters per pair) over "
                                "the 4 identity-resolved choices, pairs with 2+ votes",
                      "pairs_with_2plus_votes": sum(len(r) >= 2 for r in items),
                      "percent": percent_agreement(items), "fleiss_kappa": fleiss_kappa(items)},
        "position_bias": {"decisive_votes": len(lefts), "left_share": sum(lefts) / len(lefts) if lefts else None,
                          "low": left_low, "high": left_high,
                          "flag": bool(lefts) and not left_low <= 0.5 <= left_high},
    }


def summarize(store: VoteStore, session_id: str) -> dict:
    session = store.get_session(session_id)
    return summarize_votes(session, store.votes(session.id))
