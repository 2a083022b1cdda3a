"""CPU threads: a fit or a draw uses the idle CPUs, not more (synthvae/threads.py).

Threads beyond the idle cores make torch many times slower (benchmarks/results/threads.md),
so by default each call probes the idle CPUs; ``n_threads`` sets the count; torch's own
setting is restored after the call either way.
"""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from cli.main import app
from synthvae import Synthesizer, sampling, threads
from synthvae.errors import ConfigError

STAT = """cpu  900 0 100 3000 0 0 0 0 0 0
cpu0 100 0 0 900 0 0 0 0 0 0
cpu1 700 0 100 200 0 0 0 0 0 0
cpu2 100 0 0 1900 0 0 0 0 0 0
intr 12345
"""


@pytest.fixture
def torch_threads(monkeypatch):
    monkeypatch.delenv("SYNTHVAE_THREADS", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    threads._last_probe = None
    yield
    torch.set_num_threads(before)
    threads._last_probe = None


def test_cpu_times_reads_only_the_cpus_this_process_may_use(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text(STAT)
    assert threads.cpu_times({0, 2}, stat) == (900 + 1900, 1000 + 2000)
    assert threads.cpu_times({1}, stat) == (200, 1000)
    assert threads.cpu_times({7}, stat) is None  # not listed: nothing to go by


@pytest.mark.parametrize("idle, quota, expected", [
    (0.3, None, 1),    # every CPU busy: one thread, never none
    (1.85, None, 2),   # one core taken by another process
    (3.9, None, 4),    # all idle: torch's own setting
    (7.9, None, 4),    # more idle CPUs than torch's setting: the setting caps
    (3.9, 2.0, 2),     # a cgroup quota of 2 CPUs caps too
])
def test_auto_threads_uses_the_idle_cpus_within_quota_and_torch_setting(
        monkeypatch, torch_threads, idle, quota, expected):
    monkeypatch.setattr(threads, "usable_cpus", lambda: set(range(8)))
    monkeypatch.setattr(threads, "idle_cpus", lambda cpus: idle)
    monkeypatch.setattr(threads, "quota_cpus", lambda: quota)
    assert threads.auto_threads() == expected


def test_a_recent_probe_is_reused(monkeypatch, torch_threads):
    probes = []
    monkeypatch.setattr(threads, "usable_cpus", lambda: {0, 1})
    monkeypatch.setattr(threads, "idle_cpus", lambda cpus: probes.append(1) or 2.0)
    monkeypatch.setattr(threads, "quota_cpus", lambda: None)
    assert threads.auto_threads() == threads.auto_threads() == 2
    assert len(probes) == 1


def test_no_probe_when_there_is_one_thread_or_one_cpu_to_use(monkeypatch, torch_threads):
    # the probe sleeps PROBE_SECONDS: a one-thread process pays nothing for a choice it lacks
    monkeypatch.setattr(threads, "idle_cpus", lambda cpus: pytest.fail("no probe needed"))
    monkeypatch.setattr(threads, "usable_cpus", lambda: {0})
    assert threads.auto_threads() == 1  # torch may use 4, this process one CPU
    monkeypatch.setattr(threads, "usable_cpus", lambda: {0, 1, 2})
    torch.set_num_threads(1)
    assert threads.auto_threads() == 1


def test_without_proc_stat_torch_setting_is_kept(monkeypatch, torch_threads):
    monkeypatch.setattr(threads, "usable_cpus", lambda: None)
    with threads.cpu_threads(None) as used:
        assert used == torch.get_num_threads() == 4


def test_cpu_threads_sets_and_restores_torch_setting(torch_threads):
    with threads.cpu_threads(1) as used:
        assert used == torch.get_num_threads() == 1
    assert torch.get_num_threads() == 4
    with pytest.raises(RuntimeError):
        with threads.cpu_threads(2):
            raise RuntimeError("a failing fit")
    assert torch.get_num_threads() == 4


def test_fit_and_sample_run_with_the_threads_asked_for(monkeypatch, torch_threads):
    seen = []
    draw = sampling.ColumnDrawer.draw

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return draw(*args, **kwargs)

    monkeypatch.setattr(sampling.ColumnDrawer, "draw", spy)
    df = pd.DataFrame({"x": range(200), "c": ["a", "b"] * 100})
    synth = Synthesizer(epochs=1, n_threads=1, verbose=False).fit(df)
    assert seen and set(seen) == {1}  # calibration draws rows inside the fit
    assert torch.get_num_threads() == 4
    seen.clear()
    frames = synth.iter_sample(300, chunk_size=100)
    next(frames)
    assert torch.get_num_threads() == 4  # the caller's setting between chunks
    list(frames)
    assert set(seen) == {1}


def test_n_threads_is_the_machines_and_not_saved(tmp_path):
    df = pd.DataFrame({"x": range(100)})
    Synthesizer(epochs=1, n_threads=1, verbose=False).fit(df).save(tmp_path / "m.safetensors")
    assert Synthesizer.load(tmp_path / "m.safetensors").n_threads is None


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2"])
def test_a_bad_thread_count_is_refused_with_its_name(bad):
    with pytest.raises(ConfigError, match="n_threads must be None .* or a positive int"):
        Synthesizer(n_threads=bad, verbose=False).fit(pd.DataFrame({"x": range(50)}))


@pytest.mark.parametrize("command", [["sample", "-n", "10"], ["fit", "data.csv"]])
def test_cli_threads_option_is_checked_before_any_work(tmp_path, command):
    result = CliRunner().invoke(app, [*command, "--threads", "0",
                                      "-m" if command[0] == "sample" else "-o",
                                      str(tmp_path / "none.safetensors")])
    assert result.exit_code == 1
    assert "--threads must be a positive number of CPU threads; got 0" in result.output


def test_an_environment_variable_pins_the_default(monkeypatch, torch_threads):
    monkeypatch.setattr(threads, "idle_cpus", lambda cpus: pytest.fail("no probe when pinned"))
    monkeypatch.setenv("SYNTHVAE_THREADS", "3")
    assert threads.auto_threads() == 3
    monkeypatch.setenv("SYNTHVAE_THREADS", "two")
    with pytest.raises(ConfigError, match="SYNTHVAE_THREADS must be a positive number"):
        threads.auto_threads()


@pytest.fixture(scope="module")
def tiny_model():
    return Synthesizer(epochs=1, n_threads=1, verbose=False).fit(
        pd.DataFrame({"x": range(100), "k": ["a", "b"] * 50}))


@pytest.mark.parametrize("bad", [0, -3, "2"])
def test_a_bad_thread_count_set_after_fitting_is_refused_when_sampling(tiny_model, bad,
                                                                       torch_threads):
    """n_threads is not saved, so it is set after a load; a bad value used to reach torch
    (a raw RuntimeError) at sample time."""
    tiny_model.set_params(n_threads=bad)
    try:
        with pytest.raises(ConfigError, match="n_threads must be None .* or a positive int"):
            tiny_model.sample(10)
        with pytest.raises(ConfigError, match="n_threads must be None .* or a positive int"):
            next(tiny_model.iter_sample(10))
    finally:
        tiny_model.set_params(n_threads=1)
    assert torch.get_num_threads() == 4


def test_a_digit_python_reads_as_no_number_is_refused(monkeypatch, torch_threads):
    """'²' is a digit to str.isdigit but not to int(): it used to be a raw ValueError."""
    monkeypatch.setenv("SYNTHVAE_THREADS", "²")
    with pytest.raises(ConfigError, match="SYNTHVAE_THREADS must be a positive number .* '²'"):
        threads.auto_threads()
