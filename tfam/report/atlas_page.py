"""The page of an atlas: one section per layer, a card per dream (its spectrogram or image, an audio
player for a sound, the objective it reached, the classes it raises most), searchable and sortable
by layer, channel and class.

    write_atlas_page("runs/atlas/index.html", "tfam atlas: best.keras",
                     [("conv1", [record, ...]), ("classes", [...])])

Made for thousands of cards and for reading offline from the folder: pictures load lazily (with
their size given, so that the grid does not jump), sounds only when played, cards off screen are
not laid out (content-visibility), and the search and sort are a few lines of inline JavaScript
over data attributes: no external file, no network.
"""

import html
import json
import struct

from tfam.report.summaries import page_top, write_html

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.2em;color:#222;background:#fafafa}
h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.15em;margin:1.2em 0 .4em}
.controls{position:sticky;top:0;background:#fafafa;padding:.5em 0;z-index:1;
 display:flex;gap:.8em;align-items:center;flex-wrap:wrap;border-bottom:1px solid #ddd}
.controls input{font-size:1em;padding:.3em;min-width:22em}
.controls select{font-size:1em;padding:.25em}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:10px}
.unit{margin:0;background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px;
 content-visibility:auto;contain-intrinsic-size:auto 260px}
.unit img{width:100%;height:auto;display:block;image-rendering:auto;background:#eee}
.unit img.small{image-rendering:pixelated}
.unit audio{width:100%;height:32px;margin-top:4px}
.unit figcaption{font-size:.82em;margin-top:4px}
.unit .name{font-weight:600}.unit .objective{color:#555;float:right}
.unit ol{margin:.2em 0 0 1.2em;padding:0}.note{color:#555;font-size:.9em}
"""

# Cards carry their keys as data attributes; the script filters by hiding cards and sorts by
# moving them: by layer within the layers' sections, otherwise in one grid across layers.
_SCRIPT = """
(function () {
  const cards = [...document.querySelectorAll('.unit')].map(el => ({
    el, layer: el.dataset.layer, order: +el.dataset.order, channel: +el.dataset.channel,
    objective: +el.dataset.objective, rise: +(el.dataset.rise || 0),
    classes: JSON.parse(el.dataset.classes || '[]').map(c => c.toLowerCase()),
    name: el.dataset.name.toLowerCase(), grid: el.parentElement}));
  const search = document.getElementById('search'), sort = document.getElementById('sort');
  const flat = document.getElementById('flat'), count = document.getElementById('count');
  const sections = [...document.querySelectorAll('section.layer')];
  function hit(card, token) {
    const at = token.indexOf(':'), field = at > 0 ? token.slice(0, at) : '';
    const value = at > 0 ? token.slice(at + 1) : token;
    const layer = card.layer.toLowerCase().includes(value);
    const channel = String(card.channel) === value;
    const cls = card.classes.some(c => c.includes(value));
    if (field === 'layer') return layer;
    if (field === 'channel') return channel;
    if (field === 'class') return cls;
    return layer || channel || cls || card.name.includes(value);
  }
  const orders = {
    layer: (a, b) => a.order - b.order,
    channel: (a, b) => a.channel - b.channel || a.order - b.order,
    class: (a, b) => (a.classes[0] || '~').localeCompare(b.classes[0] || '~') ||
      b.rise - a.rise || a.order - b.order,
    objective: (a, b) => b.objective - a.objective || a.order - b.order,
    rise: (a, b) => b.rise - a.rise || a.order - b.order,
  };
  function filter() {
    const tokens = search.value.toLowerCase().split(/\\s+/).filter(Boolean);
    let shown = 0;
    for (const card of cards) {
      const hidden = !tokens.every(t => hit(card, t));
      if (card.el.hidden !== hidden) card.el.hidden = hidden;
      if (!hidden) shown++;
    }
    const byLayer = sort.value === 'layer';
    for (const section of sections)
      section.hidden = !byLayer || !section.querySelector('.unit:not([hidden])');
    count.textContent = `${shown} of ${cards.length} shown`;
  }
  function order() {
    const byLayer = sort.value === 'layer', parts = new Map();
    for (const card of [...cards].sort(orders[sort.value])) {
      const grid = byLayer ? card.grid : flat;
      if (!parts.has(grid)) parts.set(grid, document.createDocumentFragment());
      parts.get(grid).appendChild(card.el);
    }
    for (const [grid, part] of parts) grid.appendChild(part);
    flat.hidden = byLayer;
    filter();
  }
  search.addEventListener('input', filter);
  sort.addEventListener('change', order);
  filter();
})();
"""

SORTS = (
    ("layer", "layer, then channel"),
    ("channel", "channel"),
    ("class", "top class"),
    ("objective", "objective reached"),
    ("rise", "rise of the top class"),
)


def png_size(path):
    """(width, height) of a PNG file, from its header."""
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG file")
    return list(struct.unpack(">II", head[16:24]))


def _e(text):
    return html.escape(str(text), quote=True)


def _card(record, order):
    classes = record.get("top_classes") or []
    data = {
        "layer": record["section"],
        "order": order,
        "channel": record["index"],
        "name": record["name"],
        "objective": f"{record['objective']:.6g}",
        "classes": json.dumps([c["name"] for c in classes]),
    }
    if classes:
        data["rise"] = f"{classes[0]['rise']:.6g}"
    attributes = " ".join(f'data-{key}="{_e(value)}"' for key, value in data.items())
    width, height = record.get("picture_size") or (None, None)
    size = f' width="{width}" height="{height}"' if width else ""
    small = ' class="small"' if width and width < 128 else ""
    parts = [
        f'<figure class="unit" {attributes}>',
        f'<a href="{_e(record["picture"])}"><img src="{_e(record["picture"])}"{size}{small} '
        f'loading="lazy" decoding="async" alt="{_e(record["name"])}"></a>',
    ]
    if record.get("sound"):
        parts.append(f'<audio controls preload="none" src="{_e(record["sound"])}"></audio>')
    parts.append(
        f'<figcaption><span class="name">{_e(record["name"])}</span> '
        f'<span class="objective" title="the objective at the last step">'
        f"{record['objective']:.3g}</span>"
    )
    if classes:
        items = "".join(
            f"<li>{_e(c['name'])} {c['rise']:+.2f}"
            + (f" (p {c['probability']:.2f})" if "probability" in c else "")
            + "</li>"
            for c in classes
        )
        parts.append(f'<ol title="the classes whose logits the dream raised most">{items}</ol>')
    parts.append("</figcaption></figure>")
    return "".join(parts)


def write_atlas_page(path, title, sections, intro=(), total=None):
    """Write the page, atomically. ``sections``: (title, records) per layer, in order; a record is
    what tfam.atlas writes per dream (section, index, name, objective, picture, picture_size and
    optionally sound, top_classes). ``total``: how many dreams the atlas plans (the page says how
    many are done)."""
    intro = [intro] if isinstance(intro, str) else list(intro)
    done = sum(len(records) for _, records in sections)
    if total is not None and done < total:
        intro.append(f"{done} of {total} dreams done so far: run the same command to go on.")
    options = "".join(f'<option value="{key}">{_e(label)}</option>' for key, label in SORTS)
    body, order = [], 0
    for name, records in sections:
        cards = []
        for record in records:
            cards.append(_card(record, order))
            order += 1
        body.append(
            f'<section class="layer"><h2>{_e(name)} <span class="note">({len(records)})</span>'
            f'</h2><div class="grid">{"".join(cards)}</div></section>'
        )
    write_html(
        path,
        page_top(title, _CSS, intro)
        + [
            '<div class="controls">',
            '<input id="search" type="search" placeholder="search: conv2, 5, dog_bark, '
            'class:siren" aria-label="search by layer, channel or class" title="words a dream '
            "must match: a layer, a channel number or a class (layer:, channel: or class: to "
            'ask for one)">',
            f'<label>sort by <select id="sort">{options}</select></label>',
            '<span id="count" class="note"></span>',
            "</div>",
            *body,
            '<div id="flat" class="grid" hidden></div>',
            f"<script>{_SCRIPT}</script>",
        ],
    )
