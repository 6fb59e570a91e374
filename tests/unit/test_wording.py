"""Counts read as English (one variant, two variants), and known library noise kept out of the output."""

from studio.spotcheck.cli import format_results
from studio.spotcheck.stats import summarize_votes
from studio.spotcheck.store import Pair, Session, Vote
from studio.ui.readouts import count_text
from studio.wording import counted


def test_counted_picks_the_number_of_the_noun():
    assert counted(1, "variant") == "1 variant"
    assert counted(0, "variant") == "0 variants"
    assert counted(3, "prompt/seed pair") == "3 prompt/seed pairs"
    assert counted(2, "person", "people") == "2 people"


def test_a_one_variant_comparison_says_one_variant():
    assert count_text([{"error": None}]) == "1 variant."
    assert count_text([{"error": None}, {"error": "boom"}]) == "2 variants, 1 failed."


def test_spotcheck_results_count_one_vote_and_one_rater_in_the_singular():
    pair = Pair(0, "a red circle", 0, "fast", "baseline", "/m/fast0.png", "/m/base0.png")
    session = Session("abcdef12", "t", "2026", "src", "image", (pair,))
    summary = summarize_votes(session, [Vote(session.id, 0, "ann", "variant", "fast", "", "t")])
    assert format_results(summary).splitlines()[0] == "session abcdef12: t  (1 pair, 1 vote, 1 rater)"


def test_the_known_library_warnings_are_dropped_and_others_kept(caplog):
    """Warnings of this torch/torchao/diffusers combination that filled the lines of every command."""
    import logging

    import studio  # noqa: F401 - installs the filters

    with caplog.at_level(logging.WARNING):
        logging.getLogger("torch.utils._pytree").warning(
            "%s is an Enum subclass and is now natively supported by torch.compile as an opaque value type.", "X")
        logging.getLogger("diffusers.quantizers.torchao.torchao_quantizer").warning(
            "Unable to import `torchao` Tensor objects. This may affect loading checkpoints serialized with `torchao`")
        logging.getLogger("torch.utils._pytree").warning("something else")
        for modules in ("[]", "['norm']"):  # the empty list says nothing; a listed module matters
            logging.getLogger("diffusers.models.modeling_utils").warning(
                f"There are modules in X that should be kept in float32: {modules}. Casting directly with `to()` ...")
    assert [r.getMessage() for r in caplog.records] == [
        "something else", "There are modules in X that should be kept in float32: ['norm']. Casting directly with "
        "`to()` ..."]
