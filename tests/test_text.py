"""Character vocabulary, nanoGPT's split and the two batch loaders of course_lib.text."""

import doctest
import itertools

import pytest
import torch
from torch.utils.data import DataLoader

import course_lib.text as text_module
from course_lib.data import load_tiny_shakespeare
from course_lib.text import (
    CharVocabulary,
    CharWindows,
    StreamLoader,
    UnknownCharacterError,
    load_shakespeare_chars,
    random_window_loader,
    split_text,
)


@pytest.fixture(scope="module")
def corpus():
    return load_shakespeare_chars()


def test_docstring_examples():
    assert doctest.testmod(text_module).failed == 0


def test_tiny_shakespeare_has_nanogpts_65_characters_and_split(corpus):
    # nanoGPT's data/shakespeare_char/prepare.py prints: vocab size 65, train 1,003,854 tokens, val 111,540 tokens.
    assert corpus.vocab.size == len(corpus.vocab) == 65
    assert corpus.vocab.chars == "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    assert (len(corpus.train), len(corpus.val)) == (1_003_854, 111_540)
    assert corpus.train.dtype == corpus.val.dtype == torch.int64
    text = load_tiny_shakespeare()
    n = len(text)
    assert corpus.vocab.decode(corpus.train) == text[: int(n * 0.9)]
    assert corpus.vocab.decode(corpus.val) == text[int(n * 0.9) :]
    assert corpus.vocab.decode(corpus.train[:14]) == "First Citizen:"


def test_encode_decode_round_trip_and_order():
    vocab = CharVocabulary("ba\nc éf")
    assert vocab.chars == "\n abcfé"  # sorted by code point, like sorted(set(text))
    ids = vocab.encode("café\n")
    assert ids.tolist() == [4, 2, 5, 6, 0] and ids.dtype == torch.int64
    assert vocab.decode(ids) == "café\n"
    assert vocab.decode([]) == "" and vocab.encode("").tolist() == []
    assert "é" in vocab and "z" not in vocab and "ab" not in vocab
    assert vocab == CharVocabulary("fé cba\n") and vocab != CharVocabulary("abc")


def test_a_character_outside_the_vocabulary_is_named_with_its_position():
    vocab = CharVocabulary("abc")
    with pytest.raises(
        UnknownCharacterError,
        match=r"The character 'z' \(position 2\) is not one of the 3 characters of this vocabulary",
    ):
        vocab.encode("abzc")
    with pytest.raises(ValueError, match="'abc'"):  # the error lists the characters it does know
        vocab.encode("é")
    with pytest.raises(ValueError, match=r"Id 3 is outside this vocabulary of 3 characters \(ids 0 to 2\)"):
        vocab.decode([0, 3])
    with pytest.raises(ValueError, match="Id -1"):
        vocab.decode(torch.tensor([-1]))
    with pytest.raises(ValueError, match="1-D"):
        vocab.decode(torch.zeros(2, 2, dtype=torch.int64))
    with pytest.raises(TypeError, match="whole-number ids"):
        vocab.decode([0.5])
    with pytest.raises(TypeError, match="takes a str"):
        vocab.encode(["a"])
    with pytest.raises(ValueError, match="non-empty"):
        CharVocabulary("")


def test_split_text_is_nanogpts_cut_of_anything_sliceable():
    assert split_text("abcdefghij") == ("abcdefghi", "j")
    train, val = split_text(torch.arange(101), train_fraction=0.5)
    assert train.tolist() == list(range(50)) and val.tolist() == list(range(50, 101))
    with pytest.raises(ValueError, match=r"train_fraction must be a number in \(0, 1\); got 1.0. nanoGPT"):
        split_text("abcdef", train_fraction=1.0)
    with pytest.raises(ValueError, match="too short"):
        split_text("ab", train_fraction=0.1)


# ----------------------------------------------------------------------------- StreamLoader
def test_stream_loader_reads_contiguous_streams_in_order():
    ids = torch.arange(23)
    loader = StreamLoader(ids, batch_size=2, window=4)
    # (23 - 1) // 2 = 11 characters a stream: stream 0 reads 0..10, stream 1 reads 11..21 (targets one later).
    assert loader.stream_length == 11 and len(loader) == 3 and loader.characters_per_pass == 22
    batches = list(loader)
    assert [tuple(x.shape) for x, _ in batches] == [(2, 4), (2, 4), (2, 3)]
    inputs = torch.cat([x for x, _ in batches], dim=1)
    targets = torch.cat([y for _, y in batches], dim=1)
    assert inputs.tolist() == [list(range(11)), list(range(11, 22))]
    assert torch.equal(targets, inputs + 1)
    # Each row continues where the same row of the previous window stopped: the state can be carried.
    for (x0, _), (x1, _) in itertools.pairwise(batches):
        assert torch.equal(x1[:, 0], x0[:, -1] + 1)
    assert len(list(loader)) == 3  # iterating again starts again from the top


def test_stream_loader_drop_last_keeps_full_windows_only():
    loader = StreamLoader(torch.arange(23), batch_size=2, window=4, drop_last=True)
    assert len(loader) == 2 and loader.characters_per_pass == 16
    assert all(x.shape == (2, 4) for x, _ in loader)


def test_stream_loader_on_shakespeare_predicts_every_character_once(corpus):
    loader = StreamLoader(corpus.val, batch_size=16, window=256)
    seen = sum(y.numel() for _, y in loader)
    assert seen == loader.characters_per_pass == 16 * ((len(corpus.val) - 1) // 16)
    assert len(corpus.val) - 1 - seen < 16
    x, y = next(iter(loader))
    assert x.dtype == torch.int64 and x.data_ptr() == loader.inputs.data_ptr()  # a view, not a copy
    assert torch.equal(y[:, :-1], x[:, 1:])


def test_stream_loader_refuses_bad_arguments():
    with pytest.raises(ValueError, match="batch_size must be a whole number of streams, 1 or more; got 0"):
        StreamLoader(torch.arange(10), batch_size=0, window=4)
    with pytest.raises(ValueError, match="window must be"):
        StreamLoader(torch.arange(10), batch_size=2, window=2.5)
    with pytest.raises(ValueError, match="10 characters are too few for 20 streams"):
        StreamLoader(torch.arange(10), batch_size=20, window=4)
    with pytest.raises(ValueError, match="too few"):
        StreamLoader(torch.arange(10), batch_size=2, window=8, drop_last=True)
    with pytest.raises(TypeError, match="1-D tensor of integer ids"):
        StreamLoader(torch.rand(10), batch_size=2, window=4)
    with pytest.raises(TypeError, match=r"vocab.encode\(text\)"):
        StreamLoader("some text", batch_size=2, window=4)


# ----------------------------------------------------------------------------- random windows
def test_char_windows_is_a_tutorial_dataset_of_shifted_pairs():
    windows = CharWindows(torch.arange(20), window=5)
    assert len(windows) == 3  # starts 0, 5, 10 (a window starting at 15 would need 21 characters)
    x, y = windows[1]
    assert x.tolist() == [5, 6, 7, 8, 9] and y.tolist() == [6, 7, 8, 9, 10]
    assert windows[-1][0].tolist() == [10, 11, 12, 13, 14]
    with pytest.raises(IndexError, match="there are 3 windows"):
        windows[3]
    overlapping = CharWindows(torch.arange(20), window=5, stride=1)
    assert len(overlapping) == 15 and overlapping[14][1].tolist() == [15, 16, 17, 18, 19]
    with pytest.raises(ValueError, match="too few for one window"):
        CharWindows(torch.arange(5), window=5)


def test_random_window_loader_shuffles_full_batches_reproducibly():
    positions = torch.arange(10_000)  # ids that are their own positions: each window shows where it starts
    loader = random_window_loader(positions, batch_size=8, window=32, generator=torch.Generator().manual_seed(0))
    assert isinstance(loader, DataLoader) and len(loader) == 39  # 312 windows of 32 (+1 target), 8 a batch
    x, y = next(iter(loader))
    assert x.shape == y.shape == (8, 32) and x.dtype == torch.int64
    assert torch.equal(y, x + 1)
    starts = x[:, 0]
    assert torch.equal(starts % 32, torch.zeros(8, dtype=torch.int64))  # non-overlapping windows
    assert not torch.equal(starts, starts[0] + 32 * torch.arange(8))  # not in order: shuffled
    again = random_window_loader(positions, batch_size=8, window=32, generator=torch.Generator().manual_seed(0))
    assert torch.equal(next(iter(again))[0], x)
    with pytest.raises(ValueError, match="fewer than one batch"):
        random_window_loader(torch.arange(100), batch_size=8, window=32)
