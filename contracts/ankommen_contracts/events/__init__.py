"""The v1 event catalogue, one module per publishing service (and topic)."""

from .allocation import *  # noqa: F403
from .allocation import __all__ as _allocation
from .housing import *  # noqa: F403
from .housing import __all__ as _housing
from .integration import *  # noqa: F403
from .integration import __all__ as _integration
from .volunteers import *  # noqa: F403
from .volunteers import __all__ as _volunteers

__all__ = [*_allocation, *_housing, *_integration, *_volunteers]
