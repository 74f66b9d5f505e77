"""Images on the page: where they are (relative links), how large they are shown, and their captions.

Nothing large is copied: every file is linked relative to the page, so the page works from ``file://`` and
keeps working when the folders around it are moved together. The one exception is a run's input image
that lives outside the run (a bundled sample, a user's photo): when small, it is embedded as a ``data:``
URL, so the page does not depend on where the input was.

Small images (32-pixel frames, grids of them) are shown at an integer multiple of their size with
``image-rendering: pixelated`` (class ``px``): crisp pixels, never a blurred enlargement. Plots (already
drawn at screen resolution) are shown at their own size, narrowed to the page when needed.
"""
from __future__ import annotations

import base64
import html
import os
import struct
from pathlib import Path
from typing import Optional, Tuple
from urllib.parse import quote

#: inputs outside the run folders up to this size are embedded in the page
EMBED_LIMIT = 64 * 1024
_TYPES = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def image_size(path) -> Optional[Tuple[int, int]]:
    """(width, height) of a PNG or GIF from its header (no image library), or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(26)
    except OSError:
        return None
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return struct.unpack("<HH", head[6:10])
    return None


class Images:
    """Links and ``<figure>`` markup for a page written into ``out``."""

    def __init__(self, out):
        self.out = Path(out).resolve()

    def url(self, path) -> str:
        """``path`` relative to the page, as a URL (forward slashes, escaped)."""
        path = Path(path).resolve()
        try:
            rel = os.path.relpath(path, self.out)
        except ValueError:  # another drive (Windows): no relative link exists
            return path.as_uri()
        return quote(rel.replace(os.sep, "/"), safe="/")

    def input_url(self, path) -> str:
        """A run's input image: embedded when it is small and outside the page's folder, else linked."""
        path = Path(path)
        kind = _TYPES.get(path.suffix.lower())
        inside = str(path.resolve()).startswith(str(self.out) + os.sep)
        if kind and not inside and path.is_file() and path.stat().st_size <= EMBED_LIMIT:
            return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"
        return self.url(path)

    def img(self, path, alt: str, box: int = 0, pixel: bool = False, external: bool = False) -> str:
        """``<img>`` of ``path`` at its display size (``display_size``); the CSS narrows it to the screen."""
        size = display_size(path, box, pixel)
        attrs = f' width="{size[0]}" height="{size[1]}"' if size else ""
        cls = ' class="px"' if pixel and (size is None or size[2]) else ""
        src = self.input_url(path) if external else self.url(path)
        return f'<img src="{html.escape(src)}" alt="{html.escape(alt)}"{attrs}{cls}>'

    def figure(self, path, alt: str, caption: str, box: int = 0, pixel: bool = False, external: bool = False,
               extra: str = "") -> str:
        """``<figure>`` with the image at ``path`` (see ``img``) and its caption; a missing file becomes a
        note, never a broken image. ``extra``: HTML added at the end of the caption."""
        path = Path(path)
        if not path.is_file():
            return (f'<figure class="missing"><p>(missing file: {html.escape(self.url(path))})</p>'
                    f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        size = display_size(path, box, pixel)
        style = f' style="width:{max(size[0], 136)}px"' if size else ""
        return (f"<figure{style}>{self.img(path, alt, box, pixel, external)}"
                f"<figcaption>{html.escape(caption)}{extra}</figcaption></figure>")


def display_size(path, box: int = 0, pixel: bool = False) -> Optional[Tuple[int, int, bool]]:
    """(width, height, crisp) to show ``path`` at: ``pixel`` images (frames, grids of them) no larger than
    ``box`` are enlarged by the largest whole factor that fits and drawn crisp; an image larger than
    ``box`` is narrowed to it (smoothly: no pixel is enlarged); None when the size is unknown."""
    size = image_size(path)
    if size is None:
        return None
    w, h = size
    if pixel and box and max(w, h) <= box:
        k = box // max(w, h)
        return w * k, h * k, True
    k = min(1.0, box / w) if box else 1.0
    return round(w * k), round(h * k), pixel and k == 1.0
