"""``cfgan demo``: the toolkit's main job on the bundled Fashion-MNIST models, in about a minute.

It shows every capability in turn on real test images: samples from the generator, inversion of real
images, decision-crossing paths for the class pairs the classifier confuses most, what the classifier
thinks each class looks like, and where it looks (FIDO saliency with GAN in-fill beside captum's gradient and
occlusion). Each section is one work item of the job runner (so an interrupted demo
resumes where it stopped); the run's report (``index.html``, ``cfgan.report``) shows them.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, List

import torch

from cfgan.am import maximize
from cfgan.am.objectives import all_classes
from cfgan.am.outputs import save_panel
from cfgan.data import load_images_for, make_grid, save_image
from cfgan.paths import cross
from cfgan.paths.outputs import write_path
from cfgan.zoo import zoo_samples
from inversion import project

from .runner import BatchOutput, Item, Job

#: (source class, target class): the pairs the bundled classifier confuses most; the demo explains these
CONFUSABLE_PAIRS = (("Shirt", "T-shirt/top"), ("Pullover", "Coat"), ("Sneaker", "Sandal"))
SECTIONS = ("samples", "inversion", "crossings", "am", "saliency")
#: the saliency section: FIDO with GAN in-fill beside two captum baselines
SALIENCY_METHODS = ("fido", "gradient", "occlusion")
#: an independent classifier that tells a genuine change from a blind spot of the explained one
JUDGE = "zoo:fashion-mnist-judge"


def pair_slug(source: str, target: str) -> str:
    slug = lambda name: "".join(ch.lower() if ch.isalnum() else "-" for ch in name).strip("-")  # noqa: E731
    return f"{slug(source)}-to-{slug(target)}".replace("--", "-")


def settings_for(quick: bool) -> dict:
    """Step counts: ``quick`` is a smoke test (well under a minute on 2 CPU cores)."""
    if quick:
        return dict(invert_steps=60, frames=8, path_invert_steps=50, adaptive_steps=30, am_steps=8, fido_steps=30)
    return dict(invert_steps=200, frames=16, path_invert_steps=300, adaptive_steps=50, am_steps=25, fido_steps=150)


def source_images(G, classifier, per_pair: int):
    """Bundled test images of each pair's source class that the classifier also assigns to it:
    [(file, source, target)], ``per_pair`` per pair (fewer if not enough are classified right)."""
    samples = zoo_samples()
    chosen = []
    for source, target in CONFUSABLE_PAIRS:
        index = classifier.class_index(source)
        candidates = [s for s in samples if s.label == index]
        if not candidates:
            raise FileNotFoundError(f"no bundled sample of class {source!r}; the package data is incomplete")
        with torch.no_grad():
            predicted = classifier(load_images_for(G, [str(c.path) for c in candidates])).argmax(1).tolist()
        right = [c for c, p in zip(candidates, predicted) if p == index] or candidates
        chosen += [(str(c.path), source, target) for c in right[:per_pair]]
    return chosen


class DemoJob(Job):
    command = "demo"

    def __init__(self, G, classifier, quick: bool = False, log: Callable[[str], None] = print):
        self.G, self.classifier, self.quick, self.log = G, classifier, quick, log
        self.cfg = settings_for(quick)

    def settings(self) -> dict:
        return {"generator": getattr(self.G, "source", None), "classifier": self.classifier.name,
                "quick": self.quick, **self.cfg}

    def count(self) -> int:
        return len(SECTIONS)

    def items(self):
        return (Item(name, i, name) for i, name in enumerate(SECTIONS))

    def run(self, items: List[Item], step_progress: Callable) -> BatchOutput:
        (item,) = items
        self.log(f"{item.index + 1}/{len(SECTIONS)} {item.key} ...")
        started = time.perf_counter()
        output, interrupted = getattr(self, f"_{item.key}")(step_progress)
        output["seconds"] = round(time.perf_counter() - started, 2)
        return BatchOutput([output], interrupted)

    # -- sections: each returns (output, interrupted) --------------------------------------------------
    def _samples(self, progress):
        with torch.no_grad():
            images = self.G(self.G.sample_z(64, 0)).clamp(-1, 1).cpu()
        return {"images": images}, False

    def _inversion(self, progress):
        pairs = source_images(self.G, self.classifier, per_pair=2)
        target = load_images_for(self.G, [f for f, _, _ in pairs])
        proj = project(self.G, target, space="w+", steps=self.cfg["invert_steps"],
                       losses={"mse": 1.0, "features": 0.5}, features=self.classifier.features, seed=0,
                       progress=progress)
        return {"target": target.cpu(), "recon": proj.images.cpu(), "summary": proj.summary,
                "metrics": proj.metrics, "files": [f for f, _, _ in pairs]}, proj.interrupted

    def _crossings(self, progress):
        pairs = source_images(self.G, self.classifier, per_pair=1)
        cfg = self.cfg
        result = cross(self.G, self.classifier, load_images_for(self.G, [f for f, _, _ in pairs]),
                       [t for _, _, t in pairs], [s for _, s, _ in pairs], method="regularized",
                       frames=cfg["frames"], space="w+", invert_steps=cfg["path_invert_steps"], lpips=not self.quick,
                       adaptive_steps=cfg["adaptive_steps"], judges=[JUDGE], progress=progress)
        return {"result": result, "pairs": pairs}, result.interrupted

    def _am(self, progress):
        result = maximize(self.G, self.classifier, all_classes(self.classifier), space="w", restarts=4,
                          steps=self.cfg["am_steps"], lr=0.2, init="best-of-k", k=256, seed=0, progress=progress)
        return {"result": result}, result.interrupted

    def _saliency(self, progress):
        """FIDO (smallest sufficient region, GAN in-fill) beside gradient and occlusion on the crossing subjects."""
        from cfgan.saliency import make_method, pixel_scores

        pairs = source_images(self.G, self.classifier, per_pair=1)
        x = load_images_for(self.G, [f for f, _, _ in pairs])
        maps, seconds = {}, {}
        for name in SALIENCY_METHODS:
            options = {"steps": self.cfg["fido_steps"]} if name == "fido" else {}
            method = make_method(name, self.classifier, generator=self.G, seed=0, **options)
            started = time.perf_counter()
            maps[name] = pixel_scores(method.attribute(x), name).cpu()
            seconds[name] = (time.perf_counter() - started) / len(pairs)
        return {"images": x.cpu(), "maps": maps, "method_seconds": seconds, "pairs": pairs}, False

    # -- writing ---------------------------------------------------------------------------------------
    def write(self, item: Item, output, folder: Path) -> dict:
        record = {"seconds": output["seconds"]}
        if item.key == "samples":
            save_image(make_grid(output["images"], nrow=8), folder / "samples.png")
            record["images"] = ["samples/samples.png"]
        elif item.key == "inversion":
            n = output["target"].shape[0]
            save_image(make_grid(torch.cat([output["target"], output["recon"]]), nrow=n), folder / "inversion.png")
            record.update(images=["inversion/inversion.png"], summary=output["summary"], files=output["files"],
                          subjects=[])
            for i, file in enumerate(output["files"]):  # each input beside its reconstruction, for the report
                stem = os.path.splitext(os.path.basename(file))[0]
                save_image(output["target"][i], folder / f"{stem}-input.png")
                save_image(output["recon"][i], folder / f"{stem}-recon.png")
                record["subjects"].append({"file": file, "source": f"inversion/{stem}-input.png",
                                           "recon": f"inversion/{stem}-recon.png",
                                           **{k: v[i] for k, v in output["metrics"].items()}})
        elif item.key == "crossings":
            result, pairs = output["result"], output["pairs"]
            record["pairs"] = []
            for i, (file, source, target) in enumerate(pairs):
                name = pair_slug(source, target)
                files = write_path(result, i, str(folder / name), self.G, 6.0, {"name": name, "subject": file})
                report = result.path_report(i)
                record["pairs"].append({
                    "name": name, "source": report["source_name"], "target": report["target_name"], "subject": file,
                    "crossed": report["crossed"], "monotone": report["monotone"],
                    "crossing_index": report["crossing_index"], "probs": report["probs"], "label": report["label"],
                    "files": {k: os.path.join("crossings", os.path.relpath(v, folder)) for k, v in files.items()}})
                self.log(f"  {source} -> {target}: {'crossed' if report['crossed'] else 'did not cross'} at frame "
                         f"{report['crossing_index']}, {'monotone' if report['monotone'] else 'NOT monotone'}, "
                         f"judge: {report['label'] or 'n/a'}, "
                         f"p {report['probs'][0]:.2f} -> {report['probs'][-1]:.2f}")
        elif item.key == "saliency":
            from cfgan.saliency.render import overlay_panel

            record.update(about=f"FIDO (smallest sufficient region, GAN in-fill, {self.cfg['fido_steps']} steps) "
                                "beside captum's gradient and occlusion, each explaining the predicted class; "
                                "each panel: image, map (brighter = more important), map over the image.",
                          subjects=[])
            for i, (file, source, _) in enumerate(output["pairs"]):
                stem = os.path.splitext(os.path.basename(file))[0]
                methods = []
                for name, maps in output["maps"].items():
                    save_image(overlay_panel(output["images"][i], maps[i]), folder / f"{stem}-{name}.png")
                    methods.append({"method": name, "overlay": f"saliency/{stem}-{name}.png",
                                    "seconds": round(output["method_seconds"][name], 3)})
                record["subjects"].append({"name": f"{source} ({stem})", "file": file, "methods": methods})
            self.log("  saliency: " + ", ".join(f"{k} {v:.2f} s/image" for k, v in output["method_seconds"].items()))
        else:
            result = output["result"]
            save_panel(result, str(folder / "am_panel.png"),
                       "what the classifier thinks each class looks like (generator AM)")
            summary = result.summary()
            record.update(images=["am/am_panel.png"], prob_mean={k: v["prob_mean"] for k, v in summary.items()},
                          classes=[])
            for t, target in enumerate(result.targets):  # one grid per class, for the report
                images = result.images_for(t)
                save_image(make_grid(images, nrow=len(images)), folder / f"{target.slug}.png")
                record["classes"].append(dict(summary[target.label], label=target.label,
                                              grid=f"am/{target.slug}.png"))
        return record

    def finish(self, out: Path, records: dict) -> dict:
        summary = {"seconds": round(sum(r["seconds"] for r in records.values()), 2)}
        if "inversion" in records:
            summary["inversion"] = records["inversion"]["summary"]
        if "crossings" in records:
            summary["crossings"] = records["crossings"]["pairs"]
        if "am" in records:
            summary["am"] = records["am"]["prob_mean"]
        return summary

