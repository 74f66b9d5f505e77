"""The page's only style sheet and script, both inline (no file, font or library is fetched).

The page is complete without the script: every frame is in the filmstrip, every number in the tables. The
script only adds: the frame slider of each crossing (which frame is shown, where it is on the probability
curve; a click on a filmstrip frame moves it there), sortable table columns and the class-pair filter.
Controls that need it carry ``hidden`` in the markup and are shown by the script.
"""

CSS = """
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
 color:#1d1d1f;background:#fff}
main{max-width:1120px;margin:0 auto;padding:12px 16px 48px}
h1{font-size:1.6em;margin:.4em 0 .2em}
h2{font-size:1.3em;margin:1.6em 0 .4em;padding-top:.4em;border-top:2px solid #e3e3e8}
h3{font-size:1.1em;margin:0 0 .3em}
h4{font-size:1em;margin:1em 0 .3em}
p{margin:.4em 0}
a{color:#0b57d0}
code{font-size:.92em;overflow-wrap:anywhere}
.muted{color:#5f6368}
nav.toc{font-size:.95em}
nav.toc ul{margin:.2em 0;padding-left:1.2em}
img{max-width:100%;height:auto;vertical-align:top}
img.px{image-rendering:crisp-edges;image-rendering:pixelated}
figure{display:inline-block;vertical-align:top;margin:0 12px 12px 0;max-width:100%}
figure img,figure video{display:block;background:#f1f1f4}
video{max-width:100%;height:auto}
figcaption{font-size:13px;color:#444;margin-top:4px;overflow-wrap:anywhere}
figure.missing{padding:8px;border:1px dashed #b3b3b3;font-size:13px}
.row{display:flex;flex-wrap:wrap;align-items:flex-start;gap:0 4px}
.scroll{overflow-x:auto;max-width:100%;margin:0 0 12px}
.scroll img{max-width:none}
.scroll figure{margin:0}
.card{border:1px solid #dcdce2;border-radius:8px;padding:12px 14px 2px;margin:14px 0;background:#fcfcfd}
.tiles{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0}
.tile{border:1px solid #dcdce2;border-radius:8px;padding:8px 10px 0;background:#fcfcfd;max-width:100%}
.tile h4{margin:0 0 6px;font-size:14px;overflow-wrap:anywhere}
.badges{margin:0 0 .6em}
.badge{display:inline-block;font-size:12px;border-radius:10px;padding:1px 9px;margin:0 4px 4px 0;
 background:#eceef2;color:#333;white-space:nowrap}
.badge.ok{background:#dff3e4;color:#14592a}
.badge.bad{background:#fde3e1;color:#8c1d18}
.warn{background:#fff4e0;border:1px solid #e9b45a;border-radius:6px;padding:8px 12px;margin:10px 0}
.table{overflow-x:auto;max-width:100%;margin:6px 0 12px}
table{border-collapse:collapse;font-size:13px}
th,td{padding:4px 8px;border-bottom:1px solid #e1e1e6;text-align:left;white-space:nowrap;vertical-align:top}
th{background:#f4f4f7;white-space:normal;min-width:4.5em;vertical-align:bottom}
caption{text-align:left;font-size:12px;padding:0 0 4px}
td.num{text-align:right;font-variant-numeric:tabular-nums}
th button{font:inherit;font-weight:600;border:0;background:none;padding:0;cursor:pointer;color:inherit}
th[aria-sort=ascending] button::after{content:" \\25B2"}
th[aria-sort=descending] button::after{content:" \\25BC"}
.filter{margin:6px 0}
select{font:inherit;max-width:100%}
dl.settings{display:grid;grid-template-columns:minmax(8em,max-content) minmax(0,1fr);gap:2px 14px;font-size:13px;
 margin:.4em 0 1em}
dl.settings dt{color:#5f6368}
dl.settings dd{margin:0;overflow-wrap:anywhere;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
details{margin:.4em 0 .8em}
summary{cursor:pointer;color:#0b57d0}
figure.strip{display:block}
ol.frames{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:4px}
ol.frames li{font-size:11px;line-height:1.3;text-align:center;color:#444;border:2px solid transparent;
 border-radius:3px;font-variant-numeric:tabular-nums}
ol.frames li.crossing{border-color:#1e8e3e}
ol.frames li.on{border-color:#0b57d0}
.js ol.frames li{cursor:pointer}
.player{width:300px}
.player svg{display:block;width:100%;height:auto;margin-top:6px}
.player input[type=range]{width:100%;margin:6px 0 0}
.player output{display:block;font-size:13px;font-variant-numeric:tabular-nums}
svg .curve{fill:none;stroke:#1e8e3e;stroke-width:2}
svg .curve2{fill:none;stroke:#c5221f;stroke-width:1.5;stroke-dasharray:4 3}
svg .grid{stroke:#b0b0b8;stroke-width:1;stroke-dasharray:2 3}
svg .axis{stroke:#777;stroke-width:1}
svg .cross{stroke:#333;stroke-width:1;stroke-dasharray:5 3}
svg .cursor{stroke:#0b57d0;stroke-width:1.5}
svg .pt{fill:#1e8e3e}
svg .pt.on{fill:#0b57d0;r:5px}
svg text{font-size:10px;fill:#555}
.links{font-size:13px}
@media (max-width:600px){
 main{padding:8px 10px 32px}
 h1{font-size:1.35em}
 dl.settings{grid-template-columns:minmax(0,1fr)}
 dl.settings dd{margin-bottom:4px}
 figure{margin-right:8px}
 .player{width:100%}
}
"""

SCRIPT = r"""
(function () {
  var each = function (list, f) { Array.prototype.forEach.call(list, f); };
  document.documentElement.className += ' js';
  // crossing players: the slider picks the frame shown and the point marked on the curve
  each(document.querySelectorAll('.player'), function (el) {
    var img = el.querySelector('img'), range = el.querySelector('input[type=range]');
    var out = el.querySelector('output'), pts = el.querySelectorAll('circle.pt');
    var cur = el.querySelector('line.cursor'), frames = JSON.parse(el.getAttribute('data-frames'));
    var labels = JSON.parse(el.getAttribute('data-labels'));
    var card = el.closest('.card'), cells = card ? card.querySelectorAll('ol.frames li') : [];
    if (!range || !frames.length) return;
    var show = function (i) {
      img.src = frames[i]; img.alt = labels[i]; out.textContent = labels[i];
      each(pts, function (p, j) { p.setAttribute('class', j === i ? 'pt on' : 'pt'); });
      each(cells, function (c, j) { c.classList.toggle('on', j === i); });
      if (cur && pts[i]) {
        cur.setAttribute('x1', pts[i].getAttribute('cx')); cur.setAttribute('x2', pts[i].getAttribute('cx'));
      }
    };
    range.hidden = false;
    range.addEventListener('input', function () { show(parseInt(range.value, 10)); });
    each(cells, function (c, j) {  // a click on a filmstrip frame shows it in the viewer
      c.addEventListener('click', function () { range.value = j; show(j); });
    });
  });
  // sortable columns: click a heading (numbers sort as numbers; empty cells first)
  var key = function (cell) {
    var v = cell.getAttribute('data-v');
    if (v === null) v = cell.textContent.trim();
    if (v === '') return [0, 0];
    var n = Number(v);
    return isNaN(n) ? [2, v.toLowerCase()] : [1, n];
  };
  each(document.querySelectorAll('table.sortable'), function (table) {
    var heads = table.tHead.rows[0].cells, body = table.tBodies[0];
    each(heads, function (th, c) {
      var b = document.createElement('button');
      b.type = 'button'; b.textContent = th.textContent; th.textContent = ''; th.appendChild(b);
      b.addEventListener('click', function () {
        var up = th.getAttribute('aria-sort') !== 'ascending';
        each(heads, function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', up ? 'ascending' : 'descending');
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[c]), y = key(b.cells[c]);
          var d = x[0] - y[0] || (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0);
          return up ? d : -d;
        });
        each(rows, function (r) { body.appendChild(r); });
      });
    });
  });
  // class-pair filter: rows and subject cards of other pairs are hidden
  each(document.querySelectorAll('select[data-filter]'), function (sel) {
    var box = sel.closest('.filter'), count = box.querySelector('.count');
    box.hidden = false;
    sel.addEventListener('change', function () {
      var shown = 0, all = document.querySelectorAll('[data-pair]');
      each(all, function (el) {
        var keep = !sel.value || el.getAttribute('data-pair') === sel.value;
        el.hidden = !keep;
        if (keep && el.tagName === 'TR') shown += 1;
      });
      if (count) count.textContent = sel.value ? shown + ' paths shown' : '';
    });
  });
})();
"""
