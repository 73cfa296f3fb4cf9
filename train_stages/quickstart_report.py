"""A report a person opens in a browser: plain HTML with its pictures and film beside it.

Sections: settings and timings, loss curves per stage, critic accuracy, checkpoint grid and table, the
promoted checkpoint, before/after pairs, a render-factor sweep and the colorized film.
Part of the quickstart, which orchestrates training and rendering: it may import `render` (the film's web copy).
"""
import html
import shutil
from pathlib import Path

from deoldify_like.images import atomic_path
from render.film import web_path

from .run_folder import read_csv

STYLE = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}img,video{max-width:100%}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
.pair{display:flex;gap:8px;margin:8px 0}.pair figure{margin:0;flex:1}figcaption{font-size:12px;color:#555}
.warn{color:#b00}code{background:#f4f4f4;padding:1px 4px}"""


def _e(x):
    return html.escape(str(x))


def _copy(src, report_dir, name):
    dest = report_dir / name
    shutil.copyfile(src, dest)
    return name


def _table(rows, columns):
    head = ''.join(f'<th>{_e(c)}</th>' for c in columns)
    body = ''.join('<tr>' + ''.join(f'<td>{_e(r.get(c, ""))}</td>' for c in columns) + '</tr>' for r in rows)
    return f'<table><tr>{head}</tr>{body}</table>'


def _section(section_id, title, body):
    return f'<section id="{section_id}"><h2>{_e(title)}</h2>{body}</section>'


def write_report(report_dir, rf, chosen, model, colorized, sweep_src, bw_dir, film_src, settings, timings):
    "Write report_dir/index.html (and its pictures and film) and return its path."
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    sections = []

    rows = [{'setting': k, 'value': v} for k, v in settings.items()]
    times = [{'step': name, 'seconds': f'{sec:.1f}'} for name, sec in timings]
    sections.append(_section('summary', 'What ran', _table(rows, ['setting', 'value']) + '<p></p>' + _table(times, ['step', 'seconds'])))

    curves = sorted(rf.reports.glob('*_loss.png'))
    body = ''.join(f'<figure><img src="{_copy(p, report_dir, p.name)}" alt="{_e(p.stem)}"><figcaption>{_e(p.stem)}</figcaption></figure>'
                   for p in curves)
    sections.append(_section('losses', 'Loss curves of each stage', body or '<p>No loss curves found.</p>'))

    critics = rf.list_checkpoints('critic')
    crit_rows = [{'critic': c['name'], 'cycle': c.get('cycle', ''), 'size': c.get('size', ''),
                  'held-out accuracy': c.get('accuracy', '')} for c in critics]
    sections.append(_section('critic', 'Critic accuracy (real vs generated, held out)',
                             _table(crit_rows, ['critic', 'cycle', 'size', 'held-out accuracy'])))

    grid = rf.reports / 'checkpoints.png'
    table = read_csv(grid.with_suffix('.csv'))
    cols = ['label', 'checkpoint', 'cf_output', 'cf_truth', 'delta_cf', 'psnr', 'ssim', 'ciede2000', 'critic_score', 'moved', 'drift']
    sections.append(_section('checkpoints', 'Checkpoints side by side',
                             f'<img id="grid" src="{_copy(grid, report_dir, "checkpoints.png")}" alt="checkpoint grid">'
                             + '<p>Gray input, the stage-1 generator, every GAN checkpoint, the colour truth ("!" marks '
                               'a drift warning). The metrics are scored on the held-out colour photos '
                               f'{_e(", ".join(chosen.get("scored_on", [])))}, which the run never trained on; "moved" is the mean '
                               'ΔE00 between a checkpoint\'s colours and the previous one\'s (large where the burst jumps), and '
                               'the last row scores the gray input itself: a checkpoint should beat it.</p>' + _table(table, cols)))

    run_arg = rf.path
    sections.append(_section('promoted', 'Promoted checkpoint',
                             f'<p><b>{_e(chosen["label"])}</b> (<code>{_e(chosen["checkpoint"])}</code>) was promoted to '
                             f'<code>{_e(model)}</code>: {_e(chosen["why"])} '
                             f'(ΔCF {_e(chosen.get("delta_cf", ""))}, scored on the held-out colour photos '
                             f'{_e(", ".join(chosen.get("scored_on", [])))}, which the run never trained on). The metrics only suggest: confirm it by eye in the grid '
                             f'above, and promote another with <code>deoldify-like promote --run {_e(run_arg)} '
                             f'--checkpoint NAME --out {_e(model)}</code>.</p>'))

    pairs = ''
    for src in sorted(Path(bw_dir).glob('*.jpg')):
        out = next(iter(sorted((Path(colorized) / 'photos').rglob(src.stem + '.*'))), None)
        if out is None:
            continue
        a, b = _copy(src, report_dir, f'before_{src.name}'), _copy(out, report_dir, f'after_{out.name}')
        pairs += (f'<div class="pair"><figure><img src="{a}" alt="before"><figcaption>{_e(src.name)}: original</figcaption></figure>'
                  f'<figure><img src="{b}" alt="after"><figcaption>colorized</figcaption></figure></div>')
    sections.append(_section('pairs', 'Before and after: real black-and-white photographs', pairs or '<p>none rendered</p>'))

    sweep = next(iter(sorted((Path(colorized) / 'sweep').glob(Path(sweep_src).stem + '*'))), None)
    body = (f'<img src="{_copy(sweep, report_dir, "sweep" + sweep.suffix)}" alt="render factor sweep">'
            '<p>Low render factors give more vivid colour and more flicker; high ones are steadier and paler.</p>'
            if sweep else '<p>no sweep rendered</p>')
    sections.append(_section('sweep', 'Render-factor sweep', body))

    films = sorted((Path(colorized) / 'film').glob(Path(film_src).stem + '*'))
    master = next((f for f in films if not f.name.endswith('.web.mp4')), None)
    # the browser plays the web copy (H.264 4:2:0, even size, faststart) when there is one; the master may be
    # 4:4:4, FFV1 or ProRes, which browsers do not play
    film = web_path(master) if master is not None and web_path(master).is_file() else master
    body = (f'<video id="film-video" controls loop muted width="640" src="{_copy(film, report_dir, "film" + film.suffix)}"></video>'
            f'<p>{_e(Path(film_src).name)}, colorized frame by frame (master: <code>{_e(master)}</code>'
            f'{", shown here through its web copy" if film != master else ""}).</p>' if film else '<p>no film rendered</p>')
    sections.append(_section('film', 'The colorized film', body))

    page = (f'<!doctype html><html><head><meta charset="utf-8"><title>deoldify_like quickstart</title>'
            f'<style>{STYLE}</style></head><body><h1>deoldify_like quickstart report</h1>'
            f'<p>Run folder: <code>{_e(rf.path)}</code></p>{"".join(sections)}</body></html>')
    index = report_dir / 'index.html'
    with atomic_path(index) as tmp:
        tmp.write_text(page, encoding='utf-8')
    return index
