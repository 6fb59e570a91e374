import pytest

from studio.tiny.language import (
    EXAMPLE_IMAGE_PROMPTS,
    EXAMPLE_VIDEO_PROMPTS,
    ObjectSpec,
    PromptError,
    format_prompt,
    parse_prompt,
    unknown_words,
)


def test_parses_two_objects_with_every_attribute():
    objs = parse_prompt("a large red circle at the top left and a small blue square moving right", video=True)
    assert objs == [ObjectSpec("circle", "red", "large", "top left", None),
                    ObjectSpec("square", "blue", "small", None, "moving right")]


@pytest.mark.parametrize("prompt", EXAMPLE_IMAGE_PROMPTS)
def test_image_examples_parse_and_round_trip(prompt):
    objs = parse_prompt(prompt)
    assert parse_prompt(format_prompt(objs)) == objs


@pytest.mark.parametrize("prompt", EXAMPLE_VIDEO_PROMPTS)
def test_video_examples_parse(prompt):
    assert parse_prompt(prompt, video=True)


@pytest.mark.parametrize("prompt, message", [
    ("", "empty"),
    ("   ", "empty"),
    ("a pink elephant", "unknown word"),
    ("a red circle moving right", "video model only"),
    ("a red circle and a red square", "different colors"),
    ("a red circle at the left and a blue square at the left", "same position"),
    ("a red circle and a blue square and a green triangle", "at most 2"),
    ("a red", "needs a shape"),
    ("a circle", "needs a color"),
    ("a red blue circle", "two colors"),
    ("a red circle and", "'and' must join"),
    ("a red circle moving sideways", "unknown word"),
    ("a red circle up", "only allowed after 'moving'"),
    ("a red circle " * 40, "characters"),
])
def test_bad_prompts_get_a_clear_error(prompt, message):
    with pytest.raises(PromptError, match=message):
        parse_prompt(prompt)


def test_unknown_word_error_lists_the_vocabulary():
    with pytest.raises(PromptError) as e:
        parse_prompt("a red hexagon")
    assert "'hexagon'" in str(e.value) and "circle, square, triangle" in str(e.value)
    assert unknown_words("A Red hexagon!") == ["hexagon", "!"]


@pytest.mark.parametrize("video", [False, True])
def test_attribute_ids_map_back_to_the_same_objects(video):
    """distill --adherent-only checks each teacher pair against the objects its stored ids stand for."""
    import random

    from studio.tiny.data import random_objects
    from studio.tiny.text_encoder import ids_to_objects, objects_to_ids

    rng = random.Random(3)
    batch = [random_objects(rng, video) for _ in range(200)]
    assert ids_to_objects(objects_to_ids(batch)) == batch
    assert any(len(objects) == 2 for objects in batch) and any(len(objects) == 1 for objects in batch)
