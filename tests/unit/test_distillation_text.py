"""A finished comparison says what distillation bought over simply running fewer steps, from its own figures."""

from studio.ui.readouts import distillation_text, verdict


def _r(name, kind, steps, lpips=None, adherence=None, error=None):
    metrics = {} if lpips is None else {"lpips": lpips}
    if adherence is not None:
        metrics["adherence"] = adherence
    return {"name": name, "kind": kind, "steps": steps, "metrics": metrics, "error": error, "speedup": 10.0}


BASE = _r("baseline", "baseline", 50)


def test_the_student_is_set_against_the_naive_variant_of_its_step_count():
    reports = [BASE, _r("naive2", "naive", 2, 0.2, 0.0), _r("naive4", "naive", 4, 0.057, 0.5),
               _r("distilled", "distilled", 4, 0.007, 1.0)]
    assert distillation_text(reports) == (" At 4 steps, distilled against naive4 (the base model run for as few "
                                          "steps): LPIPS 0.007 against 0.057, adherence 100% against 50%.")
    assert verdict(reports, 0.1, 1).endswith(distillation_text(reports))


def test_one_step_reads_in_the_singular():
    reports = [BASE, _r("naive1", "naive", 1, 0.109, 0.0), _r("distilled1", "distilled", 1, 0.029, 0.0)]
    assert distillation_text(reports).startswith(" At 1 step, distilled1 against naive1 (")


def test_nothing_is_claimed_without_a_scored_pair():
    assert distillation_text([BASE, _r("distilled2", "distilled", 2, 0.01), _r("naive4", "naive", 4, 0.05)]) == ""
    assert distillation_text([BASE, _r("distilled", "distilled", 4, 0.01), _r("naive4", "naive", 4, error="x")]) == ""
    assert distillation_text([BASE, _r("distilled", "distilled", 4), _r("naive4", "naive", 4, 0.05)]) == ""  # no LPIPS
    # without adherence (a real model has no checker) the sentence stops at LPIPS
    assert distillation_text([_r("distilled", "distilled", 4, 0.01), _r("naive4", "naive", 4, 0.05)]).endswith(
        "LPIPS 0.010 against 0.050.")
