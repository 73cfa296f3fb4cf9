"""`deoldify-like evaluate`: measure a model on colour photos or a colour film the standard way.

Each colour original is turned to gray (its BT.601 luminance, all the model ever sees), colorized through
the shared inference path, and compared with the original (deoldify_like.metrics). Several render factors
in one call give one row each. Photos: mean CF of outputs and truth, ΔCF, PSNR, SSIM, CIEDE2000 and the
colour drift. Films: the same per frame (mean), plus CDC (d = 1, 2, 4) and warp error with optical flow
on the input frames, and the brightness flicker (frame-mean luminance about its running median) and the
luminance's warp error, beside the same figures of the colour original: the floor real motion sets.
"""
import csv
import itertools
import json
import math
import sys
import time
from pathlib import Path

from deoldify_like.colour import rgb_to_gray
from deoldify_like.errors import BadInputError, DeoldifyLikeError, SettingsError, reraise_as
from deoldify_like.images import atomic_path, find_photos, load_image
from deoldify_like.inference import DEFAULT_FIT, Colorizer, model_side, render_factor_for
from deoldify_like.film_metrics import (CDC_DISTANCES, FB_ALPHA, FB_BETA, FLICKER_TREND, BrightnessFlickerMeter, CDCMeter,
                                        WarpErrorMeter)
from deoldify_like.metrics import PHOTO_COLUMNS, SSIM_WINDOW, PhotoMeter
from deoldify_like.progress import progress, say
from deoldify_like.stabilize import check_strength
from deoldify_like.stabilizers import DEFAULT_STRENGTHS, default_strength, make_stabilizer, stabilized_rgb
from deoldify_like.video import iter_frames, probe_video

from .reference_eval import measure_reference_film, method_rows

SUMMARY_COLUMNS = ('render_factor', 'count', 'cf_output', 'cf_truth', 'delta_cf', 'psnr', 'ssim', 'ciede2000',
                   'saturation_ratio', 'hue_shift', 'seconds_per_item', 'drift')
REFERENCE_COLUMNS = ('method', 'render_factor', 'count', 'psnr', 'ciede2000', 'cdc', 'warp_error', 'warp_error_truth')
FILM_COLUMNS = ('render_factor', 'stabilize') + SUMMARY_COLUMNS[1:-2] + (
    'cdc', 'cdc_truth', 'warp_error', 'warp_error_truth', 'brightness_flicker', 'brightness_flicker_truth',
    'warp_luma_error', 'warp_luma_error_truth', 'flow_kept', 'seconds_per_item', 'frames_per_s', 'drift')
DEFINITIONS = {
    'cf': 'Hasler-Susstrunk colourfulness, absolute-value form, RGB 0..255',
    'delta_cf': '|mean CF of outputs - mean CF of truths|',
    'psnr': 'dB on RGB 0..255 against the colour original (inf for identical pictures)',
    'ssim': SSIM_WINDOW,
    'ciede2000': 'mean CIEDE2000 on CIE Lab (D65), skimage.color.deltaE_ciede2000',
    'saturation_ratio': 'mean Lab chroma of outputs / of truths',
    'hue_shift': 'chroma-weighted circular mean of the per-pixel Lab hue turn, degrees (+ = toward yellow)',
    'cdc': f'mean Jensen-Shannon divergence (log2) of per-channel 256-bin RGB histograms, frames t and t+d, '
           f'd = {", ".join(map(str, CDC_DISTANCES))}, each weighted equally',
    'warp_error': f'mean squared RGB difference (0..1 scale) between output t and output t+1 warped back by '
                  f'OpenCV DIS flow of the input frames, over pixels passing the forward-backward check '
                  f'|F+B|^2 < {FB_ALPHA}(|F|^2+|B|^2) + {FB_BETA}',
    'flow_kept': 'mean fraction of pixels that passed that check',
    'brightness_flicker': f'RMS of the frame-mean BT.601 luminance (levels) about its running median over '
                          f'{FLICKER_TREND} frames (deoldify_like.film_metrics.brightness_flicker)',
    'warp_luma_error': 'mean |Y_t - Y_t+1 warped back| (levels) along the DIS flow of the input frames, over the '
                       'pixels passing the forward-backward check',
    'seconds_per_item': 'seconds spent colorizing (films: decoding, colorizing and stabilising) per photo or '
                        'frame, not counting the measuring',
    'stabilize': "films: the chroma stabiliser applied to the colorized frames (none, or flow and its strength)",
    'frames_per_s': 'films: 1 / seconds_per_item',
    'method': "films with --reference first: 'reference' (the true first frame carried along the motion, the model "
              "where it is not trusted), 'model' (the model alone), 'static' (frame 0's colour on every frame, no "
              "motion); PSNR and CIEDE2000 over frames 1..N-1 (render/reference_eval.py)",
}
HEADINGS = {'method': 'method', 'render_factor': 'rf', 'count': 'n', 'cf_output': 'CF out', 'cf_truth': 'CF truth',
            'delta_cf': 'dCF', 'psnr': 'PSNR', 'ssim': 'SSIM', 'ciede2000': 'dE00', 'saturation_ratio': 'sat x',
            'hue_shift': 'hue deg', 'cdc': 'CDC', 'cdc_truth': 'CDC truth', 'warp_error': 'warp err',
            'warp_error_truth': 'warp truth', 'brightness_flicker': 'bright fl', 'brightness_flicker_truth': 'bright truth',
            'warp_luma_error': 'warp Y', 'warp_luma_error_truth': 'warp Y truth', 'flow_kept': 'kept', 'seconds_per_item': 's/item', 'drift': 'drift',
            'stabilize': 'stabilize', 'frames_per_s': 'frames/s'}


def parse_render_factors(text, default):
    "'12,21,35' -> [12, 21, 35]; None -> [default]. Each is checked against the render-factor rule."
    if text is None or str(text).strip() == '':
        return [int(default)]
    with reraise_as(DeoldifyLikeError, ValueError, f'--render-factor {text!r}: '):
        factors = [int(t) for t in str(text).replace(' ', '').split(',') if t]
        for f in factors:
            model_side(f)
    return list(dict.fromkeys(factors))


def _batches(items, size):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def evaluate_photos(files, colorize, render_factors, bs=4, root=None, warn=None, device='cpu'):
    """Colorize the gray of each colour photo in `files` at each render factor and measure it (each batch
    scored together on `device`).

    `colorize(lumas, render_factor)` -> list of uint8 RGB (e.g. `Colorizer.colorize`). Returns
    `(rows, summaries, skipped, bad)`: a row per photo and render factor, a summary per render factor
    (`SUMMARY_COLUMNS`), the colourless files skipped, and `(file, problem)` for files that could not be read.
    """
    warn = warn or (lambda msg: print(msg, file=sys.stderr, flush=True))
    meters = {rf: PhotoMeter() for rf in render_factors}
    seconds = {rf: 0.0 for rf in render_factors}
    rows, skipped, bad = [], [], []

    def loaded():
        for f in progress(files, total=len(files), comment='evaluating photos'):
            try:
                img = load_image(f)
            except BadInputError as e:
                warn(str(e))
                bad.append((str(f), e.problem))
                continue
            if img.is_gray:
                say(f'{f}: skipped, no colour to compare with')
                skipped.append(str(f))
                continue
            yield f, img

    for batch in _batches(loaded(), bs):
        lumas = [img.luma for _, img in batch]
        for rf in render_factors:
            t0 = time.perf_counter()
            outputs = colorize(lumas, rf)
            seconds[rf] += time.perf_counter() - t0
            scored = meters[rf].add_many(outputs, [img.rgb for _, img in batch], device)
            for (f, img), row in zip(batch, scored):
                name = str(Path(f).relative_to(root)) if root else str(f)
                h, w = img.luma.shape
                rows.append(dict(render_factor=rf, image=name, width=w, height=h, **row))
    summaries = []
    for rf in render_factors:
        s = meters[rf].summary()
        summaries.append(dict(render_factor=rf, **s, seconds_per_item=seconds[rf] / s['count'] if s['count'] else math.nan))
    return rows, summaries, skipped, bad


def film_frames(path, colorize, render_factor, bs=4, max_frames=None):
    """Yield `(index, colour original, luminance, colorized frame)` for a colour film, decoded as a stream
    and colorized in batches of `bs` frames through `colorize(lumas, render_factor)`."""
    for batch in _batches(itertools.islice(iter_frames(path), max_frames), bs):
        lumas = [rgb_to_gray(rgb) for _, rgb in batch]
        for (i, rgb), luma, out in zip(batch, lumas, colorize(lumas, render_factor)):
            yield i, rgb, luma, out


def parse_stabilize(text):
    """'none,flow,flow:0.9,flow-one-way' -> [('none', None), ('flow', 0.96), ('flow', 0.9), ('flow-one-way', 0.95)]
    (a mode alone: its default strength)."""
    settings = []
    for item in str(text or 'none').replace(' ', '').split(','):
        mode, _, strength = item.partition(':')
        with reraise_as(DeoldifyLikeError, ValueError, f'--stabilize {text!r}: '):
            if mode == 'none' and not strength:
                settings.append(('none', None))
            elif mode in DEFAULT_STRENGTHS:
                settings.append((mode, check_strength(strength or default_strength(mode))))
            else:
                raise ValueError('each setting is none, flow, flow-one-way, or one of those two:STRENGTH')
    return list(dict.fromkeys(settings))


def _label(setting):
    return 'none' if setting[0] == 'none' else f'{setting[0]} {setting[1]:g}'


def _stabilized_stream(stabilizer, frames, seconds, k):
    """(index, rgb, luma, output) items -> the same with the output's colour through `stabilizer` (the two-way
    one gives a frame back frames later; `evaluate_film` lines the settings up with `itertools.tee`).
    `seconds[k]` gets the stabiliser's own time: its generator's, less the time spent pulling frames in."""
    if stabilizer is None:
        yield from frames
        return
    pulling = 0.0

    def fed():
        nonlocal pulling
        it = iter(frames)
        while True:
            t = time.perf_counter()
            item = next(it, None)
            pulling += time.perf_counter() - t
            if item is None:
                return
            i, rgb, luma, out = item
            yield luma, out, (i, rgb, luma)
    steady, inside = stabilized_rgb(stabilizer, fed()), 0.0
    while True:
        t = time.perf_counter()
        item = next(steady, None)
        inside += time.perf_counter() - t
        seconds[k] = inside - pulling
        if item is None:
            return
        (i, rgb, luma), out = item
        yield i, rgb, luma, out


def evaluate_film(path, colorize, render_factors, bs=4, max_frames=None, stabilize=(('none', None),)):
    """Measure a colour film colorized at each render factor (one streaming pass each), with each chroma
    stabiliser setting of `stabilize` ((mode, strength) pairs, see `parse_stabilize`) applied to the
    colorized frames in the same pass.

    Returns `(rows, summaries)`: a row per frame, render factor and setting (`PHOTO_COLUMNS`), and a summary
    per render factor and setting (`FILM_COLUMNS`) with CDC, warp error, brightness flicker and the warp error
    of the luminance of the output beside those of the colour original (`..._truth`, measured in the first pass).
    """
    total = probe_video(path).frames
    total = min(total, max_frames) if max_frames else total
    settings = list(stabilize)
    rows, summaries, truth = [], [], None
    for rf in render_factors:
        photos, cdcs = [PhotoMeter() for _ in settings], [CDCMeter() for _ in settings]
        stabs = [make_stabilizer(mode, strength) for mode, strength in settings]
        stab_seconds = [0.0 for _ in settings]
        truth_cdc = CDCMeter() if truth is None else None
        warp = WarpErrorMeter(streams=len(settings) + (1 if truth is None else 0))
        light = BrightnessFlickerMeter(streams=len(settings) + (1 if truth is None else 0))
        t0, n, measuring = time.perf_counter(), 0, 0.0
        frames = progress(film_frames(path, colorize, rf, bs, max_frames), total=total,
                          comment=f'film at render factor {rf}')
        streams = [_stabilized_stream(stab, part, stab_seconds, k)
                   for k, (stab, part) in enumerate(zip(stabs, itertools.tee(frames, len(stabs))))]
        for items in zip(*streams):  # one frame of every setting (tee holds those a two-way stabiliser waits on)
            i, rgb, luma, _ = items[0]
            outs = [item[3] for item in items]
            t1 = time.perf_counter()
            for setting, photo, cdc, o in zip(settings, photos, cdcs, outs):
                rows.append(dict(render_factor=rf, frame=i, **photo.add(o, rgb), stabilize=_label(setting)))
                cdc.add(o)
            warp.add(luma, outs + [rgb] if truth_cdc else outs)
            light.add(luma, [rgb_to_gray(o) for o in outs] + ([luma] if truth_cdc else []))
            if truth_cdc:
                truth_cdc.add(rgb)
            n += 1
            measuring += time.perf_counter() - t1
        if not n:
            raise BadInputError(path, 'no frames could be decoded')
        if truth_cdc:
            truth = dict(cdc_truth=truth_cdc.value, warp_error_truth=warp.values[-1],
                         brightness_flicker_truth=light.values[-1]['flicker'],
                         warp_luma_error_truth=light.values[-1]['warp_luma_error'])
        colorizing = time.perf_counter() - t0 - measuring - sum(stab_seconds)
        for k, setting in enumerate(settings):
            per_item = (colorizing + stab_seconds[k]) / n
            summaries.append(dict(render_factor=rf, stabilize=_label(setting), **photos[k].summary(), cdc=cdcs[k].value,
                                  **truth, warp_error=warp.values[k], brightness_flicker=light.values[k]['flicker'],
                                  warp_luma_error=light.values[k]['warp_luma_error'], flow_kept=warp.kept_fraction,
                                  seconds_per_item=per_item, frames_per_s=1 / per_item if per_item > 0 else math.nan))
    return rows, summaries


def _cell(value):
    if isinstance(value, float):
        if math.isnan(value):
            return '-'
        if math.isinf(value):
            return 'inf'
        return f'{value:.3g}' if abs(value) < 0.01 and value != 0 else f'{value:.3f}' if abs(value) < 10 else f'{value:.2f}'
    return str(value)


def format_table(summaries, columns):
    "A plain text table of the summaries, one row per render factor."
    head = [HEADINGS.get(c, c) for c in columns]
    body = [[_cell(s.get(c, '')) for c in columns] for s in summaries]
    widths = [max(len(r[i]) for r in [head] + body) for i in range(len(columns))]
    line = lambda cells: '  '.join(c.rjust(w) if i < len(cells) - 1 else c for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731,E501
    return '\n'.join([line(head)] + [line(r) for r in body])


def _jsonable(value):
    "inf as the string 'inf' (PSNR of identical pictures), NaN as null: plain JSON that every reader takes."
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ('inf' if value > 0 else '-inf')
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def write_json(report, dest):
    with atomic_path(dest) as tmp:
        tmp.write_text(json.dumps(_jsonable(report), indent=2) + '\n')
    return Path(dest)


def write_csv(rows, columns, dest):
    with atomic_path(dest) as tmp:
        with open(tmp, 'w', newline='') as f:
            w = csv.DictWriter(f, fieldnames=columns, extrasaction='ignore')
            w.writeheader()
            for r in rows:
                w.writerow({k: _cell_csv(v) for k, v in r.items()})
    return Path(dest)


def _cell_csv(value):
    return ('inf' if value > 0 else '-inf') if isinstance(value, float) and math.isinf(value) else value


def evaluate(model: str = None,  # model file (as `promote` writes it); required
             images: str = None,  # folder of colour photos (searched recursively; colourless ones are skipped)
             film: str = None,  # a colour film
             render_factor: str = None,  # one or several, comma-separated (12,21,35): one row each. Default: the model file's own for photos (else 35), 21/35 of it for films (else 21)
             json: str = None,  # write the overall figures to this JSON file (the per-item CSV goes beside it)
             csv: str = None,  # per-photo (or per-frame) CSV; default: beside --json, same name, .csv
             device: str = 'auto',  # auto, cpu or cuda
             bs: int = 4,  # pictures per batch
             fit: str = DEFAULT_FIT,  # how a non-square picture fits the model's square: stretch or pad
             max_frames: int = None,  # films: measure only the first N frames
             stabilize: str = 'none',  # films: chroma stabiliser settings, comma-separated, one row each: none, flow (two-way, default strength 0.96), flow-one-way (0.95), or either :S
             reference: str = None,  # films: 'first' colours the gray film from its true first frame and reports it beside the model alone and frame 0's colour copied without motion (docs/reference_colour.md)
             ):
    "Measure a model on colour photos or a colour film: CF, dCF, PSNR, SSIM, CIEDE2000, drift; CDC, warp error and brightness flicker."
    if model is None:
        raise DeoldifyLikeError('give the model file: --model M')
    if (images is None) == (film is None):
        raise DeoldifyLikeError('give either --images DIR or --film FILE')
    if reference is not None and (reference != 'first' or film is None or stabilize != 'none'):
        raise SettingsError(f"--reference {reference}: give --reference first, with --film and without --stabilize")
    try:
        colorizer = Colorizer.from_file(model, fit=fit, device=device)
    except ValueError as e:
        raise DeoldifyLikeError(str(e)) from None
    default_rf = render_factor_for(colorizer, 'film' if film else 'photo')
    factors = parse_render_factors(render_factor, default_rf)
    settings = parse_stabilize(stabilize)
    json_path = Path(json) if json else None
    csv_path = Path(csv) if csv else json_path.with_suffix('.csv') if json_path else None
    report = dict(model=str(model), render_factors=factors, fit=fit, device=str(colorizer.device),
                  definitions=DEFINITIONS)
    bad = []
    if images is not None:
        files = find_photos(images)
        if not files:
            raise BadInputError(images, 'holds no image files')
        rows, summaries, skipped, bad = evaluate_photos(files, colorizer.colorize, factors, bs, root=images,
                                                        device=colorizer.device)
        if not rows:
            raise BadInputError(images, 'holds no colour photos to compare with')
        columns, item_columns = SUMMARY_COLUMNS, ('render_factor', 'image', 'width', 'height') + PHOTO_COLUMNS
        report.update(images=str(images), skipped_colourless=skipped, bad_files=[dict(file=f, problem=p) for f, p in bad])
        title = f'{len(rows) // len(factors)} colour photos from {images}'
    elif reference is not None:
        info = probe_video(film)
        rows, summaries = [], []
        for rf in factors:
            row = measure_reference_film(film, lambda luma: colorizer.predict([luma], rf)[0], limit=max_frames)
            rows.append(dict(render_factor=rf, **row))
            summaries += method_rows(row, rf)
        columns, item_columns = REFERENCE_COLUMNS, ('render_factor',) + tuple(k for k in rows[0] if k != 'render_factor')
        report.update(film=str(film), width=info.width, height=info.height, fps=float(info.fps),
                      frames=rows[0]['frames'], reference='first')
        title = f'{rows[0]["frames"]} frames of {film} ({info.width}x{info.height}), the true first frame as the reference'
    else:
        info = probe_video(film)
        rows, summaries = evaluate_film(film, colorizer.colorize, factors, bs, max_frames, settings)
        columns, item_columns = FILM_COLUMNS, ('render_factor', 'frame') + PHOTO_COLUMNS + ('stabilize',)
        report.update(film=str(film), width=info.width, height=info.height, fps=float(info.fps),
                      frames=summaries[0]['count'])
        title = f'{summaries[0]["count"]} frames of {film} ({info.width}x{info.height})'
    report['rows'] = summaries
    print(f'{model} on {title}; SSIM window: {SSIM_WINDOW}')
    print(format_table(summaries, columns))
    if json_path:
        write_json(report, json_path)
        say(f'wrote {json_path}')
    if csv_path:
        write_csv(rows, item_columns, csv_path)
        say(f'wrote {csv_path}')
    return 1 if bad else 0
