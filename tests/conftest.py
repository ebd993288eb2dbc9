"""Settings for every test process (and the app servers they start, which inherit the environment)."""

import os

# Tests check behaviour, not speed: background torch.compile runs would only load the two cores.
# tests/core/explain/test_compiled.py turns compiling on where it is the subject.
os.environ.setdefault("SERWB_COMPILE", "off")
