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

    def figure(self, path, alt: str, caption: str, box: int = 0, pixel: bool = False, external: bool = False,
               extra: str = "") -> str:
        """``<figure>`` with the image at ``path``: ``pixel`` images are enlarged by the largest integer
        factor that fits ``box`` pixels (crisp); others are shown at their size, at most ``box`` wide.
        A missing file becomes a note, never a broken image. ``extra``: HTML added under the caption."""
        path = Path(path)
        if not path.is_file():
            return (f'<figure class="missing"><p>(missing file: {html.escape(self.url(path))})</p>'
                    f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        size = image_size(path)
        attrs = ""
        width = None
        if size:
            w, h = size
            if pixel:
                k = max(1, box // max(w, h)) if box else 1
                width, height = w * k, h * k
            else:
                k = min(1.0, box / w) if box else 1.0
                width, height = round(w * k), round(h * k)
            attrs = f' width="{width}" height="{height}"'
        src = self.input_url(path) if external else self.url(path)
        style = f' style="width:{max(width, 136)}px"' if width else ""
        cls = ' class="px"' if pixel else ""
        return (f'<figure{style}><img src="{html.escape(src)}" alt="{html.escape(alt)}"{attrs}{cls}>'
                f"<figcaption>{html.escape(caption)}{extra}</figcaption></figure>")
