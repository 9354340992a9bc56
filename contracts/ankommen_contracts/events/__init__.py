from .housing import *  # noqa: F403
