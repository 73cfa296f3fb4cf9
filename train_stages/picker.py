"""A Jupyter picker for GAN checkpoints (ipywidgets).

A dropdown over the checkpoints shows the same pictures large (gray input, the checkpoint's colouring,
colour truth), that checkpoint's metrics beside the others', the GAN losses with the checkpoint marked,
and a button that promotes the shown checkpoint to a model file. Everything is computed once up front by
`train_stages.compare`, so moving between checkpoints is instant.
"""
import html
import io
from pathlib import Path

import ipywidgets as widgets
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from .compare import _fmt, grid_image, pictures_from, run_checkpoints, table_rows  # noqa: E402
from .promote import promote  # noqa: E402
from .run_folder import RunFolder, read_csv  # noqa: E402

SHOWN_COLUMNS = ('label', 'cf_output', 'delta_cf', 'psnr', 'ssim', 'ciede2000', 'critic_score', 'drift')


def gan_iterations(rf, cycle):
    "The GAN losses per iteration of one cycle, from RUN/logs/gan-cN.csv: [{'iteration', 'gen_loss' | 'crit_loss'}]."
    rows = []
    for r in read_csv(rf.log_path(f'gan-c{cycle}')):
        key = 'gen_loss' if r.get('mode') == 'generator' else 'crit_loss'
        rows.append({'iteration': int(r['iteration']), key: float(r['loss'])})
    return rows


def _png(image):
    buf = io.BytesIO()
    image.save(buf, format='PNG')
    return buf.getvalue()


def loss_plot_png(iterations, marked=None, title='GAN losses'):
    "PNG bytes of the GAN losses per iteration with a vertical line at iteration `marked`."
    fig, ax = plt.subplots(figsize=(6, 2.6), dpi=90)
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
    plt.close(fig)
    return buf.getvalue()


def metrics_html(rows, selected):
    cols = [c for c in SHOWN_COLUMNS if any(r.get(c) not in ('', None) for r in rows)]
    head = ''.join(f'<th style="padding:2px 6px">{c}</th>' for c in cols)
    body = ''
    for i, r in enumerate(rows):
        style = ' style="background:#ffe9a8;font-weight:bold"' if i == selected else ''
        body += f'<tr{style}>' + ''.join(f'<td style="padding:2px 6px">{html.escape(_fmt(r.get(c, "")))}</td>' for c in cols) + '</tr>'
    return f'<table style="border-collapse:collapse;font-size:12px"><tr>{head}</tr>{body}</table>'


class CheckpointPicker:
    def __init__(self, run, images=None, render_factor=8, limit=6, out=None, device='cpu'):
        self.rf = RunFolder(run)
        self.rf.load()
        self.pictures = pictures_from(self.rf, images, limit)
        self.results = run_checkpoints(self.rf, self.pictures, render_factor, device=device)
        self.rows = table_rows(self.results)
        self.selector = widgets.Dropdown(options=[(r.label, i) for i, r in enumerate(self.results)],
                                         value=len(self.results) - 1, description='checkpoint')
        self.pictures_view = widgets.Image(format='png')
        self.metrics_view = widgets.HTML()
        self.loss_view = widgets.Image(format='png')
        self.out_path = widgets.Text(value=str(out or self.rf.path / 'promoted.safetensors'), description='model file',
                                     layout=widgets.Layout(width='60%'))
        self.promote_button = widgets.Button(description='Promote this checkpoint', button_style='success')
        self.status = widgets.HTML()
        self.selector.observe(lambda change: self.show(change['new']), names='value')
        self.promote_button.on_click(self.promote_shown)
        self.widget = widgets.VBox([self.selector, widgets.HBox([self.pictures_view,
                                                                  widgets.VBox([self.metrics_view, self.loss_view])]),
                                    widgets.HBox([self.out_path, self.promote_button]), self.status])
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
        self.loss_view.value = loss_plot_png(gan_iterations(self.rf, cycle), r.entry.get('iteration'),
                                             f'GAN losses, cycle {cycle}')
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
