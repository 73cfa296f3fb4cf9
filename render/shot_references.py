"""Notebook 06's colour references, shot by shot (ipywidgets).

The film's shots are found by cut detection (`deoldify_like.shots.find_shots`) and shown in a row, the first
frame of each with its frame number and time. Each shot has an upload for a colour reference: that first
frame coloured in any image editor, or a colour photo of the scene. The button renders the film with the
references attached (`render_film(references=...)`, the same as `render FILM --reference REF ...`), with a
progress bar, and shows each shot's first and last frame before and after.

An attached reference is saved as `REFERENCES/f<frame>.png` beside the output, the frame number in its name,
so that the command line takes the same files: `deoldify-like render FILM --reference REFERENCES/f000000.png`.
"""
import html
from pathlib import Path

import cv2
import ipywidgets as widgets
import numpy as np

from deoldify_like.errors import DeoldifyLikeError, SettingsError
from deoldify_like.reference_colour import load_reference
from deoldify_like.shots import THUMB_SIDE, find_shots
from deoldify_like.video import iter_frames

from .film import output_suffix, render_film

SHOWN_SHOTS = 8  # shots in the before/after view


def png_bytes(rgb):
    "PNG bytes of a uint8 RGB picture (what an ipywidgets Image shows)."
    return cv2.imencode('.png', np.ascontiguousarray(rgb[..., ::-1]))[1].tobytes()


def thumbnail(rgb, side=THUMB_SIDE):
    h, w = rgb.shape[:2]
    scale = min(1.0, side / max(h, w))
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def frames_at(film, wanted):
    "{frame number: uint8 RGB} of the frames `wanted` of `film`, in one read that stops after the last."
    wanted, found = set(wanted), {}
    for n, rgb in iter_frames(film):
        if n in wanted:
            found[n] = rgb
        if n >= max(wanted, default=-1):
            break
    return found


class ShotReferences:
    """The shots of `film` (its first `limit` frames) with an upload per shot, and a button that renders it into
    the folder `out` (as FILM_references.mp4, or the container `codec` needs) with the references attached.
    `references` {frame: picture path} are attached at once (as `attach`), and `render=True` renders at once (as
    a script or notebook parameters do). `render_options` go to `render_film` (codec, web, stabilize...)."""

    def __init__(self, colorizer, film, out, render_factor, limit=None, references=None, render=False, **render_options):
        self.colorizer, self.film, out = colorizer, Path(film), Path(out)
        self.dest = out / f'{self.film.stem}_references{output_suffix(self.film, render_options.get("codec"))}'
        self.render_factor, self.limit, self.options = render_factor, limit, render_options
        self.folder = out / 'references'
        self.shots = find_shots(self.film, limit=limit)
        self.total = self.shots[-1].end
        self.attached = {}  # shot start -> Reference
        self.uploads, self.shown, self.notes = {}, {}, {}
        cards = [self._card(i, s) for i, s in enumerate(self.shots)]
        self.button = widgets.Button(description='Render with these references', button_style='primary',
                                     layout=widgets.Layout(width='auto'))
        self.button.on_click(self._clicked)
        self.bar = widgets.IntProgress(value=0, min=0, max=self.total, description='frames',
                                       layout=widgets.Layout(width='60%'))
        self.status = widgets.HTML()
        self.result = widgets.GridBox(layout=widgets.Layout(grid_template_columns='repeat(4, max-content)',
                                                            grid_gap='4px 8px'))
        self.status.add_class('shot-references-status')
        self.result.add_class('shot-references-result')
        row = widgets.HBox(cards, layout=widgets.Layout(flex_flow='row wrap', grid_gap='8px', align_items='flex-start'))
        row.add_class('shot-references-row')
        self.widget = widgets.VBox([
            widgets.HTML(f'<b>{len(self.shots)} shot{"s" * (len(self.shots) != 1)}</b> in the first {self.total} '
                         f'frames of {html.escape(self.film.name)}, found by cut detection. Attach a colour reference '
                         'to any of them (its first frame coloured in any image editor, or a colour photo of the '
                         "scene) and press the button: the reference's colours follow the motion through its shot "
                         "where the motion can be trusted; elsewhere, and in shots without one, the model's colour "
                         'stays (docs/reference_colour.md).'),
            row, widgets.HBox([self.button, self.bar]), self.status, self.result], layout=widgets.Layout(width='100%'))
        for frame, picture in (references or {}).items():
            self.attach(frame, picture)
        if render:
            self.render()

    def _card(self, i, shot):
        upload = widgets.FileUpload(accept='image/*', multiple=False, description='reference',
                                    layout=widgets.Layout(width='auto'))
        upload.observe(lambda change, start=shot.start: self._uploaded(start, change['new']), names='value')
        shown = widgets.Image(format='png', layout=widgets.Layout(max_width=f'{THUMB_SIDE}px', display='none'))
        note = widgets.HTML()
        self.uploads[shot.start], self.shown[shot.start], self.notes[shot.start] = upload, shown, note
        card = widgets.VBox([widgets.Image(value=png_bytes(shot.thumbnail), format='png'),
                             widgets.Label(f'shot {i + 1}: frame {shot.start}, {shot.seconds:.2f} s ({shot.frames} frames)'),
                             upload, shown, note], layout=widgets.Layout(border='1px solid #ccc', padding='4px'))
        card.add_class('shot-references-card')
        return card

    def _shot_start(self, frame):
        "The first frame of the shot that holds `frame`."
        found = [s.start for s in self.shots if s.start <= int(frame) < s.end]
        if not found:
            raise SettingsError(f"frame {frame} is not among the {self.total} frames shown (0..{self.total - 1})")
        return found[0]

    def attach(self, frame, picture, name=None):
        """Attach `picture` (a path) as the colour reference of the shot holding `frame`, at that shot's first
        frame, shown as `name` (default: the file's); returns the `Reference`. BadInputError (one line) for a
        picture that cannot be read or has no colour."""
        start = self._shot_start(frame)
        ref = load_reference(picture, frame=start)
        ref.name = name or Path(picture).name
        self.folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(self.folder / f'f{start:06d}.png'), np.ascontiguousarray(ref.rgb[..., ::-1]))
        self.attached[start] = ref
        self.shown[start].value = png_bytes(thumbnail(ref.rgb))
        self.shown[start].layout.display = None
        self.notes[start].value = f'<span class="shot-reference-attached">attached: {html.escape(ref.name)}</span>'
        return ref

    def _uploaded(self, start, value):
        if not value:
            return
        item = value[0]
        self.folder.mkdir(parents=True, exist_ok=True)
        received = self.folder / f'upload-f{start:06d}'
        received.write_bytes(bytes(item['content']))
        try:
            self.attach(start, received, item['name'])
        except DeoldifyLikeError as e:
            self.notes[start].value = f'<span style="color:#b00">{html.escape(str(e).replace(str(received), item["name"]))}</span>'
        finally:
            received.unlink(missing_ok=True)

    @property
    def references(self):
        return [self.attached[s] for s in sorted(self.attached)]

    @property
    def command_line(self):
        "The same render from the command line."
        refs = ''.join(f' --reference {self.folder / f"f{s:06d}.png"}' for s in sorted(self.attached))
        part = f' --frames {self.limit}' if self.limit else ''
        return f'deoldify-like render {self.film} --model MODEL --render-factor {self.render_factor}{part}{refs}'

    def render(self):
        "Render the film with the references attached; returns the number of frames written (errors raise)."
        self.bar.value, self.bar.bar_style = 0, ''
        self.status.value = f'rendering with {len(self.attached)} reference{"s" * (len(self.attached) != 1)}…'

        def hook(done):
            self.bar.value = min(done, self.total)
        frames = render_film(self.colorizer, self.film, self.dest, self.render_factor, limit=self.limit, hook=hook,
                             references=self.references, **self.options)
        self.bar.value, self.bar.bar_style = self.total, 'success'
        self.status.value = (f'<span class="shot-references-done">done: {frames} frames in '
                             f'<code>{html.escape(str(self.dest))}</code></span><br>'
                             f'the same from the command line: <code>{html.escape(self.command_line)}</code>')
        self.show_result()
        return frames

    def _clicked(self, _button):
        self.button.disabled = True
        try:
            self.render()
        except DeoldifyLikeError as e:
            self.bar.bar_style = 'danger'
            self.status.value = f'<span style="color:#b00">{html.escape(str(e))}</span>'
        finally:
            self.button.disabled = False

    def show_result(self):
        "Each shot's first and last frame: the film, its reference, and the render."
        shots = self.shots[:SHOWN_SHOTS]
        wanted = [n for s in shots for n in (s.start, s.end - 1)]
        film, result = frames_at(self.film, wanted), frames_at(self.dest, wanted)
        cells = [widgets.HTML(f'<b>{t}</b>') for t in ('the film', 'reference', 'result: first frame', 'result: last frame')]
        for i, s in enumerate(shots):
            ref = self.attached.get(s.start)
            cells += [widgets.Image(value=png_bytes(thumbnail(film[s.start])), format='png'),
                      widgets.Image(value=png_bytes(thumbnail(ref.rgb)), format='png') if ref is not None
                      else widgets.HTML('none: the model’s colour'),
                      *(widgets.Image(value=png_bytes(thumbnail(result[n])), format='png') if n in result
                        else widgets.HTML('(not rendered)') for n in (s.start, s.end - 1))]
        self.result.children = cells

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)
