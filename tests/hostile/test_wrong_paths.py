"""Paths of the wrong kind and undecodable files: one line naming the file (issue 14)."""

import numpy as np
import pytest
from hostile_cli import assert_clean_error, run_cli

from bench.tasks import get_task
from nas.errors import NasError, TaskError
from nas.paths import input_dir, input_file, output_dir, output_file, read_text


@pytest.fixture
def files(tmp_path):
    (tmp_path / "folder.lark").mkdir()
    (tmp_path / "outdir").mkdir()
    (tmp_path / "binary.lark").write_bytes(b"\x00\xff\xfe binary")
    (tmp_path / "latin1.csv").write_bytes(b"a,b,target\n1,2,0\n\xe9t\xe9,3,1\n")
    (tmp_path / "text.npz").write_text("not an archive\n")
    np.save(tmp_path / "array.npy", np.zeros(3))
    (tmp_path / "array.npy").rename(tmp_path / "array.npz")
    (tmp_path / "plain").write_text("hi\n")
    (tmp_path / "columns.csv").write_text("arch_id,task\nx,t\n")
    return tmp_path


@pytest.mark.parametrize("args, fragments", [
    (("validate", "-g", "{d}/folder.lark", "identity"), ["folder.lark is a directory"]),
    (("validate", "-g", "{d}/binary.lark", "identity"), ["binary.lark is not UTF-8 text",
                                                         "line 1"]),
    (("validate", "--file", "{d}/outdir"), ["is a directory, expected a file"]),
    (("validate", "--file", "{d}/binary.lark"), ["not UTF-8"]),
    (("export", "@{d}/binary.lark", "-o", "{d}/x.onnx"), ["architecture file", "not UTF-8"]),
    (("export", "sequential(identity, identity)", "-o", "{d}/outdir"),
     ["--out", "is a directory, expected a file path", "model.onnx"]),
    (("export", "sequential(identity, identity)", "-o", "{d}/plain/x.onnx"),
     ["plain is a file, not a directory"]),
    (("bench", "ls", "--store", "{d}/plain"), ["store", "is a file, expected a directory"]),
    (("bench", "import", "{d}/plain", "--store", "{d}/plain"), ["is a file"]),
    (("status", "--run", "{d}/plain"), ["run directory", "is a file, expected a directory"]),
    (("leaderboard", "--store", "{d}/plain"), ["is a file, expected a store directory"]),
    (("predict", "{d}/outdir"), ["ONNX file", "is a directory"]),
    (("predict", "{d}/plain", "--predictor", "{d}/outdir"), ["predictor file",
                                                             "is a directory"]),
    (("perf", "export", "-o", "{d}/outdir"), ["--out", "is a directory"]),
    (("search", "--out", "{d}/plain", "--budget", "1"), ["run directory (--out)",
                                                         "is a file, expected a directory"]),
    (("leaderboard", "--store", "{d}/columns.csv"), ["lacks column(s) arch, grammar"]),
    (("leaderboard", "a" * 300), ["run directory has a name longer than 255 bytes"]),
    (("leaderboard", "--store", "a" * 300), ["File name too long (aaaa", "check the path"]),
    (("validate", "-g", "a" * 300 + ".lark", "x"), ["grammar file has a name longer"]),
    (("bench", "import", "{d}/latin1.csv", "-s", "{d}/new"), ["score file", "not UTF-8 text",
                                                                "line 3"]),
])
def test_wrong_kind_of_path_gives_one_line(files, args, fragments):
    argv = [a.format(d=files) for a in args]
    assert_clean_error(run_cli(*argv), *fragments)


@pytest.mark.parametrize("name, fragment", [
    ("latin1.csv", "is not UTF-8 text (byte 0xe9 on line 3)"),
    ("text.npz", "is not an .npz archive; save the arrays with np.savez"),
    ("array.npz", "is a single .npy array"),
    ("outdir", "data file"),
])
def test_task_data_files_of_the_wrong_kind(files, name, fragment):
    if name == "outdir":
        (files / "outdir.csv").mkdir()
        name, fragment = "outdir.csv", "outdir.csv is a directory, expected a file"
    options = {"target": "target"} if name.endswith(".csv") else {}
    with pytest.raises(TaskError) as info:
        get_task(str(files / name), **options)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_path_helpers(files):
    assert read_text(files / "plain") == "hi\n"
    (files / "bom.txt").write_bytes(b"\xef\xbb\xbfhi")
    assert read_text(files / "bom.txt") == "hi"
    assert input_file(files / "plain") == files / "plain"
    assert input_dir(files / "outdir") == files / "outdir"
    assert output_file(files / "new" / "deeper" / "x.onnx").name == "x.onnx"
    assert output_dir(files / "new" / "run") == files / "new" / "run"
    for check, path, message in [
        (input_file, "missing", "does not exist"), (input_file, "outdir", "is a directory"),
        (input_dir, "plain", "is a file"), (input_dir, "missing", "does not exist"),
        (output_file, "outdir", "is a directory"), (output_file, "plain/x", "is a file"),
        (output_dir, "plain", "is a file"), (output_dir, "plain/run", "plain is a file"),
    ]:
        with pytest.raises(NasError, match=message):
            check(files / path)


@pytest.mark.parametrize("csv_name, fragment", [
    ("latin1.csv", "not UTF-8 text"),  # undecodable
    ("columns.csv", "needs a 'path' column"),  # wrong header
    ("rows.csv", "rows.csv:2: "),  # a row naming a missing model file
    ("missing.csv", "does not exist"),
])
def test_a_failed_import_leaves_no_store_directory(files, csv_name, fragment):
    (files / "rows.csv").write_text("path,score\nnowhere.onnx,0.5\n")
    store = files / "new" / "bench"
    assert_clean_error(run_cli("bench", "import", files / csv_name, "--store", store),
                       fragment)
    assert not (files / "new").exists()  # neither the store nor a parent of it


def test_a_failed_merge_leaves_no_store_directory(files):
    store = files / "new" / "bench"
    assert_clean_error(run_cli("bench", "merge", files / "missing", "--store", store),
                       "no ONNX-Bench store at", "missing")
    assert_clean_error(run_cli("bench", "merge", files / "outdir", "--store", store),
                       "is not an ONNX-Bench store")
    assert not (files / "new").exists()
