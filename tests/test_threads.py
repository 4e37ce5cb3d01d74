"""labkit.threads: the cores a process may use, the fair thread count, the override and its errors."""
from __future__ import annotations

import subprocess
import sys

import pytest

from labkit import threads


def test_cgroup_v2_quota_caps_the_cores(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert threads._cgroup_quota(tmp_path) == 1.5
    assert threads.available_cores(tmp_path) <= 2  # a 1.5-CPU quota allows at most 2 threads


def test_cgroup_v2_unlimited_and_v1_quota(tmp_path):
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert threads._cgroup_quota(tmp_path) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert threads._cgroup_quota(v1) == 1.0
    assert threads.available_cores(v1) == 1
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert threads._cgroup_quota(v1) is None


def _tasks(folder, states):
    for number, state in enumerate(states):
        (folder / str(number)).mkdir(parents=True)
        (folder / str(number) / "stat").write_text(f"{number} (python (x)) {state} 1 2 3\n")
    return folder


def test_other_runnable_reads_procs_running_less_this_processs_running_threads(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  1 2 3\nprocs_running 5\nprocs_blocked 0\n")
    # two of our threads run (the caller and a spinning OpenMP worker), one sleeps: 3 others
    assert threads.other_runnable(stat, own=_tasks(tmp_path / "a", "RRS")) == 3
    assert threads.other_runnable(stat, own=_tasks(tmp_path / "b", "SS")) == 4  # the caller counts as 1
    stat.write_text("cpu  1 2 3\nprocs_running 2\n")
    assert threads.other_runnable(stat, own=_tasks(tmp_path / "c", "RR")) == 0  # idle: only ourselves
    stat.write_text("cpu  1 2 3\n")
    assert threads.other_runnable(stat) is None
    assert threads.other_runnable(tmp_path / "missing") is None


@pytest.mark.parametrize("cores,others,expected", [
    (2, 0, 2), (2, 1, 1), (2, 4, 1), (8, 3, 5), (4, None, 4), (1, 0, 1),
])
def test_fair_threads(cores, others, expected):
    assert threads.fair_threads(cores, others) == expected


@pytest.mark.parametrize("raw,expected", [("auto", "auto"), ("", "auto"), ("TORCH", "torch"), ("3", 3)])
def test_setting_parses(raw, expected):
    assert threads.setting({threads.ENV: raw}) == expected


@pytest.mark.parametrize("raw", ["0", "-2", "two", "1.5"])
def test_setting_refuses_bad_values_in_one_line(raw):
    with pytest.raises(threads.ThreadSettingError, match="LABKIT_THREADS=.*auto, torch or a whole number"):
        threads.setting({threads.ENV: raw})


def test_kernel_env_passes_a_fixed_count_to_openmp_and_keeps_the_rest():
    env = threads.kernel_env({"LABKIT_THREADS": "1", "PATH": "/bin"})
    assert env["OMP_NUM_THREADS"] == "1" and env["MKL_NUM_THREADS"] == "1" and env["PATH"] == "/bin"
    assert "OMP_NUM_THREADS" not in threads.kernel_env({"PATH": "/bin"})  # auto adapts inside the process
    assert threads.kernel_env({"LABKIT_THREADS": "2", "OMP_NUM_THREADS": "4"})["OMP_NUM_THREADS"] == "4"


def test_adapt_sets_torch_threads_in_a_fresh_process():
    code = ("import torch; from labkit import threads; "
            "n = threads.adapt(force=True); assert n == torch.get_num_threads(), n; "
            "assert 1 <= n <= threads.available_cores(); d = threads.describe(); "
            "assert d['mode'] == 'auto' and d['threads'] == n; print(n)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "LABKIT_THREADS": "auto"})
    assert out.returncode == 0, out.stderr
    fixed = subprocess.run([sys.executable, "-c", "import torch; from labkit import threads; "
                            "print(threads.adapt(), torch.get_num_threads(), threads.describe()['mode'])"],
                           capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "LABKIT_THREADS": "1"})
    assert fixed.stdout.split() == ["1", "1", "fixed"], fixed.stderr
