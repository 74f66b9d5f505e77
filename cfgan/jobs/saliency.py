"""``cfgan saliency``: image files in; per image a saliency map of one method (``map.npy``), a picture of it
over the image (``overlay.png``) and what it explains (``saliency.json``).

One item per image. A batch's method is seeded ``seed + index of its first image`` (the way ``cross`` seeds
its paths), so a resumed run draws what an uninterrupted one would.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import numpy as np
import torch

from cfgan.data import load_image, load_images_for, save_image
from cfgan.saliency import make_method, method_info, pixel_scores
from cfgan.saliency.render import overlay_panel
from generators.files import write_json

from .invert import inputs_digest
from .items import check_files, file_items
from .runner import BatchOutput, Item, Job, JobError


def load_for(classifier, paths: Sequence[str], generator=None) -> torch.Tensor:
    """Image files as one batch in [-1, 1] on the classifier's device: sized for the generator when there is one
    (``cfgan.data.load_images_for``), else the classifier's declared size and channels, else as stored; files
    of different sizes in one batch are an error."""
    device = next(iter(classifier.parameters()), torch.zeros(0)).device
    if generator is not None:
        return load_images_for(generator, paths).to(device)
    size, channels = getattr(classifier, "size", None), getattr(classifier, "channels", None)
    images = [load_image(p, size=size, channels=channels) for p in paths]
    shapes = {tuple(im.shape) for im in images}
    if len(shapes) > 1:
        raise JobError(f"IMAGES: the files have different sizes {sorted(shapes)}; resize them to one size")
    return torch.stack(images).to(device)


def build_method(name: str, classifier, generator, seed: int, max_batch: Optional[int], options: dict):
    """``make_method`` with its problems as one-line errors naming the option."""
    try:
        info = method_info(name)
    except ValueError as err:
        raise JobError(f"--method: {err}") from None
    if info.needs_generator_for(options) and generator is None:
        raise JobError(f"--generator: method {name!r} needs a generator for its in-fill (e.g. --generator "
                       "zoo:fashion-mnist)")
    try:
        return make_method(name, classifier, generator=generator, seed=seed, max_batch=max_batch, **options)
    except ValueError as err:
        raise JobError(str(err)) from None


class SaliencyJob(Job):
    command = "saliency"

    def __init__(self, classifier, method: str, images: Sequence[str], generator=None, target=None, seed: int = 0,
                 max_batch: Optional[int] = None, batch: int = 16, options: Optional[dict] = None):
        self.classifier, self.method, self.generator = classifier, method, generator
        self.options = dict(options or {})
        build_method(method, classifier, generator, seed, max_batch, self.options)  # bad names fail now
        self.images = check_files(list(images))
        self.target = target
        self.target_index = None if target is None else self._class_index(target)
        self.seed, self.max_batch, self.batch_size = seed, max_batch, batch

    def _class_index(self, target) -> int:
        try:
            return self.classifier.class_index(target)
        except (ValueError, KeyError, IndexError) as err:
            raise JobError(f"--target: {err}") from None

    def settings(self) -> dict:
        return {"method": self.method, "classifier": self.classifier.name,
                "generator": getattr(self.generator, "source", None), "target": self.target_index,
                "seed": self.seed, "options": self.options, "images": len(self.images),
                "inputs_sha": inputs_digest(self.images)}

    def count(self) -> int:
        return len(self.images)

    def items(self):
        return file_items(self.images)

    def run(self, items: List[Item], step_progress: Callable) -> BatchOutput:
        x = load_for(self.classifier, [item.payload for item in items], self.generator)
        method = build_method(self.method, self.classifier, self.generator, self.seed + items[0].index,
                              self.max_batch, self.options)
        started = time.perf_counter()
        attributions = method.attribute(x, target=self.target_index)
        seconds = (time.perf_counter() - started) / len(items)
        maps = pixel_scores(attributions, self.method).cpu()
        with torch.no_grad():
            probs = torch.softmax(self.classifier(x), 1).cpu()
        extras = {k: (v.detach().cpu().tolist() if torch.is_tensor(v) else v) for k, v in method.extras.items()}
        outputs = []
        for i in range(len(items)):
            target = self.target_index if self.target_index is not None else int(probs[i].argmax())
            extra = {k: (v[i] if isinstance(v, list) and len(v) == len(items) else v) for k, v in extras.items()}
            outputs.append({"image": x[i].cpu(), "map": maps[i], "target": target, "prob": float(probs[i, target]),
                            "predicted": int(probs[i].argmax()), "seconds": seconds, "extras": extra})
        return BatchOutput(outputs)

    def write(self, item: Item, output, folder: Path) -> dict:
        np.save(folder / "map.npy", output["map"].numpy().astype(np.float32))
        save_image(overlay_panel(output["image"], output["map"]), folder / "overlay.png")
        names = self.classifier.class_names
        record = {"file": item.payload, "method": self.method, "target": output["target"],
                  "target_name": names[output["target"]] if names else None, "prob": output["prob"],
                  "predicted": output["predicted"], "seconds": round(output["seconds"], 4),
                  "overlay": f"{item.key}/overlay.png", "map": f"{item.key}/map.npy"}
        write_json(folder / "saliency.json", dict(record, options=self.options, seed=self.seed,
                                                  extras=output["extras"]))
        return record

    def describe(self, record: dict) -> str:
        name = record.get("target_name") or record["target"]
        return f"{record['method']} map of {name} (p {record['prob']:.2f}), {record['seconds']:.2f} s"

    def finish(self, out: Path, records: dict) -> dict:
        seconds = [r["seconds"] for r in records.values()]
        return {"method": self.method, "seconds_per_image": float(np.mean(seconds)) if seconds else None}
