"""The run folder: where every stage reads what came before and records what it did.

    RUN/run.json            what ran, with which settings, on which data; each stage's status and progress;
                            every checkpoint; the current generator and critic; the cycle; what was promoted
    RUN/split.json          the training / validation file lists (relative to the data folder); read and
                            written only through RunFolder (write_split, split_files)
    RUN/checkpoints/        self-describing model files (generators and critics, deoldify_like.model_file)
    RUN/checkpoints/resume/ one resume state per stage (weights + optimizer state, plain tensors), replaced
                            atomically: an unfinished stage resumes from it; a finished burst keeps its own
                            (a larger --iters goes on), and earlier cycles' are deleted when a new cycle starts
    RUN/generated/cN/       the critic's fakes of cycle N
    RUN/logs/               losses and metrics per stage (CSV) and each stage's settings (<stage>_settings.json)
    RUN/reports/            loss curves and sample pictures (PNG)

run.json is rewritten atomically (temporary file + rename), so a crash never leaves half a record.
"""
import csv
import datetime as dt
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from fastcore.foundation import L

from deoldify_like.errors import DeoldifyLikeError, ModelFileError
from deoldify_like.images import atomic_path
from deoldify_like.model_file import read_header

RUN_FORMAT, RUN_FORMAT_VERSION = 'deoldify_like.run', 1
MODEL_SUFFIX = '.safetensors'
GEN_STAGE = 'pretrain-gen'


def critic_stage(cycle):
    return f'pretrain-critic-c{cycle}'


def gan_stage(cycle):
    return f'gan-c{cycle}'


def burst_checkpoint_name(cycle, iteration, raw=False):
    "A burst's checkpoint: gan-cN-iXXXXXX, and the trained generator's beside an averaged one: ...-raw."
    return f"gan-c{cycle}-i{iteration:06d}" + ('-raw' if raw else '')

_UMASK = os.umask(0)
os.umask(_UMASK)


def now():
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')


def write_json_atomic(path, obj):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.partial', dir=path.parent)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes files private; a run record is an ordinary file
    try:
        with os.fdopen(fd, 'w') as f:
            json.dump(obj, f, indent=1, default=str)
            f.write('\n')
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class RunFolder:
    def __init__(self, path):
        self.path = Path(path)
        self.json_path = self.path / 'run.json'
        self.checkpoints = self.path / 'checkpoints'
        self.resume_dir = self.checkpoints / 'resume'
        self.generated = self.path / 'generated'
        self.logs = self.path / 'logs'
        self.reports = self.path / 'reports'

    # --- run.json -------------------------------------------------------------------------------------
    def exists(self):
        return self.json_path.is_file()

    def create(self):
        for d in (self.checkpoints, self.resume_dir, self.generated, self.logs, self.reports):
            d.mkdir(parents=True, exist_ok=True)
        if not self.exists():
            self.save({'format': RUN_FORMAT, 'format_version': RUN_FORMAT_VERSION, 'created': now(),
                       'data': None, 'generator': None, 'critic': None, 'stages': {}, 'cycle': 0,
                       'current': {'generator': None, 'critic': None}, 'checkpoints': [],
                       'promoted': [], 'history': []})
        return self

    def load(self):
        if not self.exists():
            raise DeoldifyLikeError(f"{self.path}: not a run folder (no run.json); start with `deoldify-like pretrain-gen`")
        try:
            doc = json.loads(self.json_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DeoldifyLikeError(f"{self.json_path}: damaged run record ({e})") from None
        if doc.get('format') != RUN_FORMAT:
            raise DeoldifyLikeError(f"{self.json_path}: not a deoldify_like run record")
        return doc

    def save(self, doc):
        write_json_atomic(self.json_path, doc)

    def update(self, fn):
        "Read run.json, let `fn(doc)` change it in place, write it back atomically; returns the doc."
        doc = self.load()
        fn(doc)
        self.save(doc)
        return doc

    def stage(self, name):
        return self.load()['stages'].get(name)

    def set_stage(self, name, **fields):
        def _set(doc):
            doc['stages'].setdefault(name, {}).update(fields)
        return self.update(_set)

    def event(self, stage, what, **extra):
        "One line of history: which command did what, when."
        def _add(doc):
            doc['history'].append({'time': now(), 'stage': stage, 'event': what, 'argv': sys.argv[1:], **extra})
        return self.update(_add)

    # --- the training data (split.json) ------------------------------------------------------------------
    @property
    def split_path(self):
        return self.path / 'split.json'

    def has_split(self):
        return self.split_path.is_file()

    def write_split(self, root, train, valid):
        "Record the train / validation files (paths relative to `root`)."
        root = Path(root).resolve()
        rel = lambda fs: [str(Path(f).resolve().relative_to(root)) for f in fs]  # noqa: E731
        write_json_atomic(self.split_path, {'root': str(root), 'train': rel(train), 'valid': rel(valid)})

    def split_root(self):
        return Path(self._split()['root'])

    def split_files(self, part):
        "The recorded 'train' or 'valid' files as full paths."
        split = self._split()
        return [Path(split['root']) / f for f in split[part]]

    def _split(self):
        if not self.has_split():
            raise DeoldifyLikeError(f"{self.path}: no training data recorded (split.json); run `deoldify-like pretrain-gen` first")
        return json.loads(self.split_path.read_text())

    # --- the loss network ---------------------------------------------------------------------------------
    def loss_network(self):
        "What the run recorded of its perceptual loss network ({'weights', 'fingerprint'}), or None."
        return self.load().get('loss_network')

    def record_loss_network(self, weights, fingerprint):
        self.update(lambda doc: doc.update(loss_network={'weights': weights, 'fingerprint': fingerprint}))

    # --- reports ------------------------------------------------------------------------------------------
    def samples_png(self, stage, label=''):
        "The sample picture a stage draws (inputs, outputs, truth) after a size or at its end."
        return self.reports / f"{stage}{'_' + label if label else ''}_samples.png"

    def size_bytes(self):
        return sum(p.stat().st_size for p in self.path.rglob('*') if p.is_file())

    def record_size(self, stage):
        "The run folder's size after a stage, in run.json and printed (resume states and checkpoints add up)."
        size = self.size_bytes()
        self.set_stage(stage, folder_size_mb=round(size / 2**20, 1))
        print(f"{stage}: run folder {self.path} is {size / 2**20:.1f} MB", flush=True)
        return size

    # --- checkpoints ----------------------------------------------------------------------------------
    def checkpoint_path(self, name):
        return self.checkpoints / (name if name.endswith(MODEL_SUFFIX) else name + MODEL_SUFFIX)

    def add_checkpoint(self, name, kind, stage, make_current=True, **info):
        "Record a checkpoint already written to checkpoints/; replaces an older record of the same name."
        entry = {'name': self.checkpoint_path(name).name, 'kind': kind, 'stage': stage, 'saved_at': now(), **info}

        def _add(doc):
            doc['checkpoints'] = [c for c in doc['checkpoints'] if c['name'] != entry['name']] + [entry]
            if make_current:
                doc['current'][kind] = entry['name']
        self.update(_add)
        return entry

    def list_checkpoints(self, kind='generator'):
        "Recorded checkpoints of `kind`, oldest first, each with its `path`."
        return [{**c, 'path': str(self.checkpoints / c['name'])} for c in self.load()['checkpoints']
                if c['kind'] == kind and (self.checkpoints / c['name']).is_file()]

    def current(self, kind='generator'):
        name = self.load()['current'].get(kind)
        return None if name is None else self.checkpoints / name

    def resolve_model(self, ref, kind='generator'):
        """A model file from a checkpoint name of this run (with or without suffix) or any file path
        (a promoted model, one imported from the reference weights); checked to hold a `kind`."""
        ref = str(ref)
        candidates = [self.checkpoint_path(ref), Path(ref)]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise ModelFileError(f"{ref}: no checkpoint of that name in {self.checkpoints} and no such file")
        header = read_header(path)
        if header['kind'] != kind:
            raise ModelFileError(f"{path}: holds a {header['kind']}, expected a {kind}")
        return path

    def record_promoted(self, checkpoint, out):
        "For `promote`: remember which checkpoint became which model file."
        def _add(doc):
            doc['promoted'].append({'checkpoint': checkpoint, 'out': str(out), 'time': now()})
        return self.update(_add)

    # --- resume states (plain tensors and dicts; loaded with weights_only=True) --------------------------
    def resume_path(self, stage):
        return self.resume_dir / f'{stage}.pt'

    def save_resume(self, stage, state):
        with atomic_path(self.resume_path(stage)) as tmp:
            torch.save(plain(state), tmp)

    def load_resume(self, stage, device='cpu'):
        """The stage's resume state with every tensor on `device`, the stage's: fastai's optimizer takes its
        state as given, so a state left on the CPU would meet parameters on the GPU in the first step."""
        path = self.resume_path(stage)
        if not path.is_file():
            return None
        try:
            return torch.load(path, map_location=device, weights_only=True)
        except Exception as e:  # damaged: start the stage over rather than fail
            print(f"{path}: unreadable resume state ({str(e).splitlines()[0]}); starting the stage over", file=sys.stderr)
            return None

    def drop_resume(self, stage):
        self.resume_path(stage).unlink(missing_ok=True)

    def drop_resumes_except(self, keep):
        "Resume states of stages other than `keep` (finished ones of earlier cycles) are deleted."
        for p in self.resume_dir.glob('*.pt'):
            if p.stem not in keep:
                p.unlink(missing_ok=True)

    # --- logs -------------------------------------------------------------------------------------------
    def log_path(self, stage, suffix=''):
        return self.logs / f'{stage}{suffix}.csv'

    def save_settings(self, stage, settings):
        write_json_atomic(self.logs / f'{stage}_settings.json', settings)


def plain(obj):
    """Tensors, numbers, strings and plain containers only (fastai's L and numpy scalars converted), so that
    `torch.load(weights_only=True)` reads it back."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return tuple(plain(v) for v in obj)
    if isinstance(obj, (list, L)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def append_csv(path, row):
    "Append one row (a dict) to a CSV file, writing the header when the file is new."
    path = Path(path)
    new = not path.is_file() or path.stat().st_size == 0
    with open(path, 'a', newline='') as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)


def read_csv(path):
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def truncate_csv(path, keep):
    "Keep only rows for which `keep(row)` is true (used when a resumed stage redoes an unfinished epoch)."
    rows = read_csv(path)
    kept = [r for r in rows if keep(r)]
    if len(kept) == len(rows):
        return
    path.unlink()
    for r in kept:
        append_csv(path, r)


def print_settings(stage, settings):
    "The settings object of a stage, printed at its start (and saved beside its outputs)."
    print(f"== {stage} settings ==")
    for k, v in settings.items():
        print(f"  {k:<16} {v}")
    sys.stdout.flush()
