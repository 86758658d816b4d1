"""Trial arrays: K trials of one study (equal shapes) trained at once as one stacked model (the idea of HFTA,
MLSys 2021), each with its own rates, penalties, decays, caps, clipping, masks and random stream, on the same
mini-batches. Member k computes, by value, what the same trial alone (:func:`models.train.fit`) computes.

- :mod:`~models.array.support`: :func:`unsupported` (what runs alone) and :func:`array_key` (who can share);
- :mod:`~models.array.stacked`: the members' parameters as rows of one tensor, and the batched forward;
- :mod:`~models.array.masks` / :mod:`~models.array.streams`: each member's random draws, from its own stream;
- :mod:`~models.array.optim`: per-member Adam / AdamW, clipping and max-norm on the rows;
- :mod:`~models.array.fit`: :func:`fit_array`, the training loop; :mod:`~models.array.capacity`: :func:`max_members`.
"""

from models.array.capacity import max_members
from models.array.fit import MemberCheckpoint, MemberResult, fit_array
from models.array.support import array_key, unsupported

__all__ = ["MemberCheckpoint", "MemberResult", "array_key", "fit_array", "max_members", "unsupported"]
