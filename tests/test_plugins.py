"""A brain module written in user code: the README's k-NN memory, registered and swapped in by name from the
command line and from a sweep file, with no library edit."""

import json
import re
import runpy
import sys
from pathlib import Path

import jax.numpy as jnp
import pytest

from agents import config
from agents.sweep import load_spec, run_sweep

ROOT = Path(__file__).resolve().parents[1]
BRAIN = ["perception:identity", "planner:random", "gate:argmax", "--plan-every", "5", "--levels", "5",
         "--situations.units", "4"]  # small and fast around the memory under test


@pytest.fixture
def knn_plugin(tmp_path, monkeypatch):
    """The README's listing saved as knn_memory.py in a fresh working directory; the registry is restored after."""
    section = README_SECTION.search((ROOT / "README.md").read_text())
    assert section, "README has no 'Write your own brain module' section with a python listing"
    (tmp_path / "knn_memory.py").write_text(section.group(1))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(config.SLOTS, "memory", dict(config.SLOTS["memory"]))
    monkeypatch.setattr(config, "MemoryVariant", config.MemoryVariant)
    yield tmp_path
    sys.modules.pop("knn_memory", None)
    sys.path[:] = [p for p in sys.path if p != str(tmp_path)]


README_SECTION = re.compile(r"### Write your own brain module.*?```python\n(.*?)```", re.S)


def test_a_registered_memory_is_swapped_in_from_the_command_line(knn_plugin, monkeypatch):
    argv = ["train.py", "--plugin", "knn_memory", "memory:knn", "--memory.capacity", "64", *BRAIN, "--steps", "30",
            "--population", "2", "--runs", str(knn_plugin / "runs")]
    monkeypatch.setattr(sys, "argv", argv)
    script = runpy.run_path(str(ROOT / "scripts" / "train.py"), run_name="__main__")
    memory = script["run"].population.states.brain.memory
    assert type(memory).__name__ == "KNNMemory" and memory.keys.shape == (2, 64, memory.in_size)
    assert jnp.all(memory.stored > 0), "the agents stored what happened to them in the plugin's memory"
    (folder,) = (knn_plugin / "runs").iterdir()
    assert json.loads((folder / "config.json").read_text())["agent"]["memory"] == {"name": "knn", "capacity": 64}


def test_a_registered_memory_is_swapped_in_from_a_sweep_file(knn_plugin):
    spec = knn_plugin / "spec.toml"
    spec.write_text('plugins = ["knn_memory"]\nname = "knn"\nworlds = ["mortal/Forager-v0"]\nseeds = [0]\n'
                    'steps = 40\nhorizon = 60\n[agent]\nperception = "identity"\nplanner = "random"\n'
                    'gate = "argmax"\nplan_every = 5\nlevels = 5\nsituations = 4\n'
                    '[variants.knn]\nmemory = {name = "knn", capacity = 32}\n')
    loaded = load_spec(spec)
    assert type(loaded.variants["knn"].memory).__name__ == "KNNConfig" and loaded.variants["knn"].memory.capacity == 32
    summary = run_sweep(loaded, knn_plugin / "out", executor="serial")
    assert [row["variant"] for row in summary] == ["knn"] and summary[0]["seeds"] == 1


def test_registering_checks_the_module_and_its_name(knn_plugin):
    with pytest.raises(ValueError, match="plugin module 'no_such_plugin' not found"):
        config.import_plugins(["no_such_plugin"])
    config.import_plugins(["knn_memory"])
    knn = config.SLOTS["memory"]["knn"]
    assert config.variant("memory", "knn", capacity=8) == knn(capacity=8)
    config.register("memory", "knn", knn)  # the same class again (a module imported twice) is no change
    with pytest.raises(ValueError, match="memory 'sdr' is taken by"):
        config.register("memory", "sdr", knn)
    with pytest.raises(TypeError, match="must be a frozen dataclass with a build method"):
        config.register("memory", "plain", dict)
    with pytest.raises(ValueError, match="unknown brain slot 'cortex'"):
        config.register("cortex", "knn", knn)
