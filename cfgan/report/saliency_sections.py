"""Report sections of the saliency commands (``saliency``, ``evaluate``) and the demo's saliency block."""
from __future__ import annotations

from .markup import Cell, esc, fmt, table
from .runs import Run
from .sections import MAX_CARDS, _more, _status_badge, item_table, register


@register("saliency", "Saliency maps",
          "Where the method says the decision rests: each image, its map (brighter = more important) and the map "
          "over the image.")
def saliency(run: Run, page) -> str:
    cards = []
    for item in run.items[:MAX_CARDS]:
        name = item.get("target_name") or item.get("target")
        caption = f"{item.get('method')} map of {name} (p {fmt(item.get('prob'))}), {fmt(item.get('seconds'))} s"
        fig = page.images.figure(run.path / item.get("overlay", f"{item['key']}/overlay.png"),
                                 f"{item['key']}: input, saliency map and overlay", caption, box=420, pixel=True)
        cards.append(f'<div class="tile"><h4>{esc(item["key"])}</h4>{_status_badge(item)}{fig}</div>')
    return f'<div class="tiles">{"".join(cards)}</div>' + _more(len(run.items), MAX_CARDS, "images") + \
        item_table(run, page)


COLUMNS = (("deletion_auc", "deletion AUC (lower better)"), ("insertion_auc", "insertion AUC (higher better)"),
           ("topk_overlap", "top-k kept after attack"), ("rank_correlation", "rank correlation after attack"),
           ("sensitivity_max", "sensitivity-max"), ("seconds_per_image", "s / image"))


@register("evaluate", "Saliency methods compared",
          "Pixel flipping (the least important pixels replaced; lower curves are more faithful), deletion and "
          "insertion AUCs, robustness to an attack that keeps the class, and cost.")
def evaluate(run: Run, page) -> str:
    parts = []
    plot = run.path / "evaluation.png"
    if plot.is_file():
        parts.append(page.images.figure(plot, "pixel-flip curves, one per method", "Fraction of decisions changed "
                                        "when the tau least important pixels are flipped.", box=1100))
    methods = run.summary.get("methods") or {}
    if methods:
        rows = [([Cell(name), Cell(row.get("images"))] + [Cell(row.get(k)) for k, _ in COLUMNS], {})
                for name, row in methods.items()]
        parts.append(table(["method", "images"] + [label for _, label in COLUMNS], rows))
    csv = run.path / "evaluation.csv"
    if csv.is_file():
        parts.append(f'<p><a href="{esc(page.images.url(csv))}">evaluation.csv</a> (flip curves per fill, every '
                     "number)</p>")
    if not methods:
        parts.append(item_table(run, page))
    return "".join(parts)


def demo_saliency(run: Run, page, record: dict) -> str:
    """The demo's saliency block: per image a row of the methods' overlays."""
    parts = ['<h3 class="section">Where the classifier looks (saliency)</h3>',
             f"<p>{esc(record.get('about', ''))}</p>"]
    for subject in record.get("subjects", []):
        figs = [page.images.figure(run.path / m["overlay"], f"{m['method']} map of {subject['name']}",
                                   f"{m['method']}: {fmt(m.get('seconds'))} s", box=300, pixel=True)
                for m in subject.get("methods", [])]
        parts.append(f'<div class="tile"><h4>{esc(subject["name"])}</h4><div class="row">{"".join(figs)}</div>'
                     "</div>")
    return "".join(parts)
