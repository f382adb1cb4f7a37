"""The compiled parts; everything else is declared in pyproject.toml.

- The optional row encoder (``optional=True``: without a C compiler the install still
  succeeds and the tables use the pure-Python encoder, which produces the same bytes).
- On macOS, the native source's cffi module ``osq_esf._esf_native`` (native/build.py,
  built for macOS 11 and later), so it ships inside the wheel and never lands in the
  source tree.  Elsewhere it is not built: libEndpointSecurity exists only on macOS.
"""

import sys

from setuptools import Extension, setup

native = {"cffi_modules": ["native/build.py:ffibuilder"]} if sys.platform == "darwin" else {}
setup(ext_modules=[Extension("osq_esf.extension._rowenc", ["osq_esf/extension/_rowenc.c"], optional=True)], **native)
