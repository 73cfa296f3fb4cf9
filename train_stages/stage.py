"""What every stage does around its training: decide between starting, resuming and skipping from
run.json; print and save its settings; mark itself running, interrupted or done; time itself; and the
fastai plumbing shared by the stages (quiet progress bars). The per-epoch bookkeeping is in
train_stages.bookkeeping."""
import contextlib
import time

from fastai.callback.progress import ProgressCallback
from fastcore.basics import noop

from deoldify_like.device import pick_device
from deoldify_like.errors import SettingsError
from deoldify_like.progress import quiet
from deoldify_like.train_precision import resolve_train_precision, set_precision

from .run_folder import now, print_settings

# settings that may differ between an interrupted run and its resumption
MAY_CHANGE_ON_RESUME = {'device', 'force', 'workers'}  # workers: the batches are the same whatever the number


def begin(rf, name, settings, force=False, may_change=()):
    """Returns (action, resume_state): action is 'done' (finished before; nothing to do), 'resume' or 'start'.
    Prints the settings and saves them to RUN/logs/<name>_settings.json unless the stage is done. The resume
    state is loaded onto the device the stage trains on now (settings['device'])."""
    st = rf.load()['stages'].get(name)
    if st and st.get('status') == 'done' and not force:
        return 'done', None
    state = rf.load_resume(name, pick_device(settings.get('device', 'cpu'))) if st and not force else None
    if st and not force and state is None:
        # it stopped before saving anything to resume from: start it afresh with whatever settings are given now
        print(f"{name}: an earlier try stopped before its first save; starting afresh", flush=True)
        force = True
    if st and not force:
        old = st.get('settings') or {}
        skip = MAY_CHANGE_ON_RESUME | set(may_change)
        # a setting the run did not record (added by a later version of the toolkit) keeps its default: not a change
        diff = [k for k in set(old) | set(settings) if k not in skip and (k in old or settings.get(k) not in (None, 'auto'))
                and old.get(k) != settings.get(k)]
        if diff:
            parts = ', '.join(f"{k}: {old.get(k)!r} -> {settings.get(k)!r}" for k in sorted(diff))
            raise SettingsError(f"{rf.path}: {name} was started with other settings ({parts}); "
                                    f"run it with the same settings to resume, or add --force to start it over")
    if force or not st:
        rf.drop_resume(name)
        rf.set_stage(name, status='running', settings=settings, started=now(), finished=None, progress={},
                     resumed=0, seconds=0.0)
        action = 'start'
    else:
        rf.set_stage(name, status='running', settings=settings, resumed=int(st.get('resumed', 0)) + 1)
        action = 'resume'
    rf.event(name, action)
    print_settings(name, settings)
    rf.save_settings(name, settings)
    return action, state


@contextlib.contextmanager
def running(rf, name):
    "Count the stage's time; on any exception (Ctrl-C included) mark it interrupted and let it go on up."
    t0 = time.time()
    base = float((rf.stage(name) or {}).get('seconds') or 0.0)
    try:
        yield
    except BaseException as e:
        rf.set_stage(name, status='interrupted', seconds=round(base + time.time() - t0, 1))
        rf.event(name, 'interrupted', error=f"{type(e).__name__}: {str(e)[:200]}")
        raise
    rf.set_stage(name, seconds=round(base + time.time() - t0, 1))


def finish(rf, name, drop_resume=True, **fields):
    rf.set_stage(name, status='done', finished=now(), **fields)
    if drop_resume:
        rf.drop_resume(name)
    rf.event(name, 'done')


def train_in_precision(learn, s, device, say=print):
    """Put the stage's learner in its training precision (`s['precision']`, 'auto' resolved for `device`: fp32
    until a training check of the device's reduced precision is recorded); says so when it is not fp32."""
    precision = resolve_train_precision(s.get('precision') or 'auto', device)
    set_precision(learn, precision)
    if precision != 'fp32':
        say(f"training in {precision} mixed precision", flush=True)
    return precision


def quiet_progress(learn):
    "No progress bars in CI or when DEOLDIFY_LIKE_QUIET is set."
    if quiet():
        if any(isinstance(cb, ProgressCallback) for cb in learn.cbs):
            learn.remove_cb(ProgressCallback)
        learn.logger = noop  # the stages print their own lines per epoch / checkpoint
    return learn


def fmt(v, digits=4):
    try:
        return f"{float(v):.{digits}f}"
    except (TypeError, ValueError):
        return ''
