"""A Jupyter picker for GAN checkpoints (ipywidgets).

A dropdown over the checkpoints shows the metrics of every checkpoint in a full-width table with the shown
one marked, the same pictures large (gray input, the checkpoint's colouring, colour truth; scaled to fit),
the GAN losses with the checkpoint marked, and a button that promotes the shown checkpoint to a model
file. Everything is computed once up front by `train_stages.compare`, so moving between checkpoints is
instant. Plots use matplotlib's object API, so importing this module leaves the notebook's backend alone.
"""
import html
import io
from pathlib import Path

import ipywidgets as widgets
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .checkpoint_scores import run_checkpoints
from .compare import _fmt, grid_image, pictures_from, table_rows
from .promote import promote
from .run_folder import RunFolder, gan_stage, read_csv

# table column -> header shown (the same measures as `deoldify-like checkpoints`, docs/metrics.md)
SHOWN_COLUMNS = {'label': 'checkpoint', 'cf_output': 'CF out', 'delta_cf': 'ΔCF', 'psnr': 'PSNR', 'ssim': 'SSIM',
                 'ciede2000': 'ΔE00', 'critic_score': 'critic', 'saturation_ratio': 'sat ×',
                 'hue_shift': 'hue °', 'moved': 'moved ΔE00', 'drift': 'drift'}
MARKED = 'background:#ffe9a8;font-weight:bold'


def gan_iterations(rf, stage):
    """The GAN losses per iteration of an adversarial stage (a burst, gan-cN, or pix2pix), from RUN/logs/STAGE.csv:
    [{'iteration', 'gen_loss' | 'crit_loss'}]."""
    rows = []
    for r in read_csv(rf.log_path(stage)):
        key = 'gen_loss' if r.get('mode') == 'generator' else 'crit_loss'
        rows.append({'iteration': int(r['iteration']), key: float(r['loss'])})
    return rows


def _png(image):
    buf = io.BytesIO()
    image.save(buf, format='PNG')
    return buf.getvalue()


def loss_plot_png(iterations, marked=None, title='GAN losses'):
    "PNG bytes of the GAN losses per iteration with a vertical line at iteration `marked`."
    fig = Figure(figsize=(6, 2.6), dpi=90)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for key in ('gen_loss', 'crit_loss'):
        xs = [r['iteration'] for r in iterations if r.get(key) is not None]
        if xs:
            ax.plot(xs, [r[key] for r in iterations if r.get(key) is not None], label=key.replace('_', ' '), lw=1)
    if marked is not None:
        ax.axvline(marked, color='crimson', ls='--', lw=1.5, label=f'checkpoint (it {marked})')
    ax.set_xlabel('iteration'), ax.set_title(title), ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format='png')
    return buf.getvalue()


def metrics_html(rows, selected):
    """The metrics of every checkpoint as an HTML table, the row `selected` marked (a background and a ▶).
    Cells do not wrap, except the drift warning, so the table reads whole in a notebook's width."""
    cols = [c for c in SHOWN_COLUMNS if c in ('label', 'drift') or any(r.get(c) not in ('', None) for r in rows)]
    cell = 'padding:2px 8px;text-align:{};white-space:{}'
    def td(c, text, tag='td'):
        left = c in ('label', 'drift')
        return (f'<{tag} style="{cell.format("left" if left else "right", "normal" if c == "drift" else "nowrap")}">'
                f'{text}</{tag}>')
    head = ''.join(td(c, html.escape(SHOWN_COLUMNS[c]), 'th') for c in cols)
    body = ''
    for i, r in enumerate(rows):
        marked = i == selected
        cells = ''.join(td(c, ('▶ ' if marked and c == 'label' else '') + html.escape(_fmt(r.get(c, '')))) for c in cols)
        body += f'<tr class="picker-row{" picker-shown" if marked else ""}"{f" style={chr(34)}{MARKED}{chr(34)}" if marked else ""}>{cells}</tr>'
    return (f'<table class="picker-metrics" style="border-collapse:collapse;font-size:13px;line-height:1.3">'
            f'<thead><tr style="border-bottom:1px solid #999">{head}</tr></thead><tbody>{body}</tbody></table>')


def scored_on_text(pictures, images=None):
    "Which pictures the checkpoints were scored on, in one line."
    where = f'the pictures in {images}' if images else "the run's validation sample (pictures it did not train on)"
    names = ', '.join(p.name for p in pictures[:8]) + (f', … ({len(pictures)} in all)' if len(pictures) > 8 else '')
    truth = sum(p.truth is not None for p in pictures)
    return (f"Scored on {len(pictures)} pictures from {where}: {names}; {truth} with colour truth. "
            f"Moved ΔE00: how far the colours moved from the previous checkpoint. Last row: the gray input itself.")


class CheckpointPicker:
    def __init__(self, run, images=None, render_factor=8, limit=6, out=None, device='cpu'):
        self.rf = RunFolder(run)
        self.rf.load()
        self.pictures = pictures_from(self.rf, images, limit)
        self.results, gray = run_checkpoints(self.rf, self.pictures, render_factor, device=device)
        self.rows = table_rows(self.results, gray)  # the gray input's row comes last
        self.scored_on = scored_on_text(self.pictures, images)
        self.selector = widgets.Dropdown(options=[(r.label, i) for i, r in enumerate(self.results)],
                                         value=len(self.results) - 1, description='checkpoint')
        # pictures and plot scale down to the notebook's width, never up; the table gets a full-width row
        self.pictures_view = widgets.Image(format='png', layout=widgets.Layout(max_width='100%', height='auto'))
        self.metrics_view = widgets.HTML(layout=widgets.Layout(width='100%', overflow='auto'))
        self.loss_view = widgets.Image(format='png', layout=widgets.Layout(max_width='100%', height='auto'))
        self.out_path = widgets.Text(value=str(out or self.rf.path / 'promoted.safetensors'), description='model file',
                                     layout=widgets.Layout(width='60%'))
        self.promote_button = widgets.Button(description='Promote this checkpoint', button_style='success',
                                             layout=widgets.Layout(width='auto'))  # the label reads whole
        self.status = widgets.HTML()
        self.selector.observe(lambda change: self.show(change['new']), names='value')
        self.promote_button.on_click(self.promote_shown)
        self.widget = widgets.VBox([
            self.selector, widgets.HTML(f'<i>{html.escape(self.scored_on)}</i>'), self.metrics_view,
            widgets.HBox([self.pictures_view, self.loss_view],
                         layout=widgets.Layout(flex_flow='row wrap', align_items='flex-start', grid_gap='8px')),
            widgets.HBox([self.out_path, self.promote_button]), self.status], layout=widgets.Layout(width='100%'))
        self.show(self.selector.value)

    @property
    def shown(self):
        return self.results[self.selector.value]

    def show(self, index):
        if self.selector.value != index:
            self.selector.value = index  # observers call back here
            return
        r = self.results[index]
        self.pictures_view.value = _png(grid_image(self.pictures, [r], cell_height=224))
        self.metrics_view.value = metrics_html(self.rows, index)
        cycle = r.entry.get('cycle', self.rf.load().get('cycle') or 1)
        # an adversarial checkpoint (a burst's or pix2pix's) has an iteration: its own stage's log; else the cycle's burst
        stage = r.entry['stage'] if r.entry.get('iteration') is not None and r.entry.get('stage') else gan_stage(cycle)
        self.loss_view.value = loss_plot_png(gan_iterations(self.rf, stage), r.entry.get('iteration'),
                                             f'GAN losses, {stage}')
        warn = r.scores.get('drift')
        self.status.value = f'<span style="color:#b00">{html.escape(warn)}</span>' if warn else ''

    def promote_shown(self, _button=None):
        out = Path(self.out_path.value)
        promote(run=str(self.rf.path), checkpoint=self.shown.entry['name'], out=str(out))
        self.status.value = f'promoted <b>{html.escape(self.shown.label)}</b> ({self.shown.entry["name"]}) to <code>{html.escape(str(out))}</code>'
        return out

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)
