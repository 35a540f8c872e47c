"""Re-adaptation: how many steps a body takes to recover when its world returns to an earlier regime.

A world that changes regime unannounced (`mortal/Seasons-v0`) reports each step's regime (`info["season"]`).
At each *return*, a switch into a regime this life has lived before, the baseline is the mean drive over the
`window` steps before the switch. The body has recovered k steps after the switch when its mean drive over
the steps [switch + k, switch + k + window) is back at or below that baseline:

    k* = min { k >= 0 : mean(D[s + k : s + k + window]) <= mean(D[s - window : s]) }

A return the body does not recover from before the next switch, or before its life ends, counts a whole
season (a life begins at reset, where its first season begins, so the first switch gives the season's length).
A brain that kept what worked in that regime before should recover in fewer steps than one that relearns it.
"""

import numpy as np

RECOVERY_WINDOW = 500  # steps of drive averaged on either side of a switch (the Forager's drive saw-tooths over ~100)


def recovery_steps(drive, regime, window: int = RECOVERY_WINDOW) -> list[int]:
    """Per return to an earlier regime in one life's trace (each step's drive and regime), the steps k* it took
    to recover (see the module docstring); returns with fewer than `window` steps before them are skipped."""
    drive, regime = np.asarray(drive, float), np.asarray(regime)
    if drive.shape != regime.shape or drive.ndim != 1:
        raise ValueError(f"need one drive and one regime per step, got shapes {drive.shape} and {regime.shape}")
    if window < 1:
        raise ValueError(f"window must be >= 1 step, got {window}")
    switches = np.flatnonzero(regime[1:] != regime[:-1]) + 1
    ends = [*switches[1:], len(regime)]
    recoveries = []
    for start, end in zip(switches, ends):
        if start < window or not np.isin(regime[start], regime[:start]):
            continue
        baseline = drive[start - window:start].mean()
        sums = np.cumsum(np.concatenate([[0.0], drive[start:end]]))
        means = (sums[window:] - sums[:-window]) / window  # the window starting at each k, where one fits
        recovered = np.flatnonzero(means <= baseline + 1e-9)  # equal drives, summed in another order
        recoveries.append(int(recovered[0]) if len(recovered) else int(switches[0]))
    return recoveries
