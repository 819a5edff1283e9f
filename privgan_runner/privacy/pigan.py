"""PIGAN (Hassanzadeh & Tillman): an information-theoretic privacy regularizer on the generator.

Members are split into N equal random groups; G(z, y, c) and D(x, y, c) get the group c as a
membership code. A classifier Q(x) learns which code generated a sample; G is penalized for
samples Q can attribute, which bounds I(G(z, c); c), the JSD between the groups' generators
(Sec. 3, Algorithm 1, appendix A.2):

1. Q is pretrained on the members with their group labels (`pretrain_epochs`, paper: 50);
2. G and D train `warmup_epochs` (K) epochs "without training the classifier" (paper: 200 on F-MNIST,
   400 on CIFAR-10; Sec. 3 and appendix A.2: "... without updating the classifier");
3. then each step: D update(s), a Q update on the generated batch, and a G update whose loss adds
   lam * CE(Q(G(z, c)), c') for a random incorrect code c' != c. Fooling Q into a wrong code is how
   privGAN's reference implementation (which PIGAN follows) trains its generators against the
   privacy discriminator; the paper's text calls it "maximizing the cross-entropy" of Q.

Reading of the warm-up (`penalty_during_warmup`, default true): the paper withholds only Q's training
during the K epochs, so G already fools the pretrained, fixed Q (as PrivGAN's generators do, which PIGAN
follows in the same sentence); `penalty_during_warmup=false` is the other reading, G and D alone.
The switch at epoch K is a device scalar (the captured step stays one graph), and Q's optimizer starts
its real training from a fresh state (groups.WarmupSwitch).
Attacks read D with every code and take the max over c (PIGAN Sec. 4.1).
"""

from __future__ import annotations

import torch.nn.functional as F

from ..errors import ConfigError
from ..training.step import AdversarialStep, StepContext
from .group_classifier import GroupClassifierMechanism, WarmupSwitch, fool_loss


class PiganStep(AdversarialStep):
    loss_names = ("d_loss", "g_loss", "penalty", "q_loss", "q_accuracy")

    def __init__(self, *args, Q, opt_q, lam: float, switch: WarmupSwitch, **kwargs):
        super().__init__(*args, **kwargs)
        self.Q, self.opt_q, self.lam, self.switch = Q, opt_q, lam, switch

    def optimizers(self) -> dict:
        return {**super().optimizers(), "opt_q": self.opt_q}

    def after_d(self, fake, y, c_fake):
        self.Q.requires_grad_(True)
        logits = self.Q(fake.detach())
        q_loss = F.cross_entropy(logits, c_fake)
        self.opt_q.zero_grad(set_to_none=True)
        (q_loss * self.switch.train_on).backward()
        self.opt_q.step()
        accuracy = (logits.detach().argmax(1) == c_fake).float().mean()
        return [q_loss, accuracy]

    def g_loss(self, fake, y, c_fake):
        self.Q.requires_grad_(False)
        fool_q = fool_loss(self.Q(fake), c_fake, self.n_codes)
        return super().g_loss(fake, y, c_fake) + self.lam * self.switch.penalty_on * fool_q


class PIGAN(GroupClassifierMechanism):
    classifier_key = "Q"

    def __init__(
        self,
        lam: float = 1.0,
        n_groups: int = 2,
        pretrain_epochs: int = 50,
        warmup_epochs: int = 200,
        penalty_during_warmup: bool = True,
    ):
        super().__init__(lam, n_groups, pretrain_epochs, warmup_epochs, penalty_during_warmup)

    def check(self, n_members: int, trainer, regularizer=None, **setting) -> None:
        super().check(n_members, trainer, regularizer, **setting)
        if self.lam > 0 and self.warmup_epochs >= trainer.epochs:
            raise ConfigError(
                "privacy.warmup_epochs",
                f"K = {self.warmup_epochs} >= trainer.epochs = {trainer.epochs}: Q would never be trained",
            )

    def build_models(self, model, image_size: int, channels: int, n_classes: int):
        G, D = model.build(image_size, channels, n_classes, n_codes=self.n_codes)
        self.classifier = model.build_classifier(self.n_codes)
        return G, D

    def make_step(self, G, D, objective, regularizer, ctx: StepContext):
        opt_q = self.prepare_classifier(ctx)
        return PiganStep.for_context(
            ctx,
            G,
            D,
            objective,
            regularizer,
            self.n_codes,
            Q=self.classifier,
            opt_q=opt_q,
            lam=self.lam,
            switch=self.switch,
        )
