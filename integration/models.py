"""Models of the `integration` app (see each module). Integration issues: `integration.models_issues`."""

from integration.models_issues import *  # noqa
