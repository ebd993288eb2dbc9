"""Where the planted patch sits (imported by conftest and tests; a unique module name, unlike ``conftest``)."""

BANDS, FRAMES = 64, 100
PATCH_BANDS, PATCH_FRAMES = slice(20, 36), slice(40, 61)
