"""Only the optional compiled row encoder; everything else is declared in pyproject.toml.

``optional=True``: without a C compiler the install still succeeds and the tables use the
pure-Python encoder (osq_esf.tables), which produces the same bytes.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("osq_esf.extension._rowenc", ["osq_esf/extension/_rowenc.c"], optional=True)])
