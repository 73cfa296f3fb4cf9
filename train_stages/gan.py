"""Stage 3: the short GAN burst, with a checkpoint every K iterations to pick from by eye.

fastai's `GANLearner.from_learners` over the pretrained generator and critic; generator loss =
1.0 x adversarial + 1.5 x feature loss; `AdaptiveGANSwitcher` (the critic trains until its loss is below
0.65, then the generator takes one step); Adam betas (0, 0.9), weight decay 1e-3; a constant learning
rate with plain `fit`, the critic's a multiple (5) of the generator's.

Two fastai pitfalls handled here:
- fastai's own optimizer zeroes gradients instead of dropping them, so Adam's momentum and weight decay
  would keep moving the idle network. We use `OptimWrapper(torch.optim.AdamW)`: torch sets gradients to
  None after each step and skips parameters without a gradient, so the idle network stays still
  (tests/test_gan_idle.py proves it).
- `GANDiscriminativeLR` is undone by one-cycle scheduling. Instead the generator and the critic are two
  parameter groups whose learning rates are set once, [lr, lr x multiple], and nothing schedules them.
- fastai puts the whole GAN module in training mode at each epoch start: `IdleStaysIdle` puts the idle
  network back in eval mode, so not even its BatchNorm statistics move.
Also: `GANTrainer` unfreezes the whole generator when it switches to it, so the burst trains the whole
generator (as the reference did).

Iterations are training batches (critic and generator steps alike). Every --save-every iterations a
self-describing generator file gan-cN-iXXXXXX.safetensors is written with the losses at that point, and
the weights of both networks plus the optimizer state are kept for resuming. With `--ema DECAY` that file
holds the averaged generator (train_stages/ema.py) and `--save-raw` writes the trained one beside it as
gan-cN-iXXXXXX-raw.safetensors; the average is kept for resuming too.
"""
from functools import partial

import torch
from fastai.callback.core import Callback, CancelValidException
from fastai.learner import Learner
from fastai.optimizer import OptimWrapper
from fastai.torch_core import params, set_seed
from fastai.vision.gan import AdaptiveGANSwitcher, AdaptiveLoss, GANLearner
from torch import nn

from deoldify_like.colour_terms import PRIOR_CACHE, colour_terms_loss
from deoldify_like.critic import CriticConfig, critic_min_size
from deoldify_like.data import ColourPairs, dataloaders
from deoldify_like.device import pick_device
from deoldify_like.errors import DeoldifyLikeError, SettingsError, reraise_as
from deoldify_like.feature_loss import FeatureLoss
from deoldify_like.generator import GeneratorConfig
from deoldify_like.inference import render_factor_for_size
from deoldify_like.model_file import load_generator, load_model_file, read_header, save_generator
from deoldify_like.train_precision import resolve_train_precision

from . import stage as stg
from .distributed import single_process
from .ema import GeneratorAverage, check_decay
from .bookkeeping import BurstCheckpoints, adversarial_start, fit_iterations
from .plots import gan_loss_curve, samples_png
from .pretrain_critic import display_name
from .pretrain_gen import loss_network_identity
from .run_folder import GEN_STAGE, RunFolder, burst_checkpoint_name, critic_stage, gan_stage
from .settings import GanSettings, check_colour_weights, stage_command



class Tracked:
    "A loss function that remembers its last value (to log the adversarial and feature parts apart)."

    def __init__(self, fn):
        self.fn, self.last = fn, None

    def __call__(self, *args):
        out = self.fn(*args)
        self.last = float(out.detach())
        return out


def gan_splitter(model):
    "Two parameter groups: the generator's, then the critic's (their learning rates are set apart)."
    return [params(model.generator), params(model.critic)]


def gan_optimizer(betas=(0.0, 0.9)):
    "torch AdamW behind fastai's wrapper: gradients are set to None, so the idle network does not move."
    return partial(OptimWrapper, opt=partial(torch.optim.AdamW, betas=betas))


class NoValidation(Callback):
    "The burst has no validation pass (it would also switch GANTrainer to the generator every epoch)."
    order = -20  # before GANTrainer.before_validate

    def before_validate(self):
        raise CancelValidException


class IdleStaysIdle(Callback):
    """fastai's TrainEvalCallback puts the whole GAN module in training mode at the start of every epoch,
    after GANTrainer put the idle network in eval mode; put it back, so the idle network's BatchNorm
    statistics and spectral-norm vectors do not move either."""
    order = -5  # after TrainEvalCallback.before_train (-10)

    def before_train(self):
        self.learn.gan_trainer.switch(self.learn.gan_trainer.gen_mode)


def build_gan_learner(dls, generator, critic, feature_loss, adv_weight=1.0, feat_weight=1.5, critic_thresh=0.65,
                      wd=1e-3, gen_first=False, opt_func=None, cbs=(), path='.'):
    "The GAN learner of the burst: from a generator learner and a critic learner, as fastai intends."
    gen_learn = Learner(dls, generator, loss_func=Tracked(feature_loss))
    crit_learn = Learner(dls, critic, loss_func=Tracked(AdaptiveLoss(nn.BCEWithLogitsLoss())))
    learn = GANLearner.from_learners(gen_learn, crit_learn, switcher=AdaptiveGANSwitcher(critic_thresh=critic_thresh),
                                     weights_gen=(adv_weight, feat_weight), gen_first=gen_first, show_img=False,
                                     opt_func=opt_func or gan_optimizer(), wd=wd, splitter=gan_splitter,
                                     cbs=[NoValidation(), IdleStaysIdle(), *cbs], path=path, model_dir='checkpoints')
    learn.gen_loss_part, learn.adv_loss_part = gen_learn.loss_func, crit_learn.loss_func
    return learn


def gan_lrs(lr, critic_lr_mult):
    "Learning rates of the two parameter groups (generator, critic), constant through the burst."
    return [lr, lr * critic_lr_mult]


class AverageGenerator(Callback):
    "Updates the averaged generator after every generator step (before BurstCheckpoints saves it)."
    order = 65

    def __init__(self, average):
        self.average = average

    def before_batch(self):
        self.generator_step = self.training and self.learn.gan_trainer.gen_mode

    def after_batch(self):
        if self.generator_step:
            self.average.update(self.learn.model.generator)


def _gan(args, cbs):
    run, iters, save_every, from_, save_raw, vgg_weights, seed, force, device, workers, precision = (
        args[k] for k in ('run', 'iters', 'save_every', 'from_', 'save_raw', 'vgg_weights', 'seed', 'force', 'device',
                          'workers', 'precision'))
    if not single_process('gan'):
        return 0  # under torchrun / accelerate launch: rank 0 trains alone
    if not run:
        raise SettingsError("gan needs --run RUN")
    if iters < 1 or (save_every is not None and save_every < 1):
        raise SettingsError("--iters and --save-every must be 1 or more")
    resolve_train_precision(precision, pick_device(device))  # checked before anything is written
    rf = RunFolder(run)
    doc = rf.load()
    cycle = int(doc.get('cycle') or 0)
    crit_st = doc['stages'].get(critic_stage(cycle)) if cycle else None
    if not crit_st or crit_st.get('status') != 'done':
        raise DeoldifyLikeError(f"{rf.path}: no pretrained critic for cycle {max(cycle, 1)}; run `deoldify-like pretrain-critic` first")
    with reraise_as(SettingsError):
        gen_path = rf.resolve_model(from_ or crit_st['settings']['generator'])
    loss_spec, loss_print = burst_loss_network(rf, vgg_weights)
    rec = (doc.get('recipe') or {}).get('values') or {}
    values, overrides = GanSettings.resolve(args, rec.get('gan'))
    check_decay(values['ema'])
    check_colour_weights(values)
    if values['chroma_class_weight'] and not read_header(gen_path)['config'].get('ab_bins'):
        raise SettingsError(f"--chroma-class-weight: {display_name(rf, gen_path)} has no chroma head; train stage 1 "
                            f"with --chroma-class-weight, or give only --colourfulness-weight")
    if save_raw and not values['ema']:
        raise SettingsError("--save-raw needs --ema: without an average the checkpoints are the trained generator")
    values['size'] = values['size'] or crit_st['settings']['size']
    if values['size'] < critic_min_size(CriticConfig()):
        raise SettingsError(f"--size: the critic needs pictures of at least {critic_min_size(CriticConfig())} px, got {values['size']}")
    name = gan_stage(cycle)
    settings = {'cycle': cycle, 'generator': display_name(rf, gen_path), 'critic': crit_st['checkpoint'], 'iters': iters,
                **values, 'critic_lr': values['lr'] * values['critic_lr_mult'], 'save_raw': save_raw, 'betas': [0.0, 0.9], 'wd': 1e-3,
                'vgg_weights': loss_spec, 'vgg_fingerprint': loss_print, 'seed': seed, 'device': device,
                'workers': workers, 'precision': precision,
                'recipe': (doc.get('recipe') or {}).get('name'), 'recipe_overrides': overrides}
    st = doc['stages'].get(name)
    if st and st.get('status') == 'done' and not force:
        done = int(st.get('progress', {}).get('iteration', 0))
        if iters <= done:
            print(f"{name}: already done ({done} iterations, last checkpoint {st.get('checkpoint')}); "
                  f"--force to run it again, or a larger --iters to go on")
            return 0
        rf.set_stage(name, status='interrupted')  # a larger --iters goes on from the last state
        print(f"{name}: extending the burst from {done} to {iters} iterations", flush=True)
    action, state = stg.begin(rf, name, settings, force, may_change=('iters',))
    with stg.running(rf, name):
        return _burst(rf, name, settings, state, gen_path, cbs)


gan = stage_command(GanSettings, _gan,
                    "Stage 3: the GAN burst; a self-describing generator checkpoint every --save-every iterations.")


def burst_loss_network(rf, vgg_weights):
    """The burst's loss network: the run's own (stage 1, or the run's start from a model file) unless
    --vgg-weights says otherwise; a file that changed since is refused. Returns (setting, fingerprint)."""
    recorded = rf.loss_network()
    if vgg_weights is None and recorded is None:
        raise SettingsError(f"{rf.path}: this run records no loss network (made by an older version); "
                            f"give --vgg-weights imagenet, random or FILE")
    spec, print_ = loss_network_identity(vgg_weights or recorded['weights'])
    if vgg_weights is None and print_ != recorded['fingerprint']:
        raise SettingsError(f"{spec}: the loss network's weights changed since the run recorded them "
                            f"({recorded['fingerprint'][:16]} then, {print_[:16]} now)")
    if recorded and print_ != recorded['fingerprint']:
        print(f"gan: note: the burst's loss network ({spec}) is not the one the run recorded ({recorded['weights']})", flush=True)
    return spec, print_


def _burst(rf, name, s, state, gen_path, cbs):
    dev = pick_device(s['device'])
    set_seed(s['seed'] + (int(state['iteration']) if state else 0), reproducible=True)
    doc = rf.load()
    gen_settings = doc['stages'][GEN_STAGE]['settings'] if GEN_STAGE in doc['stages'] else {}
    crap = gen_settings.get('crappify', '')
    dls = dataloaders(ColourPairs(rf.split_files('train'), s['size'], True, crap, s['seed']),
                      ColourPairs(rf.split_files('valid'), s['size'], False, crap, s['seed']), s['bs'], dev, s['seed'],
                      workers=s.get('workers'))
    generator, header = load_generator(gen_path, dev)
    cfg = GeneratorConfig.from_dict(header['config'])
    critic, _ = load_model_file(rf.checkpoint_path(s['critic']), 'critic', dev)
    floss = FeatureLoss(vgg_weights=s['vgg_weights']).to(dev)  # built on the target device
    print(f"{name}: loss network vgg16_bn, weights {s['vgg_weights']} (fingerprint {floss.fingerprint[:16]})", flush=True)

    start, gen_first, iter_csv, ckpt_csv, clock, iterations = adversarial_start(rf, name, state, s['iters'], generator,
                                                                                  critic)
    png = rf.reports / f'{name}_loss.png'
    average = GeneratorAverage(generator, s['ema']) if s['ema'] else None
    if average is not None and state is not None:
        average.load_state_dict(state['ema'])

    def save(ckpt_name, model, i, losses, make_current=True, **weights):
        ckpt = rf.checkpoint_path(ckpt_name)
        save_generator(ckpt, model, cfg, render_factor=render_factor_for_size(s['size']), stage=name, cycle=s['cycle'], iteration=i,
                       run=str(rf.path.resolve()), started_from=s['generator'], **weights, **losses)
        rf.add_checkpoint(ckpt.name, 'generator', name, make_current, cycle=s['cycle'], iteration=i, **weights, **losses)
        return ckpt

    def save_checkpoints(i, losses):
        "The checkpoint at iteration i: the trained generator, or the average (and with --save-raw the trained one beside it)."
        if average is None:
            return save(burst_checkpoint_name(s['cycle'], i), learn.model.generator, i, losses, weights='raw')
        if s['save_raw']:
            save(burst_checkpoint_name(s['cycle'], i, raw=True), learn.model.generator, i, losses, make_current=False,
                 weights='raw')
        return save(burst_checkpoint_name(s['cycle'], i), average.settled(), i, losses, weights='ema', ema=s['ema'],
                    ema_steps=average.steps)

    def resume_state():
        return {'generator': learn.model.generator.state_dict(), 'critic': learn.model.critic.state_dict(),
                'opt': learn.opt.state_dict(), **({'ema': average.state_dict()} if average else {})}

    books = [iterations, BurstCheckpoints(rf, name, iterations, s['save_every'], clock, save_checkpoints, resume_state,
                                          lambda: gan_loss_curve(iter_csv, ckpt_csv, png, f"{name}: GAN burst from {s['generator']}"))]
    averaging = [AverageGenerator(average)] if average else []
    gen_loss = floss
    if s.get('colourfulness_weight') or s.get('chroma_class_weight'):  # weights of their own: feat_weight scales the loss
        gen_loss = colour_terms_loss(floss, generator, rf.split_files('train'), rf.path / PRIOR_CACHE,
                                     s['colourfulness_weight'] / s['feat_weight'],
                                     s['chroma_class_weight'] / s['feat_weight'])[0]
    learn = build_gan_learner(dls, generator, critic, gen_loss, s['adv_weight'], s['feat_weight'], s['critic_thresh'],
                              s['wd'], gen_first, gan_optimizer(tuple(s['betas'])), [*averaging, *books, *cbs], str(rf.path))
    stg.quiet_progress(learn)
    stg.train_in_precision(learn, s, dev)
    if state is not None:
        learn.create_opt()
        learn.opt.load_state_dict(state['opt'])
    fit_iterations(learn, s['iters'], start, gan_lrs(s['lr'], s['critic_lr_mult']))
    _sample_picture(learn.dls, average.settled() if average else learn.model.generator, rf.samples_png(name))
    stg.finish(rf, name, checkpoint=rf.current('generator').name, drop_resume=False)  # kept: a larger --iters goes on
    rf.record_size(name)
    counts = iterations.counts
    print(f"{name}: done; {s['iters']} iterations ({counts['generator']} generator and {counts['critic']} critic steps "
          f"this session); loss curve {png}", flush=True)
    return 0


@torch.no_grad()
def _sample_picture(dls, generator, png):
    x, y = dls.valid.one_batch()
    samples_png([x.cpu(), generator.eval()(x).cpu(), y.cpu()], png)
