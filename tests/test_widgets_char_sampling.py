import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_lib.charlm import CharLM  # noqa: E402
from course_lib.widgets.char_sampling import char_label, char_sampling_explorer, plot_next_char_distribution  # noqa: E402

CHARS = "\n !abcdefgh"


@pytest.fixture
def model():
    torch.manual_seed(0)
    return CharLM(CHARS, embed=4, hidden=8, layers=1)


def test_plot_shows_the_likeliest_characters_first(model):
    probs = model.next_char_probabilities("ab", 1.0, top_k=3)
    fig = plot_next_char_distribution(probs, CHARS, top=5)
    heights = [bar.get_height() for bar in fig.axes[0].patches]
    assert heights == sorted(heights, reverse=True) and len(heights) == 5
    assert heights[:3] == pytest.approx(probs.topk(3).values.tolist()) and heights[3:] == [0, 0]
    assert "(3 can be drawn)" in fig.axes[0].get_title()
    plt.close(fig)
    assert char_label("\n") == "\\n" and char_label(" ") == "␣" and char_label("a") == "a"
    with pytest.raises(ValueError, match="one probability per character"):
        plot_next_char_distribution(torch.ones(3), CHARS)


def test_explorer_redraws_from_charlm_and_shows_bad_prompts_as_one_sentence(model):
    explorer = char_sampling_explorer(model, prompt="ab", length=20)
    first = explorer.text.value
    expected = model.generate("ab", 20, 0.8, None, generator=torch.Generator().manual_seed(0))
    assert expected.replace("\n", "") in first.replace("\n", "").replace("&#x27;", "'")
    assert len(explorer.output.outputs) == 1
    explorer.controls["temperature"].value = 0.0
    greedy = model.generate("ab", 20, 0.0)
    assert greedy.replace("\n", "") in explorer.text.value.replace("\n", "").replace("&#x27;", "'")
    explorer.controls["top_k"].value = 2
    explorer.controls["prompt"].value = "xyz"
    assert "not one of the" in explorer.text.value and explorer.output.outputs == ()
    explorer.controls["prompt"].value = ""
    assert "prompt is empty" in explorer.text.value
    explorer.controls["prompt"].value = "a"
    assert len(explorer.output.outputs) == 1
    assert plt.get_fignums() == []
