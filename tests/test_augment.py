"""Boundary-sample augmentation (issue 14): which frames are kept, in which order, the run's files, labels in and
a labelled ImageFolder out, resumption after kill -9 and torchrun scale-out giving the uninterrupted
1-process manifest, and clear errors."""
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from click.testing import CliRunner

import generators
from cfgan.augment import Boundary, ClassPairs, boundary_frames, class_folder, read_manifest, select
from cfgan.augment.manifest import MANIFEST
from cfgan.classifiers import load_classifier
from cfgan.cli import main
from cfgan.data import save_image
from cfgan.jobs import run_job
from cfgan.jobs.augment import AugmentJob
from cfgan.jobs.distributed import Ranks
from cfgan.jobs.runner import LEDGER, Item, _blocks, read_ledger
from inversion import LatentCode, save_latents

from tiny_models import TINY_CLASSIFIER_SPEC, TINY_JUDGE_SPEC

pytestmark = pytest.mark.usefixtures("one_thread")

#: the tiny untrained classifier calls every tiny sample class 0 with class 2 second: 'auto' mines 0 -> 2
COMMON = ["--pairs", "0:2,1:3", "--paths-per-image", "2", "--frames", "6", "--steps", "40", "--invert-steps", "10",
          "--eps", "0.2", "--batch", "4", "--device", "cpu", "--no-report"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, saved_generator):
    """(generator file, ImageFolder tree of 6 tiny samples in classes a/ and b/, the loaded generator)."""
    root = tmp_path_factory.mktemp("augment")
    gen = saved_generator(16)
    G = generators.load(gen)
    with torch.no_grad():
        for i, img in enumerate(G.sample(6, seed=5).clamp(-1, 1)):
            save_image(img, root / "data" / "ab"[i % 2] / f"im{i}.png")
    return SimpleNamespace(gen=str(gen), data=root / "data", G=G, root=root)


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def judged_run(tiny):
    """A finished run with a judge (the reference every later comparison uses)."""
    out = tiny.root / "judged"
    res = invoke("augment", tiny.data, "-g", tiny.gen, "-c", TINY_CLASSIFIER_SPEC, "--judge", TINY_JUDGE_SPEC,
                 *COMMON, "--out", out)
    assert res.exit_code == 0, res.output
    return out, res.output


# -- which frames, which boundary, which order -----------------------------------------------------------------
def test_boundary_frames_are_the_near_ones_plus_the_two_straddling_the_crossing():
    probs = [0.05, 0.2, 0.38, 0.45, 0.62, 0.7, 0.95]
    assert boundary_frames(probs, None, 0.1) == {3: ["near"]}  # |0.62 - 0.5| > 0.1
    assert boundary_frames(probs, 5, 0.1) == {3: ["near"], 4: ["straddle"], 5: ["straddle"]}
    assert boundary_frames(probs, 4, 0.15) == {2: ["near"], 3: ["near", "straddle"], 4: ["near", "straddle"]}
    assert boundary_frames(probs, 0, 0.0) == {}  # a start already past the boundary has nothing to straddle


def test_pairs_mine_either_side_and_the_nearest_boundary():
    clf = load_classifier("zoo:fashion-mnist")
    pairs = ClassPairs.parse("Shirt:T-shirt/top, pullover:Coat, Shirt:Pullover", clf)
    probs = [0.0] * 10
    probs[0], probs[6] = 0.7, 0.3  # a T-shirt: crosses to Shirt
    assert pairs.boundary(probs) == Boundary("Shirt:T-shirt/top", 0, 6)
    probs = [0.0] * 10
    probs[6], probs[2], probs[0] = 0.6, 0.3, 0.1  # a shirt nearer to Pullover than to T-shirt
    assert pairs.boundary(probs).target == 2 and pairs.boundary(probs).pair == "Shirt:Pullover"
    probs = [0.0] * 10
    probs[1] = 1.0
    assert pairs.boundary(probs) is None  # trousers are in no pair
    auto = ClassPairs.parse("auto", clf)
    probs = [0.05] * 10
    probs[7], probs[5] = 0.4, 0.2
    assert auto.boundary(probs) == Boundary("Sneaker:Sandal", 7, 5)
    for text, message in (("Shirt", "is not CLASS:CLASS"), ("Shirt:Shirt", "with itself"),
                          ("Shirt:Jacket", "unknown class 'Jacket'"), ("Coat:Pullover,Pullover:Coat", "twice"),
                          (",", "no pairs")):
        with pytest.raises(ValueError, match=message):
            ClassPairs.parse(text, clf)


def _sample(i, p, label):
    return {"id": f"s{i}", "p_target": p, "judge_label": label}


def test_prefer_blind_spot_hands_out_blind_spots_first_and_the_budget_goes_to_them():
    samples = [_sample(0, 0.50, "genuine"), _sample(1, 0.58, "blind-spot"), _sample(2, 0.45, None),
               _sample(3, 0.51, "blind-spot"), _sample(4, 0.41, "mixed"), _sample(5, 0.50, "blind-spot")]
    assert [s["id"] for s in select(samples)] == ["s0", "s5", "s3", "s2", "s1", "s4"]  # closest to 0.5 first
    assert [s["id"] for s in select(samples, "blind-spot")] == ["s5", "s3", "s1", "s4", "s0", "s2"]
    assert [s["id"] for s in select(samples, "blind-spot", 2)] == ["s5", "s3"]
    assert [s["id"] for s in select(samples, "boundary", 2)] == ["s0", "s5"]
    with pytest.raises(ValueError, match="prefer"):
        select(samples, "genuine")


def test_class_folders_are_safe_and_sort_like_the_class_indices():
    names = ["T-shirt/top", "Trouser", "Bag"]
    assert [class_folder(i, names) for i in range(3)] == ["0-t-shirt-top", "1-trouser", "2-bag"]
    many = [f"c{i}" for i in range(12)]
    folders = [class_folder(i, many) for i in range(12)]
    assert folders[3] == "03-c3" and sorted(folders) == folders


def test_fixed_blocks_are_whole_and_ranks_own_whole_blocks():
    items = [Item(f"k{i}", i, i) for i in range(10)]
    blocks = list(_blocks(iter(items), 4, {"k0", "k1", "k4", "k5", "k6", "k7"}, Ranks()))
    assert [[i.index for i in b] for b in blocks] == [[0, 1, 2, 3], [8, 9]]  # block 1 is done: skipped
    assert [[i.index for i in b] for b in _blocks(iter(items), 4, set(), Ranks(1, 2))] == [[4, 5, 6, 7]]


# -- the run's files -------------------------------------------------------------------------------------------
def test_a_run_writes_an_image_folder_by_predicted_class_and_a_sorted_manifest(judged_run):
    out, output = judged_run
    assert "samples/min" in output and "boundary samples" in output
    manifest = read_manifest(out)
    summary = json.loads((out / "summary.json").read_text())
    assert len(manifest) == summary["samples"] == summary["candidates"] > 0
    assert [s["order"] for s in manifest] == list(range(len(manifest)))
    closeness = [abs(s["p_target"] - 0.5) for s in manifest]
    assert closeness == sorted(closeness)
    classes = json.loads((out / "classes.json").read_text())["classes"]
    for s in manifest:
        assert s["file"] == f"samples/{class_folder(s['predicted'], classes)}/{s['id']}.png"
        assert (out / s["file"]).read_bytes() == (out / s["image"]).read_bytes()
        assert s["pair"] in ("0:2", "1:3") and s["given_label"] in ("a", "b") and s["label"] is None
        assert abs(s["p_target"] - 0.5) <= 0.2 + 1e-9 or "straddle" in s["why"]
        assert s["judge_label"] in ("genuine", "blind-spot", None) and set(s["identity"]) == {"pixel", "latent"}
        assert s["id"] == f"{s['key']}_p{s['path']}_f{s['frame']:02d}"
    codes = torch.load(out / manifest[0]["latent"], weights_only=True)["codes"]
    assert codes.shape[0] == sum(s["key"] == manifest[0]["key"] for s in manifest)


def test_the_report_shows_each_source_with_its_samples_and_their_verdicts(judged_run, tmp_path):
    out, _ = judged_run
    res = invoke("report", out, "--out", tmp_path / "page")
    assert res.exit_code == 0, res.output
    index = (tmp_path / "page" / "index.html").read_text()
    manifest = read_manifest(out)
    summary = json.loads((out / "summary.json").read_text())
    assert "<h2" in index and "Boundary samples" in index
    assert f"{summary['samples']} samples from " in index and "manifest.jsonl" in index
    for s in manifest:  # every sample is shown, captioned with its path, frame, probability and verdict
        assert f'alt="boundary sample {s["id"]}"' in index
        caption = f"path {s['path']}, frame {s['frame']}: p({s['target_class']})"
        assert caption in index
    verdicts = {s["judge_label"] for s in manifest if s["judge_label"]}
    assert all(f"{v}: " in index for v in verdicts)


def test_prefer_blind_spot_with_a_budget_orders_the_manifest(tiny, judged_run):
    reference = read_manifest(judged_run[0])
    blind = sum(s["judge_label"] == "blind-spot" for s in reference)
    assert 0 < blind < len(reference), "the tiny judge should call some paths blind spots, not all"
    out = tiny.root / "blind"
    res = invoke("augment", tiny.data, "-g", tiny.gen, "-c", TINY_CLASSIFIER_SPEC, "--judge", TINY_JUDGE_SPEC,
                 *COMMON, "--prefer", "blind-spot", "--max-samples", blind, "--out", out)
    assert res.exit_code == 0, res.output
    manifest = read_manifest(out)
    assert len(manifest) == blind and all(s["judge_label"] == "blind-spot" for s in manifest)
    assert sorted(s["id"] for s in manifest) == sorted(s["id"] for s in reference if s["judge_label"] == "blind-spot")
    assert sum(1 for _ in (out / "samples").rglob("*.png")) == blind


def test_labels_merge_and_the_export_loads_with_torchvision_image_folder(judged_run, tmp_path):
    from torchvision.datasets import ImageFolder

    out = tmp_path / "run"
    shutil.copytree(judged_run[0], out)  # labels change the manifest; the shared run stays as it was
    manifest = read_manifest(out)
    rows = ["id,label"] + [f"{s['id']},{['0', '1', '2-2', '3'][k % 4]}"
                           for k, s in enumerate(manifest[:5])]
    rows.append(f"{manifest[5]['id']},")  # an empty label leaves the sample unlabelled
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "more.csv").write_text(f"file,label\n{manifest[6]['file']},3\n")
    res = invoke("augment", "label", out, "--labels", tmp_path / "labels.csv")
    assert res.exit_code == 0 and "5 of" in res.output, res.output
    res = invoke("augment", "label", out, "--labels", tmp_path / "more.csv", "--export", tmp_path / "export")
    assert res.exit_code == 0 and "6 of" in res.output, res.output
    merged = {s["id"]: s["label"] for s in read_manifest(out)}
    assert [merged[s["id"]] for s in manifest[:7]] == [0, 1, 2, 3, 0, None, 3]
    data = ImageFolder(str(tmp_path / "export"))
    assert len(data) == 6 and data.classes == ["0-0", "1-1", "2-2", "3-3"]
    image, label = data[0]
    assert image.size == (16, 16) and label == 0
    # a second export to the same folder needs --overwrite
    assert invoke("augment", "export", out, "--out", tmp_path / "export").exit_code != 0
    res = invoke("augment", "export", out, "--out", tmp_path / "export", "--overwrite")
    assert res.exit_code == 0 and len(ImageFolder(str(tmp_path / "export"))) == 6


def test_bad_labels_are_clear_errors(judged_run, tmp_path):
    out = judged_run[0]
    first = read_manifest(out)[0]["id"]
    cases = {"nocols.csv": ("name,class\nx,1\n", "must name the columns"),
             "unknown_row.csv": (f"id,label\n{first},1\nnot-a-sample,1\n", "line 3: 'not-a-sample'"),
             "unknown_class.csv": (f"id,label\n{first},Coat\n", "line 2: unknown class 'Coat'"),
             "twice.csv": (f"id,label\n{first},1\n{first},2\n", "labelled twice")}
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        res = invoke("augment", "label", out, "--labels", tmp_path / name)
        assert res.exit_code == 1 and message in res.output and "Traceback" not in res.output, (name, res.output)
    res = invoke("augment", "label", tmp_path, "--labels", tmp_path / "twice.csv")
    assert res.exit_code == 1 and "not a finished cfgan augment run" in res.output


def test_bad_input_is_a_one_line_error(tiny, tmp_path):
    base = ["-g", tiny.gen, "-c", TINY_CLASSIFIER_SPEC, "--out", tmp_path / "out", "--device", "cpu"]
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk.pt").write_bytes(b"not a latent file")
    cases = [([tmp_path / "missing", "--pairs", "0:1"], "no such folder or latent file"),
             ([tmp_path / "empty", "--pairs", "0:1"], "holds no images"),
             ([tmp_path / "junk.pt", "--pairs", "0:1"], "neither a folder of images nor a latent file"),
             ([tiny.data, "--pairs", "0:9"], "out of range"),
             ([tiny.data, "--pairs", "0-1"], "is not CLASS:CLASS"),
             ([tiny.data, "--pairs", "0:1", "--prefer", "blind-spot"], "needs at least one --judge"),
             ([tiny.data, "--pairs", "0:1", "--eps", "0.7"], "--eps")]
    for args, message in cases:
        res = invoke("augment", *args, *base)
        assert res.exit_code != 0 and message in res.output and "Traceback" not in res.output, (args, res.output)


def test_a_latent_file_is_mined_like_images(tiny, tmp_path):
    codes = tmp_path / "codes.pt"
    save_latents(str(codes), LatentCode.from_seeds(tiny.G, range(3), "w+"), tiny.G)
    res = invoke("augment", codes, "-g", tiny.gen, "-c", TINY_CLASSIFIER_SPEC, *COMMON, "--out", tmp_path / "out")
    assert res.exit_code == 0, res.output
    manifest = read_manifest(tmp_path / "out")
    assert manifest and {s["key"] for s in manifest} <= {"latent0000", "latent0001", "latent0002"}
    assert all(s["source"].endswith("codes.pt[" + s["key"][-1] + "]") for s in manifest)


# -- resumption and scale-out give the uninterrupted manifest -----------------------------------------------------
def _job(tiny, judge=False):
    clf = load_classifier(TINY_CLASSIFIER_SPEC)
    judges = [load_classifier(TINY_JUDGE_SPEC)] if judge else []
    return AugmentJob(tiny.G, clf, str(tiny.data), "0:2,1:3", paths_per_image=2, eps=0.2, frames=6, batch=4,
                      invert_steps=10, judges=judges, steps=40)


def test_a_partly_done_block_is_recomputed_whole_so_resuming_changes_nothing(tiny, judged_run, tmp_path):
    out = tmp_path / "resumed"
    run_job(_job(tiny, judge=True), out)
    ledger = (out / LEDGER).read_text().splitlines()
    keep = [line for line in ledger if json.loads(line)["index"] not in (1, 3)]  # items 1 and 3 of block 0 lost
    (out / LEDGER).write_text("\n".join(keep) + "\n")
    report = run_job(_job(tiny, judge=True), out)
    assert report.done == 6 and report.summary["complete"]
    assert (out / MANIFEST).read_text() == (judged_run[0] / MANIFEST).read_text()


@pytest.mark.slow
def test_kill_minus_9_at_random_points_then_the_same_command_gives_the_same_manifest(tiny, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")

    def command(out):
        return [sys.executable, "-m", "cfgan", "augment", str(tiny.data), "-g", tiny.gen, "-c", TINY_CLASSIFIER_SPEC,
                *COMMON[:-3], "--batch", "2", "--device", "cpu", "--no-report", "--out", str(out)]

    reference = tmp_path / "reference"
    subprocess.run(command(reference), check=True, capture_output=True, env=env, timeout=300)
    out = tmp_path / "killed"
    rng = random.Random(14)
    mid_run = []
    for _ in range(4):
        proc = subprocess.Popen(command(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        # kill once the run has written a random number of items (so kills land mid-run, whatever the machine's
        # speed), a random moment later: during an optimisation, a write or a commit
        wanted = min(len(read_ledger(out, repair=False)) + rng.randint(0, 2), 4) if out.exists() else 0
        deadline = time.perf_counter() + 120
        while proc.poll() is None and time.perf_counter() < deadline and (
                not (out / LEDGER).exists() or len(read_ledger(out, repair=False)) < wanted):
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.3))
        mid_run.append(proc.poll() is None)
        proc.kill()  # SIGKILL: no handler runs
        proc.wait()
        for entry in read_ledger(out).values():  # whatever the ledger names is complete on disk
            for sample in entry["record"]["samples"]:
                assert (out / sample["image"]).is_file()
    assert any(mid_run), "no kill landed while the run was working"
    subprocess.run(command(out), check=True, capture_output=True, env=env, timeout=300)
    assert not (out / ".staging").exists()
    assert (out / MANIFEST).read_text() == (reference / MANIFEST).read_text()
    files = sorted(str(p.relative_to(out)) for p in (out / "samples").rglob("*.png"))
    assert files == sorted(str(p.relative_to(reference)) for p in (reference / "samples").rglob("*.png"))
    assert len(read_ledger(out)) == 6


@pytest.mark.slow
def test_two_process_torchrun_manifest_equals_the_one_process_manifest(tiny, judged_run, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", CFGAN_DIST_BACKEND="gloo")
    args = ["-m", "cfgan", "augment", str(tiny.data), "-g", tiny.gen, "-c", TINY_CLASSIFIER_SPEC, "--judge",
            TINY_JUDGE_SPEC, *COMMON]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc_per_node=2", *args, "--out", str(tmp_path / "two")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert two.returncode == 0, two.stdout + two.stderr
    assert two.stdout.count("boundary samples") == 1 and two.stdout.count("label them") == 1, two.stdout
    out = Path(tmp_path / "two")
    assert (out / MANIFEST).read_text() == (judged_run[0] / MANIFEST).read_text()
    assert not list(out.glob("items.rank*")) and len((out / LEDGER).read_text().splitlines()) == 6


def test_a_subjects_restarts_follow_its_own_seed_not_its_place_in_the_batch(tiny):
    from cfgan.paths import cross
    from cfgan.paths.api import restart_values

    code = LatentCode.from_seeds(tiny.G, range(3), "w+")
    together = restart_values(code, 3, 0.3, 1.0, seed=0, item_seeds=[5, 6, 7])
    alone = restart_values(code.select([1]), 3, 0.3, 1.0, seed=0, item_seeds=[6])
    assert torch.equal(together[3:6], alone) and not torch.equal(together[0:3], together[3:6])
    assert torch.equal(restart_values(code, 3, 0.3, 1.0, seed=5), together)  # default: seed + position
    clf = load_classifier(TINY_CLASSIFIER_SPEC)
    with pytest.raises(ValueError, match="item_seeds lists 2 seeds for 3 subjects"):
        cross(tiny.G, clf, code, 1, item_seeds=[1, 2], method="ascent")
    with pytest.raises(ValueError, match="blackbox"):
        cross(tiny.G, clf, code, 1, item_seeds=[1, 2, 3], method="blackbox")


def test_cross_batches_are_fixed_blocks_too_so_a_resumed_block_gives_the_same_paths(tiny, tmp_path):
    from cfgan.jobs.cross import CrossJob
    from cfgan.jobs.items import SeedList

    def job():
        return CrossJob(tiny.G, load_classifier(TINY_CLASSIFIER_SPEC), 3, seeds=SeedList.parse("0-3"),
                        method="ascent", frames=4, batch=2, lpips=False, steps=30)

    run_job(job(), tmp_path / "whole")
    out = tmp_path / "resumed"
    run_job(job(), out)
    ledger = (out / LEDGER).read_text().splitlines()
    (out / LEDGER).write_text("\n".join(line for line in ledger if json.loads(line)["index"] != 1) + "\n")
    run_job(job(), out)  # seed00001 alone in a batch would give other floats than beside seed00000
    whole, resumed = read_ledger(tmp_path / "whole"), read_ledger(out)
    assert {k: e["record"] for k, e in resumed.items()} == {k: e["record"] for k, e in whole.items()}
    assert torch.equal(torch.load(out / "seed00001" / "latents.pt", weights_only=True)["codes"],
                       torch.load(tmp_path / "whole" / "seed00001" / "latents.pt", weights_only=True)["codes"])
