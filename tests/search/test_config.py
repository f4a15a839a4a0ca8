"""`SearchConfig` is the one definition of `nas search`'s options: the command line
exposes every field with its default and help, and errors name what the caller typed."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
import typer

from nas.cli import app, run_app
from nas.cli.config_options import config_from_options
from nas.errors import OptionError
from nas.options import default_of, flag_names, flag_spellings, option_of
from nas.search.config import SearchConfig


def search_command():
    return typer.main.get_command(app).commands["search"]


def parsed(args: list[str]) -> SearchConfig:
    """The config ``nas search ARGS`` would run, without running it."""
    params = search_command().make_context("search", list(args)).params
    return config_from_options(SearchConfig, {f.name: params[f.name]
                                              for f in fields(SearchConfig)})


@pytest.mark.parametrize("field", fields(SearchConfig), ids=lambda f: f.name)
def test_the_cli_exposes_every_field_with_its_default_and_help(field):
    params = {p.name: p for p in search_command().params}
    assert field.name in params, f"nas search has no option for {field.name}"
    param, opt = params[field.name], option_of(field)
    spelled = [s for decl in flag_spellings(field) for s in decl.split("/")]
    assert sorted(param.opts + param.secondary_opts) == sorted(spelled)
    assert param.help == opt.help and opt.help.strip()
    cli_default = opt.parse(param.default) if opt.parse else param.default
    assert cli_default == default_of(field)


def test_no_options_give_the_python_defaults():
    assert parsed([]) == SearchConfig()
    assert SearchConfig().seed_references is True  # the one default, on (docs/search.md)


def test_every_flag_spelling_reaches_its_field():
    config = parsed(["-g", "ffn", "-t", "wine", "--target", "y", "--task-option", "n_train=500",
                     "--task-option", "drop=id", "-s", "random", "-n", "3", "--tune-trials",
                     "4", "--epochs", "2", "--trial-seconds", "0", "-w", "2", "--study", "s",
                     "--storage", "x.db", "-o", "runs/x", "--seed", "7",
                     "--no-seed-references", "--population", "6", "--tournament", "3",
                     "--crossover-rate", "0.5", "--candidates", "9", "--predictor-warmup",
                     "3", "--device", "auto", "--heartbeat", "2", "--stale-after", "5",
                     "--no-export"])
    assert config == SearchConfig(
        grammar="ffn", task="wine", target="y", task_options={"n_train": 500, "drop": "id"},
        strategy="random", budget=3, tune_trials=4, epochs=2, trial_seconds=None, workers=2,
        study="s", storage="x.db", out="runs/x", seed=7, seed_references=False,
        population=6, tournament=3, crossover_rate=0.5, candidates=9, predictor_warmup=3,
        device="auto", heartbeat_s=2.0, stale_after_s=5.0, export=False)
    assert parsed(["--export"]).export and not parsed(["--no-export"]).export


def test_a_python_caller_sees_field_names():
    with pytest.raises(OptionError) as caught:
        SearchConfig(budget=0, heartbeat_s=3, stale_after_s=4)
    assert caught.value.fields == ("budget", "heartbeat_s", "stale_after_s")
    assert str(caught.value) == ("budget must be at least 1; the lease needs heartbeat_s > 0 "
                                 "and stale_after_s >= 2 x heartbeat_s")
    assert "--" not in str(caught.value)


@pytest.mark.parametrize("args, message", [
    (["--budget", "0"], "error: --budget must be at least 1"),
    (["--heartbeat", "3", "--stale-after", "4"],
     "error: the lease needs --heartbeat > 0 and --stale-after >= 2 x --heartbeat"),
    (["--task-option", "n_train"], "error: --task-option 'n_train' is not KEY=VALUE"),
    (["--strategy", "{x}"], "error: --strategy '{x}' is not one of random, evolution, "
                            "predictor"),
    (["--study", ""], "error: --study is empty: give a value or leave the option out"),
    (["--storage", " "], "error: --storage is empty: give a value or leave the option out"),
    (["--min-epochs", "x"], "error: --min-epochs 'x' is not a number of epochs or 'none'"),
    (["--stop-probability", "1"],
     "error: --stop-probability must lie strictly between 0 and 1 (or be 'grammar')"),
    (["--immigrant-rate", "2"], "error: --immigrant-rate must lie in [0, 1]"),
])
def test_a_cli_user_sees_flags(workdir, capsys, args, message):
    assert run_app(["search", *args]) == 2
    assert capsys.readouterr().err.strip() == message


def test_an_empty_name_is_refused_not_replaced_by_the_default(workdir):
    with pytest.raises(OptionError) as caught:
        SearchConfig(study="", grammar=" ", task="digits")
    assert caught.value.fields == ("grammar", "study")
    assert not list(Path(workdir).iterdir())  # no run directory was made


def test_zero_trial_seconds_means_no_limit_and_negative_is_refused():
    assert SearchConfig(trial_seconds=0).trial_seconds is None
    with pytest.raises(OptionError, match="trial_seconds must be positive"):
        SearchConfig(trial_seconds=-1)


def test_words_that_turn_an_option_off():
    assert parsed(["--min-epochs", "none", "--stop-probability", "grammar"]) == SearchConfig(
        min_epochs=None, stop_probability=None)
    assert parsed(["--min-epochs", "2", "--stop-probability", "0.5"]) == SearchConfig(
        min_epochs=2, stop_probability=0.5)


def test_every_field_has_a_flag_of_its_own():
    flags = [s for f in fields(SearchConfig) for decl in flag_spellings(f)
             for s in decl.split("/")]
    assert len(flags) == len(set(flags)) and "--json" not in flags
    assert flag_names(SearchConfig)["seed_references"] == "--seed-references"


def test_docs_list_every_option():
    table = (Path(__file__).parents[2] / "docs" / "search.md").read_text()
    missing = [flag for flag in flag_names(SearchConfig).values() if f"`{flag}" not in table]
    assert not missing, f"docs/search.md's option table lacks {missing}"
