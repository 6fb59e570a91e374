"""`extends`: a preset file that starts from another preset and changes only what it names (stdlib only).

A team's own model is usually a fine-tune of a shipped one: the same pipeline, caches, quantizations and recipes,
other weights. Its preset file can then be four lines:

    extends = "flux1-dev"
    title = "Our FLUX fine-tune"
    source = "our-org/flux-ft"      # a Hub id, or an absolute folder
    revision = "0123abc"

Top-level keys replace the base's; `variants`, `weights` and `notes` are merged by name (a table of the same name
replaces the base's); `drop_variants = ["int4", ...]` leaves those of the base's variants out (a quantization your
hardware lacks, a cache your model does not suit), with their notes. When the file names another `source`, what
belongs to the base model is not inherited: its other weights (distilled checkpoints and LoRAs distil the base, not
your model), the variants and notes that use them (their steps and guidance suit those weights), its `revision` and
its `download_gb`. Name your own `[weights.lora]` (from `python -m studio distill`) and variants that use it in the
file.

Example:
    >>> merged = merge_extended({"source": "a/b", "steps": 28, "weights": {"lora": {"ref": "a/lora"}},
    ...                          "variants": {"baseline": {}, "turbo": {"weights": "lora", "steps": 8}}},
    ...                         {"source": "me/ft", "steps": 20})
    >>> merged["steps"], list(merged["variants"]), merged.get("weights")
    (20, ['baseline'], {})
"""

from __future__ import annotations

MERGED_TABLES = ("variants", "weights", "notes")
MODEL_BOUND_KEYS = ("revision", "download_gb")  # facts about the base's weights, not about its pipeline
DROP_KEY = "drop_variants"


def merge_extended(base: dict, child: dict) -> dict:
    """The preset data of `child` (without its `extends`) on top of its base's. Raises ValueError for a
    `drop_variants` that is not a list of the base's variant names (the baseline always stays)."""
    child = dict(child)
    dropped = _dropped(base, child.pop(DROP_KEY, []))
    base = {**base, "variants": {k: v for k, v in base.get("variants", {}).items() if k not in dropped},
            "notes": {k: v for k, v in base.get("notes", {}).items() if k not in dropped}}
    own_model = "source" in child and child["source"] != base.get("source")
    merged = {k: v for k, v in base.items() if not (own_model and k in MODEL_BOUND_KEYS)}
    inherited = {key: dict(base.get(key, {})) for key in MERGED_TABLES}
    if own_model:  # the base's few-step weights, and the recipes tuned to them, distil the base, not this model
        inherited["weights"] = {}
        inherited["variants"] = {k: v for k, v in inherited["variants"].items()
                                 if not (isinstance(v, dict) and "weights" in v)}
        inherited["notes"] = {k: v for k, v in inherited["notes"].items() if k in inherited["variants"]}
    merged.update(inherited)
    for key, value in child.items():
        merged[key] = {**merged[key], **value} if key in MERGED_TABLES and isinstance(value, dict) else value
    if "default_variants" in base and "default_variants" not in child:
        kept = [n for n in base["default_variants"] if n in merged["variants"]]
        if kept:
            merged["default_variants"] = kept
        else:
            merged.pop("default_variants")
    return merged


def _dropped(base: dict, names) -> set[str]:
    """`drop_variants` checked against the base: a list of its variant names, never the baseline."""
    known = list(base.get("variants", {}))
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"'{DROP_KEY}' must be a list of variant names, e.g. {DROP_KEY} = [\"int4\"]")
    if "baseline" in names:
        raise ValueError(f"'{DROP_KEY}' cannot drop the baseline: every comparison is measured against it")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"'{DROP_KEY}' names {', '.join(map(repr, unknown))}, not a variant of the preset it "
                         f"extends; its variants: {', '.join(k for k in known if k != 'baseline')}")
    return set(names)
