"""The perceptual (feature) loss of the NoGAN recipe.

L1 between frozen `vgg16_bn` activations of prediction and target taken right before max-pools 3, 4 and 5
(relu3_3, relu4_3, relu5_3), weighted 20, 70, 10, plus a pixel L1 term. Inputs are ImageNet-normalised
RGB, which is what the generator outputs. The activations are read by running the truncated VGG layer by
layer, so no hooks are left behind.
"""
import torch
import torchvision
from torch import nn
from torch.nn import functional as F

from .pretrained import imagenet_state_dict


def _layers_before_pools(features):
    return [i - 1 for i, m in enumerate(features) if isinstance(m, nn.MaxPool2d)]


class FeatureLoss(nn.Module):
    def __init__(self, layer_weights=(20.0, 70.0, 10.0), pixel_weight=1.0, pretrained=False):
        super().__init__()
        vgg = torchvision.models.vgg16_bn(weights=None)
        if pretrained:
            vgg.load_state_dict(imagenet_state_dict('vgg16_bn'))
        self.layer_ids = _layers_before_pools(vgg.features)[2:5]
        self.features = vgg.features[:max(self.layer_ids) + 1].eval().requires_grad_(False)
        self.layer_weights = tuple(float(w) for w in layer_weights)
        self.pixel_weight = float(pixel_weight)
        self.last_parts = {}  # the terms of the last call, for logging

    def train(self, mode=True):
        "The VGG stays in eval mode (frozen BatchNorm statistics) whatever the surrounding model does."
        super().train(mode)
        self.features.eval()
        return self

    def _activations(self, x):
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.layer_ids:
                out.append(x)
        return out

    def forward(self, pred, target):
        pred, target = torch.as_tensor(pred), torch.as_tensor(target)
        first = next(self.features.parameters())
        if first.device != pred.device:
            self.features.to(pred.device)
        pred, target = pred.as_subclass(torch.Tensor), target.as_subclass(torch.Tensor)
        pixel = F.l1_loss(pred, target)
        with torch.no_grad():
            target_feats = self._activations(target)
        feats = [w * F.l1_loss(p, t) for p, t, w in zip(self._activations(pred), target_feats, self.layer_weights)]
        self.last_parts = {'pixel': pixel.detach(), **{f'feat{i}': f.detach() for i, f in enumerate(feats)}}
        return self.pixel_weight * pixel + sum(feats)
