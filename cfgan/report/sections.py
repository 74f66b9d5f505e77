"""What the report shows for each command: one renderer per command, looked up in a small registry.

A renderer is ``render(run, page) -> str``: it reads the run folder (``run.items`` are the per-item
records the job wrote, ``run.summary`` its summary, ``run.path`` the folder) and returns the HTML that
goes under the run's heading; the page adds the heading, the incomplete-run warning and the settings.
``page.images.figure(path, alt, caption, box=..., pixel=...)`` makes a captioned image with a relative
link, ``page.add_path(run, row)`` adds a decision-crossing path to the summary table at the top, and
``page.anchor(text)`` gives a unique ``id``.

A command without a renderer of its own (``augment``, ``edit`` until they add one) gets
``generic``: its summary numbers, a table of its items, and the images each item wrote, side by side.
To give a command its own section, add a function here (or in a module imported at the end of this
file)::

    @register("saliency", "Saliency maps", "Where each method says the classifier looked.")
    def saliency(run, page):
        cards = []
        for item in run.items:
            folder = run.item_folder(item)
            panels = [page.images.figure(folder / f"{m}.png", f"{m} map of {item['key']}", m, box=128,
                                         pixel=True) for m in item["methods"]]
            cards.append(f'<div class="card"><h3>{esc(item["key"])}</h3><div class="row">{"".join(panels)}'
                         "</div></div>")
        return "".join(cards) + item_table(run, page)
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

from .images import image_size
from .markup import Cell, badge, esc, fmt, table
from .runs import Run

#: at most this many per-subject cards per run (the summary table still lists every item)
MAX_CARDS = 60
#: images shown per item by the generic renderer
MAX_ITEM_IMAGES = 8
IMAGE_SUFFIXES = (".png", ".gif", ".jpg", ".jpeg")


@dataclass
class Section:
    render: Callable
    title: str
    about: str = ""


_REGISTRY: Dict[str, Section] = {}


def register(command: str, title: str, about: str = ""):
    """Decorator: ``render(run, page) -> html`` is the section of runs of ``command``."""
    def add(render: Callable) -> Callable:
        _REGISTRY[command] = Section(render, title, about)
        return render
    return add


def section_for(command: str) -> Section:
    return _REGISTRY.get(command) or Section(generic, f"cfgan {command}", "")


# -- shared pieces --------------------------------------------------------------------------------------
def _file(path) -> Optional[Path]:
    """``path`` (absolute, or relative to the working directory) if it is an existing file."""
    if not path or not isinstance(path, str):
        return None
    p = Path(path)
    return p if p.is_file() else None


def _short(path: str) -> str:
    return Path(path).name if ("/" in path or "\\" in path) else path


def _psnr(mse: Optional[float]) -> Optional[float]:
    """PSNR in dB of a mean squared error between images in [-1, 1] (as ``inversion.metrics.psnr``)."""
    return None if mse is None or mse <= 0 else 10 * math.log10(4.0 / mse)


def _quality(psnr: Optional[float], lpips: Optional[float]) -> str:
    parts = [] if psnr is None else [f"PSNR {psnr:.1f} dB"]
    parts.append("LPIPS n/a (no weights)" if lpips is None else f"LPIPS {lpips:.3f}")
    return ", ".join(parts)


def _links(page, files: List[tuple]) -> str:
    shown = [f'<a href="{esc(page.images.url(p))}">{esc(label)}</a>' for p, label in files if Path(p).exists()]
    return f'<p class="links">Files: {" · ".join(shown)}</p>' if shown else ""


def _status_badge(item: dict) -> str:
    return "" if item.get("status", "done") == "done" else badge("partial: cut short by an interruption", "bad")


def _more(total: int, shown: int, what: str) -> str:
    return (f'<p class="muted">Showing the first {shown} of {total} {what}; the table lists all of them.</p>'
            if total > shown else "")


# -- decision-crossing paths (cross, demo) ----------------------------------------------------------------
def _curve(probs: List[float], source_probs: Optional[List[float]], crossing: Optional[int], current: int,
           target: str, source: Optional[str]) -> str:
    """An inline SVG of p(target) (and p(source)) per frame, the 0.5 line, the crossing and the current frame."""
    w, h, left, right, top, bottom = 300, 130, 30, 8, 16, 22
    n = len(probs)

    def x(i):
        return left + (w - left - right) * (i / (n - 1) if n > 1 else 0.5)

    def y(p):
        return top + (h - top - bottom) * (1 - max(0.0, min(1.0, p)))

    parts = [f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}"/>',
             f'<line class="axis" x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}"/>',
             f'<line class="grid" x1="{left}" y1="{y(0.5):.1f}" x2="{w - right}" y2="{y(0.5):.1f}"/>']
    for p in (0, 0.5, 1):
        parts.append(f'<text x="{left - 4}" y="{y(p) + 3:.1f}" text-anchor="end">{p:g}</text>')
    parts.append(f'<text x="{(left + w - right) / 2:.0f}" y="{h - 4}" text-anchor="middle">frame</text>')
    if crossing is not None and crossing > 0:
        cx = (x(crossing - 1) + x(crossing)) / 2
        parts.append(f'<line class="cross" x1="{cx:.1f}" y1="{top}" x2="{cx:.1f}" y2="{h - bottom}"/>')
    if source_probs:
        pts = " ".join(f"{x(i):.1f},{y(p):.1f}" for i, p in enumerate(source_probs))
        parts.append(f'<polyline class="curve2" points="{pts}"/>')
    pts = " ".join(f"{x(i):.1f},{y(p):.1f}" for i, p in enumerate(probs))
    parts.append(f'<polyline class="curve" points="{pts}"/>')
    parts.append(f'<line class="cursor" x1="{x(current):.1f}" y1="{top}" x2="{x(current):.1f}" y2="{h - bottom}"/>')
    for i, p in enumerate(probs):
        on = " on" if i == current else ""
        parts.append(f'<circle class="pt{on}" cx="{x(i):.1f}" cy="{y(p):.1f}" r="3"/>')
    legend = f'<text x="{left + 4}" y="11" fill="#1e8e3e">— p({esc(target)})</text>'
    if source_probs and source:
        legend += f'<text x="{w - right}" y="11" text-anchor="end" fill="#c5221f">- - p({esc(source)})</text>'
    label = (f"p({target}) per frame, from {probs[0]:.2f} to {probs[-1]:.2f}"
             + (f"; classified as {target} from frame {crossing}" if crossing is not None else ""))
    return (f'<svg viewBox="0 0 {w} {h}" role="img" aria-label="{esc(label)}"><title>{esc(label)}</title>'
            f"{legend}{''.join(parts)}</svg>")


def load_path(folder: Path) -> Optional[dict]:
    """A path folder's ``report.json``, or None when it is missing or unreadable."""
    try:
        rep = json.loads((folder / "report.json").read_text())
    except (OSError, ValueError):
        return None
    return rep if isinstance(rep, dict) else None


def _pair(rep: dict) -> str:
    target, source = rep.get("target_name") or str(rep.get("target")), rep.get("source_name")
    return f"{source} → {target}" if source else f"→ {target}"


def add_path_row(run: Run, page, rep: dict, anchor: Optional[str], status: str) -> None:
    """A path's row of the summary table at the top of the page."""
    probs = rep.get("probs") or [None]
    page.add_path(run, dict(anchor=anchor, subject=_short(str(rep.get("subject") or rep.get("name") or "")),
                            pair=_pair(rep), crossed=rep.get("crossed"), monotone=rep.get("monotone"),
                            crossing=rep.get("crossing_index"), first=probs[0], last=probs[-1],
                            identity=rep.get("identity_at_crossing") or {}, lam=rep.get("lambda"),
                            queries=rep.get("classifier_queries"), evals=rep.get("generator_evals"),
                            status="partial" if status != "done" or rep.get("interrupted") else "done",
                            method=rep.get("method"), label=rep.get("label")))


def path_card(run: Run, page, folder: Path, status: str = "done", hint: str = "") -> str:
    """One subject's decision-crossing path (a folder written by ``cfgan.paths.write_path``): its input and
    reconstruction, key frames, a frame viewer with the probability curve and a slider, the video, the
    filmstrip and the change map. Also adds the path to the summary table."""
    rep = load_path(folder)
    if rep is None:
        return (f'<div class="card"><h3>{esc(hint or folder.name)}</h3><p class="warn">No readable report.json in '
                f"<code>{esc(page.images.url(folder))}</code>: this path was not written completely.</p></div>")
    anchor = page.anchor(f"path-{folder.name}")
    add_path_row(run, page, rep, anchor, status)
    files = rep.get("files") or {}
    probs = [float(p) for p in rep.get("probs") or []]
    n = len(probs)
    target, source = rep.get("target_name") or str(rep.get("target")), rep.get("source_name")
    names = rep.get("predicted_names") or [str(p) for p in rep.get("predicted") or []]
    k = rep.get("crossing_index")
    pair = _pair(rep)
    subject = str(rep.get("subject") or "")
    identity = rep.get("identity") or {}
    at_crossing = rep.get("identity_at_crossing") or {}
    crossed, monotone = rep.get("crossed"), rep.get("monotone")
    badges = [badge(f"crossed at frame {k}" if crossed else "did not cross", "ok" if crossed else "bad"),
              badge("monotone" if monotone else "NOT monotone", "ok" if monotone else "bad")]
    if probs:
        badges.append(badge(f"p({target}) {probs[0]:.2f} → {probs[-1]:.2f}"))
    if rep.get("label"):  # the judges' verdict: a change they also see, or a blind spot of this classifier
        badges.append(badge(f"judges: {rep['label']}", "ok" if rep["label"] == "genuine" else "bad"))
    if rep.get("lambda") is not None:
        badges.append(badge(f"λ {fmt(rep['lambda'])}"))
    if rep.get("method"):
        badges.append(badge(str(rep["method"])))
    if status != "done" or rep.get("interrupted"):
        badges.append(badge("partial: cut short by an interruption", "bad"))
    notes = "".join(f"<li>{esc(note)}</li>" for note in rep.get("notes") or [])
    frames = sorted((folder / files.get("frames", "frames")).glob("frame_*.png"))
    img = page.images

    # the subject: its image, the start frame (its reconstruction), the crossing frame, the end
    row = []
    source_file = _file(subject)
    if source_file is not None:
        row.append(img.figure(source_file, f"input image {source_file.name}", f"input: {source_file.name}",
                              box=128, pixel=True, external=True))
    if frames and probs:
        lp = (identity.get("lpips") or [None])[0]
        # frame 0 reconstructs an input image (a file, or the files behind a latent file); a seed has none
        psnr = _psnr((identity.get("pixel") or [None])[0]) if rep.get("reference_prob") is not None else None
        what = ("reconstruction (frame 0): " + _quality(psnr, lp)) if psnr is not None else "start (frame 0)"
        row.append(img.figure(frames[0], f"frame 0 of the path, {what}", f"{what}; p {probs[0]:.2f}",
                              box=128, pixel=True))
        if k is not None and 0 < k < len(frames):
            row.append(img.figure(frames[k], f"frame {k}, the first classified as {target}",
                                  f"frame {k}: first classified as {target}, p {probs[k]:.2f}", box=128, pixel=True))
        if len(frames) > 1 and k != len(frames) - 1:
            last = names[-1] if names else "?"
            row.append(img.figure(frames[-1], f"last frame ({len(frames) - 1}), classified as {last}",
                                  f"end (frame {len(frames) - 1}): classified as {last}, p {probs[-1]:.2f}",
                                  box=128, pixel=True))

    # the crossing: frame viewer with the probability curve and a slider, and the video
    moving = []
    if frames and len(frames) == n:
        current = k if k is not None else n - 1
        labels = [f"frame {i} of {n - 1}: p({target}) = {probs[i]:.2f}, classified as "
                  f"{names[i] if i < len(names) else '?'}" for i in range(n)]
        shown = img.figure(frames[current], labels[current], "", box=256, pixel=True)
        shown = shown[shown.index("<img"):shown.index("<figcaption>")]
        moving.append(
            f'<figure class="player" data-frames="{esc(json.dumps([img.url(f) for f in frames]))}" '
            f'data-labels="{esc(json.dumps(labels))}">{shown}'
            f"{_curve(probs, rep.get('source_probs'), k, current, target, source)}"
            f'<input type="range" min="0" max="{n - 1}" value="{current}" step="1" hidden '
            f'aria-label="frame of the {esc(pair)} path"><output>{esc(labels[current])}</output>'
            f"<figcaption>Frame by frame, with the probability of {esc(target)} under the image (dashed line: "
            f"where the decision changes). The slider steps through the frames (with JavaScript; the "
            f"filmstrip below shows every frame).</figcaption></figure>")
    mp4, gif = folder / files.get("mp4", "path.mp4"), folder / files.get("gif", "path.gif")
    if mp4.is_file():
        size = image_size(gif) if gif.is_file() else None
        dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
        gif_link = f' The <a href="{esc(img.url(gif))}">same animation as a GIF</a>.' if gif.is_file() else ""
        moving.append(
            f'<figure style="width:{size[0] if size else 256}px"><video src="{esc(img.url(mp4))}"{dims} controls '
            f'loop muted playsinline preload="metadata" aria-label="video of the {esc(pair)} path">'
            f'<a href="{esc(img.url(mp4))}">path.mp4</a></video><figcaption>The path as a video (path.mp4); the bar '
            f"under each frame is p({esc(target)}), green once the frame is classified as {esc(target)}."
            f"{gif_link}</figcaption></figure>")
    elif gif.is_file():
        moving.append(img.figure(gif, f"animation of the {pair} path", "The path as an animation (path.gif).",
                                 box=256, pixel=True))

    parts = [f'<div class="card" id="{anchor}" data-pair="{esc(pair)}"><h3>{esc(pair)}</h3>',
             f'<p class="muted">subject: <code>{esc(subject or folder.name)}</code></p>',
             f'<p class="badges">{"".join(badges)}</p>']
    if notes:
        parts.append(f"<ul>{notes}</ul>")
    if row:
        parts.append(f'<div class="row">{"".join(row)}</div>')
    if moving:
        parts.append(f'<div class="row">{"".join(moving)}</div>')
    strip = folder / files.get("filmstrip", "filmstrip.png")
    if frames and len(frames) == n:
        cells = []
        for i, frame in enumerate(frames):
            mark = ' class="crossing"' if i == k else ""
            alt = f"frame {i}, p({target}) {probs[i]:.2f}, classified as {names[i] if i < len(names) else '?'}"
            cells.append(f'<li{mark}>{img.img(frame, alt, box=64, pixel=True)}<span>{i}: {probs[i]:.2f}</span></li>')
        also = f' As one image: <a href="{esc(img.url(strip))}">filmstrip.png</a>.' if strip.is_file() else ""
        crossing = f"; outlined: frame {k}, the first classified as {esc(target)}" if k is not None else ""
        parts.append(f'<figure class="strip"><ol class="frames">{"".join(cells)}</ol><figcaption>Filmstrip: '
                     f"all {n} frames, with p({esc(target)}) under each{crossing}.{also}</figcaption></figure>")
    elif strip.is_file():
        parts.append('<div class="scroll">' + img.figure(
            strip, f"filmstrip of all {n} frames of the {pair} path",
            f"Filmstrip: all {n} frames, left to right.", pixel=True) + "</div>")
    change = folder / files.get("change", "change.png")
    if change.is_file():
        parts.append(img.figure(change, f"change map of the {pair} path",
                                "Change map: the start, the first frame classified as the target, and where "
                                "the two differ (brighter: more change).", box=760))
    distances = ", ".join(f"{_IDENTITY.get(key, key)} {fmt(v)}" for key, v in at_crossing.items() if v is not None)
    if distances:
        parts.append(f'<p class="muted">Identity at the crossing frame: {esc(distances)}. '
                     f"Classifier queries {esc(fmt(rep.get('classifier_queries')))}, generator evaluations "
                     f"{esc(fmt(rep.get('generator_evals')))}.</p>")
    parts.append(_links(page, [(mp4, "path.mp4"), (gif, "path.gif"), (strip, "filmstrip.png"),
                               (folder / files.get("plot", "probs.png"), "probs.png"),
                               (folder / "latents.pt", "latents.pt"), (folder / "report.json", "report.json")]))
    parts.append("</div>")
    return "".join(parts)


#: column names of identity distances (the keys of ``identity_at_crossing``)
_IDENTITY = {"pixel": "pixel MSE", "latent": "latent L2", "lpips": "LPIPS",
             "lpips_random_backbone": "LPIPS (random VGG)"}


@register("cross", "Decision-crossing paths",
          "For each subject: frames along which the classifier's probability of the target class rises across "
          "its decision boundary while the subject stays itself.")
def cross(run: Run, page) -> str:
    cards = [path_card(run, page, run.item_folder(item), item.get("status", "done"), item["key"])
             for item in run.items[:MAX_CARDS]]
    for item in run.items[MAX_CARDS:]:  # no card, but a row in the summary table
        rep = load_path(run.item_folder(item))
        if rep is not None:
            add_path_row(run, page, rep, None, item.get("status", "done"))
    return "".join(cards) + _more(len(run.items), MAX_CARDS, "paths")


# -- inversion --------------------------------------------------------------------------------------------
def _inversion_card(page, source, recon: Path, metrics: dict, label: str, external: bool, status: str = "done"
                    ) -> str:
    """An input image beside its reconstruction, with PSNR and LPIPS. ``source`` is the input's path (as the
    run recorded it, when ``external``) or a file in the run."""
    quality = _quality(metrics.get("psnr"), metrics.get("lpips"))
    figs = []
    source_file = _file(source) if external else Path(source) if source else None
    if source_file is not None and source_file.is_file():
        figs.append(page.images.figure(source_file, f"input image {label}", "input", box=128, pixel=True,
                                       external=external))
    elif source:
        figs.append(f'<figure class="missing"><p>input not found from here: <code>{esc(source)}</code></p>'
                    "<figcaption>input</figcaption></figure>")
    figs.append(page.images.figure(recon, f"reconstruction of {label}, {quality}", f"reconstruction: {quality}",
                                   box=128, pixel=True))
    flag = "" if status == "done" else badge("partial: cut short by an interruption", "bad")
    return f'<div class="tile"><h4>{esc(label)}</h4>{flag}<div class="row">{"".join(figs)}</div></div>'


@register("invert", "Inversion", "Each input image beside the generator's reconstruction of it from the latent "
                                 "code found for it.")
def invert(run: Run, page) -> str:
    parts = []
    metrics = run.summary.get("metrics") or {}
    if metrics:
        parts.append(f"<p>Mean over the images: {esc(_quality(metrics.get('psnr'), metrics.get('lpips')))}, "
                     f"MSE {esc(fmt(metrics.get('mse')))}.</p>")
    tiles = [_inversion_card(page, item.get("file"), run.path / item.get("recon", f"{item['key']}/recon.png"),
                             item, item["key"], external=True, status=item.get("status", "done"))
             for item in run.items[:MAX_CARDS]]
    parts.append(f'<div class="tiles">{"".join(tiles)}</div>')
    parts.append(_more(len(run.items), MAX_CARDS, "images"))
    grid = run.path / "reconstructions.png"
    if grid.is_file():
        parts.append("<h3>All reconstructions</h3>" + page.images.figure(
            grid, "grid of the reconstructions", "The first reconstructions in input order.", box=720, pixel=True))
    parts.append(item_table(run, page))
    return "".join(parts)


# -- activation maximisation ------------------------------------------------------------------------------
def _reached(entry: dict) -> str:
    if entry.get("prob_mean") is not None:
        text = f"mean p {entry['prob_mean']:.3f}"
        if entry.get("prob_min") is not None:
            text += f", min {entry['prob_min']:.3f}"
        if entry.get("top1_rate") is not None:
            text += f", classified as it {100 * entry['top1_rate']:.0f}%"
        return text
    return f"mean activation {fmt(entry.get('score_mean'))}" if entry.get("score_mean") is not None else ""


@register("am", "Activation maximisation",
          "What the classifier thinks each class (or unit) looks like: images on the generator's manifold that "
          "maximise it, one per random restart.")
def am(run: Run, page) -> str:
    cards = []
    for item in run.items:
        label = str(item.get("target", item["key"]))
        figs = [page.images.figure(run.path / item.get("grid", f"{item['key']}/grid.png"),
                                   f"generator AM images for {label}", f"through the generator: {_reached(item)}",
                                   box=520, pixel=True)]
        if item.get("pixel_grid"):
            figs.append(page.images.figure(run.path / item["pixel_grid"], f"pixel-space AM images for {label}",
                                           f"pixel-space baseline: {_reached(item.get('pixel') or {})}", box=520,
                                           pixel=True))
        cards.append(f'<div class="card"><h3>{esc(label)}</h3>{_status_badge(item)}<div class="row">'
                     f'{"".join(figs)}</div></div>')
    outputs = run.summary.get("outputs") or {}
    links = [(run.path / name, name) for name in list(outputs.values()) + ["am.json"]]
    return "".join(cards) + _links(page, links)


# -- the demo ---------------------------------------------------------------------------------------------
@register("demo", "cfgan demo",
          "The toolkit's main job on the bundled Fashion-MNIST models: decision-crossing paths for the class "
          "pairs the classifier confuses most (each judged by an independent classifier), where the classifier "
          "looks in those images (saliency), inversions of real test images, what the classifier thinks each "
          "class looks like, and samples from the generator.")
def demo(run: Run, page) -> str:
    items = {item["key"]: item for item in run.items}
    parts = []
    img = page.images
    if "crossings" in items:
        parts.append('<h3 class="section">Decision-crossing paths</h3>')
        status = items["crossings"].get("status", "done")
        for p in items["crossings"].get("pairs", []):
            parts.append(path_card(run, page, run.path / "crossings" / p["name"], status,
                                   f"{p.get('source')} → {p.get('target')}"))
    if "saliency" in items:
        parts.append(saliency_sections.demo_saliency(run, page, items["saliency"]))
    if "inversion" in items:
        rec = items["inversion"]
        s = rec.get("summary") or {}
        parts.append('<h3 class="section">Inversion of real test images</h3>'
                     f"<p>Mean over the images: {esc(_quality(s.get('psnr'), s.get('lpips')))}.</p>")
        if rec.get("subjects"):
            tiles = [_inversion_card(page, run.path / subject["source"], run.path / subject["recon"], subject,
                                     _short(subject.get("file", "")), external=False) for subject in rec["subjects"]]
            parts.append(f'<div class="tiles">{"".join(tiles)}</div>')
        else:  # older demo runs: one grid, inputs above reconstructions
            parts.extend(img.figure(run.path / rel, "real images (top row) and their reconstructions (bottom row)",
                                    "Real images (top) and their reconstructions (bottom).", box=720, pixel=True)
                         for rel in rec.get("images", []))
    if "am" in items:
        rec = items["am"]
        parts.append('<h3 class="section">What the classifier thinks each class looks like</h3>')
        if rec.get("classes"):
            figs = [img.figure(run.path / c["grid"], f"activation maximisation images for {c['label']}",
                               f"{c['label']}: {_reached(c)}", box=300, pixel=True) for c in rec["classes"]]
            parts.append(f'<div class="row">{"".join(figs)}</div>')
        else:
            prob = rec.get("prob_mean") or {}
            parts.extend(img.figure(run.path / rel, "activation maximisation, one row per class",
                                    "One row per class; mean probability reached: "
                                    + ", ".join(f"{k} {v:.2f}" for k, v in prob.items()), box=460)
                         for rel in rec.get("images", []))
    if "samples" in items:
        parts.append('<h3 class="section">Samples from the generator</h3>')
        parts.extend(img.figure(run.path / rel, "64 samples of the bundled generator (seeds 0-63)",
                                "Samples of the bundled StyleGAN2, seeds 0-63.", box=560, pixel=True)
                     for rel in items["samples"].get("images", []))
    return "".join(parts)


# -- any other command ------------------------------------------------------------------------------------
def _scalar(value) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def item_table(run: Run, page, limit: int = 12) -> str:
    """Every item's scalar fields (at most ``limit`` columns), sortable; file fields link to the file."""
    if not run.items:
        return '<p class="muted">No items were written.</p>'
    columns: List[str] = []
    for item in run.items:
        for key, value in item.items():
            if key not in ("key", "status") and _scalar(value) and key not in columns:
                columns.append(key)
    columns = columns[:limit]
    rows = []
    for item in run.items:
        cells = [Cell(item["key"]), Cell(item.get("status", "done"))]
        for col in columns:
            value = item.get(col)
            target = run.path / value if isinstance(value, str) and value and not Path(value).is_absolute() else None
            if target is not None and target.is_file():
                cells.append(Cell(html=f'<a href="{esc(page.images.url(target))}">{esc(value)}</a>', sort=value))
            else:
                cells.append(Cell(value if _scalar(value) else fmt(value)))
        rows.append((cells, {}))
    return "<h3>Items</h3>" + table(["item", "status"] + columns, rows)


def _images_of(run: Run, item: dict) -> List[Path]:
    found: List[Path] = []
    for value in item.values():
        if isinstance(value, str) and value.lower().endswith(IMAGE_SUFFIXES) and (run.path / value).is_file():
            found.append(run.path / value)
    folder = run.item_folder(item)
    if folder.is_dir():
        found += sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p not in found)
    return found[:MAX_ITEM_IMAGES]


def _figure_any(page, path: Path, what: str) -> str:
    size = image_size(path)
    small = size is not None and max(size) <= 128
    return page.images.figure(path, f"{path.name} of {what}", path.name, box=128 if small else 480, pixel=small)


def generic(run: Run, page) -> str:
    """Any command: its summary's numbers and pictures, each item's pictures side by side, an item table."""
    parts = []
    numbers = [(k, v) for k, v in run.summary.items()
               if k not in ("command", "settings", "items", "total", "done", "partial", "pending", "complete",
                            "interrupted") and isinstance(v, (int, float)) and not isinstance(v, bool)]
    if numbers:
        parts.append("<p>" + ", ".join(f"{esc(k)}: {esc(fmt(v))}" for k, v in numbers) + "</p>")
    pictures = [run.path / v for v in run.summary.values()
                if isinstance(v, str) and v.lower().endswith(IMAGE_SUFFIXES) and (run.path / v).is_file()]
    if pictures:
        parts.append('<div class="row">' + "".join(_figure_any(page, p, "the run") for p in pictures) + "</div>")
    cards = []
    for item in run.items[:MAX_CARDS]:
        images = _images_of(run, item)
        if images:
            figs = "".join(_figure_any(page, p, item["key"]) for p in images)
            cards.append(f'<div class="card"><h3>{esc(item["key"])}</h3>{_status_badge(item)}'
                         f'<div class="row">{figs}</div></div>')
    parts.extend(cards)
    if cards:
        parts.append(_more(len(run.items), MAX_CARDS, "items"))
    parts.append(item_table(run, page))
    return "".join(parts)


from . import augment_sections, saliency_sections  # noqa: E402,F401  (they register their commands' sections)
