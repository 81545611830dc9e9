from pathlib import Path

from course_lib import config


def test_fast_or_full_follows_course_fast(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    assert config.is_fast() and config.fast_or_full(fast=1, full=10) == 1
    for off in ("0", "", "no", "false"):
        monkeypatch.setenv("COURSE_FAST", off)
        assert not config.is_fast() and config.fast_or_full(fast=1, full=10) == 10
    monkeypatch.delenv("COURSE_FAST")
    assert config.fast_or_full(fast="small", full="big") == "big"


def test_data_dir_default_and_override(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    assert config.data_dir() == config.PROJECT_ROOT / "data"
    assert (config.data_dir() / "mnist").is_dir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert config.data_dir() == tmp_path


def test_cache_dir_override(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    assert config.cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("COURSE_CACHE_DIR")
    assert config.cache_dir() == Path.home() / ".cache" / "deep-learning-course"


def test_strict_exercises_flag(monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_EXERCISES", "1")
    assert config.strict_exercises()
    monkeypatch.setenv("COURSE_STRICT_EXERCISES", "0")
    assert not config.strict_exercises()
