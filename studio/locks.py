"""Process-wide locks.

MODEL_BUILD_LOCK: diffusers' `from_pretrained` (through accelerate's empty-weight initialisation) patches torch.nn
globally while it runs. Two loads at once, or a load beside any other module construction (the LPIPS network),
can restore the patches in the wrong order and leave later models with uninitialised weights — seen here as
garbage LPIPS values and broken int8 copies when the app's warm-up overlapped the first request. Every model
construction in the studio holds this lock.
"""

import threading

MODEL_BUILD_LOCK = threading.RLock()
