"""The job runner as a user meets it: streaming inputs, resume, refusing to mix runs, honest interruption,
atomic files, clear errors instead of tracebacks (each test reproduces one finding of issue 11)."""
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
import warnings
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import generators
from cfgan.cli import main
from cfgan.data import save_image
from cfgan.jobs import BatchOutput, Item, Job, JobError, run_job
from cfgan.jobs.items import SeedList, file_keys
from cfgan.jobs.runner import LEDGER, read_ledger
from generators.files import atomic_write, write_json
from inversion import LatentCode, load_latents, save_latents

from tiny_models import TINY_CLASSIFIER_SPEC, tiny_classifier

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, saved_generator):
    """(generator file, three image files of its samples, the loaded generator)."""
    root = tmp_path_factory.mktemp("jobs")
    gen = saved_generator(16)
    G = generators.load(gen)
    images = []
    with torch.no_grad():
        for i, img in enumerate(G.sample(3, seed=5).clamp(-1, 1)):
            images.append(str(save_image(img, root / "imgs" / f"im{i}.png")))
    return str(gen), images, G


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


# -- 1. inputs stream; absurd ranges fail fast -------------------------------------------------------------
def test_a_huge_seed_range_fails_fast_without_building_a_list(tiny, tmp_path):
    gen, _, _ = tiny
    tracemalloc.start()
    started = time.perf_counter()
    res = invoke("cross", "--seed", "0-100000000", "-g", gen, "-c", "x.py:f", "--target", "1", "--out", tmp_path / "o")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert res.exit_code == 2 and "100,000,001 seeds is more than 1,000,000" in res.output
    assert time.perf_counter() - started < 5 and peak < 50e6
    assert not (tmp_path / "o").exists()
    res = invoke("generate", "-g", gen, "--seeds", "5-99999999999", "--out", tmp_path / "o")
    assert res.exit_code == 2 and "too large" in res.output and "Traceback" not in res.output


def test_seed_lists_are_ranges_until_iterated():
    seeds = SeedList.parse("0-899999,4294967295")
    assert len(seeds) == 900_001 and seeds.ranges == ((0, 899999), (4294967295, 4294967295))
    first = next(iter(seeds.items()))
    assert (first.key, first.index, first.payload) == ("seed00000", 0, 0)
    with pytest.raises(JobError, match="seed 3 is listed twice"):
        SeedList.parse("0-5,3")
    with pytest.raises(JobError, match="runs backwards"):
        SeedList.parse("9-2")


# -- 2. interruption is honest -------------------------------------------------------------------------------
def _wait_for(predicate, timeout=120.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_ctrl_c_on_invert_exits_130_and_marks_the_cut_batch(tmp_path):
    from cfgan.zoo import zoo_samples

    images = [str(s.path) for s in zoo_samples()[:3]]
    out = tmp_path / "inv"
    # the bundled generator takes ~10 ms a step: 4000 steps are far longer than the wait below
    cmd = [sys.executable, "-m", "cfgan", "invert", *images, "-g", "zoo:fashion-mnist", "--steps", "4000",
           "--loss", "mse=1", "--batch", "1", "--out", str(out), "--device", "cpu"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for wait in (6.0, 20.0):  # past start-up (the first optimiser imports torch._dynamo: seconds on a busy machine)
        proc = subprocess.Popen(cmd + ["--overwrite"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=env)
        assert _wait_for(lambda: (out / "job.json").is_file()), "the run never started"
        time.sleep(wait)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=120)
        assert proc.returncode == 130, output
        assert "interrupted: 0 of 3 items finished" in output, output
        if "1 written as partial" in output:  # the signal reached the optimisation, not start-up
            break
        assert not [p for p in out.iterdir() if p.is_dir()], "an item was written although none started"
    assert "1 written as partial" in output, output + (out / "summary.json").read_text()
    assert "inverted 3 images" not in output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["complete"] is False
    assert [(i["key"], i["status"]) for i in summary["items"]] == [(Path(images[0]).stem, "partial")]
    assert summary["pending"] == 2
    assert not (out / "latents.pt").exists()  # the combined file holds finished codes only


# -- 3. resume, and never mixing runs ------------------------------------------------------------------------
class Counting(Job):
    """A toy job: doubles numbers; counts how often each item was computed."""

    command = "count"
    batch_size = 2

    def __init__(self, n, factor=2, fail_at=None):
        self.n, self.factor, self.fail_at, self.computed = n, factor, fail_at, []

    def settings(self):
        return {"n": self.n, "factor": self.factor}

    def count(self):
        return self.n

    def items(self):
        return (Item(f"item{i}", i, i) for i in range(self.n))

    def run(self, items, step_progress):
        if self.fail_at is not None and any(item.index == self.fail_at for item in items):
            raise KeyboardInterrupt
        self.computed += [item.index for item in items]
        return BatchOutput([item.payload * self.factor for item in items])

    def write(self, item, output, folder):
        write_json(folder / "value.json", {"value": output})
        return {"value": output}


def test_a_second_run_resumes_and_a_different_one_is_refused(tmp_path):
    out = tmp_path / "run"
    first = run_job(Counting(5, fail_at=3), out)
    assert first.interrupted and first.exit_code == 130 and first.done == 2
    again = Counting(5)
    report = run_job(again, out)
    assert not report.interrupted and report.done == 5 and again.computed == [2, 3, 4]
    assert [json.loads((out / f"item{i}" / "value.json").read_text())["value"] for i in range(5)] == [0, 2, 4, 6, 8]
    with pytest.raises(JobError, match=r"holds a different cfgan run \(factor: 2 -> 3\).*--overwrite"):
        run_job(Counting(5, factor=3), out)
    replaced = Counting(2, factor=3)
    run_job(replaced, out, overwrite=True)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["item0", "item1"]
    assert json.loads((out / "summary.json").read_text())["settings"] == {"n": 2, "factor": 3}


def test_a_folder_that_is_not_a_run_is_left_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(JobError, match="is not empty and is not a cfgan run folder"):
        run_job(Counting(1), tmp_path, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_torn_ledger_line_is_dropped_and_its_item_redone(tmp_path):
    out = tmp_path / "run"
    run_job(Counting(4), out)
    ledger = out / LEDGER
    lines = ledger.read_bytes().splitlines(keepends=True)
    ledger.write_bytes(b"".join(lines[:2]) + lines[2][:10])  # killed while appending item2's line
    assert sorted(read_ledger(out)) == ["item0", "item1"]
    again = Counting(4)
    run_job(again, out)
    assert again.computed == [2, 3] and len(read_ledger(out)) == 4


def test_same_named_files_and_repeated_paths_get_distinct_folders(tmp_path):
    a, b = tmp_path / "dup" / "a" / "x.png", tmp_path / "dup" / "b" / "x.png"
    assert file_keys([str(a), str(b), str(tmp_path / "y.png")]) == ["a_x", "b_x", "y"]
    assert file_keys([str(a), str(a)]) == ["a_x", "a_x_1"]


def test_invert_of_same_named_files_keeps_both(tiny, tmp_path):
    gen, images, _ = tiny
    dup = [tmp_path / "a" / "x.png", tmp_path / "b" / "x.png"]
    for src, dst in zip(images, dup):
        dst.parent.mkdir(parents=True)
        dst.write_bytes(Path(src).read_bytes())
    res = invoke("invert", *dup, "-g", gen, "--steps", 2, "--loss", "mse=1", "--out", tmp_path / "inv")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "inv" / "a_x" / "recon.png").is_file() and (tmp_path / "inv" / "b_x" / "recon.png").is_file()
    _, payload = load_latents(str(tmp_path / "inv" / "latents.pt"))
    assert payload["extra"]["files"] == [str(p) for p in dup]


def test_reusing_out_for_another_command_is_refused(tiny, tmp_path):
    gen, _, _ = tiny
    out = tmp_path / "o"
    assert invoke("generate", "-g", gen, "--seeds", "0-1", "--out", out).exit_code == 0
    res = invoke("generate", "-g", gen, "--seeds", "0-2", "--out", out)
    assert res.exit_code == 1 and "holds a different cfgan run (seeds: '0-1' -> '0-2')" in res.output
    res = invoke("generate", "-g", gen, "--seeds", "0-2", "--out", out, "--overwrite")
    assert res.exit_code == 0 and len(list(out.glob("seed*.png"))) == 3


# -- kill -9 at random points, then the same command: the outputs of an uninterrupted run ------------------------
def _files_of(folder: Path):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.mark.slow
def test_kill_minus_9_at_random_points_then_resume_equals_an_uninterrupted_run(tiny, tmp_path):
    gen, _, G = tiny
    codes = str(tmp_path / "codes.pt")
    save_latents(codes, LatentCode.from_seeds(G, range(6), "w+"), G)
    env = dict(os.environ, OMP_NUM_THREADS="1")

    def command(out):
        return [sys.executable, "-m", "cfgan", "cross", "--latents", codes, "-g", gen, "-c",
                TINY_CLASSIFIER_SPEC, "--target", "3", "--method", "ascent", "--frames", "4",
                "--steps", "60", "--batch", "1", "--no-lpips", "--device", "cpu", "--out", str(out)]

    reference = tmp_path / "reference"
    started = time.perf_counter()
    subprocess.run(command(reference), check=True, capture_output=True, env=env, timeout=300)
    full = time.perf_counter() - started
    out = tmp_path / "killed"
    rng = random.Random(1234)
    for _ in range(4):
        proc = subprocess.Popen(command(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        time.sleep(rng.uniform(0.3, full))
        proc.kill()  # SIGKILL: no handler runs, no cleanup
        proc.wait()
        for entry in read_ledger(out).values():  # everything the ledger names is complete
            assert (out / entry["key"] / "report.json").is_file()
    subprocess.run(command(out), check=True, capture_output=True, env=env, timeout=300)
    assert not (out / ".staging").exists()
    ref_entries, got_entries = read_ledger(reference), read_ledger(out)
    assert sorted(got_entries) == sorted(ref_entries) and len(got_entries) == 6
    assert all(e["status"] == "done" for e in got_entries.values())
    assert len((out / LEDGER).read_text().splitlines()) >= 6
    for key, entry in ref_entries.items():
        assert got_entries[key]["record"] == entry["record"], key
        assert _files_of(out / key) == _files_of(reference / key)
        a, _ = load_latents(str(reference / key / "latents.pt"))
        b, _ = load_latents(str(out / key / "latents.pt"))
        assert torch.equal(a.values, b.values), key
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] and summary["crossed"] == json.loads((reference / "summary.json").read_text())["crossed"]


# -- 4. errors, not tracebacks ---------------------------------------------------------------------------------
def test_unwritable_out_fails_before_any_work(tiny, tmp_path):
    gen, images, _ = tiny
    blocker = tmp_path / "file"
    blocker.write_text("")
    started = time.perf_counter()
    res = invoke("invert", *images, "-g", gen, "--steps", 5000, "--out", blocker / "sub")
    assert res.exit_code == 1 and "cannot write results to --out" in res.output and "Traceback" not in res.output
    assert time.perf_counter() - started < 10


def test_bad_device_and_short_latent_file_lists_are_clear_errors(tiny, tmp_path):
    gen, _, G = tiny
    res = invoke("generate", "-g", gen, "--device", "banana", "--out", tmp_path / "o")
    assert res.exit_code == 2 and "'banana' is not a device" in res.output
    codes = str(tmp_path / "codes.pt")
    save_latents(codes, LatentCode.from_seeds(G, range(3), "w+"), G)
    payload = torch.load(codes, weights_only=True)
    payload["extra"]["files"] = ["only-one.png"]
    torch.save(payload, codes)
    res = invoke("cross", "--latents", codes, "-g", gen, "-c", TINY_CLASSIFIER_SPEC,
                 "--target", "1", "--out", tmp_path / "c")
    assert res.exit_code == 1 and "extra.files lists 1 source files for 3 codes" in res.output
    assert "Traceback" not in res.output


# -- 5. no silent garbage ---------------------------------------------------------------------------------------
def test_nonsense_numbers_are_refused(tiny, tmp_path):
    gen, images, G = tiny
    res = invoke("generate", "-g", gen, "--trunc", "nan", "--out", tmp_path / "o")
    assert res.exit_code != 0 and "finite" in res.output
    res = invoke("invert", images[0], "-g", gen, "--loss", "mse=-1", "--out", tmp_path / "o")
    assert res.exit_code == 2 and "mse=-1.0 must be a finite number >= 0" in res.output
    from inversion import project

    with pytest.raises(ValueError, match="steps must be an integer >= 1, got 0"):
        project(G, G.sample(1, seed=0).clamp(-1, 1), steps=0)
    with pytest.raises(TypeError, match="generators.load takes a file path.*got a int"):
        generators.load(42)


def test_images_in_the_wrong_range_are_refused_or_flagged(tiny):
    from cfgan.classifiers import load_classifier
    from cfgan.paths import cross
    from inversion import ImageRangeWarning, project

    _, _, G = tiny
    img = (G.sample(2, seed=1).clamp(-1, 1) + 1) / 2  # [0, 1]
    with pytest.raises(ValueError, match=r"look like \[0, 255\] pixels: use x / 127.5 - 1"):
        project(G, img * 255, steps=1)
    with pytest.warns(ImageRangeWarning, match=r"every pixel lies in \[0, 1\].*x \* 2 - 1"):
        project(G, img, steps=1, losses={"mse": 1})
    clf = load_classifier(tiny_classifier())
    with pytest.raises(ValueError, match=r"classifier input have pixels in .*\[0, 255\]"):
        clf(img * 255)
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        cross(G, clf, img * 255, target=1, method="ascent", frames=3)
    with warnings.catch_warnings():  # all-white is a valid [-1, 1] image (the end of a white pixel-flip test)
        warnings.simplefilter("error", ImageRangeWarning)
        clf(torch.ones_like(img))


# -- 6. quiet, one-line output ---------------------------------------------------------------------------------
def test_cross_prints_no_library_noise_and_each_warning_once(tiny, tmp_path):
    gen, images, _ = tiny
    res = invoke("cross", *images[:2], "-g", gen, "-c", TINY_CLASSIFIER_SPEC, "--target", "1",
                 "--method", "ascent", "--frames", 3, "--invert-steps", 2, "--steps", 2, "--out", tmp_path / "c")
    assert res.exit_code == 0, res.output
    assert "pretrained" not in res.output and "deprecated" not in res.output
    lpips_lines = [line for line in res.stderr.splitlines() if "LPIPS" in line]
    assert len(lpips_lines) <= 1 and all(line.startswith("warning: ") for line in lpips_lines)
    assert "    " not in "\n".join(lpips_lines)  # no echoed source lines
    lines = [line for line in res.stderr.splitlines() if line.startswith("cross: ")]
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"]  # one plain line per item when not a terminal


def test_loading_torchscript_is_quiet_and_unsafe_files_do_not_suggest_weights_only_false(tmp_path):
    import warnings

    from cfgan.classifiers import load_classifier

    net = torch.jit.script(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16 * 16, 3)))
    path = tmp_path / "ts.pt"
    net.save(str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_classifier(str(path))
    bad = tmp_path / "bad.pt"
    torch.save({"model": torch.nn.Linear(2, 2)}, bad)
    with pytest.raises(ValueError) as err:
        load_classifier(str(bad))
    assert "weights_only=False" not in str(err.value) and "never unpickles" in str(err.value)


# -- 7. temporary names never collide ---------------------------------------------------------------------------
def test_two_writers_of_one_file_use_different_temporary_names(tmp_path):
    target = tmp_path / "summary.json"
    with atomic_write(target) as a, atomic_write(target) as b:
        assert a.name != b.name
        a.write("first")
        b.write("second")
    assert target.read_text() == "first" and not list(tmp_path.glob(".summary.json.*"))

    errors = []

    def writer(k):
        try:
            for _ in range(20):
                write_json(target, {"k": k})
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and json.loads(target.read_text())["k"] in range(4)


# -- scale-out: torchrun shards the items, rank 0 merges ----------------------------------------------------------
@pytest.mark.slow
def test_two_process_torchrun_gives_the_one_process_ledger(tiny, tmp_path):
    gen, _, _ = tiny
    env = dict(os.environ, OMP_NUM_THREADS="1")
    args = ["-m", "cfgan", "generate", "-g", gen, "--seeds", "0-6", "--batch", "2", "--device", "cpu"]
    subprocess.run([sys.executable, *args, "--out", str(tmp_path / "one")], check=True, capture_output=True,
                   env=env, timeout=120)
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc_per_node=2", *args, "--out", str(tmp_path / "two")],
                         capture_output=True, text=True, env=env, timeout=180)
    assert two.returncode == 0, two.stdout + two.stderr
    assert two.stdout.count("wrote 7 images") == 1, two.stdout  # rank 0 alone speaks for the run
    one_ledger = (tmp_path / "one" / LEDGER).read_text()
    assert (tmp_path / "two" / LEDGER).read_text() == one_ledger and not list((tmp_path / "two").glob("items.rank*"))
    for seed in range(7):
        a = (tmp_path / "one" / f"seed{seed:05d}.png").read_bytes()
        assert (tmp_path / "two" / f"seed{seed:05d}.png").read_bytes() == a
    one, two = (json.loads((tmp_path / name / "summary.json").read_text()) for name in ("one", "two"))
    assert one["items"] == two["items"] and two["complete"] and two["done"] == 7


def test_atomic_path_keeps_the_suffix_and_leaves_nothing_behind(tmp_path):
    from generators.files import atomic_path, json_default

    target = tmp_path / "clip.mp4"
    with atomic_path(target) as a, atomic_path(target) as b:
        assert a != b and a.endswith(".mp4") and os.path.dirname(a) == str(tmp_path)  # writers see the format
        Path(a).write_bytes(b"a")
        Path(b).write_bytes(b"b")
    assert target.read_bytes() == b"a"  # the last one to finish wins, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask  # permissions as a plain open() gives them
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        Path(tmp).write_bytes(b"half")
        raise RuntimeError
    assert target.read_bytes() == b"a" and len(list(tmp_path.iterdir())) == 1
    import numpy as np

    assert json.loads(json.dumps({"t": torch.tensor([1.5]), "n": np.float32(2), "s": {3}}, default=json_default)) == \
        {"t": [1.5], "n": 2.0, "s": [3]}
