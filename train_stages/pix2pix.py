"""`deoldify-like pix2pix`: the conditional GAN of pix2pix (Isola et al. 2017), trained from the start, in the
toolkit's run folder, so `checkpoints`, the picker, `promote` and `render` take its checkpoints unchanged.

- Generator: the 'pix2pix' style (deoldify_like/pix2pix.py): pix2pix's 8-down U-Net or the toolkit's ResNet
  U-Net; ab on L, or RGB with the luminance replaced; it takes and returns what every generator does.
- Critic: a 70x70 PatchGAN (deoldify_like/critic.py, style 'patchgan'). It sees the generator's RGB, which
  holds the input's luminance, so it judges colour given the gray picture, as pix2pix's conditional one does.
- Losses: generator = adversarial + --l1-weight (100) x L1 (on ab / 110, or on RGB in -1..1); critic = the
  mean of its real and fake terms; BCE or least squares (--gan-loss).
- Adam (--lr 2e-4, betas (--beta1 0.5, 0.999)), no weight decay, constant, then linear to 0 from --decay-from
  of the iterations on.
- fastai's GANLearner as the burst (train_stages/gan.py) uses it: one critic step, then one generator step,
  each on its own batch (FixedGANSwitcher); an iteration is one step. torch's Adam behind fastai's wrapper
  (gradients set to None), so the idle network stays still.

Every --save-every iterations: RUN/checkpoints/pix2pix-iXXXXXX.safetensors (self-describing, with the
losses), a row of RUN/logs/pix2pix_checkpoints.csv, the resume state, run.json's progress and the loss curve;
every iteration a row of RUN/logs/pix2pix.csv (its 'feature' column holds the L1 term: the column names are
the burst's, so its plot reads them). Interrupted, the same command resumes at the last checkpoint.
"""
from pathlib import Path

from fastai.callback.core import Callback
from fastai.learner import Learner
from fastai.torch_core import set_seed
from fastai.vision.gan import FixedGANSwitcher, GANLearner
from torch import nn

from deoldify_like.critic import build_critic
from deoldify_like.data import list_images
from deoldify_like.device import pick_device
from deoldify_like.errors import SettingsError, reraise_as
from deoldify_like.generator import build_generator
from deoldify_like.inference import render_factor_for_size
from deoldify_like.model_file import save_generator
from deoldify_like.pix2pix import colour_l1, pix2pix_config

from . import stage as stg
from .bookkeeping import BurstCheckpoints, adversarial_start, fit_iterations
from .distributed import single_process
from .gan import IdleStaysIdle, NoValidation, Tracked, _sample_picture, gan_optimizer, gan_splitter
from .pix2pix_settings import Pix2PixSettings, critic_config
from .plots import gan_loss_curve
from .pretrain_gen import make_data, record_split
from .run_folder import RunFolder
from .settings import stage_command

STAGE = 'pix2pix'


def checkpoint_name(iteration):
    return f"{STAGE}-i{iteration:06d}"


def generator_config(s):
    "The generator's configuration from the settings."
    unet = {'nf_factor': s['nf_factor']} if s['body'] == 'resnet' else {}
    return pix2pix_config(s['body'], s['output'], s['arch'], s['ngf'], s['n_down'], **unet)


class PatchLoss:
    "An adversarial loss over a PatchGAN's map of logits: every patch against the picture's label (1 or 0)."

    def __init__(self, kind):
        self.kind = kind
        self.fn = nn.MSELoss() if kind == 'lsgan' else nn.BCEWithLogitsLoss()

    def __call__(self, pred, label):
        return self.fn(pred, label.view(-1, *[1] * (pred.dim() - 1)).expand_as(pred).to(pred.dtype))


class ColourL1:
    "pix2pix's L1 term for the generator's output mode (deoldify_like.pix2pix.colour_l1)."

    def __init__(self, output):
        self.output = output

    def __call__(self, output, target):
        return colour_l1(output, target, self.output)


class LinearDecay(Callback):
    """Both learning rates constant until iteration `decay_start`, then linearly to 0 at `iters` (pix2pix's
    schedule, counted in iterations from `start`, so a resumed run continues it)."""
    order = 0

    def __init__(self, lr, start, decay_start, iters):
        self.lr, self.iteration, self.decay_start, self.iters = lr, start, decay_start, iters

    def before_batch(self):
        if not self.training:
            return
        left = self.iters - self.decay_start
        f = 1.0 if self.iteration < self.decay_start or left <= 0 else max(0.0, (self.iters - self.iteration) / left)
        self.learn.opt.set_hyper('lr', self.lr * f)
        self.iteration += 1


def build_pix2pix_learner(dls, generator, critic, s, gen_first=False, cbs=(), path='.'):
    "The cGAN learner: fastai's GANLearner over a generator and a PatchGAN, one step of each in turn."
    gen_learn = Learner(dls, generator, loss_func=Tracked(ColourL1(s['output'])))
    crit_learn = Learner(dls, critic, loss_func=Tracked(PatchLoss(s['gan_loss'])))
    learn = GANLearner.from_learners(gen_learn, crit_learn, switcher=FixedGANSwitcher(n_crit=1, n_gen=1),
                                     weights_gen=(1.0, s['l1_weight']), gen_first=gen_first, show_img=False,
                                     opt_func=gan_optimizer((s['beta1'], 0.999)), wd=0.0, splitter=gan_splitter,
                                     cbs=[NoValidation(), IdleStaysIdle(), *cbs], path=path, model_dir='checkpoints')
    learn.gen_loss_part, learn.adv_loss_part = gen_learn.loss_func, crit_learn.loss_func
    return learn


def _pix2pix(args, cbs):
    if not single_process(STAGE):
        return 0  # under torchrun / accelerate launch: rank 0 trains alone
    s = dict(args)
    if not s['data'] or not s['run']:
        raise SettingsError("pix2pix needs --data DIR and --run RUN")
    Pix2PixSettings.check(s)
    pick_device(s['device'])
    with reraise_as(SettingsError):
        files = list_images(s['data'])
    if len(files[:s['limit'] or None]) < 2:
        raise SettingsError(f"{s['data']}: need at least 2 training pictures, found {len(files[:s['limit'] or None])}")
    s['data'] = str(Path(s['data']).resolve())
    force = s.pop('force')
    s.update(betas=[s['beta1'], 0.999], wd=0.0, decay_start=int(round(s['iters'] * s['decay_from'])),
             generator=generator_config(s).to_dict(), critic=critic_config(s).to_dict())
    rf = RunFolder(s['run']).create()
    action, state = stg.begin(rf, STAGE, s, force)
    if action == 'done':
        print(f"{STAGE}: already done in {rf.path} (last checkpoint: {rf.stage(STAGE).get('checkpoint')}); "
              f"--force to train it again")
        return 0
    with stg.running(rf, STAGE):
        return _train(rf, s, state, cbs)


pix2pix = stage_command(Pix2PixSettings, _pix2pix,
                        "pix2pix: a conditional GAN (U-Net and 70x70 PatchGAN, L1 x 100) trained from the start.")


def _train(rf, s, state, cbs):
    dev = pick_device(s['device'])
    set_seed(s['seed'] + (int(state['iteration']) if state else 0), reproducible=True)
    if state is None or not rf.has_split():
        record_split(rf, Path(s['data']), s['limit'], s['seed'], s['valid_pct'])
    data_info = rf.load()['data']
    print(f"data: {data_info['n_train']} training and {data_info['n_valid']} validation pictures from "
          f"{data_info['dir']}", flush=True)
    dls = make_data(rf, s, s['size'], s['bs'], dev)
    cfg = generator_config(s)
    generator = build_generator(cfg, pretrained=s['pretrained']).to(dev)
    critic = build_critic(critic_config(s)).to(dev)
    rf.update(lambda doc: doc.update(generator=cfg.to_dict(), critic=s['critic']))

    # the iteration log's 'feature' column holds the L1 term
    start, gen_first, iter_csv, ckpt_csv, clock, iterations = adversarial_start(rf, STAGE, state, s['iters'], generator,
                                                                                  critic)
    png = rf.reports / f'{STAGE}_loss.png'

    def save(i, losses):
        ckpt = rf.checkpoint_path(checkpoint_name(i))
        save_generator(ckpt, learn.model.generator, cfg, render_factor=render_factor_for_size(s['size']), stage=STAGE,
                       iteration=i, run=str(rf.path.resolve()), data=s['data'], weights='raw', **losses)
        rf.add_checkpoint(ckpt.name, 'generator', STAGE, iteration=i, size=s['size'], weights='raw', **losses)
        return ckpt

    def resume_state():
        return {'generator': learn.model.generator.state_dict(), 'critic': learn.model.critic.state_dict(),
                'opt': learn.opt.state_dict()}

    title = f"{STAGE}: {s['body']} U-Net, {s['output']} output, L1 x {s['l1_weight']:g} (its 'feature' part)"
    books = [LinearDecay(s['lr'], start, s['decay_start'], s['iters']), iterations,
             BurstCheckpoints(rf, STAGE, iterations, s['save_every'], clock, save, resume_state,
                              lambda: gan_loss_curve(iter_csv, ckpt_csv, png, title))]
    learn = build_pix2pix_learner(dls, generator, critic, s, gen_first, [*books, *cbs], str(rf.path))
    stg.quiet_progress(learn)
    if state is not None:
        learn.create_opt()
        learn.opt.load_state_dict(state['opt'])
    fit_iterations(learn, s['iters'], start, s['lr'])
    _sample_picture(learn.dls, learn.model.generator, rf.samples_png(STAGE))
    stg.finish(rf, STAGE, checkpoint=rf.current('generator').name)
    rf.record_size(STAGE)
    counts = iterations.counts
    print(f"{STAGE}: done; {s['iters']} iterations ({counts['generator']} generator and {counts['critic']} critic "
          f"steps this session); loss curve {png}", flush=True)
    return 0
